//! `ouro run PIPELINE.toml`: runs the declared stages into a run directory.
//!
//! Stages run in a fixed order and talk only through shards:
//! `problems -> samples -> execute -> build -> lintseq`. Each stage writes
//! under `RUN/round-00/<stage>/` and ends with a completion marker, so
//! `--resume` skips finished stages and re-runs the one that was killed.
//! A section missing from the config means its stage is not run.
//!
//! Round-0 samples are the reference solutions plus the generator's
//! near-miss mutants: known-good and known-bad programs that exercise the
//! executor, the rankers and every dataset config with no model at all.
//! Pipelines with `[model]` go on to expert-iteration rounds (`iterate`).
//!
//! Data pipelines also run as N shard tasks plus one merge task over a
//! shared filesystem ([`Scope`], module `shards`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use ouro_data::run::{done_stats, Manifest, RunDir};
use ouro_data::ShardSpec;

use crate::config::PipelineConfig;
pub use crate::markers::RunSummary;
use crate::markers::{stage, stage_shard};

mod shards;
use crate::stages::{
    build_stage, execute_stage, execute_work_dir, lintseq_stage, problems_stage, samples_stage,
};
pub use shards::Scope;

/// The round-0 stage directories of a run.
pub(crate) struct StageDirs {
    pub problems: PathBuf,
    pub samples: PathBuf,
    pub executions: PathBuf,
}

/// Whether a pipeline can run in `scope`: one that trains a model (`[model]`) runs in one
/// process, so `--shard`/`--merge` (and `ouro launch`) are an error saying what to do instead.
pub fn check_shardable(path: &Path, trains: bool, scope: Scope) -> Result<()> {
    if trains {
        shards::refuse_iteration(path, scope)?;
    }
    Ok(())
}

/// Whether the run in `run` was started with this configuration (its hash, or what
/// older versions hashed the same file to), as `--resume` will check.
fn same_config(run: &RunDir, config_hash: &str, text: &[u8]) -> bool {
    std::fs::read(run.manifest_path())
        .ok()
        .and_then(|b| serde_json::from_slice::<Manifest>(&b).ok())
        .is_none_or(|m| {
            m.started_with(
                config_hash,
                &[&crate::config::text_hash(&String::from_utf8_lossy(text))],
            )
        })
}

/// The keys of `text` whose values differ from the configuration the run in `run`
/// was started with; empty when it is the same, or the run recorded no configuration.
fn changed_keys(run: &RunDir, config_hash: &str, text: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(text);
    let Some(m) = std::fs::read(run.manifest_path())
        .ok()
        .and_then(|b| serde_json::from_slice::<Manifest>(&b).ok())
    else {
        return Vec::new();
    };
    match &m.config {
        Some(old) if !m.started_with(config_hash, &[&crate::config::text_hash(&text)]) => {
            crate::config::changed_keys(old, &text)
        }
        _ => Vec::new(),
    }
}

/// Runs `config` (read from `path`). Without `resume`, an existing run directory is an error.
pub fn run_pipeline(path: &Path, config: &PipelineConfig, resume: bool) -> Result<RunSummary> {
    run_pipeline_scoped(path, config, resume, Scope::All)
}

