use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// `pipelines/quickstart.toml`, built into the binary: `ouro run` with no file runs it.
const QUICKSTART: &str = include_str!("../../../../pipelines/quickstart.toml");
/// Where the embedded quickstart is written, so that a run can name (and resume from) its file.
const QUICKSTART_FILE: &str = "runs/quickstart.toml";

/// Run a pipeline file into its run directory.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  ouro run                                      the embedded quickstart (offline, no downloads)
  ouro run pipelines/quickstart.toml            the same, from the repository's file
  ouro run pipelines/quickstart.toml --resume   finish a run that was killed
  ouro run pipelines/quickstart.toml --seeds 5  seeds 1..5, each with a control arm: mean ± sd
  ouro run pipelines/quickstart.toml --report-to tensorboard && tensorboard --logdir runs/quickstart/runs

Each stage writes RUN/round-00/<stage>/ and a completion marker; --resume skips finished stages.

The round table a training run ends with: held-out pass@k (strict: a sample must pass the filter
and the audit tests), FP rate (held-out filter passes the audit tests reject), train FP (the
round's SFT rows, chosen by the filter tests, that the audit tests reject), DPO FP (with a DPO
step: pairs whose chosen program the audit tests reject), SFT rows, and the control arm's
pass@1. RUN/report.json holds the same per round.

Scale-out over a shared filesystem (data pipelines; `ouro launch slurm|k8s` writes the jobs):
  ouro run pipelines/datasets.toml --shard 3 --num-shards 8 --resume   one of 8 shard tasks
  ouro run pipelines/datasets.toml --merge --num-shards 8 --resume     once all 8 finished

A shard runs problems, samples and execute on the problems it owns (by a hash of the problem
id) and writes part-0000I-of-0000N.parquet plus its own markers; the merge checks that every
shard finished, naming any that did not, then runs build and lintseq over all parts. Without
--shard, the index comes from SLURM_ARRAY_TASK_ID (Slurm job arrays) or JOB_COMPLETION_INDEX
(Kubernetes Indexed Jobs), and without --num-shards the count from SLURM_ARRAY_TASK_COUNT.
A run keeps the shard count it was started with. Pipelines that train ([model]) run as one
process; scale their sampling out with a pool of OpenAI-compatible servers instead.")]
pub struct Args {
    /// Pipeline file (TOML). Default: the embedded quickstart, written to
    /// runs/quickstart.toml first.
    pipeline: Option<PathBuf>,
    /// Continue an existing run directory instead of refusing to touch it.
    #[arg(long)]
    resume: bool,
    /// Run only shard I's share of the per-problem stages (problems, samples,
    /// execute). Default: $SLURM_ARRAY_TASK_ID, else $JOB_COMPLETION_INDEX.
    #[arg(long, value_name = "I", conflicts_with = "merge")]
    shard: Option<u32>,
    /// Number of shards the run is split into (default 1: everything in this
    /// process; or $SLURM_ARRAY_TASK_COUNT). Must match the run's manifest.
    #[arg(long, value_name = "N")]
    num_shards: Option<u32>,
    /// After every shard finished: check their markers and build the datasets
    /// (build, lintseq) from all parts. Without --num-shards, the count is read
    /// from the run's manifest.
    #[arg(long)]
    merge: bool,
    /// Run an expert-iteration pipeline over several seed pairs, each with its
    /// seed-only control arm, and print per-round mean ± sd: a count N (seeds
    /// 1..=N) or a list such as 3,7,11 (one seed: `0,`). Member runs go to
    /// OUT-seeds/seed-S/, the summary to OUT-seeds/seeds.json.
    #[arg(long, value_name = "N|LIST", conflicts_with_all = ["shard", "merge", "num_shards"])]
    seeds: Option<String>,
    /// With --seeds: member runs at a time (default 1). Results do not depend
    /// on it; on a machine with many cores it divides the wall time.
    #[arg(long, value_name = "J", default_value_t = 1, requires = "seeds")]
    jobs: usize,
    /// Also write the run's curves for a tracker: `tensorboard` writes RUN/runs/events.*
    /// (eval/pass@k, control/pass@k, eval/false_positive_rate,
    /// data/train_false_positive_rate and, with a DPO step,
    /// data/dpo_chosen_false_positive_rate per round; every round's train/* steps),
    /// for `tensorboard --logdir RUN/runs`.
    #[arg(long, value_enum, default_value = "none", conflicts_with = "seeds")]
    report_to: crate::cmd::train::ReportTo,
    /// Print one JSON object on stdout instead of the tables: `schema_version`, the
    /// run directory, each stage's counts, and each round's report (with --seeds:
    /// the seeds summary).
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    use ouro_pipeline::runner;
    let pipeline = match args.pipeline {
        Some(p) => p,
        None => embedded_quickstart(Path::new(QUICKSTART_FILE))?,
    };
    if let Some(spec) = &args.seeds {
        let seeds = ouro_pipeline::seeds::parse_seeds(spec)?;
        crate::interrupt::on_interrupt(&format!(
            "ouro run {} --seeds {spec} --resume",
            pipeline.display()
        ));
        let report = ouro_pipeline::seeds::run_seeds(&pipeline, &seeds, args.jobs, args.resume)?;
        if args.json {
            super::print_json("run --seeds", serde_json::json!({ "seeds": report }));
        } else {
            println!("{}", ouro_pipeline::seeds::seeds_table(&report));
        }
        return Ok(());
    }
    // After --seeds, which is never sharded: a Kubernetes pod's JOB_COMPLETION_INDEX
    // must not make it ask for a --num-shards that it refuses.
    let scope = runner::Scope::resolve(args.shard, args.num_shards, args.merge)?;
    let config = ouro_pipeline::config::load_config(&pipeline)?;
    // Before the run: after it, a finished run would exit 1 and a rerun be refused.
    if config.model.is_none() && args.report_to == crate::cmd::train::ReportTo::Tensorboard {
        bail!(
            "--report-to tensorboard: {} has no rounds (it trains nothing: no [model]), so there \
             are no curves",
            pipeline.display()
        );
    }
    crate::interrupt::on_interrupt(&resume_command(&pipeline, &scope));
    let report = runner::run_pipeline_scoped(&pipeline, &config, args.resume, scope)?;
    let events = match (&report.rounds, args.report_to) {
        (Some(_), crate::cmd::train::ReportTo::Tensorboard) => {
            Some(ouro_report::tensorboard::export_run(&report.root)?)
        }
        (None, crate::cmd::train::ReportTo::Tensorboard) => bail!(
            "--report-to tensorboard: {} has no rounds (it trains nothing), so there are no curves",
            pipeline.display()
        ),
        _ => None,
    };
    if args.json {
        let stages: Vec<serde_json::Value> = report
            .stages
            .iter()
            .map(|(stage, resumed, stats)| {
                serde_json::json!({ "stage": stage, "resumed": resumed, "stats": stats })
            })
            .collect();
        super::print_json(
            "run",
            serde_json::json!({
                "run": report.root,
                "stages": stages,
                "rounds": report.rounds,
                "tensorboard": events,
            }),
        );
        return Ok(());
    }
    println!("run: {}", report.root.display());
    for (stage, resumed, stats) in &report.stages {
        let counts: Vec<String> = stats
            .counts
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!(
            "  {stage:<9} {}  {}",
            if *resumed { "(done earlier)" } else { "" },
            counts.join(" ")
        );
    }
    if let Some(rounds) = &report.rounds {
        println!("\n{}", ouro_pipeline::iterate::round_table(rounds));
    }
    if let Some(events) = events {
        println!("tensorboard: {}", events.display());
    }
    let model = report
        .rounds
        .as_ref()
        .and_then(|r| r.rounds.last())
        .map(|r| report.root.join(&r.model));
    for line in where_things_are(&report.root, model.as_deref()) {
        println!("{line}");
    }
    Ok(())
}

