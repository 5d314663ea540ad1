//! `ouro run --shard I --num-shards N` and `--merge`: a datasets pipeline run
//! as 3 shards plus a merge holds the same rows as the same pipeline run in
//! one process; a merge before every shard finished names the missing shard;
//! a run refuses another shard count; training pipelines refuse to shard.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ouro_data::shard::{list_shards, read_dir, read_records};
use ouro_data::{DpoRecord, Execution, LintseqRecord, Record, RepairRecord, Sample, SftRecord};
use ouro_e2e::{ouro, ouro_bin, quickstart_in, stderr, workspace};

/// pipelines/datasets.toml on a few problems, writing to `dir/<name>`.
fn small_pipeline(dir: &Path, name: &str) -> PathBuf {
    let text = std::fs::read_to_string(workspace().join("pipelines/datasets.toml"))
        .unwrap()
        .replace("count = 2000", "count = 12")
        .replace("runs/datasets", &dir.join(name).display().to_string());
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", stderr(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn failed(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(1), "{}", stderr(o));
    stderr(o)
}

/// Every row of `dir`'s shards as sorted JSON lines (order across parts is not part of the contract).
fn rows<T: Record>(dir: &Path) -> Vec<String> {
    let mut rows: Vec<String> = read_dir::<T>(dir)
        .unwrap()
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
    rows.sort();
    rows
}

/// The verdict-bearing columns of the executions and the executed-line
/// counts (timings differ run to run; line counts may not).
fn verdicts(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = read_dir::<Execution>(dir)
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {} {:?} {:?} {:?} {:?} {:?}",
                e.sample_id,
                e.problem_id,
                e.suite,
                e.verdict,
                e.tests_passed,
                e.error_kind,
                e.lines_executed
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn three_shards_and_a_merge_equal_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let plain = small_pipeline(dir.path(), "plain");
    let sharded = small_pipeline(dir.path(), "sharded");
    let (plain_s, sharded_s) = (plain.display().to_string(), sharded.display().to_string());
    ok(&ouro(&["run", &plain_s]));

    // Shards 0 and 1 by flag; the merge must refuse and name shard 2.
    for i in ["0", "1"] {
        let out = ok(&ouro(&[
            "run",
            &sharded_s,
            "--shard",
            i,
            "--num-shards",
            "3",
        ]));
        assert!(
            !out.contains("build") && !out.contains("lintseq"),
            "a shard does not build: {out}"
        );
    }
    let err = failed(&ouro(&[
        "run",
        &sharded_s,
        "--merge",
        "--num-shards",
        "3",
        "--resume",
    ]));
    assert!(
        err.contains("shard 2 of 3 has not finished stage 'problems'")
            && err.contains("--shard 2 --num-shards 3 --resume")
            && !err.contains("shard 1 of 3"),
        "{err}"
    );
    // A shard that already ran refuses to run again without --resume.
    let again = failed(&ouro(&[
        "run",
        &sharded_s,
        "--shard",
        "0",
        "--num-shards",
        "3",
    ]));
    assert!(again.contains("--resume"), "{again}");
    // The run keeps its shard count.
    let other = failed(&ouro(&[
        "run",
        &sharded_s,
        "--shard",
        "1",
        "--num-shards",
        "2",
        "--resume",
    ]));
    assert!(
        other.contains("--num-shards 3") && other.contains("--num-shards 2"),
        "{other}"
    );

    // Shard 2 as a Kubernetes Indexed Job pod sees it: the index from the environment.
    let o = Command::new(ouro_bin())
        .args(["run", &sharded_s, "--num-shards", "3"])
        .env("JOB_COMPLETION_INDEX", "2")
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("SLURM_ARRAY_TASK_COUNT")
        .output()
        .unwrap();
    ok(&o);

    // The merge reads the count from the manifest when --num-shards is left out.
    let merged = ok(&ouro(&["run", &sharded_s, "--merge", "--resume"]));
    assert!(
        merged.contains("build") && merged.contains("lintseq"),
        "{merged}"
    );
    assert_eq!(merged.matches("done earlier").count(), 3, "{merged}");
    // Merging again is a no-op.
    let remerged = ok(&ouro(&[
        "run",
        &sharded_s,
        "--merge",
        "--num-shards",
        "3",
        "--resume",
    ]));
    assert_eq!(remerged.matches("done earlier").count(), 5, "{remerged}");

    let (a, b) = (
        dir.path().join("plain/round-00"),
        dir.path().join("sharded/round-00"),
    );
    for stage in ["problems", "samples", "executions"] {
        let parts = list_shards(b.join(stage)).unwrap();
        let names: Vec<String> = parts
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            (0..3)
                .map(|i| format!("part-{i:05}-of-00003.parquet"))
                .collect::<Vec<_>>(),
            "{stage}"
        );
    }
    assert!(
        !b.join("executions/_work").exists(),
        "the shards' executor journals are removed once their parts are published"
    );
    // Every problem belongs to exactly one shard, and each part holds only its own.
    for (i, part) in list_shards(b.join("samples")).unwrap().iter().enumerate() {
        for s in read_records::<Sample>(part).unwrap() {
            assert_eq!(ouro_data::ShardSpec::shard_of(3, &s.problem_id), i as u32);
        }
    }
    assert_eq!(
        rows::<ouro_data::Problem>(&a.join("problems")),
        rows::<ouro_data::Problem>(&b.join("problems"))
    );
    assert_eq!(
        rows::<Sample>(&a.join("samples")),
        rows::<Sample>(&b.join("samples"))
    );
    assert_eq!(
        verdicts(&a.join("executions")),
        verdicts(&b.join("executions"))
    );
    let sft = rows::<SftRecord>(&a.join("dataset/sft"));
    assert!(!sft.is_empty());
    assert_eq!(sft, rows::<SftRecord>(&b.join("dataset/sft")));
    // Efficiency pairs rank by executed lines, not by a clock, so every DPO
    // row compares (tests/tests/efficiency.rs builds such pairs on purpose).
    let dpo = rows::<DpoRecord>(&a.join("dataset/dpo"));
    assert_eq!(dpo, rows::<DpoRecord>(&b.join("dataset/dpo")));
    assert_eq!(
        rows::<RepairRecord>(&a.join("dataset/repair")),
        rows::<RepairRecord>(&b.join("dataset/repair"))
    );
    assert_eq!(
        rows::<LintseqRecord>(&a.join("lintseq/lintseq")),
        rows::<LintseqRecord>(&b.join("lintseq/lintseq"))
    );
}

