//! A shard written before a nullable column existed still reads (the column
//! reads as null); a missing non-nullable column is still an error.

use ouro_data::shard::{read_batches, read_records, write_records};
use ouro_data::{Execution, Judge, Limits, Suite, Verdict};

fn execution() -> Execution {
    Execution {
        sample_id: "s".into(),
        problem_id: "p".into(),
        suite: Suite::Filter,
        verdict: Verdict::Pass,
        tests_passed: vec![true],
        error_kind: None,
        stderr_tail: String::new(),
        cpu_ms: 1.0,
        wall_ms: 1.0,
        max_rss_kb: 1,
        lines_executed: Some(42),
        executor_version: "v".into(),
        limits: Limits::default(),
        isolation: String::new(),
        judge: Judge::InProcess,
        tests_digest: None,
    }
}

/// Rewrites `from` into `to` without the column `drop`.
fn rewrite_without(from: &std::path::Path, to: &std::path::Path, drop: &str) {
    let batches: Vec<_> = read_batches(from, None)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let schema = batches[0].schema();
    let keep: Vec<usize> = (0..schema.fields().len())
        .filter(|&i| schema.field(i).name() != drop)
        .collect();
    let projected: Vec<_> = batches.iter().map(|b| b.project(&keep).unwrap()).collect();
    let file = std::fs::File::create(to).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, projected[0].schema(), None).unwrap();
    for b in &projected {
        w.write(b).unwrap();
    }
    w.close().unwrap();
}

#[test]
fn missing_nullable_column_reads_as_null() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.parquet");
    write_records(&full, &[execution()]).unwrap();
    let old = dir.path().join("old.parquet");
    rewrite_without(&full, &old, "lines_executed");
    let rows: Vec<Execution> = read_records(&old).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].lines_executed, None);
    assert_eq!(rows[0].sample_id, "s");

    let broken = dir.path().join("broken.parquet");
    rewrite_without(&full, &broken, "verdict");
    let err = read_records::<Execution>(&broken).unwrap_err().to_string();
    assert!(err.contains("missing column 'verdict'"), "{err}");
}
