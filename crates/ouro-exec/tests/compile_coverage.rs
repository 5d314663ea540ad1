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
