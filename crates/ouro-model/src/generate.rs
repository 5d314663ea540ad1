//! Batched generation with a KV cache.
//!
//! Prompts of different lengths are left-padded; padding keys are masked and
//! RoPE positions start at 0 for every row, so a sample's logits do not depend
//! on the other prompts in its batch. Each sample draws from its own RNG
//! (seeded by `SamplingParams::seed`), which makes sampling reproducible
//! independent of batch composition. Finished samples leave the batch (their
//! cache rows are dropped), so a long straggler does not keep paying for them.

use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use crate::decoder::Decoder;
use crate::error::{ModelError, Result};
pub use crate::sampling::{sample_token, SamplingParams};

mod echo;
mod events;
mod from_dir;
mod session;
pub use echo::ScoredPrompt;
pub use events::{TokenLogprob, TokenSink};
pub use from_dir::{
    generate_from_dir, generate_from_dir_on, generate_from_dir_with_eos, prompt_input,
};
pub use session::DecodeSession;

/// Why a sample stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FinishReason {
    /// EOS token or a stop sequence.
    Stop,
    /// `max_tokens` reached.
    Length,
}

impl FinishReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
        }
    }
}

/// What a generation continues: text that the model's tokenizer encodes, or token ids
/// taken as they are (an OpenAI client that tokenized the prompt itself needs its exact
/// tokens kept).
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    /// Plain text, encoded with the tokenizer's special tokens: the BOS a Llama-family
    /// post-processor adds, as `tokenizer(prompt)` in transformers, vLLM's
    /// `/v1/completions` and ouro's trainer all encode it (a model trained with BOS and
    /// sampled without one sees input it never saw).
    Text(String),
    /// A chat template's output ([`crate::chat`]), which writes its own BOS: encoded
    /// without special tokens, as `apply_chat_template(..., tokenize=True)` does.
    Rendered(String),
    Ids(Vec<u32>),
}

/// The first of `ids` that a `vocab`-sized embedding has no row for.
fn first_outside(ids: &[u32], vocab: usize) -> Option<u32> {
    ids.iter().copied().find(|&i| i as usize >= vocab)
}

impl Prompt {
    /// Token ids must index a model's `vocab`-sized embedding. Text is checked once
    /// encoded ([`Generator::prompt_ids`]): a tokenizer that does not match the checkpoint
    /// can give ids past it.
    pub fn check_ids(&self, vocab: usize) -> Result<()> {
        match self {
            Prompt::Ids(ids) => match first_outside(ids, vocab) {
                Some(bad) => Err(ModelError::InvalidArgument(format!(
                    "prompt token id {bad} is outside the vocabulary (0..{vocab})"
                ))),
                None => Ok(()),
            },
            Prompt::Text(_) | Prompt::Rendered(_) => Ok(()),
        }
    }

    /// The text of a text prompt.
    pub fn text(&self) -> Option<&str> {
        match self {
            Prompt::Text(t) | Prompt::Rendered(t) => Some(t),
            Prompt::Ids(_) => None,
        }
    }

    /// One user prompt as `renderer` makes it the model's input: plain text takes the
    /// tokenizer's special tokens when encoded, a chat template's output (which has
    /// its own) does not.
    pub fn for_user(renderer: &crate::chat::PromptRenderer, prompt: &str) -> Result<Self> {
        let text = renderer.prompt(prompt)?;
        Ok(match renderer {
            crate::chat::PromptRenderer::Plain => Prompt::Text(text),
            crate::chat::PromptRenderer::Chat(_) => Prompt::Rendered(text),
        })
    }

