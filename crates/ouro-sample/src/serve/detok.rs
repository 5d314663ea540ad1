//! The text of a growing list of token ids, a token at a time.
//!
//! Decoding every prefix again is quadratic in the length: the text offsets of an
//! 8,192-token echoed prompt (lm-eval's log-likelihood requests echo theirs) took 3.4 s
//! of decoding, and 6 ms carried forward by a decode stream, which keeps a few tokens of
//! context (measured once on this project's 2-core CI-like machine, 2026-12-07).

use tokenizers::{
    DecodeStream, DecoderWrapper, ModelWrapper, NormalizerWrapper, PostProcessorWrapper,
    PreTokenizerWrapper, Tokenizer,
};

type Stream<'t> = DecodeStream<
    't,
    ModelWrapper,
    NormalizerWrapper,
    PreTokenizerWrapper,
    PostProcessorWrapper,
    DecoderWrapper,
>;

pub(super) struct Detok<'t> {
    tok: &'t Tokenizer,
    skip_special: bool,
    /// `None` once the stream has failed (a decoder that looks further back than its
    /// context): from then on every token decodes all of them again.
    stream: Option<Stream<'t>>,
    /// Tokens before the first, decoded with it but not part of the text (a prompt's
    /// tail: a SentencePiece decoder strips the first space of text decoded alone).
    context: Vec<u32>,
    ids: Vec<u32>,
    text: String,
    /// Tokens the stream has taken without giving text back.
    held: usize,
}

impl<'t> Detok<'t> {
    /// `skip_special` decodes as the text is decoded: a completion without its special
    /// tokens, an echoed prompt with them.
    pub fn new(tok: &'t Tokenizer, skip_special: bool) -> Self {
        Self::after(tok, skip_special, &[])
    }

    /// A decoder of the tokens that follow `context`, whose own text is left out.
    pub fn after(tok: &'t Tokenizer, skip_special: bool, context: &[u32]) -> Self {
        let mut stream = tok.decode_stream(skip_special);
        let primed = context.iter().all(|&id| stream.step(id).is_ok());
        Detok {
            tok,
            skip_special,
            stream: primed.then_some(stream),
            context: context.to_vec(),
            ids: Vec::new(),
            text: String::new(),
            held: 0,
        }
    }

    /// The text of the tokens so far, without a last character whose bytes have not all
    /// come (which the decoder shows as U+FFFD).
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn push(&mut self, id: u32) {
        self.ids.push(id);
        if let Some(stream) = &mut self.stream {
            match stream.step(id) {
                Ok(Some(piece)) => {
                    self.text.push_str(&piece);
                    self.held = 0;
                }
                // A character is at most 4 bytes: a stream that holds back more tokens
                // than that is holding bytes that are not UTF-8 (a small model's noise),
                // and would never move the offsets on again.
                Ok(None) if self.held < 4 => self.held += 1,
                Ok(None) => self.stream = None,
                Err(e) => {
                    tracing::debug!("decode stream failed ({e}); decoding whole prefixes");
                    self.stream = None;
                }
            }
        }
        if self.stream.is_none() {
            self.text = self.whole();
        }
    }

    /// All the tokens decoded at once, as [`text`](Self::text) shows them: without the
    /// U+FFFD of a last character still to come, but with those of bytes that will
    /// never make one (more than 3 at the end).
    fn whole(&self) -> String {
        let text =
            ouro_model::generate::text_after(self.tok, &self.context, &self.ids, self.skip_special)
                .unwrap_or_default();
        let bare = text.trim_end_matches('\u{FFFD}');
        let held = (text.len() - bare.len()) / '\u{FFFD}'.len_utf8();
        if held <= 3 {
            bare.to_string()
        } else {
            text
        }
    }

    /// Whether the text carried forward is the text decoded at once.
    pub fn agrees(&self) -> bool {
        self.stream.is_none() || self.text == self.whole()
    }
}

/// Where each of `ids` starts in the text: `start` plus the length of the text of the
/// ids before it, never past `len`. A token inside a character whose bytes span tokens
/// starts where the character does.
pub(super) fn prefix_offsets(
    tok: &Tokenizer,
    ids: &[u32],
    len: usize,
    start: usize,
    skip_special: bool,
) -> Vec<usize> {
    let offsets = |d: &mut Detok| -> Vec<usize> {
        ids.iter()
            .map(|&id| {
                let at = (start + d.text().len()).min(len);
                d.push(id);
                at
            })
            .collect()
    };
    let mut d = Detok::new(tok, skip_special);
    let fast = offsets(&mut d);
    if d.agrees() {
        return fast;
    }
    tracing::debug!("decode stream disagrees with the whole decode; decoding whole prefixes");
    let mut slow = Detok::new(tok, skip_special);
    slow.stream = None;
    offsets(&mut slow)
}

