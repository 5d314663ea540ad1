//! What a generation reports per token: each sampled token's log-probability (and, on
//! request, the most likely alternatives), and the [`TokenSink`] that streams them out
//! while the batch is still decoding.

use super::Generation;

/// One sampled token and its log-probability under the model (temperature 1, before any
/// truncation), as OpenAI's `logprobs` report it.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLogprob {
    pub id: u32,
    pub logprob: f64,
    /// The `top_logprobs` most likely tokens at this position, most likely first (empty
    /// unless the request asked for them).
    pub top: Vec<(u32, f64)>,
}

/// Receives a generation's progress as it decodes: `token` for every sampled token (in
/// order within a request, possibly from several threads for different requests), then
/// `finished` once. `request` indexes the slice handed to the generator.
pub trait TokenSink: Sync {
    fn token(&self, request: usize, token: &TokenLogprob);
    fn finished(&self, request: usize, generation: &Generation);
}

/// The sink of a call nobody streams from.
pub(crate) struct NoSink;

impl TokenSink for NoSink {
    fn token(&self, _: usize, _: &TokenLogprob) {}
    fn finished(&self, _: usize, _: &Generation) {}
}

/// The `n` largest logits of `row` as (id, log-prob), most likely first; `lse` is the
/// row's log-sum-exp. Ties keep the lower id first, so the list is deterministic.
pub(crate) fn top_logprobs(row: &[f32], n: usize, lse: f64) -> Vec<(u32, f64)> {
    if n == 0 {
        return Vec::new();
    }
    let n = n.min(row.len());
    let better = |a: &u32, b: &u32| row[*b as usize].total_cmp(&row[*a as usize]).then(a.cmp(b));
    let mut ids: Vec<u32> = (0..row.len() as u32).collect();
    if n < ids.len() {
        ids.select_nth_unstable_by(n - 1, better);
        ids.truncate(n);
    }
    ids.sort_by(better);
    ids.into_iter()
        .map(|i| (i, row[i as usize] as f64 - lse))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::top_logprobs;

    #[test]
    fn top_logprobs_are_the_largest_logits_in_order_with_ties_by_id() {
        let row = [0.5f32, 2.0, -1.0, 2.0, 1.0];
        let lse = row.iter().map(|&x| (x as f64).exp()).sum::<f64>().ln();
        let top = top_logprobs(&row, 3, lse);
        let ids: Vec<u32> = top.iter().map(|t| t.0).collect();
        assert_eq!(ids, vec![1, 3, 4]);
        assert!((top[0].1 - (2.0 - lse)).abs() < 1e-12);
        assert_eq!(top_logprobs(&row, 0, lse), vec![]);
        assert_eq!(
            top_logprobs(&row, 9, lse).len(),
            5,
            "never more than the vocabulary"
        );
    }
}
