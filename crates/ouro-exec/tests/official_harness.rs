//! Judging an imported problem set as its own harness does: what the official
//! HumanEval and APPS harnesses put around a program, and which values their
//! `==` holds equal, decide a verdict as much as the tests do.

mod common;

use std::sync::Arc;

use ouro_data::{Judge, Problem};
use ouro_exec::{Executor, Verdict};

fn from_source(problem: Arc<Problem>, source: &str) -> Arc<Problem> {
    let mut p = (*problem).clone();
    p.source = source.into();
    Arc::new(p)
}

/// hendrycks/apps' testing_util.py prepends `from math import sqrt`, `from typing
/// import List`, `Counter`, `heapq` ... to every program; APPS solutions and the
/// starter code's signatures use them unimported, and failed with NameError.
#[test]
fn apps_programs_see_the_names_their_official_harness_defines() {
    let exec = Executor::new(&common::options(1)).expect("executor starts");
    let call = common::assert_problem("apps/5", "hyp", "assert hyp(3, 4) == 5.0\n");
    let good = "def hyp(a, b):\n    return sqrt(a * a + b * b)\n";
    let r = common::run_one(&exec, &from_source(call.clone(), "apps"), good);
    assert_eq!(
        (r.verdict, r.judge),
        (Verdict::Pass, Judge::Isolated),
        "{r:?}"
    );
    // Only APPS: another source's program still has to import what it uses.
    let r = common::run_one(&exec, &call, good);
    assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
    assert_eq!(r.error_kind.as_deref(), Some("NameError"));

    let typed = common::assert_problem(
        "apps/6",
        "most_common",
        "assert most_common([1, 1, 2]) == 1\n",
    );
    let good =
        "def most_common(xs: List[int]) -> int:\n    return Counter(xs).most_common(1)[0][0]\n";
    let r = common::run_one(&exec, &from_source(typed, "apps"), good);
    assert_eq!(r.verdict, Verdict::Pass, "{r:?}");

    let stdin = from_source(common::io_problem("apps/7", &[("9\n", "3\n")]), "apps");
    let r = common::run_one(&exec, &stdin, "print(int(sqrt(int(input()))))\n");
    assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
}

/// `check` is a function: what its body assigns is its own. Run in the program's
/// globals, an EvalPlus-style `results = [...]` replaced a solution's `results` memo,
/// and the correct solution failed.
#[test]
fn what_checks_body_assigns_leaves_the_programs_globals_alone() {
    let exec = Executor::new(&common::options(1)).expect("executor starts");
    let script =
        "def check(candidate):\n    inputs = [10, 20, 30]\n    results = [55, 6765, 832040]\n    \
                  for i, r in zip(inputs, results):\n        assert candidate(i) - r == 0\n";
    let problem = common::assert_problem("X/B2", "fib", script);
    let memo = "def fib(n):\n    if n in results:\n        return results[n]\n    a, b = 0, 1\n    \
                for _ in range(n):\n        a, b = b, a + b\n    results[n] = a\n    return a\n\n\nresults = {}\n";
    let r = common::run_one(&exec, &problem, memo);
    assert_eq!(
        (r.verdict, r.judge),
        (Verdict::Pass, Judge::InProcess),
        "{r:?}"
    );
    let r = common::run_one(&exec, &problem, "def fib(n):\n    return n\n");
    assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
}

/// A returned Fraction, Decimal, complex or dict view crosses the sandbox as the plain
/// value Python's `==` holds it equal to; one no plain value equals still fails.
#[test]
fn numbers_and_dict_views_are_judged_by_pythons_equality_in_isolation() {
    let exec = Executor::new(&common::options(1)).expect("executor starts");
    let cases = [
        (
            "__import__('fractions').Fraction(1, 2)",
            "0.5",
            Verdict::Pass,
        ),
        ("__import__('fractions').Fraction(6, 3)", "2", Verdict::Pass),
        (
            "__import__('fractions').Fraction(1, 3)",
            "0.3333333333333333",
            Verdict::Fail,
        ),
        ("__import__('decimal').Decimal('0.5')", "0.5", Verdict::Pass),
        ("__import__('decimal').Decimal('0.1')", "0.1", Verdict::Fail),
        ("{'a': 1, 'b': 2}.keys()", "{'a', 'b'}", Verdict::Pass),
        ("{'a': 1}.keys()", "['a']", Verdict::Fail),
        ("{'a': 1}.items()", "{('a', 1)}", Verdict::Pass),
        ("1 + 0j", "1", Verdict::Pass),
        ("1 + 1j", "1", Verdict::Fail),
    ];
    for (returned, expected, verdict) in cases {
        let script = format!("def check(candidate):\n    assert candidate() == {expected}\n");
        let problem = common::assert_problem("EQ/0", "f", &script);
        let r = common::run_one(
            &exec,
            &problem,
            &format!("def f():\n    return {returned}\n"),
        );
        assert_eq!(
            (r.verdict, r.judge),
            (verdict, Judge::Isolated),
            "{returned} == {expected}: {r:?}"
        );
    }
}
