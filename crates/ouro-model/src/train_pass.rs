//! A hand-written forward and backward of [`Decoder::token_logprobs`] for training on CPU.
//!
//! candle's autograd allocates a zeroed gradient per graph node, adds into it, and keeps
//! every transpose as a copy; at training sizes that bookkeeping costs as much as the
//! matrix products (DESIGN.md §4). This pass runs the same maths straight on gemm with
//! reused buffers and writes parameter gradients into the trainer's accumulators.
//!
//! It computes the gradient of `sum(coef * token_logprobs)` for any per-token `coef`,
//! which is all SFT and DPO need (see `ouro_train::loss`). It covers f32 decoders on CPU
//! without LoRA adapters or q/k norms; [`TrainPass::forward`] returns `None` otherwise and
//! the caller uses candle's autograd. Tests check it against that autograd path.

mod attention;
mod head;
mod kernels;
mod layer_backward;
mod slots;

use std::collections::HashMap;

use candle_core::{Result, Storage, Tensor};

use crate::decoder::Decoder;
use attention::Attn;
use head::{dlogits, head_probs};
use kernels::{gemm, give, rm, take, take_zeroed, tr, Rope};
use layer_backward::{layer_backward, LayerGrads, Shape};
pub use slots::GradSlots;
use slots::Slot;

/// Logits kept from forward to backward when they fit in this many floats (64 MiB);
/// larger vocabularies recompute each chunk in the backward instead.
const KEEP_LOGITS: usize = 1 << 24;
/// Rows of one logits chunk: at most this many logits at a time.
const CHUNK_ELEMS: usize = 1 << 22;

/// Frees the activation buffers that passes keep for reuse. Training calls it when it
/// ends, so that a process which goes on to sample does not hold them.
pub fn release_buffers() {
    kernels::release_pool();
}

/// Read guards on the weights and their f32 slices by name.
fn with_weights<R>(
    dec: &Decoder,
    f: impl FnOnce(&HashMap<&str, &[f32]>) -> Result<R>,
) -> Result<Option<R>> {
    let Some(named) = dec.dense_params() else {
        return Ok(None);
    };
    let guards: Vec<_> = named.iter().map(|(_, t)| t.storage_and_layout()).collect();
    let mut map = HashMap::new();
    for ((name, _), (g, l)) in named.iter().zip(&guards) {
        let Some((a, b)) = l.contiguous_offsets() else {
            return Ok(None);
        };
        match &**g {
            Storage::Cpu(candle_core::CpuStorage::F32(v)) => {
                map.insert(name.as_str(), &v[a..b]);
            }
            _ => return Ok(None),
        }
    }
    f(&map).map(Some)
}

fn w<'a>(m: &HashMap<&str, &'a [f32]>, name: &str) -> Result<&'a [f32]> {
    m.get(name)
        .copied()
        .ok_or_else(|| candle_core::Error::Msg(format!("train pass: no weight {name}")))
}

/// What one layer's backward needs from its forward.
struct Saved {
    x_in: Vec<f32>,
    inv1: Vec<f32>,
    h1: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    p: Vec<f32>,
    o: Vec<f32>,
    x_mid: Vec<f32>,
    inv2: Vec<f32>,
    h2: Vec<f32>,
    g: Vec<f32>,
    u: Vec<f32>,
    m: Vec<f32>,
}

/// The activations of one training forward, ready for [`TrainPass::backward`].
pub struct TrainPass {
    b: usize,
    t: usize,
    ids: Vec<u32>,
    targets: Vec<u32>,
    layers: Vec<Saved>,
    x_last: Vec<f32>,
    inv_last: Vec<f32>,
    hn: Vec<f32>,
    /// Softmax of the logits, `[b*t, vocab]`, when they fit in [`KEEP_LOGITS`].
    probs: Option<Vec<f32>>,
    logprobs: Vec<f32>,
}

/// `(B, T)` of `ids` `[B, T]`, which `targets` must share (both hand-written passes).
pub(crate) fn batch_dims(ids: &Tensor, targets: &Tensor) -> Result<(usize, usize)> {
    let (b, t) = ids.dims2()?;
    if targets.dims2()? != (b, t) {
        candle_core::bail!(
            "token_logprobs: targets {:?} do not match input_ids {:?}",
            targets.shape(),
            ids.shape()
        );
    }
    Ok((b, t))
}

