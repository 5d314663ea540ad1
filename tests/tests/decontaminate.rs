//! Decontamination through the binary: a benchmark docstring pasted into a
//! training prompt, in another case, is removed by default (HumanEval's
//! fingerprints are built in), the card counts it, and `benchmarks = []`
//! keeps it.

use std::path::Path;

use ouro_data::{shard, SftRecord};
use ouro_e2e::{ouro, stderr};

/// HumanEval/0's task statement, upper-cased, in a function of our own.
const PASTED: &str = "CHECK IF IN GIVEN LIST OF NUMBERS, ARE ANY TWO NUMBERS CLOSER TO EACH OTHER THAN\n    GIVEN THRESHOLD.";

fn problems_file(dir: &Path) -> std::path::PathBuf {
    let rows = [
        serde_json::json!({
            "task_id": "Mine/0",
            "prompt": "def twice(xs):\n    \"\"\"Return every element of xs doubled, in order.\"\"\"\n",
            "canonical_solution": "    return [2 * x for x in xs]\n",
            "test": "def check(candidate):\n    assert candidate([1, 2]) == [2, 4]\n",
            "entry_point": "twice",
        }),
        serde_json::json!({
            "task_id": "Mine/1",
            "prompt": format!("def near(values, t):\n    \"\"\"{PASTED}\n    \"\"\"\n"),
            "canonical_solution": "    return any(abs(a - b) < t for i, a in enumerate(values) for b in values[i + 1:])\n",
            "test": "def check(candidate):\n    assert candidate([1.0, 2.0], 1.5)\n    assert not candidate([1.0, 3.0], 1.5)\n",
            "entry_point": "near",
        }),
    ];
    let path = dir.join("problems.jsonl");
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(&path, text).unwrap();
    path
}

fn run(dir: &Path, name: &str, section: &str) -> (Vec<SftRecord>, String) {
    let problems = problems_file(dir);
    let out = dir.join(name);
    let pipeline = dir.join(format!("{name}.toml"));
    std::fs::write(
        &pipeline,
        format!(
            "out = \"{}\"\n\n[problems.import]\nformat = \"humaneval\"\npath = \"{}\"\n\n[samples]\n\n[execute]\nworkers = 1\n\n[build]\nconfigs = [\"sft\"]\n{section}",
            out.display(),
            problems.display()
        ),
    )
    .unwrap();
    let o = ouro(&["run", &pipeline.display().to_string()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dataset = out.join("round-00/dataset");
    let rows: Vec<SftRecord> = shard::read_dir(dataset.join("sft")).unwrap();
    let card = std::fs::read_to_string(dataset.join("README.md")).unwrap();
    (rows, card)
}

#[test]
fn a_pasted_humaneval_docstring_is_removed_by_default_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (rows, card) = run(dir.path(), "default", "");
    let ids: Vec<&str> = rows.iter().map(|r| r.problem_id.as_str()).collect();
    assert_eq!(ids, ["Mine/0"], "{card}");
    assert!(
        card.contains("| decontaminated problems (prompt matched) | 1 |"),
        "{card}"
    );
    assert!(card.contains("humaneval (built in)"), "{card}");

    let (rows, card) = run(dir.path(), "off", "\n[decontaminate]\nbenchmarks = []\n");
    let mut ids: Vec<&str> = rows.iter().map(|r| r.problem_id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["Mine/0", "Mine/1"], "{card}");
    assert!(card.contains("nothing (no benchmark given)"), "{card}");
}

#[test]
fn bad_build_flags_name_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    for (flag, value, expect) in [
        (
            "--builtin-benchmarks",
            "mbpp",
            "--builtin-benchmarks: unknown built-in benchmark 'mbpp'",
        ),
        (
            "--decontaminate",
            "fuzzy",
            "--decontaminate: unknown decontamination rule 'fuzzy'",
        ),
        (
            "--dedup-scope",
            "world",
            "--dedup-scope: unknown dedup scope 'world'",
        ),
        (
            "--min-similarity",
            "2",
            "--min-similarity must be in [0, 1]",
        ),
    ] {
        let o = ouro(&[
            "build",
            "sft",
            "--problems",
            &d,
            "--samples",
            &d,
            "--executions",
            &d,
            "--out",
            &d,
            flag,
            value,
        ]);
        assert_eq!(o.status.code(), Some(1), "{flag}: {}", stderr(&o));
        assert!(stderr(&o).contains(expect), "{flag}: {}", stderr(&o));
    }
}
