//! Answers in OpenAI's shapes: a whole response, or a stream of server-sent events whose
//! text deltas join to exactly the text the whole response would have held.

use std::io::Write;
use std::sync::mpsc;

use ouro_model::{Generation, ScoredPrompt, TokenLogprob};
use serde_json::{json, Map, Value};
use tokenizers::Tokenizer;

use super::detok::{prefix_offsets, Detok};

/// What the model thread tells a streaming request, per choice (its index in the
/// request).
pub(super) enum Event {
    /// The choice's prompt scored (echo with log-probs), before any of its tokens.
    Prompt(usize, ScoredPrompt),
    Token(usize, TokenLogprob),
    Finished(usize, Generation),
    Failed(String),
}

/// What every chunk or response of one request shares.
pub(super) struct Head {
    pub id: String,
    pub created: u64,
    pub model: String,
    pub chat: bool,
    /// Completions per prompt (usage counts a prompt once, as OpenAI does).
    pub n: usize,
    /// Whether log-probs were asked for.
    pub logprobs: bool,
    pub stop: Vec<String>,
}

impl Head {
    fn object(&self, stream: bool) -> &'static str {
        match (self.chat, stream) {
            (true, true) => "chat.completion.chunk",
            (true, false) => "chat.completion",
            (false, _) => "text_completion",
        }
    }

    fn envelope(&self, stream: bool, choices: Vec<Value>) -> Value {
        json!({"id": self.id, "object": self.object(stream), "created": self.created,
               "model": self.model, "choices": choices})
    }
}

/// A prompt answered before its completion (`echo`): its text, and with log-probs its
/// token ids and the log-probs of every token after the first.
pub(super) struct Echo {
    pub text: String,
    pub ids: Vec<u32>,
    pub logprobs: Vec<TokenLogprob>,
}

impl Echo {
    /// The echoed prompt's tokens as log-probs report them (the first one unscored), and
    /// where each starts in its text.
    fn scored(&self, tok: &Tokenizer) -> (Vec<Scored<'_>>, Vec<usize>) {
        if self.ids.is_empty() {
            return (Vec::new(), Vec::new());
        }
        // The first prompt token has nothing before it to be scored against.
        let mut scored = vec![Scored::new(self.ids[0], None, &[])];
        scored.extend(self.logprobs.iter().map(Scored::of));
        // The echoed text keeps the prompt's special tokens, so its offsets count them.
        let offsets = prefix_offsets(tok, &self.ids, self.text.len(), 0, false);
        (scored, offsets)
    }
}

/// The whole response to a request that did not stream; `echoes` is empty or one per
/// generation.
pub(super) fn response(
    head: &Head,
    tok: &Tokenizer,
    generations: &[Generation],
    echoes: &[Echo],
) -> Value {
    let choices = generations
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let echo = echoes.get(i);
            let prefix = echo.map_or("", |e| e.text.as_str());
            let lp = if head.logprobs {
                let (mut scored, mut offsets) = echo.map(|e| e.scored(tok)).unwrap_or_default();
                let len = prefix.len() + g.text.len();
                scored.extend(g.token_logprobs.iter().map(Scored::of));
                let ids: Vec<u32> = g.token_logprobs.iter().map(|t| t.id).collect();
                offsets.extend(prefix_offsets(tok, &ids, len, prefix.len(), true));
                let offsets = char_offsets(&format!("{prefix}{}", g.text), &offsets);
                logprobs_json(head.chat, tok, &scored, &offsets)
            } else {
                Value::Null
            };
            let text = format!("{prefix}{}", g.text);
            let mut c = choice(head.chat, i, &text, lp, Some(g.finish_reason.as_str()));
            if let Some(m) = c.as_object_mut() {
                if let Some(message) = m.remove("delta") {
                    m.insert("message".into(), message);
                }
            }
            c
        })
        .collect();
    let mut out = head.envelope(false, choices);
    out["usage"] = usage(head.n, generations.iter().enumerate());
    out
}

/// One choice: `text` on completions, the assistant's `delta` (renamed `message` in a
/// whole response) on chat.
fn choice(chat: bool, index: usize, text: &str, logprobs: Value, finish: Option<&str>) -> Value {
    if chat {
        json!({"index": index, "delta": {"role": "assistant", "content": text},
               "logprobs": logprobs, "finish_reason": finish})
    } else {
        json!({"index": index, "text": text, "logprobs": logprobs, "finish_reason": finish})
    }
}

