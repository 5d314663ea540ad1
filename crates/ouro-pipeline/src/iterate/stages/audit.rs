//! The audit of what a round trains on. The filter tests chose the round's
//! SFT rows, so they cannot say how many of those rows are wrong programs;
//! the audit suite, which selection never sees, can. The held-out
//! false-positive rate measures the model; this measures the training data,
//! which is where a weak filter suite does its harm.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use anyhow::Result;
use ouro_data::run::part_path;
use ouro_data::{shard, Execution, Sample, SftRecord, ShardSpec, Suite, Verdict};

use super::sampling::execute_stage;
use super::{Ctx, Phase};

/// How the audit suite judged a round's sampled SFT rows.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(super) struct TrainAudit {
    /// Share of audited rows that fail the audit suite; `None` when no row
    /// could be audited (no sampled rows, or no problem has audit tests).
    pub rate: Option<f64>,
    /// Sampled rows whose problem has audit tests: the rate's denominator.
    pub audited: u64,
}

/// Counts rows, not samples: a program kept twice is trained on twice.
/// Rows without an audit execution (reference rows, problems without audit
/// tests) are left out of both counts.
pub(super) fn train_audit(rows: &[SftRecord], executions: &[Execution]) -> TrainAudit {
    let verdicts: BTreeMap<&str, Verdict> = executions
        .iter()
        .filter(|e| e.suite == Suite::Audit)
        .map(|e| (e.sample_id.as_str(), e.verdict))
        .collect();
    let (mut audited, mut failed) = (0u64, 0u64);
    for r in rows {
        if let Some(v) = r.sample_id.as_deref().and_then(|id| verdicts.get(id)) {
            audited += 1;
            failed += u64::from(*v != Verdict::Pass);
        }
    }
    TrainAudit {
        rate: (audited > 0).then(|| failed as f64 / audited as f64),
        audited,
    }
}

impl Ctx<'_> {
    /// Runs the audit suite on the samples behind `accepted` (the round's SFT
    /// selection) and counts how many of those rows it rejects. Resumable:
    /// a finished audit is read back, not run again.
    pub(super) fn audit_training_rows(
        &mut self,
        round: u32,
        accepted: &[SftRecord],
        samples_dir: &Path,
    ) -> Result<TrainAudit> {
        let dir = self.run.stage_dir(round, "train-audit");
        let (samples_out, exec_dir) = (dir.join("samples"), dir.join("executions"));
        let ids: HashSet<&str> = accepted
            .iter()
            .filter_map(|r| r.sample_id.as_deref())
            .collect();
        let kept: Vec<Sample> = shard::read_dir::<Sample>(samples_dir)?
            .into_iter()
            .filter(|s| ids.contains(s.sample_id.as_str()))
            .collect();
        if kept.is_empty() {
            // Nothing sampled was accepted (an early round of a weak model).
            return Ok(TrainAudit::default());
        }
        let problems_dir = self.problems_dir.clone();
        let opts = self.exec_options(vec![Suite::Audit], false);
        self.stage(
            Phase::Execute,
            &exec_dir,
            &format!("round {round} audit of training rows"),
            || {
                shard::write_records(part_path(&samples_out, ShardSpec::default()), &kept)?;
                execute_stage(&problems_dir, &samples_out, &exec_dir, &opts)
            },
        )?;
        // No shard at all when no accepted row's problem has audit tests.
        let mut executions: Vec<Execution> = Vec::new();
        for part in shard::list_shards(&exec_dir)? {
            executions.extend(shard::read_records::<Execution>(part)?);
        }
        let audit = train_audit(accepted, &executions);
        if let Some(rate) = audit.rate {
            crate::status::say(format_args!(
                "round {round}: {:.1}% of {} audited training rows fail the audit tests",
                100.0 * rate,
                audit.audited
            ));
        }
        Ok(audit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iterate::eval::tests::exec;

    fn row(sample_id: Option<&str>) -> SftRecord {
        SftRecord {
            prompt: String::new(),
            completion: String::new(),
            problem_id: "p".into(),
            sample_id: sample_id.map(str::to_string),
            round: 1,
            origin: if sample_id.is_some() {
                "sample"
            } else {
                "reference"
            }
            .into(),
            score: None,
            weight_spans: Vec::new(),
        }
    }

    #[test]
    fn counts_rows_that_fail_the_audit_suite_only() {
        let rows = [
            row(Some("a")),
            row(Some("b")),
            row(Some("b")),
            row(Some("c")),
            row(Some("unaudited")),
            row(None),
        ];
        let execs = [
            exec("a", Suite::Audit, Verdict::Pass),
            exec("b", Suite::Audit, Verdict::Fail),
            // A filter verdict is what chose the row; it must not count.
            exec("c", Suite::Filter, Verdict::Fail),
            exec("c", Suite::Audit, Verdict::Timeout),
            exec("unaudited", Suite::Filter, Verdict::Pass),
        ];
        let a = train_audit(&rows, &execs);
        assert_eq!(a.audited, 4);
        assert_eq!(a.rate, Some(3.0 / 4.0));
    }

    #[test]
    fn no_audited_row_is_undefined_not_zero() {
        let a = train_audit(&[row(None)], &[exec("x", Suite::Audit, Verdict::Fail)]);
        assert_eq!(a, TrainAudit::default());
    }
}
