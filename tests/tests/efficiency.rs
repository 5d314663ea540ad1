//! Efficiency pairs through the binary: built from executed-line counts, the
//! cheaper program is chosen, and two identical builds write identical bytes.

use std::path::Path;

use ouro_data::{shard, DpoRecord, PairKind};
use ouro_e2e::{arg as s, ouro, ouro_ok as run, stderr, workspace};

/// Three correct answers to `double(xs)` at three costs, one wrong one.
const GENERATIONS: &str = r#"{"task_id": "HumanEval/1", "completion": "    return [2 * x for x in xs]\n"}
{"task_id": "HumanEval/1", "completion": "    out = []\n    for x in xs:\n        y = x\n        y = y + x\n        out.append(y)\n    return out\n"}
{"task_id": "HumanEval/1", "completion": "    out = []\n    i = 0\n    while i < len(xs):\n        t = 0\n        for _ in range(2):\n            t = t + xs[i]\n        out.append(t)\n        i = i + 1\n    return out\n"}
{"task_id": "HumanEval/1", "completion": "    return xs\n"}
"#;

/// The mini HumanEval problems and `GENERATIONS` as samples, under `root`.
fn problems_and_samples(root: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let problems = root.join("problems");
    let fixture = workspace().join("tests/fixtures/humaneval_mini.jsonl");
    run(&[
        "import",
        "problems",
        "--format",
        "humaneval",
        &s(&fixture),
        "--out",
        &s(&problems),
    ]);
    let gens = root.join("gens.jsonl");
    std::fs::write(&gens, GENERATIONS).unwrap();
    let samples = root.join("samples");
    run(&[
        "import",
        "generations",
        "--format",
        "human-eval",
        &s(&gens),
        "--problems",
        &s(&problems),
        "--out",
        &s(&samples),
    ]);
    (problems, samples)
}

/// A command line: `head`, then each path flag with its path.
fn command(head: &[&str], paths: &[(&str, &Path)]) -> Vec<String> {
    let mut v: Vec<String> = head.iter().map(|a| a.to_string()).collect();
    for (flag, p) in paths {
        v.extend([flag.to_string(), s(p)]);
    }
    v
}

/// `ouro execute` of `samples` into `out` on one slot, plus `extra` flags.
fn execute_args(problems: &Path, samples: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let head = [&["execute", "-q", "--workers", "1"], extra].concat();
    command(
        &head,
        &[
            ("--problems", problems),
            ("--samples", samples),
            ("--out", out),
        ],
    )
}

/// `ouro build dpo` of efficiency pairs only, plus `extra` flags.
fn efficiency_args(
    problems: &Path,
    samples: &Path,
    execs: &Path,
    out: &Path,
    extra: &[&str],
) -> Vec<String> {
    let head = [&["build", "dpo", "--pair-kinds", "efficiency"], extra].concat();
    command(
        &head,
        &[
            ("--problems", problems),
            ("--samples", samples),
            ("--executions", execs),
            ("--out", out),
        ],
    )
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn efficiency_pairs_come_from_line_counts_and_repeat_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (problems, samples) = problems_and_samples(root);
    let mut outs = Vec::new();
    for name in ["a", "b"] {
        let execs = root.join(format!("executions-{name}"));
        run(&strs(&execute_args(&problems, &samples, &execs, &[])));
        let out = root.join(format!("dpo-{name}"));
        let build = efficiency_args(&problems, &samples, &execs, &out, &["--min-lines-gap", "2"]);
        run(&strs(&build));
        outs.push(out);
    }
    let rows: Vec<DpoRecord> = shard::read_dir(outs[0].join("dpo")).unwrap();
    let eff: Vec<&DpoRecord> = rows
        .iter()
        .filter(|r| r.pair_kind == PairKind::Efficiency)
        .collect();
    assert_eq!(eff.len(), 1, "{rows:#?}");
    assert!(
        eff[0].chosen.contains("[2 * x for x in xs]"),
        "{:?}",
        eff[0]
    );
    assert!(
        eff[0].rejected.contains("while i < len(xs)"),
        "{:?}",
        eff[0]
    );
    assert!(eff[0].chosen_score < eff[0].rejected_score, "{:?}", eff[0]);
    let files = |d: &Path| {
        let mut v: Vec<(String, Vec<u8>)> = shard::list_shards(d.join("dpo"))
            .unwrap()
            .into_iter()
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        files(&outs[0]),
        files(&outs[1]),
        "two identical builds differ"
    );
}

#[test]
fn executions_without_line_counts_judge_alike_and_the_build_says_why_no_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (problems, samples) = problems_and_samples(root);
    let execs = root.join("executions");
    let summary = run(&strs(&execute_args(
        &problems,
        &samples,
        &execs,
        &["--no-line-count", "--json"],
    )));
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(summary["lines_counted"], false, "{summary}");
    let rows: Vec<ouro_data::Execution> = shard::read_dir(&execs).unwrap();
    let passes = rows
        .iter()
        .filter(|e| e.verdict == ouro_data::Verdict::Pass)
        .count();
    assert_eq!(passes, 3, "{rows:#?}");
    assert!(rows.iter().all(|e| e.lines_executed.is_none()), "{rows:#?}");
    assert!(rows
        .iter()
        .all(|e| e.executor_version.ends_with("+nolines")));
    let dpo = root.join("dpo");
    let o = ouro(&strs(&efficiency_args(
        &problems,
        &samples,
        &execs,
        &dpo,
        &[],
    )));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("3 passing samples have no lines_executed"),
        "{}",
        stderr(&o)
    );
}
