use std::path::PathBuf;

/// Run a pipeline file into its run directory.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  ouro run pipelines/quickstart.toml            the offline quickstart (no downloads)
  ouro run pipelines/quickstart.toml --resume   finish a run that was killed

Each stage writes RUN/round-00/<stage>/ and a completion marker; --resume skips finished stages.

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
    /// Pipeline file (TOML).
    pipeline: PathBuf,
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
}

pub fn run(args: Args) -> anyhow::Result<()> {
    use ouro_pipeline::runner;
    let scope = runner::Scope::resolve(args.shard, args.num_shards, args.merge)?;
    let config = runner::load_config(&args.pipeline)?;
    let report = runner::run_pipeline_scoped(&args.pipeline, &config, args.resume, scope)?;
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
    Ok(())
}
