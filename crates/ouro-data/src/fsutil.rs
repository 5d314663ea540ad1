//! Atomic file writes (temp file beside the target, fsync, rename, fsync dir), and
//! where a path really is, to keep a stage's output apart from its inputs.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{DataError, Result};

/// Prefix of every temp file ouro writes; [`remove_stale_temp_files`] cleans them.
pub const TEMP_PREFIX: &str = ".ouro-tmp-";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A hidden temp file in the target's directory. Removed on drop unless persisted.
pub struct TempFile {
    path: PathBuf,
    file: File,
    persisted: bool,
}

impl TempFile {
    /// Creates a temp file next to `target` (creating parent directories).
    pub fn beside(target: &Path) -> Result<Self> {
        let dir = parent_dir(target);
        fs::create_dir_all(&dir).map_err(|e| DataError::io(&dir, e))?;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // pid + counter alone collide across containers (every pod's process can be pid 1)
        // writing into one shared directory: add the clock, and take another name if the
        // file exists anyway (`create_new` never reuses one).
        let mut attempt = 0;
        let (path, file) = loop {
            let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let path = dir.join(format!(
                "{TEMP_PREFIX}{}-{nanos:08x}-{unique}-{name}",
                std::process::id()
            ));
            match File::options()
                .write(true)
                .read(true)
                .create_new(true)
                .open(&path)
            {
                Ok(file) => break (path, file),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 16 => {
                    attempt += 1;
                }
                Err(e) => return Err(DataError::io(&path, e)),
            }
        };
        Ok(TempFile {
            path,
            file,
            persisted: false,
        })
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// fsyncs the data, renames it to `target` and fsyncs the directory.
    pub fn persist(mut self, target: &Path) -> Result<()> {
        self.file
            .sync_all()
            .map_err(|e| DataError::io(&self.path, e))?;
        fs::rename(&self.path, target).map_err(|e| DataError::io(target, e))?;
        self.persisted = true;
        sync_dir(&parent_dir(target));
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Makes a rename durable. Best effort: some filesystems refuse to fsync a directory.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Locks `dir/name` (created, and `dir` too) for as long as the returned file lives:
/// `Ok(None)` when another process, or another holder in this one, has it. The kernel
/// drops the lock when the holder exits, SIGKILL included, so no stale lock is left.
pub fn try_lock(dir: &Path, name: &str) -> std::io::Result<Option<File>> {
    fs::create_dir_all(dir)?;
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(name))?;
    hold(file)
}

/// Locks the directory `dir` itself (created if missing), as [`try_lock`] does a file:
/// for a writer that must leave nothing behind when it is refused later on.
pub fn try_lock_dir(dir: &Path) -> std::io::Result<Option<File>> {
    fs::create_dir_all(dir)?;
    hold(File::open(dir)?)
}

fn hold(file: File) -> std::io::Result<Option<File>> {
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(fs::TryLockError::WouldBlock) => Ok(None),
        Err(fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Writes `bytes` to `path` atomically: readers see the old file or the new one, never a mix.
pub fn atomic_write(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let path = path.as_ref();
    let mut tmp = TempFile::beside(path)?;
    tmp.file
        .write_all(bytes)
        .map_err(|e| DataError::io(&tmp.path, e))?;
    tmp.persist(path)
}

/// Serialises `value` as pretty JSON and writes it atomically.
pub fn atomic_write_json<T: serde::Serialize>(path: impl AsRef<Path>, value: &T) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| DataError::invalid(path.as_ref(), e.to_string()))?;
    bytes.push(b'\n');
    atomic_write(path, &bytes)
}

/// An empty hidden sibling of `out` (`.NAME.building`) to write a stage's outputs into
/// before [`move_in`] puts them in place together: a kill leaves the last whole output
/// and an unfinished staging directory, which the next run empties, never a mix.
pub fn staging_dir(out: &Path) -> Result<PathBuf> {
    let name = out
        .file_name()
        .map_or("dataset".into(), |n| n.to_string_lossy());
    let staging = out.with_file_name(format!(".{name}.building"));
    if staging.exists() {
        fs::remove_dir_all(&staging).map_err(|e| DataError::io(&staging, e))?;
    }
    Ok(staging)
}

/// Moves every entry of `from` into `to`, replacing what is there under the same name;
/// the dataset card (README.md) goes last, so the configs it lists are in place first.
pub fn move_in(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).map_err(|e| DataError::io(to, e))?;
    let mut entries: Vec<PathBuf> = fs::read_dir(from)
        .map_err(|e| DataError::io(from, e))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .map_err(|e| DataError::io(from, e))?;
    entries.sort_by_key(|p| p.file_name().is_some_and(|n| n == "README.md"));
    // A card coming in replaces the old one last; without one (a LintSeq config
    // written into a built dataset) the dataset keeps its own.
    if entries.last().is_some_and(|p| p.ends_with("README.md")) {
        let _ = fs::remove_file(to.join("README.md"));
    }
    for entry in entries {
        let target = to.join(entry.file_name().expect("a directory entry has a name"));
        if target.is_dir() {
            fs::remove_dir_all(&target).map_err(|e| DataError::io(&target, e))?;
        }
        fs::rename(&entry, &target).map_err(|e| DataError::io(&entry, e))?;
    }
    fs::remove_dir(from).map_err(|e| DataError::io(from, e))
}

/// `p` made absolute with symlinks resolved; a path that does not exist yet is its
/// parent's resolution plus its name, so an output about to be created compares too.
pub fn resolved(p: &Path) -> PathBuf {
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    match (p.parent(), p.file_name()) {
        (Some(parent), Some(name)) if !parent.as_os_str().is_empty() => resolved(parent).join(name),
        _ => std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf()),
    }
}