/// Runs the part of `config` that `scope` names: every stage, one shard's
/// per-problem stages, or the merge (see [`Scope`]).
pub fn run_pipeline_scoped(
    path: &Path,
    config: &PipelineConfig,
    resume: bool,
    scope: Scope,
) -> Result<RunSummary> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let run = RunDir::new(&config.out);
    check_shardable(path, config.model.is_some(), scope)?;
    let dirs = StageDirs {
        problems: run.stage_dir(0, "problems"),
        samples: run.stage_dir(0, "samples"),
        executions: run.stage_dir(0, "executions"),
    };
    let num_shards = match scope {
        Scope::All => 1,
        Scope::Shard(s) => s.count,
        Scope::Merge(Some(n)) => n,
        Scope::Merge(None) => shards::manifest_shards(&run, path)?,
    };
    // Shards of one run write into it side by side; two processes running the same
    // scope would interleave their journals and both pass the checks below. A merge
    // runs build and lintseq as a whole run does, so the two share one lock.
    let lock_name = match scope {
        Scope::All | Scope::Merge(_) => ".ouro-run.lock".to_string(),
        Scope::Shard(s) => format!(".ouro-run-shard-{}.lock", s.index),
    };
    let _lock = ouro_data::fsutil::try_lock(&config.out, &lock_name)
        .with_context(|| format!("locking {}", config.out.join(&lock_name).display()))?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{} is being written by another `ouro run` of the same pipeline; wait for it \
                 to finish (then pass --resume if it stopped short)",
                config.out.display()
            )
        })?;
    if matches!(scope, Scope::All) && run.manifest_path().exists() && !run.has_outputs()? {
        // Stopped before any stage wrote a file (a bad input line or value): nothing
        // of it can mix with this run, which starts it again.
        tracing::info!(
            "{} holds a run that wrote nothing yet; starting it again",
            config.out.display()
        );
        std::fs::remove_file(run.manifest_path())
            .with_context(|| format!("removing {}", run.manifest_path().display()))?;
    }
    let exists = run.manifest_path().exists();
    let config_hash = crate::config::config_hash(&String::from_utf8_lossy(&text))
        .with_context(|| format!("parsing {}", path.display()))?;
    let changed = changed_keys(&run, &config_hash, &text);
    if !changed.is_empty() {
        const SHOWN: usize = 8;
        let more = changed.len().saturating_sub(SHOWN);
        bail!(
            "{} was started with other values of {} than it has now: {}{}. A resume would mix \
             outputs of both; restore those values, or set `out` to a new directory (or remove \
             this one to start over)",
            config.out.display(),
            path.display(),
            changed[..changed.len().min(SHOWN)].join("; "),
            if more > 0 {
                format!("; and {more} more")
            } else {
                String::new()
            }
        );
    }
    match scope {
        Scope::All if exists && !resume && !same_config(&run, &config_hash, &text) => bail!(
            "{} holds a run of another configuration (a value changed since it started, or it stopped on a bad one), which --resume refuses to mix with this one: remove it to start over, or set `out` to a new directory",
            config.out.display()
        ),
        Scope::All if exists && !resume => bail!(
            "{} already holds a run; pass --resume to finish it, or remove it to start over",
            config.out.display()
        ),
        // The other shards create the run too, so only this shard's own work counts as "already there".
        Scope::Shard(s) if !resume && done_stats(&dirs.problems, s)?.is_some() => bail!(
            "shard {} of {} already ran in {}; pass --resume to finish it, or remove the run to start over",
            s.index,
            s.count,
            config.out.display()
        ),
        Scope::Merge(_) if !exists => {
            shards::manifest_shards(&run, path)?;
        }
        Scope::Merge(_) if !resume && merge_started(config, &run)? => bail!(
            "{} is already merged; pass --resume to finish or re-check the merge",
            config.out.display()
        ),
        _ => {}
    }
    let mut inputs = BTreeMap::new();
    inputs.insert("pipeline".into(), path.display().to_string());
    let mut input_digests = BTreeMap::new();
    for (name, input) in config.input_paths() {
        // A missing input is the stage's to report, with its own context.
        if input.exists() {
            let digest = ouro_data::fsutil::content_digest(&input)
                .with_context(|| format!("reading {} ({name})", input.display()))?;
            input_digests.insert(name.clone(), digest);
        }
        inputs.insert(name, input.display().to_string());
    }
    let text = String::from_utf8_lossy(&text);
    shards::open_shared_manifest(
        &run,
        &Manifest {
            ouro_version: env!("CARGO_PKG_VERSION").into(),
            config_hash,
            num_shards,
            inputs,
            input_digests,
            config: crate::config::normalised(&text).ok(),
        },
        &[&crate::config::text_hash(&text)],
    )?;
    let mut report = RunSummary {
        root: config.out.clone(),
        stages: Vec::new(),
        rounds: None,
    };
    match scope {
        Scope::All => run_shard_stages(config, &dirs, ShardSpec::default(), &mut report)?,
        Scope::Shard(shard) => {
            run_shard_stages(config, &dirs, shard, &mut report)?;
            if config.build.is_some() || config.lintseq.is_some() {
                ouro_data::status::say(format_args!(
                    "shard {} of {} done; build and lintseq run once every shard is done: \
                     ouro run {} --merge --num-shards {} --resume",
                    shard.index,
                    shard.count,
                    path.display(),
                    shard.count
                ));
            }
            return Ok(report);
        }
        Scope::Merge(_) => {
            let stages = shards::shard_stages(config, &dirs);
            for (name, stats) in shards::merged_shard_stats(&stages, num_shards, path)? {
                report.stages.push((name.into(), true, stats));
            }
        }
    }
    let (problems_dir, samples_dir, executions_dir) =
        (&dirs.problems, &dirs.samples, &dirs.executions);
    if let Some(b) = &config.build {
        let dataset = run.stage_dir(0, "dataset");
        stage(&mut report, &dataset, "build", || {
            build_stage(
                b,
                &config.decontaminate(),
                problems_dir,
                samples_dir,
                executions_dir,
                &dataset,
            )
        })?;
    }
    if let Some(l) = &config.lintseq {
        let dataset = run.stage_dir(0, "lintseq");
        stage(&mut report, &dataset, "lintseq", || {
            lintseq_stage(l, &config.decontaminate(), problems_dir, &dataset)
        })?;
    }
    if config.model.is_some() {
        let info = ouro_data::report::RunInfo {
            ouro_version: env!("CARGO_PKG_VERSION").into(),
            commit: option_env!("OURO_GIT_COMMIT").map(str::to_string),
            started: ouro_data::datetime::utc_now_rfc3339(),
            config: text.to_string(),
            seeds: config.seeds(),
        };
        let rounds = crate::iterate::run_iteration(&run, config, problems_dir, &mut report, info)?;
        report.rounds = Some(rounds);
        // The report is a view of report.json; failing to draw it must not fail a finished run.
        let html = run.root().join("report.html");
        match ouro_report::render(run.root(), &html) {
            Ok(_) => crate::status::say(format_args!("report: {}", html.display())),
            Err(e) => eprintln!("warning: could not render {}: {e:#}", html.display()),
        }
    }
    Ok(report)
}

