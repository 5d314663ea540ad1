//! The one Python tokenizer: a small lossless lexer, enough for
//! normalisation, shingling and token-level mutations, not a parser.
//!
//! It gives two streams. [`tokenize`] is coarse and lossless: whitespace and
//! newlines are tokens, so a mutation can rewrite one token and put the source
//! back together byte for byte, and an f-string is one literal, as dedup and
//! decontamination keys have always read it (changing that would change every
//! dedup key and decontamination verdict). [`fine_tokens`] drops layout and
//! splits f-strings and run-together numbers as Python does; token-level diffs
//! ([`crate::tokens`]) read it, and on real code it agrees with ruff's lexer
//! token for token (`tests/tokens_agree_with_ruff.rs`).
//!
//! It recognises names, numbers, string literals (prefixes, triple quotes,
//! escapes), comments, operators (longest match) and whitespace/newlines.
//! Every byte of the input belongs to exactly one coarse token, so
//! concatenating the token texts gives the input back.

mod fstrings;

pub use fstrings::fine_tokens;

/// Kind of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokKind {
    Name,
    Number,
    Str,
    Op,
    Comment,
    /// Spaces and tabs inside a line.
    Space,
    /// A line break (`\n` or `\r\n`).
    Newline,
    /// Anything else (stray characters).
    Other,
}

/// One token: its kind and byte range in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tok {
    pub kind: TokKind,
    pub start: usize,
    pub end: usize,
}

impl Tok {
    pub fn text<'a>(&self, src: &'a str) -> &'a str {
        &src[self.start..self.end]
    }
}

const OPS: [&str; 47] = [
    "**=", "//=", ">>=", "<<=", "...", "->", ":=", "==", "!=", "<=", ">=", "**", "//", "<<", ">>",
    "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "@=", "+", "-", "*", "/", "%", "@", "<", ">",
    "=", "(", ")", "[", "]", "{", "}", ",", ":", ".", ";", "&", "|", "^", "~",
];

/// Python keywords (names that are never variables).
pub const KEYWORDS: [&str; 35] = [
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

fn string_start(src: &[u8], i: usize) -> Option<usize> {
    // Returns the index of the opening quote if a string literal starts at i.
    let mut j = i;
    while j < src.len()
        && j - i < 2
        && matches!(src[j].to_ascii_lowercase(), b'r' | b'b' | b'u' | b'f')
    {
        j += 1;
    }
    (j < src.len() && (src[j] == b'\'' || src[j] == b'"')).then_some(j)
}

fn scan_string(src: &[u8], q: usize) -> usize {
    let quote = src[q];
    let triple = q + 2 < src.len() && src[q + 1] == quote && src[q + 2] == quote;
    let mut i = if triple { q + 3 } else { q + 1 };
    while i < src.len() {
        let c = src[i];
        if c == b'\\' {
            i += 2;
            continue;
        }
        if triple {
            if c == quote
                && i + 2 < src.len()
                && src.get(i + 1) == Some(&quote)
                && src.get(i + 2) == Some(&quote)
            {
                return i + 3;
            }
        } else if c == quote {
            return i + 1;
        } else if c == b'\n' {
            return i;
        }
        i += 1;
    }
    src.len()
}

/// Splits `src` into tokens covering every byte.
pub fn tokenize(src: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < src.len() {
        let (kind, end) = next_token(src, i);
        out.push(Tok {
            kind,
            start: i,
            end,
        });
        i = end;
    }
    out
}

/// The token that starts at byte `i` (`i < src.len()`): its kind and end.
fn next_token(src: &str, i: usize) -> (TokKind, usize) {
    let b = src.as_bytes();
    let c = b[i];
    if c == b'\n' {
        (TokKind::Newline, i + 1)
    } else if c == b'\r' && b.get(i + 1) == Some(&b'\n') {
        (TokKind::Newline, i + 2)
    } else if c == b' ' || c == b'\t' || c == b'\r' || c == b'\x0c' {
        let mut j = i;
        while j < b.len() && matches!(b[j], b' ' | b'\t' | b'\x0c')
            || (j < b.len() && b[j] == b'\r' && b.get(j + 1) != Some(&b'\n'))
        {
            j += 1;
        }
        (TokKind::Space, j.max(i + 1))
    } else if c == b'#' {
        let mut j = i;
        while j < b.len() && b[j] != b'\n' {
            j += 1;
        }
        (TokKind::Comment, j)
    } else if let Some(q) = string_start(b, i) {
        (TokKind::Str, scan_string(b, q))
    } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
        let mut j = i;
        while j < b.len()
            && (b[j].is_ascii_alphanumeric()
                || b[j] == b'_'
                || b[j] == b'.'
                || ((b[j] == b'+' || b[j] == b'-')
                    && j > i
                    && matches!(b[j - 1], b'e' | b'E')
                    && !src[i..j].starts_with("0x")))
        {
            j += 1;
        }
        (TokKind::Number, j)
    } else if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
        let mut j = i;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] >= 0x80) {
            j += 1;
        }
        (TokKind::Name, j)
    } else if let Some(op) = OPS.iter().find(|op| src[i..].starts_with(**op)) {
        (TokKind::Op, i + op.len())
    } else {
        let len = src[i..].chars().next().map_or(1, char::len_utf8);
        (TokKind::Other, i + len)
    }
}

