//! The rows a [`Generator`] decodes together, one step at a time. [`Generator::generate`]
//! admits a batch and steps it until every row finishes; a server admits requests
//! between steps as they arrive (continuous batching), so a newcomer does not wait for
//! the longest generation in flight.

use std::time::Instant;

use candle_core::{DType, Tensor};
use rand::SeedableRng;
use rayon::prelude::*;

use super::events::top_logprobs;
use super::DECODE_CONTEXT;
use super::{
    FinishReason, Generation, GenerationRequest, GenerationTimes, Generator, SamplingParams,
    TokenLogprob, TokenSink,
};
use crate::decoder::KvCache;
use crate::error::{ModelError, Result};
use crate::sampling::sample_token;

/// One request being decoded.
struct Active {
    /// The caller's name for the request; sinks and results carry it.
    key: usize,
    request: GenerationRequest,
    prompt_tokens: usize,
    tokens: Vec<u32>,
    logprob: f64,
    token_logprobs: Vec<TokenLogprob>,
    rng: rand::rngs::StdRng,
    next_pos: u32,
    /// Which cached positions are this row's own tokens (left padding is not).
    key_valid: Vec<bool>,
    /// Finished, but still in the cache until the next compaction (continuous sessions).
    done: bool,
    /// The prompt's last tokens, which the completion is decoded after (see
    /// [`Generator::decode_after`]).
    context: Vec<u32>,
}

/// Newcomers being prefilled: their prompts left-padded to the longest (each row's
/// padding in `pads`), how far the forwards have got, and the cache they are filling.
struct Prefill {
    rows: Vec<Active>,
    ids: Vec<u32>,
    width: usize,
    pads: Vec<usize>,
    done: usize,
    cache: KvCache,
}

impl Prefill {
    /// `rows`' prompts left-padded to the longest, each row's `key_valid` set.
    fn new(prompts: &[Vec<u32>], mut rows: Vec<Active>) -> Self {
        let width = prompts.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let mut ids = Vec::with_capacity(rows.len() * width);
        let mut pads = Vec::with_capacity(rows.len());
        for (a, p) in rows.iter_mut().zip(prompts) {
            let pad = width - p.len();
            ids.extend(std::iter::repeat_n(0u32, pad));
            ids.extend_from_slice(p);
            pads.push(pad);
            a.key_valid = (0..width).map(|j| j >= pad).collect();
        }
        Prefill {
            rows,
            ids,
            width,
            pads,
            done: 0,
            cache: KvCache::new(),
        }
    }
}

impl Active {
    fn new(key: usize, request: GenerationRequest, prompt: &[u32]) -> Self {
        let prompt_tokens = prompt.len();
        Active {
            context: prompt[prompt_tokens.saturating_sub(DECODE_CONTEXT)..].to_vec(),
            key,
            rng: rand::rngs::StdRng::seed_from_u64(request.params.seed),
            request,
            prompt_tokens,
            tokens: Vec::new(),
            logprob: 0.0,
            token_logprobs: Vec::new(),
            next_pos: prompt_tokens as u32,
            key_valid: Vec::new(),
            done: false,
        }
    }

    fn generation(&mut self, reason: FinishReason, text: String) -> Generation {
        Generation {
            text,
            token_ids: self.tokens.clone(),
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.tokens.len(),
            logprob: self.logprob,
            token_logprobs: std::mem::take(&mut self.token_logprobs),
            finish_reason: reason,
        }
    }
}

/// Rows decoding together, which more requests may join between steps.
///
/// A row's tokens do not depend on which rows it shares a step with, beyond float
/// rounding: padding keys are masked, RoPE positions are the row's own, and each row
/// samples from its own RNG seeded by `SamplingParams::seed`.
pub struct DecodeSession<'g, 'a> {
    gen: &'g Generator<'a>,
    rows: Vec<Active>,
    cache: KvCache,
    /// Each row's logits for its next token, in `rows` order.
    logits: Vec<Vec<f32>>,
    /// A continuous session (see [`DecodeSession::continuous`]).
    continuous: bool,
    /// Newcomers whose prompts run a slice per step, oldest first
    /// ([`DecodeSession::chunked_prefill`]).
    prefilling: std::collections::VecDeque<Prefill>,
    /// Most prompt positions (summed over a group's rows) prefilled per step; `None`
    /// prefills newcomers whole when they are admitted.
    prefill_chunk: Option<usize>,
    times: GenerationTimes,
}

