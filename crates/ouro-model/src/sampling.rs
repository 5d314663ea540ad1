//! Turning one row of logits into a token: temperature, top-k, top-p, min-p.

use std::cmp::Ordering;

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

impl SamplingParams {
    /// Whether these parameters can be sampled with. Front ends (the CLI, `ouro serve`)
    /// check them first in their own words; this guards every other caller, since an
    /// empty stop string would end every completion before its first token.
    pub fn check(&self) -> crate::Result<()> {
        let bad = |m: String| Err(crate::ModelError::InvalidArgument(m));
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return bad(format!(
                "temperature must be a finite number >= 0, got {}",
                self.temperature
            ));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad(format!("top_p must be in (0, 1], got {}", self.top_p));
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return bad(format!("min_p must be in [0, 1], got {}", self.min_p));
        }
        if self.stop.iter().any(String::is_empty) {
            return bad("a stop string is empty: it would end every completion at once".into());
        }
        Ok(())
    }
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
    let mut e = vec![0.0f32; logits.len()];
    fastmath::exp_shifted(&mut e, logits, max, 1.0);
    let lse = max as f64 + (fastmath::sum(&e) as f64).ln();
    let logprob = |i: usize| logits[i] as f64 - lse;
    // A temperature so small that 1/t overflows f32 would turn the logits into NaN: it
    // is greedy in all but name.
    let inverse = (1.0 / p.temperature) as f32;
    if p.temperature <= 0.0 || !inverse.is_finite() {
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
        fastmath::exp_shifted(&mut e, logits, max, inverse);
    }
    let total = fastmath::sum(&e) as f64;
    let mut keep = Keep {
        floor: 0.0,
        cut: None,
    };
    // Plain nucleus sampling (the common case) starts from a floor: tokens under
    // (1 - top_p) / V of the mass together hold less than 1 - top_p, so the nucleus lies
    // above that bound.
    let nucleus_only = p.top_p < 1.0 && p.min_p <= 0.0 && p.top_k == 0;
    if nucleus_only {
        keep.floor = nucleus_floor(p.top_p, total, logits.len());
    }
    if p.min_p > 0.0 {
        let wmax = e.iter().fold(0.0f32, |a, &w| a.max(w));
        keep.floor = keep.floor.max((p.min_p * wmax as f64) as f32);
    }
    if p.top_k > 0 && p.top_k < full(&e, &keep).count() {
        // A top-k set is small: the rest works on it as a list.
        keep.cut = Some(radix_cut(|| full(&e, &keep), |_| 1.0, p.top_k as f64));
        let mut cand: Vec<(u32, f32)> = full(&e, &keep).collect();
        if p.top_p < 1.0 {
            let mass: f64 = cand.iter().map(|x| x.1 as f64).sum();
            let mut nucleus = Keep {
                floor: nucleus_floor(p.top_p, mass, logits.len()),
                cut: None,
            };
            let inside = |&(i, w): &(u32, f32)| nucleus.has(i, w);
            let cut = radix_cut(
                || cand.iter().copied().filter(inside),
                |w| w as f64,
                p.top_p * mass,
            );
            nucleus.cut = Some(cut);
            cand.retain(|&(i, w)| nucleus.has(i, w));
        }
        let id = draw_list(&cand, rng);
        return (id, logprob(id as usize));
    }
    if p.top_p < 1.0 {
        // The mass before truncation: after min_p, what is left; in the nucleus-only
        // case, the whole distribution (the floor only drops tokens outside the nucleus).
        let mass = if nucleus_only {
            total
        } else {
            kept_weight(&e, &keep).iter().sum()
        };
        if !nucleus_only {
            keep.floor = keep.floor.max(nucleus_floor(p.top_p, mass, logits.len()));
        }
        keep.cut = Some(radix_cut(|| full(&e, &keep), |w| w as f64, p.top_p * mass));
    }
    let id = draw(&e, &keep, rng);
    (id, logprob(id as usize))
}

/// The weight below which no token can be in a top-p nucleus of `mass` over `vocab` tokens:
/// all of them together hold less than `1 - top_p` of it.
fn nucleus_floor(top_p: f64, mass: f64, vocab: usize) -> f32 {
    ((1.0 - top_p) * mass / vocab as f64) as f32
}

/// The `(id, weight)` of every token `keep` has, in id order.
fn full<'a>(e: &'a [f32], keep: &'a Keep) -> impl Iterator<Item = (u32, f32)> + 'a {
    e.iter()
        .enumerate()
        .map(|(i, &w)| (i as u32, w))
        .filter(|&(i, w)| keep.has(i, w))
}

/// Draws one of `cand` (in id order) with probability proportional to its weight.
fn draw_list(cand: &[(u32, f32)], rng: &mut impl Rng) -> u32 {
    let mass: f64 = cand.iter().map(|x| x.1 as f64).sum();
    let mut u = rng.gen::<f64>() * mass;
    for &(id, w) in cand {
        if u < w as f64 {
            return id;
        }
        u -= w as f64;
    }
    cand.last().map_or(0, |x| x.0)
}

