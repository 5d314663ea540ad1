//! How likely the model finds a prompt's own tokens: what an OpenAI client that asks for
//! `echo` with `logprobs` scores (lm-evaluation-harness's log-likelihood tasks do).

use candle_core::{DType, Tensor, D};

use super::events::top_logprobs;
use super::{Generator, Prompt, TokenLogprob};
use crate::error::Result;

impl Generator<'_> {
    /// The prompt's token ids, and the log-prob of each token after the first given the
    /// tokens before it (`ids.len() - 1` entries; the first token has none), each with the
    /// `top` likeliest tokens at its position.
    pub fn prompt_logprobs(
        &self,
        prompt: &Prompt,
        top: usize,
    ) -> Result<(Vec<u32>, Vec<TokenLogprob>)> {
        let ids = self.prompt_ids(prompt)?;
        if ids.len() < 2 {
            return Ok((ids, Vec::new()));
        }
        let input = Tensor::new(&ids[..ids.len() - 1], self.decoder.device())?.unsqueeze(0)?;
        // One training-style forward over the prompt; log-softmax in f32 whatever the
        // compute dtype, as the sampler's own log-probs are.
        let logits = self
            .decoder
            .forward(&input)?
            .squeeze(0)?
            .to_dtype(DType::F32)?;
        let max = logits.max(D::Minus1)?;
        // log-sum-exp as max + log(sum(exp(x - max))), so large logits do not overflow.
        let shifted = logits.broadcast_sub(&max.unsqueeze(1)?)?;
        let lse_stable = (shifted.exp()?.sum(D::Minus1)?.log()? + &max)?;
        let rows = logits.to_vec2::<f32>()?;
        let lse = lse_stable.to_vec1::<f32>()?;
        Ok((
            ids.clone(),
            rows.iter()
                .zip(lse)
                .zip(&ids[1..])
                .map(|((row, lse), &id)| {
                    let lse = lse as f64;
                    TokenLogprob {
                        id,
                        logprob: row[id as usize] as f64 - lse,
                        top: top_logprobs(row, top, lse),
                    }
                })
                .collect(),
        ))
    }
}
