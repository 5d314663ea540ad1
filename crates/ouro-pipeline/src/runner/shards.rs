//! Scale-out of `ouro run`: which part of a pipeline this process runs.
//!
//! A pipeline splits into N shard tasks and one merge task (the plan
//! `ouro launch slurm|k8s` writes):
//!
//! - `--shard I --num-shards N` runs the per-problem stages (`problems`,
//!   `samples`, `execute`) on the problems shard I owns
//!   ([`ShardSpec::owns`], a hash of the problem id). Every file a shard
//!   writes is its own: `part-0000I-of-0000N.parquet` and
//!   `_done/shard-0000I-of-0000N.json` in each stage directory, so shards
//!   share a filesystem without locks.
//! - `--merge --num-shards N` checks that every shard finished, then runs the
//!   stages that need all of them (`build`, `lintseq`) once, over every part.
//!
//! With N = 1 (the default) none of this applies: one process runs every
//! stage, with the file names a run has always had.

use std::path::Path;

use anyhow::{bail, Result};
use ouro_data::run::{done_stats, Manifest, RunDir, StageStats};
use ouro_data::ShardSpec;

/// Which stages of a pipeline this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// Every stage, in this process (`--num-shards 1`, the default).
    #[default]
    All,
    /// One shard's share of the per-problem stages (`problems`, `samples`, `execute`).
    Shard(ShardSpec),
    /// The stages that read every shard's output (`build`, `lintseq`), once all
    /// shards finished. `None` takes the shard count from the run's manifest.
    Merge(Option<u32>),
}

impl Scope {
    /// Resolves `--shard`, `--num-shards` and `--merge`, falling back to the
    /// Slurm / Kubernetes environment for the shard (see [`ShardSpec::resolve`]).
    pub fn resolve(shard: Option<u32>, num_shards: Option<u32>, merge: bool) -> Result<Scope> {
        Self::resolve_with(shard, num_shards, merge, |k| std::env::var(k).ok())
    }

    pub fn resolve_with(
        shard: Option<u32>,
        num_shards: Option<u32>,
        merge: bool,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Scope> {
        if merge {
            if let Some(i) = shard {
                bail!("--merge runs once over every shard; it takes no --shard (got --shard {i})");
            }
            if num_shards == Some(0) {
                bail!("--num-shards must be at least 1");
            }
            // The merge task runs outside the job array, so the array's
            // environment variables are deliberately not read here.
            return Ok(Scope::Merge(num_shards));
        }
        let spec = ShardSpec::resolve(shard, num_shards, env)?;
        Ok(if spec.count == 1 {
            Scope::All
        } else {
            Scope::Shard(spec)
        })
    }
}

/// Stages that run per shard, in order, each with the directory holding its markers.
pub(crate) fn shard_stages<'a>(
    config: &super::PipelineConfig,
    dirs: &'a super::StageDirs,
) -> Vec<(&'static str, &'a Path)> {
    let mut stages = vec![("problems", dirs.problems.as_path())];
    if config.samples.is_some() {
        stages.push(("samples", dirs.samples.as_path()));
        if config.execute.is_some() {
            stages.push(("execute", dirs.executions.as_path()));
        }
    }
    stages
}

/// The error for `--shard`/`--num-shards`/`--merge` on a pipeline that trains.
pub(crate) fn refuse_iteration(path: &Path, scope: Scope) -> Result<()> {
    let flags = match scope {
        Scope::All => return Ok(()),
        Scope::Shard(s) => format!("--shard {} --num-shards {}", s.index, s.count),
        Scope::Merge(_) => "--merge".to_string(),
    };
    bail!(
        "{}: this pipeline trains a model ([model]), and training runs in one process, so an \
         expert-iteration pipeline cannot be sharded ({flags}). Run it as one job without \
         --shard/--num-shards/--merge (and without SLURM_ARRAY_TASK_ID / JOB_COMPLETION_INDEX set). \
         To scale out its sampling instead, serve the model on several GPUs with vLLM or SGLang and \
         point sampling at that pool of OpenAI-compatible servers (README: Sampling from a server).",
        path.display()
    )
}

