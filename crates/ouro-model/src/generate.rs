//! Batched generation with a KV cache.
//!
//! Prompts of different lengths are left-padded; padding keys are masked and
//! RoPE positions start at 0 for every row, so a sample's logits do not depend
//! on the other prompts in its batch. Each sample draws from its own RNG
//! (seeded by `SamplingParams::seed`), which makes sampling reproducible
//! independent of batch composition. Finished samples leave the batch (their
//! cache rows are dropped), so a long straggler does not keep paying for them.

use std::time::Instant;

use candle_core::{DType, Tensor};
use rand::SeedableRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use crate::decoder::{Decoder, KvCache};
use crate::error::{ModelError, Result};
pub use crate::sampling::{sample_token, SamplingParams};

mod echo;
mod events;
mod from_dir;
pub use echo::ScoredPrompt;
pub use events::{TokenLogprob, TokenSink};
pub use from_dir::{
    generate_from_dir, generate_from_dir_on, generate_from_dir_with_eos, prompt_text,
};

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

/// What a generation continues: text (already formatted, see [`crate::chat`]) that the
/// model's tokenizer encodes, or token ids taken as they are (an OpenAI client that
/// tokenized the prompt itself needs its exact tokens kept).
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    Text(String),
    Ids(Vec<u32>),
}

impl Prompt {
    /// Token ids must index a model's `vocab`-sized embedding; text is encoded by its own
    /// tokenizer and always does.
    pub fn check_ids(&self, vocab: usize) -> Result<()> {
        match self {
            Prompt::Ids(ids) => match ids.iter().find(|&&i| i as usize >= vocab) {
                Some(bad) => Err(ModelError::InvalidArgument(format!(
                    "prompt token id {bad} is outside the vocabulary (0..{vocab})"
                ))),
                None => Ok(()),
            },
            Prompt::Text(_) => Ok(()),
        }
    }

