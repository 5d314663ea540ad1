//! Rows in the continuation format (what follows the prompt), built from the
//! binary: a program that no longer starts with the prompt is never written
//! whole after it.

use std::path::Path;

use ouro_e2e::{arg, ouro_ok};

/// The body that solves [`problem_and_samples`]'s problem.
const RIGHT: &str = "    t = \"!\"\n    return s + t * k\n";

/// A HumanEval-style problem whose mutants include one of the signature (its default
/// `k=1`, which the tests rely on), and
/// `bodies` as its HumanEval-style (body-only) generations, imported and executed.
fn problem_and_samples(d: &Path, bodies: &[&str]) -> (String, String, String) {
    std::fs::write(
        d.join("p.jsonl"),
        r#"{"task_id":"T/0","prompt":"def f(s, k=1):\n    \"\"\"Return s + t * k.\"\"\"\n","canonical_solution":"    t = \"!\"\n    return s + t * k\n","test":"def check(candidate):\n    assert candidate(\"a\") == \"a!\"\n","entry_point":"f"}
"#,
    )
    .unwrap();
    let generations: String = bodies
        .iter()
        .map(|b| {
            format!(
                "{}\n",
                serde_json::json!({"task_id": "T/0", "completion": b})
            )
        })
        .collect();
    std::fs::write(d.join("g.jsonl"), generations).unwrap();
    let (problems, samples, executions) = (d.join("probs"), d.join("s"), d.join("ex"));
    ouro_ok(&[
        "import",
        "problems",
        "-q",
        "--format",
        "humaneval",
        &arg(&d.join("p.jsonl")),
        "--out",
        &arg(&problems),
    ]);
    ouro_ok(&[
        "import",
        "generations",
        "-q",
        "--format",
        "human-eval",
        &arg(&d.join("g.jsonl")),
        "--problems",
        &arg(&problems),
        "--out",
        &arg(&samples),
    ]);
    ouro_e2e::execute_ok(&arg(&problems), &arg(&samples), &arg(&executions));
    (arg(&problems), arg(&samples), arg(&executions))
}

#[test]
fn injected_error_mutants_of_the_signature_are_left_out_of_continuation_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (problems, samples, executions) = problem_and_samples(d, &[RIGHT]);
    let (mutants, mutant_runs, out) = (arg(&d.join("mut")), arg(&d.join("mutex")), d.join("ds"));
    ouro_ok(&[
        "build",
        "mutants",
        "-q",
        "--problems",
        &problems,
        "--samples",
        &samples,
        "--executions",
        &executions,
        "--out",
        &mutants,
    ]);
    ouro_e2e::execute_ok(&problems, &mutants, &mutant_runs);
    ouro_ok(&[
        "build",
        "dpo",
        "-q",
        "--problems",
        &problems,
        "--samples",
        &samples,
        "--samples",
        &mutants,
        "--executions",
        &executions,
        "--executions",
        &mutant_runs,
        "--pair-kinds",
        "injected_error",
        "--completion-format",
        "continuation",
        "--max-pairs-per-problem",
        "10",
        "--out",
        &arg(&out),
    ]);
    let rows: Vec<ouro_data::DpoRecord> = ouro_data::shard::read_dir(out.join("dpo")).unwrap();
    assert!(!rows.is_empty());
    for r in &rows {
        // Both sides continue `def f(s, k=1):` and its docstring: neither holds a signature.
        assert!(
            !r.chosen.contains("def ") && !r.rejected.contains("def "),
            "{r:#?}"
        );
        assert_eq!(r.chosen_spans.len(), 1, "{r:#?}");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("dpo/_build_report.json")).unwrap())
            .unwrap();
    assert!(
        report["selection"]["mutants_not_continuations"]
            .as_u64()
            .unwrap()
            >= 1,
        "{}",
        report["selection"]
    );
}

#[test]
fn lintseq_on_an_sft_set_of_continuations_says_which_format_it_needs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (problems, samples, executions) = problem_and_samples(d, &[RIGHT]);
    let sft = arg(&d.join("sft"));
    ouro_ok(&[
        "build",
        "sft",
        "-q",
        "--problems",
        &problems,
        "--samples",
        &samples,
        "--executions",
        &executions,
        "--completion-format",
        "continuation",
        "--builtin-benchmarks",
        "none",
        "--out",
        &sft,
    ]);
    let out = d.join("ls");
    let o = ouro_e2e::ouro(&["lintseq", "--input", &sft, "--out", &arg(&out)]);
    let err = ouro_e2e::stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("every one of its") && err.contains("--completion-format code"),
        "{err}"
    );
    assert!(!out.exists(), "nothing written");
}

#[test]
fn fait_places_spans_on_a_body_only_completion() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // HumanEval-style generations: the body alone, one right and one wrong.
    let wrong = RIGHT.replace("s + t", "t + s");
    assert_ne!(wrong, RIGHT);
    let (problems, samples, executions) = problem_and_samples(d, &[RIGHT, &wrong]);
    let out = d.join("fait");
    ouro_ok(&[
        "fait",
        "-q",
        "--executions",
        &executions,
        "--samples",
        &samples,
        "--problems",
        &problems,
        "--out",
        &arg(&out),
    ]);
    let pairs: Vec<ouro_data::DpoRecord> = ouro_data::shard::read_dir(out.join("dpo")).unwrap();
    assert_eq!(pairs.len(), 1, "{pairs:#?}");
    let p = &pairs[0];
    for (text, spans) in [
        (&p.chosen, &p.chosen_spans),
        (&p.rejected, &p.rejected_spans),
    ] {
        assert!(!spans.is_empty(), "{p:#?}");
        let chars: Vec<char> = text.chars().collect();
        let marked: String = spans
            .iter()
            .flat_map(|s| chars[s.start as usize..s.end as usize].iter())
            .collect();
        assert!(marked.contains("return"), "{marked:?} of {text:?}");
    }
    // The card names both configs, so `datasets` reads each apart (without one,
    // `load_dataset(out)` mixed sft and dpo rows).
    let Some(python) = ouro_e2e::interop_python() else {
        return;
    };
    let o = std::process::Command::new(python)
        .args([
            "-c",
            "import sys, datasets\n\
             datasets.disable_progress_bars()\n\
             for c in ('sft', 'dpo'):\n\
             \x20   d = datasets.load_dataset(sys.argv[1], c, split='train')\n\
             \x20   print(c, d.num_rows, sorted(d.column_names))",
            &arg(&out),
        ])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", ouro_e2e::stderr(&o));
    assert!(printed.contains("sft 1 ["), "{printed}");
    assert!(
        printed.contains("dpo 1 [") && printed.contains("'rejected_spans'"),
        "{printed}"
    );
}
