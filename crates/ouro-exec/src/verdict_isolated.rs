//! Verdicts of isolated (and mixed) judging, decided in the trusted parent.
//!
//! The sandboxed child only reports what each call returned, as plain data;
//! expected values never enter it. A test judged in isolation passes when
//! every one of its calls returned a value that satisfies its check here,
//! under Python's equality ([`ouro_python::value`]). Whatever the child does to
//! its own interpreter (trace hooks, threads, patched builtins, objects with a
//! permissive `__eq__`), it can only pass by returning the right values.
//!
//! Channel order: `U`, one `V`/`R`/`N` line per call in call order, then the
//! `T` lines of tests judged in process (mixed only), then `D ntests`.

use ouro_data::Verdict;

use crate::isolate::Compiled;
use crate::protocol::Response;
use crate::verdict::{decide, is_memory_error, judged, parse_channel, Judged, Line, Outcome};
use ouro_python::value as pyvalue;

enum Returned<'a> {
    Value(&'a str),
    Raised(&'a str),
    NotPlain { truth: Option<bool> },
}

/// Judges a run whose request carried `compiled`'s calls.
pub fn judge_isolated(resp: &Response, nonce: &str, oom: bool, compiled: &Compiled) -> Judged {
    if let Some(e) = &resp.test_error {
        return judged(Verdict::SandboxError, vec![], format!("tests:{e}"));
    }
    let ntests = compiled.ntests;
    let Some(run) = resp.runs.first() else {
        return judged(
            Verdict::SandboxError,
            vec![false; ntests],
            "no_run".to_string(),
        );
    };
    let lines = parse_channel(&run.result, nonce);
    let ncalls = compiled.cases.len();
    let in_process: Vec<usize> = (0..ntests).filter(|&t| !compiled.isolated[t]).collect();
    let mut returned: Vec<Option<Returned>> = (0..ncalls).map(|_| None).collect();
    let mut next_call = 0usize;
    let mut tests_seen = 0usize;
    let mut passed = vec![false; ntests];
    let mut forged = false;
    let mut done = false;
    let mut memory_error = false;
    let mut first_fail: Option<String> = None;
    for line in &lines {
        let call = match line {
            Line::Returned { index, json } => Some((*index, Returned::Value(json))),
            Line::Raised { index, exc } => Some((*index, Returned::Raised(exc))),
            Line::NotPlain { index, truth } => Some((*index, Returned::NotPlain { truth: *truth })),
            _ => None,
        };
        if let Some((index, r)) = call {
            if index != next_call || index >= ncalls || done || tests_seen > 0 {
                forged = true;
                continue;
            }
            returned[index] = Some(r);
            next_call += 1;
            continue;
        }
        match line {
            Line::Test { index, ok, exc } => {
                if done || next_call != ncalls || in_process.get(tests_seen) != Some(index) {
                    forged = true;
                    continue;
                }
                tests_seen += 1;
                passed[*index] = *ok;
                if !ok {
                    memory_error |= is_memory_error(exc);
                    first_fail.get_or_insert_with(|| exc.clone());
                }
            }
            Line::Done(n) => {
                if *n == ntests && next_call == ncalls && tests_seen == in_process.len() && !done {
                    done = true;
                } else {
                    forged = true;
                }
            }
            Line::LoadError(n) | Line::SetupError(n) => memory_error |= is_memory_error(n),
            _ => {}
        }
    }
    // Isolated tests: every call present and its check holding, in call order.
    let mut failed_case = vec![false; ntests];
    for (case, r) in compiled.cases.iter().zip(&returned) {
        if failed_case[case.test] {
            continue;
        }
        let fail_kind = match r {
            None => Some("missing".to_string()),
            Some(Returned::Raised(exc)) => {
                memory_error |= is_memory_error(exc);
                Some(exc.to_string())
            }
            Some(Returned::NotPlain { truth }) => match case.check.holds_for_opaque(*truth) {
                Some(true) => None,
                Some(false) => Some("AssertionError".to_string()),
                None => Some("not_plain_data".to_string()),
            },
            Some(Returned::Value(json)) => match serde_json::from_str(json)
                .map_err(|e| e.to_string())
                .and_then(|j| pyvalue::decode(&j))
            {
                Ok(v) if case.check.holds(&v) => None,
                Ok(_) => Some("AssertionError".to_string()),
                Err(_) => Some("not_plain_data".to_string()),
            },
        };
        if let Some(k) = fail_kind {
            failed_case[case.test] = true;
            if k != "missing" {
                first_fail.get_or_insert(k);
            }
        }
    }
    for t in 0..ntests {
        if compiled.isolated[t] {
            passed[t] = !failed_case[t] && next_call == ncalls;
        }
    }
    decide(
        run,
        nonce,
        &lines,
        Outcome {
            passed,
            forged,
            done,
            memory_error,
            first_fail,
        },
        oom,
    )
}