/// Which tokens a truncation keeps: weight at least `floor`, and not behind `cut` in the
/// sampling order (see [`ahead`]).
struct Keep {
    floor: f32,
    cut: Option<(u32, f32)>,
}

impl Keep {
    #[inline(always)]
    fn has(&self, id: u32, w: f32) -> bool {
        w >= self.floor
            && self
                .cut
                .is_none_or(|(cid, cw)| w > cw || (w == cw && id <= cid))
    }
}

/// The sampling order of candidates: the heavier first, ties to the lower id.
fn ahead(a: &(u32, f32), b: &(u32, f32)) -> Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// Tokens per block of [`kept_weight`].
const BLOCK: usize = 256;

/// The kept weight of each block of `BLOCK` consecutive ids: branch-free, so it
/// vectorises, and the draw only walks one block token by token.
fn kept_weight(e: &[f32], keep: &Keep) -> Vec<f64> {
    e.chunks(BLOCK)
        .enumerate()
        .map(|(c, ws)| {
            let base = (c * BLOCK) as u32;
            let mut lanes = [0.0f32; 8];
            for (j, &w) in ws.iter().enumerate() {
                lanes[j % 8] += if keep.has(base + j as u32, w) { w } else { 0.0 };
            }
            lanes.iter().map(|&x| x as f64).sum()
        })
        .collect()
}

/// Draws one kept id with probability proportional to its weight, walking ids in order.
fn draw(e: &[f32], keep: &Keep, rng: &mut impl Rng) -> u32 {
    let blocks = kept_weight(e, keep);
    let mut u = rng.gen::<f64>() * blocks.iter().sum::<f64>();
    let mut last = None;
    for (c, &m) in blocks.iter().enumerate() {
        if m <= 0.0 {
            continue;
        }
        if u >= m {
            u -= m;
            last = Some(c);
            continue;
        }
        let base = c * BLOCK;
        for (j, &w) in e[base..(base + BLOCK).min(e.len())].iter().enumerate() {
            let id = (base + j) as u32;
            if !keep.has(id, w) {
                continue;
            }
            if u < w as f64 {
                return id;
            }
            u -= w as f64;
        }
        // Rounding between the block's sum and the walk: on to the next block.
        last = Some(c);
    }
    // Rounding left `u` past the end: the last kept token.
    let c = last.unwrap_or(0);
    let base = c * BLOCK;
    (base..(base + BLOCK).min(e.len()))
        .rev()
        .find(|&i| keep.has(i as u32, e[i]))
        .unwrap_or(0) as u32
}

