//! Reading trainer `metrics.jsonl` files.
//!
//! The lines are ouro-train's `StepMetrics` (DPO lines carry TRL's
//! `rewards/*` and `logps/*` names flattened in). They are parsed here with
//! every field optional so this crate needs neither ouro-train nor candle,
//! and so a file from an older or newer trainer still renders what it has.

use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

/// One optimiser step; every field the trainer may leave out is optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Step {
    pub step: u64,
    pub loss: Option<f64>,
    pub grad_norm: Option<f64>,
    pub lr: Option<f64>,
    pub tokens: Option<u64>,
    #[serde(rename = "tokens/s")]
    pub tokens_per_s: Option<f64>,
    pub step_s: Option<f64>,
    pub optim_s: Option<f64>,
    #[serde(rename = "rewards/chosen")]
    pub rewards_chosen: Option<f64>,
    #[serde(rename = "rewards/rejected")]
    pub rewards_rejected: Option<f64>,
    #[serde(rename = "rewards/accuracies")]
    pub rewards_accuracies: Option<f64>,
    #[serde(rename = "rewards/margins")]
    pub rewards_margins: Option<f64>,
    #[serde(rename = "logps/chosen")]
    pub logps_chosen: Option<f64>,
    #[serde(rename = "logps/rejected")]
    pub logps_rejected: Option<f64>,
}

/// What became of one round's metrics file.
#[derive(Debug, Clone, PartialEq)]
pub enum Metrics {
    /// The report names no file for this round.
    NotRun,
    /// The report names a file that is not there.
    Missing(PathBuf),
    /// The report names a file outside the run directory (ouro writes paths inside
    /// it): not read.
    Outside(String),
    /// Parsed steps, with the lines that did not parse (a run killed
    /// mid-write leaves a torn last line) given as `file:line: why`.
    Read {
        path: PathBuf,
        steps: Vec<Step>,
        skipped: Vec<String>,
    },
}

impl Metrics {
    /// Loads `rel` (relative to `run_dir`) when the report names it.
    pub fn load(run_dir: &Path, rel: Option<&str>) -> Metrics {
        let Some(rel) = rel else {
            return Metrics::NotRun;
        };
        let Some(path) = in_run(run_dir, rel) else {
            return Metrics::Outside(rel.to_string());
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let (steps, skipped) = parse(&path, &text);
                Metrics::Read {
                    path,
                    steps,
                    skipped,
                }
            }
            Err(_) => Metrics::Missing(path),
        }
    }

    pub fn steps(&self) -> &[Step] {
        match self {
            Metrics::Read { steps, .. } => steps,
            _ => &[],
        }
    }

    /// `(step, value)` for the steps that have `field`.
    pub fn series(&self, field: impl Fn(&Step) -> Option<f64>) -> Vec<(f64, f64)> {
        self.steps()
            .iter()
            .filter_map(|s| {
                field(s)
                    .filter(|v| v.is_finite())
                    .map(|v| (s.step as f64, v))
            })
            .collect()
    }

    /// The last step's `field`, if it has one.
    pub fn last(&self, field: impl Fn(&Step) -> Option<f64>) -> Option<f64> {
        self.steps().iter().rev().find_map(field)
    }
}

/// `run_dir/rel` when `rel` stays inside the run directory: ouro writes such paths, and a
/// report.json that names others is not followed.
pub fn in_run(run_dir: &Path, rel: &str) -> Option<PathBuf> {
    Path::new(rel)
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        .then(|| run_dir.join(rel))
}

/// Parses JSON lines; blank lines are ignored, bad ones reported, and a
/// step that appears twice (a resumed trainer re-logging) keeps its last line.
pub fn parse(path: &Path, text: &str) -> (Vec<Step>, Vec<String>) {
    let mut steps: Vec<Step> = Vec::new();
    let mut skipped = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Step>(line) {
            Ok(s) => steps.push(s),
            Err(e) => skipped.push(format!("{}:{}: {e}", path.display(), i + 1)),
        }
    }
    steps.reverse();
    let mut seen = std::collections::HashSet::new();
    steps.retain(|s| seen.insert(s.step));
    steps.reverse();
    steps.sort_by_key(|s| s.step);
    (steps, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sft_and_dpo_lines_and_reports_torn_ones() {
        let text = concat!(
            r#"{"step":1,"loss":2.5,"grad_norm":1.0,"lr":0.001,"tokens":10,"tokens/s":5.0,"step_s":2.0,"optim_s":0.1}"#,
            "\n",
            r#"{"step":2,"loss":0.6,"grad_norm":1.0,"lr":0.001,"tokens":10,"tokens/s":5.0,"step_s":2.0,"optim_s":0.1,"rewards/chosen":0.2,"rewards/rejected":-0.1,"rewards/accuracies":0.75,"rewards/margins":0.3,"logps/chosen":-5.0,"logps/rejected":-7.0}"#,
            "\n\n",
            r#"{"step":3,"lo"#,
        );
        let (steps, skipped) = parse(Path::new("m.jsonl"), text);
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0].loss, Some(2.5));
        assert_eq!(steps[0].rewards_margins, None);
        assert_eq!(steps[1].rewards_margins, Some(0.3));
        assert_eq!(steps[1].tokens_per_s, Some(5.0));
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].starts_with("m.jsonl:4: "), "{skipped:?}");
    }

    #[test]
    fn only_files_inside_the_run_directory_are_read() {
        let run = tempfile::tempdir().unwrap();
        std::fs::write(run.path().join("m.jsonl"), "{\"step\":1,\"loss\":3.0}\n").unwrap();
        assert_eq!(
            Metrics::load(run.path(), Some("./m.jsonl")).steps().len(),
            1
        );
        for rel in ["/etc/passwd", "../m.jsonl", "a/../../m.jsonl"] {
            assert_eq!(
                Metrics::load(run.path(), Some(rel)),
                Metrics::Outside(rel.into())
            );
        }
    }

    #[test]
    fn a_relogged_step_keeps_its_last_line() {
        let text =
            "{\"step\":1,\"loss\":3.0}\n{\"step\":2,\"loss\":2.0}\n{\"step\":2,\"loss\":1.5}\n";
        let (steps, _) = parse(Path::new("m.jsonl"), text);
        let losses: Vec<_> = steps.iter().map(|s| (s.step, s.loss.unwrap())).collect();
        assert_eq!(losses, [(1, 3.0), (2, 1.5)]);
    }
}
