//! LintSeq backward sampling, as the official implementation does it.
//!
//! With the reference's settings (one child per round, top-k 1, population 1,
//! depth 512, indentation-biased sampling, comments and global definition
//! continuations excluded, no initial-error masking), one edit path is:
//!
//! 1. Split the program on `"\n"`. Candidate lines are the non-blank lines
//!    whose first non-space character is not `#`, minus the continuation lines
//!    of an `UPPER_CASE = (`/`[` global definition.
//! 2. Each line gets an indentation (lines with at most one non-space
//!    character inherit the previous line's), and candidates a weight: 1 at
//!    indentation 0, otherwise `indent / tab_width`, where `tab_width` is the
//!    first non-zero indentation of the file.
//! 3. Repeatedly draw one remaining candidate with probability proportional
//!    to its weight. Delete it with its indentation children (the following
//!    lines indented deeper), lint what is left, delete every reported line
//!    with its children, and lint again until clean.
//! 4. Stop when no candidate remains, or after 512 rounds.
//!
//! The states are then reversed, `""` is put in front, and consecutive states
//! are diffed (see [`crate::difflib::unified_diff_n0`]); empty diffs are
//! dropped.

use crate::difflib::unified_diff_n0;

/// The maximum number of deletion rounds (the reference's `max_depth`).
pub const MAX_ROUNDS: usize = 512;

/// A small, fast, portable PRNG (SplitMix64): the same seed gives the same
/// sequence on every platform and every version of ouro.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

fn py_lstrip(s: &str) -> &str {
    s.trim_start_matches(crate::difflib::py_isspace)
}

/// Per-line layout facts the sampler needs.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Indentation (in chars) as the reference computes it.
    pub indents: Vec<usize>,
    /// Sampling weight; 0 for non-candidates.
    pub weights: Vec<f64>,
    /// Candidate line indices, ascending.
    pub candidates: Vec<usize>,
}

impl Layout {
    pub fn new(lines: &[&str]) -> Layout {
        let mut candidates: Vec<usize> = Vec::new();
        // ignore_comments
        let default: Vec<bool> = lines
            .iter()
            .map(|l| {
                let s = py_lstrip(l);
                !s.is_empty() && !s.starts_with('#')
            })
            .collect();
        // ignore_global_defs
        let mut open_def: Option<char> = None;
        for (i, line) in lines.iter().enumerate() {
            if !default[i] {
                continue;
            }
            let last = line
                .trim_end_matches(crate::difflib::py_isspace)
                .chars()
                .last();
            match open_def {
                None => {
                    candidates.push(i);
                    if let Some(eq) = line.find('=') {
                        let lhs: String = line[..eq].chars().filter(|&c| c != ' ').collect();
                        if is_py_upper(&lhs) && matches!(last, Some('(') | Some('[')) {
                            open_def = Some(if last == Some('(') { ')' } else { ']' });
                        }
                    }
                }
                Some(close) => {
                    if last == Some(close) {
                        open_def = None;
                    }
                }
            }
        }
        let mut indents = Vec::with_capacity(lines.len());
        let mut tab_width: Option<usize> = None;
        let mut li = 0usize;
        for line in lines {
            let stripped = py_lstrip(line);
            if stripped.chars().count() > 1 {
                li = line.chars().count() - stripped.chars().count();
            }
            indents.push(li);
            if tab_width.is_none() && li > 0 {
                tab_width = Some(li);
            }
        }
        // Weights use the tab width known *at that line* in the reference
        // (it is set while scanning); a line with li > 0 always has it set.
        let mut weights = vec![0.0; lines.len()];
        let mut tw: Option<usize> = None;
        let mut ci = 0;
        for (i, &li) in indents.iter().enumerate() {
            if tw.is_none() && li > 0 {
                tw = Some(li);
            }
            if ci < candidates.len() && candidates[ci] == i {
                ci += 1;
                weights[i] = if li == 0 {
                    1.0
                } else {
                    li as f64 / tw.unwrap_or(li) as f64
                };
            }
        }
        Layout {
            indents,
            weights,
            candidates,
        }
    }

    /// The lines after `target` that are indented deeper than it, up to the
    /// first that is not (original line numbering, deleted lines included).
    pub fn children(&self, target: usize) -> std::ops::Range<usize> {
        let t = self.indents[target];
        let mut end = target + 1;
        while end < self.indents.len() && self.indents[end] > t {
            end += 1;
        }
        target + 1..end
    }
}

/// Python's `str.isupper()`: at least one cased char and no lowercase ones.
fn is_py_upper(s: &str) -> bool {
    let mut cased = false;
    for c in s.chars() {
        if c.is_lowercase() {
            return false;
        }
        if c.is_uppercase() {
            cased = true;
        }
    }
    cased
}

/// One sampled edit path: the original line indices deleted in each round,
/// in deletion order (the first round deletes last-written lines).
pub type EditPath = Vec<Vec<usize>>;

