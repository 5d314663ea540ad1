//! The deterministic cost (`lines_executed`): the same program and tests give
//! the same count on every run, more work gives a larger count, and a program
//! that replaces the harness's tracer gets no count instead of a forged one.

mod common;

use common::*;
use ouro_exec::{Executor, JudgeMode, Verdict};

const CHECK: &str =
    "def check(candidate):\n    assert candidate(10) == 45\n    assert candidate(100) == 4950\n";

const LOOP: &str = "def f(n):\n    t = 0\n    for i in range(n):\n        t += i\n    return t\n";
const FORMULA: &str = "def f(n):\n    return n * (n - 1) // 2\n";
const RETRACED: &str = "import sys\n\
def f(n):\n    sys.settrace(None)\n    t = 0\n    for i in range(n):\n        t += i\n    return t\n";

fn costs(judge: JudgeMode) -> Vec<(Verdict, Option<u64>)> {
    let mut opts = options(2);
    opts.judge = judge;
    let exec = Executor::new(&opts).expect("executor starts");
    let problem = assert_problem("cost/sum", "f", CHECK);
    let jobs = [LOOP, FORMULA, RETRACED, LOOP]
        .iter()
        .enumerate()
        .map(|(i, code)| job(&problem, code, i as u32))
        .collect();
    exec.run_batch(jobs)
        .into_iter()
        .map(|e| (e.verdict, e.lines_executed))
        .collect()
}

#[test]
fn lines_executed_counts_work_and_repeats_exactly() {
    for judge in [JudgeMode::Auto, JudgeMode::InProcess] {
        let r = costs(judge);
        assert!(
            r.iter().all(|(v, _)| *v == Verdict::Pass),
            "{judge:?}: {r:?}"
        );
        let (lp, formula) = (r[0].1.unwrap(), r[1].1.unwrap());
        // The loop body runs 10 + 100 times, twice a line; the formula is
        // one call and one line per test.
        assert!(lp >= 2 * 110, "{judge:?}: loop {lp}");
        assert!(formula <= 4, "{judge:?}: formula {formula}");
        assert_eq!(
            r[3].1,
            Some(lp),
            "{judge:?}: a second run of the same program"
        );
        assert_eq!(r[2].1, None, "{judge:?}: the tracer was replaced");
    }
}

#[test]
fn io_programs_count_the_whole_program() {
    let exec = Executor::new(&options(1)).expect("executor starts");
    let problem = io_problem("cost/io", &[("3\n", "3\n"), ("5\n", "10\n")]);
    let short = "n = int(input())\nprint(n * (n - 1) // 2)\n";
    let long = "n = int(input())\nt = 0\nfor i in range(n):\n    t += i\nprint(t)\n";
    let r = exec.run_batch(vec![job(&problem, short, 0), job(&problem, long, 1)]);
    assert!(r.iter().all(|e| e.verdict == Verdict::Pass), "{r:?}");
    let (a, b) = (r[0].lines_executed.unwrap(), r[1].lines_executed.unwrap());
    assert!(a < b, "short {a}, long {b}");
}
