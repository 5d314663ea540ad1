//! The optimisation loop shared by SFT and DPO: gradient accumulation, clipping, LR
//! schedule, fused AdamW, metrics, checkpoints and resume.

use candle_core::Tensor;
use ouro_model::tensor_pass::TensorPass;
use ouro_model::train_pass::TrainPass;
use rand::{seq::SliceRandom, SeedableRng};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::checkpoint::{self, RunIdentity, TrainerState};
use crate::config::OptimConfig;
use crate::error::{Result, TrainError};
use crate::loss::DpoMetrics;
use crate::metrics::{plot_loss_svg, read_losses, MetricsLog, StepMetrics};
use crate::model::TrainableLm;
use crate::optim::{clip_coef, lr_at, FusedAdamW};

/// How a micro-batch's loss gradient reaches the parameters.
pub enum Gradient {
    /// A scalar whose autograd gradient is the loss gradient (see [`crate::loss`]).
    Surrogate(Tensor),
    /// The model's hand-written training pass and `dL/dlogprob` per token.
    Pass {
        pass: Box<TrainPass>,
        coef: Vec<f32>,
    },
    /// The model's device-generic hand-written pass and `dL/dlogprob` `[B, T]` on its device.
    Tensors { pass: Box<TensorPass>, coef: Tensor },
}

/// What one micro-batch contributes to an optimiser step.
pub struct MicroResult {
    pub gradient: Gradient,
    /// This micro-batch's share of the step loss (the step loss is the sum).
    pub loss: f64,
    pub tokens: u64,
    /// DPO metrics of the micro-batch (averaged over micro-batches in the step).
    pub dpo: Option<DpoMetrics>,
}

impl Gradient {
    /// Runs this micro-batch's backward and adds its gradients into `acc`, which belongs
    /// to the optimiser over the model's [`TrainableLm::vars`] (`names` and `vars`).
    pub fn backward(
        self,
        model: &dyn TrainableLm,
        names: &[String],
        vars: &[candle_core::Var],
        acc: &mut crate::optim::GradAccumulator,
    ) -> Result<()> {
        match self {
            Gradient::Surrogate(s) => acc.add(vars, &s.backward()?),
            Gradient::Pass { pass, coef } => acc.add_pass(names, |slots| {
                model.train_pass_backward(*pass, &coef, slots)
            }),
            Gradient::Tensors { pass, coef } => {
                acc.add(vars, &model.tensor_pass_backward(*pass, &coef)?)
            }
        }
    }
}

impl MicroResult {
    /// The autograd surrogate, when the gradient goes through candle's graph.
    pub fn surrogate(&self) -> Option<&Tensor> {
        match &self.gradient {
            Gradient::Surrogate(s) => Some(s),
            Gradient::Pass { .. } | Gradient::Tensors { .. } => None,
        }
    }
}

/// Summary of a finished training invocation.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TrainReport {
    /// Optimiser steps completed in total (including resumed ones).
    pub steps: u64,
    pub total_steps: u64,
    pub resumed_from: Option<u64>,
    /// Loss of the last step.
    pub final_loss: f64,
    pub last: Option<StepMetrics>,
    pub checkpoint: PathBuf,
    pub metrics: PathBuf,
    pub seconds: f64,
}

