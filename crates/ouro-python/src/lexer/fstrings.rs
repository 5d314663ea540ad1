//! The fine-grained token stream: the lexer's tokens with every f-string
//! split into its parts the way Python 3.12 (PEP 701) and ruff's lexer do:
//! start (`f"`), literal middles, `{`, the expression's own tokens, `!`,
//! `:`, the format spec, `}`, end (`"`). Token-level diffs need this grain,
//! so that a changed `{x + 1}` marks `+ 1` and not the whole literal; dedup
//! keys keep the coarse stream, which reads an f-string as one literal.

use super::{next_token, string_start, Tok, TokKind};

/// Tokens of `src` without whitespace and line breaks, f-strings split. A
/// backslash that continues a line is layout, not a token, as in Python.
pub fn fine_tokens(src: &str) -> Vec<Tok> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < src.len() {
        i = fine_token(src, i, &mut out);
    }
    // A comment ends before the `\r` of a `\r\n` line break, as in Python.
    for t in out.iter_mut() {
        if t.kind == TokKind::Comment && t.end > t.start + 1 && b[t.end - 1] == b'\r' {
            t.end -= 1;
        }
    }
    out.retain(|t| match t.kind {
        TokKind::Space | TokKind::Newline => false,
        TokKind::Other => !(b[t.start] == b'\\' && is_line_end(b, t.end)),
        _ => true,
    });
    out
}

fn is_line_end(b: &[u8], i: usize) -> bool {
    i >= b.len() || b[i] == b'\n' || (b[i] == b'\r' && b.get(i + 1) == Some(&b'\n'))
}

/// Pushes the token(s) starting at `i` and returns where the next one starts.
fn fine_token(src: &str, i: usize, out: &mut Vec<Tok>) -> usize {
    if let Some(q) = string_start(src.as_bytes(), i) {
        if src[i..q].bytes().any(|c| c.eq_ignore_ascii_case(&b'f')) {
            return fstring(src, i, q, out);
        }
    }
    let (kind, mut end) = next_token(src, i);
    if kind == TokKind::Number {
        // The coarse lexer reads `7bit` or `2.4.` as one number; Python reads
        // the longest valid literal and lexes the rest on its own.
        end = number_end(src.as_bytes(), i, end);
    }
    out.push(Tok {
        kind,
        start: i,
        end,
    });
    end
}

/// The end of the longest Python number literal in `b[i..end]` (at least one byte).
fn number_end(b: &[u8], i: usize, end: usize) -> usize {
    let digits = |mut p: usize, ok: fn(u8) -> bool| {
        while p < end && (ok(b[p]) || b[p] == b'_') {
            p += 1;
        }
        p
    };
    let radix: Option<fn(u8) -> bool> = match (b[i], b.get(i + 1).map(u8::to_ascii_lowercase)) {
        (b'0', Some(b'x')) => Some(|c| c.is_ascii_hexdigit()),
        (b'0', Some(b'o')) => Some(|c| (b'0'..=b'7').contains(&c)),
        (b'0', Some(b'b')) => Some(|c| c == b'0' || c == b'1'),
        _ => None,
    };
    if let Some(ok) = radix {
        return digits(i + 2, ok).max(i + 1);
    }
    let mut p = digits(i, |c| c.is_ascii_digit());
    if p < end && b[p] == b'.' {
        p = digits(p + 1, |c| c.is_ascii_digit());
    }
    if p < end && matches!(b[p], b'e' | b'E') {
        let mut q = p + 1;
        if q < end && matches!(b[q], b'+' | b'-') {
            q += 1;
        }
        if q < end && b[q].is_ascii_digit() {
            p = digits(q, |c| c.is_ascii_digit());
        }
    }
    if p < end && matches!(b[p], b'j' | b'J') {
        p += 1;
    }
    p.max(i + 1)
}

fn push(out: &mut Vec<Tok>, kind: TokKind, start: usize, end: usize) {
    if end > start {
        out.push(Tok { kind, start, end });
    }
}

/// An f-string whose prefix starts at `i` and whose opening quote is at `q`.
fn fstring(src: &str, i: usize, q: usize, out: &mut Vec<Tok>) -> usize {
    let b = src.as_bytes();
    let quote = b[q];
    let triple = b.get(q + 1) == Some(&quote) && b.get(q + 2) == Some(&quote);
    let raw = src[i..q].bytes().any(|c| c.eq_ignore_ascii_case(&b'r'));
    let body = if triple { q + 3 } else { q + 1 };
    push(out, TokKind::Str, i, body);
    let closes = |p: usize| {
        b[p] == quote && (!triple || (b.get(p + 1) == Some(&quote) && b.get(p + 2) == Some(&quote)))
    };
    let mut pos = body;
    let mut middle = body;
    while pos < b.len() {
        let c = b[pos];
        if closes(pos) {
            push(out, TokKind::Str, middle, pos);
            let end = if triple { pos + 3 } else { pos + 1 };
            push(out, TokKind::Str, pos, end);
            return end;
        }
        if c == b'\n' && !triple {
            break;
        }
        match c {
            b'\\' => pos = after_escape(b, pos, raw),
            b'{' | b'}' if b.get(pos + 1) == Some(&c) => pos += 2,
            b'{' => {
                push(out, TokKind::Str, middle, pos);
                pos = replacement_field(src, pos, !triple, out);
                middle = pos;
            }
            _ => pos += 1,
        }
    }
    // Unterminated: what was read stays one literal middle, as ruff recovers.
    push(out, TokKind::Str, middle, pos);
    pos
}

