//! `ouro run` on a small datasets pipeline: every stage runs, `--resume` skips
//! finished stages, the datasets load in pyarrow and `datasets` with TRL's
//! column names, and bad pipeline files name the key at fault.

use std::path::Path;

use ouro_e2e::{interop_python, ouro, stderr, workspace};

fn small_pipeline(dir: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(workspace().join("pipelines/datasets.toml"))
        .unwrap()
        .replace("count = 2000", "count = 24")
        .replace("runs/datasets", &dir.join("run").display().to_string());
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn datasets_pipeline_runs_resumes_and_its_datasets_load_in_python() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = small_pipeline(dir.path());
    let p = pipeline.display().to_string();
    let o = ouro(&["run", &p]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    for stage in ["problems", "samples", "execute", "build", "lintseq"] {
        assert!(out.contains(stage), "stage {stage} ran: {out}");
    }
    assert!(!out.contains("done earlier"));
    // A second plain run refuses to touch the run; --resume skips every stage.
    let again = ouro(&["run", &p]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("--resume"));
    // Simulate a kill during `build`: its marker and outputs vanish, the rest stays.
    let round = dir.path().join("run/round-00");
    std::fs::remove_dir_all(round.join("dataset")).unwrap();
    let resumed = ouro(&["run", &p, "--resume"]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let resumed_out = String::from_utf8_lossy(&resumed.stdout).into_owned();
    assert_eq!(
        resumed_out.matches("done earlier").count(),
        4,
        "{resumed_out}"
    );
    assert_eq!(
        out.lines()
            .find(|l| l.trim_start().starts_with("build"))
            .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>()),
        resumed_out
            .lines()
            .find(|l| l.trim_start().starts_with("build"))
            .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>()),
        "the re-run build stage produces the same counts"
    );
    // Comments, layout and key order are not configuration: the run still resumes.
    let text = std::fs::read_to_string(&pipeline).unwrap();
    let edited = format!(
        "# a note added after the run\n{}",
        text.replace("seed = 0", "seed   =   0 # the same seed")
    );
    std::fs::write(&pipeline, &edited).unwrap();
    let commented = ouro(&["run", &p, "--resume"]);
    assert!(commented.status.success(), "{}", stderr(&commented));
    // A run started before the hash was taken over the parsed file recorded the text's.
    let manifest = dir.path().join("run/manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    m["config_hash"] = ouro_data::content_id("pipeline", &edited).into();
    std::fs::write(&manifest, serde_json::to_vec(&m).unwrap()).unwrap();
    let legacy = ouro(&["run", &p, "--resume"]);
    assert!(legacy.status.success(), "{}", stderr(&legacy));
    // A changed value is another configuration, and the resume is refused.
    std::fs::write(&pipeline, edited.replace("cpu_ms = 3000", "cpu_ms = 2000")).unwrap();
    let changed = ouro(&["run", &p, "--resume"]);
    assert_eq!(changed.status.code(), Some(1), "{}", stderr(&changed));
    // The refusal names the key and both values.
    assert!(
        stderr(&changed).contains("execute.cpu_ms: 3000 -> 2000"),
        "{}",
        stderr(&changed)
    );
    std::fs::write(&pipeline, &text).unwrap();
    // It builds DPO rows, whose efficiency pairs rank by line counts.
    let counts = line_counts(&round.join("executions"));
    assert!(counts.iter().any(|c| c.is_some()), "{counts:?}");
    let stats = ouro(&["stats", &round.display().to_string(), "--json"]);
    assert!(stats.status.success(), "{}", stderr(&stats));
    let json: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(json["schema_version"], 1);
    let executions = round.join("executions").display().to_string();
    assert!(json["tables"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["title"] == format!("{executions}: filter pass rate by tag")));
    // Another problem set named after the run's own: its executions are still broken
    // down by their problems (only the last set named was joined, and the table was empty).
    let other = dir.path().join("other-problems");
    let generated = ouro(&[
        "problems",
        "generate",
        "-q",
        "--count",
        "2",
        "--seed",
        "99",
        "--out",
        &other.display().to_string(),
    ]);
    assert!(generated.status.success(), "{}", stderr(&generated));
    let both = ouro(&[
        "stats",
        &round.display().to_string(),
        &other.display().to_string(),
        "--json",
    ]);
    assert!(both.status.success(), "{}", stderr(&both));
    let json: serde_json::Value = serde_json::from_slice(&both.stdout).unwrap();
    let by_difficulty = json["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["title"] == format!("{executions}: filter pass rate by difficulty"))
        .unwrap_or_else(|| panic!("{json}"));
    assert!(
        !by_difficulty["rows"].as_array().unwrap().is_empty(),
        "{by_difficulty}"
    );

    let Some(python) = interop_python() else {
        eprintln!(
            "skipping the pyarrow/datasets check: set OURO_PYTHON or create .venv (see .ci/run)"
        );
        return;
    };
    for dataset in [round.join("dataset"), round.join("lintseq")] {
        let check = std::process::Command::new(&python)
            .arg(workspace().join("scripts/check_shards.py"))
            .arg(&dataset)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&check.stdout),
            stderr(&check)
        );
    }
}

fn line_counts(executions: &Path) -> Vec<Option<u64>> {
    let rows: Vec<ouro_data::Execution> = ouro_data::shard::read_dir(executions).unwrap();
    assert!(!rows.is_empty());
    rows.iter().map(|e| e.lines_executed).collect()
}

#[test]
fn a_pipeline_without_dpo_rows_executes_without_line_counts() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = small_pipeline(dir.path());
    let text = std::fs::read_to_string(&pipeline)
        .unwrap()
        .replace("count = 24", "count = 8")
        .replace(
            "configs = [\"sft\", \"dpo\", \"repair\"]",
            "configs = [\"sft\", \"repair\"]",
        );
    assert!(!text.contains("\"dpo\""), "{text}");
    std::fs::write(&pipeline, text).unwrap();
    let o = ouro(&["run", &pipeline.display().to_string()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let counts = line_counts(&dir.path().join("run/round-00/executions"));
    assert!(counts.iter().all(|c| c.is_none()), "{counts:?}");
}

fn bad_pipeline(body: &str, expect: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, body).unwrap();
    let o = ouro(&["run", &path.display().to_string()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(expect),
        "stderr should contain {expect:?}: {}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("bad.toml"));
}

#[test]
fn bad_pipeline_files_name_the_key() {
    bad_pipeline(
        "out = \"x\"\n[problems]\ncount = 5\n[sample]\n",
        "unknown field `sample`",
    );
    bad_pipeline("out = \"x\"\n", "missing field `problems`");
    bad_pipeline("out = \"x\"\n[problems]\ncount = \"many\"\n", "count");
    bad_pipeline("out = \"x\"\n[problems]\ncount = 0\n", "'problems.count'");
    bad_pipeline(
        "out = \"x\"\n[problems]\ncount = 5\n[samples]\n[execute]\n[build]\nconfigs = [\"kto\"]\n",
        "unknown config 'kto'",
    );
    bad_pipeline(
        "out = \"x\"\n[problems]\ncount = 5\n[build]\nconfigs = [\"sft\"]\n",
        "needs stage 'execute'",
    );
}
