//! Fixed Arrow schemas, one per record type.
//!
//! Schemas are written out by hand, never inferred from data: a column that
//! can be null has its type fixed here, so an all-null first row cannot
//! change a shard's schema. Text is always `Utf8` (`string`), never
//! `LargeUtf8`, because some readers of Hugging Face datasets reject it.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use serde::{de::DeserializeOwned, Serialize};

use crate::records::*;

/// A row type that can live in a shard.
pub trait Record: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Short name of the record kind, used in error messages and manifests.
    const KIND: &'static str;
    /// The fixed Arrow schema of this record's shards.
    fn schema() -> SchemaRef;
    /// The id no two rows of a directory may share, for kinds that have one; reading a
    /// directory checks it, since a repeated one would make one row silently win.
    fn unique_id(&self) -> Option<&str> {
        None
    }
}

fn text(name: &str) -> Field {
    Field::new(name, DataType::Utf8, false)
}
fn opt_text(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}
fn list_of(name: &str, item: DataType, nullable: bool) -> Field {
    Field::new(
        name,
        DataType::List(Arc::new(Field::new("item", item, true))),
        nullable,
    )
}
fn structure(name: &str, fields: Vec<Field>, nullable: bool) -> Field {
    Field::new(name, DataType::Struct(Fields::from(fields)), nullable)
}

fn tests_field(name: &str, nullable: bool) -> Field {
    structure(
        name,
        vec![
            text("kind"),
            opt_text("script"),
            list_of(
                "cases",
                DataType::Struct(Fields::from(vec![text("input"), text("output")])),
                true,
            ),
        ],
        nullable,
    )
}

/// `list<struct<start: uint32, end: uint32, weight: float>>`.
pub fn weight_spans_type() -> DataType {
    DataType::List(Arc::new(Field::new(
        "item",
        DataType::Struct(Fields::from(vec![
            Field::new("start", DataType::UInt32, false),
            Field::new("end", DataType::UInt32, false),
            Field::new("weight", DataType::Float32, false),
        ])),
        true,
    )))
}

/// `list<struct<role: string, content: string>>`, TRL's conversational format.
pub fn messages_type() -> DataType {
    DataType::List(Arc::new(Field::new(
        "item",
        DataType::Struct(Fields::from(vec![text("role"), text("content")])),
        true,
    )))
}

impl Record for Problem {
    const KIND: &'static str = "problems";
    fn unique_id(&self) -> Option<&str> {
        Some(&self.problem_id)
    }
    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            text("problem_id"),
            text("source"),
            text("prompt"),
            text("entry_point"),
            text("language"),
            text("starter_code"),
            opt_text("reference_solution"),
            tests_field("tests", false),
            tests_field("audit_tests", true),
            opt_text("difficulty"),
            list_of("tags", DataType::Utf8, false),
            text("split"),
        ]))
    }
}

impl Record for Sample {
    const KIND: &'static str = "samples";
    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            text("sample_id"),
            text("problem_id"),
            Field::new("round", DataType::UInt32, false),
            Field::new("index", DataType::UInt32, false),
            text("model"),
            structure(
                "params",
                vec![
                    Field::new("temperature", DataType::Float64, true),
                    Field::new("top_p", DataType::Float64, true),
                    Field::new("seed", DataType::UInt64, true),
                    Field::new("max_tokens", DataType::UInt32, true),
                ],
                false,
            ),
            text("completion"),
            opt_text("code"),
            opt_text("extraction_error"),
            opt_text("finish_reason"),
            opt_text("generation_error"),
            Field::new("prompt_tokens", DataType::UInt32, true),
            Field::new("completion_tokens", DataType::UInt32, true),
            Field::new("logprob", DataType::Float64, true),
        ]))
    }
}

impl Record for Execution {
    const KIND: &'static str = "executions";
    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            text("sample_id"),
            text("problem_id"),
            text("suite"),
            text("verdict"),
            list_of("tests_passed", DataType::Boolean, false),
            opt_text("error_kind"),
            text("stderr_tail"),
            Field::new("cpu_ms", DataType::Float64, false),
            Field::new("wall_ms", DataType::Float64, false),
            Field::new("max_rss_kb", DataType::UInt64, false),
            Field::new("lines_executed", DataType::UInt64, true),
            text("executor_version"),
            structure(
                "limits",
                vec![
                    Field::new("cpu_ms", DataType::UInt64, false),
                    Field::new("wall_ms", DataType::UInt64, false),
                    Field::new("memory_mb", DataType::UInt64, false),
                    Field::new("output_bytes", DataType::UInt64, false),
                ],
                false,
            ),
            text("isolation"),
            text("judge"),
            opt_text("tests_digest"),
        ]))
    }
}

impl Record for SftRecord {
    const KIND: &'static str = "sft";
    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            text("prompt"),
            text("completion"),
            text("problem_id"),
            opt_text("sample_id"),
            Field::new("round", DataType::UInt32, false),
            text("origin"),
            Field::new("score", DataType::Float64, true),
            Field::new("weight_spans", weight_spans_type(), false),
        ]))
    }
}

impl Record for DpoRecord {
    const KIND: &'static str = "dpo";
    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            text("prompt"),
            text("chosen"),
            text("rejected"),
            text("problem_id"),
            opt_text("chosen_sample_id"),
            opt_text("rejected_sample_id"),
            Field::new("round", DataType::UInt32, false),
            text("pair_kind"),
            Field::new("chosen_score", DataType::Float64, true),
            Field::new("rejected_score", DataType::Float64, true),
            Field::new("chosen_spans", weight_spans_type(), false),
            Field::new("rejected_spans", weight_spans_type(), false),
        ]))
    }
}

impl Record for LintseqRecord {
    const KIND: &'static str = "lintseq";
    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            text("prompt"),
            text("completion"),
            text("program_id"),
            opt_text("problem_id"),
            Field::new("seed", DataType::UInt64, false),
            Field::new("num_edits", DataType::UInt32, false),
        ]))
    }
}

impl Record for RepairRecord {
    const KIND: &'static str = "repair";
    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("messages", messages_type(), false),
            text("problem_id"),
            text("failing_sample_id"),
            opt_text("fixed_sample_id"),
            Field::new("round", DataType::UInt32, false),
        ]))
    }
}
