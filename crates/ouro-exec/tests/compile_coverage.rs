//! Coverage of isolated judging: the bundled problem family compiles fully
//! (filter and audit suites), and its reference solutions pass under it.

mod common;

use std::sync::Arc;

use ouro_data::{Judge, Suite};
use ouro_exec::{Executor, Job, Verdict};

#[test]
fn bundled_problems_compile_fully_and_references_pass_isolated() {
    let problems = ouro_problems::generate(&ouro_problems::GenerateOptions {
        count: 60,
        seed: 7,
        ..Default::default()
    })
    .expect("generate");
    let problems: Vec<Arc<_>> = problems.into_iter().map(Arc::new).collect();
    let exec = Executor::new(&common::options(2)).expect("executor starts");
    for suite in [Suite::Filter, Suite::Audit] {
        let compiled = exec.compile_tests(problems.clone(), suite);
        for (p, c) in problems.iter().zip(&compiled) {
            let c = c.as_ref().expect("assert script");
            assert_eq!(
                c.judge(),
                Judge::Isolated,
                "{} ({suite:?}): {:?}",
                p.problem_id,
                c.reasons
            );
            assert_eq!(c.asserts, c.asserts_isolated);
        }
    }
    let jobs: Vec<Job> = problems
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let code = p.reference_solution.clone().expect("reference");
            common::job(p, &code, i as u32)
        })
        .collect();
    for r in exec.run_batch(jobs) {
        assert_eq!(
            (r.verdict, r.judge),
            (Verdict::Pass, Judge::Isolated),
            "{}: {:?} {}",
            r.problem_id,
            r.error_kind,
            r.stderr_tail
        );
    }
}

#[test]
fn mbpp_assert_lists_are_judged_in_isolation() {
    let script = "import math\n\
assert similar_elements((3, 4, 5, 6), (5, 7, 4, 10)) == (4, 5)\n\
assert set(similar_elements((1, 2, 3, 4), (5, 4, 3, 7))) == set((3, 4))\n\
for n in range(3):\n    assert len(similar_elements((n,), (n,))) == 1 or similar_elements((n,), (n,)) == (n,)\n\
assert similar_elements((), ()) == ()\n";
    let problem = common::assert_problem("mbpp/2", "similar_elements", script);
    let exec = Executor::new(&common::options(1)).expect("executor starts");
    let good = "def similar_elements(a, b):\n    return tuple(sorted(set(a) & set(b)))\n";
    let r = common::run_one(&exec, &problem, good);
    // The loop uses the result in `len(...)`: that test runs in process.
    assert_eq!((r.verdict, r.judge), (Verdict::Pass, Judge::Mixed), "{r:?}");
    let script_isolated: String = script
        .lines()
        .filter(|l| !l.contains("len("))
        .filter(|l| !l.starts_with("for"))
        .map(|l| format!("{l}\n"))
        .collect();
    let problem = common::assert_problem("mbpp/2b", "similar_elements", &script_isolated);
    let r = common::run_one(&exec, &problem, good);
    assert_eq!(
        (r.verdict, r.judge),
        (Verdict::Pass, Judge::Isolated),
        "{r:?}"
    );
    let wrong = "def similar_elements(a, b):\n    return list(sorted(set(a) & set(b)))\n";
    let r = common::run_one(&exec, &problem, wrong);
    // A list is not a tuple; the set() test still passes.
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(r.tests_passed, vec![false, true, false]);
}

/// The official harnesses run a test script's setup (HumanEval's top-level imports,
/// MBPP's `test_setup_code`) in the solution's globals before the tests, so a solution
/// may use what it imports. Judged in isolation, it ran in the spy pass only, and the
/// same solution failed with NameError where an assert of another shape passed.
#[test]
fn a_scripts_setup_runs_in_the_samples_globals_when_judged_in_isolation() {
    let exec = Executor::new(&common::options(1)).expect("executor starts");
    let good = "def ceil_sqrt(x):\n    return math.ceil(math.sqrt(x))\n";
    for (id, script) in [
        ("mbpp/901", "import math\nassert ceil_sqrt(10) == 4\nassert ceil_sqrt(16) == 4\n"),
        (
            "X/A",
            "import math\n\n\ndef check(candidate):\n    assert candidate(10) == 4\n    assert candidate(16) == 4\n",
        ),
    ] {
        let problem = common::assert_problem(id, "ceil_sqrt", script);
        let r = common::run_one(&exec, &problem, good);
        assert_eq!(
            (r.verdict, r.judge),
            (Verdict::Pass, Judge::Isolated),
            "{id}: {r:?}"
        );
        let wrong = "def ceil_sqrt(x):\n    return math.floor(math.sqrt(x))\n";
        let r = common::run_one(&exec, &problem, wrong);
        assert_eq!((r.verdict, r.tests_passed.clone()), (Verdict::Fail, vec![false, true]), "{id}: {r:?}");
    }
}

/// A test script that does not parse says so where it is reported, not "no tests".
#[test]
fn a_script_that_does_not_parse_names_the_syntax_error() {
    let broken = common::assert_problem(
        "p/broken",
        "f",
        "def check(candidate):\n    assert candidate(1) == (2\n",
    );
    let exec = Executor::new(&common::options(1)).expect("executor starts");
    let compiled = exec.compile_tests(vec![broken], Suite::Filter);
    let c = compiled[0].as_ref().expect("assert script");
    assert_eq!(c.judge(), Judge::InProcess);
    let (_, why) = c.reasons.first().expect("a reason");
    assert!(why.contains("does not parse"), "{why}");
}