    /// The token ids the model reads (see the variants for special tokens).
    pub fn encode(&self, tokenizer: &Tokenizer) -> Result<Vec<u32>> {
        let (text, special) = match self {
            Prompt::Text(t) => (t, true),
            Prompt::Rendered(t) => (t, false),
            Prompt::Ids(ids) => return Ok(ids.clone()),
        };
        let enc = tokenizer
            .encode(text.as_str(), special)
            .map_err(|e| ModelError::Tokenize(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }
}

impl From<String> for Prompt {
    fn from(s: String) -> Self {
        Prompt::Text(s)
    }
}

impl From<&str> for Prompt {
    fn from(s: &str) -> Self {
        Prompt::Text(s.to_string())
    }
}

/// One prompt and how to sample it.
#[derive(Debug, Clone)]
pub struct GenerationRequest {
    pub prompt: Prompt,
    pub params: SamplingParams,
    /// How many of the likeliest tokens at each position its [`TokenLogprob`]s list,
    /// whichever was sampled (0: none, the common case; more costs a pass over the
    /// vocabulary per token).
    pub top_logprobs: usize,
}

impl GenerationRequest {
    pub fn new(prompt: impl Into<Prompt>, params: SamplingParams) -> Self {
        GenerationRequest {
            prompt: prompt.into(),
            params,
            top_logprobs: 0,
        }
    }
}

/// One finished sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// Completion text, without EOS and cut before a matched stop sequence.
    pub text: String,
    /// Every sampled token id (including EOS, if sampled).
    pub token_ids: Vec<u32>,
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    /// Sum of the sampled tokens' log-probs under the model (temperature 1).
    pub logprob: f64,
    /// Each sampled token's log-prob (the terms of `logprob`, in order).
    pub token_logprobs: Vec<TokenLogprob>,
    pub finish_reason: FinishReason,
}

/// Generates completions with a [`Decoder`] and its tokenizer.
pub struct Generator<'a> {
    decoder: &'a Decoder,
    tokenizer: &'a Tokenizer,
    eos: Vec<u32>,
    max_batch: usize,
    prefill_budget: usize,
}

/// Most attention scores (batch x heads x queries x keys) one prefill forward may hold.
/// Scores grow with the square of the prompt: 64 rows of 800-token prompts over 9 heads
/// would be 1.5 GB in f32 per layer, several times over once masked and softmaxed. A
/// longer prefill runs in slices of queries against the cache (a result within float
/// rounding of the single pass); one that fits runs in one pass as before.
///
/// 4M scores (16 MB in f32) rather than the 32M first chosen: smaller slices keep the
/// scores in cache, and every shape measured got faster (`examples/bench_prefill.rs`,
/// SmolLM2 f32 on the 2-core EPYC, 2026-12-06): one 2,139-token prompt 12.0 s -> 6.8 s,
/// 8 x 626 tokens 14.6 s -> 9.2 s, 64 x 176 tokens 20.7 s -> 16.3 s. 2M was slower again
/// in all three.
/// Prompt tokens a completion is decoded after (vLLM's detokenizer starts from 5 too):
/// enough for a decoder's seam, few enough to cost nothing.
pub const DECODE_CONTEXT: usize = 5;

pub const PREFILL_SCORE_BUDGET: usize = 4 << 20;

/// Where a [`Generator::generate_timed`] call's time went.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GenerationTimes {
    /// Forward passes (prefills and decode steps) until their logits are on the host: off
    /// the CPU, the device's work, which the copy waits for.
    pub model_s: f64,
    /// Choosing tokens on the host: sampling, stop checks and dropping finished rows.
    pub choose_s: f64,
    /// Decode steps run (forward passes after the prefills).
    pub decode_steps: usize,
}

impl<'a> Generator<'a> {
    /// EOS ids come from the model config's `eos_token_id`; when it has none,
    /// the tokenizer's `<|im_end|>`, `<|endoftext|>`, `</s>` or `<eos>` are used.
    pub fn new(decoder: &'a Decoder, tokenizer: &'a Tokenizer) -> Self {
        let mut eos = decoder.config().eos_token_ids();
        if eos.is_empty() {
            for t in ["<|im_end|>", "<|endoftext|>", "</s>", "<eos>"] {
                if let Some(id) = tokenizer.token_to_id(t) {
                    eos.push(id);
                }
            }
        }
        Generator {
            decoder,
            tokenizer,
            eos,
            max_batch: 64,
            prefill_budget: PREFILL_SCORE_BUDGET,
        }
    }

    /// A generator of a loaded checkpoint, stopping at every EOS id its config and
    /// `generation_config.json` name ([`Checkpoint::eos_token_ids`]).
    pub fn for_checkpoint(ck: &'a crate::checkpoint::Checkpoint, tokenizer: &'a Tokenizer) -> Self {
        let g = Generator::new(&ck.decoder, tokenizer);
        let eos = ck.eos_token_ids();
        if eos.is_empty() {
            g
        } else {
            g.with_eos(eos)
        }
    }

    /// Replaces the EOS token ids.
    pub fn with_eos(mut self, eos: Vec<u32>) -> Self {
        self.eos = eos;
        self
    }

    /// Most sequences decoded together (default 64).
    pub fn with_max_batch(mut self, n: usize) -> Self {
        self.max_batch = n.max(1);
        self
    }

