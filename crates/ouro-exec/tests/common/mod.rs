//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::sync::Arc;

use ouro_data::{IoCase, Problem, RecordedSampling, Sample, Suite, Tests};
use ouro_exec::{ExecOptions, Execution, Executor, Job, Limits};

/// Tests need root for the full sandbox; without it they still run (degraded).
pub fn options(workers: usize) -> ExecOptions {
    ExecOptions {
        workers,
        limits: Limits {
            cpu_ms: 2_000,
            wall_ms: 4_000,
            memory_mb: 256,
            output_bytes: 1 << 20,
        },
        // On the executors' grid of 256-uid blocks (so the block locks coordinate with
        // every executor), but clear of the first blocks a real run, or an ouro from
        // before the locks, holds: a sample of theirs would count as a survivor here.
        uid_base: 61000 + 256 * (8 + std::process::id() % 192),
        ..ExecOptions::default()
    }
}

pub fn assert_problem(id: &str, entry_point: &str, script: &str) -> Arc<Problem> {
    Arc::new(Problem {
        problem_id: id.into(),
        source: "test".into(),
        prompt: String::new(),
        entry_point: entry_point.into(),
        language: "python".into(),
        starter_code: String::new(),
        reference_solution: None,
        tests: Tests::AssertScript {
            script: script.into(),
        },
        audit_tests: None,
        difficulty: None,
        tags: vec![],
        split: "test".into(),
    })
}

pub fn io_problem(id: &str, cases: &[(&str, &str)]) -> Arc<Problem> {
    Arc::new(Problem {
        problem_id: id.into(),
        source: "test".into(),
        prompt: String::new(),
        entry_point: String::new(),
        language: "python".into(),
        starter_code: String::new(),
        reference_solution: None,
        tests: Tests::IoCases {
            cases: cases
                .iter()
                .map(|(i, o)| IoCase {
                    input: i.to_string(),
                    output: o.to_string(),
                })
                .collect(),
        },
        audit_tests: None,
        difficulty: None,
        tags: vec![],
        split: "test".into(),
    })
}

pub fn sample(problem_id: &str, index: u32, code: Option<&str>) -> Sample {
    let completion = code.unwrap_or("").to_string();
    Sample {
        sample_id: Sample::compute_id(problem_id, 0, "test", index, &completion),
        problem_id: problem_id.into(),
        round: 0,
        index,
        model: "test".into(),
        params: RecordedSampling::default(),
        completion,
        code: code.map(str::to_string),
        extraction_error: None,
        finish_reason: None,
        generation_error: None,
        prompt_tokens: None,
        completion_tokens: None,
        logprob: None,
    }
}

pub fn job(problem: &Arc<Problem>, code: &str, index: u32) -> Job {
    Job {
        problem: Arc::clone(problem),
        sample: Arc::new(sample(&problem.problem_id, index, Some(code))),
        suite: Suite::Filter,
    }
}

pub fn run_one(exec: &Executor, problem: &Arc<Problem>, code: &str) -> Execution {
    exec.run_batch(vec![job(problem, code, 0)]).remove(0)
}

/// Host pids of processes running as one of the sandbox uids.
pub fn processes_with_uids(uids: std::ops::Range<u32>) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(e.path().join("status")) else {
            continue;
        };
        let uid = status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|u| u.parse::<u32>().ok());
        if uid.is_some_and(|u| uids.contains(&u)) {
            out.push(pid);
        }
    }
    out
}
