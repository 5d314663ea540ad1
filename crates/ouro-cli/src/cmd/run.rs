use std::path::PathBuf;

/// Run a pipeline file into its run directory.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  ouro run pipelines/quickstart.toml            the offline quickstart (no downloads)
  ouro run pipelines/quickstart.toml --resume   finish a run that was killed

Each stage writes RUN/round-00/<stage>/ and a completion marker; --resume skips finished stages.")]
pub struct Args {
    /// Pipeline file (TOML).
    pipeline: PathBuf,
    /// Continue an existing run directory instead of refusing to touch it.
    #[arg(long)]
    resume: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let config = ouro_pipeline::runner::load_config(&args.pipeline)?;
    let report = ouro_pipeline::runner::run_pipeline(&args.pipeline, &config, args.resume)?;
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