/// Seeded data order: micro-batch `k` of the run (counting across epochs) holds these
/// example indices. Each epoch is a fresh permutation drawn from `seed + epoch`.
pub fn micro_batch_indices(n: usize, batch_size: usize, seed: u64, k: u64) -> Vec<usize> {
    let per_epoch = n.div_ceil(batch_size) as u64;
    let epoch = k / per_epoch;
    let pos = (k % per_epoch) as usize;
    let mut perm: Vec<usize> = (0..n).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(
        seed.wrapping_add(epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
    );
    perm.shuffle(&mut rng);
    perm[pos * batch_size..((pos + 1) * batch_size).min(n)].to_vec()
}

/// Micro-batches and optimiser steps in one epoch of `n` examples.
fn per_epoch(cfg: &OptimConfig, n: usize) -> (u64, u64) {
    let micros = n.div_ceil(cfg.batch_size.max(1)).max(1) as u64;
    (micros, micros.div_ceil(cfg.grad_accum.max(1) as u64))
}

/// Optimiser steps implied by `cfg` for `n` examples: `epochs` times the steps of
/// an epoch, rounded up, as transformers' Trainer counts them.
pub fn total_steps(cfg: &OptimConfig, n: usize) -> u64 {
    if cfg.max_steps > 0 {
        return cfg.max_steps;
    }
    ((per_epoch(cfg, n).1 as f64) * cfg.epochs).ceil().max(1.0) as u64
}

/// The micro-batches optimiser step `step` takes, as run-wide indices for
/// [`micro_batch_indices`]. As in transformers' Trainer, an epoch's last step
/// takes the micro-batches left, fewer than `grad_accum` where they do not
/// divide: it drew them from the next epoch, and `epochs = 1` trained on some
/// rows twice.
pub fn step_micro_batches(cfg: &OptimConfig, n: usize, step: u64) -> std::ops::Range<u64> {
    let (micros, steps) = per_epoch(cfg, n);
    let ga = cfg.grad_accum.max(1) as u64;
    let (epoch, pos) = (step / steps, step % steps);
    let first = epoch * micros + pos * ga;
    first..epoch * micros + ((pos + 1) * ga).min(micros)
}

/// Runs steps `resume..min(total, stop_after)` over `n` examples. `micro(step, j)`
/// builds micro-batch `j` of optimiser step `step` (0-based; `j` counts the step's
/// [`step_micro_batches`]). Resumes from the latest checkpoint in `out` if any.
#[allow(clippy::too_many_arguments)]
pub fn run(
    model: &dyn TrainableLm,
    cfg: &OptimConfig,
    identity: &RunIdentity,
    out: &Path,
    n: usize,
    total: u64,
    stop_after: Option<u64>,
    label: &str,
    micro: &mut dyn FnMut(u64, usize) -> Result<MicroResult>,
) -> Result<TrainReport> {
    let started = Instant::now();
    std::fs::create_dir_all(out).map_err(|e| TrainError::io(out, e))?;
    let named = model.vars();
    let names: Vec<String> = named.iter().map(|(n, _)| n.clone()).collect();
    let vars: Vec<_> = named.iter().map(|(_, v)| v.clone()).collect();
    let mut opt =
        FusedAdamW::new(vars.clone(), cfg, model.optimizer_on_device())?.with_names(&names);
    let start_hash = checkpoint::weights_hash(&named)?;
    let mut start = 0;
    let mut resumed_from = None;
    let mut resumed_timed: Option<std::path::PathBuf> = None;
    if let Some(dir) = checkpoint::latest(out) {
        let state = checkpoint::load(&dir, &dir.join(model.weights_file()), &named, &mut opt)?;
        if let Some(why) = identity.mismatch(&state, &start_hash) {
            return Err(TrainError::Checkpoint {
                path: dir,
                message: why.into(),
            });
        }
        start = state.step;
        resumed_from = Some(start);
        // A clock-timed checkpoint (not on a save_every step) is removed once
        // the run has gone past it, as if the run had never been killed.
        if cfg.save_every == 0 || start % cfg.save_every != 0 {
            resumed_timed = Some(dir);
        }
    }
    let end = stop_after.map_or(total, |s| s.min(total));
    if cfg.warmup_steps >= total && start == 0 {
        // As transformers allows it; but the peak lr is never reached.
        tracing::warn!(
            "optim.warmup_steps = {} is not below the run's {total} steps: the learning rate \
             never reaches optim.lr",
            cfg.warmup_steps
        );
    }
    let metrics_path = out.join("metrics.jsonl");
    let mut log = MetricsLog::open(&metrics_path, start)?;
    // Positioned before its first draw, so a resumed run's first line reads START/TOTAL.
    let bar = ouro_data::progress::bar_from(start, total, cfg.progress, label, "steps");
    let mut acc = opt.accumulator();
    let mut last: Option<StepMetrics> = None;
    // A GPU runs kernels asynchronously, so a clock read after launching them
    // times the launches. With OURO_SYNC_TIMING set (`gpu_step` sets it), each
    // phase waits for its kernels: `optim_s` is then the optimiser's own time
    // and the rest of `step_s` forward and backward. Off by default: the wait
    // would stop the next step's launches overlapping the optimiser's kernels.
    let sync_device =
        std::env::var_os("OURO_SYNC_TIMING").and_then(|_| vars.first().map(|v| v.device().clone()));
    let sync = || -> Result<()> {
        if let Some(d) = &sync_device {
            d.synchronize()?;
        }
        Ok(())
    };
    // Clock-timed checkpoints only make a kill cheap; they never outlive the run.
    let mut last_save = Instant::now();
    let mut timed_ckpt: Option<std::path::PathBuf> = None;
    for step in start..end {
        let ga = step_micro_batches(cfg, n, step).count();
        let t0 = Instant::now();
        acc.reset();
        let (mut loss, mut tokens) = (0.0, 0u64);
        let mut dpo: Option<DpoMetrics> = None;
        let (mut forward_s, mut backward_s) = (0.0, 0.0);
        for j in 0..ga {
            let t_fwd = Instant::now();
            let r = micro(step, j)?;
            sync()?;
            forward_s += t_fwd.elapsed().as_secs_f64();
            let t_bwd = Instant::now();
            if cfg.stop_on_nan && !r.loss.is_finite() {
                return Err(TrainError::NonFiniteLoss {
                    step: step + 1,
                    micro: j,
                    value: r.loss as f32,
                });
            }
            r.gradient.backward(model, &names, &vars, &mut acc)?;
            sync()?;
            backward_s += t_bwd.elapsed().as_secs_f64();
            loss += r.loss;
            tokens += r.tokens;
            if let Some(d) = r.dpo {
                dpo.get_or_insert_with(DpoMetrics::default)
                    .add_scaled(&d, 1.0 / ga as f64);
            }
        }
        let t_opt = Instant::now();
        let norm = acc.global_norm()?;
        if cfg.stop_on_nan && !norm.is_finite() {
            return Err(TrainError::NonFiniteLoss {
                step: step + 1,
                micro: ga - 1,
                value: norm as f32,
            });
        }
        let lr = lr_at(cfg, step, total);
        opt.step(&acc, clip_coef(norm, cfg.max_grad_norm), lr)?;
        sync()?;
        let optim_s = t_opt.elapsed().as_secs_f64();
        let secs = t0.elapsed().as_secs_f64();
        let m = StepMetrics {
            step: step + 1,
            loss,
            grad_norm: norm,
            lr,
            tokens,
            tokens_per_s: tokens as f64 / secs.max(1e-9),
            step_s: secs,
            optim_s,
            forward_s: sync_device.is_some().then_some(forward_s),
            backward_s: sync_device.is_some().then_some(backward_s),
            dpo,
        };
        log.write(&m)?;
        bar.set_position(step + 1);
        bar.set_message(format!("loss {loss:.4}"));
        last = Some(m);
        let periodic = cfg.save_every > 0 && (step + 1) % cfg.save_every == 0;
        let timed = cfg.save_every_s > 0 && last_save.elapsed().as_secs() >= cfg.save_every_s;
        if (periodic || timed) && step + 1 < end {
            let st = TrainerState {
                step: step + 1,
                total_steps: total,
                adam_t: opt.t,
                config_hash: identity.config.clone(),
                data_hash: Some(identity.data.clone()),
                start_hash: Some(start_hash.clone()),
            };
            let dir = checkpoint::save(out, model, &opt, &names, &st)?;
            last_save = Instant::now();
            drop_timed(timed_ckpt.take())?;
            if !periodic {
                timed_ckpt = Some(dir);
            }
            let timed: Vec<&std::path::Path> = timed_ckpt
                .iter()
                .chain(&resumed_timed)
                .map(|d| d.as_path())
                .collect();
            checkpoint::prune(out, cfg.save_total_limit, &timed)?;
        }
    }
    bar.finish_and_clear();
    ouro_model::train_pass::release_buffers();
    let st = TrainerState {
        step: end.max(start),
        total_steps: total,
        adam_t: opt.t,
        config_hash: identity.config.clone(),
        data_hash: Some(identity.data.clone()),
        start_hash: Some(start_hash),
    };
    let ckpt = checkpoint::save(out, model, &opt, &names, &st)?;
    if timed_ckpt.as_ref() != Some(&ckpt) {
        drop_timed(timed_ckpt.take())?;
    }
    if let Some(dir) = resumed_timed {
        if dir != ckpt {
            drop_timed(Some(dir))?;
        }
    }
    // After the timed checkpoints went: they do not count against the limit.
    checkpoint::prune(out, cfg.save_total_limit, &[])?;
    if last.is_none() {
        // A rerun of a finished run trains nothing: its summary stays the run's.
        last = crate::metrics::last_step(&metrics_path).filter(|m| m.step == st.step);
    }
    if let Ok(points) = read_losses(&metrics_path) {
        plot_loss_svg(&points, &format!("{label} loss"), &out.join("loss.svg"))?;
    }
    Ok(TrainReport {
        steps: st.step,
        total_steps: total,
        resumed_from,
        final_loss: last.as_ref().map_or(f64::NAN, |m| m.loss),
        last,
        checkpoint: ckpt,
        metrics: metrics_path,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Removes a clock-timed checkpoint that a newer one superseded (unless
/// `save_total_limit` already did).
fn drop_timed(dir: Option<std::path::PathBuf>) -> Result<()> {
    match dir.map(|d| (std::fs::remove_dir_all(&d), d)) {
        Some((Err(e), d)) if e.kind() != std::io::ErrorKind::NotFound => Err(TrainError::io(&d, e)),
        _ => Ok(()),
    }
}

/// Builds a `[rows, len]` u32 tensor from ragged rows, right-padded with `pad`.
pub fn pad_rows(
    rows: &[&[u32]],
    len: usize,
    pad: u32,
    device: &candle_core::Device,
) -> Result<Tensor> {
    let mut flat = Vec::with_capacity(rows.len() * len);
    for r in rows {
        flat.extend_from_slice(&r[..r.len().min(len)]);
        flat.extend(std::iter::repeat_n(pad, len.saturating_sub(r.len())));
    }
    Ok(Tensor::from_vec(flat, (rows.len(), len), device)?)
}

/// A micro-batch's token log-probs, `[B][T]` on the host, kept ready for their gradient.
pub struct TokenLogprobs {
    pub host: Vec<Vec<f32>>,
    source: Source,
}

enum Source {
    Graph(Tensor),
    Pass(Box<TrainPass>),
    Tensors(Box<TensorPass>),
}

/// `model.token_logprobs(ids, targets)`, through the model's hand-written training pass
/// where it has one, else through candle's autograd graph.
pub fn token_logprobs(
    model: &dyn TrainableLm,
    ids: &Tensor,
    targets: &Tensor,
) -> Result<TokenLogprobs> {
    if let Some(pass) = model.train_pass(ids, targets)? {
        let (_, t) = pass.dims();
        let host = pass
            .logprobs()
            .chunks(t.max(1))
            .map(<[f32]>::to_vec)
            .collect();
        return Ok(TokenLogprobs {
            host,
            source: Source::Pass(Box::new(pass)),
        });
    }
    if let Some(pass) = model.tensor_pass(ids, targets)? {
        return Ok(TokenLogprobs {
            host: pass.logprobs().to_vec2()?,
            source: Source::Tensors(Box::new(pass)),
        });
    }
    let logps = model.token_logprobs(ids, targets)?;
    Ok(TokenLogprobs {
        host: logps.to_dtype(candle_core::DType::F32)?.to_vec2()?,
        source: Source::Graph(logps),
    })
}

impl TokenLogprobs {
    /// The gradient of `sum(token_logps * coef)`, which is the loss gradient when `coef`
    /// is `dL/dlogprob` (see [`crate::loss`]).
    pub fn gradient(self, coef: Vec<Vec<f32>>) -> Result<Gradient> {
        let flat: Vec<f32> = coef.into_iter().flatten().collect();
        Ok(match self.source {
            Source::Pass(pass) => Gradient::Pass { pass, coef: flat },
            Source::Tensors(pass) => {
                let coef = Tensor::from_vec(flat, pass.dims(), pass.logprobs().device())?;
                Gradient::Tensors { pass, coef }
            }
            Source::Graph(lp) => {
                let c = Tensor::from_vec(flat, lp.shape(), lp.device())?.to_dtype(lp.dtype())?;
                Gradient::Surrogate((lp * c)?.sum_all()?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn optim(batch_size: usize, grad_accum: usize, epochs: f64) -> OptimConfig {
        OptimConfig {
            batch_size,
            grad_accum,
            epochs,
            ..OptimConfig::default()
        }
    }

    /// transformers' Trainer: ceil(micro-batches / grad_accum) steps an epoch, the
    /// last taking the micro-batches left. 10 rows in batches of 4 with grad_accum 4
    /// had trained 1.4 epochs for `epochs = 1`.
    #[test]
    fn an_epochs_last_step_takes_the_micro_batches_left_and_no_more() {
        let steps = |c: &OptimConfig, n: usize| {
            (0..total_steps(c, n))
                .map(|s| step_micro_batches(c, n, s))
                .collect::<Vec<_>>()
        };
        assert_eq!(steps(&optim(4, 4, 1.0), 10), vec![0..3]);
        assert_eq!(steps(&optim(4, 2, 2.0), 10), vec![0..2, 2..3, 3..5, 5..6]);
        assert_eq!(steps(&optim(4, 2, 1.5), 10), vec![0..2, 2..3, 3..5]);
        // Where they divide, nothing changes: step s takes s * ga .. (s + 1) * ga.
        assert_eq!(steps(&optim(2, 1, 2.0), 4), vec![0..1, 1..2, 2..3, 3..4]);
        assert_eq!(steps(&optim(1, 2, 1.0), 4), vec![0..2, 2..4]);
    }
}
