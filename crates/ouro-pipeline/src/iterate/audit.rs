//! The audit of what a round trains on. The filter tests chose the round's
//! SFT rows and the chosen sides of its DPO pairs, so they cannot say how
//! many of those are wrong programs; the audit suite, which selection never
//! sees, can. The held-out false-positive rate measures the model; this
//! measures the training data, which is where a weak filter suite does its
//! harm. A wrong chosen program can do more harm than a wrong SFT row: DPO
//! pushes it up *against* a program the filter rejected.
//!
//! A stage from shards to shards: the samples behind some rows go to
//! `OUT/samples/`, their audit executions to `OUT/executions/`.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use anyhow::Result;
use ouro_data::run::{part_path, StageStats};
use ouro_data::{shard, DpoRecord, Execution, Sample, SftRecord, ShardSpec, Suite, Verdict};

/// A training row that claims one sampled program correct.
pub trait AuditedRow {
    /// The sample the row trains toward; `None` for rows built from a
    /// reference solution, which the audit has nothing to say about.
    fn claimed_sample(&self) -> Option<&str>;
}

impl AuditedRow for SftRecord {
    fn claimed_sample(&self) -> Option<&str> {
        self.sample_id.as_deref()
    }
}

/// The chosen side: the rejected one is meant to be worse, and often fails
/// the filter already.
impl AuditedRow for DpoRecord {
    fn claimed_sample(&self) -> Option<&str> {
        self.chosen_sample_id.as_deref()
    }
}

/// How the audit suite judged a set of sampled training rows.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TrainAudit {
    /// Share of audited rows that fail the audit suite; `None` when no row
    /// could be audited (no sampled rows, or no problem has audit tests).
    pub rate: Option<f64>,
    /// Sampled rows whose problem has audit tests: the rate's denominator.
    pub audited: u64,
}

/// Counts rows, not samples: a program kept twice is trained on twice.
/// Rows without an audit execution (reference rows, problems without audit
/// tests) are left out of both counts.
pub fn train_audit<R: AuditedRow>(rows: &[R], executions: &[Execution]) -> TrainAudit {
    let verdicts: BTreeMap<&str, Verdict> = executions
        .iter()
        .filter(|e| e.suite == Suite::Audit)
        .map(|e| (e.sample_id.as_str(), e.verdict))
        .collect();
    let (mut audited, mut failed) = (0u64, 0u64);
    for r in rows {
        if let Some(v) = r.claimed_sample().and_then(|id| verdicts.get(id)) {
            audited += 1;
            failed += u64::from(*v != Verdict::Pass);
        }
    }
    TrainAudit {
        rate: (audited > 0).then(|| failed as f64 / audited as f64),
        audited,
    }
}

/// Writes the samples (from `samples_dir`) behind `rows` to `out/samples/`
/// and runs the audit suite on them into `out/executions/` (`opts.suites`
/// is replaced by the audit suite). Nothing is written when no row came
/// from a sample in `samples_dir`.
pub fn execute_audit<R: AuditedRow>(
    problems_dir: &Path,
    samples_dir: &Path,
    rows: &[R],
    out: &Path,
    opts: &ouro_exec::ExecOptions,
) -> Result<StageStats> {
    let ids: HashSet<&str> = rows.iter().filter_map(R::claimed_sample).collect();
    let kept: Vec<Sample> = shard::read_dir::<Sample>(samples_dir)?
        .into_iter()
        .filter(|s| ids.contains(s.sample_id.as_str()))
        .collect();
    if kept.is_empty() {
        return Ok(StageStats::default());
    }
    let samples_out = out.join("samples");
    shard::write_records(part_path(&samples_out, ShardSpec::default()), &kept)?;
    let opts = ouro_exec::ExecOptions {
        suites: vec![Suite::Audit],
        ..opts.clone()
    };
    let r = ouro_exec::execute(problems_dir, &samples_out, &out.join("executions"), &opts)?;
    Ok(crate::stages::exec_stats(&r))
}

