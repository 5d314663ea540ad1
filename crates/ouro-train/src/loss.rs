//! Losses on per-token log-probabilities, with TRL's exact formulas.
//!
//! The model produces per-token log-probs `[B, T]` on the autograd graph. Every loss here
//! is computed in f64 on the host from those values, together with its exact derivative
//! with respect to each token log-prob. The trainer then back-propagates the surrogate
//! `sum(coef * token_logps)`, whose gradient equals the loss gradient. This keeps the
//! formulas readable (they read like TRL's `dpo_loss`), exact in f64, and costs one
//! multiply-and-sum on the graph.

use crate::config::DpoLossType;

/// ln(sigmoid(x)), stable for large |x|.
pub fn log_sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        -(-x).exp().ln_1p()
    } else {
        x - x.exp().ln_1p()
    }
}

/// sigmoid(x), stable for large |x|.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Result of an SFT loss over one micro-batch.
#[derive(Debug, Clone, PartialEq)]
pub struct SftLoss {
    /// Weighted NLL sum of the micro-batch divided by `num_items`.
    pub loss: f64,
    /// d loss / d token_logp, same shape as the input.
    pub coef: Vec<Vec<f32>>,
}

/// SFT loss: `-sum(w * logp) / num_items`.
///
/// `weights[b][t]` is 0 for tokens outside the loss (prompt, padding), 1 for plain
/// completion tokens, and the span weight for emphasised tokens. `num_items` is the number
/// of loss tokens (weight > 0) over the whole optimiser step, i.e. over all gradient
/// accumulation micro-batches, as TRL's `num_items_in_batch`. With all weights 1 this is
/// exactly the cross-entropy transformers computes for SFTTrainer.
pub fn sft_loss(token_logps: &[Vec<f32>], weights: &[Vec<f32>], num_items: f64) -> SftLoss {
    let mut loss = 0.0f64;
    let coef = token_logps
        .iter()
        .zip(weights)
        .map(|(lp, w)| {
            lp.iter()
                .zip(w)
                .map(|(&l, &w)| {
                    loss -= w as f64 * l as f64;
                    (-(w as f64) / num_items) as f32
                })
                .collect()
        })
        .collect();
    SftLoss {
        loss: loss / num_items,
        coef,
    }
}

/// Settings of [`dpo_loss`], the subset of TRL's `DPOConfig` that shapes the loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DpoLossParams {
    pub beta: f64,
    pub loss_type: DpoLossType,
    pub label_smoothing: f64,
}

/// Per-pair DPO losses and their derivatives, TRL `DPOTrainer.dpo_loss`.
#[derive(Debug, Clone, PartialEq)]
pub struct DpoPairLosses {
    pub losses: Vec<f64>,
    /// d loss_i / d policy_chosen_logp_i
    pub dchosen: Vec<f64>,
    /// d loss_i / d policy_rejected_logp_i
    pub drejected: Vec<f64>,
    /// `beta * (chosen - ref_chosen)`
    pub chosen_rewards: Vec<f64>,
    /// `beta * (rejected - ref_rejected)`
    pub rejected_rewards: Vec<f64>,
}

/// TRL 1.16 `DPOTrainer._compute_loss` on summed sequence log-probs.
///
/// With `delta = (chosen - ref_chosen) - (rejected - ref_rejected)` and `z = beta*delta`:
/// - sigmoid: `-logsigmoid(z)` (TRL ignores label smoothing here)
/// - robust: `(-(1-ls) logsigmoid(z) + ls logsigmoid(-z)) / (1-2ls)`
/// - hinge: `relu(1 - z)` (derivative 0 at the kink, as torch)
/// - ipo: `(delta_avg - 1/(2 beta))^2` where each log-ratio is divided by its
///   completion token count (`chosen_counts`, `rejected_counts`, clamped to >= 1).
///
/// Rewards are `beta * log-ratio` of the summed log-probs for every loss type.
pub fn dpo_loss(
    p: &DpoLossParams,
    chosen: &[f64],
    rejected: &[f64],
    ref_chosen: &[f64],
    ref_rejected: &[f64],
    chosen_counts: &[f64],
    rejected_counts: &[f64],
) -> DpoPairLosses {
    let n = chosen.len();
    let (b, ls) = (p.beta, p.label_smoothing);
    let mut out = DpoPairLosses {
        losses: Vec::with_capacity(n),
        dchosen: Vec::with_capacity(n),
        drejected: Vec::with_capacity(n),
        chosen_rewards: Vec::with_capacity(n),
        rejected_rewards: Vec::with_capacity(n),
    };
    for i in 0..n {
        let cl = chosen[i] - ref_chosen[i];
        let rl = rejected[i] - ref_rejected[i];
        let z = b * (cl - rl);
        // d logsigmoid(x)/dx = sigmoid(-x); (dloss/dcl, dloss/drl)
        let (loss, dc, dr) = match p.loss_type {
            DpoLossType::Sigmoid => {
                let d = -b * sigmoid(-z);
                (-log_sigmoid(z), d, -d)
            }
            DpoLossType::Robust => {
                let d = b * (-(1.0 - ls) * sigmoid(-z) - ls * sigmoid(z)) / (1.0 - 2.0 * ls);
                (
                    (-(1.0 - ls) * log_sigmoid(z) + ls * log_sigmoid(-z)) / (1.0 - 2.0 * ls),
                    d,
                    -d,
                )
            }
            DpoLossType::Hinge => {
                let h = 1.0 - z;
                if h > 0.0 {
                    (h, -b, b)
                } else {
                    (0.0, 0.0, 0.0)
                }
            }
            DpoLossType::Ipo => {
                let nc = chosen_counts[i].max(1.0);
                let nr = rejected_counts[i].max(1.0);
                let d = cl / nc - rl / nr - 1.0 / (2.0 * b);
                (d * d, 2.0 * d / nc, -2.0 * d / nr)
            }
        };
        out.losses.push(loss);
        out.dchosen.push(dc);
        out.drejected.push(dr);
        out.chosen_rewards.push(b * cl);
        out.rejected_rewards.push(b * rl);
    }
    out
}

