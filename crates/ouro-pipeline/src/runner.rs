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
//! Sampling from a model and training rounds are the expert-iteration stages
//! still to come (see ARCHITECTURE.md).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use ouro_data::run::{
    done_stats, mark_done, part_path, prepare_stage_dir, Manifest, RunDir, StageStats,
};
use ouro_data::{shard, Problem, Sample, SamplingParams, ShardSpec};
use serde::Deserialize;

use crate::iterate::config::{EvalStage, IterateStage, ModelStage, SeedSftStage, TokenizerStage};

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

/// Runs `config` (read from `path`). Without `resume`, an existing run directory is an error.
pub fn run_pipeline(path: &Path, config: &PipelineConfig, resume: bool) -> Result<RunSummary> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let run = RunDir::new(&config.out);
    if run.manifest_path().exists() && !resume {
        bail!(
            "{} already holds a run; pass --resume to finish it, or remove it to start over",
            config.out.display()
        );
    }
    let mut inputs = BTreeMap::new();
    inputs.insert("pipeline".into(), path.display().to_string());
    run.open_manifest(&Manifest {
        ouro_version: env!("CARGO_PKG_VERSION").into(),
        config_hash: ouro_data::content_id("pipeline", &String::from_utf8_lossy(&text)),
        num_shards: 1,
        inputs,
    })?;
    let mut report = RunSummary {
        root: config.out.clone(),
        stages: Vec::new(),
        rounds: None,
    };
    let problems_dir = run.stage_dir(0, "problems");
    let samples_dir = run.stage_dir(0, "samples");
    let executions_dir = run.stage_dir(0, "executions");
    stage(&mut report, &problems_dir, "problems", || {
        problems_stage(&config.problems, &problems_dir)
    })?;
    if let Some(s) = &config.samples {
        stage(&mut report, &samples_dir, "samples", || {
            samples_stage(&config.problems, s, &problems_dir, &samples_dir)
        })?;
    }
    if let (Some(e), Some(_)) = (&config.execute, &config.samples) {
        stage(&mut report, &executions_dir, "execute", || {
            execute_stage(e, &problems_dir, &samples_dir, &executions_dir)
        })?;
    }
    if let Some(b) = &config.build {
        let dataset = run.stage_dir(0, "dataset");
        stage(&mut report, &dataset, "build", || {
            build_stage(b, &problems_dir, &samples_dir, &executions_dir, &dataset)
        })?;
    }
    if let Some(l) = &config.lintseq {
        let dataset = run.stage_dir(0, "lintseq");
        stage(&mut report, &dataset, "lintseq", || {
            lintseq_stage(l, &problems_dir, &dataset)
        })?;
    }
    if config.model.is_some() {
        let rounds = crate::iterate::run_iteration(&run, config, &problems_dir, &mut report)?;
        report.rounds = Some(rounds);
        // The report is a view of report.json; failing to draw it must not fail a finished run.
        let html = run.root().join("report.html");
        match ouro_report::render(run.root(), &html) {
            Ok(_) => eprintln!("report: {}", html.display()),
            Err(e) => eprintln!("warning: could not render {}: {e:#}", html.display()),
        }
    }
    Ok(report)
}

/// Runs one stage unless its completion marker says it already finished.
pub(crate) fn stage(
    report: &mut RunSummary,
    dir: &Path,
    name: &str,
    body: impl FnOnce() -> Result<StageStats>,
) -> Result<()> {
    let shard = ShardSpec::default();
    if let Some(stats) = done_stats(dir, shard)? {
        report.stages.push((name.into(), true, stats));
        return Ok(());
    }
    prepare_stage_dir(dir)?;
    let t0 = Instant::now();
    eprintln!("stage {name} ...");
    let mut stats = body().with_context(|| format!("stage '{name}'"))?;
    stats.time("total", t0.elapsed().as_secs_f64());
    mark_done(dir, shard, &stats)?;
    report.stages.push((name.into(), false, stats));
    Ok(())
}

fn generate_options(p: &ProblemsStage) -> ouro_problems::GenerateOptions {
    let mut o = ouro_problems::GenerateOptions {
        count: p.count,
        seed: p.seed,
        ..Default::default()
    };
    if !p.families.is_empty() {
        o.families
            .retain(|(f, _)| p.families.iter().any(|n| n == f.name()));
    }
    o
}

fn problems_stage(p: &ProblemsStage, dir: &Path) -> Result<StageStats> {
    if let Some(i) = &p.import {
        let format = i.format.parse().map_err(anyhow::Error::msg)?;
        let problems = ouro_import::import_problems(&i.path, format, &Default::default())?;
        shard::write_records(part_path(dir, ShardSpec::default()), &problems)?;
        let mut stats = StageStats::default();
        stats.add("problems", problems.len() as u64);
        return Ok(stats);
    }
    let problems = ouro_problems::generate(&generate_options(p))?;
    ouro_problems::write(dir, &problems)?;
    let mut stats = StageStats::default();
    stats.add("problems", problems.len() as u64);
    Ok(stats)
}