fn usage<'a>(n: usize, generations: impl Iterator<Item = (usize, &'a Generation)>) -> Value {
    let (mut prompt, mut completion) = (0, 0);
    for (i, g) in generations {
        if i % n == 0 {
            prompt += g.prompt_tokens;
        }
        completion += g.completion_tokens;
    }
    json!({"prompt_tokens": prompt, "completion_tokens": completion,
           "total_tokens": prompt + completion})
}

fn token_text(tok: &Tokenizer, id: u32) -> String {
    tok.decode(&[id], false).unwrap_or_default()
}

/// A token's own bytes, as chat log-probs report them. Its decoded text serves when it
/// is whole; a token that holds part of a character decodes to U+FFFD, and then its
/// bytes come from the vocabulary entry: a byte-fallback `<0xNN>`, or a byte-level
/// BPE string (GPT-2's printable stand-ins for bytes).
/// `text` is the token's decoded text, which the caller has already.
fn token_bytes(tok: &Tokenizer, id: u32, text: &str) -> Vec<u8> {
    if !text.contains('\u{FFFD}') {
        return text.as_bytes().to_vec();
    }
    let Some(piece) = tok.id_to_token(id) else {
        return text.as_bytes().to_vec();
    };
    if let Some(b) = piece
        .strip_prefix("<0x")
        .and_then(|h| h.strip_suffix('>'))
        .and_then(|h| u8::from_str_radix(h, 16).ok())
    {
        return vec![b];
    }
    piece
        .chars()
        .map(byte_level_byte)
        .collect::<Option<Vec<u8>>>()
        .unwrap_or_else(|| text.as_bytes().to_vec())
}

/// The byte a byte-level BPE character stands for: printable Latin-1 bytes are
/// themselves, and the others (controls, space, 0x7F-0xA0, 0xAD) are U+0100 onwards,
/// in byte order.
fn byte_level_byte(c: char) -> Option<u8> {
    let printable = |b: u8| matches!(b, 0x21..=0x7e | 0xa1..=0xac | 0xae..=0xff);
    match c as u32 {
        n @ 0..=0xff if printable(n as u8) => Some(n as u8),
        n @ 0x100..=0x143 => (0..=255u8)
            .filter(|&b| !printable(b))
            .nth((n - 0x100) as usize),
        _ => None,
    }
}

/// One token as log-probs report it: a prompt's first token has no log-prob.
struct Scored<'a> {
    id: u32,
    logprob: Option<f64>,
    top: &'a [(u32, f64)],
}

impl<'a> Scored<'a> {
    fn new(id: u32, logprob: Option<f64>, top: &'a [(u32, f64)]) -> Self {
        Scored { id, logprob, top }
    }
    fn of(t: &'a TokenLogprob) -> Self {
        Scored::new(t.id, Some(t.logprob), &t.top)
    }
}

/// Byte offsets into `text` (nondecreasing, as a completion's tokens are) as the
/// character offsets OpenAI's `text_offset` gives: Python `str` indices, so a client's
/// `text[offset:]` starts at the token on non-ASCII text too.
fn char_offsets(text: &str, bytes: &[usize]) -> Vec<usize> {
    let (mut at, mut chars) = (0, 0);
    bytes
        .iter()
        .map(|&b| {
            let mut b = b.min(text.len());
            while !text.is_char_boundary(b) {
                b -= 1;
            }
            if b < at {
                (at, chars) = (0, 0);
            }
            chars += text[at..b].chars().count();
            at = b;
            chars
        })
        .collect()
}

