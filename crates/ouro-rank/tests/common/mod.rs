//! Hand-made shards the build-stage tests share.
#![allow(dead_code)]

use std::path::Path;

use ouro_data::shard::write_records;
use ouro_data::{
    Execution, Judge, Limits, Problem, RecordedSampling, Sample, Suite, Tests, Verdict,
};
use ouro_rank::build::BuildInputs;

pub fn problem(id: &str, reference: Option<&str>) -> Problem {
    Problem {
        problem_id: id.into(),
        source: "test".into(),
        prompt: format!("Write f for {id}."),
        entry_point: "f".into(),
        language: "python".into(),
        starter_code: String::new(),
        reference_solution: reference.map(str::to_string),
        tests: Tests::AssertScript {
            script: "assert f(1) == 2\nassert f(2) == 3".into(),
        },
        audit_tests: None,
        difficulty: None,
        tags: vec![],
        split: "train".into(),
    }
}

pub fn sample(pid: &str, index: u32, code: &str) -> Sample {
    let completion = format!("Here you go:\n```python\n{code}```\n");
    Sample {
        sample_id: Sample::compute_id(pid, 1, "m", index, &completion),
        problem_id: pid.into(),
        round: 1,
        index,
        model: "m".into(),
        params: RecordedSampling::default(),
        completion,
        code: Some(code.into()),
        extraction_error: None,
        finish_reason: Some("stop".into()),
        generation_error: None,
        prompt_tokens: None,
        completion_tokens: None,
        logprob: None,
    }
}

pub fn exec(s: &Sample, suite: Suite, tests: &[bool], cpu_ms: f64) -> Execution {
    let pass = tests.iter().all(|&t| t);
    Execution {
        sample_id: s.sample_id.clone(),
        problem_id: s.problem_id.clone(),
        suite,
        verdict: if pass { Verdict::Pass } else { Verdict::Fail },
        tests_passed: tests.to_vec(),
        error_kind: (!pass).then(|| "AssertionError".to_string()),
        stderr_tail: if pass {
            String::new()
        } else {
            "Traceback...\nAssertionError: f(2) == 3".into()
        },
        cpu_ms,
        wall_ms: cpu_ms,
        max_rss_kb: 1000,
        lines_executed: Some((cpu_ms * 10.0).round() as u64),
        executor_version: "test".into(),
        limits: Limits::default(),
        isolation: "none".into(),
        judge: Judge::InProcess,
        tests_digest: None,
    }
}

pub const GOOD: &str = "def f(x):\n    if x > 0:\n        return x + 1\n    return 1 + x\n";
pub const SLOW: &str = "def f(x):\n    total = 0\n    for _ in range(1000000):\n        total += 0\n    return x + 1 + total\n";
pub const NEAR_MISS: &str = "def f(x):\n    if x > 0:\n        return x + 2\n    return 1 + x\n";
pub const WRONG: &str = "def f(x):\n    return 2\n";

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub samples: Vec<Sample>,
}

/// p-mixed: passing, slow passing, failing; p-none: only failing;
/// p-all: only passing; p-empty: nothing. Plus one execution of an unknown sample.
pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let problems = vec![
        problem("p-mixed", Some(GOOD)),
        problem("p-none", Some(GOOD)),
        problem("p-all", None),
        problem("p-empty", Some(GOOD)),
    ];
    let s = vec![
        sample("p-mixed", 0, GOOD),
        sample("p-mixed", 1, SLOW),
        sample("p-mixed", 2, NEAR_MISS),
        sample("p-mixed", 3, WRONG),
        sample(
            "p-mixed",
            4,
            &format!("{GOOD}# same program, other comment\n"),
        ),
        sample("p-none", 0, WRONG),
        sample("p-all", 0, GOOD),
    ];
    let mut e = vec![
        exec(&s[0], Suite::Filter, &[true, true], 10.0),
        exec(&s[0], Suite::Filter, &[true, true], 12.0),
        exec(&s[0], Suite::Filter, &[true, true], 11.0),
        exec(&s[1], Suite::Filter, &[true, true], 400.0),
        exec(&s[2], Suite::Filter, &[false, false], 10.0),
        exec(&s[3], Suite::Filter, &[false, true], 10.0),
        exec(&s[4], Suite::Filter, &[true, true], 10.0),
        exec(&s[5], Suite::Filter, &[false, false], 10.0),
        exec(&s[6], Suite::Filter, &[true, true], 10.0),
        exec(&s[0], Suite::Audit, &[true], 10.0),
        exec(&s[1], Suite::Audit, &[false], 10.0),
    ];
    let mut ghost = exec(&s[0], Suite::Filter, &[true, true], 1.0);
    ghost.sample_id = "no-such-sample".into();
    e.push(ghost);
    write_records(dir.path().join("problems.parquet"), &problems).unwrap();
    std::fs::create_dir_all(dir.path().join("samples")).unwrap();
    write_records(dir.path().join("samples/part-00000.parquet"), &s).unwrap();
    std::fs::create_dir_all(dir.path().join("executions")).unwrap();
    write_records(dir.path().join("executions/part-00000.parquet"), &e).unwrap();
    Fixture { dir, samples: s }
}

pub fn inputs(root: &Path) -> BuildInputs {
    BuildInputs {
        problems: root.join("problems.parquet"),
        samples: root.join("samples"),
        executions: root.join("executions"),
        more_samples: Vec::new(),
        more_executions: Vec::new(),
        eval_problems: None,
        benchmarks: Vec::new(),
        ranking_executions: None,
        ranking_suite: ouro_data::Suite::Filter,
    }
}

/// `problems.parquet`, `samples/` and `executions/` under `root`, as [`inputs`] reads them.
pub fn write_inputs(
    root: &Path,
    problems: &[Problem],
    samples: &[Sample],
    executions: &[Execution],
) {
    write_records(root.join("problems.parquet"), problems).unwrap();
    std::fs::create_dir_all(root.join("samples")).unwrap();
    write_records(root.join("samples/part-00000.parquet"), samples).unwrap();
    std::fs::create_dir_all(root.join("executions")).unwrap();
    write_records(root.join("executions/part-00000.parquet"), executions).unwrap();
}
