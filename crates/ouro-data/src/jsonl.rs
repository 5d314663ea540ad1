//! JSON rows as people ship them: JSON Lines, gzipped or not, with or without a
//! byte-order mark, or a `.json` file holding one array of objects (what
//! `datasets.load_dataset("json")` also reads). Every row keeps the line it
//! starts on, so an error found later can still name it.

use std::io::Read;
use std::path::Path;

use serde_json::Value;

use crate::error::{DataError, Result};
use crate::shard::JsonRow;

/// One object and the 1-based line it starts on.
#[derive(Debug)]
pub struct JsonLine {
    pub line: usize,
    pub row: JsonRow,
}

/// Every object in `path`, checked whole before anything is returned, so a bad
/// line late in a file stops a stage before it writes anything. Blank lines are
/// skipped; an empty file is an error.
pub fn read_objects(path: &Path) -> Result<Vec<JsonLine>> {
    let raw = read_text_bytes(path)?;
    let rows = if raw.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        array(path, &raw)?
    } else {
        lines(path, &raw)?
    };
    if rows.is_empty() {
        return Err(DataError::invalid(path, "empty file: no JSON rows"));
    }
    Ok(rows)
}

/// The bytes of a text file as people ship it: gunzipped when gzipped (other
/// compressions are an error that says so), without a byte-order mark.
pub fn read_text_bytes(path: &Path) -> Result<Vec<u8>> {
    let mut raw = Vec::new();
    std::fs::File::open(path)
        .map_err(|e| DataError::invalid(path, format!("cannot open: {e}")))?
        .read_to_end(&mut raw)
        .map_err(|e| DataError::invalid(path, format!("cannot read: {e}")))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| DataError::invalid(path, format!("corrupt gzip data: {e}")))?;
        raw = out;
    }
    for (magic, what) in [
        (&b"\x28\xb5\x2f\xfd"[..], "zstd"),
        (b"BZh", "bzip2"),
        (b"\xfd7zXZ\x00", "xz"),
    ] {
        if raw.starts_with(magic) {
            return Err(DataError::invalid(
                path,
                format!("{what}-compressed: only plain and gzipped JSON Lines are read; decompress it first"),
            ));
        }
    }
    // A byte-order mark, as Windows editors and some exports write: not part of the JSON.
    if raw.starts_with(b"\xef\xbb\xbf") {
        raw.drain(..3);
    }
    Ok(raw)
}

fn line_err(path: &Path, line: usize, message: String) -> DataError {
    DataError::Line {
        path: path.into(),
        line,
        message,
    }
}

fn lines(path: &Path, raw: &[u8]) -> Result<Vec<JsonLine>> {
    let mut rows = Vec::new();
    for (i, bytes) in raw.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        let text = std::str::from_utf8(bytes).map_err(|e| {
            line_err(
                path,
                line,
                format!("invalid UTF-8 at byte {} of the line", e.valid_up_to()),
            )
        })?;
        if text.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(row)) => rows.push(JsonLine { line, row }),
            Ok(other) => {
                return Err(line_err(
                    path,
                    line,
                    format!("expected a JSON object, found {}", kind(&other)),
                ))
            }
            // One pretty-printed object spread over lines reads as a broken first line.
            Err(_) if rows.is_empty() && whole_object(raw) => {
                return Err(DataError::invalid(
                    path,
                    "holds one JSON object, not rows: write one object per line (JSON Lines) \
                     or an array of objects",
                ))
            }
            Err(e) => return Err(line_err(path, line, format!("invalid JSON: {e}"))),
        }
    }
    Ok(rows)
}

fn whole_object(raw: &[u8]) -> bool {
    matches!(serde_json::from_slice::<Value>(raw), Ok(Value::Object(_)))
}

/// A file that is one JSON array: each element must be an object, and keeps
/// the line its `{` is on.
fn array(path: &Path, raw: &[u8]) -> Result<Vec<JsonLine>> {
    let values: Vec<Value> = serde_json::from_slice(raw).map_err(|e| {
        line_err(
            path,
            e.line(),
            format!("invalid JSON array (column {}): {e}", e.column()),
        )
    })?;
    let starts = element_lines(raw);
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let line = starts.get(i).copied().unwrap_or(1);
            match v {
                Value::Object(row) => Ok(JsonLine { line, row }),
                other => Err(line_err(
                    path,
                    line,
                    format!(
                        "array element {}: expected a JSON object, found {}",
                        i + 1,
                        kind(&other)
                    ),
                )),
            }
        })
        .collect()
}