/// Log-probs in the endpoint's shape: chat's `content` list, or completions' parallel
/// `tokens`/`token_logprobs`/`top_logprobs`/`text_offset` lists (whose alternatives
/// always include the sampled token, as OpenAI's do; an unscored token has nulls).
fn logprobs_json(chat: bool, tok: &Tokenizer, tokens: &[Scored], offsets: &[usize]) -> Value {
    if chat {
        let entry = |id: u32, lp: Option<f64>| {
            let text = token_text(tok, id);
            json!({"bytes": token_bytes(tok, id, &text), "token": text, "logprob": lp})
        };
        let content: Vec<Value> = tokens
            .iter()
            .map(|t| {
                let mut e = entry(t.id, t.logprob);
                e["top_logprobs"] = t.top.iter().map(|&(id, lp)| entry(id, Some(lp))).collect();
                e
            })
            .collect();
        return json!({"content": content});
    }
    let top: Vec<Value> = tokens
        .iter()
        .map(|t| {
            let Some(lp) = t.logprob else {
                return Value::Null;
            };
            let mut m = Map::new();
            for &(id, lp) in t.top.iter().chain([(t.id, lp)].iter()) {
                m.entry(token_text(tok, id)).or_insert(json!(lp));
            }
            Value::Object(m)
        })
        .collect();
    json!({"tokens": tokens.iter().map(|t| token_text(tok, t.id)).collect::<Vec<_>>(),
           "token_logprobs": tokens.iter().map(|t| t.logprob).collect::<Vec<_>>(),
           "top_logprobs": top, "text_offset": offsets})
}

/// The longest start of `text` that is sure to begin the final text: before any stop
/// string, without a tail that could still become one, and without a character whose
/// bytes have not all been sampled yet (shown by the decoder as U+FFFD).
fn settled<'a>(text: &'a str, stop: &[String]) -> &'a str {
    let end = stop
        .iter()
        .filter_map(|s| text.find(s.as_str()))
        .min()
        .unwrap_or(text.len());
    let t = &text[..end];
    let hold = stop
        .iter()
        .filter_map(|s| {
            (1..s.len())
                .rev()
                .find(|&k| s.is_char_boundary(k) && t.ends_with(&s[..k]))
        })
        .max()
        .unwrap_or(0);
    t[..t.len() - hold].trim_end_matches('\u{FFFD}')
}

/// One choice's progress through a stream.
struct Choice<'t> {
    /// Where the completion starts in the choice's text (after an echoed prompt), in
    /// characters, as `text_offset` counts.
    base: usize,
    /// The completion's text so far (where the next token starts).
    decoded: Detok<'t>,
    sent: String,
    /// Tokens whose log-probs ride on the next chunk, with their text offsets.
    pending: Vec<(TokenLogprob, usize)>,
    done: bool,
}

/// A streaming request's work, submitted; answered by [`stream`].
pub(super) struct Streaming {
    pub head: Head,
    pub choices: usize,
    pub include_usage: bool,
    /// Each choice's prompt text with `echo` (its first chunk, scored when log-probs
    /// were asked for); empty without.
    pub echo: Vec<String>,
    /// Each choice's last prompt tokens, which its text is decoded after.
    pub contexts: Vec<Vec<u32>>,
    pub events: mpsc::Receiver<Event>,
}

/// Answers a streaming request: the status line and headers, then one `data:` event per
/// chunk, written and flushed as the model thread reports tokens, then `data: [DONE]`.
pub(super) fn stream(w: &mut dyn Write, s: &Streaming, tok: &Tokenizer) {
    let mut out = Sse { w };
    // A client that went away ends the stream; the batch it was in decodes on.
    let _ = stream_to(&mut out, s, tok);
}

