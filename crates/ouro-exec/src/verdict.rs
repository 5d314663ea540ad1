//! Turning what the harness saw into a verdict, in the trusted parent.
//!
//! A pass needs every test reported passed and then a completion marker
//! (`D`), all on the result channel and prefixed with the per-sample nonce.
//! An early `sys.exit`, `os._exit`, `SystemExit` raised from a `finally`, a
//! signal, or fake lines without the nonce therefore never make a pass.
//!
//! Limitation of this judge (`Judge::InProcess`): assert tests run inside the
//! untrusted interpreter, so code that digs the nonce out of the harness's
//! frames, or returns an object whose `__eq__` always holds, can fake test
//! results. It is used only for tests the test compiler cannot isolate (and
//! under `JudgeMode::InProcess`); see [`crate::verdict_isolated`] for the
//! judge whose expected values never enter the sandbox. Stdout tests are
//! always compared here and are immune.

use ouro_data::{IoCase, Verdict};

use crate::compare::outputs_match;
use crate::protocol::{Response, Run};

/// The judged outcome of one sample against one suite.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    pub verdict: Verdict,
    pub tests_passed: Vec<bool>,
    pub error_kind: Option<String>,
}

pub(crate) fn judged(
    verdict: Verdict,
    tests_passed: Vec<bool>,
    error_kind: impl Into<Option<String>>,
) -> Judged {
    Judged {
        verdict,
        tests_passed,
        error_kind: error_kind.into(),
    }
}

/// One parsed line of the result channel.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Line {
    Syntax,
    LoadError(String),
    Exit(i32),
    Loaded,
    SetupError(String),
    Test {
        index: usize,
        ok: bool,
        exc: String,
    },
    Done(usize),
    /// Isolated judging: what call `index` returned, in the plain-data wire form.
    Returned {
        index: usize,
        json: String,
    },
    /// Isolated judging: call `index` raised.
    Raised {
        index: usize,
        exc: String,
    },
    /// Isolated judging: call `index` returned something that is not plain data;
    /// `truth` is its truth value where no code of the sample's decides it.
    NotPlain {
        index: usize,
        truth: Option<bool>,
    },
}

/// Lines carrying the nonce, in order; everything else is ignored.
pub(crate) fn parse_channel(raw: &str, nonce: &str) -> Vec<Line> {
    let mut out = Vec::new();
    for line in raw.lines() {
        let Some(rest) = line.strip_prefix(nonce).and_then(|r| r.strip_prefix(' ')) else {
            continue;
        };
        if let Some(v) = rest.strip_prefix("V ") {
            if let Some((i, json)) = v.split_once(' ') {
                if let Ok(index) = i.parse() {
                    out.push(Line::Returned {
                        index,
                        json: json.to_string(),
                    });
                }
            }
            continue;
        }
        let f: Vec<&str> = rest.split(' ').collect();
        let parsed = match f.as_slice() {
            ["E", "syntax", ..] => Line::Syntax,
            ["L", name] => Line::LoadError(name.to_string()),
            ["X", code] => match code.parse() {
                Ok(c) => Line::Exit(c),
                Err(_) => continue,
            },
            ["U"] => Line::Loaded,
            ["S", name] => Line::SetupError(name.to_string()),
            ["T", i, ok, exc] => match (i.parse(), *ok) {
                (Ok(index), "1") => Line::Test {
                    index,
                    ok: true,
                    exc: exc.to_string(),
                },
                (Ok(index), "0") => Line::Test {
                    index,
                    ok: false,
                    exc: exc.to_string(),
                },
                _ => continue,
            },
            ["R", i, exc] => match i.parse() {
                Ok(index) => Line::Raised {
                    index,
                    exc: exc.to_string(),
                },
                Err(_) => continue,
            },
            ["N", i, _why, truth] => match i.parse() {
                Ok(index) => Line::NotPlain {
                    index,
                    truth: match *truth {
                        "t" => Some(true),
                        "f" => Some(false),
                        _ => None,
                    },
                },
                Err(_) => continue,
            },
            ["D", n] => match n.parse() {
                Ok(n) => Line::Done(n),
                Err(_) => continue,
            },
            _ => continue,
        };
        out.push(parsed);
    }
    out
}

