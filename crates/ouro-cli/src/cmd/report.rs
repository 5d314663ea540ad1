use std::path::PathBuf;

/// Render a run directory's report.json and training metrics into one HTML page.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  ouro report runs/quickstart                      writes runs/quickstart/report.html
  ouro report runs/quickstart --out /tmp/r.html    somewhere else (charts in /tmp/report/)
  ouro report runs/quickstart --out /tmp/site/     /tmp/site/report.html and /tmp/site/report/

The page is self-contained (inline CSS, charts embedded); the same charts are
written as PNG files to report/ beside the page. Nothing is written into the
run directory unless the page goes there. Sections without data say \"not run\".")]
pub struct Args {
    /// Run directory holding report.json.
    run_dir: PathBuf,
    /// HTML file to write, or a directory to hold report.html [default: RUN_DIR/report.html].
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let out = match args.out {
        None => args.run_dir.join("report.html"),
        Some(d) if d.is_dir() || d.as_os_str().to_string_lossy().ends_with('/') => {
            d.join("report.html")
        }
        Some(f) => f,
    };
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
        ouro_report::chart_dir(&out).display()
    );
    if !summary.not_run.is_empty() {
        println!("  not run: {}", summary.not_run.join(", "));
    }
    Ok(())
}