impl<'g, 'a> DecodeSession<'g, 'a> {
    pub fn new(gen: &'g Generator<'a>) -> Self {
        DecodeSession {
            gen,
            rows: Vec::new(),
            cache: KvCache::new(),
            logits: Vec::new(),
            continuous: false,
            prefilling: std::collections::VecDeque::new(),
            prefill_chunk: None,
            times: GenerationTimes::default(),
        }
    }

    /// Newcomers' prompts run at most `tokens` positions (summed over the newcomers
    /// admitted together; at least one position) per [`DecodeSession::step`], between
    /// the decode steps of the rows in flight, instead of all at admission: a long prompt
    /// joining then delays those rows by a slice per step rather than by its whole
    /// prefill. With no row decoding, a prefill runs whole at the next step. A row
    /// generates the same either way (to float rounding). A slice that fails (out of
    /// memory on a long prompt) fails only its newcomers: the step returns
    /// [`ModelError::Prefill`] naming their keys, and the rows in flight decode on at the
    /// next step.
    pub fn chunked_prefill(mut self, tokens: usize) -> Self {
        self.prefill_chunk = Some(tokens.max(1));
        self
    }

    /// A session that lives as long as requests keep coming. Finished rows leave the
    /// cache in groups (when an eighth of the rows are done, or before newcomers join)
    /// rather than one copy of the whole cache per finished row, since with a steady
    /// stream of requests some row finishes at nearly every step. Once the rows that
    /// needed the oldest cache positions are gone, those positions are dropped too, so
    /// the cache spans the longest row in flight rather than everything since the
    /// session began.
    pub fn continuous(mut self) -> Self {
        self.continuous = true;
        self
    }

    /// Rows still decoding or being prefilled.
    pub fn len(&self) -> usize {
        let rows = self.prefilling.iter().flat_map(|p| &p.rows);
        self.rows.iter().chain(rows).filter(|a| !a.done).count()
    }

    pub fn is_empty(&self) -> bool {
        self.prefilling.is_empty() && self.rows.iter().all(|a| a.done)
    }

    /// Stops the rows with these keys (their client went away): they sample nothing
    /// more and report nothing, and leave the cache with the next finished rows. A
    /// group of newcomers that are all cancelled is dropped before the rest of its
    /// prefill runs.
    pub fn cancel(&mut self, keys: &std::collections::HashSet<usize>) {
        let rows = self
            .rows
            .iter_mut()
            .chain(self.prefilling.iter_mut().flat_map(|p| p.rows.iter_mut()));
        for a in rows.filter(|a| keys.contains(&a.key)) {
            a.done = true;
        }
        self.prefilling.retain(|p| p.rows.iter().any(|a| !a.done));
    }

    /// Where this session's time went so far.
    pub fn times(&self) -> GenerationTimes {
        self.times
    }

    /// Cached positions per row (the longest row in flight, plus any not yet trimmed).
    pub fn cache_len(&self) -> usize {
        self.cache.len()
    }

