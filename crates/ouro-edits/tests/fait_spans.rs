//! FAIT over shards: nearest failing neighbour, spans on both completions.

mod common;

use common::sample;
use ouro_data::{Execution, Problem, Sample, Suite, Tests, Verdict};
use ouro_edits::fait::{build, run, FaitOptions};

fn problem(id: &str) -> Problem {
    Problem {
        problem_id: id.into(),
        source: "test".into(),
        prompt: format!("Write {id}."),
        entry_point: "f".into(),
        language: "python".into(),
        starter_code: String::new(),
        reference_solution: None,
        tests: Tests::AssertScript {
            script: "assert f(1) == 2".into(),
        },
        audit_tests: None,
        difficulty: None,
        tags: vec![],
        split: "train".into(),
    }
}

fn execution(sample: &str, problem: &str, verdict: Verdict) -> Execution {
    common::execution(sample, problem, Suite::Filter, verdict)
}

fn fixture() -> (Vec<Problem>, Vec<Sample>, Vec<Execution>) {
    let problems = vec![problem("p1"), problem("p2")];
    let samples = vec![
        sample("good", "p1", "def f(x):\n    y = x + 1\n    return y\n"),
        sample("near", "p1", "def f(x):\n    y = x - 1\n    return y\n"),
        sample(
            "far",
            "p1",
            "import sys\nprint(sys.argv)\nwhile True:\n    pass\n",
        ),
        sample("lonely", "p2", "def f(x):\n    return x + 1\n"),
        sample("other-problem-fail", "p2-not", "def f(x):\n    return x\n"),
    ];
    let executions = vec![
        execution("good", "p1", Verdict::Pass),
        execution("near", "p1", Verdict::Fail),
        execution("far", "p1", Verdict::Error),
        execution("lonely", "p2", Verdict::Pass),
        execution("other-problem-fail", "p2-not", Verdict::Fail),
    ];
    (problems, samples, executions)
}

/// The three input shard directories under `dir`: problems, samples, executions.
fn write_inputs(
    dir: &std::path::Path,
    problems: &[Problem],
    samples: &[Sample],
    executions: &[Execution],
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let (pd, sd, ed) = (
        dir.join("problems"),
        dir.join("samples"),
        dir.join("executions"),
    );
    ouro_data::shard::write_records(pd.join("part-00000.parquet"), problems).unwrap();
    ouro_data::shard::write_records(sd.join("part-00000.parquet"), samples).unwrap();
    ouro_data::shard::write_records(ed.join("part-00000.parquet"), executions).unwrap();
    (pd, sd, ed)
}

#[test]
fn nearest_failing_sample_of_the_same_problem_is_the_contrast() {
    let (problems, samples, executions) = fixture();
    let (sft, dpo, stats) = build(
        &problems,
        &samples,
        &executions,
        &FaitOptions {
            progress: false,
            ..Default::default()
        },
    );
    assert_eq!(stats.passing_samples, 2);
    assert_eq!(stats.pairs, 1);
    assert_eq!(stats.no_contrast, 1);
    assert_eq!(dpo.len(), 1);
    let pair = &dpo[0];
    assert_eq!(pair.chosen_sample_id.as_deref(), Some("good"));
    assert_eq!(pair.rejected_sample_id.as_deref(), Some("near"));
    assert_eq!(pair.prompt, "Write p1.");
    // The heaviest span covers exactly the differing operator, in both completions.
    let top = |spans: &[ouro_data::WeightSpan], text: &str| -> String {
        let s = spans.iter().find(|s| s.weight == 2.0).expect("token span");
        text.chars()
            .skip(s.start as usize)
            .take((s.end - s.start) as usize)
            .collect()
    };
    assert_eq!(top(&pair.chosen_spans, &pair.chosen), "+");
    assert_eq!(top(&pair.rejected_spans, &pair.rejected), "-");
    // Line spans cover the rest of the changed line only.
    let covered: String = pair
        .chosen_spans
        .iter()
        .map(|s| {
            pair.chosen
                .chars()
                .skip(s.start as usize)
                .take((s.end - s.start) as usize)
                .collect::<String>()
        })
        .collect();
    assert_eq!(covered, "    y = x + 1");
    let good = sft
        .iter()
        .find(|r| r.sample_id.as_deref() == Some("good"))
        .unwrap();
    assert_eq!(good.weight_spans, pair.chosen_spans);
    let lonely = sft
        .iter()
        .find(|r| r.sample_id.as_deref() == Some("lonely"))
        .unwrap();
    assert!(lonely.weight_spans.is_empty());
}

