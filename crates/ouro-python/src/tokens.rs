//! Python tokens from the ruff lexer, with offsets in chars.

use ruff_python_ast::token::TokenKind;
use ruff_python_parser::parse_unchecked_source;
use ruff_text_size::Ranged;

/// One token: its text and its `[start, end)` range counted in chars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token<'s> {
    pub text: &'s str,
    pub start: usize,
    pub end: usize,
}

/// The significant tokens of `source` (names, literals, operators, keywords,
/// comments), without layout tokens (newlines, indents, dedents, end of
/// file). Works on invalid code too: the lexer recovers.
pub fn tokenize(source: &str) -> Vec<Token<'_>> {
    let parsed = parse_unchecked_source(source, ruff_python_ast::PySourceType::Python);
    let mut out = Vec::new();
    // Byte offsets come in increasing order, so chars are counted incrementally.
    let mut byte_pos = 0usize;
    let mut char_pos = 0usize;
    let mut to_chars = |b: usize| {
        char_pos += source[byte_pos..b].chars().count();
        byte_pos = b;
        char_pos
    };
    for tok in parsed.tokens().iter() {
        match tok.kind() {
            TokenKind::Newline
            | TokenKind::NonLogicalNewline
            | TokenKind::Indent
            | TokenKind::Dedent
            | TokenKind::EndOfFile => continue,
            _ => {}
        }
        let (s, e) = (tok.start().to_usize(), tok.end().to_usize());
        if e <= s {
            continue;
        }
        let cs = to_chars(s);
        let ce = to_chars(e);
        out.push(Token {
            text: &source[s..e],
            start: cs,
            end: ce,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_char_offsets() {
        let toks = tokenize("é = f(x)  # c\n");
        let texts: Vec<_> = toks.iter().map(|t| t.text).collect();
        assert_eq!(texts, vec!["é", "=", "f", "(", "x", ")", "# c"]);
        assert_eq!((toks[1].start, toks[1].end), (2, 3));
    }
}
