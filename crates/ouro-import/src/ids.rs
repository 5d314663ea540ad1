//! From a request id (OpenAI's `custom_id`, a plain `task_id`) to a problem.
//!
//! Batch APIs require one unique `custom_id` per request and leave its shape
//! to the user (`HumanEval/25#3`, `req-17`, `he25_sample_3`), so the rule is
//! the user's too: an explicit map, a regular expression, or the default
//! `PROBLEM_ID` / `PROBLEM_ID#<anything>` (a number K is the request's place:
//! the sample index, or with n choices per request samples K*n to K*n+n-1).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use regex::Regex;

use crate::jsonl::{read_jsonl, Fields, ImportError, Result};

/// How request ids name problems.
#[derive(Debug, Clone, Default)]
pub enum IdRule {
    /// `PROBLEM_ID` or `PROBLEM_ID#<suffix>`; a numeric suffix is the index.
    #[default]
    Default,
    /// The named group `problem_id` (or else the first group) is the problem
    /// id; an optional named group `index` (digits) is the sample index.
    Pattern(Regex),
    /// Request id → problem id, read from a JSONL file of
    /// `{"custom_id": ..., "problem_id": ...}` lines.
    Map {
        path: PathBuf,
        map: HashMap<String, String>,
    },
}

impl IdRule {
    /// Compiles `--id-pattern`; the error says what is wrong with it.
    pub fn pattern(pattern: &str) -> std::result::Result<IdRule, String> {
        let re = Regex::new(pattern).map_err(|e| format!("--id-pattern: {e}"))?;
        let named = re.capture_names().flatten().any(|n| n == "problem_id");
        if !named && re.captures_len() < 2 {
            return Err(format!(
                "--id-pattern '{pattern}' has no capture group: wrap the problem id in (...) or (?P<problem_id>...)"
            ));
        }
        Ok(IdRule::Pattern(re))
    }

    /// Reads `--id-map`: every line needs `custom_id` and `problem_id`, and a
    /// request id may appear once.
    pub fn map_file(path: &Path) -> Result<IdRule> {
        let mut map = HashMap::new();
        let mut first_line: HashMap<String, usize> = HashMap::new();
        for line in read_jsonl(path)? {
            let f = Fields::new(path, &line);
            let (from, to) = (f.label("custom_id")?, f.label("problem_id")?);
            if let Some(first) = first_line.insert(from.clone(), line.number) {
                return Err(f.error(
                    "custom_id",
                    format!("'{from}' is mapped twice (first on line {first})"),
                ));
            }
            map.insert(from, to);
        }
        Ok(IdRule::Map {
            path: path.to_path_buf(),
            map,
        })
    }

    /// The problem id and, when the request id carries one, the sample index.
    /// `known` holds the problem ids of the `--problems` set; `field` names
    /// the input field in errors.
    pub fn resolve(
        &self,
        raw: &str,
        known: &HashSet<&str>,
        f: &Fields,
        field: &str,
    ) -> Result<(String, Option<u32>)> {
        match self {
            IdRule::Default => default_split(raw, known).map_err(|m| f.error(field, m)),
            IdRule::Pattern(re) => {
                let caps = re.captures(raw).ok_or_else(|| {
                    f.error(
                        field,
                        format!("'{raw}' does not match --id-pattern '{}'", re.as_str()),
                    )
                })?;
                let id = caps
                    .name("problem_id")
                    .or_else(|| caps.get(1))
                    .map(|m| m.as_str().to_string())
                    .ok_or_else(|| {
                        f.error(
                            field,
                            format!("--id-pattern captured no problem id from '{raw}'"),
                        )
                    })?;
                let index = match caps.name("index") {
                    None => None,
                    Some(m) => match sample_number(m.as_str(), raw) {
                        Ok(Some(k)) => Some(k),
                        Ok(None) => {
                            return Err(f.error(
                                field,
                                format!("index group '{}' of '{raw}' is not a number", m.as_str()),
                            ))
                        }
                        Err(e) => return Err(f.error(field, e)),
                    },
                };
                Ok((id, index))
            }
            IdRule::Map { path, map } => match map.get(raw) {
                Some(id) => Ok((id.clone(), None)),
                None => Err(ImportError::Line {
                    path: f.path.to_path_buf(),
                    line: f.line,
                    message: format!(
                        "field '{field}': '{raw}' is not in --id-map {}",
                        path.display()
                    ),
                }),
            },
        }
    }
}

/// A known problem id as it is, else the part before the last `#` whose
/// prefix is a known problem (ids such as `a#b#3` keep their own `#`).
fn default_split(raw: &str, known: &HashSet<&str>) -> Result<(String, Option<u32>), String> {
    let sample_of = raw.rmatch_indices('#').find_map(|(at, _)| {
        let (id, suffix) = (&raw[..at], &raw[at + 1..]);
        let numbered = !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit());
        (numbered && known.contains(id)).then_some((id, suffix))
    });
    if known.contains(raw) {
        if let Some((id, suffix)) = sample_of {
            return Err(format!(
                "'{raw}' is problem '{raw}' and also sample {suffix} of problem '{id}': give \
                 --id-pattern or --id-map to say which"
            ));
        }
        return Ok((raw.to_string(), None));
    }
    for (at, _) in raw.rmatch_indices('#') {
        let (id, suffix) = (&raw[..at], &raw[at + 1..]);
        if known.contains(id) {
            return Ok((id.to_string(), sample_number(suffix, raw)?));
        }
    }
    // Unknown either way: report the id as written before a numeric suffix,
    // the shape the error message asks for.
    match raw.rsplit_once('#') {
        Some((id, suffix)) => match sample_number(suffix, raw)? {
            Some(k) => Ok((id.to_string(), Some(k))),
            None => Ok((raw.to_string(), None)),
        },
        None => Ok((raw.to_string(), None)),
    }
}