fn stream_to(out: &mut Sse<'_>, s: &Streaming, tok: &Tokenizer) -> std::io::Result<()> {
    let Streaming {
        head,
        choices: n_choices,
        include_usage,
        echo,
        contexts,
        events,
    } = s;
    let (n_choices, include_usage) = (*n_choices, *include_usage);
    out.w.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\
          Transfer-Encoding: chunked\r\n\r\n",
    )?;
    let mut choices: Vec<Choice> = (0..n_choices)
        .map(|i| Choice {
            base: 0,
            decoded: Detok::after(tok, true, contexts.get(i).map_or(&[][..], Vec::as_slice)),
            sent: String::new(),
            pending: Vec::new(),
            done: false,
        })
        .collect();
    if head.chat {
        for i in 0..n_choices {
            out.event(&head.envelope(true, vec![choice(true, i, "", Value::Null, None)]))?;
        }
    }
    // Unscored echoes go out at once; scored ones when their scores arrive, which the
    // model thread sends before the choice's first token.
    if !head.logprobs {
        for (i, text) in echo.iter().enumerate() {
            out.event(&head.envelope(true, vec![choice(false, i, text, Value::Null, None)]))?;
            choices[i].base = text.chars().count();
        }
    }
    let mut finished: Vec<(usize, Generation)> = Vec::new();
    while finished.len() < n_choices {
        let Ok(event) = events.recv() else {
            out.event(&server_error("the model thread has stopped"))?;
            break;
        };
        let (i, text, reason) = match event {
            Event::Prompt(i, (ids, logprobs)) => {
                let e = Echo {
                    text: echo.get(i).cloned().unwrap_or_default(),
                    ids,
                    logprobs,
                };
                let (scored, offsets) = e.scored(tok);
                let lp = logprobs_json(false, tok, &scored, &char_offsets(&e.text, &offsets));
                out.event(&head.envelope(true, vec![choice(false, i, &e.text, lp, None)]))?;
                choices[i].base = e.text.chars().count();
                continue;
            }
            Event::Token(i, t) => {
                let c = &mut choices[i];
                let id = t.id;
                // Offsets are read only with log-probs: no count of the text otherwise.
                let at = if head.logprobs {
                    c.base + c.decoded.text().chars().count()
                } else {
                    0
                };
                c.pending.push((t, at));
                c.decoded.push(id);
                (i, settled(c.decoded.text(), &head.stop).to_string(), None)
            }
            Event::Finished(i, g) => {
                let reason = g.finish_reason.as_str();
                let text = g.text.clone();
                finished.push((i, g));
                (i, text, Some(reason))
            }
            Event::Failed(message) => {
                out.event(&server_error(&format!("generation failed: {message}")))?;
                break;
            }
        };
        let c = &mut choices[i];
        if c.done {
            continue;
        }
        let delta = match text.strip_prefix(c.sent.as_str()) {
            Some(d) => d.to_string(),
            None => {
                // Decoding a prefix of the tokens gave text the whole does not start with;
                // what was sent stands, and the rest of the final text is lost to this client.
                tracing::warn!("stream choice {i}: sent text is not a prefix of the final text");
                String::new()
            }
        };
        if delta.is_empty() && reason.is_none() {
            continue;
        }
        let lp = if head.logprobs {
            let (tokens, offsets): (Vec<TokenLogprob>, Vec<usize>) = c.pending.drain(..).unzip();
            let scored: Vec<Scored> = tokens.iter().map(Scored::of).collect();
            logprobs_json(head.chat, tok, &scored, &offsets)
        } else {
            Value::Null
        };
        let mut ch = choice(head.chat, i, &delta, lp, reason);
        if head.chat {
            // The role went out in the choice's first chunk.
            ch["delta"] = if reason.is_some() && delta.is_empty() {
                json!({})
            } else {
                json!({"content": delta})
            };
        }
        out.event(&head.envelope(true, vec![ch]))?;
        c.sent.push_str(&delta);
        c.done = reason.is_some();
    }
    if include_usage && finished.len() == n_choices {
        finished.sort_by_key(|f| f.0);
        let mut last = head.envelope(true, vec![]);
        last["usage"] = usage(head.n, finished.iter().map(|(i, g)| (*i, g)));
        out.event(&last)?;
    }
    out.data("[DONE]")?;
    out.w.write_all(b"0\r\n\r\n")?;
    out.w.flush()
}

/// An error event in OpenAI's shape (the stream's status line has already gone out).
fn server_error(message: &str) -> Value {
    json!({"error": {"message": message, "type": "InternalServerError", "code": 500}})
}

/// A chunked body of server-sent events, flushed per event.
struct Sse<'a> {
    w: &'a mut dyn Write,
}

