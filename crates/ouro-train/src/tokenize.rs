//! Turning records into token ids, loss masks and per-token weights, as TRL 1.16 does.
//!
//! - prompt/completion: EOS text is appended to the completion, `prompt` and
//!   `prompt + completion` are tokenized separately, and the completion starts where the
//!   two token sequences diverge.
//! - messages: rendered with the checkpoint's template (ChatML without one) and encoded
//!   without special tokens (the template writes its own BOS); each trained assistant
//!   turn covers all it adds after its generation header, end marker and newline included.
//! - conversational prompt-completion and preference rows arrive rendered into strings
//!   ([`crate::config::RowText::Rendered`]): encoded as they are, no EOS appended.
//! - weight spans are char offsets into the completion; a token takes the largest weight
//!   of the spans its byte range overlaps, and weight 1 otherwise.

use ouro_data::{Message, WeightSpan};
use tokenizers::Tokenizer;

use crate::config::{Overflow, RowFit, RowText};

/// A tokenizer plus the EOS text TRL appends to completions.
pub struct TextTokenizer {
    pub tokenizer: Tokenizer,
    pub eos_token: Option<String>,
    /// Id used to right-pad batches (never attended by real tokens).
    pub pad_id: u32,
    /// The checkpoint's chat template for conversational rows; ChatML when `None`.
    pub chat: Option<ouro_model::chat_template::ChatTemplate>,
    /// The model's vocabulary size, when known: [`TextTokenizer::encode`] rejects an id at
    /// or past it. Checking here, once, on the host is what lets a GPU step skip reading
    /// its ids back (an id past the embedding would fault inside a kernel).
    pub vocab_size: Option<usize>,
}

/// One tokenized SFT sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct SftExample {
    pub ids: Vec<u32>,
    /// `true` where the token is a label of the loss.
    pub mask: Vec<bool>,
    /// Raw span weight per token (1 outside spans).
    pub span_w: Vec<f32>,
    /// Row of the source dataset.
    pub index: usize,
}

/// One tokenized preference pair.
#[derive(Debug, Clone, PartialEq)]
pub struct DpoExample {
    pub prompt: Vec<u32>,
    pub chosen: Vec<u32>,
    pub rejected: Vec<u32>,
    pub chosen_w: Vec<f32>,
    pub rejected_w: Vec<f32>,
    pub index: usize,
}

/// What preparation did to the dataset, reported to the user.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct PrepStats {
    pub rows: usize,
    pub kept: usize,
    pub truncated: usize,
    pub dropped_too_long: usize,
    pub dropped_no_loss_tokens: usize,
}

impl std::fmt::Display for PrepStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} rows, {} kept", self.rows, self.kept)?;
        if self.truncated > 0 {
            write!(f, ", {} truncated to max_length", self.truncated)?;
        }
        if self.dropped_too_long > 0 {
            write!(
                f,
                ", {} dropped as longer than max_length",
                self.dropped_too_long
            )?;
        }
        if self.dropped_no_loss_tokens > 0 {
            write!(
                f,
                ", {} dropped with no completion token left to train on (a larger max_length?)",
                self.dropped_no_loss_tokens
            )?;
        }
        Ok(())
    }
}

/// Encoded text: ids and byte offsets.
pub struct Encoded {
    pub ids: Vec<u32>,
    pub offsets: Vec<(usize, usize)>,
}

impl TextTokenizer {
    /// Plain text, with the tokenizer's special tokens.
    pub fn encode(&self, text: &str) -> Result<Encoded, String> {
        self.encode_as(text, RowText::Plain)
    }

    /// `text` as `who` wrote it: plain text takes the tokenizer's special tokens, a chat
    /// template's output is encoded as it is (it has its own BOS: a second would be
    /// trained on).
    pub fn encode_as(&self, text: &str, who: RowText) -> Result<Encoded, String> {
        let enc = self
            .tokenizer
            .encode(text, who == RowText::Plain)
            .map_err(|e| e.to_string())?;
        if let Some(vocab) = self.vocab_size {
            if let Some(&bad) = enc.get_ids().iter().find(|&&i| i as usize >= vocab) {
                return Err(format!(
                    "token id {bad} ({:?}) is out of range for the model's vocabulary size \
                     {vocab}: the tokenizer does not match the checkpoint",
                    self.tokenizer.id_to_token(bad).unwrap_or_default()
                ));
            }
        }
        Ok(Encoded {
            ids: enc.get_ids().to_vec(),
            offsets: enc.get_offsets().to_vec(),
        })
    }

