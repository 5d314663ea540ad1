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
    // No false passes either: the bare prompts (every function returns None)
    // pass nothing, judged either way.
    let stubs: Vec<Job> = results
        .iter()
        .zip(&problems_again(&path))
        .map(|(r, p)| Job {
            problem: Arc::clone(p),
            sample: Arc::new(common::sample(&r.problem_id, 1, Some(&p.prompt))),
            suite: Suite::Filter,
        })
        .collect();
    let stub_passes: Vec<String> = exec
        .run_batch(stubs)
        .into_iter()
        .filter(|r| r.verdict == Verdict::Pass)
        .map(|r| r.problem_id)
        .collect();
    assert!(stub_passes.is_empty(), "stubs passed: {stub_passes:?}");
}

fn problems_again(path: &str) -> Vec<Arc<ouro_data::Problem>> {
    let (problems, _) = humaneval_example::load(std::path::Path::new(path), 1);
    problems.into_iter().map(Arc::new).collect()
}

/// Isolated and in-process judging agree on simple mutants of the canonical
/// solutions (a disagreement would mean the compiled tests are not faithful).
#[test]
fn isolated_and_in_process_judging_agree_on_mutants() {
    let Ok(path) = std::env::var("OURO_HUMANEVAL") else {
        eprintln!("skipped: set OURO_HUMANEVAL to the file written by scripts/fetch-humaneval.sh");
        return;
    };
    let (problems, samples) = humaneval_example::load(std::path::Path::new(&path), 1);
    const MUTATIONS: &[(&str, &str)] = &[
        (" + ", " - "),
        (" < ", " <= "),
        (" == ", " != "),
        (" and ", " or "),
        ("return True", "return False"),
        (" 1", " 2"),
        ("[::-1]", ""),
    ];
    let jobs: Vec<Job> = problems
        .into_iter()
        .zip(samples)
        .filter_map(|(p, s)| {
            let solution = p.reference_solution.clone()?;
            let (from, to) = MUTATIONS.iter().find(|(f, _)| solution.contains(f))?;
            let code = format!("{}{}", p.prompt, solution.replacen(from, to, 1));
            Some(Job {
                problem: Arc::new(p),
                sample: Arc::new(common::sample(&s.problem_id, 7, Some(&code))),
                suite: Suite::Filter,
            })
        })
        .collect();
    let mut opts = common::options(0);
    let isolated = Executor::new(&opts)
        .expect("executor starts")
        .run_batch(jobs.clone());
    opts.judge = ouro_exec::JudgeMode::InProcess;
    let in_process = Executor::new(&opts)
        .expect("executor starts")
        .run_batch(jobs);
    let disagree: Vec<String> = isolated
        .iter()
        .zip(&in_process)
        .filter(|(a, b)| (a.verdict == Verdict::Pass) != (b.verdict == Verdict::Pass))
        .map(|(a, b)| {
            format!(
                "{}: isolated {:?} {:?}, in process {:?}",
                a.problem_id, a.verdict, a.error_kind, b.verdict
            )
        })
        .collect();
    let passes = isolated
        .iter()
        .filter(|r| r.verdict == Verdict::Pass)
        .count();
    eprintln!("{} mutants, {passes} survive", isolated.len());
    assert!(
        disagree.is_empty(),
        "judges disagree:\n{}",
        disagree.join("\n")
    );
}
