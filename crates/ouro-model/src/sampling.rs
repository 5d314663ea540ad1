//! Turning one row of logits into a token: temperature, top-k, top-p, min-p.

use rand::Rng;

use crate::fastmath;
use serde::{Deserialize, Serialize};

/// Sampling settings for one sample. `temperature <= 0` means greedy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplingParams {
    pub temperature: f64,
    /// Nucleus sampling mass; 1.0 disables it.
    pub top_p: f64,
    /// Keep only the k most likely tokens; 0 disables it.
    pub top_k: usize,
    /// Drop tokens whose probability is below `min_p * p_max`; 0 disables it.
    pub min_p: f64,
    /// Most tokens to generate (the prompt is not counted).
    pub max_tokens: usize,
    /// Generation stops when the decoded completion contains one of these; the
    /// returned text is cut before it.
    pub stop: Vec<String>,
    /// Seeds this sample's own RNG, so its draws do not depend on what else is in the batch.
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 1.0,
            top_p: 1.0,
            top_k: 0,
            min_p: 0.0,
            max_tokens: 256,
            stop: Vec::new(),
            seed: 0,
        }
    }
}

/// Picks a token from `logits` and returns it with its log-probability under
/// the unmodified model distribution (temperature 1, no truncation), which is
/// what sequence log-probs are summed from.
pub fn sample_token(logits: &[f32], p: &SamplingParams, rng: &mut impl Rng) -> (u32, f64) {
    let max = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    // exp in f32 lanes: a libm f64 exp per vocabulary entry cost a tenth of a decode step.
    let mut e: Vec<f32> = logits.iter().map(|&x| fastmath::exp(x - max)).collect();
    let lse = max as f64 + (fastmath::sum(&e) as f64).ln();
    let logprob = |i: usize| logits[i] as f64 - lse;
    if p.temperature <= 0.0 {
        let mut best = 0;
        for (i, &x) in logits.iter().enumerate() {
            if x > logits[best] {
                best = i;
            }
        }
        return (best as u32, logprob(best));
    }
    let t = p.temperature;
    if t != 1.0 {
        let inv = (1.0 / t) as f32;
        e.iter_mut()
            .zip(logits)
            .for_each(|(v, &x)| *v = fastmath::exp((x - max) * inv));
    }
    let total = fastmath::sum(&e) as f64;
    // Plain nucleus sampling (the common case) drops the tail before building the
    // candidate list: tokens under (1 - top_p) / V of the mass together hold less than
    // 1 - top_p, so the nucleus lies above that bound. Materialising all V candidates per
    // row cost about a tenth of a decode step at batch 32.
    let nucleus_only = p.top_p < 1.0 && p.min_p <= 0.0 && p.top_k == 0;
    let floor = if nucleus_only {
        ((1.0 - p.top_p) / logits.len() as f64 * total) as f32
    } else {
        f32::NEG_INFINITY
    };
    let mut probs: Vec<(u32, f64)> = e
        .iter()
        .enumerate()
        .filter(|(_, &v)| v >= floor)
        .map(|(i, &v)| (i as u32, v as f64 / total))
        .collect();
    if p.min_p > 0.0 {
        let pmax = probs.iter().fold(0.0f64, |a, x| a.max(x.1));
        let thr = p.min_p * pmax;
        probs.retain(|x| x.1 >= thr);
    }
    if p.top_k > 0 && p.top_k < probs.len() {
        probs.select_nth_unstable_by(p.top_k - 1, |a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        probs.truncate(p.top_k);
    }
    if p.top_p < 1.0 {
        // The mass before truncation: after min_p / top_k, what is left; in the nucleus-only
        // case, the whole distribution (the tail below `floor` was never materialised).
        let mass: f64 = if nucleus_only {
            1.0
        } else {
            probs.iter().map(|x| x.1).sum()
        };
        if !nucleus_only {
            let floor = (1.0 - p.top_p) * mass / logits.len() as f64;
            probs.retain(|x| x.1 >= floor);
        }
        probs.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let target = p.top_p * mass;
        let mut acc = 0.0;
        let mut keep = probs.len();
        for (i, x) in probs.iter().enumerate() {
            acc += x.1;
            if acc >= target {
                keep = i + 1;
                break;
            }
        }
        probs.truncate(keep.max(1));
    } else {
        probs.sort_unstable_by_key(|x| x.0);
    }
    let mass: f64 = probs.iter().map(|x| x.1).sum();
    let mut u = rng.gen::<f64>() * mass;
    for &(id, q) in &probs {
        if u < q {
            return (id, logprob(id as usize));
        }
        u -= q;
    }
    let id = probs.last().map(|x| x.0).unwrap_or(0);
    (id, logprob(id as usize))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn params(t: f64) -> SamplingParams {
        SamplingParams {
            temperature: t,
            ..Default::default()
        }
    }

    #[test]
    fn greedy_picks_argmax_and_reports_its_logprob() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        let (id, lp) = sample_token(&[0.0, 2.0, 1.0], &params(0.0), &mut rng);
        assert_eq!(id, 1);
        let expected = 2.0 - (1.0f64 + 2f64.exp() + 1f64.exp()).ln();
        assert!((lp - expected).abs() < 1e-6);
    }

    #[test]
    fn top_k_one_is_greedy() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let p = SamplingParams {
            top_k: 1,
            ..params(1.0)
        };
        for _ in 0..20 {
            assert_eq!(sample_token(&[0.5, 0.1, 3.0, 0.2], &p, &mut rng).0, 2);
        }
    }

    #[test]
    fn top_p_excludes_the_tail() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        // probs ~ [0.665, 0.245, 0.090]: top_p 0.8 keeps the first two only.
        let p = SamplingParams {
            top_p: 0.8,
            ..params(1.0)
        };
        for _ in 0..200 {
            assert_ne!(sample_token(&[2.0, 1.0, 0.0], &p, &mut rng).0, 2);
        }
    }

    #[test]
    fn nucleus_fast_path_draws_what_the_general_path_draws() {
        // top_k = V switches the fast path off without truncating anything.
        let v = 3000;
        let logits: Vec<f32> = (0..v).map(|i| ((i * 7919) % 1000) as f32 / 90.0).collect();
        for top_p in [0.5, 0.9, 0.95, 0.999] {
            let fast = SamplingParams {
                top_p,
                ..params(0.8)
            };
            let general = SamplingParams {
                top_k: v,
                ..fast.clone()
            };
            for seed in 0..100 {
                let a = sample_token(&logits, &fast, &mut rand::rngs::StdRng::seed_from_u64(seed));
                let b = sample_token(
                    &logits,
                    &general,
                    &mut rand::rngs::StdRng::seed_from_u64(seed),
                );
                assert_eq!(a, b, "top_p {top_p}, seed {seed}");
            }
        }
    }

    #[test]
    fn min_p_excludes_unlikely_tokens() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let p = SamplingParams {
            min_p: 0.2,
            ..params(1.0)
        };
        // p(2)/p(0) = e^-3 < 0.2
        for _ in 0..200 {
            assert_ne!(sample_token(&[3.0, 2.5, 0.0], &p, &mut rng).0, 2);
        }
    }

    #[test]
    fn sampling_frequencies_follow_the_distribution() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let mut counts = [0usize; 2];
        for _ in 0..4000 {
            counts[sample_token(&[0.0, 0.0], &params(1.0), &mut rng).0 as usize] += 1;
        }
        // equal logits -> about half each
        assert!((counts[0] as f64 / 4000.0 - 0.5).abs() < 0.05, "{counts:?}");
    }
}
