//! A port of the parts of Python's `difflib` that LintSeq depends on.
//!
//! The output of [`unified_diff_n0`] is byte-identical to
//!
//! ```python
//! "\n".join(list(difflib.unified_diff(a.strip().splitlines(),
//!                                      b.strip().splitlines(),
//!                                      n=0, lineterm=""))[2:])
//! ```
//!
//! including `SequenceMatcher`'s choices on repeated lines and its
//! "popular element" heuristic (`autojunk=True`: when `b` has at least 200
//! lines, a line occurring more than `len(b) // 100 + 1` times is not used to
//! seed matches). The tests in `tests/difflib_python.rs` compare against
//! CPython directly.

use std::collections::HashMap;

/// Python's `str.isspace` for one character (`str.strip` uses it).
pub fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()` with no arguments.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(py_isspace)
}

/// The characters Python's `str.splitlines` ends a line at: `\n`, `\r` (and
/// `\r\n` as one), `\v`, `\f`, `\x1c`, `\x1d`, `\x1e`, `\x85`, U+2028 and U+2029.
pub fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r'
            | '\u{0b}'
            | '\u{0c}'
            | '\u{1c}'
            | '\u{1d}'
            | '\u{1e}'
            | '\u{85}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

/// Python's `str.splitlines()` (no `keepends`), at [`is_line_break`]'s characters.
pub fn py_splitlines(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut iter = s.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if is_line_break(c) {
            out.push(&s[start..i]);
            let mut end = i + c.len_utf8();
            if c == '\r' {
                if let Some(&(_, '\n')) = iter.peek() {
                    iter.next();
                    end += 1;
                }
            }
            start = end;
        }
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// The lines LintSeq diffs: `s.strip().splitlines()`.
pub fn diff_lines(s: &str) -> Vec<&str> {
    py_splitlines(py_strip(s))
}

/// One opcode of `SequenceMatcher.get_opcodes()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    Equal,
    Replace,
    Delete,
    Insert,
}

/// `(tag, i1, i2, j1, j2)` as in Python.
pub type Opcode = (Tag, usize, usize, usize, usize);

/// `difflib.SequenceMatcher(None, a, b)` (autojunk on) over lines.
pub struct SequenceMatcher<'a> {
    a: &'a [&'a str],
    b: &'a [&'a str],
    b2j: HashMap<&'a str, Vec<usize>>,
}

impl<'a> SequenceMatcher<'a> {
    pub fn new(a: &'a [&'a str], b: &'a [&'a str]) -> Self {
        let mut b2j: HashMap<&'a str, Vec<usize>> = HashMap::new();
        for (j, line) in b.iter().enumerate() {
            b2j.entry(*line).or_default().push(j);
        }
        let n = b.len();
        if n >= 200 {
            let ntest = n / 100 + 1;
            b2j.retain(|_, idxs| idxs.len() <= ntest);
        }
        SequenceMatcher { a, b, b2j }
    }

    /// `find_longest_match(alo, ahi, blo, bhi)`; no junk function, so only the
    /// non-junk extension loops do anything (popular lines are not junk).
    fn find_longest_match(
        &self,
        alo: usize,
        ahi: usize,
        blo: usize,
        bhi: usize,
        j2len: &mut HashMap<usize, usize>,
        newj2len: &mut HashMap<usize, usize>,
    ) -> (usize, usize, usize) {
        let (a, b) = (self.a, self.b);
        let (mut besti, mut bestj, mut bestsize) = (alo, blo, 0usize);
        j2len.clear();
        for (i, ai) in a.iter().enumerate().take(ahi).skip(alo) {
            newj2len.clear();
            if let Some(js) = self.b2j.get(ai) {
                for &j in js {
                    if j < blo {
                        continue;
                    }
                    if j >= bhi {
                        break;
                    }
                    let k = if j > 0 {
                        j2len.get(&(j - 1)).copied().unwrap_or(0)
                    } else {
                        0
                    } + 1;
                    newj2len.insert(j, k);
                    if k > bestsize {
                        besti = i + 1 - k;
                        bestj = j + 1 - k;
                        bestsize = k;
                    }
                }
            }
            std::mem::swap(j2len, newj2len);
        }
        while besti > alo && bestj > blo && a[besti - 1] == b[bestj - 1] {
            besti -= 1;
            bestj -= 1;
            bestsize += 1;
        }
        while besti + bestsize < ahi
            && bestj + bestsize < bhi
            && a[besti + bestsize] == b[bestj + bestsize]
        {
            bestsize += 1;
        }
        (besti, bestj, bestsize)
    }

    /// `get_matching_blocks()`, including the final `(len(a), len(b), 0)`.
    pub fn matching_blocks(&self) -> Vec<(usize, usize, usize)> {
        let (la, lb) = (self.a.len(), self.b.len());
        let mut queue = vec![(0, la, 0, lb)];
        let mut blocks = Vec::new();
        let mut j2len = HashMap::new();
        let mut newj2len = HashMap::new();
        while let Some((alo, ahi, blo, bhi)) = queue.pop() {
            let (i, j, k) = self.find_longest_match(alo, ahi, blo, bhi, &mut j2len, &mut newj2len);
            if k > 0 {
                blocks.push((i, j, k));
                if alo < i && blo < j {
                    queue.push((alo, i, blo, j));
                }
                if i + k < ahi && j + k < bhi {
                    queue.push((i + k, ahi, j + k, bhi));
                }
            }
        }
        blocks.sort_unstable();
        let (mut i1, mut j1, mut k1) = (0, 0, 0);
        let mut out = Vec::with_capacity(blocks.len() + 1);
        for (i2, j2, k2) in blocks {
            if i1 + k1 == i2 && j1 + k1 == j2 {
                k1 += k2;
            } else {
                if k1 > 0 {
                    out.push((i1, j1, k1));
                }
                (i1, j1, k1) = (i2, j2, k2);
            }
        }
        if k1 > 0 {
            out.push((i1, j1, k1));
        }
        out.push((la, lb, 0));
        out
    }

    /// `get_opcodes()`.
    pub fn opcodes(&self) -> Vec<Opcode> {
        let (mut i, mut j) = (0, 0);
        let mut answer = Vec::new();
        for (ai, bj, size) in self.matching_blocks() {
            let tag = if i < ai && j < bj {
                Some(Tag::Replace)
            } else if i < ai {
                Some(Tag::Delete)
            } else if j < bj {
                Some(Tag::Insert)
            } else {
                None
            };
            if let Some(tag) = tag {
                answer.push((tag, i, ai, j, bj));
            }
            i = ai + size;
            j = bj + size;
            if size > 0 {
                answer.push((Tag::Equal, ai, i, bj, j));
            }
        }
        answer
    }

    /// `get_grouped_opcodes(n)`.
    pub fn grouped_opcodes(&self, n: usize) -> Vec<Vec<Opcode>> {
        let mut codes = self.opcodes();
        if codes.is_empty() {
            codes.push((Tag::Equal, 0, 1, 0, 1));
        }
        if let Some(first) = codes.first_mut() {
            if first.0 == Tag::Equal {
                let (t, i1, i2, j1, j2) = *first;
                *first = (
                    t,
                    i1.max(i2.saturating_sub(n)),
                    i2,
                    j1.max(j2.saturating_sub(n)),
                    j2,
                );
            }
        }
        if let Some(last) = codes.last_mut() {
            if last.0 == Tag::Equal {
                let (t, i1, i2, j1, j2) = *last;
                *last = (t, i1, i2.min(i1 + n), j1, j2.min(j1 + n));
            }
        }
        let nn = n + n;
        let mut groups = Vec::new();
        let mut group = Vec::new();
        for (tag, mut i1, i2, mut j1, j2) in codes {
            if tag == Tag::Equal && i2 - i1 > nn {
                group.push((tag, i1, i2.min(i1 + n), j1, j2.min(j1 + n)));
                groups.push(std::mem::take(&mut group));
                i1 = i1.max(i2.saturating_sub(n));
                j1 = j1.max(j2.saturating_sub(n));
            }
            group.push((tag, i1, i2, j1, j2));
        }
        if !matches!(group.as_slice(), [] | [(Tag::Equal, ..)]) {
            groups.push(group);
        }
        groups
    }
}