fn sample(problem: &Problem, index: u32, model: &str, program: &str) -> Sample {
    let completion = program
        .strip_prefix(problem.prompt.as_str())
        .unwrap_or(program)
        .to_string();
    Sample {
        sample_id: Sample::compute_id(&problem.problem_id, 0, model, index, &completion),
        problem_id: problem.problem_id.clone(),
        round: 0,
        index,
        model: model.into(),
        params: SamplingParams::default(),
        completion,
        code: Some(program.to_string()),
        extraction_error: None,
        finish_reason: Some("stop".into()),
        generation_error: None,
        prompt_tokens: None,
        completion_tokens: None,
        logprob: None,
    }
}

fn samples_stage(
    p: &ProblemsStage,
    s: &SamplesStage,
    problems_dir: &Path,
    dir: &Path,
) -> Result<StageStats> {
    if let Some(i) = &s.import {
        let problems: Vec<Problem> = shard::read_dir(problems_dir)?;
        let opts = ouro_import::GenerationImport {
            format: i.format.parse().map_err(anyhow::Error::msg)?,
            model: i.model.clone(),
            ..Default::default()
        };
        let samples = ouro_import::import_generations(&i.path, &problems, &opts)?;
        let mut stats = StageStats::default();
        stats.add("imported_samples", samples.len() as u64);
        stats.add(
            "no_code",
            samples.iter().filter(|s| s.code.is_none()).count() as u64,
        );
        shard::write_records(part_path(dir, ShardSpec::default()), &samples)?;
        return Ok(stats);
    }
    if p.import.is_some() {
        // Imported problems have no generator mutants: their references are the samples.
        let problems: Vec<Problem> = shard::read_dir(problems_dir)?;
        let samples: Vec<Sample> = problems
            .iter()
            .filter_map(|p| Some(sample(p, 0, "reference", p.reference_solution.as_ref()?)))
            .collect();
        let mut stats = StageStats::default();
        stats.add("reference_samples", samples.len() as u64);
        shard::write_records(part_path(dir, ShardSpec::default()), &samples)?;
        return Ok(stats);
    }
    let generated = ouro_problems::generate_detailed(&generate_options(p))?;
    let mut samples = Vec::new();
    let mut stats = StageStats::default();
    for g in &generated {
        if let Some(reference) = &g.problem.reference_solution {
            samples.push(sample(&g.problem, 0, "reference", reference));
            stats.add("reference_samples", 1);
        }
        for (i, m) in g.mutants.iter().take(s.mutants_per_problem).enumerate() {
            samples.push(sample(&g.problem, i as u32, "mutant", &m.program));
            stats.add("mutant_samples", 1);
        }
    }
    shard::write_records(part_path(dir, ShardSpec::default()), &samples)?;
    Ok(stats)
}

fn execute_stage(
    e: &ExecuteStage,
    problems: &Path,
    samples: &Path,
    out: &Path,
) -> Result<StageStats> {
    let mut opts = ouro_exec::ExecOptions {
        workers: e.workers,
        progress: true,
        ..Default::default()
    };
    opts.limits.cpu_ms = e.cpu_ms;
    if e.audit {
        opts.suites = vec![ouro_data::Suite::Filter, ouro_data::Suite::Audit];
    }
    let result = ouro_exec::execute(problems, samples, out, &opts)?;
    let mut stats = StageStats::default();
    stats.add("executions", result.records as u64);
    for (verdict, n) in &result.verdicts {
        stats.add(&format!("verdict_{verdict}"), *n as u64);
    }
    stats.drop_item("unknown_problem", result.unknown_problem as u64);
    Ok(stats)
}

fn build_stage(
    b: &BuildStage,
    problems: &Path,
    samples: &Path,
    executions: &Path,
    out: &Path,
) -> Result<StageStats> {
    let inputs = ouro_rank::build::BuildInputs {
        problems: problems.to_path_buf(),
        samples: samples.to_path_buf(),
        executions: executions.to_path_buf(),
        eval_problems: None,
        ranking_executions: None,
    };
    let opts = ouro_rank::build::BuildOptions::default();
    let mut stats = StageStats::default();
    for config in &b.configs {
        let report = match config.as_str() {
            "sft" => ouro_rank::build::build_sft(&inputs, &opts, out)?,
            "dpo" => ouro_rank::build::build_dpo(&inputs, &opts, out)?,
            _ => ouro_rank::build::build_repair(&inputs, &opts, out)?,
        };
        stats.add(&format!("{config}_rows"), report.rows as u64);
    }
    Ok(stats)
}

fn lintseq_stage(l: &LintseqStage, problems: &Path, out: &Path) -> Result<StageStats> {
    let opts = ouro_edits::lintseq::LintseqOptions {
        sequences_per_program: l.sequences_per_program,
        seed: l.seed,
        ..Default::default()
    };
    let result = ouro_edits::lintseq::run(problems, out, &opts)?;
    let mut stats = StageStats::default();
    let json = serde_json::to_value(&result)?;
    if let Some(map) = json.as_object() {
        for (k, v) in map {
            if let Some(n) = v.as_u64() {
                stats.add(k, n);
            }
        }
    }
    Ok(stats)
}