    /// The text of a text prompt.
    pub fn text(&self) -> Option<&str> {
        match self {
            Prompt::Text(t) => Some(t),
            Prompt::Ids(_) => None,
        }
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
pub const PREFILL_SCORE_BUDGET: usize = 32 << 20;

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

struct Active {
    req: usize,
    tokens: Vec<u32>,
    logprob: f64,
    token_logprobs: Vec<TokenLogprob>,
    rng: rand::rngs::StdRng,
    next_pos: u32,
    key_valid: Vec<bool>,
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

    fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| ModelError::Tokenize(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    fn decode(&self, ids: &[u32]) -> Result<String> {
        let ids: Vec<u32> = ids
            .iter()
            .copied()
            .filter(|i| !self.eos.contains(i))
            .collect();
        self.tokenizer
            .decode(&ids, true)
            .map_err(|e| ModelError::Tokenize(e.to_string()))
    }

    /// A prompt's token ids; an empty prompt starts from the BOS token.
    pub fn prompt_ids(&self, prompt: &Prompt) -> Result<Vec<u32>> {
        let mut ids = match prompt {
            Prompt::Text(t) => self.encode(t)?,
            Prompt::Ids(ids) => {
                prompt.check_ids(self.decoder.config().vocab_size)?;
                ids.clone()
            }
        };
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
        let prompts = reqs
            .iter()
            .map(|r| self.prompt_ids(&r.prompt))
            .collect::<Result<Vec<_>>>()?;
        let mut results: Vec<Option<Generation>> = vec![None; reqs.len()];
        let mut active: Vec<Active> = Vec::new();
        for (i, r) in reqs.iter().enumerate() {
            if r.params.max_tokens == 0 {
                let g = Generation {
                    text: String::new(),
                    token_ids: vec![],
                    prompt_tokens: prompts[i].len(),
                    completion_tokens: 0,
                    logprob: 0.0,
                    token_logprobs: vec![],
                    finish_reason: FinishReason::Length,
                };
                sink.finished(first + i, &g);
                results[i] = Some(g);
            } else {
                active.push(Active {
                    req: i,
                    tokens: Vec::new(),
                    logprob: 0.0,
                    token_logprobs: Vec::new(),
                    rng: rand::rngs::StdRng::seed_from_u64(r.params.seed),
                    next_pos: prompts[i].len() as u32,
                    key_valid: Vec::new(),
                });
            }
        }
        if active.is_empty() {
            return Ok(results.into_iter().map(|r| r.expect("filled")).collect());
        }
        let mut cache = KvCache::new();
        let clock = Instant::now();
        let logits = self.prefill(&prompts, &mut active, &mut cache)?;
        let mut rows = host_rows(&logits)?;
        let mut model_s = clock.elapsed().as_secs_f64();
        let (mut choose_s, mut steps) = (0.0, 0);
        loop {
            let clock = Instant::now();
            // Sample every active row in parallel; each row only touches its own RNG. The
            // stop check decodes the row's completion, so it runs in the same task.
            let done: Vec<Option<(FinishReason, String)>> = active
                .par_iter_mut()
                .zip(rows.par_iter())
                .map(|(a, row)| {
                    // A NaN compares false against every bound, so sampling would quietly
                    // pick token 0 again and again.
                    if row.iter().any(|x| x.is_nan()) {
                        return Err(ModelError::NanLogits {
                            token: a.tokens.len(),
                        });
                    }
                    let req = &reqs[a.req];
                    let (tok, lp) = sample_token(row, &req.params, &mut a.rng);
                    a.tokens.push(tok);
                    a.logprob += lp;
                    let lse = row[tok as usize] as f64 - lp;
                    let t = TokenLogprob {
                        id: tok,
                        logprob: lp,
                        top: events::top_logprobs(row, req.top_logprobs, lse),
                    };
                    sink.token(first + a.req, &t);
                    a.token_logprobs.push(t);
                    self.finish(a, &req.params)
                })
                .collect::<Result<_>>()?;
            let mut keep = Vec::with_capacity(active.len());
            for (idx, (a, done)) in active.iter_mut().zip(done).enumerate() {
                match done {
                    Some((reason, text)) => {
                        let g = Generation {
                            text,
                            token_ids: a.tokens.clone(),
                            prompt_tokens: prompts[a.req].len(),
                            completion_tokens: a.tokens.len(),
                            logprob: a.logprob,
                            token_logprobs: std::mem::take(&mut a.token_logprobs),
                            finish_reason: reason,
                        };
                        sink.finished(first + a.req, &g);
                        results[a.req] = Some(g);
                    }
                    None => keep.push(idx),
                }
            }
            if keep.is_empty() {
                choose_s += clock.elapsed().as_secs_f64();
                break;
            }
            if keep.len() != active.len() {
                self.keep_rows(&mut active, &keep, &mut cache)?;
            }
            choose_s += clock.elapsed().as_secs_f64();
            let clock = Instant::now();
            rows = host_rows(&self.decode_step(&mut active, &mut cache)?)?;
            model_s += clock.elapsed().as_secs_f64();
            steps += 1;
        }
        times.model_s += model_s;
        times.choose_s += choose_s;
        times.decode_steps += steps;
        Ok(results
            .into_iter()
            .map(|r| r.expect("every request finished"))
            .collect())
    }

    /// Runs every active prompt, left-padded to the longest, and returns the
    /// logits of each row's last position.
    fn prefill(
        &self,
        prompts: &[Vec<u32>],
        active: &mut [Active],
        cache: &mut KvCache,
    ) -> Result<Tensor> {
        let max_len = active
            .iter()
            .map(|a| prompts[a.req].len())
            .max()
            .unwrap_or(1);
        let mut ids = Vec::with_capacity(active.len() * max_len);
        let mut positions = Vec::with_capacity(active.len());
        for a in active.iter_mut() {
            let p = &prompts[a.req];
            let pad = max_len - p.len();
            ids.extend(std::iter::repeat_n(0u32, pad));
            ids.extend_from_slice(p);
            positions.push(
                (0..max_len)
                    .map(|j| j.saturating_sub(pad) as u32)
                    .collect::<Vec<_>>(),
            );
            a.key_valid = (0..max_len).map(|j| j >= pad).collect();
        }
        let rows = active.len();
        let heads = self.decoder.config().num_attention_heads;
        let step = prefill_slice(rows * heads, max_len, self.prefill_budget);
        let mut logits = None;
        for start in (0..max_len).step_by(step) {
            let end = (start + step).min(max_len);
            let slice: Vec<u32> = ids
                .chunks(max_len)
                .flat_map(|r| r[start..end].iter().copied())
                .collect();
            let input = Tensor::from_vec(slice, (rows, end - start), self.decoder.device())?;
            let pos: Vec<Vec<u32>> = positions.iter().map(|p| p[start..end].to_vec()).collect();
            let kv: Vec<Vec<bool>> = active.iter().map(|a| a.key_valid[..end].to_vec()).collect();
            logits = Some(self.decoder.forward_step(&input, &pos, &kv, cache)?);
        }
        Ok(logits.expect("max_len >= 1"))
    }

    /// Whether `a` has just finished (EOS, a stop string, or `max_tokens`),
    /// with its final text (cut before the stop string).
    fn finish(
        &self,
        a: &Active,
        params: &SamplingParams,
    ) -> Result<Option<(FinishReason, String)>> {
        let tok = *a.tokens.last().expect("sampled");
        if self.eos.contains(&tok) {
            return Ok(Some((FinishReason::Stop, self.decode(&a.tokens)?)));
        }
        if !params.stop.is_empty() {
            let t = self.decode(&a.tokens)?;
            if let Some(cut) = params.stop.iter().filter_map(|s| t.find(s.as_str())).min() {
                return Ok(Some((FinishReason::Stop, t[..cut].to_string())));
            }
        }
        if a.tokens.len() >= params.max_tokens {
            return Ok(Some((FinishReason::Length, self.decode(&a.tokens)?)));
        }
        Ok(None)
    }

    /// Drops the finished rows from `active` and from the KV cache.
    fn keep_rows(
        &self,
        active: &mut Vec<Active>,
        keep: &[usize],
        cache: &mut KvCache,
    ) -> Result<()> {
        let rows = Tensor::from_vec(
            keep.iter().map(|&i| i as u32).collect::<Vec<_>>(),
            keep.len(),
            self.decoder.device(),
        )?;
        cache.select_rows(&rows)?;
        let mut it = 0;
        active.retain(|_| {
            let k = keep.contains(&it);
            it += 1;
            k
        });
        Ok(())
    }

    /// Feeds each active row its last sampled token; returns the next logits.
    fn decode_step(&self, active: &mut [Active], cache: &mut KvCache) -> Result<Tensor> {
        let last: Vec<u32> = active
            .iter()
            .map(|a| *a.tokens.last().expect("sampled"))
            .collect();
        let positions: Vec<Vec<u32>> = active.iter().map(|a| vec![a.next_pos]).collect();
        for a in active.iter_mut() {
            a.next_pos += 1;
            a.key_valid.push(true);
        }
        let kv: Vec<Vec<bool>> = active.iter().map(|a| a.key_valid.clone()).collect();
        let input = Tensor::from_vec(last, (active.len(), 1), self.decoder.device())?;
        Ok(self.decoder.forward_step(&input, &positions, &kv, cache)?)
    }
}

/// Each row of `logits [B, V]` on the host in f32. Half-precision logits cross from the
/// device as they are (half the bytes of a cast-then-copy, which at batch 64 and a 49k
/// vocabulary is 6 MB a token) and widen on the host, a row per thread; widening is exact.
fn host_rows(logits: &Tensor) -> Result<Vec<Vec<f32>>> {
    fn widen<T: Copy + Send + Into<f32>>(rows: Vec<Vec<T>>) -> Vec<Vec<f32>> {
        rows.into_par_iter()
            .map(|r| r.into_iter().map(Into::into).collect())
            .collect()
    }
    Ok(match logits.dtype() {
        DType::BF16 => widen(logits.to_vec2::<half::bf16>()?),
        DType::F16 => widen(logits.to_vec2::<half::f16>()?),
        _ => logits.to_dtype(DType::F32)?.to_vec2::<f32>()?,
    })
}

/// Query positions per prefill forward: all `len` when `lanes x len x len` scores fit
/// in `budget`, else as many as fit against the full key length (at least 16, so each
/// slice's matmuls stay batched).
fn prefill_slice(lanes: usize, len: usize, budget: usize) -> usize {
    let len = len.max(1);
    if lanes.saturating_mul(len).saturating_mul(len) <= budget {
        return len;
    }
    (budget / lanes.saturating_mul(len).max(1)).max(16).min(len)
}

#[cfg(test)]
mod prefill_tests {
    use super::prefill_slice;

    #[test]
    fn a_prefill_is_sliced_only_when_its_scores_exceed_the_budget() {
        assert_eq!(prefill_slice(16 * 9, 100, 32 << 20), 100);
        // 16 rows x 9 heads x 800 x 800 = 92M scores: slices of 291 queries.
        assert_eq!(prefill_slice(16 * 9, 800, 32 << 20), 291);
        assert_eq!(prefill_slice(64 * 9, 4000, 32 << 20), 16, "never below 16");
        assert_eq!(prefill_slice(1, 10, 1), 10, "never above the prompt");
    }
}

#[cfg(test)]
mod host_rows_tests {
    use candle_core::{DType, Device, Tensor};

    #[test]
    fn half_logits_widen_on_the_host_to_what_a_device_cast_gives() {
        let x = Tensor::randn(0f32, 3.0, (5, 1001), &Device::Cpu).unwrap();
        for dt in [DType::BF16, DType::F16, DType::F32] {
            let l = x.to_dtype(dt).unwrap();
            let want = l.to_dtype(DType::F32).unwrap().to_vec2::<f32>().unwrap();
            assert_eq!(super::host_rows(&l).unwrap(), want, "{dt:?}");
        }
    }
}