/// Whether `inner` is `outer`, or lies inside `outer` when that is a directory (both
/// [`resolved`], so `a/../b`, symlinks and relative paths compare by what they name).
pub fn is_within(inner: &Path, outer: &Path) -> bool {
    let (inner, outer) = (resolved(inner), resolved(outer));
    inner == outer || (outer.is_dir() && inner.starts_with(&outer))
}

/// Refuses an output directory that is one of a stage's inputs: shards or configs
/// written there would mix with what it reads (and a later run would read them
/// back). `inputs` pairs each input with what it is ("samples", "executions").
pub fn check_output_apart(out: &Path, inputs: &[(&Path, &str)]) -> Result<()> {
    let out_at = resolved(out);
    match inputs.iter().find(|(input, _)| resolved(input) == out_at) {
        Some((_, what)) => Err(DataError::invalid(
            out,
            format!(
                "the output directory is the {what} input; give the output a directory of its own"
            ),
        )),
        None => Ok(()),
    }
}

/// Removes temp files that a killed process left in `dir`. Returns how many.
pub fn remove_stale_temp_files(dir: impl AsRef<Path>) -> Result<usize> {
    let dir = dir.as_ref();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(DataError::io(dir, e)),
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX)
            && fs::remove_file(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    Ok(removed)
}

/// A digest of what `path` holds: a file's bytes, or every file under a
/// directory (names relative to it, and bytes, in name order; hidden entries
/// skipped). Detects an input changed between a run and its resume.
pub fn content_digest(path: &Path) -> Result<String> {
    fn walk(root: &Path, dir: &Path, h: &mut blake3::Hasher) -> Result<()> {
        let mut entries: Vec<PathBuf> = fs::read_dir(dir)
            .map_err(|e| DataError::io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                !p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(root, &p, h)?;
            } else {
                let rel = p
                    .strip_prefix(root)
                    .unwrap_or(&p)
                    .to_string_lossy()
                    .into_owned();
                h.update(&(rel.len() as u64).to_le_bytes());
                h.update(rel.as_bytes());
                let mut f = File::open(&p).map_err(|e| DataError::io(&p, e))?;
                h.update_reader(&mut f).map_err(|e| DataError::io(&p, e))?;
            }
        }
        Ok(())
    }
    let mut h = blake3::Hasher::new();
    if path.is_dir() {
        walk(path, path, &mut h)?;
    } else {
        let mut f = File::open(path).map_err(|e| DataError::io(path, e))?;
        h.update_reader(&mut f)
            .map_err(|e| DataError::io(path, e))?;
    }
    Ok(h.finalize().to_hex()[..32].to_string())
}

#[cfg(test)]
mod staging_tests {
    #[test]
    fn built_configs_replace_a_partial_dataset_whole() {
        let d = tempfile::tempdir().unwrap();
        let (staging, out) = (d.path().join(".dataset.building"), d.path().join("dataset"));
        let w = |p: std::path::PathBuf, text: &str| {
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        // What a killed build left: one config and a card listing only it.
        w(out.join("sft/old.parquet"), "old");
        w(out.join("README.md"), "configs: sft");
        w(out.join("_done/marker"), "kept");
        w(staging.join("sft/new.parquet"), "new");
        w(staging.join("dpo/new.parquet"), "new");
        w(staging.join("README.md"), "configs: sft, dpo");
        super::move_in(&staging, &out).unwrap();
        assert!(!staging.exists());
        let read = |p: &str| std::fs::read_to_string(out.join(p)).unwrap();
        assert_eq!(read("README.md"), "configs: sft, dpo");
        assert_eq!(
            (read("sft/new.parquet"), read("dpo/new.parquet")),
            ("new".into(), "new".into())
        );
        assert!(
            !out.join("sft/old.parquet").exists(),
            "a config is replaced whole"
        );
        assert_eq!(read("_done/marker"), "kept");
    }
}
