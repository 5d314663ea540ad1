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
use std::time::Instant;

use anyhow::{bail, Context, Result};
use ouro_data::run::{done_stats, mark_done, prepare_shard_dir, Manifest, RunDir, StageStats};
use ouro_data::ShardSpec;
use serde::Deserialize;

use crate::iterate::config::{EvalStage, IterateStage, ModelStage, SeedSftStage, TokenizerStage};

mod shards;
mod stages;
pub use shards::Scope;
use stages::{
    build_stage, execute_stage, execute_work_dir, lintseq_stage, problems_stage, samples_stage,
};

/// A pipeline file. Unknown keys are rejected, with the key named.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Run directory, relative to the current directory.
    pub out: PathBuf,
    pub problems: ProblemsStage,
    pub samples: Option<SamplesStage>,
    pub execute: Option<ExecuteStage>,
    pub build: Option<BuildStage>,
    pub lintseq: Option<LintseqStage>,
    pub tokenizer: Option<TokenizerStage>,
    pub model: Option<ModelStage>,
    pub seed_sft: Option<SeedSftStage>,
    pub iterate: Option<IterateStage>,
    pub eval: Option<EvalStage>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProblemsStage {
    /// How many bundled problems to generate (ignored with `import`).
    #[serde(default)]
    pub count: usize,
    /// Import problems from a file instead of generating them.
    pub import: Option<ProblemsImport>,
    #[serde(default)]
    pub seed: u64,
    /// Families to draw from, e.g. `["compose"]` (default: all, weighted).
    #[serde(default)]
    pub families: Vec<String>,
    /// Also give every problem a filter test for each near-miss mutant the
    /// random filter tests let through (see `ouro_problems::GenerateOptions`).
    #[serde(default)]
    pub targeted_filter: bool,
}

/// `[problems.import]`: a problem file to import.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProblemsImport {
    /// `humaneval`, `mbpp`, `apps` or `jsonl`.
    pub format: String,
    pub path: PathBuf,
}

/// `[samples.import]`: raw generations to import as the round-0 samples.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplesImport {
    /// `openai-batch`, `vllm`, `open-instruct`, `openrlhf` or `jsonl`.
    pub format: String,
    pub path: PathBuf,
    /// Model name to record when the file does not carry one.
    pub model: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplesStage {
    /// Import generations instead of using references and mutants.
    pub import: Option<SamplesImport>,
    /// Mutants per problem added as known-wrong samples (0 = references only).
    #[serde(default = "default_mutants")]
    pub mutants_per_problem: usize,
}

fn default_mutants() -> usize {
    2
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecuteStage {
    /// Slots; 0 = one per core.
    #[serde(default)]
    pub workers: usize,
    #[serde(default = "default_cpu_ms")]
    pub cpu_ms: u64,
    /// Also run the held-out audit suites (for the false-positive rate).
    #[serde(default = "default_true")]
    pub audit: bool,
}

fn default_cpu_ms() -> u64 {
    3000
}
fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildStage {
    /// Any of `sft`, `dpo`, `repair`.
    pub configs: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LintseqStage {
    #[serde(default = "default_sequences")]
    pub sequences_per_program: usize,
    #[serde(default)]
    pub seed: u64,
    /// `ouro lintseq --strict`: no state reads a local before binding it.
    #[serde(default)]
    pub strict: bool,
}

fn default_sequences() -> usize {
    2
}

/// Reads and checks a pipeline file.
pub fn load_config(path: &Path) -> Result<PipelineConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let config: PipelineConfig = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim_end()))?;
    for f in &config.problems.families {
        if let Err(e) = f.parse::<ouro_problems::Family>() {
            bail!("{}: key 'problems.families': {e}", path.display());
        }
    }
    match &config.problems.import {
        Some(i) => {
            if let Err(e) = i.format.parse::<ouro_import::ProblemFormat>() {
                bail!("{}: key 'problems.import.format': {e}", path.display());
            }
        }
        None if config.problems.count == 0 => bail!(
            "{}: key 'problems.count' must be at least 1 (or add [problems.import])",
            path.display()
        ),
        None => {}
    }
    if let Some(i) = config.samples.as_ref().and_then(|s| s.import.as_ref()) {
        if let Err(e) = i.format.parse::<ouro_import::GenerationFormat>() {
            bail!("{}: key 'samples.import.format': {e}", path.display());
        }
    }
    if let Some(b) = &config.build {
        for c in &b.configs {
            if !matches!(c.as_str(), "sft" | "dpo" | "repair") {
                bail!(
                    "{}: key 'build.configs': unknown config '{c}' (expected sft, dpo or repair)",
                    path.display()
                );
            }
        }
        if config.execute.is_none() {
            bail!(
                "{}: stage 'build' needs stage 'execute' (add an [execute] section)",
                path.display()
            );
        }
    }
    if config.execute.is_some() && config.samples.is_none() && config.model.is_none() {
        bail!(
            "{}: stage 'execute' needs stage 'samples' (add a [samples] section)",
            path.display()
        );
    }
    crate::iterate::check_config(&config)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(config)
}