/// The run's deterministic cost: the Python lines the solution executed
/// while its tests ran (the harness's `C` line). `None` when the run did not
/// report exactly one, e.g. it died first or replaced the harness's tracer.
pub(crate) fn lines_executed(run: &Run, nonce: &str) -> Option<u64> {
    let mut found = None;
    for line in run.result.lines() {
        let Some(rest) = line.strip_prefix(nonce).and_then(|r| r.strip_prefix(" C ")) else {
            continue;
        };
        if found.is_some() {
            return None;
        }
        found = Some(rest.parse().ok()?);
    }
    found
}

pub(crate) fn killed_verdict(run: &Run) -> Option<(Verdict, String)> {
    match run.killed.as_deref() {
        Some("output") => Some((Verdict::OutputLimit, "output".into())),
        // Return values too large to send back for judging (over 64 MiB encoded).
        Some("result") => Some((Verdict::OutputLimit, "result".into())),
        Some("cpu") => Some((Verdict::Timeout, "cpu".into())),
        Some("wall") => Some((Verdict::Timeout, "wall".into())),
        _ => None,
    }
}

/// Whether a run killed for time held at least 90% of its memory budget
/// (`memory_mb`, above the interpreter's own size) at its peak. With no swap the
/// last allocations before that wall crawl (reclaim, or a VM backing each fresh
/// page on first touch), so the CPU budget can run out before Python raises
/// MemoryError or the kernel OOM-kills: its memory, not its loop, stopped it.
/// On a loaded 2-core VM a 10 MB-a-step bomb reached 249 of 256 MB in 1.03 s
/// of CPU, with no cgroup limit hit, and was judged a CPU timeout.
pub(crate) fn timed_out_at_memory_wall(runs: &[Run], memory_mb: u64) -> bool {
    memory_mb > 0
        && runs.iter().any(|r| {
            matches!(r.killed.as_deref(), Some("cpu" | "wall"))
                && r.max_rss_kb.saturating_mul(10) >= memory_mb * 1024 * 9
        })
}

pub(crate) fn is_memory_error(name: &str) -> bool {
    name == "MemoryError"
}

pub(crate) fn exception_kind(name: &str) -> String {
    if name == "SystemExit" {
        "exited_early".into()
    } else {
        name.to_string()
    }
}

/// Whether the child got past its setup (it writes `B` before any sample
/// code runs), so that its exit status is the sample's doing.
fn started(run: &Run, nonce: &str) -> bool {
    run.result
        .lines()
        .any(|l| l.strip_prefix(nonce) == Some(" B"))
}

pub(crate) fn abnormal_end(run: &Run, nonce: &str) -> (Verdict, String) {
    match (run.signal, run.exit_code) {
        (Some(sig), _) => (Verdict::Error, format!("signal:{sig}")),
        (None, Some(111)) if !started(run, nonce) => (Verdict::SandboxError, "child_setup".into()),
        _ => (Verdict::Error, "exited_early".into()),
    }
}

/// Judges an assert-script run. `oom` says whether the slot's cgroup saw an
/// OOM kill while the sample ran.
pub fn judge_assert(resp: &Response, nonce: &str, oom: bool) -> Judged {
    if let Some(e) = &resp.test_error {
        return judged(Verdict::SandboxError, vec![], format!("tests:{e}"));
    }
    let ntests = resp.ntests.unwrap_or(0);
    let Some(run) = resp.runs.first() else {
        return judged(
            Verdict::SandboxError,
            vec![false; ntests],
            "no_run".to_string(),
        );
    };
    let lines = parse_channel(&run.result, nonce);
    let mut passed = vec![false; ntests];
    let mut seen = vec![false; ntests];
    let mut first_fail: Option<String> = None;
    let mut forged = false;
    let mut done_after_tests = false;
    let mut memory_error = false;
    let mut tests_seen = 0usize;
    for line in &lines {
        match line {
            Line::Test { index, ok, exc } => {
                if *index >= ntests || seen[*index] || done_after_tests || *index != tests_seen {
                    forged = true;
                    continue;
                }
                seen[*index] = true;
                tests_seen += 1;
                passed[*index] = *ok;
                if !ok {
                    memory_error |= is_memory_error(exc);
                    first_fail.get_or_insert_with(|| exc.clone());
                }
            }
            Line::Done(n) => {
                if *n == ntests && tests_seen == ntests && !done_after_tests {
                    done_after_tests = true;
                } else {
                    forged = true;
                }
            }
            Line::LoadError(n) | Line::SetupError(n) => memory_error |= is_memory_error(n),
            _ => {}
        }
    }
    decide(
        run,
        nonce,
        &lines,
        Outcome {
            passed,
            forged,
            done: done_after_tests,
            memory_error,
            first_fail,
        },
        oom,
    )
}

