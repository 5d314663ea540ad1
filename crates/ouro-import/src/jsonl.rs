//! JSONL reading with file:line errors, transparent gzip, and typed field access.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// An import failure, located as precisely as the input allows.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}:{line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error(transparent)]
    Data(#[from] ouro_data::DataError),
}

pub type Result<T, E = ImportError> = std::result::Result<T, E>;

/// One parsed line of a JSONL file.
pub struct Line {
    pub number: usize,
    pub value: Value,
}

/// Reads a JSONL file (optionally `.gz`, or a `.json` array of objects), skipping
/// blank lines.
///
/// The whole file is checked before anything is returned, so a bad line
/// late in the file stops the import before any output is written.
pub fn read_jsonl(path: &Path) -> Result<Vec<Line>> {
    let rows = ouro_data::jsonl::read_objects(path).map_err(|e| match e {
        ouro_data::DataError::Line {
            path,
            line,
            message,
        } => ImportError::Line {
            path,
            line,
            message,
        },
        other => other.into(),
    })?;
    Ok(rows
        .into_iter()
        .map(|r| Line {
            number: r.line,
            value: Value::Object(r.row),
        })
        .collect())
}

pub use ouro_data::jsonl::kind;

/// Field access on one line, with errors that name the file, line and field.
pub struct Fields<'a> {
    pub path: &'a Path,
    pub line: usize,
    pub value: &'a Value,
}

impl<'a> Fields<'a> {
    pub fn new(path: &'a Path, line: &'a Line) -> Self {
        Fields {
            path,
            line: line.number,
            value: &line.value,
        }
    }

    pub fn error(&self, field: &str, message: impl std::fmt::Display) -> ImportError {
        ImportError::Line {
            path: self.path.to_path_buf(),
            line: self.line,
            message: format!("field '{field}': {message}"),
        }
    }

    /// The value at a dotted path (`response.body.choices`), if present and not null.
    pub fn get(&self, field: &str) -> Option<&'a Value> {
        let mut v = self.value;
        for part in field.split('.') {
            v = match v {
                Value::Object(map) => map.get(part)?,
                Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        (!v.is_null()).then_some(v)
    }

    pub fn required(&self, field: &str) -> Result<&'a Value> {
        self.get(field).ok_or_else(|| self.error(field, "missing"))
    }

    /// A text field (prompt, code, completion). A number here is a wrong column, not text:
    /// `"completion": 42` imported as the program `42` would pass as a sample that ran.
    pub fn string(&self, field: &str) -> Result<String> {
        match self.required(field)? {
            Value::String(s) => Ok(s.clone()),
            other => Err(self.error(field, format!("expected a string, found {}", kind(other)))),
        }
    }

    pub fn opt_string(&self, field: &str) -> Result<Option<String>> {
        match self.get(field) {
            None => Ok(None),
            Some(_) => self.string(field).map(Some),
        }
    }

    /// An identifier or label (task ids, difficulty): datasets write these as ints as often as
    /// strings (MBPP's `task_id`, APPS's `problem_id`), so numbers are accepted and formatted.
    pub fn label(&self, field: &str) -> Result<String> {
        match self.required(field)? {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            other => Err(self.error(
                field,
                format!("expected a string or a number, found {}", kind(other)),
            )),
        }
    }

    pub fn opt_label(&self, field: &str) -> Result<Option<String>> {
        match self.get(field) {
            None => Ok(None),
            Some(_) => self.label(field).map(Some),
        }
    }

    pub fn string_list(&self, field: &str) -> Result<Vec<String>> {
        match self.get(field) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(self.error(
                        &format!("{field}[{i}]"),
                        format!("expected a string, found {}", kind(other)),
                    )),
                })
                .collect(),
            Some(other) => Err(self.error(
                field,
                format!("expected a list of strings, found {}", kind(other)),
            )),
        }
    }

    pub fn opt_u64(&self, field: &str) -> Result<Option<u64>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| {
                self.error(field, format!("expected a non-negative integer, found {n}"))
            }),
            Some(other) => {
                Err(self.error(field, format!("expected an integer, found {}", kind(other))))
            }
        }
    }

    /// [`Fields::opt_u64`] for the fields records hold as u32 (indices, token counts):
    /// a larger value is an error, not one that wraps onto another.
    pub fn opt_u32(&self, field: &str) -> Result<Option<u32>> {
        match self.opt_u64(field)? {
            None => Ok(None),
            Some(n) => u32::try_from(n)
                .map(Some)
                .map_err(|_| self.error(field, format!("{n} is larger than {}", u32::MAX))),
        }
    }

    pub fn opt_f64(&self, field: &str) -> Result<Option<f64>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(other) => {
                Err(self.error(field, format!("expected a number, found {}", kind(other))))
            }
        }
    }
}
