//! The data pipelines' Parquet, byte for byte, pinned at a small size.
//!
//! `two_identical_runs_write_identical_datasets` shows a run is reproducible;
//! this shows a refactor changed nothing: the pins are the hashes the code
//! wrote before. A deliberate change to what a dataset holds (a new column,
//! a new rule) updates them with
//!   OURO_UPDATE_PINS=1 cargo test -p ouro-e2e --test pinned_outputs
//! and the diff of `tests/fixtures/pinned-datasets.txt` goes in that commit.
//! Execution shards are not pinned: they record CPU time and memory.
//! Training pipelines are not pinned: their floating-point sums follow the
//! CPU's vector width, so their bytes differ between machines.

use std::path::Path;

use ouro_e2e::{files_under, ouro_ok, workspace};

const PINS: &str = "tests/fixtures/pinned-datasets.txt";

/// `pipelines/NAME.toml` with `out` in `dir` and the given replacements.
fn pipeline(dir: &Path, name: &str, edits: &[(&str, &str)]) -> String {
    let mut text =
        std::fs::read_to_string(workspace().join(format!("pipelines/{name}.toml"))).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{name}.toml has {from:?}");
        text = text.replace(from, to);
    }
    // Fixture paths are relative to the repository root.
    text = text.replace(
        "\"tests/fixtures/",
        &format!("\"{}/tests/fixtures/", workspace().display()),
    );
    text = text.replace(
        &format!("\"runs/{name}\""),
        &format!("\"{}\"", dir.join(name).display()),
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// `NAME/relative/path.parquet blake3` for every Parquet file the run wrote.
fn hashes(dir: &Path, name: &str) -> Vec<String> {
    let root = dir.join(name);
    let mut out: Vec<String> = files_under(&root)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        // Executions hold clock readings (cpu_ms, wall_ms, memory); what is built from them must not.
        .filter(|p| !p.components().any(|c| c.as_os_str() == "executions"))
        .map(|p| {
            let rel = p.strip_prefix(&root).unwrap().display().to_string();
            let hash = blake3::hash(&std::fs::read(&p).unwrap()).to_hex();
            format!("{name}/{rel} {}", &hash[..32])
        })
        .collect();
    out.sort();
    out
}

#[test]
fn data_pipelines_write_the_pinned_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut got = Vec::new();
    let datasets = pipeline(dir.path(), "datasets", &[("count = 2000", "count = 12")]);
    ouro_ok(&["run", &datasets]);
    got.extend(hashes(dir.path(), "datasets"));
    let raw = pipeline(dir.path(), "raw-to-preferences", &[]);
    ouro_ok(&["run", &raw]);
    got.extend(hashes(dir.path(), "raw-to-preferences"));
    assert!(got.len() >= 10, "{got:#?}");

    let pins = workspace().join(PINS);
    if std::env::var_os("OURO_UPDATE_PINS").is_some_and(|v| v == "1") {
        std::fs::write(&pins, got.join("\n") + "\n").unwrap();
        return;
    }
    let want: Vec<String> = std::fs::read_to_string(&pins)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect();
    let missing: Vec<&String> = want.iter().filter(|w| !got.contains(w)).collect();
    let new: Vec<&String> = got.iter().filter(|g| !want.contains(g)).collect();
    assert!(
        missing.is_empty() && new.is_empty(),
        "the data pipelines wrote other bytes than pinned in {PINS}\n\
         pinned, not written: {missing:#?}\nwritten, not pinned: {new:#?}\n\
         (if the change is deliberate: OURO_UPDATE_PINS=1 cargo test -p ouro-e2e --test pinned_outputs)"
    );
}
