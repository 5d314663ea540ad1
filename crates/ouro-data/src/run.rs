//! Run directories: the layout of a run, its manifest and per-shard completion markers.
//!
//! ```text
//! RUN/manifest.json                              inputs, config hash, shard count, versions
//! RUN/round-00/<stage>/part-00000-of-00001.parquet
//! RUN/round-00/<stage>/_done/shard-00000-of-00001.json   completion marker with the stage's stats
//! ```
//! A stage shard is finished exactly when its marker exists; markers are
//! written last, atomically, so a killed stage is simply re-run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::fsutil::{atomic_write_json, remove_stale_temp_files};
use crate::sharding::ShardSpec;

/// Counts, timings and drop reasons of one stage shard: the one stats type every stage reports through.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageStats {
    /// What was read and written, e.g. `samples_in`, `pairs_out`.
    pub counts: BTreeMap<String, u64>,
    /// Items dropped, by reason, e.g. `no_code`, `duplicate`.
    pub dropped: BTreeMap<String, u64>,
    /// Wall seconds spent, by phase.
    pub seconds: BTreeMap<String, f64>,
}

impl StageStats {
    pub fn add(&mut self, key: &str, n: u64) {
        *self.counts.entry(key.to_string()).or_default() += n;
    }
    pub fn drop_item(&mut self, reason: &str, n: u64) {
        *self.dropped.entry(reason.to_string()).or_default() += n;
    }
    pub fn time(&mut self, phase: &str, seconds: f64) {
        *self.seconds.entry(phase.to_string()).or_default() += seconds;
    }
    /// Adds another shard's stats into this one.
    pub fn merge(&mut self, other: &StageStats) {
        for (k, v) in &other.counts {
            self.add(k, *v);
        }
        for (k, v) in &other.dropped {
            self.drop_item(k, *v);
        }
        for (k, v) in &other.seconds {
            self.time(k, *v);
        }
    }
}

/// What a run was started with. A resume must match it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub ouro_version: String,
    /// Hash of the pipeline configuration that defines the run's outputs.
    pub config_hash: String,
    pub num_shards: u32,
    /// Input paths or descriptions, for provenance.
    pub inputs: BTreeMap<String, String>,
    /// [`crate::fsutil::content_digest`] of each input file or directory the run
    /// reads (by the same names as `inputs`): a resume after one changed would
    /// mix outputs of the old content with outputs of the new. Empty in runs
    /// started before it was recorded, which resume unchecked.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub input_digests: BTreeMap<String, String>,
    /// The configuration `config_hash` hashes, so a refused resume can name the keys
    /// that changed. Absent in runs started before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
}

impl Manifest {
    /// Whether the run was started with the configuration hashed to `config_hash`,
    /// or to one of `also_accepted` (what older versions hashed the same file to).
    pub fn started_with(&self, config_hash: &str, also_accepted: &[&str]) -> bool {
        self.config_hash == config_hash || also_accepted.contains(&self.config_hash.as_str())
    }
}