/// What the result channel said, before the verdict.
pub(crate) struct Outcome {
    pub passed: Vec<bool>,
    /// Lines out of order, duplicated, or after the marker.
    pub forged: bool,
    /// The completion marker came after every expected line.
    pub done: bool,
    pub memory_error: bool,
    pub first_fail: Option<String>,
}

/// The verdict of an assert run, from the channel's facts (shared by the
/// in-process and the isolated judges).
pub(crate) fn decide(run: &Run, nonce: &str, lines: &[Line], o: Outcome, oom: bool) -> Judged {
    let Outcome {
        passed,
        forged,
        done: done_after_tests,
        memory_error,
        first_fail,
    } = o;
    // The kernel's OOM kill is a SIGKILL, which the harness reads as a CPU kill when the
    // child had already used its CPU budget (reclaim at the memory limit can burn it): the
    // cgroup's count is the only witness of which killer it was.
    if oom {
        return judged(Verdict::Oom, passed, "memory".to_string());
    }
    if let Some((v, k)) = killed_verdict(run) {
        return judged(v, passed, k);
    }
    if memory_error {
        return judged(Verdict::Oom, passed, "memory".to_string());
    }
    // The first lines are written before any untrusted code runs, so the
    // first of each kind is authoritative.
    if let Some(first) = lines.first() {
        match first {
            Line::Syntax => return judged(Verdict::Error, passed, "syntax".to_string()),
            Line::LoadError(name) => return judged(Verdict::Error, passed, exception_kind(name)),
            _ => {}
        }
    }
    if let Some(Line::SetupError(name)) = lines.iter().find(|l| matches!(l, Line::SetupError(_))) {
        return judged(Verdict::Error, passed, exception_kind(name));
    }
    if forged {
        return judged(Verdict::Fail, passed, "forged_result".to_string());
    }
    if !done_after_tests || lines.first() != Some(&Line::Loaded) {
        let (v, k) = abnormal_end(run, nonce);
        return judged(v, passed, k);
    }
    if run.signal.is_some() || run.exit_code != Some(0) {
        let (v, k) = abnormal_end(run, nonce);
        return judged(v, passed, k);
    }
    if passed.iter().all(|&p| p) {
        judged(Verdict::Pass, passed, None)
    } else {
        judged(
            Verdict::Fail,
            passed,
            first_fail.map(|e| exception_kind(&e)),
        )
    }
}

