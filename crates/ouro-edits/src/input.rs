//! Reading programs for LintSeq: problems shards, samples shards or JSONL.

use std::path::{Path, PathBuf};

use ouro_data::shard::{list_shards, read_dir};
use ouro_data::{Problem, Sample};

use crate::EditsError;

/// Which records an input holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// `Problem` shards; the program is `reference_solution`.
    Problems,
    /// `Sample` shards; the program is `code`.
    Samples,
    /// A JSON Lines file (as the official LintSeq reads).
    Jsonl,
}

/// How to read a JSONL input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonlFields {
    /// Fields concatenated (in order) to form the program, e.g.
    /// `["prompt", "canonical_solution"]` for HumanEval.
    pub program: Vec<String>,
    /// Field used as the instruction (training prompt); empty string if absent.
    pub instruction: Option<String>,
    /// Field used as the program's problem id; the line number otherwise.
    pub id: Option<String>,
}

impl Default for JsonlFields {
    fn default() -> Self {
        JsonlFields {
            program: vec!["code".into()],
            instruction: None,
            id: None,
        }
    }
}

/// One program to sample edit sequences for.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgramInput {
    /// Where it came from, for reports: a problem id, a sample id or `file:line`.
    pub source_id: String,
    pub problem_id: Option<String>,
    /// The instruction put before the diffs.
    pub instruction: String,
    pub program: Option<String>,
}

/// An input record that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BadProgram {
    pub id: String,
    pub reason: String,
}

/// Looks at the columns of the first shard of `dir` to tell problems from samples.
pub fn detect_kind(path: &Path) -> Result<InputKind, EditsError> {
    if path.is_file() {
        return Ok(InputKind::Jsonl);
    }
    let shards = list_shards(path)?;
    let first = shards
        .first()
        .ok_or_else(|| EditsError::Input(format!("{}: no *.parquet shards", path.display())))?;
    let columns = parquet_columns(first)?;
    if columns.iter().any(|c| c == "reference_solution") {
        Ok(InputKind::Problems)
    } else if columns.iter().any(|c| c == "code") && columns.iter().any(|c| c == "sample_id") {
        Ok(InputKind::Samples)
    } else {
        Err(EditsError::Input(format!(
            "{}: neither a problems shard (no 'reference_solution' column) nor a samples shard (no 'code'/'sample_id' columns); columns: {}",
            first.display(),
            columns.join(", ")
        )))
    }
}

fn parquet_columns(path: &PathBuf) -> Result<Vec<String>, EditsError> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let file = std::fs::File::open(path)
        .map_err(|e| EditsError::Input(format!("{}: {e}", path.display())))?;
    let reader = SerializedFileReader::new(file)
        .map_err(|e| EditsError::Input(format!("{}: {e}", path.display())))?;
    let schema = reader.metadata().file_metadata().schema();
    Ok(schema
        .get_fields()
        .iter()
        .map(|f| f.name().to_string())
        .collect())
}

/// Reads the programs of `path`, listing unusable records in `bad`.
///
/// For samples, the instruction is the problem's prompt when a problems
/// directory is given, otherwise empty.
pub fn read_programs(
    path: &Path,
    kind: InputKind,
    problems: Option<&Path>,
    fields: &JsonlFields,
    bad: &mut Vec<BadProgram>,
) -> Result<Vec<ProgramInput>, EditsError> {
    match kind {
        InputKind::Problems => {
            let rows: Vec<Problem> = read_dir(path)?;
            Ok(rows
                .into_iter()
                .map(|p| ProgramInput {
                    source_id: p.problem_id.clone(),
                    problem_id: Some(p.problem_id),
                    instruction: p.prompt,
                    program: p.reference_solution,
                })
                .collect())
        }
        InputKind::Samples => {
            let rows: Vec<Sample> = read_dir(path)?;
            let prompts: std::collections::HashMap<String, String> = match problems {
                Some(dir) => read_dir::<Problem>(dir)?
                    .into_iter()
                    .map(|p| (p.problem_id, p.prompt))
                    .collect(),
                None => Default::default(),
            };
            Ok(rows
                .into_iter()
                .map(|s| ProgramInput {
                    instruction: prompts.get(&s.problem_id).cloned().unwrap_or_default(),
                    source_id: s.sample_id,
                    problem_id: Some(s.problem_id),
                    program: s.code,
                })
                .collect())
        }
        InputKind::Jsonl => read_jsonl(path, fields, bad),
    }
}

fn read_jsonl(
    path: &Path,
    fields: &JsonlFields,
    bad: &mut Vec<BadProgram>,
) -> Result<Vec<ProgramInput>, EditsError> {
    let bytes =
        std::fs::read(path).map_err(|e| EditsError::Input(format!("{}: {e}", path.display())))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let mut out = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_id = format!("{name}:{}", i + 1);
        if raw.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let Ok(text) = std::str::from_utf8(raw) else {
            bad.push(BadProgram {
                id: line_id,
                reason: "not valid UTF-8".into(),
            });
            continue;
        };
        let value: serde_json::Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                bad.push(BadProgram {
                    id: line_id,
                    reason: format!("not a JSON object: {e}"),
                });
                continue;
            }
        };
        let get = |f: &str| value.get(f).and_then(|v| v.as_str()).map(str::to_string);
        let id = fields
            .id
            .as_deref()
            .and_then(get)
            .unwrap_or_else(|| line_id.clone());
        let mut program = String::new();
        let mut missing = None;
        for f in &fields.program {
            match get(f) {
                Some(s) => program.push_str(&s),
                None => missing = Some(f.clone()),
            }
        }
        if let Some(f) = missing {
            bad.push(BadProgram {
                id,
                reason: format!("field '{f}' missing or not a string"),
            });
            continue;
        }
        out.push(ProgramInput {
            source_id: id.clone(),
            problem_id: fields.id.as_ref().map(|_| id),
            instruction: fields
                .instruction
                .as_deref()
                .and_then(get)
                .unwrap_or_default(),
            program: Some(program),
        });
    }
    Ok(out)
}