/// Whether a merge stage (build, lintseq) already finished.
fn merge_started(config: &PipelineConfig, run: &RunDir) -> Result<bool> {
    for (on, name) in [
        (config.build.is_some(), "dataset"),
        (config.lintseq.is_some(), "lintseq"),
    ] {
        if on && done_stats(&run.stage_dir(0, name), ShardSpec::default())?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The per-problem stages (problems, samples, execute) for the problems `shard` owns.
fn run_shard_stages(
    config: &PipelineConfig,
    dirs: &StageDirs,
    shard: ShardSpec,
    report: &mut RunSummary,
) -> Result<()> {
    let (problems_dir, samples_dir, executions_dir) =
        (&dirs.problems, &dirs.samples, &dirs.executions);
    stage_shard(report, problems_dir, "problems", shard, || {
        problems_stage(&config.problems, problems_dir, shard)
    })?;
    if let Some(s) = &config.samples {
        stage_shard(report, samples_dir, "samples", shard, || {
            samples_stage(&config.problems, s, problems_dir, samples_dir, shard)
        })?;
    }
    if let (Some(e), Some(_)) = (&config.execute, &config.samples) {
        let count_lines = config
            .build
            .as_ref()
            .is_some_and(|b| crate::config::DatasetKind::read_line_counts(&b.configs));
        stage_shard(report, executions_dir, "execute", shard, || {
            execute_stage(
                e,
                count_lines,
                problems_dir,
                samples_dir,
                executions_dir,
                shard,
            )
        })?;
        if shard.count > 1 {
            // The journal directory is needed until the marker exists (a kill
            // before it resumes from there); after that it is only a copy.
            let work = execute_work_dir(executions_dir, shard);
            if work.exists() {
                std::fs::remove_dir_all(&work)
                    .with_context(|| format!("removing {}", work.display()))?;
            }
            // Fails while other shards still have theirs, which is fine.
            if let Some(parent) = work.parent() {
                let _ = std::fs::remove_dir(parent);
            }
        }
    }
    Ok(())
}