    fn with_eos(&self, text: &str) -> String {
        match &self.eos_token {
            Some(e) if !text.ends_with(e.as_str()) => format!("{text}{e}"),
            _ => text.to_string(),
        }
    }
}

/// Byte offset of char `c` in `s` (clamped to the end).
pub fn char_to_byte(s: &str, c: u32) -> usize {
    s.char_indices().nth(c as usize).map_or(s.len(), |(b, _)| b)
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Weight per token from char spans over `completion`, which starts at byte `base` of the
/// encoded text.
pub fn span_weights(
    offsets: &[(usize, usize)],
    completion: &str,
    base: usize,
    spans: &[WeightSpan],
) -> Vec<f32> {
    let byte_spans: Vec<(usize, usize, f32)> = spans
        .iter()
        .map(|s| {
            (
                base + char_to_byte(completion, s.start),
                base + char_to_byte(completion, s.end),
                s.weight,
            )
        })
        .collect();
    offsets
        .iter()
        .map(|&(a, b)| {
            let mut w: Option<f32> = None;
            for &(s, e, sw) in &byte_spans {
                if a < b && a < e && s < b {
                    w = Some(w.map_or(sw, |x| x.max(sw)));
                }
            }
            w.unwrap_or(1.0)
        })
        .collect()
}

/// Result of tokenizing one row: an example, or why it was skipped.
pub enum Prepared<T> {
    Keep(T, bool),
    TooLong,
    NoLossTokens,
}

/// SFT prompt/completion row; the completion comes with its weight spans.
pub fn sft_prompt_completion(
    tok: &TextTokenizer,
    prompt: &str,
    (completion, spans): (&str, &[WeightSpan]),
    fit: RowFit,
    index: usize,
) -> Result<Prepared<SftExample>, String> {
    let RowFit {
        max_length,
        overflow,
        append_eos,
        completion_only_loss,
        text,
    } = fit;
    let completion = if append_eos && text == RowText::Plain {
        tok.with_eos(completion)
    } else {
        completion.to_string()
    };
    let p = tok.encode_as(prompt, text)?;
    let full_text = format!("{prompt}{completion}");
    let full = tok.encode_as(&full_text, text)?;
    let prompt_len = common_prefix(&p.ids, &full.ids);
    // Without completion-only loss every token is a label, so a row truncated to its
    // prompt still trains (TRL keeps it too).
    let mask: Vec<bool> = (0..full.ids.len())
        .map(|i| !completion_only_loss || i >= prompt_len)
        .collect();
    let span_w = span_weights(&full.offsets, &completion, prompt.len(), spans);
    finish_sft(full.ids, mask, span_w, max_length, overflow, index)
}

fn finish_sft(
    mut ids: Vec<u32>,
    mut mask: Vec<bool>,
    mut span_w: Vec<f32>,
    max_length: usize,
    overflow: Overflow,
    index: usize,
) -> Result<Prepared<SftExample>, String> {
    let mut truncated = false;
    if ids.len() > max_length {
        if overflow == Overflow::Drop {
            return Ok(Prepared::TooLong);
        }
        ids.truncate(max_length);
        mask.truncate(max_length);
        span_w.truncate(max_length);
        truncated = true;
    }
    // Position 0 is never a label (nothing predicts it).
    if ids.len() < 2 || !mask[1..].iter().any(|&m| m) {
        return Ok(Prepared::NoLossTokens);
    }
    Ok(Prepared::Keep(
        SftExample {
            ids,
            mask,
            span_w,
            index,
        },
        truncated,
    ))
}

/// Renders `messages` as ChatML and returns the text and the byte ranges to train on
/// (each assistant content through its `<|im_end|>` and the newline after it, as TRL
/// trains everything a turn adds after its generation header).
pub fn chatml_with_assistant_ranges(messages: &[Message]) -> (String, Vec<(usize, usize)>) {
    let mut s = String::new();
    let mut ranges = Vec::new();
    for m in messages {
        s.push_str("<|im_start|>");
        s.push_str(&m.role);
        s.push('\n');
        let start = s.len();
        s.push_str(&m.content);
        s.push_str("<|im_end|>\n");
        if m.role == "assistant" {
            ranges.push((start, s.len()));
        }
    }
    (s, ranges)
}

/// SFT row in conversational format: loss on the assistant turns `turns` names.
pub fn sft_messages(
    tok: &TextTokenizer,
    messages: &[Message],
    turns: crate::config::AssistantTurns,
    max_length: usize,
    overflow: Overflow,
    index: usize,
) -> Result<Prepared<SftExample>, String> {
    let (text, mut ranges) = match &tok.chat {
        Some(t) => t
            .render_with_assistant_ranges(messages)
            .map_err(|e| e.to_string())?,
        None => chatml_with_assistant_ranges(messages),
    };
    if turns == crate::config::AssistantTurns::Last {
        ranges.drain(..ranges.len().saturating_sub(1));
    }
    let enc = tok.encode_as(&text, RowText::Rendered)?;
    let mask = enc
        .offsets
        .iter()
        .map(|&(a, b)| a < b && ranges.iter().any(|&(s, e)| a >= s && a < e))
        .collect();
    let span_w = vec![1.0; enc.ids.len()];
    finish_sft(enc.ids, mask, span_w, max_length, overflow, index)
}

/// DPO row, TRL 1.16 `tokenize_fn` + collator truncation (`keep_start`); each completion
/// comes with its weight spans.
pub fn dpo_pair(
    tok: &TextTokenizer,
    prompt: &str,
    (chosen, chosen_spans): (&str, &[WeightSpan]),
    (rejected, rejected_spans): (&str, &[WeightSpan]),
    fit: RowFit,
    index: usize,
) -> Result<Prepared<DpoExample>, String> {
    let RowFit {
        max_length,
        overflow,
        append_eos,
        text,
        ..
    } = fit;
    // TRL appends EOS to non-conversational pairs only: a rendered reply ends its turn.
    let (chosen, rejected) = if append_eos && text == RowText::Plain {
        (tok.with_eos(chosen), tok.with_eos(rejected))
    } else {
        (chosen.to_string(), rejected.to_string())
    };
    let p = tok.encode_as(prompt, text)?;
    let pc = tok.encode_as(&format!("{prompt}{chosen}"), text)?;
    let pr = tok.encode_as(&format!("{prompt}{rejected}"), text)?;
    let prompt_len = common_prefix(&p.ids, &pc.ids).min(common_prefix(&p.ids, &pr.ids));
    if prompt_len >= max_length {
        return Ok(Prepared::TooLong);
    }
    let too_long = pc.ids.len() > max_length || pr.ids.len() > max_length;
    if too_long && overflow == Overflow::Drop {
        return Ok(Prepared::TooLong);
    }
    let cw = span_weights(&pc.offsets, &chosen, prompt.len(), chosen_spans);
    let rw = span_weights(&pr.offsets, &rejected, prompt.len(), rejected_spans);
    let keep_c = pc.ids.len().min(max_length);
    let keep_r = pr.ids.len().min(max_length);
    let ex = DpoExample {
        prompt: pc.ids[..prompt_len].to_vec(),
        chosen: pc.ids[prompt_len..keep_c].to_vec(),
        rejected: pr.ids[prompt_len..keep_r].to_vec(),
        chosen_w: cw[prompt_len..keep_c].to_vec(),
        rejected_w: rw[prompt_len..keep_r].to_vec(),
        index,
    };
    if ex.chosen.is_empty() || ex.rejected.is_empty() {
        return Ok(Prepared::NoLossTokens);
    }
    Ok(Prepared::Keep(ex, too_long))
}

/// A character-level tokenizer over `alphabet` plus `<unk>` (id 0) and `<eos>` (id 1),
/// for tests and benchmarks that must not download anything.
pub fn char_tokenizer(alphabet: &str) -> TextTokenizer {
    let mut vocab = serde_json::Map::new();
    vocab.insert("<unk>".into(), 0.into());
    vocab.insert("<eos>".into(), 1.into());
    for c in alphabet.chars() {
        let n = vocab.len();
        vocab.entry(c.to_string()).or_insert(n.into());
    }
    let json = serde_json::json!({
        "version": "1.0",
        "added_tokens": [
            {"id": 1, "content": "<eos>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
        ],
        "normalizer": null,
        "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "."}, "behavior": "Isolated", "invert": false},
        "post_processor": null,
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"}
    });
    let tokenizer =
        Tokenizer::from_bytes(json.to_string().as_bytes()).expect("valid char tokenizer");
    TextTokenizer {
        tokenizer,
        eos_token: Some("<eos>".into()),
        pad_id: 1,
        chat: None,
        vocab_size: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AssistantTurns;

    #[test]
    fn spans_are_char_offsets_mapped_to_tokens() {
        let tok = char_tokenizer("abcdé xyz");
        // completion "é xyz": chars 2..5 are "xyz" (bytes differ because é is 2 bytes)
        let spans = [WeightSpan {
            start: 2,
            end: 5,
            weight: 3.0,
        }];
        let Prepared::Keep(ex, _) = sft_prompt_completion(
            &tok,
            "ab",
            ("é xyz", &spans),
            RowFit {
                max_length: 100,
                overflow: Overflow::Truncate,
                append_eos: true,
                completion_only_loss: true,
                text: RowText::Plain,
            },
            0,
        )
        .unwrap() else {
            panic!("kept")
        };
        // tokens: a b é ' ' x y z <eos>
        assert_eq!(ex.ids.len(), 8);
        assert_eq!(
            ex.mask,
            vec![false, false, true, true, true, true, true, true]
        );
        assert_eq!(ex.span_w, vec![1.0, 1.0, 1.0, 1.0, 3.0, 3.0, 3.0, 1.0]);
    }

    #[test]
    fn assistant_only_mask_covers_assistant_content_and_what_ends_the_turn() {
        let tok = char_tokenizer("<|>imstarendusrwxyz\n_");
        let msgs = vec![
            Message {
                role: "user".into(),
                content: "x".into(),
            },
            Message {
                role: "assistant".into(),
                content: "y".into(),
            },
        ];
        let (_, ranges) = chatml_with_assistant_ranges(&msgs);
        assert_eq!(
            trained_text(&tok, &msgs, AssistantTurns::All),
            "y<|im_end|>\n"
        );
        assert_eq!(ranges.len(), 1);
    }

    /// The text under the loss mask.
    fn trained_text(tok: &TextTokenizer, msgs: &[Message], turns: AssistantTurns) -> String {
        let (text, _) = match &tok.chat {
            Some(t) => t.render_with_assistant_ranges(msgs).unwrap(),
            None => chatml_with_assistant_ranges(msgs),
        };
        let Prepared::Keep(ex, _) =
            sft_messages(tok, msgs, turns, 1000, Overflow::Truncate, 0).unwrap()
        else {
            panic!()
        };
        ex.mask
            .iter()
            .zip(tok.encode_as(&text, RowText::Rendered).unwrap().offsets)
            .filter(|(m, _)| **m)
            .map(|(_, (a, b))| text[a..b].to_string())
            .collect()
    }

    #[test]
    fn a_checkpoint_template_decides_the_text_and_the_trained_turns() {
        // Role initials as headers, `e` closing an assistant turn: nothing ChatML-like.
        let src = "{% for m in messages %}{{ m.role[0] }}{{ m.content }}{% if m.role == 'assistant' %}e{% endif %}{% endfor %}{% if add_generation_prompt %}a{% endif %}";
        let mut tok = char_tokenizer("uayoxwe");
        tok.chat = Some(
            ouro_model::chat_template::ChatTemplate::new(src, "", "", "t.jinja".into()).unwrap(),
        );
        let m = |role: &str, content: &str| Message {
            role: role.into(),
            content: content.into(),
        };
        let msgs = [
            m("user", "x"),
            m("assistant", "yo"),
            m("user", "w"),
            m("assistant", "oy"),
        ];
        assert_eq!(trained_text(&tok, &msgs, AssistantTurns::All), "yoeoye");
        assert_eq!(trained_text(&tok, &msgs, AssistantTurns::Last), "oye");
    }

    #[test]
    fn repair_conversations_train_on_the_fix_only_by_default() {
        let tok = char_tokenizer("<|>imstarendusrwxyz\n_");
        let turn = |role: &str, content: &str| Message {
            role: role.into(),
            content: content.into(),
        };
        // user: task; assistant: the failing attempt; user: the error; assistant: the fix.
        let msgs = vec![
            turn("user", "x"),
            turn("assistant", "w"),
            turn("user", "z"),
            turn("assistant", "y"),
        ];
        assert_eq!(
            trained_text(&tok, &msgs, AssistantTurns::default()),
            "y<|im_end|>\n"
        );
        assert_eq!(
            trained_text(&tok, &msgs, AssistantTurns::All),
            "w<|im_end|>\ny<|im_end|>\n"
        );
    }

    /// `tok` with a `<s>` that its post-processor puts before every encoding, as a
    /// Llama-family tokenizer does.
    fn with_bos(tok: TextTokenizer) -> TextTokenizer {
        let mut json = serde_json::to_value(&tok.tokenizer).unwrap();
        let id = json["model"]["vocab"].as_object().unwrap().len();
        json["model"]["vocab"]["<s>"] = id.into();
        json["added_tokens"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!(
            {"id": id, "content": "<s>", "single_word": false, "lstrip": false,
             "rstrip": false, "normalized": false, "special": true}));
        let bos = serde_json::json!({"SpecialToken": {"id": "<s>", "type_id": 0}});
        let a = serde_json::json!({"Sequence": {"id": "A", "type_id": 0}});
        json["post_processor"] = serde_json::json!({"type": "TemplateProcessing",
            "single": [bos, a], "pair": [bos, a, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [id], "tokens": ["<s>"]}}});
        TextTokenizer {
            tokenizer: Tokenizer::from_bytes(json.to_string().as_bytes()).unwrap(),
            ..tok
        }
    }

    /// A template that writes `{{ bos_token }}` on a tokenizer that adds one: TRL
    /// tokenizes the rendering without special tokens, so one BOS, and appends no EOS
    /// to a conversational reply. Plain strings take the tokenizer's BOS and the EOS.
    #[test]
    fn rendered_rows_keep_the_templates_one_bos_and_take_no_eos() {
        let mut tok = with_bos(char_tokenizer("/uaxyz"));
        tok.chat = Some(
            ouro_model::chat_template::ChatTemplate::new(
                "{{ bos_token }}{% for m in messages %}{{ m.role[0] }}{{ m.content }}/{% endfor %}\
                 {% if add_generation_prompt %}a{% endif %}",
                "<s>",
                "<eos>",
                "t.jinja".into(),
            )
            .unwrap(),
        );
        let id = |t: &str| tok.tokenizer.token_to_id(t).unwrap();
        let (bos, eos) = (id("<s>"), id("<eos>"));
        let fit = |text| RowFit {
            max_length: 100,
            overflow: Overflow::Truncate,
            append_eos: true,
            completion_only_loss: true,
            text,
        };
        let Prepared::Keep(plain, _) =
            sft_prompt_completion(&tok, "x", ("y", &[]), fit(RowText::Plain), 0).unwrap()
        else {
            panic!()
        };
        assert_eq!(plain.ids, vec![bos, id("x"), id("y"), eos]);
        let m = |role: &str, content: &str| Message {
            role: role.into(),
            content: content.into(),
        };
        let conversation = [m("user", "x"), m("assistant", "y")];
        let Prepared::Keep(sft, _) = sft_messages(
            &tok,
            &conversation,
            AssistantTurns::All,
            100,
            Overflow::Truncate,
            0,
        )
        .unwrap() else {
            panic!()
        };
        // <s> u x / a y /
        assert_eq!(sft.ids.iter().filter(|&&i| i == bos).count(), 1, "{sft:?}");
        assert_eq!(sft.ids.len(), 7);
        let Prepared::Keep(pair, _) = dpo_pair(
            &tok,
            "<s>ux/a",
            ("y/", &[]),
            ("z/", &[]),
            fit(RowText::Rendered),
            0,
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(pair.prompt, vec![bos, id("u"), id("x"), id("/"), id("a")]);
        assert_eq!(pair.chosen, vec![id("y"), id("/")]);
        assert_eq!(pair.rejected, vec![id("z"), id("/")]);
    }

    #[test]
    fn without_completion_only_loss_a_row_cut_to_its_prompt_still_trains() {
        let tok = char_tokenizer("abcdefxyz");
        let fit = |completion_only_loss| RowFit {
            max_length: 4,
            overflow: Overflow::Truncate,
            append_eos: true,
            completion_only_loss,
            text: RowText::Plain,
        };
        let row = |fit| sft_prompt_completion(&tok, "abcdef", ("xyz", &[]), fit, 0).unwrap();
        assert!(matches!(row(fit(true)), Prepared::NoLossTokens));
        let Prepared::Keep(ex, truncated) = row(fit(false)) else {
            panic!("kept")
        };
        assert!(truncated);
        assert_eq!(ex.mask, vec![true; 4]);
    }

    #[test]
    fn dpo_truncation_keeps_start_and_drops_prompt_filling_max_length() {
        let tok = char_tokenizer("abcdefxyz");
        let r = dpo_pair(
            &tok,
            "abcdef",
            ("xyz", &[]),
            ("zz", &[]),
            RowFit {
                max_length: 8,
                overflow: Overflow::Truncate,
                append_eos: true,
                completion_only_loss: true,
                text: RowText::Plain,
            },
            0,
        )
        .unwrap();
        let Prepared::Keep(ex, truncated) = r else {
            panic!()
        };
        assert!(truncated);
        assert_eq!(ex.chosen.len(), 2);
        assert_eq!(ex.rejected.len(), 2);
        let r = dpo_pair(
            &tok,
            "abcdef",
            ("xyz", &[]),
            ("zz", &[]),
            RowFit {
                max_length: 6,
                overflow: Overflow::Truncate,
                append_eos: true,
                completion_only_loss: true,
                text: RowText::Plain,
            },
            0,
        )
        .unwrap();
        assert!(matches!(r, Prepared::TooLong));
    }
}
