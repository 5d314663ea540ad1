//! A hand-written forward and backward of [`Decoder::token_logprobs`] built from candle
//! tensor ops: the GPU's (and `--backend generic`'s) counterpart of [`crate::train_pass`].
//!
//! candle's autograd creates a zeroed gradient and an addition for every edge of the
//! graph and takes each composite op (RMSNorm, softmax, log-sum-exp) apart op by op. On a
//! GPU every one of those tensors is a kernel launch and an allocation. This pass runs
//! the same maths with fewer: on the SmolLM2-135M layer shape, 191 tensors per layer for
//! forward and backward against autograd's 474 (ouro-train's `examples/op_census.rs`).
//! It writes each parameter's gradient once, in f32, with no graph behind it.
//!
//! Every op here has a CUDA kernel in candle or candle-nn (cuBLAS matmul, softmax,
//! rotary embedding, reductions, elementwise), and every matmul operand is contiguous or
//! a plain transpose of the last two dims, which is what cuBLAS takes. It covers every
//! decoder ouro loads, Qwen3's q/k norms and LoRA adapters (over frozen base weights)
//! included. Tests check it against candle's autograd over the same decoder.

mod layer;
mod norm;
mod proj;

use std::collections::HashMap;

use candle_core::{DType, Result, Tensor, D};

use crate::decoder::Decoder;
use crate::ops::{attention_bias, rope_tables};
use layer::{Dims, LayerSaved, Positions};
use norm::{rms_bwd, rms_fwd};
use proj::Adapter;

/// Logits per head chunk off the CPU: 2^28 f32 logits (1 GiB) at most at a time.
const DEVICE_CHUNK_ELEMS: usize = 1 << 28;
/// On the CPU the chunks stay as small as the decoder's own logprob head.
const CPU_CHUNK_ELEMS: usize = 1 << 22;

fn chunk_elems(dec: &Decoder) -> usize {
    if dec.device().is_cpu() {
        CPU_CHUNK_ELEMS
    } else {
        DEVICE_CHUNK_ELEMS
    }
}

/// The activations of one training forward, ready for [`TensorPass::backward`], and the
/// (detached) weights both directions use.
pub struct TensorPass {
    dims: Dims,
    weights: HashMap<String, Tensor>,
    /// LoRA adapters by module path; with any attached, the base weights are frozen.
    adapters: HashMap<String, Adapter>,
    tied: bool,
    positions: Positions,
    ids: Tensor,
    targets: Tensor,
    layers: Vec<LayerSaved>,
    final_norm: norm::RmsSaved,
    hn: Tensor,
    lse: Tensor,
    logprobs: Tensor,
    chunk_rows: usize,
}

impl TensorPass {
    /// Runs the forward of `dec.token_logprobs(ids, targets)` (`[B, T]` each) and keeps
    /// what the backward needs.
    ///
    /// Ids on the CPU are checked against the vocabulary (an error, not a panic). Ids on a
    /// GPU are not: the check would read them back and stall the stream on every step, so
    /// the caller checks them on the host, where it made them (ouro-train's tokenizer
    /// does); an id past the vocabulary there faults inside the embedding kernel.
    pub fn forward(dec: &Decoder, ids: &Tensor, targets: &Tensor) -> Result<TensorPass> {
        Self::forward_chunked(dec, ids, targets, chunk_elems(dec))
    }

    /// [`TensorPass::forward`] with the LM head computed at most `chunk_elems` logits at
    /// a time (tests use it to cover several chunks with a small vocabulary).
    pub fn forward_chunked(
        dec: &Decoder,
        ids: &Tensor,
        targets: &Tensor,
        chunk_elems: usize,
    ) -> Result<TensorPass> {
        Self::forward_with(dec, ids, targets, chunk_elems, true)
    }

    /// The log-probs of [`Decoder::token_logprobs_base`]: the base model's, any LoRA
    /// adapters bypassed (DPO's reference), `[B, T]` f32, from this pass's forward.
    pub fn base_logprobs(dec: &Decoder, ids: &Tensor, targets: &Tensor) -> Result<Tensor> {
        Ok(Self::forward_with(dec, ids, targets, chunk_elems(dec), false)?.logprobs)
    }