    /// Most attention scores a prefill forward may hold (default
    /// [`PREFILL_SCORE_BUDGET`]); a longer prefill runs in slices of query positions.
    pub fn with_prefill_budget(mut self, scores: usize) -> Self {
        self.prefill_budget = scores.max(1);
        self
    }

    pub fn eos(&self) -> &[u32] {
        &self.eos
    }

    /// Generates one completion per request, in request order.
    pub fn generate(&self, requests: &[GenerationRequest]) -> Result<Vec<Generation>> {
        Ok(self.generate_timed(requests)?.0)
    }

    /// [`Generator::generate`], telling `sink` each token as it is sampled and each
    /// generation as it finishes (a batch's short completions before its long ones).
    pub fn generate_streaming(
        &self,
        requests: &[GenerationRequest],
        sink: &dyn TokenSink,
    ) -> Result<Vec<Generation>> {
        Ok(self.run(requests, sink)?.0)
    }

    /// [`Generator::generate`], and where its time went.
    pub fn generate_timed(
        &self,
        requests: &[GenerationRequest],
    ) -> Result<(Vec<Generation>, GenerationTimes)> {
        self.run(requests, &events::NoSink)
    }

    fn run(
        &self,
        requests: &[GenerationRequest],
        sink: &dyn TokenSink,
    ) -> Result<(Vec<Generation>, GenerationTimes)> {
        for r in requests {
            r.params.check()?;
        }
        // Decoding runs on a thread of rayon's pool: each step has a few hundred parallel
        // regions, and starting one from outside the pool costs a futex wake-up and a
        // context switch both ways (about a tenth of a decode step at batch 8).
        // candle queues CUDA work on the calling thread's own default stream, which is not
        // ordered against another thread's: the weights this thread uploaded must have
        // landed before a pool thread's kernels read them.
        if !self.decoder.device().is_cpu() {
            self.decoder.device().synchronize()?;
        }
        rayon::scope(|_| {
            let mut times = GenerationTimes::default();
            let mut out = Vec::with_capacity(requests.len());
            for (c, chunk) in requests.chunks(self.max_batch).enumerate() {
                let first = c * self.max_batch;
                out.extend(self.generate_batch(chunk, (first, sink), &mut times)?);
            }
            Ok((out, times))
        })
    }

    fn decode_after(&self, context: &[u32], ids: &[u32]) -> Result<String> {
        decode_after(self.tokenizer, &self.eos, context, ids)
    }

    /// A prompt's token ids; an empty prompt starts from the BOS token.
    pub fn prompt_ids(&self, prompt: &Prompt) -> Result<Vec<u32>> {
        let vocab = self.decoder.config().vocab_size;
        prompt.check_ids(vocab)?;
        let mut ids = prompt.encode(self.tokenizer)?;
        // An id past the embedding would fault inside a GPU kernel.
        if let Some(bad) = first_outside(&ids, vocab) {
            return Err(ModelError::InvalidArgument(format!(
                "the tokenizer gave token id {bad}, outside the model's vocabulary \
                 (0..{vocab}): the tokenizer does not match the checkpoint"
            )));
        }
        if ids.is_empty() {
            let bos = self
                .decoder
                .config()
                .bos_token_id
                .as_ref()
                .and_then(|v| v.as_u64());
            match bos {
                Some(b) => ids.push(b as u32),
                None => {
                    return Err(ModelError::InvalidArgument(
                        "empty prompt and no bos_token_id".into(),
                    ))
                }
            }
        }
        Ok(ids)
    }

    /// One batch; `first` is its first request's index in the call, as `sink` counts.
    fn generate_batch(
        &self,
        reqs: &[GenerationRequest],
        (first, sink): (usize, &dyn TokenSink),
        times: &mut GenerationTimes,
    ) -> Result<Vec<Generation>> {
        let mut session = DecodeSession::new(self);
        let mut results: Vec<Option<Generation>> = vec![None; reqs.len()];
        let mut done = session.admit(
            reqs.iter()
                .cloned()
                .enumerate()
                .map(|(i, r)| (first + i, r)),
            sink,
        )?;
        while !session.is_empty() {
            done.extend(session.step(sink)?);
        }
        for (key, g) in done {
            results[key - first] = Some(g);
        }
        let t = session.times();
        times.model_s += t.model_s;
        times.choose_s += t.choose_s;
        times.decode_steps += t.decode_steps;
        Ok(results
            .into_iter()
            .map(|r| r.expect("every request finished"))
            .collect())
    }
}