    /// Prefills `requests` (each with its key) and adds them to the rows; their first
    /// tokens are sampled by the next [`DecodeSession::step`] (with chunked prefill, by
    /// the step that finishes their prefill). Requests with `max_tokens` 0 finish at
    /// once and are returned. On an error in a prompt (it does not tokenize) or in the
    /// newcomers' prefill at admission, nothing was added and the rows in flight go on.
    pub fn admit(
        &mut self,
        requests: impl IntoIterator<Item = (usize, GenerationRequest)>,
        sink: &dyn TokenSink,
    ) -> Result<Vec<(usize, Generation)>> {
        let mut finished = Vec::new();
        let mut fresh = Vec::new();
        let mut prompts = Vec::new();
        for (key, request) in requests {
            request.params.check()?;
            let ids = self.gen.prompt_ids(&request.prompt)?;
            if request.params.max_tokens == 0 {
                finished.push((key, ids.len()));
                continue;
            }
            fresh.push(Active::new(key, request, &ids));
            prompts.push(ids);
        }
        if !fresh.is_empty() {
            let mut p = Prefill::new(&prompts, fresh);
            if self.prefill_chunk.is_some() {
                self.prefilling.push_back(p);
            } else {
                let clock = Instant::now();
                let logits = self.gen.prefill(&mut p, usize::MAX)?.expect("run whole");
                self.times.model_s += clock.elapsed().as_secs_f64();
                self.join(p, &logits)?;
            }
        }
        Ok(finished
            .into_iter()
            .map(|(key, prompt_tokens)| {
                let g = Generation {
                    text: String::new(),
                    token_ids: vec![],
                    prompt_tokens,
                    completion_tokens: 0,
                    logprob: 0.0,
                    token_logprobs: vec![],
                    finish_reason: FinishReason::Length,
                };
                sink.finished(key, &g);
                (key, g)
            })
            .collect())
    }

    /// Samples one token for every row, returns the rows that finished with it, and runs
    /// the forward that gives the others their next logits. An error (NaN logits, a
    /// failed forward) leaves the session unusable, but for [`ModelError::Prefill`]: a
    /// chunked prefill's slice failed, its newcomers are dropped, and nothing else was
    /// touched.
    pub fn step(&mut self, sink: &dyn TokenSink) -> Result<Vec<(usize, Generation)>> {
        if let (Some(chunk), Some(p)) = (self.prefill_chunk, self.prefilling.front_mut()) {
            let clock = Instant::now();
            // With no row decoding, nothing waits on the prefill: it runs whole.
            let positions = if self.rows.iter().any(|a| !a.done) {
                (chunk / p.rows.len()).max(1)
            } else {
                usize::MAX
            };
            let logits = match self.gen.prefill(p, positions) {
                Ok(logits) => logits,
                Err(e) => {
                    // The newcomers' prefill fills a cache of its own: dropping it leaves
                    // the rows in flight as they were.
                    let p = self.prefilling.pop_front().expect("front");
                    return Err(ModelError::Prefill {
                        keys: p.rows.iter().map(|a| a.key).collect(),
                        source: Box::new(e),
                    });
                }
            };
            self.times.model_s += clock.elapsed().as_secs_f64();
            if let Some(logits) = logits {
                let p = self.prefilling.pop_front().expect("front");
                self.join(p, &logits)?;
            }
        }
        let clock = Instant::now();
        let gen = self.gen;
        // Sample every row in parallel; each row only touches its own RNG. The stop
        // check decodes the row's completion, so it runs in the same task.
        let done: Vec<Option<(FinishReason, String)>> = self
            .rows
            .par_iter_mut()
            .zip(self.logits.par_iter())
            .map(|(a, row)| {
                if a.done {
                    return Ok(None);
                }
                gen.sample_next(a, row, sink)
            })
            .collect::<Result<_>>()?;
        let mut finished = Vec::new();
        for (a, done) in self.rows.iter_mut().zip(done) {
            if let Some((reason, text)) = done {
                let g = a.generation(reason, text);
                sink.finished(a.key, &g);
                finished.push((a.key, g));
                a.done = true;
            }
        }
        let dead = self.rows.iter().filter(|a| a.done).count();
        if dead == self.rows.len() {
            self.rows.clear();
            self.logits.clear();
            self.cache = KvCache::new();
            self.times.choose_s += clock.elapsed().as_secs_f64();
            return Ok(finished);
        }
        // A one-shot batch drops its finished rows at once (it only shrinks); a
        // continuous one in groups.
        if dead > 0 && (!self.continuous || dead >= (self.rows.len() / 8).max(1)) {
            self.compact()?;
        }
        self.times.choose_s += clock.elapsed().as_secs_f64();
        let clock = Instant::now();
        self.logits = host_rows(&self.decode_step()?)?;
        self.times.model_s += clock.elapsed().as_secs_f64();
        self.times.decode_steps += 1;
        Ok(finished)
    }