/// [`train_audit`] of `rows` over what [`execute_audit`] wrote to `out`.
pub fn read_train_audit<R: AuditedRow>(rows: &[R], out: &Path) -> Result<TrainAudit> {
    let dir = out.join("executions");
    // No shard at all when no row's problem has audit tests, or no row was sampled.
    let mut executions: Vec<Execution> = Vec::new();
    if dir.is_dir() {
        for part in shard::list_shards(&dir)? {
            executions.extend(shard::read_records::<Execution>(part)?);
        }
    }
    Ok(train_audit(rows, &executions))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iterate::eval::tests::{exec, sample};
    use ouro_problems::{Family, GenerateOptions};

    fn row(sample_id: Option<&str>) -> SftRecord {
        row_of("p", sample_id)
    }

    fn row_of(problem_id: &str, sample_id: Option<&str>) -> SftRecord {
        SftRecord {
            prompt: String::new(),
            completion: String::new(),
            problem_id: problem_id.into(),
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

    fn pair(chosen: Option<&str>, rejected: Option<&str>) -> DpoRecord {
        DpoRecord {
            prompt: String::new(),
            chosen: String::new(),
            rejected: String::new(),
            problem_id: "p".into(),
            chosen_sample_id: chosen.map(str::to_string),
            rejected_sample_id: rejected.map(str::to_string),
            round: 1,
            pair_kind: ouro_data::PairKind::Correctness,
            chosen_score: None,
            rejected_score: None,
            chosen_spans: Vec::new(),
            rejected_spans: Vec::new(),
        }
    }

    #[test]
    fn dpo_pairs_are_judged_by_their_chosen_side_only() {
        let pairs = [
            pair(Some("good"), Some("bad")),
            pair(Some("near-miss"), Some("bad")),
            // A reference chosen side is not a sampled claim.
            pair(None, Some("bad")),
        ];
        let execs = [
            exec("good", Suite::Audit, Verdict::Pass),
            exec("near-miss", Suite::Audit, Verdict::Fail),
            // The rejected side failing the audit is what it is for.
            exec("bad", Suite::Audit, Verdict::Fail),
        ];
        let a = train_audit(&pairs, &execs);
        assert_eq!(a.audited, 2);
        assert_eq!(a.rate, Some(0.5));
    }

    #[test]
    fn no_audited_row_is_undefined_not_zero() {
        let a = train_audit(&[row(None)], &[exec("x", Suite::Audit, Verdict::Fail)]);
        assert_eq!(a, TrainAudit::default());
    }

    fn with_code(mut s: Sample, code: &str) -> Sample {
        s.completion = code.into();
        s.code = Some(code.into());
        s
    }

    /// Through the real sandbox: a near-miss program the filter tests pass
    /// (so selection would keep it) is one the audit rejects; the reference
    /// beside it is not.
    #[test]
    fn a_near_miss_the_filter_lets_through_fails_the_audit() {
        // Plain random filter tests (no targeted ones) let some near misses through;
        // the generator records which, and the audit suite is built to catch them.
        let generated = ouro_problems::generate_detailed(&GenerateOptions {
            count: 60,
            seed: 0,
            families: vec![(Family::Compose, 1)],
            filter_tests: 4,
            targeted_filter: false,
            test_percent: 10,
        })
        .unwrap();
        let (problem, mutant) = generated
            .iter()
            .find_map(|g| {
                g.mutants
                    .iter()
                    .find(|m| !m.killed_by_filter && m.killed_by_audit)
                    .map(|m| (&g.problem, m))
            })
            .expect("some near miss escapes 4 random filter tests");
        let pid = problem.problem_id.as_str();
        let reference = problem.reference_solution.clone().unwrap();

        let dir = tempfile::tempdir().unwrap();
        let problems_dir = dir.path().join("problems");
        let problems: Vec<_> = generated.iter().map(|g| g.problem.clone()).collect();
        ouro_problems::write(&problems_dir, &problems).unwrap();
        let samples_dir = dir.path().join("samples");
        let samples = [
            with_code(sample(pid, "ref"), &reference),
            with_code(sample(pid, "mutant"), &mutant.program),
            with_code(sample(pid, "not-kept"), &mutant.program),
        ];
        shard::write_records(part_path(&samples_dir, ShardSpec::default()), &samples).unwrap();
        let opts = ouro_exec::ExecOptions {
            workers: 1,
            ..Default::default()
        };

        // What selection sees: both programs pass the filter tests.
        let filter_dir = dir.path().join("filter");
        ouro_exec::execute(&problems_dir, &samples_dir, &filter_dir, &opts).unwrap();
        let filter: Vec<Execution> = shard::read_dir(&filter_dir).unwrap();
        assert!(
            filter.iter().all(|e| e.verdict == Verdict::Pass),
            "{}: {filter:?}",
            mutant.label
        );

        // The rows a round would train on: both programs and one reference row.
        let rows = [
            row_of(pid, Some("ref")),
            row_of(pid, Some("mutant")),
            row_of(pid, None),
        ];
        let out = dir.path().join("train-audit");
        let stats = execute_audit(&problems_dir, &samples_dir, &rows, &out, &opts).unwrap();
        assert_eq!(stats.counts["executions"], 2, "only the rows' samples run");
        let audit: Vec<Execution> = shard::read_dir(out.join("executions")).unwrap();
        assert!(audit.iter().all(|e| e.suite == Suite::Audit));
        let a = read_train_audit(&rows, &out).unwrap();
        assert_eq!(a.audited, 2);
        assert_eq!(a.rate, Some(0.5), "the near miss `{}` fails", mutant.label);

        // Rows with no sample behind them audit nothing and write nothing.
        let empty = dir.path().join("empty");
        execute_audit(&problems_dir, &samples_dir, &rows[2..], &empty, &opts).unwrap();
        let none = read_train_audit(&rows[2..], &empty).unwrap();
        assert_eq!((none.audited, none.rate), (0, None));
    }
}