/// A run directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RunDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn manifest_path(&self) -> PathBuf {
        self.root.join("manifest.json")
    }

    pub fn round_dir(&self, round: u32) -> PathBuf {
        self.root.join(format!("round-{round:02}"))
    }

    pub fn stage_dir(&self, round: u32, stage: &str) -> PathBuf {
        self.round_dir(round).join(stage)
    }

    /// Whether the run holds anything but its manifest and locks: a run that stopped
    /// before any stage wrote a file (on a bad input line, say) has nothing to mix
    /// with a new configuration.
    pub fn has_outputs(&self) -> Result<bool> {
        fn any_file(dir: &Path, top: bool) -> std::io::Result<bool> {
            for entry in std::fs::read_dir(dir)? {
                let entry = entry?;
                let name = entry.file_name();
                let name = name.to_string_lossy();
                let own = top && (name == "manifest.json" || name.starts_with(".ouro-run"));
                if entry.file_type()?.is_dir() {
                    if any_file(&entry.path(), false)? {
                        return Ok(true);
                    }
                } else if !own {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        any_file(&self.root, true).map_err(|e| DataError::io(&self.root, e))
    }

    /// Writes the manifest of a new run, or checks that an existing run was
    /// started with the same shard count and configuration: its `config_hash` is
    /// `manifest`'s or one of `also_accepted` (what older versions hashed the same
    /// configuration to).
    pub fn open_manifest(&self, manifest: &Manifest, also_accepted: &[&str]) -> Result<Manifest> {
        let path = self.manifest_path();
        match std::fs::read(&path) {
            Ok(bytes) => {
                let existing: Manifest = serde_json::from_slice(&bytes)
                    .map_err(|e| DataError::invalid(&path, format!("corrupt manifest: {e}")))?;
                if existing.num_shards != manifest.num_shards {
                    return Err(DataError::invalid(
                        &path,
                        format!(
                            "this run was started with --num-shards {}; refusing to resume it with --num-shards {} \
                             (that would reassign finished work). Use a new run directory.",
                            existing.num_shards, manifest.num_shards
                        ),
                    ));
                }
                if !existing.started_with(&manifest.config_hash, also_accepted) {
                    return Err(DataError::invalid(
                        &path,
                        format!(
                            "this run was started with a different configuration (hash {} vs {}); \
                             refusing to mix outputs. Use a new run directory, or remove this one to start over.",
                            existing.config_hash, manifest.config_hash
                        ),
                    ));
                }
                for (name, digest) in &existing.input_digests {
                    match manifest.input_digests.get(name) {
                        Some(now) if now != digest => {
                            return Err(DataError::invalid(
                                &path,
                                format!(
                                    "the run's input {name} ({}) changed since the run started; \
                                     refusing to mix outputs of its old and new content. Use a new \
                                     run directory, or restore the input.",
                                    manifest.inputs.get(name).map_or("?", String::as_str)
                                ),
                            ))
                        }
                        _ => {}
                    }
                }
                Ok(existing)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                atomic_write_json(&path, manifest)?;
                Ok(manifest.clone())
            }
            Err(e) => Err(DataError::io(&path, e)),
        }
    }
}

pub fn marker_path(stage_dir: &Path, shard: ShardSpec) -> PathBuf {
    stage_dir
        .join("_done")
        .join(format!("{}.json", shard.label()))
}

/// The part file a stage shard writes: `part-00003-of-00008.parquet`.
pub fn part_path(stage_dir: &Path, shard: ShardSpec) -> PathBuf {
    stage_dir.join(crate::shard::part_name(
        shard.index as usize,
        shard.count as usize,
    ))
}

/// Records that `shard` of the stage in `stage_dir` finished, with its stats.
pub fn mark_done(stage_dir: &Path, shard: ShardSpec, stats: &StageStats) -> Result<()> {
    atomic_write_json(marker_path(stage_dir, shard), stats)
}

/// The stats of a finished stage shard, or `None` if it has not finished.
pub fn done_stats(stage_dir: &Path, shard: ShardSpec) -> Result<Option<StageStats>> {
    let path = marker_path(stage_dir, shard);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| DataError::invalid(&path, format!("corrupt completion marker: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(DataError::io(&path, e)),
    }
}

/// Prepares a stage shard for a (re-)run: removes temp files a killed run left behind.
pub fn prepare_stage_dir(stage_dir: &Path) -> Result<()> {
    std::fs::create_dir_all(stage_dir).map_err(|e| DataError::io(stage_dir, e))?;
    remove_stale_temp_files(stage_dir)?;
    Ok(())
}

/// Prepares one shard of a stage whose directory other shards write at the
/// same time: removes only the temp files of this shard's part, never
/// another process's write in flight. With one shard it is [`prepare_stage_dir`].
pub fn prepare_shard_dir(stage_dir: &Path, shard: ShardSpec) -> Result<()> {
    if shard.count == 1 {
        return prepare_stage_dir(stage_dir);
    }
    std::fs::create_dir_all(stage_dir).map_err(|e| DataError::io(stage_dir, e))?;
    let part = part_path(stage_dir, shard);
    let suffix = format!(
        "-{}",
        part.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    let entries = std::fs::read_dir(stage_dir).map_err(|e| DataError::io(stage_dir, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(crate::fsutil::TEMP_PREFIX) && name.ends_with(&suffix) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(n: u32, hash: &str) -> Manifest {
        Manifest {
            ouro_version: "0.1.0".into(),
            config_hash: hash.into(),
            num_shards: n,
            inputs: BTreeMap::new(),
            input_digests: BTreeMap::new(),
            config: None,
        }
    }

    #[test]
    fn resume_with_a_different_shard_count_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        run.open_manifest(&manifest(4, "h"), &[]).unwrap();
        run.open_manifest(&manifest(4, "h"), &[]).unwrap();
        let err = run
            .open_manifest(&manifest(8, "h"), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--num-shards 4") && err.contains("manifest.json"),
            "{err}"
        );
        assert!(run.open_manifest(&manifest(4, "other"), &[]).is_err());
        assert!(run.open_manifest(&manifest(4, "other"), &["x"]).is_err());
        // The existing hash under another name: accepted, and the manifest keeps it.
        let kept = run.open_manifest(&manifest(4, "other"), &["h"]).unwrap();
        assert_eq!(kept.config_hash, "h");
    }

    #[test]
    fn preparing_a_shard_keeps_other_shards_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = (ShardSpec::new(1, 3).unwrap(), ShardSpec::new(2, 3).unwrap());
        let name = |s: ShardSpec| {
            let part = part_path(dir.path(), s);
            let file = part.file_name().unwrap().to_string_lossy().into_owned();
            dir.path()
                .join(format!("{}7-0-{file}", crate::fsutil::TEMP_PREFIX))
        };
        std::fs::write(name(one), b"stale").unwrap();
        std::fs::write(name(two), b"in flight").unwrap();
        prepare_shard_dir(dir.path(), one).unwrap();
        assert!(!name(one).exists());
        assert!(name(two).exists());
    }

    #[test]
    fn markers_record_completion_and_stats() {
        let dir = tempfile::tempdir().unwrap();
        let shard = ShardSpec::new(1, 2).unwrap();
        assert_eq!(done_stats(dir.path(), shard).unwrap(), None);
        let mut stats = StageStats::default();
        stats.add("rows", 3);
        stats.drop_item("duplicate", 1);
        mark_done(dir.path(), shard, &stats).unwrap();
        assert_eq!(done_stats(dir.path(), shard).unwrap(), Some(stats));
        assert_eq!(
            done_stats(dir.path(), ShardSpec::new(0, 2).unwrap()).unwrap(),
            None
        );
    }
}