fn format_range_unified(start: usize, stop: usize) -> String {
    let mut beginning = start + 1;
    let length = stop - start;
    if length == 1 {
        return beginning.to_string();
    }
    if length == 0 {
        beginning -= 1;
    }
    format!("{beginning},{length}")
}

/// `difflib.unified_diff(a, b, n=n, lineterm="")` without the two header
/// lines, joined with `"\n"`. Empty when the sequences are equal.
pub fn unified_diff_lines(a: &[&str], b: &[&str], n: usize) -> String {
    let sm = SequenceMatcher::new(a, b);
    let mut out = String::new();
    for group in sm.grouped_opcodes(n) {
        let first = group[0];
        let last = group[group.len() - 1];
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str("@@ -");
        out.push_str(&format_range_unified(first.1, last.2));
        out.push_str(" +");
        out.push_str(&format_range_unified(first.3, last.4));
        out.push_str(" @@");
        for (tag, i1, i2, j1, j2) in group {
            if tag == Tag::Equal {
                for line in &a[i1..i2] {
                    out.push_str("\n ");
                    out.push_str(line);
                }
                continue;
            }
            if matches!(tag, Tag::Replace | Tag::Delete) {
                for line in &a[i1..i2] {
                    out.push_str("\n-");
                    out.push_str(line);
                }
            }
            if matches!(tag, Tag::Replace | Tag::Insert) {
                for line in &b[j1..j2] {
                    out.push_str("\n+");
                    out.push_str(line);
                }
            }
        }
    }
    out
}

/// LintSeq's `get_diff(a, b)`: the headerless `n=0` unified diff of
/// `a.strip().splitlines()` and `b.strip().splitlines()`.
pub fn unified_diff_n0(a: &str, b: &str) -> String {
    let la = diff_lines(a);
    let lb = diff_lines(b);
    unified_diff_lines(&la, &lb, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitlines_matches_python_on_mixed_breaks() {
        assert_eq!(
            py_splitlines("a\r\nb\rc\n\nd\u{2028}e\n"),
            vec!["a", "b", "c", "", "d", "e"]
        );
        assert_eq!(py_splitlines(""), Vec::<&str>::new());
        assert_eq!(py_splitlines("\n"), vec![""]);
    }

    #[test]
    fn strip_removes_python_whitespace_including_file_separators() {
        assert_eq!(py_strip("\u{1c} x \u{a0}\n"), "x");
    }

    #[test]
    fn insertion_into_empty_file_has_zero_length_source_range() {
        assert_eq!(unified_diff_n0("", "a\nb"), "@@ -0,0 +1,2 @@\n+a\n+b");
        assert_eq!(unified_diff_n0("a", "a\nb"), "@@ -1,0 +2 @@\n+b");
        assert_eq!(unified_diff_n0("a", "a"), "");
    }
}