impl Sse<'_> {
    fn event(&mut self, v: &Value) -> std::io::Result<()> {
        self.data(&v.to_string())
    }

    fn data(&mut self, payload: &str) -> std::io::Result<()> {
        let line = format!("data: {payload}\n\n");
        write!(self.w, "{:x}\r\n{line}\r\n", line.len())?;
        self.w.flush()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::{byte_level_byte, char_offsets, settled, token_bytes, token_text, Echo};
    use tokenizers::Tokenizer;

    /// OpenAI and vLLM index `text` as Python does: by character.
    #[test]
    fn text_offsets_count_characters() {
        let text = "日本 x = 1";
        let bytes = [0, 3, 6, 8];
        assert_eq!(char_offsets(text, &bytes), [0, 1, 2, 4]);
        let x = char_offsets(text, &bytes)[2];
        assert_eq!(text.chars().skip(x).collect::<String>(), " x = 1");
        assert_eq!(char_offsets("ab", &[0, 5]), [0, 2], "clamped to the end");
    }

    /// A BPE tokenizer with byte fallback and no merges, over `vocab`.
    pub(in crate::serve) fn tokenizer(decoder: &str, vocab: &str) -> Tokenizer {
        let json = format!(
            r#"{{"version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
                "normalizer": null, "pre_tokenizer": null, "post_processor": null,
                "decoder": {decoder},
                "model": {{"type": "BPE", "dropout": null, "unk_token": null,
                           "continuing_subword_prefix": null, "end_of_word_suffix": null,
                           "fuse_unk": false, "byte_fallback": true,
                           "vocab": {vocab}, "merges": []}}}}"#
        );
        Tokenizer::from_bytes(json.as_bytes()).unwrap()
    }

    #[test]
    fn an_echoed_prompts_offsets_count_its_special_tokens() {
        let mut tok = tokenizer(r#"{"type": "Fuse"}"#, r#"{"<s>": 0, "a": 1, "b": 2}"#);
        tok.add_special_tokens([tokenizers::AddedToken::from("<s>", true)])
            .unwrap();
        let e = Echo {
            text: "<s>ab".into(),
            ids: vec![0, 1, 2],
            logprobs: Vec::new(),
        };
        let (_, offsets) = e.scored(&tok);
        assert_eq!(
            offsets,
            [0, 3, 4],
            "the text holds `<s>`, so `a` starts at 3"
        );
    }

    #[test]
    fn a_token_that_holds_part_of_a_character_reports_its_own_bytes() {
        // "é" is C3 A9; GPT-2's byte-level BPE writes those bytes as "Ã" and "©".
        let byte_level = tokenizer(
            r#"{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}"#,
            r#"{"Ã": 0, "©": 1, "Ġa": 2, "Ã©": 3}"#,
        );
        let own = |tok: &Tokenizer, id: u32| token_bytes(tok, id, &token_text(tok, id));
        let bytes = |id: u32| own(&byte_level, id);
        assert_eq!(bytes(0), [0xc3]);
        assert_eq!(bytes(1), [0xa9]);
        assert_eq!(bytes(2), b" a");
        assert_eq!(bytes(3), "é".as_bytes());
        let fallback = tokenizer(
            r#"{"type": "Sequence", "decoders": [{"type": "ByteFallback"}]}"#,
            r#"{"<0xC3>": 0, "<0xA9>": 1, "x": 2}"#,
        );
        assert_eq!(own(&fallback, 0), [0xc3]);
        assert_eq!(own(&fallback, 1), [0xa9]);
        assert_eq!(own(&fallback, 2), b"x");
        // The stand-ins for the unprintable bytes run from U+0100 in byte order.
        let table: Vec<(char, u8)> = [('Ā', 0), ('Ġ', 0x20), ('ġ', 0x7f), ('Ń', 0xad), ('a', b'a')]
            .into_iter()
            .collect();
        for (c, b) in table {
            assert_eq!(byte_level_byte(c), Some(b), "{c}");
        }
        assert_eq!(byte_level_byte('ń'), None);
        assert_eq!(byte_level_byte(' '), None, "a space is written as Ġ");
    }

    #[test]
    fn settled_text_holds_back_what_may_become_a_stop_string() {
        let stop = vec!["\nclass".to_string(), "END".to_string()];
        assert_eq!(settled("x = 1\ncl", &stop), "x = 1");
        assert_eq!(settled("x = 1\nclass A", &stop), "x = 1");
        assert_eq!(settled("x = 1\nc = 2", &stop), "x = 1\nc = 2");
        assert_eq!(settled("abcEN", &stop), "abc");
        assert_eq!(
            settled("caf\u{FFFD}", &[]),
            "caf",
            "a character still being sampled"
        );
        assert_eq!(settled("", &stop), "");
    }
}
