//! Shards a user opened and saved again in pandas or pyarrow read as the
//! originals: pandas writes text back as `large_string`, and `Categorical`
//! columns as dictionary-encoded strings.

use std::path::Path;

use ouro_e2e::{arg, interop_python, ouro, stderr};

/// Problems, samples (a passing and a failing one per problem) and their executions.
fn judged(dir: &Path, python: &Path) {
    let run = |args: &[&str]| {
        let o = ouro(args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    };
    let problems = dir.join("problems");
    run(&[
        "problems",
        "generate",
        "--count",
        "3",
        "--seed",
        "1",
        "--out",
        &arg(&problems),
    ]);
    let gens = dir.join("gens.jsonl");
    let status = std::process::Command::new(python)
        .args([
            "-c",
            "import sys, json, pyarrow.parquet as pq\n\
             with open(sys.argv[2], 'w') as out:\n\
             \x20   for p in pq.read_table(sys.argv[1]).to_pylist():\n\
             \x20       ref = p['reference_solution']\n\
             \x20       for c in (ref, ref.replace('return ', 'return None and ', 1)):\n\
             \x20           out.write(json.dumps({'problem_id': p['problem_id'], 'completion': c}) + '\\n')",
            &arg(&problems),
            &arg(&gens),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let samples = dir.join("samples");
    run(&[
        "import",
        "generations",
        "--format",
        "jsonl",
        &arg(&gens),
        "--problems",
        &arg(&problems),
        "--out",
        &arg(&samples),
    ]);
    run(&[
        "execute",
        "--problems",
        &arg(&problems),
        "--samples",
        &arg(&samples),
        "--out",
        &arg(&dir.join("exec")),
        "--workers",
        "1",
    ]);
}

/// Rewrites every shard of `from` into `to` with each text column as pyarrow
/// `large_string` (what pandas writes back) or dictionary-encoded (`Categorical`).
fn rewritten(python: &Path, from: &Path, to: &Path, how: &str) {
    std::fs::create_dir_all(to).unwrap();
    let status = std::process::Command::new(python)
        .args([
            "-c",
            "import sys, pyarrow as pa, pyarrow.parquet as pq\n\
             t = pq.read_table(sys.argv[1])\n\
             edit = (lambda c: c.cast(pa.large_string())) if sys.argv[3] == 'large' else (lambda c: c.dictionary_encode())\n\
             cols = [edit(c) if pa.types.is_string(c.type) else c for c in t.columns]\n\
             pq.write_table(pa.table(cols, names=t.column_names), sys.argv[2] + '/part-00000-of-00001.parquet')",
            &arg(from),
            &arg(to),
            how,
        ])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn build_and_stats_read_shards_pandas_wrote_back() {
    let Some(python) = interop_python() else {
        eprintln!("skipping: set OURO_PYTHON or create .venv (see .ci/run)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    judged(d, &python);
    let sft_rows = |executions: &Path, out: &str| {
        let out = d.join(out);
        let o = ouro(&[
            "build",
            "sft",
            "--problems",
            &arg(&d.join("problems")),
            "--samples",
            &arg(&d.join("samples")),
            "--executions",
            &arg(executions),
            "--out",
            &arg(&out),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let summary = String::from_utf8_lossy(&o.stdout).to_string();
        summary
            .split(" rows")
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let original = sft_rows(&d.join("exec"), "ds");
    assert_eq!(original, "sft: 3");
    for how in ["large", "dictionary"] {
        let exec = d.join(format!("exec-{how}"));
        rewritten(&python, &d.join("exec"), &exec, how);
        let problems = d.join(format!("problems-{how}"));
        rewritten(&python, &d.join("problems"), &problems, how);
        // The enum columns (`suite`, `verdict`) were refused as large_string.
        assert_eq!(sft_rows(&exec, &format!("ds-{how}")), original, "{how}");
        // Dictionary-encoded ids did not join with plain ones, and values printed quoted.
        let o = ouro(&[
            "stats",
            &arg(&exec),
            &arg(&problems),
            &arg(&d.join("problems")),
        ]);
        assert!(o.status.success(), "{how}: {}", stderr(&o));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.contains("filter pass rate by difficulty"),
            "{how}: {text}"
        );
        assert!(
            text.contains("\n  medium ") && !text.contains('"'),
            "{how}: {text}"
        );
    }
}
