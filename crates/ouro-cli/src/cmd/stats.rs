use std::path::PathBuf;

/// Print counts, pass rates and breakdowns of any ouro shards.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  ouro stats runs/quickstart                     every dataset under a run directory
  ouro stats runs/problems runs/executions       per-tag and per-difficulty pass rates
  ouro stats runs/dataset --json | jq .tables")]
pub struct Args {
    /// Directories (searched up to 4 levels deep) holding *.parquet shards, or shard files.
    /// A dataset named twice (`runs runs/executions`) is counted once.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Print one JSON object (`schema_version`, `datasets`, `tables`) instead of tables.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let report = ouro_pipeline::stats::stats(&args.paths)?;
    if args.json {
        super::print_json("stats", serde_json::to_value(&report)?);
    } else {
        print!("{}", ouro_pipeline::stats::render(&report));
    }
    Ok(())
}
