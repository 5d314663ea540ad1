//! The run report contract: what `ouro run` writes after each round and
//! what `ouro report` renders.
//!
//! ```text
//! RUN/report.json                       RunReport, rewritten atomically after every round
//! RUN/round-NN/train-sft/metrics.jsonl  per-step trainer metrics (ouro-train's StepMetrics)
//! RUN/round-NN/train-dpo/metrics.jsonl
//! ```
//! Paths inside the report are relative to the run directory, so a run
//! directory can be moved or copied and still render.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::fsutil::atomic_write_json;

/// File name of the report inside a run directory.
pub const REPORT_FILE: &str = "report.json";

/// Everything the report page shows about a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Pipeline name, e.g. `quickstart`.
    pub pipeline: String,
    /// One row per finished round, in order.
    pub rounds: Vec<RoundReport>,
    /// The seed-only control arm (same schedule, no self-generated data), when the pipeline runs one.
    #[serde(default)]
    pub control: Vec<RoundReport>,
    /// Where rounds trained and sampled, as `device/dtype` (`cpu/f32`, `cuda:0/bf16`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// What the run was started with, for the report's header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunInfo>,
}

/// Provenance of a run: enough to tell two report pages apart and to rerun one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// ouro's version, and the git commit it was built from when known.
    pub ouro_version: String,
    #[serde(default)]
    pub commit: Option<String>,
    /// UTC time the run was first started (`2026-12-04T23:44:08Z`); a resume keeps it.
    pub started: String,
    /// The pipeline TOML as given.
    pub config: String,
    /// Every seed that shapes the run, by the key that sets it (`problems.seed`, ...).
    #[serde(default)]
    pub seeds: BTreeMap<String, u64>,
}

/// One held-out problem in one round's evaluation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProblemEval {
    pub problem_id: String,
    pub samples: u64,
    /// Samples that pass under the strict rule (filter, and audit where it ran).
    pub passed: u64,
    /// The first sample (in sample order) that did not pass, to look at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_failure: Option<FailureExample>,
}

/// A failing sample as the report shows it; long text is cut to its end.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FailureExample {
    pub sample_id: String,
    /// `fail`, `error`, `timeout`, ..., or `fail (audit)` when only the audit suite caught it.
    pub verdict: String,
    #[serde(default)]
    pub error_kind: Option<String>,
    pub code: String,
    pub stderr: String,
}

/// One expert-iteration round: evaluation of the model the round ends with,
/// the data it built and where its training curves are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoundReport {
    pub round: u32,
    /// Checkpoint directory evaluated (relative to the run directory).
    pub model: String,
    /// Held-out problems evaluated.
    pub heldout_problems: u64,
    /// Samples per held-out problem used for pass@k.
    pub samples_per_problem: u64,
    /// Unbiased pass@1 on held-out problems (0..=1), judged by the filter tests.
    pub pass_at_1: f64,
    /// Unbiased pass@k keyed `"pass@K"` (0..=1).
    #[serde(default)]
    pub pass_at_k: BTreeMap<String, f64>,
    /// Share of filter-passing held-out samples that fail the audit tests;
    /// `None` (undefined) when no sample passed the filter tests.
    pub false_positive_rate: Option<f64>,
    /// Filter-passing held-out samples that ran the audit tests: the rate's denominator.
    #[serde(default)]
    pub audited_passes: u64,
    /// Share of the round's sampled SFT rows (chosen by the filter tests)
    /// that fail the audit tests: wrong programs trained on. `None` when no
    /// row could be audited, and for round 0, which trains on references.
    #[serde(default)]
    pub train_false_positive_rate: Option<f64>,
    /// Sampled SFT rows that ran the audit tests: that rate's denominator.
    #[serde(default)]
    pub train_audited_rows: u64,
    /// Share of the round's DPO pairs whose chosen program (a sample the
    /// filter tests passed) fails the audit tests. `None` when the round
    /// trained no DPO step or no chosen side could be audited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpo_chosen_false_positive_rate: Option<f64>,
    /// DPO pairs whose chosen program ran the audit tests: that rate's denominator.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dpo_audited_pairs: u64,
    /// B-STaR balance score of the round's training selection.
    pub balance_score: Option<f64>,
    /// Rows built this round by kind: `sft`, `dpo`, `repair`, `lintseq`, `fait`, ...
    #[serde(default)]
    pub data_counts: BTreeMap<String, u64>,
    /// `metrics.jsonl` of the round's SFT training, relative to the run directory.
    pub sft_metrics: Option<String>,
    /// `metrics.jsonl` of the round's DPO training (has `rewards/margins`).
    pub dpo_metrics: Option<String>,
    /// Wall seconds by phase: `init`, `sample`, `execute`, `build`, `train`, `eval`.
    /// A resumed stage counts the seconds its first, finished run took.
    #[serde(default)]
    pub seconds: BTreeMap<String, f64>,
    /// Per held-out problem, in problem-id order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<ProblemEval>,
}

impl RunReport {
    pub fn read(run_dir: &Path) -> Result<RunReport> {
        let path = run_dir.join(REPORT_FILE);
        let bytes = std::fs::read(&path).map_err(|e| DataError::io(&path, e))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| DataError::invalid(&path, format!("corrupt run report: {e}")))
    }

    pub fn write(&self, run_dir: &Path) -> Result<()> {
        atomic_write_json(run_dir.join(REPORT_FILE), self)
    }

    /// Replaces the row of `row.round` (or appends it), keeping rounds in order.
    pub fn upsert(rows: &mut Vec<RoundReport>, row: RoundReport) {
        rows.retain(|r| r.round != row.round);
        rows.push(row);
        rows.sort_by_key(|r| r.round);
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `pass@K` keys other than `pass@1` (which tables print first), once each and
/// ordered by K, so `pass@10` follows `pass@2` as in every table of a run.
pub fn other_ks_by_k<'a>(keys: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let keys: std::collections::BTreeSet<&String> =
        keys.into_iter().filter(|k| *k != "pass@1").collect();
    let mut keys: Vec<String> = keys.into_iter().cloned().collect();
    let k = |s: &String| {
        s.rsplit('@')
            .next()
            .and_then(|k| k.parse::<u64>().ok())
            .unwrap_or(u64::MAX)
    };
    keys.sort_by(|a, b| k(a).cmp(&k(b)).then(a.cmp(b)));
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_upserts_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut report = RunReport {
            pipeline: "quickstart".into(),
            ..Default::default()
        };
        for r in [1, 0, 1] {
            RunReport::upsert(
                &mut report.rounds,
                RoundReport {
                    round: r,
                    pass_at_1: r as f64 / 10.0,
                    ..Default::default()
                },
            );
        }
        assert_eq!(
            report.rounds.iter().map(|r| r.round).collect::<Vec<_>>(),
            [0, 1]
        );
        report.write(dir.path()).unwrap();
        assert_eq!(RunReport::read(dir.path()).unwrap(), report);
    }

    #[test]
    fn pass_at_k_keys_are_ordered_by_k() {
        let keys = ["pass@10", "pass@1", "pass@2", "pass@10"].map(String::from);
        assert_eq!(other_ks_by_k(&keys), ["pass@2", "pass@10"]);
    }
}