    /// Adds prefilled newcomers, with the logits of their prompts' last positions, to the
    /// rows in flight.
    fn join(&mut self, p: Prefill, logits: &Tensor) -> Result<()> {
        let logits = host_rows(logits)?;
        let (mut fresh, cache) = (p.rows, p.cache);
        self.compact()?;
        if self.rows.is_empty() {
            self.cache = cache;
        } else {
            // Both sides end at the same cache position; the shorter one's rows start
            // with padding.
            let len = self.cache.len().max(cache.len());
            let (old, new) = (len - self.cache.len(), len - cache.len());
            self.cache.join(cache)?;
            for (rows, pad) in [(&mut self.rows, old), (&mut fresh, new)] {
                for a in rows.iter_mut() {
                    a.key_valid.splice(0..0, std::iter::repeat_n(false, pad));
                }
            }
        }
        self.rows.extend(fresh);
        self.logits.extend(logits);
        Ok(())
    }

    /// Drops the finished rows from the rows and from the KV cache, and in a continuous
    /// session the leading positions that only they attended to.
    fn compact(&mut self) -> Result<()> {
        let keep: Vec<usize> = (0..self.rows.len())
            .filter(|&i| !self.rows[i].done)
            .collect();
        if keep.len() == self.rows.len() {
            return Ok(());
        }
        let rows = Tensor::from_vec(
            keep.iter().map(|&i| i as u32).collect::<Vec<_>>(),
            keep.len(),
            self.gen.decoder.device(),
        )?;
        self.cache.select_rows(&rows)?;
        self.logits = keep
            .iter()
            .map(|&i| std::mem::take(&mut self.logits[i]))
            .collect();
        self.rows.retain(|a| !a.done);
        if self.continuous {
            let unused = self
                .rows
                .iter()
                .map(|a| a.key_valid.iter().take_while(|&&v| !v).count())
                .min()
                .unwrap_or(0);
            if unused > 0 {
                self.cache.trim_front(unused)?;
                for a in &mut self.rows {
                    a.key_valid.drain(..unused);
                }
            }
        }
        Ok(())
    }

    /// Feeds each row its last sampled token; returns the next logits.
    fn decode_step(&mut self) -> Result<Tensor> {
        // A row cancelled before its first token feeds a placeholder: the outputs of
        // done rows are never read.
        let last: Vec<u32> = self
            .rows
            .iter()
            .map(|a| match a.tokens.last() {
                Some(&t) => t,
                None if a.done => 0,
                None => unreachable!("a live row has sampled its first token"),
            })
            .collect();
        let positions: Vec<Vec<u32>> = self.rows.iter().map(|a| vec![a.next_pos]).collect();
        for a in self.rows.iter_mut() {
            a.next_pos += 1;
            a.key_valid.push(true);
        }
        let kv: Vec<Vec<bool>> = self.rows.iter().map(|a| a.key_valid.clone()).collect();
        let input = Tensor::from_vec(last, (self.rows.len(), 1), self.gen.decoder.device())?;
        Ok(self
            .gen
            .decoder
            .forward_step(&input, &positions, &kv, &mut self.cache)?)
    }
}