    fn forward_with(
        dec: &Decoder,
        ids: &Tensor,
        targets: &Tensor,
        chunk_elems: usize,
        with_adapters: bool,
    ) -> Result<TensorPass> {
        let named = dec.generic_params();
        let (b, t) = crate::train_pass::batch_dims(ids, targets)?;
        let cfg = dec.config();
        let dev = dec.device();
        let cd = dec.dtype();
        // No gradient is taken through candle's graph: detached weights keep every op
        // below off it, so temporaries are freed as soon as they are dropped.
        let weights: HashMap<String, Tensor> =
            named.into_iter().map(|(n, w)| (n, w.detach())).collect();
        let pairs = if with_adapters {
            dec.adapter_pairs()
        } else {
            Vec::new()
        };
        let adapters: HashMap<String, Adapter> = pairs
            .into_iter()
            .map(|(module, a, b, scale)| {
                let ad = Adapter {
                    module: module.clone(),
                    a: a.detach(),
                    b: b.detach(),
                    scale,
                };
                (module, ad)
            })
            .collect();
        let dims = Dims::new(cfg, b, t);
        let positions: Vec<u32> = (0..t as u32).collect();
        let (cos, sin) = rope_tables(dec.inv_freq(), &positions, cd, dev)?;
        let pos = Positions {
            neg_sin: sin.neg()?,
            cos,
            sin,
            interleaved: cfg.interleaved_rope(),
            causal: attention_bias(t, 0, None, DType::F32, dev)?,
        };
        let ids = ids.flatten_all()?.to_dtype(DType::U32)?;
        let targets = targets.flatten_all()?.to_dtype(DType::U32)?;
        let vocab = cfg.vocab_size;
        if ids.device().is_cpu() {
            let top = Tensor::cat(&[&ids, &targets], 0)?
                .max(0)?
                .to_scalar::<u32>()?;
            if top as usize >= vocab {
                candle_core::bail!("token id {top} is out of range for vocabulary size {vocab}");
            }
        }
        let w = |name: &str| weight(&weights, name);
        let mut x = w("model.embed_tokens.weight")?.index_select(&ids, 0)?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let lw = layer::LayerWeights::get(&weights, &adapters, i)?;
            let (y, saved) = layer::forward(&x, &lw, &dims, &pos, cfg.rms_norm_eps)?;
            layers.push(saved);
            x = y;
        }
        let (hn, final_norm) = rms_fwd(&x, w("model.norm.weight")?, cfg.rms_norm_eps)?;
        let tied = cfg.tie_word_embeddings;
        let head = w(head_name(tied))?;
        let chunk_rows = (chunk_elems / vocab.max(1)).max(1);
        let n = b * t;
        let (mut lps, mut lses) = (Vec::new(), Vec::new());
        for r0 in (0..n).step_by(chunk_rows) {
            let len = chunk_rows.min(n - r0);
            let logits = hn
                .narrow(0, r0, len)?
                .matmul(&head.t()?)?
                .to_dtype(DType::F32)?;
            let lse = logits.log_sum_exp(D::Minus1)?;
            let picked = logits
                .gather(&targets.narrow(0, r0, len)?.unsqueeze(1)?, 1)?
                .squeeze(1)?;
            lps.push((picked - &lse)?);
            lses.push(lse);
        }
        let logprobs = Tensor::cat(&lps, 0)?.reshape((b, t))?;
        let lse = Tensor::cat(&lses, 0)?;
        Ok(TensorPass {
            dims,
            weights,
            adapters,
            tied,
            positions: pos,
            ids,
            targets,
            layers,
            final_norm,
            hn,
            lse,
            logprobs,
            chunk_rows,
        })
    }

    /// `log p(target | prefix)` per position, `[B, T]` f32, on the model's device.
    pub fn logprobs(&self) -> &Tensor {
        &self.logprobs
    }

    pub fn dims(&self) -> (usize, usize) {
        (self.dims.b, self.dims.t)
    }

    /// The gradient of `sum(coef * logprobs)` (`coef` `[B, T]`, any float dtype) with
    /// respect to every trainable weight, by name, in f32: every weight by its Hugging
    /// Face name, or with LoRA adapters attached only the adapters, by their PEFT names.
    pub fn backward(self, coef: &Tensor) -> Result<Vec<(String, Tensor)>> {
        let n = self.dims.b * self.dims.t;
        let coef = coef.flatten_all()?.to_dtype(DType::F32)?;
        if coef.dim(0)? != n {
            candle_core::bail!(
                "tensor pass: {} coefficients for {n} positions",
                coef.dim(0)?
            );
        }
        let w = |name: &str| weight(&self.weights, name);
        let cd = self.hn.dtype();
        let head = w(head_name(self.tied))?;
        let mut grads = Grads {
            out: Vec::new(),
            base_trainable: self.adapters.is_empty(),
        };
        // LM head: dlogits = coef * (onehot(target) - softmax), chunk by chunk; the
        // logits are recomputed rather than kept (a chunk is one matmul).
        let mut d_head: Option<Tensor> = None;
        let mut dhn = Vec::new();
        for r0 in (0..n).step_by(self.chunk_rows) {
            let len = self.chunk_rows.min(n - r0);
            let h = self.hn.narrow(0, r0, len)?;
            let c = coef.narrow(0, r0, len)?.unsqueeze(1)?;
            let logits = h.matmul(&head.t()?)?.to_dtype(DType::F32)?;
            let p = logits
                .broadcast_sub(&self.lse.narrow(0, r0, len)?.unsqueeze(1)?)?
                .exp()?;
            let dl = p
                .broadcast_mul(&c.neg()?)?
                .scatter_add(&self.targets.narrow(0, r0, len)?.unsqueeze(1)?, &c, 1)?
                .to_dtype(cd)?;
            dhn.push(dl.matmul(head)?);
            if grads.base_trainable() {
                let dw = dl.t()?.matmul(&h)?.to_dtype(DType::F32)?;
                d_head = Some(match d_head {
                    None => dw,
                    Some(acc) => (acc + dw)?,
                });
            }
        }
        if dhn.is_empty() {
            candle_core::bail!("tensor pass: empty batch");
        }
        let dhn = Tensor::cat(&dhn, 0)?;
        let norm_w = w("model.norm.weight")?;
        let (mut dx, d_norm) = rms_bwd(&dhn, norm_w, &self.final_norm, grads.base_trainable())?;
        grads.push_opt("model.norm.weight".into(), d_norm);
        for (i, saved) in self.layers.iter().enumerate().rev() {
            let lw = layer::LayerWeights::get(&self.weights, &self.adapters, i)?;
            dx = layer::backward(&dx, saved, &lw, &self.dims, &self.positions, &mut grads)?;
        }
        // Embedding rows: scatter-add (into the head's gradient when tied).
        if let Some(d_head) = d_head {
            let dx = dx.to_dtype(DType::F32)?;
            let d_embed = if self.tied {
                d_head.index_add(&self.ids, &dx, 0)?
            } else {
                grads.push("lm_head.weight".into(), d_head);
                let e = w("model.embed_tokens.weight")?;
                Tensor::zeros(e.shape(), DType::F32, e.device())?.index_add(&self.ids, &dx, 0)?
            };
            grads.push("model.embed_tokens.weight".into(), d_embed);
        }
        Ok(grads.out)
    }
}

/// The gradients one backward produces, by name, in f32. With LoRA adapters attached the
/// base weights are frozen and get none.
struct Grads {
    out: Vec<(String, Tensor)>,
    base_trainable: bool,
}

impl Grads {
    fn base_trainable(&self) -> bool {
        self.base_trainable
    }

    fn push(&mut self, name: String, grad: Tensor) {
        self.out.push((name, grad));
    }

    fn push_opt(&mut self, name: String, grad: Option<Tensor>) {
        if let Some(g) = grad {
            self.push(name, g);
        }
    }
}

fn weight<'a>(ws: &'a HashMap<String, Tensor>, name: &str) -> Result<&'a Tensor> {
    ws.get(name)
        .ok_or_else(|| candle_core::Error::Msg(format!("tensor pass: no weight {name}")))
}

fn head_name(tied: bool) -> &'static str {
    if tied {
        "model.embed_tokens.weight"
    } else {
        "lm_head.weight"
    }
}