/// Judges stdin/stdout cases: each case ran in its own child, in order.
pub fn judge_io(resp: &Response, cases: &[IoCase], nonce: &str, oom: bool) -> Judged {
    let mut passed = vec![false; cases.len()];
    let mut first_problem: Option<(Verdict, String)> = None;
    for (i, case) in cases.iter().enumerate() {
        let Some(run) = resp.runs.get(i) else {
            // Cases after a timeout are not run.
            break;
        };
        let lines = parse_channel(&run.result, nonce);
        // An OOM kill can look like a CPU kill (see `decide`).
        let problem = if oom {
            Some((Verdict::Oom, "memory".into()))
        } else if let Some(k) = killed_verdict(run) {
            Some(k)
        } else {
            match lines.first() {
                Some(Line::Syntax) => Some((Verdict::Error, "syntax".into())),
                Some(Line::LoadError(n)) if is_memory_error(n) => {
                    Some((Verdict::Oom, "memory".into()))
                }
                Some(Line::LoadError(n)) => Some((Verdict::Error, exception_kind(n))),
                Some(Line::Exit(0)) if run.exit_code == Some(0) && run.signal.is_none() => None,
                Some(Line::Exit(c)) if *c != 0 => Some((Verdict::Error, format!("exit:{c}"))),
                // `os._exit(0)` skips the harness's exit line; the program ended by itself
                // with status 0, so its output is judged, as a judge reading stdout would
                // (competitive programs flush and `os._exit` to skip teardown).
                _ if run.exit_code == Some(0) && run.signal.is_none() && started(run, nonce) => {
                    None
                }
                _ => Some(abnormal_end(run, nonce)),
            }
        };
        match problem {
            None => passed[i] = outputs_match(&run.stdout, &case.output),
            Some(p) => {
                if first_problem.is_none() {
                    first_problem = Some(p);
                }
            }
        }
    }
    if let Some((v, k)) = first_problem {
        return judged(v, passed, k);
    }
    if !passed.is_empty() && passed.iter().all(|&p| p) {
        judged(Verdict::Pass, passed, None)
    } else if passed.is_empty() {
        judged(Verdict::SandboxError, passed, "no_cases".to_string())
    } else {
        judged(Verdict::Fail, passed, "wrong_answer".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(result: &str, exit_code: Option<i32>, signal: Option<i32>) -> Run {
        Run {
            exit_code,
            signal,
            killed: None,
            cpu_ms: 1.0,
            wall_ms: 1.0,
            max_rss_kb: 1,
            result: result.into(),
            stdout: String::new(),
            stderr_tail: String::new(),
            leftovers: 0,
        }
    }

    fn resp(r: Run, ntests: usize) -> Response {
        Response {
            runs: vec![r],
            ntests: Some(ntests),
            test_error: None,
        }
    }

    const N: &str = "abc";

    #[test]
    fn a_time_kill_at_the_memory_wall_counts_as_memory() {
        let killed = |how: &str, rss_mb: u64| Run {
            killed: Some(how.into()),
            max_rss_kb: rss_mb * 1024,
            ..run("", None, Some(9))
        };
        // The CI case: 249 MB of a 256 MB budget when the CPU budget ran out.
        assert!(timed_out_at_memory_wall(&[killed("cpu", 249)], 256));
        assert!(timed_out_at_memory_wall(&[killed("wall", 231)], 256));
        // A loop that holds little memory is a plain timeout.
        assert!(!timed_out_at_memory_wall(&[killed("cpu", 200)], 256));
        // Only time kills: an output kill or a clean exit near the budget is not.
        assert!(!timed_out_at_memory_wall(&[killed("output", 255)], 256));
        let clean = Run {
            max_rss_kb: 255 * 1024,
            ..run("", Some(0), None)
        };
        assert!(!timed_out_at_memory_wall(&[clean], 256));
        // No budget, no wall.
        assert!(!timed_out_at_memory_wall(&[killed("cpu", 249)], 0));
    }

    #[test]
    fn all_tests_then_marker_is_a_pass() {
        let r = run("abc U\nabc T 0 1 -\nabc T 1 1 -\nabc D 2\n", Some(0), None);
        let j = judge_assert(&resp(r, 2), N, false);
        assert_eq!(j.verdict, Verdict::Pass);
        assert_eq!(j.tests_passed, vec![true, true]);
    }

    #[test]
    fn missing_marker_is_not_a_pass() {
        let r = run("abc U\nabc T 0 1 -\nabc T 1 1 -\n", Some(0), None);
        let j = judge_assert(&resp(r, 2), N, false);
        assert_eq!(j.verdict, Verdict::Error);
        assert_eq!(j.error_kind.as_deref(), Some("exited_early"));
    }

    #[test]
    fn lines_without_the_nonce_are_ignored() {
        let r = run(
            "xyz U\nxyz T 0 1 -\nxyz D 1\nU\nT 0 1 -\nD 1\n",
            Some(0),
            None,
        );
        let j = judge_assert(&resp(r, 1), N, false);
        assert_ne!(j.verdict, Verdict::Pass);
    }

    #[test]
    fn duplicated_test_lines_are_forgery() {
        let r = run(
            "abc U\nabc T 0 0 AssertionError\nabc T 0 1 -\nabc D 1\n",
            Some(0),
            None,
        );
        let j = judge_assert(&resp(r, 1), N, false);
        assert_eq!(j.verdict, Verdict::Fail);
    }

    #[test]
    fn marker_before_all_tests_is_forgery() {
        let r = run("abc U\nabc D 2\nabc T 0 1 -\nabc T 1 1 -\n", Some(0), None);
        assert_ne!(judge_assert(&resp(r, 2), N, false).verdict, Verdict::Pass);
    }

    #[test]
    fn failing_test_is_fail_with_exception_kind() {
        let r = run(
            "abc U\nabc T 0 1 -\nabc T 1 0 AssertionError\nabc D 2\n",
            Some(0),
            None,
        );
        let j = judge_assert(&resp(r, 2), N, false);
        assert_eq!(j.verdict, Verdict::Fail);
        assert_eq!(j.tests_passed, vec![true, false]);
        assert_eq!(j.error_kind.as_deref(), Some("AssertionError"));
    }

    #[test]
    fn signal_death_is_error_signal() {
        let r = run("abc U\nabc T 0 1 -\n", None, Some(11));
        let j = judge_assert(&resp(r, 2), N, false);
        assert_eq!(
            (j.verdict, j.error_kind.as_deref()),
            (Verdict::Error, Some("signal:11"))
        );
    }

    #[test]
    fn syntax_error_and_load_errors() {
        let r = run("abc E syntax SyntaxError\n", Some(0), None);
        assert_eq!(
            judge_assert(&resp(r, 1), N, false).error_kind.as_deref(),
            Some("syntax")
        );
        let r = run("abc L SystemExit\n", Some(0), None);
        assert_eq!(
            judge_assert(&resp(r, 1), N, false).error_kind.as_deref(),
            Some("exited_early")
        );
        let r = run("abc L MemoryError\n", Some(0), None);
        assert_eq!(judge_assert(&resp(r, 1), N, false).verdict, Verdict::Oom);
    }

    #[test]
    fn setup_exit_code_counts_only_before_the_sample_started() {
        let r = run("", Some(111), None);
        assert_eq!(
            judge_assert(&resp(r, 1), N, false).verdict,
            Verdict::SandboxError
        );
        let r = run("abc B\nabc U\n", Some(111), None);
        let j = judge_assert(&resp(r, 1), N, false);
        assert_eq!(
            (j.verdict, j.error_kind.as_deref()),
            (Verdict::Error, Some("exited_early"))
        );
    }

    #[test]
    fn cgroup_oom_wins_over_a_cpu_kill() {
        // Killed by SIGKILL after its CPU budget: the harness says "cpu", the cgroup says OOM.
        let mut r = run("abc B\nabc U\n", None, Some(9));
        r.killed = Some("cpu".into());
        let j = judge_assert(&resp(r.clone(), 1), N, true);
        assert_eq!(
            (j.verdict, j.error_kind.as_deref()),
            (Verdict::Oom, Some("memory"))
        );
        assert_eq!(
            judge_assert(&resp(r, 1), N, false).verdict,
            Verdict::Timeout
        );
    }

    #[test]
    fn cgroup_oom_wins_over_marker() {
        let r = run("abc U\nabc T 0 1 -\nabc D 1\n", Some(0), None);
        assert_eq!(judge_assert(&resp(r, 1), N, true).verdict, Verdict::Oom);
    }

    #[test]
    fn io_cases_compare_stdout_in_parent() {
        let mut r1 = run("abc X 0\n", Some(0), None);
        r1.stdout = "3\n".into();
        let mut r2 = run("abc X 0\n", Some(0), None);
        r2.stdout = "4\n".into();
        let resp = Response {
            runs: vec![r1, r2],
            ntests: None,
            test_error: None,
        };
        let cases = vec![
            IoCase {
                input: "1 2".into(),
                output: "3".into(),
            },
            IoCase {
                input: "2 3".into(),
                output: "5".into(),
            },
        ];
        let j = judge_io(&resp, &cases, N, false);
        assert_eq!(j.verdict, Verdict::Fail);
        assert_eq!(j.tests_passed, vec![true, false]);
    }
}