impl Generator<'_> {
    /// A request's one token, sampled from the logits after its prompt that a scoring
    /// forward already gave ([`Generator::prompts_logprobs_and_next`]), as a session
    /// would sample it after its prefill: the same seeded draw, sink events and stop
    /// checks, without a forward. Only for `max_tokens` 1 (nothing is cached to go on
    /// from); `prompt` is the prompt's token ids, as the scoring forward read them.
    pub fn sample_first(
        &self,
        (key, request): (usize, GenerationRequest),
        prompt: &[u32],
        logits: &[f32],
        sink: &dyn TokenSink,
    ) -> Result<Generation> {
        if request.params.max_tokens != 1 {
            return Err(ModelError::InvalidArgument(format!(
                "sample_first samples one token, and this request asks for {}",
                request.params.max_tokens
            )));
        }
        let mut a = Active::new(key, request, prompt);
        let (reason, text) = self
            .sample_next(&mut a, logits, sink)?
            .expect("max_tokens 1 finishes at its first token");
        let g = a.generation(reason, text);
        sink.finished(key, &g);
        Ok(g)
    }

    /// Samples `a`'s next token from `row` and reports it to `sink`; `Some` when that
    /// token finished it.
    fn sample_next(
        &self,
        a: &mut Active,
        row: &[f32],
        sink: &dyn TokenSink,
    ) -> Result<Option<(FinishReason, String)>> {
        // A NaN compares false against every bound, so sampling would quietly pick
        // token 0 again and again.
        if row.iter().any(|x| x.is_nan()) {
            return Err(ModelError::NanLogits {
                token: a.tokens.len(),
            });
        }
        let (tok, lp) = sample_token(row, &a.request.params, &mut a.rng);
        a.tokens.push(tok);
        a.logprob += lp;
        let lse = row[tok as usize] as f64 - lp;
        let t = TokenLogprob {
            id: tok,
            logprob: lp,
            top: top_logprobs(row, a.request.top_logprobs, lse),
        };
        sink.token(a.key, &t);
        a.token_logprobs.push(t);
        self.finish(a, &a.request.params)
    }

    /// Runs up to `positions` more of `p`'s prompt positions (whole slices, at least
    /// one); once the last has run, returns the logits of each row's last position.
    fn prefill(&self, p: &mut Prefill, positions: usize) -> Result<Option<Tensor>> {
        let rows = p.rows.len();
        let heads = self.decoder.config().num_attention_heads;
        let positions = positions.max(1);
        let step = prefill_slice(rows * heads, p.width, self.prefill_budget).min(positions);
        let until = p.done.saturating_add(positions).min(p.width);
        let mut logits = None;
        while p.done < until {
            let (start, end) = (p.done, (p.done + step).min(p.width));
            let slice: Vec<u32> = p
                .ids
                .chunks(p.width)
                .flat_map(|r| r[start..end].iter().copied())
                .collect();
            let input = Tensor::from_vec(slice, (rows, end - start), self.decoder.device())?;
            // RoPE positions count from each row's first real token.
            let pos: Vec<Vec<u32>> = p
                .pads
                .iter()
                .map(|&pad| (start..end).map(|j| j.saturating_sub(pad) as u32).collect())
                .collect();
            let kv: Vec<Vec<bool>> = p.rows.iter().map(|a| a.key_valid[..end].to_vec()).collect();
            logits = Some(self.decoder.forward_step(&input, &pos, &kv, &mut p.cache)?);
            p.done = end;
        }
        Ok(logits.filter(|_| p.done == p.width))
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
            return Ok(Some((
                FinishReason::Stop,
                self.decode_after(&a.context, &a.tokens)?,
            )));
        }
        if !params.stop.is_empty() {
            let t = self.decode_after(&a.context, &a.tokens)?;
            if let Some(cut) = params.stop.iter().filter_map(|s| t.find(s.as_str())).min() {
                return Ok(Some((FinishReason::Stop, t[..cut].to_string())));
            }
        }
        if a.tokens.len() >= params.max_tokens {
            return Ok(Some((
                FinishReason::Length,
                self.decode_after(&a.context, &a.tokens)?,
            )));
        }
        Ok(None)
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
mod failed_prefill;

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
    use candle_core::{DType, Device};

    #[test]
    fn half_logits_widen_on_the_host_to_what_a_device_cast_gives() {
        let x = crate::init::seeded_normal((5, 1001), (0.0, 3.0), 1, &Device::Cpu).unwrap();
        for dt in [DType::BF16, DType::F16, DType::F32] {
            let l = x.to_dtype(dt).unwrap();
            let want = l.to_dtype(DType::F32).unwrap().to_vec2::<f32>().unwrap();
            assert_eq!(super::host_rows(&l).unwrap(), want, "{dt:?}");
        }
    }
}