/// The closing lines of a run: where the final model and the last round's
/// datasets are, and how to load them.
fn where_things_are(root: &Path, model: Option<&Path>) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(m) = model.filter(|m| m.exists()) {
        lines.push(format!("final model: {}", m.display()));
    }
    let mut rounds: Vec<PathBuf> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("round-"))
        })
        .collect();
    rounds.sort();
    let Some(dataset) = rounds
        .iter()
        .rev()
        .map(|r| r.join("dataset"))
        .find(|d| d.join("README.md").exists())
    else {
        return lines;
    };
    let Ok(configs) = ouro_data::hf::scan_configs(&dataset) else {
        return lines;
    };
    let names: Vec<String> = configs
        .iter()
        .map(|c| format!("{} {} rows", c.config, c.rows))
        .collect();
    lines.push(format!(
        "datasets:    {} (configs: {})",
        dataset.display(),
        names.join(", ")
    ));
    // By its files: `load_dataset(DIR, CONFIG)` caches a local folder by its name,
    // and every round's is `dataset`, so it can return another run's rows; and a
    // config with no rows has no split to load.
    if let Some(c) = configs.iter().find(|c| c.rows > 0) {
        lines.push(format!(
            "load one:    python -c \"import datasets; print(datasets.load_dataset('parquet', data_files='{}/{}/*.parquet', split='train'))\"",
            dataset.display(),
            c.config
        ));
    }
    lines
}

/// The command that continues this invocation's work.
fn resume_command(pipeline: &Path, scope: &ouro_pipeline::runner::Scope) -> String {
    let mut cmd = format!("ouro run {} --resume", pipeline.display());
    match scope {
        ouro_pipeline::runner::Scope::Shard(s) => {
            cmd.push_str(&format!(" --shard {} --num-shards {}", s.index, s.count))
        }
        ouro_pipeline::runner::Scope::Merge(Some(n)) => {
            cmd.push_str(&format!(" --merge --num-shards {n}"))
        }
        ouro_pipeline::runner::Scope::Merge(None) => cmd.push_str(" --merge"),
        ouro_pipeline::runner::Scope::All => {}
    }
    cmd
}

/// Writes the embedded quickstart to `path` (unless it is already there, unchanged).
fn embedded_quickstart(path: &Path) -> anyhow::Result<PathBuf> {
    match std::fs::read_to_string(path) {
        Ok(text) if text == QUICKSTART => {}
        Ok(_) => bail!(
            "{} exists and differs from the embedded quickstart; run it by name \
             (`ouro run {}`) or move it away",
            path.display(),
            path.display()
        ),
        Err(_) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            ouro_data::fsutil::atomic_write(path, QUICKSTART.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            say!("the embedded quickstart: {}", path.display());
        }
    }
    Ok(path.to_path_buf())
}