/// Where a backslash at `pos` inside a literal part stops: `\N{...}` is one
/// escape, a backslash does not escape `{`, and in a raw f-string it only
/// keeps a quote or backslash from ending or escaping.
fn after_escape(b: &[u8], pos: usize, raw: bool) -> usize {
    match b.get(pos + 1) {
        None => pos + 1,
        Some(b'{') => pos + 1,
        Some(b'N') if !raw && b.get(pos + 2) == Some(&b'{') => {
            let close = b[pos..].iter().position(|&c| c == b'}' || c == b'\n');
            close.map_or(b.len(), |k| pos + k + 1)
        }
        Some(&c) if raw && !matches!(c, b'\\' | b'\'' | b'"') => pos + 1,
        Some(&c) if c >= 0x80 => pos + 1,
        Some(_) => pos + 2,
    }
}

/// `{ expression [!conversion] [:format spec] }` starting at the `{` at `pos`.
/// In a one-line f-string a line break ends the field (the code is invalid;
/// stopping there keeps the damage to one line).
fn replacement_field(src: &str, pos: usize, one_line: bool, out: &mut Vec<Tok>) -> usize {
    let b = src.as_bytes();
    push(out, TokKind::Op, pos, pos + 1);
    let mut pos = pos + 1;
    let mut depth = 0usize;
    while pos < b.len() {
        let c = b[pos];
        if one_line && c == b'\n' {
            return pos;
        }
        if depth == 0 {
            match c {
                b'}' => {
                    push(out, TokKind::Op, pos, pos + 1);
                    return pos + 1;
                }
                b'!' if b.get(pos + 1) != Some(&b'=') => {
                    push(out, TokKind::Other, pos, pos + 1);
                    pos += 1;
                    continue;
                }
                b':' => {
                    push(out, TokKind::Op, pos, pos + 1);
                    pos = format_spec(src, pos + 1, one_line, out);
                    continue;
                }
                _ => {}
            }
        }
        match c {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        pos = fine_token(src, pos, out);
    }
    pos
}

/// A format spec: literal text with nested `{...}` fields, up to the `}` that
/// closes the field (left for the caller).
fn format_spec(src: &str, pos: usize, one_line: bool, out: &mut Vec<Tok>) -> usize {
    let b = src.as_bytes();
    let mut pos = pos;
    let mut middle = pos;
    while pos < b.len() {
        match b[pos] {
            b'}' | b'\n' => break,
            b'{' => {
                push(out, TokKind::Str, middle, pos);
                pos = replacement_field(src, pos, one_line, out);
                middle = pos;
            }
            _ => pos += 1,
        }
    }
    push(out, TokKind::Str, middle, pos);
    pos
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(src: &str) -> Vec<&str> {
        fine_tokens(src).iter().map(|t| t.text(src)).collect()
    }

    #[test]
    fn fstrings_split_like_ruff() {
        // Each expectation is ruff 0.0.10's token texts for the same source.
        assert_eq!(
            texts(r#"f"a{x!r:>{w}.3f}b{{c}}d{y=}""#),
            [
                "f\"", "a", "{", "x", "!", "r", ":", ">", "{", "w", "}", ".3f", "}", "b{{c}}d",
                "{", "y", "=", "}", "\""
            ]
        );
        assert_eq!(
            texts(r#"f"{"a"}" f"\{x}\N{DASH}""#),
            [
                "f\"",
                "{",
                "\"a\"",
                "}",
                "\"",
                "f\"",
                "\\",
                "{",
                "x",
                "}",
                "\\N{DASH}",
                "\""
            ]
        );
        assert_eq!(
            texts("rf\"\\d{x}\" f'{ x + 1 }'"),
            ["rf\"", "\\d", "{", "x", "}", "\"", "f'", "{", "x", "+", "1", "}", "'"]
        );
    }

    #[test]
    fn the_rest_is_the_lexer_without_layout() {
        assert_eq!(
            texts("x = (1 +\\\n  2)  # c\n"),
            ["x", "=", "(", "1", "+", "2", ")", "# c"]
        );
        assert_eq!(
            texts("0x1F 1_000.5e-3j 7bit 2.4. 0b12"),
            ["0x1F", "1_000.5e-3j", "7", "bit", "2.4", ".", "0b1", "2"]
        );
    }
}