/// The last kept token of the truncation: walking the tokens of `kept` from the
/// heaviest (see [`ahead`]), the one at which the running `measure` (a token's weight for
/// top-p, 1 for top-k) reaches `target`.
///
/// Sorting every candidate cost 1.8 ms a row at 49k near-uniform logits (a random-weight
/// model's nucleus holds most of the vocabulary), several times the decode step it
/// follows. A non-negative float's bits order like its value, so tokens go into buckets by
/// their top 16 bits (7 of mantissa): the heavy buckets' sums locate the bucket that holds
/// the cut, and only that bucket is sorted.
fn radix_cut<I: Iterator<Item = (u32, f32)>>(
    kept: impl Fn() -> I,
    measure: impl Fn(f32) -> f64,
    target: f64,
) -> (u32, f32) {
    let bucket = |w: f32| (w.to_bits() >> 16) as usize;
    let (lo, hi) = kept().fold((usize::MAX, 0), |(lo, hi), (_, w)| {
        (lo.min(bucket(w)), hi.max(bucket(w)))
    });
    let last = || kept().max_by(ahead).unwrap_or((0, 0.0));
    if lo > hi {
        return last();
    }
    let mut sums = vec![0.0f64; hi - lo + 1];
    for (_, w) in kept() {
        sums[bucket(w) - lo] += measure(w);
    }
    let mut acc = 0.0;
    let mut b = hi - lo;
    while acc + sums[b] < target {
        if b == 0 {
            // Rounding kept the target out of reach: every kept token stays.
            return last();
        }
        acc += sums[b];
        b -= 1;
    }
    let mut edge: Vec<(u32, f32)> = kept().filter(|&(_, w)| bucket(w) - lo == b).collect();
    edge.sort_unstable_by(ahead);
    for x in &edge {
        acc += measure(x.1);
        if acc >= target {
            return *x;
        }
    }
    *edge.last().expect("the edge bucket is not empty")
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
    fn the_bucketed_cuts_are_the_full_sorts() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(21);
        let all = Keep {
            floor: 0.0,
            cut: None,
        };
        for v in [1usize, 2, 7, 300, 5000] {
            for spread in [0.01f32, 0.3, 3.0, 30.0] {
                for quantised in [false, true] {
                    let e: Vec<f32> = (0..v)
                        .map(|_| {
                            let x = rng.gen::<f32>() * spread;
                            let x = if quantised {
                                (x * 4.0).round() / 4.0
                            } else {
                                x
                            };
                            (x - spread).exp()
                        })
                        .collect();
                    let mut sorted: Vec<(u32, f32)> =
                        e.iter().enumerate().map(|(i, &w)| (i as u32, w)).collect();
                    sorted.sort_by(ahead);
                    let total: f64 = e.iter().map(|&w| w as f64).sum();
                    for top_p in [0.0, 0.3, 0.9, 0.95, 0.999] {
                        let target = top_p * total;
                        let mut acc = 0.0;
                        let want = sorted
                            .iter()
                            .find(|x| {
                                acc += x.1 as f64;
                                acc >= target
                            })
                            .copied()
                            .unwrap_or(*sorted.last().unwrap());
                        let got = radix_cut(|| full(&e, &all), |w| w as f64, target);
                        assert_eq!(got, want, "V {v}, spread {spread}, top_p {top_p}");
                    }
                    for k in [1, 2, 5, v / 2, v]
                        .into_iter()
                        .filter(|&k| k >= 1 && k <= v)
                    {
                        let got = radix_cut(|| full(&e, &all), |_| 1.0, k as f64);
                        assert_eq!(got, sorted[k - 1], "V {v}, spread {spread}, k {k}");
                    }
                }
            }
        }
    }

    #[test]
    fn truncated_draws_follow_the_renormalised_distribution() {
        // Draws at V = 1000 (several blocks of the walk) with top-k, top-p, min-p and no
        // truncation: frequencies against each setting's renormalised, sorted-out set.
        let logits: Vec<f32> = (0..1000)
            .map(|i| ((i * 7919) % 1000) as f32 / 150.0)
            .collect();
        let settings = [
            (0, 1.0, 0.0),
            (40, 1.0, 0.0),
            (0, 0.3, 0.0),
            (0, 1.0, 0.5),
            (100, 0.5, 0.2),
        ];
        for (top_k, top_p, min_p) in settings {
            let p = SamplingParams {
                top_k,
                top_p,
                min_p,
                ..params(1.0)
            };
            let mut order: Vec<(u32, f64)> = logits
                .iter()
                .enumerate()
                .map(|(i, &x)| (i as u32, (x as f64).exp()))
                .collect();
            order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            if min_p > 0.0 {
                let thr = min_p * order[0].1;
                order.retain(|x| x.1 >= thr);
            }
            if top_k > 0 {
                order.truncate(top_k);
            }
            if top_p < 1.0 {
                let target = top_p * order.iter().map(|x| x.1).sum::<f64>();
                let mut acc = 0.0;
                let n = order.iter().take_while(|x| {
                    let before = acc;
                    acc += x.1;
                    before < target
                });
                let n = n.count();
                order.truncate(n);
            }
            let z: f64 = order.iter().map(|x| x.1).sum();
            let mut rng = rand::rngs::StdRng::seed_from_u64(17);
            let mut counts = vec![0usize; logits.len()];
            let n = 40_000;
            for _ in 0..n {
                counts[sample_token(&logits, &p, &mut rng).0 as usize] += 1;
            }
            let inside: usize = order.iter().map(|x| counts[x.0 as usize]).sum();
            assert_eq!(
                inside, n,
                "{top_k} {top_p} {min_p}: a token outside the set"
            );
            // Total variation distance between the draws and the set's distribution.
            let tv: f64 = order
                .iter()
                .map(|x| (counts[x.0 as usize] as f64 / n as f64 - x.1 / z).abs())
                .sum::<f64>()
                / 2.0;
            let bound = 0.5 * (order.len() as f64 / n as f64).sqrt() + 0.01;
            assert!(
                tv < bound,
                "{top_k} {top_p} {min_p}: total variation {tv} >= {bound}"
            );
        }
    }

    #[test]
    fn nucleus_draws_follow_the_renormalised_nucleus() {
        // probs ~ [0.506, 0.307, 0.186, 0.0013]: top_p 0.9 keeps the first three; the
        // heaviest is not at id 0, so a walk in id order is exercised.
        let logits = [1.0f32, 1.5, 0.5, -5.0];
        let p = SamplingParams {
            top_p: 0.9,
            ..params(1.0)
        };
        let e: Vec<f64> = logits[..3].iter().map(|&x| (x as f64).exp()).collect();
        let z: f64 = e.iter().sum();
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        let mut counts = [0usize; 4];
        let n = 20_000;
        for _ in 0..n {
            counts[sample_token(&logits, &p, &mut rng).0 as usize] += 1;
        }
        assert_eq!(counts[3], 0);
        for i in 0..3 {
            let f = counts[i] as f64 / n as f64;
            assert!((f - e[i] / z).abs() < 0.015, "{counts:?}");
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
