//! No false fails: every HumanEval canonical solution passes, judged in
//! isolation wherever the tests compile (at least 90% of the problems).
//!
//! Opt-in: `scripts/fetch-humaneval.sh` then
//! `OURO_HUMANEVAL=scripts/.cache/HumanEval.jsonl cargo test -p ouro-exec --test humaneval`.

mod common;

#[path = "../examples/humaneval.rs"]
#[allow(dead_code)]
mod humaneval_example;

use std::sync::Arc;

use ouro_data::Judge;
use ouro_exec::{Executor, Job, Suite, Verdict};

#[test]
fn all_humaneval_canonical_solutions_pass() {
    let Ok(path) = std::env::var("OURO_HUMANEVAL") else {
        eprintln!("skipped: set OURO_HUMANEVAL to the file written by scripts/fetch-humaneval.sh");
        return;
    };
    let (problems, samples) = humaneval_example::load(std::path::Path::new(&path), 1);
    assert_eq!(problems.len(), 164);
    let exec = Executor::new(&common::options(0)).expect("executor starts");
    let jobs: Vec<Job> = problems
        .into_iter()
        .zip(samples)
        .map(|(p, s)| Job {
            problem: Arc::new(p),
            sample: Arc::new(s),
            suite: Suite::Filter,
        })
        .collect();
    let results = exec.run_batch(jobs);
    let bad: Vec<String> = results
        .iter()
        .filter(|r| r.verdict != Verdict::Pass)
        .map(|r| {
            format!(
                "{}: {:?} {:?} {}",
                r.problem_id, r.verdict, r.error_kind, r.stderr_tail
            )
        })
        .collect();
    assert!(
        bad.is_empty(),
        "{} canonical solutions did not pass:\n{}",
        bad.len(),
        bad.join("\n")
    );
    let count = |j: Judge| results.iter().filter(|r| r.judge == j).count();
    let (iso, mixed) = (count(Judge::Isolated), count(Judge::Mixed));
    let others: Vec<&str> = results
        .iter()
        .filter(|r| r.judge != Judge::Isolated)
        .map(|r| r.problem_id.as_str())
        .collect();
    eprintln!("judged in isolation: {iso}/164, mixed: {mixed}, not isolated: {others:?}");
    assert!(iso * 10 >= 164 * 9, "only {iso}/164 fully isolated");
}