#[cfg(test)]
mod tests {
    use super::{prefix_offsets, Detok};
    use tokenizers::Tokenizer;

    /// The quadratic definition the linear one must equal, where a prefix ends on a
    /// whole character (within one, byte fallback turns the whole run of byte tokens
    /// into U+FFFD, so a character already whole can be held back too).
    fn by_prefixes(tok: &Tokenizer, ids: &[u32], skip: bool) -> Vec<Option<usize>> {
        (0..ids.len())
            .map(|i| {
                let t = tok.decode(&ids[..i], skip).unwrap();
                (!t.ends_with('\u{FFFD}')).then_some(t.len())
            })
            .collect()
    }

    fn byte_fallback_tokenizer() -> Tokenizer {
        // Llama/SentencePiece style: "▁" for spaces, <0xNN> byte tokens, and a decoder
        // that strips the first leading space (which depends on the context before).
        let vocab = r#"{"<s>": 0, "▁a": 1, "b": 2, "▁": 3, "<0xC3>": 4, "<0xA9>": 5,
                        "<0xE2>": 6, "<0x82>": 7, "<0xAC>": 8, "c": 9}"#;
        let decoder = r#"{"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}"#;
        let mut tok = crate::serve::reply::tests::tokenizer(decoder, vocab);
        tok.add_special_tokens([tokenizers::AddedToken::from("<s>", true)])
            .unwrap();
        tok
    }

    #[test]
    fn offsets_equal_those_of_decoding_every_prefix() {
        let tok = byte_fallback_tokenizer();
        // "é" and "€" split over byte tokens, special tokens inside, spaces to strip.
        let ids = [
            0, 3, 1, 2, 4, 5, 9, 3, 6, 7, 8, 1, 0, 3, 2, 6, 7, 8, 4, 5, 1, 9, 9, 0,
        ];
        for skip in [true, false] {
            let text = tok.decode(&ids, skip).unwrap();
            let linear = prefix_offsets(&tok, &ids, text.len(), 0, skip);
            assert!(linear.windows(2).all(|w| w[0] <= w[1]), "{linear:?}");
            let quadratic = by_prefixes(&tok, &ids, skip);
            assert_eq!(quadratic.iter().flatten().count(), 18, "{quadratic:?}");
            for (i, (&a, b)) in linear.iter().zip(&quadratic).enumerate() {
                if let Some(b) = *b {
                    assert_eq!(a, b, "skip_special {skip}, token {i}: {linear:?}");
                }
            }
        }
        let mut d = Detok::new(&tok, true);
        for id in ids {
            d.push(id);
        }
        assert!(d.agrees());
        assert_eq!(d.text(), tok.decode(&ids, true).unwrap());
    }

    #[test]
    fn bytes_that_are_not_utf8_still_move_the_offsets_on() {
        let tok = byte_fallback_tokenizer();
        // Continuation bytes with no lead byte: no character ever completes.
        let ids = [1, 7, 8, 7, 8, 7, 8, 2];
        let text = tok.decode(&ids, true).unwrap();
        let offsets = prefix_offsets(&tok, &ids, text.len(), 0, true);
        assert!(offsets.windows(2).all(|w| w[0] <= w[1]), "{offsets:?}");
        assert!(offsets[7] > offsets[1], "stuck at {offsets:?}");
    }

    #[test]
    fn an_unfinished_character_is_held_back() {
        let tok = byte_fallback_tokenizer();
        let mut d = Detok::new(&tok, true);
        for id in [1, 6, 7] {
            d.push(id);
        }
        assert_eq!(d.text(), "a", "the € has two of its three bytes");
        d.push(8);
        assert_eq!(d.text(), "a€");
    }

    #[test]
    fn a_completion_after_its_prompt_keeps_the_space_the_decoder_would_strip() {
        let tok = byte_fallback_tokenizer();
        // The prompt ends "c"; the completion is " a" then "b": alone, the strip decoder
        // drops its first space.
        let (context, ids) = ([9], [1, 2]);
        assert_eq!(tok.decode(&ids, true).unwrap(), "ab");
        let mut streamed = Detok::after(&tok, true, &context);
        for id in ids {
            streamed.push(id);
        }
        assert_eq!(streamed.text(), " ab");
        assert!(streamed.agrees());
    }
}