fn u32_rows(x: &Tensor, what: &str) -> Result<Vec<u32>> {
    x.flatten_all()?
        .to_dtype(candle_core::DType::U32)
        .and_then(|t| t.to_vec1::<u32>())
        .map_err(|e| candle_core::Error::Msg(format!("train pass: {what}: {e}")))
}

impl TrainPass {
    /// Runs the forward of `dec.token_logprobs(ids, targets)` (`[B, T]` each) and keeps
    /// the activations. `None` when the decoder is outside what this pass covers.
    pub fn forward(dec: &Decoder, ids: &Tensor, targets: &Tensor) -> Result<Option<TrainPass>> {
        let (b, t) = batch_dims(ids, targets)?;
        let (ids, targets) = (u32_rows(ids, "input_ids")?, u32_rows(targets, "targets")?);
        let vocab = dec.config().vocab_size;
        if let Some(bad) = ids.iter().chain(&targets).find(|&&i| i as usize >= vocab) {
            candle_core::bail!("token id {bad} is out of range for vocabulary size {vocab}");
        }
        with_weights(dec, |ws| Self::run_forward(dec, ws, b, t, ids, targets))
    }

    fn run_forward(
        dec: &Decoder,
        ws: &HashMap<&str, &[f32]>,
        b: usize,
        t: usize,
        ids: Vec<u32>,
        targets: Vec<u32>,
    ) -> Result<TrainPass> {
        let cfg = dec.config();
        let (d, f, n) = (cfg.hidden_size, cfg.intermediate_size, b * t);
        let (nh, nkv, hd) = (
            cfg.num_attention_heads,
            cfg.num_key_value_heads(),
            cfg.head_dim(),
        );
        let (qd, kd) = (nh * hd, nkv * hd);
        let eps = cfg.rms_norm_eps as f32;
        let attn = Attn::new(cfg, b, t);
        let rope = Rope::new(dec.inv_freq(), t, cfg.interleaved_rope());
        let embed = w(ws, "model.embed_tokens.weight")?;
        let mut x = take(n * d);
        for (row, &id) in x.chunks_mut(d).zip(&ids) {
            row.copy_from_slice(&embed[id as usize * d..][..d]);
        }
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let pre = format!("model.layers.{i}");
            let lw = |s: &str| w(ws, &format!("{pre}.{s}"));
            let bias = |s: &str| ws.get(format!("{pre}.{s}.bias").as_str()).copied();
            let mut h1 = take(n * d);
            let inv1 = kernels::rms_fwd(&x, lw("input_layernorm.weight")?, eps, &mut h1);
            let proj = |out: usize, name: &str, rope_heads: Option<usize>| -> Result<Vec<f32>> {
                let mut y = take(n * out);
                let wt = lw(&format!("self_attn.{name}.weight"))?;
                gemm(n, out, d, &mut y, out, false, rm(&h1, d), tr(wt, d), true);
                if let Some(bv) = bias(&format!("self_attn.{name}")) {
                    kernels::add_bias(&mut y, bv);
                }
                if let Some(heads) = rope_heads {
                    rope.apply(&mut y, t, heads, false);
                }
                Ok(y)
            };
            let q = proj(qd, "q_proj", Some(nh))?;
            let k = proj(kd, "k_proj", Some(nkv))?;
            let v = proj(kd, "v_proj", None)?;
            let mut p = take(b * nh * t * t);
            let mut o = take(n * qd);
            attn.forward(&q, &k, &v, &mut p, &mut o);
            let mut x_mid = take(n * d);
            x_mid.copy_from_slice(&x);
            let wo = lw("self_attn.o_proj.weight")?;
            gemm(n, d, qd, &mut x_mid, d, true, rm(&o, qd), tr(wo, qd), true);
            if let Some(bv) = bias("self_attn.o_proj") {
                kernels::add_bias(&mut x_mid, bv);
            }
            let mut h2 = take(n * d);
            let inv2 =
                kernels::rms_fwd(&x_mid, lw("post_attention_layernorm.weight")?, eps, &mut h2);
            let (mut g, mut u, mut m) = (take(n * f), take(n * f), take(n * f));
            for (y, name) in [
                (&mut g, "mlp.gate_proj.weight"),
                (&mut u, "mlp.up_proj.weight"),
            ] {
                gemm(n, f, d, y, f, false, rm(&h2, d), tr(lw(name)?, d), true);
            }
            kernels::swiglu_fwd(&g, &u, &mut m);
            let mut x_out = take(n * d);
            x_out.copy_from_slice(&x_mid);
            gemm(
                n,
                d,
                f,
                &mut x_out,
                d,
                true,
                rm(&m, f),
                tr(lw("mlp.down_proj.weight")?, f),
                true,
            );
            layers.push(Saved {
                x_in: std::mem::replace(&mut x, x_out),
                inv1,
                h1,
                q,
                k,
                v,
                p,
                o,
                x_mid,
                inv2,
                h2,
                g,
                u,
                m,
            });
        }
        let mut hn = take(n * d);
        let inv_last = kernels::rms_fwd(&x, w(ws, "model.norm.weight")?, eps, &mut hn);
        let head = head_weight(ws, cfg.tie_word_embeddings)?;
        let vocab = cfg.vocab_size;
        let mut logprobs = vec![0.0f32; n];
        let keep = n * vocab <= KEEP_LOGITS;
        let mut probs = keep.then(|| take(n * vocab));
        let rows = (CHUNK_ELEMS / vocab).max(1);
        let mut scratch = if keep {
            Vec::new()
        } else {
            take(rows.min(n) * vocab)
        };
        for r0 in (0..n).step_by(rows) {
            let r1 = (r0 + rows).min(n);
            let buf = match probs.as_mut() {
                Some(p) => &mut p[r0 * vocab..r1 * vocab],
                None => &mut scratch[..(r1 - r0) * vocab],
            };
            head_probs(
                &hn[r0 * d..r1 * d],
                head,
                d,
                &targets[r0..r1],
                buf,
                &mut logprobs[r0..r1],
            );
        }
        give([scratch]);
        Ok(TrainPass {
            b,
            t,
            ids,
            targets,
            layers,
            x_last: x,
            inv_last,
            hn,
            probs,
            logprobs,
        })
    }

    /// `log p(target | prefix)` per position, `[B * T]` row-major.
    pub fn logprobs(&self) -> &[f32] {
        &self.logprobs
    }

    pub fn dims(&self) -> (usize, usize) {
        (self.b, self.t)
    }

    /// Adds the gradient of `sum(coef * logprobs)` (`coef` `[B * T]`) with respect to every
    /// weight into `grads`, which must hold a buffer for each of the decoder's weights.
    pub fn backward(mut self, dec: &Decoder, coef: &[f32], grads: &mut GradSlots) -> Result<()> {
        let n = self.b * self.t;
        if coef.len() != n {
            candle_core::bail!("train pass: {} coefficients for {n} positions", coef.len());
        }
        let out = with_weights(dec, |ws| self.run_backward(dec, ws, coef, grads))?;
        self.recycle();
        out.ok_or_else(|| candle_core::Error::Msg("train pass: decoder changed shape".into()))
    }

    fn run_backward(
        &mut self,
        dec: &Decoder,
        ws: &HashMap<&str, &[f32]>,
        coef: &[f32],
        grads: &mut GradSlots,
    ) -> Result<()> {
        let cfg = dec.config();
        let (b, t) = (self.b, self.t);
        let (d, f, n, vocab) = (
            cfg.hidden_size,
            cfg.intermediate_size,
            b * t,
            cfg.vocab_size,
        );
        let (nh, nkv, hd) = (
            cfg.num_attention_heads,
            cfg.num_key_value_heads(),
            cfg.head_dim(),
        );
        let (qd, kd) = (nh * hd, nkv * hd);
        let attn = Attn::new(cfg, b, t);
        let rope = Rope::new(dec.inv_freq(), t, cfg.interleaved_rope());
        let tied = cfg.tie_word_embeddings;
        let head = head_weight(ws, tied)?;
        let head_name = if tied {
            "model.embed_tokens.weight"
        } else {
            "lm_head.weight"
        };
        let mut d_head = grads.take(head_name, vocab * d)?;
        let dhn = self.head_backward(head, coef, &mut d_head, d, vocab);

        let mut dx = take_zeroed(n * d);
        let mut d_norm = grads.take("model.norm.weight", d)?;
        let norm_w = w(ws, "model.norm.weight")?;
        kernels::rms_bwd(
            &self.x_last,
            norm_w,
            &self.inv_last,
            &dhn,
            &mut dx,
            d_norm.sum(),
        );

        let mut bufs = LayerGrads {
            dh: dhn, // [n, d] scratch reused by both norms of every layer
            dm: take(n * f),
            d_o: take(n * qd),
            dq: take(n * qd),
            dk: take(n * kd),
            dv: take(n * kd),
        };
        let shape = Shape {
            n,
            t,
            d,
            f,
            nh,
            nkv,
            qd,
            kd,
        };
        for (i, s) in self.layers.iter_mut().enumerate().rev() {
            let pre = format!("model.layers.{i}");
            layer_backward(
                s,
                &pre,
                ws,
                grads,
                &shape,
                (&attn, &rope),
                &mut bufs,
                &mut dx,
            )?;
        }
        let LayerGrads {
            dh,
            dm,
            d_o,
            dq,
            dk,
            dv,
        } = bufs;
        give([dh, dm, d_o, dq, dk, dv]);

        // Embedding rows: scatter-add (into the head's buffer when tied).
        let mut d_embed = if tied {
            d_head
        } else {
            grads.take("model.embed_tokens.weight", vocab * d)?
        };
        let de = d_embed.sum();
        for (row, &id) in dx.chunks(d).zip(&self.ids) {
            for (a, &g) in de[id as usize * d..][..d].iter_mut().zip(row) {
                *a += g;
            }
        }
        give([dx]);
        if let Some(name) = grads.slots.keys().next() {
            candle_core::bail!("train pass: no gradient computed for {name}");
        }
        Ok(())
    }

    /// LM head: dlogits = coef * (onehot(target) - softmax), chunk by chunk;
    /// adds the head weight's gradient into `d_head` and returns d(final norm output).
    fn head_backward(
        &mut self,
        head: &[f32],
        coef: &[f32],
        d_head: &mut Slot<'_>,
        d: usize,
        vocab: usize,
    ) -> Vec<f32> {
        let n = self.b * self.t;
        let mut dhn = take(n * d);
        let rows = (CHUNK_ELEMS / vocab).max(1);
        let mut scratch = if self.probs.is_some() {
            Vec::new()
        } else {
            take(rows.min(n) * vocab)
        };
        let mut lp = vec![0.0f32; rows.min(n)];
        for r0 in (0..n).step_by(rows) {
            let r1 = (r0 + rows).min(n);
            let hrows = &self.hn[r0 * d..r1 * d];
            let buf = match self.probs.as_mut() {
                Some(p) => &mut p[r0 * vocab..r1 * vocab],
                None => {
                    let s = &mut scratch[..(r1 - r0) * vocab];
                    head_probs(hrows, head, d, &self.targets[r0..r1], s, &mut lp[..r1 - r0]);
                    s
                }
            };
            dlogits(buf, vocab, &self.targets[r0..r1], &coef[r0..r1]);
            let m = r1 - r0;
            gemm(
                m,
                d,
                vocab,
                &mut dhn[r0 * d..r1 * d],
                d,
                false,
                rm(buf, vocab),
                rm(head, d),
                true,
            );
            let acc = d_head.acc();
            gemm(
                vocab,
                d,
                m,
                d_head.buf,
                d,
                acc,
                tr(buf, vocab),
                rm(hrows, d),
                true,
            );
        }
        give([scratch]);
        dhn
    }

    /// Hands every activation buffer back to the pool for the next pass.
    fn recycle(&mut self) {
        for s in self.layers.drain(..) {
            give([
                s.x_in, s.inv1, s.h1, s.q, s.k, s.v, s.p, s.o, s.x_mid, s.inv2, s.h2, s.g, s.u, s.m,
            ]);
        }
        give([
            std::mem::take(&mut self.x_last),
            std::mem::take(&mut self.hn),
            self.probs.take().unwrap_or_default(),
        ]);
    }
}

impl Drop for TrainPass {
    fn drop(&mut self) {
        self.recycle();
    }
}

fn head_weight<'a>(ws: &HashMap<&str, &'a [f32]>, tied: bool) -> Result<&'a [f32]> {
    w(
        ws,
        if tied {
            "model.embed_tokens.weight"
        } else {
            "lm_head.weight"
        },
    )
}
