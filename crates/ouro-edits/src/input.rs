//! Reading programs for LintSeq: problems shards, samples shards or JSONL.

use std::path::{Path, PathBuf};

use ouro_data::shard::{list_shards, read_dir};
use ouro_data::{Execution, Problem, Sample, SftRecord, Suite, Verdict};

use crate::EditsError;

/// Which records an input holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// `Problem` shards; the program is `reference_solution`.
    Problems,
    /// `Sample` shards; the program is `code`.
    Samples,
    /// SFT shards (`prompt`, `completion`), as `ouro build sft` writes them: the
    /// completion is the program and the prompt its instruction, as in the LintSeq paper.
    Sft,
    /// A JSON Lines file, read as the official LintSeq reads it (code in ```` ```python ```` blocks
    /// of a markdown answer taken out of the prose).
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

/// The directory that holds `path`'s shards. A dataset directory as `ouro build` writes
/// it (`OUT/sft/train-*.parquet` beside a dataset card) stands for its one config; with
/// several configs the error names them, since which one is meant is the user's call.
pub fn shard_dir(path: &Path) -> Result<PathBuf, EditsError> {
    if path.is_file() || !list_shards(path)?.is_empty() {
        return Ok(path.to_path_buf());
    }
    let configs = ouro_data::hf::scan_configs(path)?;
    match configs.as_slice() {
        [] => Err(EditsError::Input(format!(
            "{}: no *.parquet shards (and no dataset config directories)",
            path.display()
        ))),
        [one] => Ok(path.join(&one.config)),
        many => Err(EditsError::Input(format!(
            "{}: a dataset with {} configs; pass one of: {}",
            path.display(),
            many.len(),
            many.iter()
                .map(|c| path.join(&c.config).display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Looks at the columns of the first shard of `dir` to tell problems, samples and SFT
/// rows apart.
pub fn detect_kind(path: &Path) -> Result<InputKind, EditsError> {
    if path.is_file() {
        return Ok(InputKind::Jsonl);
    }
    let shards = list_shards(path)?;
    let first = shards
        .first()
        .ok_or_else(|| EditsError::Input(format!("{}: no *.parquet shards", path.display())))?;
    let columns = parquet_columns(first)?;
    let has = |name: &str| columns.iter().any(|c| c == name);
    if has("reference_solution") {
        Ok(InputKind::Problems)
    } else if has("code") && has("sample_id") {
        Ok(InputKind::Samples)
    } else if has("prompt") && has("completion") {
        Ok(InputKind::Sft)
    } else {
        Err(EditsError::Input(format!(
            "{}: not a problems shard (no 'reference_solution' column), a samples shard (no 'code'/'sample_id' columns) or an SFT shard (no 'prompt'/'completion' columns); columns: {}",
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

/// Where programs come from besides the input itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sources<'a> {
    /// Problems whose prompts become the instructions of samples.
    pub problems: Option<&'a Path>,
    /// Executions: samples without a filter-suite pass are left out.
    pub executions: Option<&'a Path>,
}

/// Reads the programs of `path`, listing unusable records in `bad`. Returns the
/// programs and how many samples `sources.executions` left out for not passing.
///
/// For samples, the instruction is the problem's prompt when a problems
/// directory is given (samples of other problems are listed in `bad`),
/// otherwise empty, with a warning.
pub fn read_programs(
    path: &Path,
    kind: InputKind,
    sources: Sources<'_>,
    fields: &JsonlFields,
    bad: &mut Vec<BadProgram>,
) -> Result<(Vec<ProgramInput>, u64), EditsError> {
    if sources.executions.is_some() && kind != InputKind::Samples {
        return Err(EditsError::Input(format!(
            "{}: executions can only filter samples, and this input holds {} rows",
            path.display(),
            format!("{kind:?}").to_lowercase()
        )));
    }
    let mut not_passing = 0u64;
    let programs = match kind {
        InputKind::Samples => {
            let mut rows: Vec<Sample> = read_dir(path)?;
            if let Some(dir) = sources.executions {
                let passing: std::collections::HashSet<String> = read_dir::<Execution>(dir)?
                    .into_iter()
                    .filter(|e| e.suite == Suite::Filter && e.verdict == Verdict::Pass)
                    .map(|e| e.sample_id)
                    .collect();
                let before = rows.len();
                rows.retain(|s| passing.contains(&s.sample_id));
                not_passing = (before - rows.len()) as u64;
            }
            samples_programs(rows, path, sources.problems, bad)?
        }
        InputKind::Problems => problems_programs(path)?,
        InputKind::Sft => sft_programs(path)?,
        InputKind::Jsonl => read_jsonl(path, fields, bad)?,
    };
    Ok((programs, not_passing))
}

fn samples_programs(
    rows: Vec<Sample>,
    samples_path: &Path,
    problems: Option<&Path>,
    bad: &mut Vec<BadProgram>,
) -> Result<Vec<ProgramInput>, EditsError> {
    let Some(dir) = problems else {
        if !rows.is_empty() {
            tracing::warn!(
                "samples hold no instructions, so every row's prompt is empty: pass --problems DIR \
                 for each problem's prompt"
            );
        }
        return Ok(rows
            .into_iter()
            .map(|s| sample_program(s, String::new()))
            .collect());
    };
    let problem_set: Vec<Problem> = read_dir(dir)?;
    ouro_data::check_samples_match(&problem_set, dir, &rows, samples_path)
        .map_err(EditsError::Input)?;
    let prompts: std::collections::HashMap<String, String> = problem_set
        .into_iter()
        .map(|p| (p.problem_id, p.prompt))
        .collect();
    let mut out = Vec::with_capacity(rows.len());
    for s in rows {
        match prompts.get(&s.problem_id) {
            Some(prompt) => out.push(sample_program(s, prompt.clone())),
            // An empty instruction would pass for a real one in the dataset.
            None => bad.push(BadProgram {
                reason: format!("its problem '{}' is not in {}", s.problem_id, dir.display()),
                id: s.sample_id,
            }),
        }
    }
    Ok(out)
}

fn sample_program(s: Sample, instruction: String) -> ProgramInput {
    ProgramInput {
        instruction,
        source_id: s.sample_id,
        problem_id: Some(s.problem_id),
        program: s.code,
    }
}

fn problems_programs(path: &Path) -> Result<Vec<ProgramInput>, EditsError> {
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

fn sft_programs(path: &Path) -> Result<Vec<ProgramInput>, EditsError> {
    let rows: Vec<SftRecord> = read_dir(path)?;
    Ok(rows
        .into_iter()
        .enumerate()
        .map(|(i, r)| ProgramInput {
            // Reference rows have no sample id; the row number keeps them apart.
            source_id: r
                .sample_id
                .clone()
                .unwrap_or_else(|| format!("{}#row{i}", r.problem_id)),
            problem_id: Some(r.problem_id),
            instruction: r.prompt,
            program: Some(r.completion),
        })
        .collect())
}

fn read_jsonl(
    path: &Path,
    fields: &JsonlFields,
    bad: &mut Vec<BadProgram>,
) -> Result<Vec<ProgramInput>, EditsError> {
    // Gzipped or plain, with or without a byte-order mark, as ouro's other JSON readers.
    let bytes = ouro_data::jsonl::read_text_bytes(path)?;
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
        // A line that is not a JSON object is a broken file, not a program to skip.
        let broken =
            |why: String| EditsError::Input(format!("{}:{}: {why}", path.display(), i + 1));
        let value: serde_json::Value = match serde_json::from_str(text) {
            Ok(v @ serde_json::Value::Object(_)) => v,
            Ok(other) => {
                return Err(broken(format!(
                    "expected a JSON object, found {}",
                    ouro_data::jsonl::kind(&other)
                )))
            }
            Err(e) => return Err(broken(format!("invalid JSON: {e}"))),
        };
        // A named field must be there and hold text (an id may be a number, as MBPP's
        // task_id is): read with the wrong name, every row would quietly get the line
        // number as its id or an empty prompt.
        let named = |f: &str, ids: bool| -> Result<String, EditsError> {
            match value.get(f) {
                Some(serde_json::Value::String(s)) => Ok(s.clone()),
                Some(serde_json::Value::Number(n)) if ids => Ok(n.to_string()),
                Some(other) => Err(broken(format!(
                    "field '{f}': expected a string{}, found {}",
                    if ids { " or a number" } else { "" },
                    ouro_data::jsonl::kind(other)
                ))),
                None => Err(broken(format!("field '{f}': missing"))),
            }
        };
        let id = match fields.id.as_deref() {
            Some(f) => named(f, true)?,
            None => line_id.clone(),
        };
        let instruction = match fields.instruction.as_deref() {
            Some(f) => named(f, false)?,
            None => String::new(),
        };
        let mut program = String::new();
        let mut missing = None;
        for f in &fields.program {
            match value.get(f) {
                Some(serde_json::Value::String(s)) => program.push_str(s),
                // Absent or null: this line has no program (a failed generation, say).
                None | Some(serde_json::Value::Null) => missing = Some(f.clone()),
                // Any other type is a file read with the wrong fields, or a broken one.
                Some(other) => {
                    return Err(broken(format!(
                        "field '{f}': expected a string (the program), found {}",
                        ouro_data::jsonl::kind(other)
                    )))
                }
            }
        }
        if let Some(f) = missing {
            bad.push(BadProgram {
                id,
                reason: format!("field '{f}' missing or null"),
            });
            continue;
        }
        out.push(ProgramInput {
            source_id: id.clone(),
            problem_id: fields.id.as_ref().map(|_| id),
            instruction,
            program: Some(strip_chain_of_thought(program)),
        });
    }
    // Lines may lack a program here and there; a file where none has one was read with
    // the wrong --program-fields (or is empty), and an empty dataset would hide that.
    if out.is_empty() {
        let why = bad
            .first()
            .map_or("the file has no JSON lines".to_string(), |b| {
                format!("{}: {}", b.id, b.reason)
            });
        return Err(EditsError::Input(format!(
            "{}: no line holds a program (fields {:?}); the first: {why}",
            path.display(),
            fields.program
        )));
    }
    Ok(out)
}

/// The program of a markdown answer, as the official LintSeq's `generate.py` reads
/// a row (its `strip_chain_of_thought`): every ```` ```python ```` block, up to the
/// next ```` ``` ````, joined by a line break and stripped; a text with no such
/// block is the program as it is.
fn strip_chain_of_thought(text: String) -> String {
    const OPEN: &str = "```python";
    let mut chunks = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find(OPEN) {
        let after = &rest[at + OPEN.len()..];
        let end = after.find("```").unwrap_or(after.len());
        chunks.push(&after[..end]);
        rest = &after[(end + 3).min(after.len())..];
    }
    if chunks.is_empty() {
        return text;
    }
    chunks.join("\n").trim().to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn markdown_answers_are_read_as_the_reference_reads_them() {
        let answer = "Here:\n```python\ndef add(a, b):\n    return a + b\n```\nAnd:\n```python\nx = 1\n```\n";
        assert_eq!(
            super::strip_chain_of_thought(answer.into()),
            "def add(a, b):\n    return a + b\n\n\nx = 1"
        );
        let plain = "def f():\n    pass\n";
        assert_eq!(super::strip_chain_of_thought(plain.into()), plain);
        // Unclosed, as the reference: to the end.
        assert_eq!(
            super::strip_chain_of_thought("```python\nx = 1\n".into()),
            "x = 1"
        );
    }
}
