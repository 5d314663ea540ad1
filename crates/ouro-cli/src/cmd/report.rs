use std::path::PathBuf;

/// Render a run directory's report.json and training metrics into one HTML page.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  ouro report runs/quickstart                      writes runs/quickstart/report.html
  ouro report runs/quickstart --out /tmp/r.html    somewhere else

The page is self-contained (inline CSS, charts embedded); the same charts are
written as PNG files to RUN/report/. Sections without data say \"not run\".")]
pub struct Args {
    /// Run directory holding report.json.
    run_dir: PathBuf,
    /// HTML file to write [default: RUN_DIR/report.html].
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let out = args.out.unwrap_or_else(|| args.run_dir.join("report.html"));
    let summary = ouro_report::render(&args.run_dir, &out)?;
    for w in &summary.warnings {
        tracing::warn!("{w}");
    }
    println!(
        "report: {} ({} rounds, {} control rounds, {} charts in {})",
        summary.html.display(),
        summary.rounds,
        summary.control_rounds,
        summary.charts.len(),
        args.run_dir.join(ouro_report::CHART_DIR).display()
    );
    if !summary.not_run.is_empty() {
        println!("  not run: {}", summary.not_run.join(", "));
    }
    Ok(())
}
