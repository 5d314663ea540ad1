//! The run report: renders a run directory into one self-contained HTML page.
//!
//! Input is the contract of [`ouro_data::report`]: `RUN/report.json` (a
//! [`RunReport`]) and the trainer `metrics.jsonl` files it names. Output is
//! `report.html` (inline CSS, charts embedded as base64 PNG, no external
//! fetches) plus the same charts as PNG files in `report/` beside the page (`RUN/report/` by default).
//!
//! *Invariant:* a section whose data is absent says "not run"; only a
//! missing or corrupt `report.json` is an error. Charts are drawn with an
//! embedded font, so they look the same on a machine with no fonts installed.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ouro_data::report::{RoundReport, RunReport};

mod chart;
pub mod html;
pub mod metrics;
mod sections;
pub mod tensorboard;
mod text;

pub use metrics::{Metrics, Step};

/// Folder, beside the HTML page, that receives the PNG charts.
pub const CHART_DIR: &str = "report";

/// Where the charts of a page written to `out_html` go: `report/` beside it,
/// so a page rendered elsewhere never writes into the run directory.
pub fn chart_dir(out_html: &Path) -> PathBuf {
    out_html
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join(CHART_DIR)
}

/// Every chart file name `render` may write; the ones a render does not
/// produce are removed, so the folder never shows a stale chart.
pub const CHART_FILES: &[&str] = &[
    "pass_at_k.png",
    "false_positive_rate.png",
    "balance_score.png",
    "data_counts.png",
    "sft_loss.png",
    "sft_lr.png",
    "sft_grad_norm.png",
    "dpo_loss.png",
    "dpo_lr.png",
    "dpo_grad_norm.png",
    "dpo_margins.png",
    "control_sft_loss.png",
    "control_sft_lr.png",
    "control_sft_grad_norm.png",
    "control_dpo_loss.png",
    "control_dpo_lr.png",
    "control_dpo_grad_norm.png",
    "control_dpo_margins.png",
];

/// What a render produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportSummary {
    /// The HTML page written.
    pub html: PathBuf,
    /// PNG charts written into `report/` beside the page.
    pub charts: Vec<PathBuf>,
    /// Rounds of the main arm and of the seed-only control arm.
    pub rounds: usize,
    pub control_rounds: usize,
    /// Sections shown as "not run", e.g. `DPO training`.
    pub not_run: Vec<String>,
    /// Named files that were missing and metrics lines that did not parse.
    pub warnings: Vec<String>,
}

/// One arm of the experiment with its training metrics loaded.
pub(crate) struct Arm<'a> {
    pub name: &'static str,
    pub rows: &'a [RoundReport],
    pub sft: Vec<Metrics>,
    pub dpo: Vec<Metrics>,
}

impl<'a> Arm<'a> {
    fn load(name: &'static str, run_dir: &Path, rows: &'a [RoundReport]) -> Arm<'a> {
        Arm {
            name,
            rows,
            sft: rows
                .iter()
                .map(|r| Metrics::load(run_dir, r.sft_metrics.as_deref()))
                .collect(),
            dpo: rows
                .iter()
                .map(|r| Metrics::load(run_dir, r.dpo_metrics.as_deref()))
                .collect(),
        }
    }
}

/// Accumulates the files and findings of one render.
pub(crate) struct Ctx {
    chart_dir: PathBuf,
    pub summary: ReportSummary,
}

impl Ctx {
    /// Writes `png` as `report/<name>` beside the page and returns its HTML figure.
    pub fn chart(&mut self, name: &str, alt: &str, png: Result<Vec<u8>>) -> Result<String> {
        debug_assert!(
            CHART_FILES.contains(&name),
            "{name} missing from CHART_FILES"
        );
        let png = png.with_context(|| format!("drawing chart {name}"))?;
        let path = self.chart_dir.join(name);
        ouro_data::fsutil::atomic_write(&path, &png)
            .with_context(|| format!("writing chart {}", path.display()))?;
        self.summary.charts.push(path);
        Ok(html::figure(&png, alt, name))
    }

    pub fn not_run(&mut self, section: &str) -> String {
        self.summary.not_run.push(section.to_string());
        html::not_run(section)
    }

    pub fn warn(&mut self, w: String) {
        self.summary.warnings.push(w);
    }
}