/// The line each top-level element of a valid JSON array starts on.
fn element_lines(raw: &[u8]) -> Vec<usize> {
    let (mut out, mut line, mut depth) = (Vec::new(), 1, 0usize);
    let (mut in_string, mut escaped, mut expecting) = (false, false, false);
    for &b in raw {
        if b == b'\n' {
            line += 1;
        }
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        if depth == 1 && expecting && !b.is_ascii_whitespace() && b != b']' {
            out.push(line);
            expecting = false;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                expecting = depth == 1;
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b',' if depth == 1 => expecting = true,
            _ => {}
        }
    }
    out
}

/// The JSON type name of a value, for error messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn read(bytes: &[u8]) -> Result<Vec<JsonLine>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.json");
        std::fs::write(&path, bytes).unwrap();
        read_objects(&path)
    }

    fn lines_of(rows: &[JsonLine]) -> Vec<(usize, String)> {
        rows.iter()
            .map(|r| (r.line, r.row["a"].to_string()))
            .collect()
    }

    #[test]
    fn json_lines_plain_gzipped_and_with_a_bom_read_alike() {
        let text = b"{\"a\": 1}\n\n{\"a\": \"x\"}\n";
        let want = vec![(1, "1".to_string()), (3, "\"x\"".to_string())];
        assert_eq!(lines_of(&read(text).unwrap()), want);
        let mut bom = b"\xef\xbb\xbf".to_vec();
        bom.extend_from_slice(text);
        assert_eq!(lines_of(&read(&bom).unwrap()), want);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(text).unwrap();
        assert_eq!(lines_of(&read(&gz.finish().unwrap()).unwrap()), want);
        // `cat a.gz b.gz`, `gzip >>`, pigz and bgzip write several members: all are read.
        let member = |t: &[u8]| {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(t).unwrap();
            gz.finish().unwrap()
        };
        let two = [member(b"{\"a\": 1}\n\n"), member(b"{\"a\": \"x\"}\n")].concat();
        assert_eq!(lines_of(&read(&two).unwrap()), want);
    }

    #[test]
    fn an_array_of_objects_keeps_the_line_each_starts_on() {
        let text = b"[\n  {\"a\": 1,\n   \"b\": \"],{\\\"\"},\n  {\"a\": [2, {\"c\": 3}]}, {\"a\": 4}\n]\n";
        let rows = read(text).unwrap();
        assert_eq!(
            lines_of(&rows),
            vec![
                (2, "1".to_string()),
                (4, "[2,{\"c\":3}]".to_string()),
                (4, "4".to_string())
            ]
        );
        let e = read(b"[\n{\"a\": 1},\n 7\n]").unwrap_err().to_string();
        assert!(
            e.contains(
                "rows.json: line 3: array element 2: expected a JSON object, found a number"
            ),
            "{e}"
        );
    }

    #[test]
    fn bad_files_name_the_line_or_say_what_they_hold() {
        let e = read(b"{\"a\": 1}\n{\"a\": \n").unwrap_err().to_string();
        assert!(e.contains("rows.json: line 2: invalid JSON"), "{e}");
        let e = read(b"{\"a\": 1}\n[1]\n").unwrap_err().to_string();
        assert!(
            e.contains("line 2: expected a JSON object, found an array"),
            "{e}"
        );
        let e = read(b"{\n  \"a\": 1\n}\n").unwrap_err().to_string();
        assert!(e.contains("holds one JSON object, not rows"), "{e}");
        let e = read(b"\n \n").unwrap_err().to_string();
        assert!(e.contains("empty file"), "{e}");
        let e = read(b"{\"a\": \"\xff\"}").unwrap_err().to_string();
        assert!(e.contains("line 1: invalid UTF-8 at byte 7"), "{e}");
        let e = read(b"\x28\xb5\x2f\xfd\x00").unwrap_err().to_string();
        assert!(e.contains("zstd-compressed"), "{e}");
        let e = read(b"[{\"a\": 1},\n{\"a\" 2}]").unwrap_err().to_string();
        assert!(e.contains("line 2: invalid JSON array"), "{e}");
    }
}
