//! Shards written by other versions and other writers still read: a missing
//! nullable column reads as null (a missing non-nullable one is an error), and
//! an enum column reads from any string layout.

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

/// pandas and polars write text back as `large_string`, pyarrow can write
/// `string_view`: an enum column (`verdict`, `suite`) reads from either as from
/// `string`, as every text column does.
#[test]
fn enum_columns_read_from_every_string_layout() {
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.parquet");
    write_records(&full, &[execution()]).unwrap();
    for layout in [DataType::LargeUtf8, DataType::Utf8View] {
        let batch = read_batches(&full, None).unwrap().next().unwrap().unwrap();
        let (mut fields, mut columns) = (vec![], vec![]);
        for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
            if matches!(field.name().as_str(), "suite" | "verdict" | "judge") {
                columns.push(arrow::compute::cast(column, &layout).unwrap());
                fields.push(Field::new(
                    field.name(),
                    layout.clone(),
                    field.is_nullable(),
                ));
            } else {
                columns.push(column.clone());
                fields.push(field.as_ref().clone());
            }
        }
        let batch =
            arrow::record_batch::RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
                .unwrap();
        let edited = dir.path().join(format!("{layout}.parquet"));
        let file = std::fs::File::create(&edited).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let rows: Vec<Execution> = read_records(&edited).unwrap();
        assert_eq!(rows, vec![execution()], "{layout}");
    }
}