/// A sample number written in an id: `None` when `s` is not all digits (a name), an
/// error when it is digits past u32 (a number that cannot place a sample).
fn sample_number(s: &str, raw: &str) -> Result<Option<u32>, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    s.parse::<u32>()
        .map(Some)
        .map_err(|_| format!("sample number {s} in '{raw}' is larger than {}", u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonl::Line;

    fn resolve(rule: &IdRule, raw: &str) -> Result<(String, Option<u32>)> {
        let known: HashSet<&str> = ["HumanEval/25", "HumanEval/3", "a#b", "a", "a#1"]
            .into_iter()
            .collect();
        let line = Line {
            number: 7,
            value: serde_json::json!({}),
        };
        let f = Fields::new(Path::new("in.jsonl"), &line);
        rule.resolve(raw, &known, &f, "custom_id")
    }

    #[test]
    fn default_takes_free_suffixes_and_ids_with_hashes() {
        let r = IdRule::Default;
        assert_eq!(
            resolve(&r, "HumanEval/25").unwrap(),
            ("HumanEval/25".into(), None)
        );
        assert_eq!(
            resolve(&r, "HumanEval/25#4").unwrap(),
            ("HumanEval/25".into(), Some(4))
        );
        assert_eq!(
            resolve(&r, "HumanEval/25#bad1").unwrap(),
            ("HumanEval/25".into(), None)
        );
        assert_eq!(resolve(&r, "a#b#2").unwrap(), ("a#b".into(), Some(2)));
        assert_eq!(resolve(&r, "a#b").unwrap(), ("a#b".into(), None));
        assert_eq!(resolve(&r, "nope#3").unwrap(), ("nope".into(), Some(3)));
        // Problems `a` and `a#1`: `a#1` reads both ways, and is refused.
        assert_eq!(resolve(&r, "a#2").unwrap(), ("a".into(), Some(2)));
        let err = resolve(&r, "a#1").unwrap_err().to_string();
        assert!(err.contains("also sample 1 of problem 'a'"), "{err}");
        // Digits past u32 are a number that cannot place a sample, not a name.
        let err = resolve(&r, "HumanEval/25#4294967296")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "sample number 4294967296 in 'HumanEval/25#4294967296' is larger than 4294967295"
            ),
            "{err}"
        );
        let r = IdRule::pattern(r"^(?P<problem_id>HumanEval/\d+)-s(?P<index>.*)$").unwrap();
        let err = resolve(&r, "HumanEval/25-s99999999999")
            .unwrap_err()
            .to_string();
        assert!(err.contains("is larger than"), "{err}");
        let err = resolve(&r, "HumanEval/25-sx").unwrap_err().to_string();
        assert!(
            err.contains("index group 'x' of 'HumanEval/25-sx' is not a number"),
            "{err}"
        );
    }

    #[test]
    fn pattern_uses_named_or_first_group() {
        let r = IdRule::pattern(r"^he(\d+)_sample_\d+$").unwrap();
        let (id, _) = resolve(&r, "he25_sample_3").unwrap();
        assert_eq!(id, "25");
        let r = IdRule::pattern(r"^(?P<problem_id>HumanEval/\d+)-s(?P<index>\d+)$").unwrap();
        assert_eq!(
            resolve(&r, "HumanEval/25-s3").unwrap(),
            ("HumanEval/25".into(), Some(3))
        );
        let err = resolve(&r, "req-17").unwrap_err().to_string();
        assert!(err.starts_with("in.jsonl:7: field 'custom_id'"), "{err}");
        assert!(err.contains("does not match --id-pattern"), "{err}");
        assert!(IdRule::pattern("no-group")
            .unwrap_err()
            .contains("no capture group"));
        assert!(IdRule::pattern("(")
            .unwrap_err()
            .starts_with("--id-pattern:"));
    }

    #[test]
    fn map_names_the_missing_id() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("map.jsonl");
        std::fs::write(
            &p,
            "{\"custom_id\": \"req-1\", \"problem_id\": \"HumanEval/3\"}\n",
        )
        .unwrap();
        let r = IdRule::map_file(&p).unwrap();
        assert_eq!(resolve(&r, "req-1").unwrap(), ("HumanEval/3".into(), None));
        let err = resolve(&r, "req-2").unwrap_err().to_string();
        assert!(err.contains("'req-2' is not in --id-map"), "{err}");
        std::fs::write(
            &p,
            "{\"custom_id\": \"r\", \"problem_id\": \"x\"}\n{\"custom_id\": \"r\", \"problem_id\": \"y\"}\n",
        )
        .unwrap();
        let err = IdRule::map_file(&p).unwrap_err().to_string();
        assert!(
            err.contains(":2: field 'custom_id'") && err.contains("mapped twice"),
            "{err}"
        );
    }
}