/// Samples one deletion path for `code`.
///
/// `lint` returns the 1-based lines of the text it is given that must be
/// deleted (empty when clean). Returns `None` when the program has no
/// candidate line (the reference skips such programs).
pub fn sample_edit_path<L>(code: &str, rng: &mut SplitMix64, mut lint: L) -> Option<EditPath>
where
    L: FnMut(&str) -> Vec<u32>,
{
    let lines: Vec<&str> = code.split('\n').collect();
    let layout = Layout::new(&lines);
    if layout.candidates.is_empty() {
        return None;
    }
    let n = lines.len();
    let mut deleted = vec![false; n];
    let mut remaining: Vec<usize> = layout.candidates.clone();
    let mut path: EditPath = Vec::new();
    let mut text = String::with_capacity(code.len());
    let mut kept: Vec<usize> = Vec::with_capacity(n);
    let mut in_edit = vec![false; n];
    while !remaining.is_empty() && path.len() < MAX_ROUNDS {
        let total: f64 = remaining.iter().map(|&i| layout.weights[i]).sum();
        let mut r = rng.next_f64() * total;
        let mut child = *remaining.last().expect("non-empty");
        for &i in &remaining {
            r -= layout.weights[i];
            if r < 0.0 {
                child = i;
                break;
            }
        }
        let mut edit: Vec<usize> = Vec::new();
        let mut affected = vec![child];
        loop {
            let mut extra = Vec::new();
            for &line in &affected {
                for c in layout.children(line) {
                    if !in_edit[c] && !affected.contains(&c) && !extra.contains(&c) {
                        extra.push(c);
                    }
                }
            }
            affected.extend(extra);
            for &a in &affected {
                if !in_edit[a] {
                    in_edit[a] = true;
                    edit.push(a);
                }
                deleted[a] = true;
            }
            text.clear();
            kept.clear();
            for (i, line) in lines.iter().enumerate() {
                if !deleted[i] {
                    if !kept.is_empty() {
                        text.push('\n');
                    }
                    text.push_str(line);
                    kept.push(i);
                }
            }
            let reported = lint(&text);
            if reported.is_empty() || kept.is_empty() {
                break;
            }
            affected = reported
                .iter()
                .map(|&l| kept[(l.max(1) as usize - 1).min(kept.len() - 1)])
                .collect();
            affected.sort_unstable();
            affected.dedup();
        }
        for &e in &edit {
            in_edit[e] = false;
        }
        remaining.retain(|i| !deleted[*i]);
        edit.sort_unstable();
        path.push(edit);
    }
    Some(path)
}

/// The program states of an edit path, from `""` to the full program, as
/// the reference's `inflate_edit_path` builds them (before diffing).
pub fn states(code: &str, path: &EditPath) -> Vec<String> {
    let lines: Vec<&str> = code.split('\n').collect();
    let mut deleted = vec![false; lines.len()];
    let mut out = vec![code.to_string()];
    for edit in path {
        for &i in edit {
            deleted[i] = true;
        }
        let s: Vec<&str> = lines
            .iter()
            .enumerate()
            .filter(|(i, _)| !deleted[*i])
            .map(|(_, l)| *l)
            .collect();
        out.push(s.join("\n"));
    }
    if out.last().map(|s| !s.is_empty()).unwrap_or(true) {
        out.push(String::new());
    }
    out.reverse();
    out
}

/// The non-empty diffs between consecutive states (the edit sequence).
pub fn diffs_of_states(states: &[String]) -> Vec<String> {
    states
        .windows(2)
        .map(|w| unified_diff_n0(&w[0], &w[1]))
        .filter(|d| !d.is_empty())
        .collect()
}

/// The training completion for an edit sequence:
/// `"\n<|diff|>".join([""] + edits + ["", ""])`.
pub fn completion_text(edits: &[String]) -> String {
    const SEP: &str = "\n<|diff|>";
    let mut s = String::new();
    for e in edits {
        s.push_str(SEP);
        s.push_str(e);
    }
    s.push_str(SEP);
    s.push_str(SEP);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_follow_indentation_and_short_lines_inherit_it() {
        let lines = vec![
            "def f():",
            "    x = [",
            "        1,",
            "]",
            "    return x",
            "y = 1",
        ];
        let l = Layout::new(&lines);
        assert_eq!(l.indents, vec![0, 4, 8, 8, 4, 0]);
        assert_eq!(l.children(0), 1..5);
        assert_eq!(l.children(1), 2..4);
        assert_eq!(l.weights[0], 1.0);
        assert_eq!(l.weights[2], 2.0);
    }

    #[test]
    fn comments_blank_lines_and_global_def_continuations_are_not_candidates() {
        let lines = vec!["# c", "", "TABLE = [", "    1,", "]", "x = 1"];
        let l = Layout::new(&lines);
        assert_eq!(l.candidates, vec![2, 5]);
    }

    #[test]
    fn completion_text_matches_the_reference_join() {
        let edits = vec!["@@ -0,0 +1 @@\n+a".to_string()];
        assert_eq!(
            completion_text(&edits),
            "\n<|diff|>@@ -0,0 +1 @@\n+a\n<|diff|>\n<|diff|>"
        );
    }
}
