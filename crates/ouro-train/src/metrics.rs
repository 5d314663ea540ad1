//! Per-step metrics as JSON lines, and the loss curve as SVG.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

use crate::error::{Result, TrainError};
use crate::loss::DpoMetrics;

/// One optimiser step, as written to `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    pub step: u64,
    pub loss: f64,
    pub grad_norm: f64,
    pub lr: f64,
    /// Loss tokens (SFT) or completion tokens (DPO) in the step.
    pub tokens: u64,
    #[serde(rename = "tokens/s")]
    pub tokens_per_s: f64,
    pub step_s: f64,
    /// Of `step_s`: gradient norm, clipping and the AdamW update.
    pub optim_s: f64,
    /// Of `step_s`, with `OURO_SYNC_TIMING` set only (each phase then waits
    /// for its device kernels): the forward passes and losses, and the
    /// backward passes with gradient accumulation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backward_s: Option<f64>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub dpo: Option<DpoMetrics>,
}

/// Appends JSON lines; on resume, lines after the resumed step are dropped first.
pub struct MetricsLog {
    file: std::fs::File,
}

impl MetricsLog {
    pub fn open(path: &Path, keep_up_to_step: u64) -> Result<Self> {
        let kept: Vec<String> = match std::fs::read_to_string(path) {
            Ok(text) => text
                .lines()
                .filter(|l| {
                    serde_json::from_str::<serde_json::Value>(l)
                        .ok()
                        .and_then(|v| v.get("step").and_then(|s| s.as_u64()))
                        .is_some_and(|s| s <= keep_up_to_step)
                })
                .map(str::to_string)
                .collect(),
            Err(_) => Vec::new(),
        };
        let mut body = kept.join("\n");
        if !body.is_empty() {
            body.push('\n');
        }
        std::fs::write(path, body).map_err(|e| TrainError::io(path, e))?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| TrainError::io(path, e))?;
        Ok(Self { file })
    }

    pub fn write(&mut self, m: &StepMetrics) -> Result<()> {
        let line = serde_json::to_string(m).expect("metrics serialize");
        writeln!(self.file, "{line}").map_err(|e| TrainError::io("metrics.jsonl", e))
    }
}

/// Reads `(step, loss)` from a metrics file.
pub fn read_losses(path: &Path) -> Result<Vec<(u64, f64)>> {
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<StepMetrics>(l).ok())
        .map(|m| (m.step, m.loss))
        .collect())
}

/// The last step `metrics.jsonl` records, if any: what a rerun of a finished run
/// reports, having trained nothing itself.
pub fn last_step(path: &Path) -> Option<StepMetrics> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .rev()
        .find_map(|l| serde_json::from_str::<StepMetrics>(l).ok())
}

/// Draws the loss curve of `points` into an SVG file.
pub fn plot_loss_svg(points: &[(u64, f64)], title: &str, path: &Path) -> Result<()> {
    use plotters::prelude::*;
    let err = |e: String| TrainError::Data {
        path: path.to_path_buf(),
        message: format!("plotting: {e}"),
    };
    if points.is_empty() {
        return Ok(());
    }
    let finite: Vec<(u64, f64)> = points
        .iter()
        .copied()
        .filter(|(_, l)| l.is_finite())
        .collect();
    let max_x = finite.iter().map(|p| p.0).max().unwrap_or(1).max(1);
    let (lo, hi) = finite
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let (lo, hi) = if lo >= hi {
        (lo - 1.0, hi + 1.0)
    } else {
        (lo, hi)
    };
    let tmp = path.with_extension("svg.tmp");
    {
        let root = SVGBackend::new(&tmp, (800, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0u64..max_x, lo..hi)
            .map_err(|e| err(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("step")
            .y_desc("loss")
            .draw()
            .map_err(|e| err(e.to_string()))?;
        chart
            .draw_series(LineSeries::new(finite.iter().copied(), &BLUE))
            .map_err(|e| err(e.to_string()))?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| TrainError::io(path, e))
}