/// A completion's text, end-of-sequence tokens left out, as [`text_after`] its prompt.
fn decode_after(
    tokenizer: &Tokenizer,
    eos: &[u32],
    context: &[u32],
    ids: &[u32],
) -> Result<String> {
    let ids: Vec<u32> = ids.iter().copied().filter(|i| !eos.contains(i)).collect();
    text_after(tokenizer, context, &ids, true).map_err(|e| ModelError::Tokenize(e.to_string()))
}

/// The text of `ids` as it reads after `context` (a prompt's last tokens): decoded
/// together, less the context's own text, as transformers' pipelines and vLLM's
/// detokenizer give it. Decoded alone, a SentencePiece decoder (Llama 2, CodeLlama,
/// TinyLlama) strips the first space, and an indented body comes out as an
/// IndentationError.
pub fn text_after(
    tokenizer: &Tokenizer,
    context: &[u32],
    ids: &[u32],
    skip_special: bool,
) -> tokenizers::Result<String> {
    if context.is_empty() {
        return tokenizer.decode(ids, skip_special);
    }
    let head = tokenizer.decode(context, skip_special)?;
    let whole = tokenizer.decode(&[context, ids].concat(), skip_special)?;
    // A context that ends inside a character, or a decoder that rewrites across the
    // seam, has no clean cut: the text alone is the better answer there.
    match whole.strip_prefix(head.as_str()) {
        Some(rest) if !head.ends_with('\u{FFFD}') => Ok(rest.to_string()),
        _ => tokenizer.decode(ids, skip_special),
    }
}

#[cfg(test)]
mod decode_tests {
    use super::decode_after;
    use tokenizers::Tokenizer;

    /// Llama 2's decoder: `▁` to space, byte fallback, fuse, and strip one leading space.
    fn sentencepiece_like() -> Tokenizer {
        let json = r#"{"version": "1.0", "truncation": null, "padding": null,
          "added_tokens": [{"id": 1, "content": "<s>", "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false, "special": true}],
          "normalizer": null, "pre_tokenizer": null, "post_processor": null,
          "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
          "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>",
            "continuing_subword_prefix": null, "end_of_word_suffix": null, "fuse_unk": true,
            "byte_fallback": true, "ignore_merges": false,
            "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "▁▁▁▁": 3, "if": 4, "x": 5, ":": 6,
              "<0x0A>": 7, "▁return": 8}, "merges": []}}"#;
        Tokenizer::from_bytes(json.as_bytes()).expect("tokenizer builds")
    }

    /// A plain prompt gets the BOS a Llama-style post-processor adds (as transformers'
    /// `tokenizer(prompt)` and the trainer encode it); a chat template's output, which
    /// writes its own, does not get a second.
    #[test]
    fn plain_prompts_take_the_tokenizers_bos_and_rendered_ones_do_not() {
        let mut json: serde_json::Value =
            serde_json::to_value(sentencepiece_like()).expect("tokenizer serialises");
        let bos = serde_json::json!({"SpecialToken": {"id": "<s>", "type_id": 0}});
        let a = serde_json::json!({"Sequence": {"id": "A", "type_id": 0}});
        json["post_processor"] = serde_json::json!({"type": "TemplateProcessing",
            "single": [bos, a], "pair": [bos, a, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}});
        let tok = Tokenizer::from_bytes(json.to_string().as_bytes()).expect("tokenizer builds");
        let text = |p: super::Prompt| p.encode(&tok).unwrap();
        assert_eq!(text(super::Prompt::Text("x:".into())), vec![1, 5, 6]);
        assert_eq!(text(super::Prompt::Rendered("<s>x:".into())), vec![1, 5, 6]);
        assert_eq!(text(super::Prompt::Ids(vec![5, 6])), vec![5, 6]);
    }

    #[test]
    fn a_completion_keeps_the_first_space_a_sentencepiece_decoder_strips() {
        let tok = sentencepiece_like();
        // "x:\n", then "    if return" and </s>, which is left out.
        let context = [5, 6, 7];
        let ids = [3, 4, 8, 2];
        let alone = tok.decode(&ids[..3], true).unwrap();
        assert!(
            alone.starts_with("   if"),
            "the decoder strips one space: {alone:?}"
        );
        let text = decode_after(&tok, &[2], &context, &ids).unwrap();
        assert_eq!(text, "    if return");
        assert_eq!(decode_after(&tok, &[2], &[], &ids).unwrap(), alone);
    }
}
