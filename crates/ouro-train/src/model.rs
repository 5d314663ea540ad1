//! The trainer's view of a model: per-token log-probs plus named trainable variables.

use candle_core::{Device, Tensor, Var};
use ouro_model::tensor_pass::TensorPass;
use ouro_model::train_pass::{GradSlots, TrainPass};
use std::path::Path;

use crate::error::Result;

/// A causal LM the trainer can optimise.
///
/// Contract: `token_logprobs(ids [B,T] u32, targets [B,T] u32) -> [B,T] f32` gives
/// `log p(targets[b,t] | ids[b,..=t])`; position `t` may only attend to positions `<= t`
/// (so right padding never changes earlier tokens). Its graph must reach every var of
/// [`TrainableLm::vars`].
pub trait TrainableLm {
    fn token_logprobs(&self, ids: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor>;

    /// The trainable variables with stable names, sorted by name.
    fn vars(&self) -> Vec<(String, Var)>;

    fn device(&self) -> &Device;

    /// Writes a loadable model directory (weights, config, tokenizer) into `dir`, which
    /// exists and is empty. The caller renames it into place afterwards.
    fn save(&self, dir: &Path) -> Result<()>;

    /// `token_logprobs` through the model's hand-written training pass, where it has one
    /// for this model (`None`: the trainer back-propagates through `token_logprobs`).
    fn train_pass(
        &self,
        _ids: &Tensor,
        _targets: &Tensor,
    ) -> candle_core::Result<Option<TrainPass>> {
        Ok(None)
    }

    /// Adds the gradient of `sum(coef * logprobs)` of a [`TrainableLm::train_pass`] into
    /// `grads` (one buffer per [`TrainableLm::vars`] name).
    fn train_pass_backward(
        &self,
        _pass: TrainPass,
        _coef: &[f32],
        _grads: &mut GradSlots,
    ) -> candle_core::Result<()> {
        candle_core::bail!("this model has no hand-written training pass")
    }

    /// `token_logprobs` through the model's device-generic hand-written pass, where it
    /// has one (`None`: the trainer back-propagates through `token_logprobs`).
    fn tensor_pass(
        &self,
        _ids: &Tensor,
        _targets: &Tensor,
    ) -> candle_core::Result<Option<TensorPass>> {
        Ok(None)
    }

    /// The gradients of `sum(coef * logprobs)` of a [`TrainableLm::tensor_pass`], keyed by
    /// the [`TrainableLm::vars`] they belong to.
    fn tensor_pass_backward(
        &self,
        _pass: TensorPass,
        _coef: &Tensor,
    ) -> candle_core::Result<candle_core::backprop::GradStore> {
        candle_core::bail!("this model has no tensor pass")
    }

    /// Log-probs with no autograd graph kept, for the DPO reference pass.
    fn reference_logprobs(&self, ids: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor> {
        Ok(self.token_logprobs(ids, targets)?.detach())
    }

    /// The weights [`TrainableLm::reference_logprobs`] depends on, hashed into the DPO
    /// reference cache key. With adapters over a frozen base these are the base weights.
    fn reference_vars(&self) -> Vec<(String, Var)> {
        self.vars()
    }

    /// Whether the optimiser keeps its state and does its arithmetic on the model's
    /// device with tensor ops (a GPU, or the generic path on CPU) rather than in the
    /// fused host kernel.
    fn optimizer_on_device(&self) -> bool {
        !self.device().is_cpu()
    }

    /// File inside a saved model directory that holds [`TrainableLm::vars`] by name
    /// (read back on resume).
    fn weights_file(&self) -> &'static str {
        "model.safetensors"
    }
}

/// A bigram toy LM (embedding then linear head), used by the tests and as the smallest
/// possible model: `logits[b,t] = E[ids[b,t]] @ W`.
pub struct BigramLm {
    pub embed: Var,
    pub head: Var,
    device: Device,
}

impl BigramLm {
    /// Deterministic init from `seed`: values `0.5 * sin(seed + i * 0.7)` scaled down.
    pub fn new(vocab: usize, dim: usize, seed: u64, device: &Device) -> Result<Self> {
        let mk = |n: usize, off: f64| -> Vec<f32> {
            (0..n)
                .map(|i| (0.5 * ((seed as f64 + off + i as f64 * 0.7).sin())) as f32)
                .collect()
        };
        let embed = Var::from_vec(mk(vocab * dim, 0.0), (vocab, dim), device)?;
        let head = Var::from_vec(
            mk(dim * vocab, 1.3)
                .iter()
                .map(|x| x * 0.3)
                .collect::<Vec<_>>(),
            (dim, vocab),
            device,
        )?;
        Ok(Self {
            embed,
            head,
            device: device.clone(),
        })
    }

    /// Logits `[B,T,V]`.
    pub fn logits(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let e = self
            .embed
            .as_tensor()
            .index_select(&ids.flatten_all()?, 0)?;
        let v = self.head.dim(1)?;
        e.matmul(self.head.as_tensor())?.reshape((b, t, v))
    }
}

/// `log_softmax(logits)[..., target]` for `[B,T,V]` logits and `[B,T]` targets.
pub fn gather_logprobs(logits: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor> {
    let lsm = candle_nn::ops::log_softmax(logits, candle_core::D::Minus1)?;
    lsm.gather(&targets.unsqueeze(2)?, 2)?.squeeze(2)
}

impl TrainableLm for BigramLm {
    fn token_logprobs(&self, ids: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor> {
        gather_logprobs(&self.logits(ids)?, targets)
    }

    fn vars(&self) -> Vec<(String, Var)> {
        vec![
            ("embed".into(), self.embed.clone()),
            ("head".into(), self.head.clone()),
        ]
    }

    fn device(&self) -> &Device {
        &self.device
    }

    fn save(&self, dir: &Path) -> Result<()> {
        crate::var_files::save_vars(&self.vars(), &dir.join("model.safetensors"))
    }
}