#[test]
fn threshold_excludes_dissimilar_failures() {
    let (problems, mut samples, executions) = fixture();
    samples.retain(|s| s.sample_id != "near");
    let (_, dpo, stats) = build(
        &problems,
        &samples,
        &executions,
        &FaitOptions {
            progress: false,
            ..Default::default()
        },
    );
    assert!(dpo.is_empty());
    assert_eq!(stats.no_contrast, 2);
    let loose = FaitOptions {
        max_distance: 1.0,
        progress: false,
        ..Default::default()
    };
    let (_, dpo, _) = build(&problems, &samples, &executions, &loose);
    assert_eq!(dpo.len(), 1);
    assert_eq!(dpo[0].rejected_sample_id.as_deref(), Some("far"));
}

#[test]
fn run_reads_shards_and_writes_sft_and_dpo_configs() {
    let (problems, samples, executions) = fixture();
    let dir = tempfile::tempdir().unwrap();
    let (pd, sd, ed) = write_inputs(dir.path(), &problems, &samples, &executions);
    let out = dir.path().join("out");
    let stats = run(
        &ed,
        &sd,
        &pd,
        &out,
        &FaitOptions {
            progress: false,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(stats.pairs, 1);
    let dpo: Vec<ouro_data::DpoRecord> = ouro_data::shard::read_dir(out.join("dpo")).unwrap();
    let sft: Vec<ouro_data::SftRecord> = ouro_data::shard::read_dir(out.join("sft")).unwrap();
    assert_eq!(dpo.len(), 1);
    assert_eq!(sft.len(), 2);
    assert!(out.join("fait_report.json").exists());
}

#[test]
fn a_program_judged_both_ways_is_no_contrast_and_one_row() {
    // The same program passing twice and failing once (flaky): no pair with
    // chosen == rejected, and one SFT row, not two.
    let problems = vec![problem("p1")];
    let code = "import random\ndef f(x):\n    return x + 1 if random.random() < 0.5 else x\n";
    let samples = vec![
        sample("a", "p1", code),
        sample("b", "p1", code),
        sample("c", "p1", code),
    ];
    let executions = vec![
        execution("a", "p1", Verdict::Pass),
        execution("b", "p1", Verdict::Fail),
        execution("c", "p1", Verdict::Pass),
    ];
    let quiet = FaitOptions {
        progress: false,
        ..Default::default()
    };
    let (sft, dpo, stats) = build(&problems, &samples, &executions, &quiet);
    assert!(dpo.is_empty(), "{dpo:?}");
    assert_eq!(sft.len(), 1);
    assert_eq!(stats.duplicate_programs, 1);
}

#[test]
fn samples_of_another_problem_set_are_refused() {
    let (_, samples, executions) = fixture();
    let dir = tempfile::tempdir().unwrap();
    let (pd, sd, ed) = write_inputs(dir.path(), &[problem("elsewhere")], &samples, &executions);
    let out = dir.path().join("out");
    let e = run(&ed, &sd, &pd, &out, &FaitOptions::default()).unwrap_err();
    assert!(e.to_string().contains("none of the 5 samples"), "{e}");
    assert!(!out.exists());
}

#[test]
fn samples_holding_benchmark_text_are_left_out() {
    let (problems, samples, executions) = fixture();
    let options = FaitOptions {
        progress: false,
        exclude: Some(ouro_edits::Exclude::new(|t| t.contains("y = x + 1"))),
        ..Default::default()
    };
    let (sft, dpo, stats) = build(&problems, &samples, &executions, &options);
    assert_eq!(stats.decontaminated_samples, 1);
    assert!(sft.iter().all(|r| !r.completion.contains("y = x + 1")));
    assert!(dpo.is_empty(), "the only pair's chosen side was left out");
}

#[test]
fn a_failure_that_differs_only_in_a_statements_level_is_the_contrast() {
    // The classic early return: the same tokens, `return False` one level deeper. The
    // distance left layout out, came to 0 and took it for the same program.
    let problems = vec![problem("p1")];
    let pass =
        "def f(xs):\n    for x in xs:\n        if x:\n            return True\n    return False\n";
    let fail = "def f(xs):\n    for x in xs:\n        if x:\n            return True\n        return False\n";
    let samples = vec![sample("pass", "p1", pass), sample("fail", "p1", fail)];
    let executions = vec![
        execution("pass", "p1", Verdict::Pass),
        execution("fail", "p1", Verdict::Fail),
    ];
    let quiet = FaitOptions {
        progress: false,
        ..Default::default()
    };
    let (_, dpo, stats) = build(&problems, &samples, &executions, &quiet);
    assert_eq!(dpo.len(), 1, "{stats:?}");
    assert_eq!(stats.no_contrast, 0);
    // Its changed line weighs on both sides.
    assert!(!dpo[0].chosen_spans.is_empty() && !dpo[0].rejected_spans.is_empty());
}