/// The page is written to a temp file and renamed over `out_html`, which replaces whatever
/// was there: refuse anything but a page (a run's own report.json or metrics, a device node).
fn check_out(out_html: &Path) -> Result<()> {
    let is_page = out_html
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm"));
    if !is_page {
        anyhow::bail!(
            "{}: the report is an HTML page: give --out a path ending in .html, or a directory (a new one written with a trailing /)",
            out_html.display()
        );
    }
    match std::fs::symlink_metadata(out_html) {
        Ok(m) if !m.is_file() => anyhow::bail!(
            "{}: exists and is not a regular file; the report would replace it",
            out_html.display()
        ),
        _ => Ok(()),
    }
}

/// Renders the report of `run_dir` into `out_html`, with PNG charts in
/// [`chart_dir`]`(out_html)`. Fails only when `report.json` is missing or corrupt
/// (the error names the file) or an output cannot be written.
pub fn render(run_dir: &Path, out_html: &Path) -> Result<ReportSummary> {
    check_out(out_html)?;
    let report = RunReport::read(run_dir)
        .with_context(|| format!("rendering the report of {}", run_dir.display()))?;
    let chart_dir = chart_dir(out_html);
    std::fs::create_dir_all(&chart_dir)
        .with_context(|| format!("creating {}", chart_dir.display()))?;
    let mut ctx = Ctx {
        chart_dir: chart_dir.clone(),
        summary: ReportSummary {
            html: out_html.to_path_buf(),
            rounds: report.rounds.len(),
            control_rounds: report.control.len(),
            ..Default::default()
        },
    };
    let main = Arm::load("main", run_dir, &report.rounds);
    let control = Arm::load("control", run_dir, &report.control);
    for arm in [&main, &control] {
        for (row, (sft, dpo)) in arm.rows.iter().zip(arm.sft.iter().zip(&arm.dpo)) {
            for (kind, m) in [("SFT", sft), ("DPO", dpo)] {
                match m {
                    Metrics::Missing(p) => ctx.warn(format!(
                        "{} arm round {}: {kind} metrics file {} is missing",
                        arm.name,
                        row.round,
                        p.display()
                    )),
                    Metrics::Outside(rel) => ctx.warn(format!(
                        "{} arm round {}: {kind} metrics file {rel} is outside the run \
                         directory; not read",
                        arm.name, row.round
                    )),
                    // One warning per file: a file of garbage is one finding, not thousands.
                    Metrics::Read { skipped, .. } if !skipped.is_empty() => ctx.warn(format!(
                        "skipped {} unparseable metrics line(s), first {}",
                        skipped.len(),
                        skipped[0]
                    )),
                    Metrics::Read { .. } | Metrics::NotRun => {}
                }
            }
        }
    }

    let mut body = String::new();
    body.push_str(&sections::run_header(&report, &main, &control));
    body.push_str(&sections::evaluation(&mut ctx, &main, &control)?);
    body.push_str(&sections::data_counts(&mut ctx, &main, &control)?);
    body.push_str(&sections::training(&mut ctx, &main, &control)?);
    body.push_str(&sections::timing(&mut ctx, &main, &control));
    body.push_str(&sections::per_problem(&mut ctx, &main));
    if !ctx.summary.warnings.is_empty() {
        body.push_str("<section><h2>Warnings</h2>\n");
        for w in &ctx.summary.warnings {
            body.push_str(&html::note(w));
        }
        body.push_str("</section>\n");
    }

    let title = if report.pipeline.is_empty() {
        "ouro run report".to_string()
    } else {
        format!("ouro run report: {}", report.pipeline)
    };
    let subtitle = format!(
        "{} · {} round{}{}",
        run_dir.display(),
        report.rounds.len(),
        if report.rounds.len() == 1 { "" } else { "s" },
        if report.control.is_empty() {
            String::new()
        } else {
            format!(" · seed-only control arm: {} rounds", report.control.len())
        }
    );
    let page = html::page(&title, &subtitle, &body);
    if let Some(parent) = out_html.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    ouro_data::fsutil::atomic_write(out_html, page.as_bytes())
        .with_context(|| format!("writing {}", out_html.display()))?;
    for name in CHART_FILES {
        let p = chart_dir.join(name);
        if !ctx.summary.charts.contains(&p) && p.exists() {
            std::fs::remove_file(&p)
                .with_context(|| format!("removing stale chart {}", p.display()))?;
        }
    }
    Ok(ctx.summary)
}
