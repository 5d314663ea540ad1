//! How likely the model finds a prompt's own tokens: what an OpenAI client that asks for
//! `echo` with `logprobs` scores (lm-evaluation-harness's log-likelihood tasks do).

use candle_core::{DType, Tensor, D};
use rayon::prelude::*;

use super::events::top_logprobs;
use super::{Generator, Prompt, TokenLogprob};
use crate::error::Result;

/// Most logits (rows x positions x vocabulary) one scoring forward may hold: 256 MB in
/// f32. Longer or more prompts are scored in several forwards.
const SCORE_LOGITS_BUDGET: usize = 64 << 20;

/// A scored prompt: its token ids, and the log-prob of each token after the first given
/// the tokens before it.
pub type ScoredPrompt = (Vec<u32>, Vec<TokenLogprob>);

/// One row's scored tokens, and the logits after its last token when asked for.
type RowScores = (Vec<TokenLogprob>, Option<Vec<f32>>);

impl Generator<'_> {
    /// The prompt's token ids, and the log-prob of each token after the first given the
    /// tokens before it (`ids.len() - 1` entries; the first token has none), each with the
    /// `top` likeliest tokens at its position.
    pub fn prompt_logprobs(&self, prompt: &Prompt, top: usize) -> Result<ScoredPrompt> {
        Ok(self
            .prompts_logprobs(std::slice::from_ref(prompt), top)?
            .remove(0))
    }

    /// [`Generator::prompt_logprobs`] of several prompts, right-padded into batched
    /// forwards (a row's scores do not depend on the others, to float rounding).
    pub fn prompts_logprobs(&self, prompts: &[Prompt], top: usize) -> Result<Vec<ScoredPrompt>> {
        Ok(self
            .score(prompts, top, false)?
            .into_iter()
            .map(|(s, _)| s)
            .collect())
    }

    /// [`Generator::prompts_logprobs`], plus the logits each prompt's next token is
    /// sampled from, in the same forwards: for a request that samples one token after
    /// its prompt is scored (lm-evaluation-harness's `echo` with `max_tokens: 1`), see
    /// [`Generator::sample_first`], in place of a second forward over the prompt.
    pub fn prompts_logprobs_and_next(
        &self,
        prompts: &[Prompt],
        top: usize,
    ) -> Result<Vec<(ScoredPrompt, Vec<f32>)>> {
        Ok(self
            .score(prompts, top, true)?
            .into_iter()
            .map(|(s, next)| (s, next.expect("asked for")))
            .collect())
    }

    fn score(
        &self,
        prompts: &[Prompt],
        top: usize,
        next: bool,
    ) -> Result<Vec<(ScoredPrompt, Option<Vec<f32>>)>> {
        let ids = prompts
            .iter()
            .map(|p| self.prompt_ids(p))
            .collect::<Result<Vec<_>>>()?;
        let vocab = self.decoder.config().vocab_size.max(1);
        // Longest first, so each forward pads little.
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
        let mut out = vec![None; ids.len()];
        let mut start = 0;
        while start < order.len() {
            let len = fed(&ids[order[start]], next).max(1);
            let rows = (SCORE_LOGITS_BUDGET / (len * vocab)).max(1);
            let chunk = &order[start..(start + rows).min(order.len())];
            let scored = self.score_rows(chunk.iter().map(|&i| ids[i].as_slice()), top, next)?;
            for (&i, (s, n)) in chunk.iter().zip(scored) {
                out[i] = Some(((ids[i].clone(), s), n));
            }
            start += chunk.len();
        }
        Ok(out
            .into_iter()
            .map(|s| s.expect("every prompt scored"))
            .collect())
    }

    /// One right-padded forward over `rows`, each scored on all its tokens but the
    /// first; with `next`, each row's last token is fed too and its logits returned.
    fn score_rows<'r>(
        &self,
        rows: impl Iterator<Item = &'r [u32]>,
        top: usize,
        next: bool,
    ) -> Result<Vec<RowScores>> {
        let rows: Vec<&[u32]> = rows.collect();
        let width = rows.iter().map(|r| fed(r, next)).max().unwrap_or(0);
        if width == 0 {
            return Ok(vec![(Vec::new(), None); rows.len()]);
        }
        let mut input = Vec::with_capacity(rows.len() * width);
        let mut mask = Vec::with_capacity(rows.len() * width);
        for r in &rows {
            let n = fed(r, next);
            input.extend_from_slice(&r[..n]);
            input.extend(std::iter::repeat_n(0u32, width - n));
            mask.extend((0..width).map(|j| u32::from(j < n)));
        }
        let dev = self.decoder.device();
        let input = Tensor::from_vec(input, (rows.len(), width), dev)?;
        let mask = Tensor::from_vec(mask, (rows.len(), width), dev)?;
        // Log-softmax in f32 whatever the compute dtype, as the sampler's log-probs are.
        let logits = self
            .decoder
            .forward_masked(&input, Some(&mask))?
            .to_dtype(DType::F32)?
            .contiguous()?;
        let vocab = logits.dim(D::Minus1)?;
        // Read on the host where the logits already are: the full-vocabulary tensor is the
        // largest thing scoring holds, and each copy or elementwise tensor op over it
        // (max, sub, exp, sum) allocated and faulted in as many bytes again.
        let (g, l) = logits.storage_and_layout();
        let host;
        let flat: &[f32] = match crate::rows_matmul::f32_slice(&g, l) {
            Some(v) => v,
            None => {
                host = logits.flatten_all()?.to_vec1::<f32>()?;
                &host
            }
        };
        let positions: Vec<(usize, usize, u32)> = rows
            .iter()
            .enumerate()
            .flat_map(|(i, r)| (0..r.len().saturating_sub(1)).map(move |j| (i, j, r[j + 1])))
            .collect();
        let scored: Vec<TokenLogprob> = positions
            .par_iter()
            .map(|&(i, j, id)| {
                let at = (i * width + j) * vocab;
                let row = &flat[at..at + vocab];
                let lse = log_sum_exp(row);
                TokenLogprob {
                    id,
                    logprob: row[id as usize] as f64 - lse,
                    top: top_logprobs(row, top, lse),
                }
            })
            .collect();
        let mut scored = scored.into_iter();
        Ok(rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let logprobs = scored.by_ref().take(r.len().saturating_sub(1)).collect();
                let last = next.then(|| {
                    let at = (i * width + r.len() - 1) * vocab;
                    flat[at..at + vocab].to_vec()
                });
                (logprobs, last)
            })
            .collect())
    }
}

/// How many of a prompt's tokens a scoring forward feeds: all but the last, which
/// nothing in the prompt follows, unless the logits after it are wanted too.
fn fed(ids: &[u32], next: bool) -> usize {
    if next {
        ids.len()
    } else {
        ids.len().saturating_sub(1)
    }
}

/// `ln(sum(exp(row)))`, shifted by the row's maximum so that no term overflows.
fn log_sum_exp(row: &[f32]) -> f64 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    // Summed in f64: 49k f32 terms added in order drift by 1e-4 nats.
    let sum: f64 = row.iter().map(|&x| (x - max).exp() as f64).sum();
    max as f64 + sum.ln()
}