/// Tokens that carry meaning (no whitespace, newlines or comments), as text.
pub fn significant_tokens(src: &str) -> Vec<&str> {
    tokenize(src)
        .into_iter()
        .filter(|t| !matches!(t.kind, TokKind::Space | TokKind::Newline | TokKind::Comment))
        .map(|t| t.text(src))
        .collect()
}

/// [`significant_tokens`] with each logical line's indentation (empty at column 0)
/// before its first token: `return False` one level deeper, inside a loop, is
/// another program to Python, and so to a distance over these tokens. Lines
/// continued inside brackets or after a backslash are one logical line.
pub fn layout_tokens(src: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut line_start, mut continued) = (0usize, true, false);
    let mut indent = "";
    for t in tokenize(src) {
        let text = t.text(src);
        match t.kind {
            TokKind::Newline if depth == 0 && !continued => {
                line_start = true;
                indent = "";
            }
            TokKind::Newline => continued = false,
            TokKind::Space if line_start => indent = text,
            TokKind::Space | TokKind::Comment => {}
            TokKind::Other if text == "\\" => continued = true,
            _ => {
                if line_start {
                    out.push(indent);
                    line_start = false;
                }
                match text {
                    "(" | "[" | "{" => depth += 1,
                    ")" | "]" | "}" => depth = depth.saturating_sub(1),
                    _ => {}
                }
                out.push(text);
            }
        }
    }
    out
}

/// Code normalised for exact dedup: comments and trailing whitespace removed,
/// blank lines dropped, `\r\n` turned into `\n`. Indentation is kept (it is syntax).
pub fn normalise_code(src: &str) -> String {
    let mut no_comments = String::with_capacity(src.len());
    for t in tokenize(src) {
        match t.kind {
            TokKind::Comment => {}
            TokKind::Newline => no_comments.push('\n'),
            _ => no_comments.push_str(t.text(src)),
        }
    }
    let mut out = String::with_capacity(no_comments.len());
    for line in no_comments.lines() {
        let l = line.trim_end();
        if !l.is_empty() {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_tokens_mark_each_logical_lines_indentation() {
        let inside = "for x in xs:\n    if x:\n        return True\n        return False\n";
        let after = "for x in xs:\n    if x:\n        return True\n    return False\n";
        assert_eq!(significant_tokens(inside), significant_tokens(after));
        assert_ne!(layout_tokens(inside), layout_tokens(after));
        // A call over two lines, a backslash and a comment line are no new line.
        let call = "f(a,\n  b)\n# note\nx = 1 + \\\n    2\n";
        assert_eq!(
            layout_tokens(call),
            vec!["", "f", "(", "a", ",", "b", ")", "", "x", "=", "1", "+", "2"]
        );
    }

    #[test]
    fn tokens_cover_the_source_exactly() {
        let src = "def f(x):  # c\n    return x**2 >= 1e-3 and s == 'a#b' or r\"\"\"q\n\"\"\"\r\n";
        let toks = tokenize(src);
        let joined: String = toks.iter().map(|t| t.text(src)).collect();
        assert_eq!(joined, src);
        let sig = significant_tokens(src);
        assert_eq!(
            sig,
            vec![
                "def",
                "f",
                "(",
                "x",
                ")",
                ":",
                "return",
                "x",
                "**",
                "2",
                ">=",
                "1e-3",
                "and",
                "s",
                "==",
                "'a#b'",
                "or",
                "r\"\"\"q\n\"\"\""
            ]
        );
    }

    #[test]
    fn normalisation_ignores_comments_blank_lines_and_trailing_space() {
        let a = "def f(x):\n    # doc\n    return x + 1   \n\n";
        let b = "def f(x):\r\n    return x + 1 # inc\r\n";
        assert_eq!(normalise_code(a), normalise_code(b));
        assert_ne!(
            normalise_code(a),
            normalise_code("def f(x):\n  return x + 1\n")
        );
    }
}