/// Weighted sequence log-prob `sum_t w_t * logp_t` (w = 0 outside the completion).
pub fn sequence_logp(token_logps: &[f32], weights: &[f32]) -> f64 {
    token_logps
        .iter()
        .zip(weights)
        .map(|(&l, &w)| l as f64 * w as f64)
        .sum()
}

/// The TRL DPO metrics of a batch, averaged over pairs.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DpoMetrics {
    #[serde(rename = "rewards/chosen")]
    pub rewards_chosen: f64,
    #[serde(rename = "rewards/rejected")]
    pub rewards_rejected: f64,
    #[serde(rename = "rewards/accuracies")]
    pub rewards_accuracies: f64,
    #[serde(rename = "rewards/margins")]
    pub rewards_margins: f64,
    #[serde(rename = "logps/chosen")]
    pub logps_chosen: f64,
    #[serde(rename = "logps/rejected")]
    pub logps_rejected: f64,
}

impl DpoMetrics {
    /// Means over the pairs of one batch, as TRL logs them.
    pub fn from_pairs(l: &DpoPairLosses, chosen: &[f64], rejected: &[f64]) -> Self {
        let n = l.losses.len().max(1) as f64;
        let mean = |v: &[f64]| v.iter().sum::<f64>() / n;
        let acc = l
            .chosen_rewards
            .iter()
            .zip(&l.rejected_rewards)
            .filter(|(c, r)| c > r)
            .count() as f64
            / n;
        let margins: Vec<f64> = l
            .chosen_rewards
            .iter()
            .zip(&l.rejected_rewards)
            .map(|(c, r)| c - r)
            .collect();
        DpoMetrics {
            rewards_chosen: mean(&l.chosen_rewards),
            rewards_rejected: mean(&l.rejected_rewards),
            rewards_accuracies: acc,
            rewards_margins: mean(&margins),
            logps_chosen: mean(chosen),
            logps_rejected: mean(rejected),
        }
    }

    /// Running sum helper: adds `other * w`.
    pub fn add_scaled(&mut self, other: &DpoMetrics, w: f64) {
        self.rewards_chosen += other.rewards_chosen * w;
        self.rewards_rejected += other.rewards_rejected * w;
        self.rewards_accuracies += other.rewards_accuracies * w;
        self.rewards_margins += other.rewards_margins * w;
        self.logps_chosen += other.logps_chosen * w;
        self.logps_rejected += other.logps_rejected * w;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finite_diff(p: &DpoLossParams, c: f64, r: f64, rc: f64, rr: f64) -> (f64, f64) {
        let h = 1e-6;
        let f = |c: f64, r: f64| dpo_loss(p, &[c], &[r], &[rc], &[rr], &[3.0], &[5.0]).losses[0];
        (
            (f(c + h, r) - f(c - h, r)) / (2.0 * h),
            (f(c, r + h) - f(c, r - h)) / (2.0 * h),
        )
    }

    #[test]
    fn dpo_derivatives_agree_with_finite_differences_for_every_loss_type() {
        for lt in [
            DpoLossType::Sigmoid,
            DpoLossType::Robust,
            DpoLossType::Hinge,
            DpoLossType::Ipo,
        ] {
            let p = DpoLossParams {
                beta: 0.3,
                loss_type: lt,
                label_smoothing: 0.1,
            };
            for &(c, r) in &[(-3.0, -4.5), (-7.0, -2.0), (-1.0, -1.3)] {
                let l = dpo_loss(&p, &[c], &[r], &[-3.2], &[-3.9], &[3.0], &[5.0]);
                let (dc, dr) = finite_diff(&p, c, r, -3.2, -3.9);
                assert!(
                    (l.dchosen[0] - dc).abs() < 1e-6,
                    "{lt:?} {} vs {dc}",
                    l.dchosen[0]
                );
                assert!((l.drejected[0] - dr).abs() < 1e-6, "{lt:?}");
            }
        }
    }

    #[test]
    fn sigmoid_dpo_at_zero_margin_is_ln2() {
        let p = DpoLossParams {
            beta: 0.1,
            loss_type: DpoLossType::Sigmoid,
            label_smoothing: 0.0,
        };
        let l = dpo_loss(&p, &[-5.0], &[-6.0], &[-5.0], &[-6.0], &[1.0], &[1.0]);
        assert!((l.losses[0] - std::f64::consts::LN_2).abs() < 1e-12);
    }

    #[test]
    fn sft_loss_divides_by_step_token_count() {
        let l = sft_loss(&[vec![-1.0, -2.0, -3.0]], &[vec![0.0, 1.0, 2.0]], 4.0);
        assert!((l.loss - (2.0 + 6.0) / 4.0).abs() < 1e-12);
        assert_eq!(l.coef[0], vec![0.0, -0.25, -0.5]);
    }
}
