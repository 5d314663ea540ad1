//! Durable results: an append-only journal, compacted into shards at the end.
//!
//! Each finished execution is appended to `<out>/.journal.jsonl` as one JSON
//! line as soon as its verdict is known. A killed run leaves at most one
//! partial last line, which is cut off when the journal is reopened. On
//! completion, the journal and any earlier `part-*.parquet` are merged,
//! deduplicated by execution key, sorted, and written as `part-NNNNN.parquet`
//! (each atomically); only then is the journal removed. A run killed during
//! compaction therefore still finds every record on resume.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use ouro_data::shard::{read_records, shard_files, write_records};
use ouro_data::Execution;

use crate::ExecError;

/// File name of the journal inside the output directory.
pub const JOURNAL: &str = ".journal.jsonl";
/// Rows per output shard.
pub const ROWS_PER_SHARD: usize = 50_000;

/// The append side of a run's results.
pub struct Journal {
    /// The directory, locked while the journal is open: one executor per directory.
    _lock: File,
    dir: PathBuf,
    path: PathBuf,
    /// Opened on the first append, so a run that stops before executing
    /// anything (a refused sandbox, say) leaves no empty journal behind.
    file: Option<File>,
    /// Keys of executions already recorded (journal or shards).
    done: HashSet<String>,
    /// Samples those executions judged.
    sample_ids: HashSet<String>,
    unsynced: usize,
}

impl Journal {
    /// Opens (or creates) the journal of `dir`, reading what earlier runs finished.
    pub fn open(dir: &Path) -> Result<Journal, ExecError> {
        std::fs::create_dir_all(dir).map_err(|e| ExecError::io(dir, e))?;
        // Two executors appending to one journal interleave their lines mid-line, and
        // every later run of the directory then fails to read it.
        let lock = match ouro_data::fsutil::try_lock_dir(dir) {
            Ok(Some(lock)) => lock,
            Ok(None) => {
                return Err(ExecError::Invalid(format!(
                    "{} is being written by another `ouro execute` (or `ouro run` stage); \
                     wait for it to finish, or use another --out",
                    dir.display()
                )))
            }
            Err(e) => return Err(ExecError::io(dir, e)),
        };
        let _ = ouro_data::fsutil::remove_stale_temp_files(dir);
        let path = dir.join(JOURNAL);
        let mut done = HashSet::new();
        let mut sample_ids = HashSet::new();
        for shard in shard_files(dir)? {
            for rec in read_records::<Execution>(&shard)? {
                done.insert(rec.key());
                sample_ids.insert(rec.sample_id);
            }
        }
        let (records, good_len, unreadable) = read_journal(&path)?;
        if unreadable > 0 {
            tracing::warn!(
                "{}: {unreadable} unreadable line(s) (a crash mid-write, or two writers at \
                 once); their samples are judged again",
                path.display()
            );
        }
        for rec in records {
            done.insert(rec.key());
            sample_ids.insert(rec.sample_id);
        }
        // Cut a partial last line left by a kill, so appends start clean.
        let file = if path.exists() {
            let mut file = open_for_append(&path)?;
            file.set_len(good_len)
                .map_err(|e| ExecError::io(&path, e))?;
            file.seek(SeekFrom::End(0))
                .map_err(|e| ExecError::io(&path, e))?;
            Some(file)
        } else {
            None
        };
        Ok(Journal {
            _lock: lock,
            dir: dir.to_path_buf(),
            path,
            file,
            done,
            sample_ids,
            unsynced: 0,
        })
    }

    /// True when an execution with this key is already recorded.
    pub fn is_done(&self, key: &str) -> bool {
        self.done.contains(key)
    }

    /// Recorded samples for which `wanted` is false, sorted: the first few.
    pub fn samples_not(&self, wanted: impl Fn(&str) -> bool) -> (usize, Vec<&str>) {
        let mut other: Vec<&str> = self
            .sample_ids
            .iter()
            .map(String::as_str)
            .filter(|id| !wanted(id))
            .collect();
        other.sort_unstable();
        let n = other.len();
        other.truncate(3);
        (n, other)
    }

    /// Number of recorded executions.
    pub fn len_done(&self) -> usize {
        self.done.len()
    }

