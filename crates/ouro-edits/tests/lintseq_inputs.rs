//! What `lintseq::run` accepts besides problems: samples filtered by their executions,
//! SFT sets, and the dataset directories `ouro build` writes.

mod common;

use ouro_data::{Execution, Sample, SftRecord, Suite, Verdict};
use ouro_edits::input::{detect_kind, shard_dir, InputKind};
use ouro_edits::lintseq::{run, LintseqOptions};

const GOOD: &str = "def f(x):\n    y = x + 1\n    z = y * 2\n    return z\n";
const BAD: &str = "def f(x):\n    y = x - 1\n    return y\n";

fn sample(id: &str, code: &str) -> Sample {
    common::sample(id, "p1", code)
}

fn execution(sample: &str, suite: Suite, verdict: Verdict) -> Execution {
    common::execution(sample, "p1", suite, verdict)
}

fn opts() -> LintseqOptions {
    LintseqOptions {
        sequences_per_program: 3,
        progress: false,
        ..Default::default()
    }
}

fn lintseq_rows(out: &std::path::Path) -> Vec<ouro_data::LintseqRecord> {
    ouro_data::shard::read_dir(out.join("lintseq")).unwrap()
}

#[test]
fn executions_keep_only_samples_that_pass_their_filter_suite() {
    let dir = tempfile::tempdir().unwrap();
    let (sdir, edir) = (dir.path().join("samples"), dir.path().join("executions"));
    let samples = vec![
        sample("pass", GOOD),
        sample("fail", BAD),
        // Passes the audit suite only: not a filter pass, so not kept.
        sample("audit-only", BAD),
        sample("never-run", BAD),
    ];
    let executions = vec![
        execution("pass", Suite::Filter, Verdict::Pass),
        execution("pass", Suite::Audit, Verdict::Fail),
        execution("fail", Suite::Filter, Verdict::Fail),
        execution("audit-only", Suite::Filter, Verdict::Fail),
        execution("audit-only", Suite::Audit, Verdict::Pass),
    ];
    ouro_data::shard::write_records(sdir.join("part-0.parquet"), &samples).unwrap();
    ouro_data::shard::write_records(edir.join("part-0.parquet"), &executions).unwrap();

    let out = dir.path().join("out");
    let options = LintseqOptions {
        executions: Some(edir.clone()),
        ..opts()
    };
    let stats = run(&sdir, &out, &options).unwrap();
    assert_eq!(stats.not_passing, 3);
    assert_eq!(stats.input_records, 4);
    assert_eq!(stats.programs, 1);
    let rows = lintseq_rows(&out);
    assert!(!rows.is_empty());
    // Only the passing program's lines are ever inserted.
    assert!(
        rows.iter().all(|r| r.completion.contains("z = y * 2")),
        "{rows:?}"
    );

    // Without executions every sample with code is used, and the three copies of BAD
    // (one prompt, one program) are sequenced once.
    let all = run(&sdir, &dir.path().join("all"), &opts()).unwrap();
    assert_eq!((all.programs, all.not_passing), (2, 0));

    // A directory of something else given as executions is named as such.
    let wrong = LintseqOptions {
        executions: Some(sdir.clone()),
        ..opts()
    };
    let e = run(&sdir, &dir.path().join("y"), &wrong).unwrap_err();
    assert!(e.to_string().contains("not an executions shard"), "{e}");

    // Executions only make sense for samples.
    let e = run(&edir, &dir.path().join("x"), &options).unwrap_err();
    assert!(e.to_string().contains("executions"), "{e}");
}

#[test]
fn an_sft_set_is_read_as_instruction_and_program() {
    let dir = tempfile::tempdir().unwrap();
    let built = dir.path().join("build");
    let records = vec![
        SftRecord {
            prompt: "Write f.".into(),
            completion: GOOD.into(),
            problem_id: "p1".into(),
            sample_id: Some("s1".into()),
            round: 1,
            origin: "sample".into(),
            score: None,
            weight_spans: vec![],
        },
        SftRecord {
            prompt: "Write f again.".into(),
            completion: GOOD.into(),
            problem_id: "p2".into(),
            sample_id: None,
            round: 0,
            origin: "reference".into(),
            score: None,
            weight_spans: vec![],
        },
    ];
    ouro_data::hf::write_config(&built, "sft", &records).unwrap();

    // The dataset directory stands for its one config.
    assert_eq!(shard_dir(&built).unwrap(), built.join("sft"));
    assert_eq!(detect_kind(&built.join("sft")).unwrap(), InputKind::Sft);
    let out = dir.path().join("out");
    let stats = run(&built, &out, &opts()).unwrap();
    assert_eq!(stats.programs, 2);
    let rows = lintseq_rows(&out);
    let prompts: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r.prompt.as_str()).collect();
    assert_eq!(
        prompts,
        ["Write f again.", "Write f."].into_iter().collect()
    );
    let problems: std::collections::BTreeSet<Option<&str>> =
        rows.iter().map(|r| r.problem_id.as_deref()).collect();
    assert_eq!(problems, [Some("p1"), Some("p2")].into_iter().collect());

    // Two configs: which one is meant is not guessed.
    ouro_data::hf::write_config(&built, "sft_extra", &records).unwrap();
    let e = run(&built, &dir.path().join("out2"), &opts()).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("2 configs") && msg.contains("sft_extra"),
        "{msg}"
    );

    // An empty directory says what it looked for.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = run(&empty, &dir.path().join("out3"), &opts()).unwrap_err();
    assert!(e.to_string().contains("no *.parquet shards"), "{e}");
}

#[test]
fn samples_take_their_problems_prompts_and_samples_of_other_problems_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let (sdir, pdir) = (dir.path().join("samples"), dir.path().join("problems"));
    let mut problem: ouro_data::Problem = serde_json::from_value(serde_json::json!({
        "problem_id": "p1", "source": "t", "prompt": "Write f.", "entry_point": "f",
        "language": "python", "starter_code": "", "reference_solution": null,
        "tests": {"kind": "assert_script", "script": "assert f(1) == 4"},
        "audit_tests": null, "difficulty": null, "tags": [], "split": "train"
    }))
    .unwrap();
    ouro_data::shard::write_records(pdir.join("part-0.parquet"), std::slice::from_ref(&problem))
        .unwrap();
    let samples = vec![sample("mine", GOOD), common::sample("theirs", "p2", BAD)];
    ouro_data::shard::write_records(sdir.join("part-0.parquet"), &samples).unwrap();
    let options = LintseqOptions {
        problems: Some(pdir.clone()),
        ..opts()
    };
    let stats = run(&sdir, &dir.path().join("out"), &options).unwrap();
    assert_eq!(stats.programs, 1);
    assert_eq!(stats.bad.len(), 1, "{:?}", stats.bad);
    assert!(
        stats.bad[0].reason.contains("'p2' is not in"),
        "{:?}",
        stats.bad
    );
    let rows = lintseq_rows(&dir.path().join("out"));
    assert!(
        rows.iter().all(|r| r.prompt.contains("Write f.")),
        "{rows:?}"
    );

    // Problems of another set altogether: an error, not a dataset of empty instructions.
    problem.problem_id = "other".into();
    ouro_data::shard::write_records(pdir.join("part-0.parquet"), &[problem]).unwrap();
    let e = run(&sdir, &dir.path().join("out2"), &options).unwrap_err();
    assert!(e.to_string().contains("none of the 2 samples"), "{e}");
}
