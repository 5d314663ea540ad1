//! What a rerun into the same directory, or a resume, may reuse: nothing whose
//! inputs changed. Limits, tests and input files that differ from the first run's
//! are judged again or refused, never silently kept.

use std::path::Path;

use ouro_e2e::{arg, ouro, ouro_ok, stderr};

#[test]
fn executing_again_under_other_limits_replaces_the_verdicts_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let problems = ouro_e2e::humaneval_mini_problems(&d.join("problems"));
    let samples = ouro_e2e::humaneval0_samples(d, &problems, "samples", "    return a + b\n");
    let out = d.join("executions");
    let execute = |wall_ms: &str| {
        ouro(&[
            "execute",
            "--no-progress",
            "--workers",
            "1",
            "--wall-ms",
            wall_ms,
            "--problems",
            &arg(&problems),
            "--samples",
            &arg(&samples),
            "--out",
            &arg(&out),
        ])
    };
    let first = execute("4000");
    assert!(first.status.success(), "{}", stderr(&first));
    let before: Vec<ouro_data::Execution> = ouro_data::shard::read_dir(&out).unwrap();
    let again = execute("3000");
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("replaced 1 verdicts"),
        "{}",
        stderr(&again)
    );
    let after: Vec<ouro_data::Execution> = ouro_data::shard::read_dir(&out).unwrap();
    assert_eq!(after.len(), before.len(), "{after:#?}");
    assert!(after.iter().all(|e| e.limits.wall_ms == 3000), "{after:#?}");
}

#[test]
fn executing_again_after_the_tests_changed_judges_again() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let write = |name: &str, expected: &str| {
        let path = d.join(format!("{name}.jsonl"));
        std::fs::write(
            &path,
            format!(
                "{{\"task_id\": \"HumanEval/0\", \"prompt\": \"def f(x):\\n\", \"canonical_solution\": \"    return x + 1\\n\", \"entry_point\": \"f\", \"test\": \"def check(candidate):\\n    assert candidate(1) == {expected}\\n\"}}\n"
            ),
        )
        .unwrap();
        let out = d.join(name);
        ouro_ok(&[
            "import",
            "problems",
            "--format",
            "humaneval",
            &arg(&path),
            "--out",
            &arg(&out),
        ]);
        out
    };
    let (right, wrong) = (write("right", "2"), write("wrong", "3"));
    let samples = ouro_e2e::humaneval0_samples(d, &right, "samples", "    return x + 1\n");
    let out = d.join("executions");
    let verdicts = |problems: &Path| {
        let o = ouro(&[
            "execute",
            "--no-progress",
            "--workers",
            "1",
            "--problems",
            &arg(problems),
            "--samples",
            &arg(&samples),
            "--out",
            &arg(&out),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let recs: Vec<ouro_data::Execution> = ouro_data::shard::read_dir(&out).unwrap();
        (
            recs.iter().map(|e| e.verdict).collect::<Vec<_>>(),
            stderr(&o),
        )
    };
    assert_eq!(verdicts(&right).0, vec![ouro_data::Verdict::Pass]);
    let (after, err) = verdicts(&wrong);
    assert_eq!(after, vec![ouro_data::Verdict::Fail], "{err}");
    assert!(err.contains("replaced 1 verdicts"), "{err}");
}

#[test]
fn a_resume_after_an_imported_file_changed_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("problems.jsonl"),
        "{\"task_id\": \"T/0\", \"prompt\": \"def double(xs):\\n\", \"canonical_solution\": \"    return [2 * x for x in xs]\\n\", \"entry_point\": \"double\", \"test\": \"def check(candidate):\\n    assert candidate([1, 2]) == [2, 4]\\n\"}\n",
    )
    .unwrap();
    let gens = d.join("gens.jsonl");
    let generation = |body: &str| {
        let line = serde_json::json!({"problem_id": "T/0", "completion": format!("def double(xs):\n    return {body}\n")});
        std::fs::write(&gens, format!("{line}\n")).unwrap();
    };
    generation("[x * 2 for x in xs]");
    let pipeline = d.join("pipe.toml");
    std::fs::write(
        &pipeline,
        format!(
            "out = \"{}\"\n[problems.import]\nformat = \"humaneval\"\npath = \"{}\"\n\
             [samples.import]\nformat = \"jsonl\"\npath = \"{}\"\n[execute]\ncpu_ms = 3000\n\
             [build]\nconfigs = [\"sft\"]\n[decontaminate]\nbenchmarks = []\n",
            d.join("run").display(),
            d.join("problems.jsonl").display(),
            gens.display()
        ),
    )
    .unwrap();
    let p = arg(&pipeline);
    ouro_ok(&["run", "-q", &p]);
    // The same content resumes.
    ouro_ok(&["run", "-q", &p, "--resume"]);
    generation("[x * 3 for x in xs]");
    let o = ouro(&["run", "-q", &p, "--resume"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the run's input samples.import (")
            && err.contains("changed since the run started"),
        "{err}"
    );
    generation("[x * 2 for x in xs]");

    // While another process writes the run, or the executions directory, a second
    // one is refused (two at once interleaved their journals mid-line).
    let held = ouro_data::fsutil::try_lock(&d.join("run"), ".ouro-run.lock")
        .unwrap()
        .expect("free");
    let o = ouro(&["run", "-q", &p, "--resume"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is being written by another `ouro run`"),
        "{}",
        stderr(&o)
    );
    drop(held);
    ouro_ok(&["run", "-q", &p, "--resume"]);
    let executions = d.join("elsewhere");
    let _held = ouro_data::fsutil::try_lock_dir(&executions)
        .unwrap()
        .expect("free");
    let o = ouro(&[
        "execute",
        "--problems",
        &arg(&d.join("run/round-00/problems")),
        "--samples",
        &arg(&d.join("run/round-00/samples")),
        "--out",
        &arg(&executions),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is being written by another `ouro execute`"),
        "{}",
        stderr(&o)
    );
}
