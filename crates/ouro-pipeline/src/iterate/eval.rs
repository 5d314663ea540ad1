//! Evaluation of a round's model: unbiased pass@k over a problem split, with
//! the false-positive rate measured by the audit tests.

use std::collections::{BTreeMap, HashMap, HashSet};

use ouro_data::{Execution, Sample, Suite, Verdict};
use serde::{Deserialize, Serialize};

/// What one evaluation measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalResult {
    pub problems: u64,
    pub samples_per_problem: u64,
    /// Strict: a sample counts only if it passes the filter tests and, where
    /// the problem has them, the audit tests too.
    pub pass_at_1: f64,
    pub pass_at_k: BTreeMap<String, f64>,
    /// Filter-passing samples that fail the audit suite, over filter-passing
    /// samples that ran the audit suite; `None` when no sample passed.
    pub false_positive_rate: Option<f64>,
}

/// Which tests a sample must pass to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassRule {
    /// The filter tests: what training selection sees.
    Filter,
    /// The filter tests and, when it ran, the audit suite: what evaluation
    /// reports, so that near-miss programs do not count as progress.
    Strict,
}

/// Per problem: (attempts, attempts that pass under `rule`).
pub fn per_problem_passes(
    samples: &[Sample],
    executions: &[Execution],
    rule: PassRule,
) -> BTreeMap<String, (usize, usize)> {
    let mut passed: HashSet<&str> = executions
        .iter()
        .filter(|e| e.suite == Suite::Filter && e.verdict == Verdict::Pass)
        .map(|e| e.sample_id.as_str())
        .collect();
    if rule == PassRule::Strict {
        for e in executions
            .iter()
            .filter(|e| e.suite == Suite::Audit && e.verdict != Verdict::Pass)
        {
            passed.remove(e.sample_id.as_str());
        }
    }
    let mut out: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for s in samples {
        let e = out.entry(s.problem_id.clone()).or_default();
        e.0 += 1;
        if passed.contains(s.sample_id.as_str()) {
            e.1 += 1;
        }
    }
    out
}

pub fn evaluate(samples: &[Sample], executions: &[Execution], ks: &[usize]) -> EvalResult {
    let per_problem = per_problem_passes(samples, executions, PassRule::Strict);
    let mean = |k: usize| -> f64 {
        let vals: Vec<f64> = per_problem
            .values()
            .filter_map(|&(n, c)| ouro_rank::metrics::pass_at_k(n, c, k))
            .collect();
        if vals.is_empty() {
            0.0
        } else {
            vals.iter().sum::<f64>() / vals.len() as f64
        }
    };
    let n = per_problem.values().map(|v| v.0).max().unwrap_or(0);
    let mut audit: HashMap<&str, Verdict> = HashMap::new();
    for e in executions.iter().filter(|e| e.suite == Suite::Audit) {
        audit.insert(e.sample_id.as_str(), e.verdict);
    }
    let (mut audited, mut false_pos) = (0usize, 0usize);
    for e in executions
        .iter()
        .filter(|e| e.suite == Suite::Filter && e.verdict == Verdict::Pass)
    {
        if let Some(v) = audit.get(e.sample_id.as_str()) {
            audited += 1;
            if *v != Verdict::Pass {
                false_pos += 1;
            }
        }
    }
    EvalResult {
        problems: per_problem.len() as u64,
        samples_per_problem: n as u64,
        pass_at_1: mean(1),
        pass_at_k: ks
            .iter()
            .filter(|&&k| k <= n)
            .map(|&k| (format!("pass@{k}"), mean(k)))
            .collect(),
        false_positive_rate: (audited > 0).then(|| false_pos as f64 / audited as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(problem: &str, id: &str) -> Sample {
        Sample {
            sample_id: id.into(),
            problem_id: problem.into(),
            round: 1,
            index: 0,
            model: "m".into(),
            params: Default::default(),
            completion: String::new(),
            code: None,
            extraction_error: None,
            finish_reason: None,
            generation_error: None,
            prompt_tokens: None,
            completion_tokens: None,
            logprob: None,
        }
    }

    fn exec(id: &str, suite: Suite, verdict: Verdict) -> Execution {
        Execution {
            sample_id: id.into(),
            problem_id: String::new(),
            suite,
            verdict,
            tests_passed: vec![],
            error_kind: None,
            stderr_tail: String::new(),
            cpu_ms: 0.0,
            wall_ms: 0.0,
            max_rss_kb: 0,
            lines_executed: None,
            executor_version: String::new(),
            limits: Default::default(),
            isolation: String::new(),
            judge: Default::default(),
        }
    }

    #[test]
    fn pass_rates_and_false_positives() {
        // p1: 2 of 2 pass (one is a false positive); p2: 0 of 2.
        let samples = vec![
            sample("p1", "a"),
            sample("p1", "b"),
            sample("p2", "c"),
            sample("p2", "d"),
        ];
        let execs = vec![
            exec("a", Suite::Filter, Verdict::Pass),
            exec("a", Suite::Audit, Verdict::Pass),
            exec("b", Suite::Filter, Verdict::Pass),
            exec("b", Suite::Audit, Verdict::Fail),
            exec("c", Suite::Filter, Verdict::Fail),
            exec("d", Suite::Filter, Verdict::Error),
        ];
        let r = evaluate(&samples, &execs, &[1, 2, 8]);
        assert_eq!(r.problems, 2);
        // Only "a" passes both suites: p1 1/2, p2 0/2.
        assert!((r.pass_at_1 - 0.25).abs() < 1e-12);
        let filter_only = per_problem_passes(&samples, &execs, PassRule::Filter);
        assert_eq!(filter_only["p1"], (2, 2));
        assert_eq!(r.pass_at_k.keys().collect::<Vec<_>>(), ["pass@1", "pass@2"]);
        assert_eq!(r.false_positive_rate, Some(0.5));
    }
}
