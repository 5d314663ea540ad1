//! Replaying a sequence of headerless `n=0` unified diffs.

/// Why a diff could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("edit {edit}: malformed hunk header {header:?}")]
    BadHeader { edit: usize, header: String },
    #[error("edit {edit}: line {line:?} is not part of a hunk")]
    OutsideHunk { edit: usize, line: String },
    #[error("edit {edit}: hunk expects {expected:?} at line {at}, found {found:?}")]
    Mismatch {
        edit: usize,
        at: usize,
        expected: String,
        found: Option<String>,
    },
    #[error("edit {edit}: hunk at line {at} goes back before line {cursor}")]
    OutOfOrder {
        edit: usize,
        at: usize,
        cursor: usize,
    },
}

fn parse_range(s: &str) -> Option<(usize, usize)> {
    match s.split_once(',') {
        Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
        None => Some((s.parse().ok()?, 1)),
    }
}

fn parse_header(h: &str) -> Option<(usize, usize)> {
    let rest = h.strip_prefix("@@ -")?.strip_suffix(" @@")?;
    let (old, _new) = rest.split_once(" +")?;
    parse_range(old)
}

/// Applies one diff (edit number `edit`, for messages) to `lines`.
pub fn apply_diff(lines: &[String], diff: &str, edit: usize) -> Result<Vec<String>, ReplayError> {
    let mut out: Vec<String> = Vec::with_capacity(lines.len() + 8);
    let mut cursor = 0usize;
    let mut in_hunk = false;
    for line in diff.split('\n') {
        if line.starts_with("@@") {
            let (start, len) = parse_header(line).ok_or_else(|| ReplayError::BadHeader {
                edit,
                header: line.to_string(),
            })?;
            // An empty old range "-a,0" means "insert after line a".
            let begin = if len == 0 {
                start
            } else {
                start.saturating_sub(1)
            };
            if begin < cursor || begin > lines.len() {
                return Err(ReplayError::OutOfOrder {
                    edit,
                    at: begin,
                    cursor,
                });
            }
            out.extend_from_slice(&lines[cursor..begin]);
            cursor = begin;
            in_hunk = true;
            continue;
        }
        if !in_hunk {
            return Err(ReplayError::OutsideHunk {
                edit,
                line: line.to_string(),
            });
        }
        if let Some(added) = line.strip_prefix('+') {
            out.push(added.to_string());
        } else if let Some(removed) = line.strip_prefix('-').or_else(|| line.strip_prefix(' ')) {
            let context = line.starts_with(' ');
            match lines.get(cursor) {
                Some(found) if found == removed => {
                    if context {
                        out.push(found.clone());
                    }
                    cursor += 1;
                }
                found => {
                    return Err(ReplayError::Mismatch {
                        edit,
                        at: cursor + 1,
                        expected: removed.to_string(),
                        found: found.cloned(),
                    })
                }
            }
        } else {
            return Err(ReplayError::OutsideHunk {
                edit,
                line: line.to_string(),
            });
        }
    }
    out.extend_from_slice(&lines[cursor.min(lines.len())..]);
    Ok(out)
}

/// Applies every diff in order, starting from an empty file, and returns the
/// final text (lines joined with `"\n"`).
pub fn replay(diffs: &[String]) -> Result<String, ReplayError> {
    let mut lines: Vec<String> = Vec::new();
    for (i, d) in diffs.iter().enumerate() {
        lines = apply_diff(&lines, d, i)?;
    }
    Ok(lines.join("\n"))
}

/// What a correct replay of `program` must produce:
/// `"\n".join(program.strip().splitlines())`, which is `program.strip()`
/// for programs with `"\n"` line ends.
pub fn replay_target(program: &str) -> String {
    crate::difflib::diff_lines(program).join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::difflib::unified_diff_n0;

    #[test]
    fn replay_of_diffs_rebuilds_each_state() {
        let states = [
            "",
            "def f():\n    return 1",
            "import os\ndef f():\n    x = 2\n    return 1",
            "import os\ndef f():\n    x = 2\n    return x",
        ];
        let diffs: Vec<String> = states
            .windows(2)
            .map(|w| unified_diff_n0(w[0], w[1]))
            .collect();
        assert_eq!(replay(&diffs).unwrap(), states[3]);
    }

    #[test]
    fn corrupted_diff_is_rejected_with_its_position() {
        let diffs = vec![
            "@@ -0,0 +1 @@\n+a".to_string(),
            "@@ -1 +1 @@\n-b\n+c".to_string(),
        ];
        assert!(matches!(
            replay(&diffs),
            Err(ReplayError::Mismatch { edit: 1, .. })
        ));
    }
}
