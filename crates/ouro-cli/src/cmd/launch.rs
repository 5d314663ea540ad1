use std::path::PathBuf;

/// Print a Slurm submit script or Kubernetes manifests that run a pipeline across shards.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  ouro launch slurm pipelines/big.toml --num-shards 64 --partition cpu --time 8:00:00 --cpus 16 > submit.sh
  bash submit.sh
  ouro launch k8s pipelines/big.toml --num-shards 64 --image registry/ouro:0.1 --out ouro.yaml
  kubectl apply -f ouro.yaml

Every shard task runs `ouro run PIPELINE --shard I --num-shards N --resume` on a shared
filesystem; a merge task `ouro run PIPELINE --merge --num-shards N --resume` runs after all succeed.")]
pub struct Args {
    /// Scheduler to generate for.
    #[arg(value_enum)]
    target: Target,
    /// Pipeline file, as the jobs will see it.
    pipeline: String,
    /// Number of shards (array tasks / Job completions).
    #[arg(long)]
    num_shards: u32,
    /// Container image (k8s).
    #[arg(long)]
    image: Option<String>,
    /// Slurm partition.
    #[arg(long)]
    partition: Option<String>,
    /// Wall-clock limit in Slurm syntax, e.g. 4:00:00 or 1-00:00:00 (k8s: activeDeadlineSeconds).
    #[arg(long)]
    time: Option<String>,
    /// CPUs per shard task.
    #[arg(long)]
    cpus: Option<u32>,
    /// PersistentVolumeClaim with the shared run directory (k8s).
    #[arg(long, default_value = "ouro-data")]
    pvc: String,
    /// Mount point of the claim and working directory of the pods (k8s).
    #[arg(long, default_value = "/data")]
    workdir: String,
    /// Job name [default: ouro-<pipeline file stem>].
    #[arg(long)]
    name: Option<String>,
    /// Write to this file instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Target {
    Slurm,
    K8s,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    // The path is the one the cluster sees; when it is readable here too, a pipeline that
    // cannot be sharded is refused now rather than by every array task after its wait in
    // the queue. Only `[model]` matters, so a model path absent here is no obstacle.
    let local = std::path::Path::new(&args.pipeline);
    if let Ok(text) = std::fs::read_to_string(local) {
        // A typo found here, not by every array task on the cluster. Files it names are
        // the cluster's, so only the text is checked.
        toml::from_str::<ouro_pipeline::config::PipelineConfig>(&text)
            .map_err(|e| anyhow::anyhow!("{}: {}", local.display(), e.to_string().trim_end()))?;
        let trains = toml::from_str::<toml::Table>(&text).is_ok_and(|t| t.contains_key("model"));
        let scope = ouro_pipeline::runner::Scope::Shard(ouro_data::ShardSpec {
            index: 0,
            count: args.num_shards,
        });
        ouro_pipeline::runner::check_shardable(local, trains, scope)?;
    } else {
        tracing::warn!(
            "{} is not readable here: the launcher runs it as the cluster finds it, unchecked",
            local.display()
        );
    }
    let mut spec = ouro_launch::LaunchSpec::new(args.pipeline, args.num_shards);
    if let Some(name) = args.name {
        spec.name = name;
    }
    spec.image = args.image;
    spec.partition = args.partition;
    spec.time = args.time;
    spec.cpus = args.cpus;
    spec.pvc = args.pvc;
    spec.workdir = args.workdir;
    let text = match args.target {
        Target::Slurm => ouro_launch::slurm(&spec)?,
        Target::K8s => ouro_launch::k8s(&spec)?,
    };
    match args.out {
        Some(path) => {
            ouro_data::fsutil::atomic_write(&path, text.as_bytes())?;
            say!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}
