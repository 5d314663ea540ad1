//! Every LintSeq state checked by pyflakes, an independent linter.
//!
//! Needs `OURO_PYTHON` pointing at a Python with pyflakes (CI's `.venv`);
//! skipped with a message otherwise. `scripts/lintseq_pyflakes_check.py`
//! sorts pyflakes' undefined-name messages into the categories where pylint
//! (which ouro's linter reproduces, as the reference LintSeq runs it)
//! accepts the name; the test prints every pyflakes category and each
//! accepted disagreement with its count, and fails on any other error
//! (syntax errors, unexplained undefined names). With pylint importable in
//! `OURO_PYTHON`, the states behind accepted disagreements are also run
//! through pylint, which must find them all clean.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use ouro_edits::replay::apply_diff;
use ouro_edits::sampling::{diffs_of_states, sample_edit_path, states, SplitMix64};

fn all_states(programs: &[String], per_program: u64) -> Vec<String> {
    states_under(programs, per_program, ouro_edits::lintseq::lint_lines)
}

fn states_under(programs: &[String], per_program: u64, lint: fn(&str) -> Vec<u32>) -> Vec<String> {
    let mut out = Vec::new();
    for p in programs {
        for seed in 0..per_program {
            let mut rng = SplitMix64::new(seed);
            let Some(path) = sample_edit_path(p, &mut rng, lint) else {
                continue;
            };
            let diffs = diffs_of_states(&states(p, &path));
            let mut lines: Vec<String> = Vec::new();
            // Every intermediate state; the last one is the program itself.
            for (i, d) in diffs.iter().enumerate().take(diffs.len().saturating_sub(1)) {
                lines = apply_diff(&lines, d, i).unwrap();
                out.push(lines.join("\n") + "\n");
            }
        }
    }
    out
}

/// Runs the check script over `states`; `None` when `OURO_PYTHON` is unset.
fn check(states: &[String]) -> Option<serde_json::Value> {
    let Ok(python) = std::env::var("OURO_PYTHON") else {
        eprintln!("OURO_PYTHON not set (a python with pyflakes): skipping the pyflakes check");
        return None;
    };
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/lintseq_pyflakes_check.py"
    );
    let mut child = Command::new(&python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "OURO_PYTHON={python} does not run ({e}); tests run in {}, so give an \
                 absolute path",
                env!("CARGO_MANIFEST_DIR")
            )
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&serde_json::to_vec(states).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "pyflakes check failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!(
        "pyflakes over {} states: categories {}",
        report["states"], report["categories"]
    );
    eprintln!(
        "accepted disagreements (pylint accepts, pyflakes reports), by category: {} in {} states",
        report["accepted"], report["accepted_states"]
    );
    if let Some(p) = report.get("pylint") {
        eprintln!("pylint over those states: {p}");
        assert_eq!(
            p["clean"], p["checked"],
            "pylint flags states ouro accepted: {}",
            p["dirty"]
        );
    }
    assert_eq!(
        report["errors"],
        serde_json::json!({}),
        "pyflakes errors outside the accepted categories: {}",
        report["examples"]
    );
    Some(report)
}

/// The fixture programs plus 150 bundled reference solutions; `None` (with
/// a note) when `OURO_PYTHON` is unset.
fn test_programs() -> Option<Vec<String>> {
    if std::env::var("OURO_PYTHON").is_err() {
        eprintln!("OURO_PYTHON not set (a python with pyflakes): skipping the pyflakes check");
        return None;
    }
    let mut programs: Vec<String> = common::PROGRAMS.iter().map(|s| s.to_string()).collect();
    let problems = ouro_problems::generate(&ouro_problems::GenerateOptions {
        count: 150,
        ..Default::default()
    })
    .unwrap();
    programs.extend(problems.into_iter().filter_map(|p| p.reference_solution));
    Some(programs)
}

#[test]
fn pyflakes_finds_no_errors_in_any_state() {
    let Some(programs) = test_programs() else {
        return;
    };
    check(&all_states(&programs, 5));
}

/// `--strict` states: pyflakes finds no undefined name or local at all,
/// not even the ones pylint (and so the default) accepts.
#[test]
fn strict_states_have_no_pyflakes_disagreement() {
    let Some(mut programs) = test_programs() else {
        return;
    };
    // Loop-carried accumulators: the default (pylint) leaves states such as
    // `balance += op` with `balance = 0` deleted; strict must not.
    programs.extend(LOOP_CARRIED.iter().map(|s| s.to_string()));
    let default = check(&all_states(&programs, 8)).unwrap();
    assert_ne!(
        default["accepted"],
        serde_json::json!({}),
        "the default keeps such states"
    );
    let report = check(&states_under(
        &programs,
        8,
        ouro_edits::lintseq::lint_lines_strict,
    ))
    .unwrap();
    assert_eq!(
        report["accepted"],
        serde_json::json!({}),
        "{}",
        report["examples"]
    );
}

const LOOP_CARRIED: &[&str] = &[
    "def below_zero(operations):\n    balance = 0\n    for op in operations:\n        balance += op\n        if balance < 0:\n            return True\n    return False\n",
    "def running_max(numbers):\n    running = None\n    result = []\n    for n in numbers:\n        if running is None:\n            running = n\n        else:\n            running = max(running, n)\n        result.append(running)\n    return result\n",
    "def digits_sum(n):\n    total = 0\n    count = 0\n    for ch in str(n):\n        total = total + int(ch)\n        count += 1\n    return total * count\n",
];

/// The same check over HumanEval (164 programs x 5 sequences, ~4,500
/// states; about 15 s, more with pylint importable). Opt-in, needs the data:
/// `scripts/fetch-humaneval.sh && OURO_PYTHON=$PWD/.venv/bin/python cargo test
/// -p ouro-edits --test pyflakes_check -- --ignored --nocapture`
#[test]
#[ignore]
fn pyflakes_on_humaneval_states_reports_disagreements_by_category() {
    let Some(programs) = common::humaneval_programs() else {
        eprintln!("HumanEval not found (scripts/fetch-humaneval.sh): skipping");
        return;
    };
    let programs: Vec<String> = programs.into_iter().map(|(_, p)| p).collect();
    let Some(report) = check(&all_states(&programs, 5)) else {
        return;
    };
    for (category, example) in report["examples"].as_object().unwrap() {
        eprintln!(
            "example of {category}: {}\n{}",
            example["message"],
            example["state"].as_str().unwrap_or("")
        );
    }
    eprintln!("--strict:");
    let strict = check(&states_under(
        &programs,
        5,
        ouro_edits::lintseq::lint_lines_strict,
    ))
    .unwrap();
    assert_eq!(
        strict["accepted"],
        serde_json::json!({}),
        "{}",
        strict["examples"]
    );
}