/// What a run did, stage by stage.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    pub root: PathBuf,
    /// (stage, resumed?, stats)
    pub stages: Vec<(String, bool, StageStats)>,
    /// Per-round evaluation, for pipelines that train.
    pub rounds: Option<ouro_data::report::RunReport>,
}

/// The round-0 stage directories of a run.
pub(crate) struct StageDirs {
    pub problems: PathBuf,
    pub samples: PathBuf,
    pub executions: PathBuf,
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
    if config.model.is_some() {
        shards::refuse_iteration(path, scope)?;
    }
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
    let exists = run.manifest_path().exists();
    match scope {
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
    shards::open_shared_manifest(
        &run,
        &Manifest {
            ouro_version: env!("CARGO_PKG_VERSION").into(),
            config_hash: ouro_data::content_id("pipeline", &String::from_utf8_lossy(&text)),
            num_shards,
            inputs,
        },
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
                eprintln!(
                    "shard {} of {} done; build and lintseq run once every shard is done: \
                     ouro run {} --merge --num-shards {} --resume",
                    shard.index,
                    shard.count,
                    path.display(),
                    shard.count
                );
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
            build_stage(b, problems_dir, samples_dir, executions_dir, &dataset)
        })?;
    }
    if let Some(l) = &config.lintseq {
        let dataset = run.stage_dir(0, "lintseq");
        stage(&mut report, &dataset, "lintseq", || {
            lintseq_stage(l, problems_dir, &dataset)
        })?;
    }
    if config.model.is_some() {
        let rounds = crate::iterate::run_iteration(&run, config, problems_dir, &mut report)?;
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
        stage_shard(report, executions_dir, "execute", shard, || {
            execute_stage(e, problems_dir, samples_dir, executions_dir, shard)
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

/// Runs one stage unless its completion marker says it already finished.
pub(crate) fn stage(
    report: &mut RunSummary,
    dir: &Path,
    name: &str,
    body: impl FnOnce() -> Result<StageStats>,
) -> Result<()> {
    stage_shard(report, dir, name, ShardSpec::default(), body)
}

/// Runs `shard` of one stage unless its completion marker says it already finished.
fn stage_shard(
    report: &mut RunSummary,
    dir: &Path,
    name: &str,
    shard: ShardSpec,
    body: impl FnOnce() -> Result<StageStats>,
) -> Result<()> {
    if let Some(stats) = done_stats(dir, shard)? {
        report.stages.push((name.into(), true, stats));
        return Ok(());
    }
    prepare_shard_dir(dir, shard)?;
    let t0 = Instant::now();
    if shard.count == 1 {
        crate::status::say(format_args!("stage {name} ..."));
    } else {
        crate::status::say(format_args!(
            "stage {name} (shard {} of {}) ...",
            shard.index, shard.count
        ));
    }
    let mut stats = body().with_context(|| format!("stage '{name}'"))?;
    stats.time("total", t0.elapsed().as_secs_f64());
    mark_done(dir, shard, &stats)?;
    report.stages.push((name.into(), false, stats));
    Ok(())
}
