//! Python tokens with offsets in chars, for token-level diffs (FAIT).
//!
//! They come from the one lexer ([`crate::lexer::fine_tokens`]): its tokens
//! without layout, with f-strings split into their parts. On CPython 3.11's
//! standard library this gives the same token texts as ruff's lexer, file for
//! file (checked when this module stopped calling ruff).

use crate::lexer::fine_tokens;

/// One token: its text and its `[start, end)` range counted in chars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token<'s> {
    pub text: &'s str,
    pub start: usize,
    pub end: usize,
}

/// The significant tokens of `source` (names, literals, operators, keywords,
/// comments), without layout (spaces, line breaks, line continuations).
/// Works on invalid code too: every byte is read, nothing is rejected.
pub fn tokenize(source: &str) -> Vec<Token<'_>> {
    // Byte offsets come in increasing order, so chars are counted incrementally.
    let mut byte_pos = 0usize;
    let mut char_pos = 0usize;
    let mut to_chars = |b: usize| {
        char_pos += source[byte_pos..b].chars().count();
        byte_pos = b;
        char_pos
    };
    fine_tokens(source)
        .into_iter()
        .map(|t| {
            let start = to_chars(t.start);
            let end = to_chars(t.end);
            Token {
                text: t.text(source),
                start,
                end,
            }
        })
        .collect()
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