    /// Appends one execution (ignored when its key is already recorded).
    pub fn append(&mut self, rec: &Execution) -> Result<(), ExecError> {
        if !self.done.insert(rec.key()) {
            return Ok(());
        }
        let mut line = serde_json::to_vec(rec).expect("Execution serializes");
        line.push(b'\n');
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(open_for_append(&self.path)?),
        };
        // One write per record: a kill leaves whole lines plus at most one partial one.
        file.write_all(&line)
            .map_err(|e| ExecError::io(&self.path, e))?;
        self.unsynced += 1;
        if self.unsynced >= 256 {
            self.sync()?;
        }
        Ok(())
    }

    /// Makes appended records durable against power loss (a killed process loses nothing anyway).
    pub fn sync(&mut self) -> Result<(), ExecError> {
        self.unsynced = 0;
        match &self.file {
            Some(file) => file.sync_data().map_err(|e| ExecError::io(&self.path, e)),
            None => Ok(()),
        }
    }

    /// Merges shards and journal into sorted, deduplicated `part-*.parquet`
    /// files and removes the journal. Returns the number of records.
    /// Returns every record's verdict count, resumed and new alike.
    /// Records for which `keep` is false are dropped (verdicts that this run judged
    /// again under other limits or another executor version); returns the verdict
    /// counts on disk and how many were dropped.
    pub fn compact(
        mut self,
        keep: impl Fn(&Execution) -> bool,
    ) -> Result<(BTreeMap<String, usize>, usize), ExecError> {
        self.sync()?;
        let mut by_key: HashMap<String, Execution> = HashMap::new();
        let old_shards = shard_files(&self.dir)?;
        let (journal, _, _) = read_journal(&self.path)?;
        let mut dropped = 0;
        for shard in &old_shards {
            for rec in read_records::<Execution>(shard)? {
                by_key.entry(rec.key()).or_insert(rec);
            }
        }
        for rec in journal {
            by_key.entry(rec.key()).or_insert(rec);
        }
        by_key.retain(|_, rec| {
            let kept = keep(rec);
            dropped += usize::from(!kept);
            kept
        });
        let mut all: Vec<Execution> = by_key.into_values().collect();
        all.sort_by(|a, b| {
            (
                &a.problem_id,
                &a.sample_id,
                a.suite as u8,
                &a.executor_version,
            )
                .cmp(&(
                    &b.problem_id,
                    &b.sample_id,
                    b.suite as u8,
                    &b.executor_version,
                ))
        });
        // No executions still get one (empty) shard: readers find the schema,
        // and the next stage "no rows", not "no shards".
        let chunks: Vec<&[Execution]> = if all.is_empty() {
            vec![&[]]
        } else {
            all.chunks(ROWS_PER_SHARD).collect()
        };
        let n = chunks.len();
        ouro_data::shard::remove_staged(&self.dir)?;
        let mut staged = Vec::with_capacity(n);
        for (i, chunk) in chunks.into_iter().enumerate() {
            let name = ouro_data::shard::part_name(i, n);
            let path = self.dir.join(ouro_data::shard::staged_name(&name));
            write_records(&path, chunk)?;
            staged.push((path, name));
        }
        // The old shards go as the new ones come in, never beside them; their rows
        // are all in `all`, and the journal stays until the new ones are in place.
        let old: std::collections::HashSet<String> = old_shards
            .iter()
            .filter_map(|p| Some(p.file_name()?.to_string_lossy().into_owned()))
            .collect();
        ouro_data::shard::publish(&self.dir, &staged, |name| old.contains(name))?;
        if self.file.take().is_some() {
            std::fs::remove_file(&self.path).map_err(|e| ExecError::io(&self.path, e))?;
        }
        let mut verdicts = BTreeMap::new();
        for rec in &all {
            *verdicts
                .entry(rec.verdict.as_str().to_string())
                .or_default() += 1;
        }
        Ok((verdicts, dropped))
    }
}

fn open_for_append(path: &Path) -> Result<File, ExecError> {
    OpenOptions::new()
        .create(true)
        .read(true)
        .write(true)
        .truncate(false)
        .open(path)
        .map_err(|e| ExecError::io(path, e))
}

/// Reads the journal's complete lines; returns them and the byte length they span.
/// The journal's records, the length of its complete lines, and how many complete lines
/// did not parse. A verdict lost that way is only work to redo, so the line is skipped
/// rather than every later run of the directory failing on it.
fn read_journal(path: &Path) -> Result<(Vec<Execution>, u64, usize), ExecError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((vec![], 0, 0)),
        Err(e) => return Err(ExecError::io(path, e)),
    };
    let mut reader = BufReader::new(file);
    let mut out = Vec::new();
    let mut good = 0u64;
    let mut line = Vec::new();
    let mut unreadable = 0usize;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| ExecError::io(path, e))?;
        if n == 0 {
            break;
        }
        if line.last() != Some(&b'\n') {
            break; // partial last line of a killed run
        }
        match serde_json::from_slice::<Execution>(&line) {
            Ok(rec) => out.push(rec),
            Err(_) => unreadable += 1,
        }
        good += n as u64;
    }
    Ok((out, good, unreadable))
}

#[cfg(test)]
mod tests {
    use super::Journal;

    #[test]
    fn one_executor_writes_a_directory_at_a_time() {
        let d = tempfile::tempdir().unwrap();
        let first = Journal::open(d.path()).unwrap();
        let e = Journal::open(d.path())
            .err()
            .expect("a second journal is refused");
        assert!(
            e.to_string()
                .contains("is being written by another `ouro execute`"),
            "{e}"
        );
        drop(first);
        Journal::open(d.path()).expect("free again once the first is gone");
    }

    #[test]
    fn an_unreadable_line_is_judged_again_not_fatal() {
        let d = tempfile::tempdir().unwrap();
        let rec = |id: &str| ouro_data::Execution {
            sample_id: id.into(),
            problem_id: "p".into(),
            suite: ouro_data::Suite::Filter,
            verdict: ouro_data::Verdict::Pass,
            tests_passed: vec![true],
            error_kind: None,
            stderr_tail: String::new(),
            cpu_ms: 1.0,
            wall_ms: 1.0,
            max_rss_kb: 1,
            lines_executed: None,
            executor_version: "v".into(),
            limits: ouro_data::Limits::default(),
            isolation: String::new(),
            judge: ouro_data::Judge::Isolated,
            tests_digest: None,
        };
        let (a, b) = (rec("a"), rec("b"));
        let line = |r: &ouro_data::Execution| serde_json::to_string(r).unwrap() + "\n";
        // Two writers at once cut one record into another.
        let torn = format!("{}{}{}", line(&a), &line(&b)[..40], line(&b));
        std::fs::write(d.path().join(super::JOURNAL), torn).unwrap();
        let j = Journal::open(d.path()).expect("a torn line does not stop the run");
        assert!(j.is_done(&a.key()));
        assert!(
            !j.is_done(&b.key()),
            "the line holding b is torn: b is judged again"
        );
    }
}
