//! The deterministic cost (`lines_executed`): the same program and tests give
//! the same count on every run, more work gives a larger count, and a program
//! that replaces the harness's tracer gets no count instead of a forged one.

mod common;

use common::*;
use std::sync::Arc;

use ouro_data::Problem;
use ouro_exec::{ExecOptions, Executor, JudgeMode, Verdict};

const CHECK: &str =
    "def check(candidate):\n    assert candidate(10) == 45\n    assert candidate(100) == 4950\n";

const LOOP: &str = "def f(n):\n    t = 0\n    for i in range(n):\n        t += i\n    return t\n";
const FORMULA: &str = "def f(n):\n    return n * (n - 1) // 2\n";
const RETRACED: &str = "import sys\n\
def f(n):\n    sys.settrace(None)\n    t = 0\n    for i in range(n):\n        t += i\n    return t\n";

/// Verdict and count of each program against `problem`.
fn counts(
    opts: &ExecOptions,
    problem: &Arc<Problem>,
    codes: &[&str],
) -> Vec<(Verdict, Option<u64>)> {
    let exec = Executor::new(opts).expect("executor starts");
    let jobs = codes
        .iter()
        .enumerate()
        .map(|(i, code)| job(problem, code, i as u32))
        .collect();
    exec.run_batch(jobs)
        .into_iter()
        .map(|e| (e.verdict, e.lines_executed))
        .collect()
}

fn costs(judge: JudgeMode) -> Vec<(Verdict, Option<u64>)> {
    let mut opts = options(2);
    opts.judge = judge;
    let problem = assert_problem("cost/sum", "f", CHECK);
    counts(&opts, &problem, &[LOOP, FORMULA, RETRACED, LOOP])
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

/// Programs whose line events are easy to get wrong: generators resumed
/// across tests, recursion, exceptions caught and uncaught, methods and
/// properties, lambdas and comprehensions, code the tests' own frames call
/// back into, and one that reaches the cap.
const TRICKY: &[&str] = &[
    "def f(n):\n    def gen(k):\n        for i in range(k):\n            yield i * i\n    return sum(gen(n))\n",
    "def f(n):\n    return n if n < 2 else f(n - 1) + f(n - 2)\n",
    "def f(n):\n    try:\n        return [1][n]\n    except IndexError:\n        return n * 3\n    finally:\n        n += 1\n",
    "class A:\n    def __init__(self, n):\n        self.n = n\n    @property\n    def v(self):\n        return self.n * 2\n\ndef f(n):\n    return A(n).v\n",
    "def f(n):\n    g = lambda x: x + 1\n    return sum([g(i) for i in range(n)]) + sum({i: i for i in range(3)})\n",
    "import functools\n\ndef f(n):\n    return functools.reduce(lambda a, b: a + b, range(n), 0)\n",
    "def f(n):\n    i = 0\n    while i < 600_000:\n        i += 1\n    return n\n",
    "def f(n):\n    raise ValueError(n)\n",
];

#[test]
fn the_c_and_python_line_counters_agree() {
    if std::env::var_os("CI").is_some() {
        // The C counter must build where CI runs; else this would compare
        // the Python counter with itself.
        let python = ouro_exec::slot::resolve_python(std::path::Path::new("python3")).unwrap();
        ouro_exec::native::line_counter(&python).expect("the C line counter builds under CI");
    }
    let problem = assert_problem(
        "cost/tricky",
        "f",
        "def check(candidate):\n    assert candidate(5) is not None\n    assert candidate(7) is not None\n",
    );
    let run = |native: bool| {
        let mut opts = options(1);
        opts.native_line_counter = native;
        counts(&opts, &problem, TRICKY)
    };
    let (c, py) = (run(true), run(false));
    assert_eq!(c, py, "C counter vs Python counter");
    assert_eq!(c[6].1, Some(1_000_000), "the loop reaches the cap: {c:?}");
    assert!(c[0].1.unwrap() > 20, "{c:?}");
}

#[test]
fn a_run_without_line_counts_judges_the_same_and_says_so_in_its_version() {
    let problem = assert_problem("cost/off", "f", CHECK);
    let wrong = "def f(n):\n    return n\n";
    let programs = [LOOP, FORMULA, wrong];
    let counted = counts(&options(1), &problem, &programs);
    let mut off = options(1);
    off.count_lines = false;
    for judge in [JudgeMode::Auto, JudgeMode::InProcess] {
        off.judge = judge;
        let uncounted = counts(&off, &problem, &programs);
        let verdicts = |r: &[(Verdict, Option<u64>)]| r.iter().map(|x| x.0).collect::<Vec<_>>();
        assert_eq!(verdicts(&uncounted), verdicts(&counted), "{judge:?}");
        assert_eq!(
            verdicts(&counted),
            [Verdict::Pass, Verdict::Pass, Verdict::Fail]
        );
        assert!(
            uncounted.iter().all(|x| x.1.is_none()),
            "{judge:?}: {uncounted:?}"
        );
    }
    assert!(counted[0].1.is_some());
    // Counted and uncounted executions never share a journal key.
    let version = ouro_exec::executor_version_for(&off);
    assert!(version.ends_with("+inprocess+nolines"), "{version}");
    assert_ne!(ouro_exec::executor_version_for(&options(1)), version);
}