#[test]
fn merge_of_a_run_that_never_started_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = small_pipeline(dir.path(), "none").display().to_string();
    let err = failed(&ouro(&[
        "run",
        &p,
        "--merge",
        "--num-shards",
        "2",
        "--resume",
    ]));
    assert!(err.contains("nothing to merge"), "{err}");
}

#[test]
fn training_pipelines_refuse_to_shard() {
    let dir = tempfile::tempdir().unwrap();
    let path = quickstart_in(dir.path());
    let p = path.display().to_string();
    for args in [
        vec!["run", &p, "--shard", "0", "--num-shards", "2"],
        vec!["run", &p, "--merge", "--num-shards", "2"],
    ] {
        let err = failed(&ouro(&args));
        assert!(
            err.contains("cannot be sharded") && err.contains("OpenAI-compatible"),
            "{err}"
        );
    }
    assert!(
        !dir.path().join("run").exists(),
        "nothing was written before the refusal"
    );
}

#[test]
fn two_identical_runs_write_identical_datasets() {
    let dir = tempfile::tempdir().unwrap();
    let runs: Vec<PathBuf> = ["first", "second"]
        .iter()
        .map(|name| {
            let p = small_pipeline(dir.path(), name);
            ok(&ouro(&["run", &p.display().to_string()]));
            dir.path().join(name).join("round-00")
        })
        .collect();
    for config in ["dataset", "lintseq"] {
        let (a, b) = (
            ouro_e2e::parquet_bytes(&runs[0].join(config)),
            ouro_e2e::parquet_bytes(&runs[1].join(config)),
        );
        assert!(!a.is_empty(), "{config}");
        let names = |v: &[(String, Vec<u8>)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(names(&a), names(&b), "{config}");
        for ((name, x), (_, y)) in a.iter().zip(&b) {
            assert!(x == y, "{config}/{name} differs between two identical runs");
        }
    }
    // The dataset card is part of the dataset: no build time in it (its provenance names
    // each run's own input directories).
    let card = |run: &PathBuf| std::fs::read_to_string(run.join("dataset/README.md")).unwrap();
    assert_eq!(
        card(&runs[0]).replace("/first/", "/second/"),
        card(&runs[1])
    );
}