/// Opens the manifest of a run that several shards may create at the same moment.
///
/// Every shard writes the same manifest through its own temp file and an
/// atomic rename, so whichever rename lands last leaves the same bytes.
/// Temp names carry the process id, which can coincide across machines (the
/// main process of every container may be pid 1); such a collision fails
/// the create, and the retry uses a fresh name or finds the winner's manifest.
pub(crate) fn open_shared_manifest(
    run: &RunDir,
    manifest: &Manifest,
    also_accepted: &[&str],
) -> Result<Manifest> {
    let mut attempt = 0;
    loop {
        match run.open_manifest(manifest, also_accepted) {
            Ok(m) => return Ok(m),
            Err(e @ ouro_data::DataError::Io { .. }) if attempt < 5 => {
                attempt += 1;
                eprintln!("warning: retrying the manifest ({e})");
                std::thread::sleep(std::time::Duration::from_millis(50 * attempt));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The shard count of an existing run, for `--merge` without `--num-shards`.
pub(crate) fn manifest_shards(run: &RunDir, pipeline: &Path) -> Result<u32> {
    let path = run.manifest_path();
    match std::fs::read(&path) {
        Ok(bytes) => {
            let m: Manifest = serde_json::from_slice(&bytes)
                .map_err(|e| anyhow::anyhow!("{}: corrupt manifest: {e}", path.display()))?;
            Ok(m.num_shards)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "{} holds no run yet, so there is nothing to merge: run the shards first \
             (`ouro run {} --shard I --num-shards N` for I in 0..N)",
            run.root().display(),
            pipeline.display()
        ),
        Err(e) => Err(anyhow::anyhow!("{}: {e}", path.display())),
    }
}

/// Checks that all `n` shards finished every per-shard stage and returns the
/// stats of each stage summed over the shards. The error names every shard
/// that did not finish, the first stage it is missing and the command to rerun.
pub(crate) fn merged_shard_stats(
    stages: &[(&'static str, &Path)],
    n: u32,
    pipeline: &Path,
) -> Result<Vec<(&'static str, StageStats)>> {
    let mut merged: Vec<(&'static str, StageStats)> = stages
        .iter()
        .map(|(name, _)| (*name, StageStats::default()))
        .collect();
    // (shard index, why and how to rerun it), one per unfinished shard.
    let mut missing: Vec<(u32, String)> = Vec::new();
    for index in 0..n {
        let shard = ShardSpec::new(index, n)?;
        for (k, (name, dir)) in stages.iter().enumerate() {
            let part = dir.join(ouro_data::shard::part_name(index as usize, n as usize));
            match done_stats(dir, shard)? {
                // A part gone after its shard finished (deleted, or a disk restored
                // from backup) had merged as a smaller dataset, exit 0.
                Some(_) if !part.exists() => {
                    missing.push((
                        index,
                        format!(
                            "shard {index} of {n} finished stage '{name}', but its output {} is \
                         gone; remove {} and rerun it with `ouro run {} --shard {index} \
                         --num-shards {n} --resume`",
                            part.display(),
                            ouro_data::run::marker_path(dir, shard).display(),
                            pipeline.display()
                        ),
                    ));
                    break;
                }
                Some(stats) => merged[k].1.merge(&stats),
                None => {
                    missing.push((
                        index,
                        format!(
                            "shard {index} of {n} has not finished stage '{name}'; rerun it with \
                         `ouro run {} --shard {index} --num-shards {n} --resume`",
                            pipeline.display()
                        ),
                    ));
                    break;
                }
            }
        }
    }
    if !missing.is_empty() {
        const SHOWN: usize = 20;
        let more = missing.len().saturating_sub(SHOWN);
        let mut msg = format!(
            "cannot merge: {} of {n} shards have not finished\n  {}",
            missing.len(),
            missing[..missing.len().min(SHOWN)]
                .iter()
                .map(|(_, why)| why.as_str())
                .collect::<Vec<_>>()
                .join("\n  ")
        );
        if more > 0 {
            // Every index still, in the form a Slurm --array takes, to resubmit them.
            msg.push_str(&format!(
                "\n  ... and {more} more; all {} unfinished shards: {}",
                missing.len(),
                index_ranges(&missing.iter().map(|(i, _)| *i).collect::<Vec<_>>())
            ));
        }
        msg.push_str("\nthen run the merge again (it resumes with --resume)");
        bail!(msg);
    }
    Ok(merged)
}

/// `0,3,5-9`: sorted indices as ranges, as `sbatch --array` takes them.
fn index_ranges(indices: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < indices.len() {
        let mut j = i;
        while j + 1 < indices.len() && indices[j + 1] == indices[j] + 1 {
            j += 1;
        }
        parts.push(if j == i {
            indices[i].to_string()
        } else {
            format!("{}-{}", indices[i], indices[j])
        });
        i = j + 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ouro_data::run::mark_done;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn unfinished_shards_read_as_array_ranges() {
        assert_eq!(index_ranges(&[0, 3, 5, 6, 7, 9, 10]), "0,3,5-7,9-10");
        assert_eq!(index_ranges(&[]), "");
    }

    #[test]
    fn one_shard_is_the_plain_run() {
        assert_eq!(
            Scope::resolve_with(None, None, false, no_env).unwrap(),
            Scope::All
        );
        assert_eq!(
            Scope::resolve_with(Some(0), Some(1), false, no_env).unwrap(),
            Scope::All
        );
        assert_eq!(
            Scope::resolve_with(Some(2), Some(3), false, no_env).unwrap(),
            Scope::Shard(ShardSpec::new(2, 3).unwrap())
        );
        let slurm = |k: &str| (k == "SLURM_ARRAY_TASK_ID").then(|| "1".to_string());
        assert_eq!(
            Scope::resolve_with(None, Some(4), false, slurm).unwrap(),
            Scope::Shard(ShardSpec::new(1, 4).unwrap())
        );
        // The merge job runs outside the array: its variables are not read.
        assert_eq!(
            Scope::resolve_with(None, Some(4), true, slurm).unwrap(),
            Scope::Merge(Some(4))
        );
        assert!(Scope::resolve_with(Some(1), Some(4), true, no_env).is_err());
        assert!(Scope::resolve_with(Some(4), Some(4), false, no_env).is_err());
    }

    #[test]
    fn merge_names_every_unfinished_shard_and_sums_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("problems"), dir.path().join("samples"));
        let stages = [("problems", a.as_path()), ("samples", b.as_path())];
        let mut one = StageStats::default();
        one.add("rows", 2);
        let done = |dir: &Path, i: u32| {
            mark_done(dir, ShardSpec::new(i, 3).unwrap(), &one).unwrap();
            let part = dir.join(ouro_data::shard::part_name(i as usize, 3));
            std::fs::write(part, b"").unwrap();
        };
        for i in 0..3 {
            done(&a, i);
        }
        done(&b, 0);
        let err = merged_shard_stats(&stages, 3, Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("2 of 3 shards"), "{err}");
        assert!(
            err.contains("shard 1 of 3 has not finished stage 'samples'")
                && err.contains("shard 2 of 3 has not finished stage 'samples'")
                && err.contains("ouro run p.toml --shard 2 --num-shards 3 --resume"),
            "{err}"
        );
        for i in 1..3 {
            done(&b, i);
        }
        let merged = merged_shard_stats(&stages, 3, Path::new("p.toml")).unwrap();
        assert_eq!(merged[0].1.counts["rows"], 6);
        assert_eq!(merged[1].0, "samples");
        // A shard's output gone after it finished had merged as a smaller dataset.
        std::fs::remove_file(b.join(ouro_data::shard::part_name(1, 3))).unwrap();
        let err = merged_shard_stats(&stages, 3, Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("shard 1 of 3 finished stage 'samples', but its output")
                && err.contains("shard-00001-of-00003.json"),
            "{err}"
        );
    }
}
