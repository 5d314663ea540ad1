//! One decoder layer of the tensor pass, forward and backward.
//!
//! Half-precision activations stay in the compute dtype as in the autograd path; the
//! norms' statistics, the attention softmax and its backward run in f32.

use std::collections::HashMap;

use candle_core::{DType, Result, Tensor, D};

use super::norm::{head_norm, head_norm_bwd, rms_bwd, rms_fwd, RmsSaved};
use super::proj::{Adapter, Proj};
use super::Grads;
use crate::config::Config;

/// What positions `0..T` give every layer: rotary tables and the causal mask.
pub(super) struct Positions {
    pub(super) cos: Tensor,
    pub(super) sin: Tensor,
    /// `-sin`: the backward of a rotation is the rotation by the opposite angle.
    pub(super) neg_sin: Tensor,
    pub(super) interleaved: bool,
    /// `[1, 1, T, T]` f32, 0 on and below the diagonal, `-inf` above.
    pub(super) causal: Tensor,
}

impl Positions {
    /// Rotates `x` `[B, heads, T, hd]` by the angles whose sines are `sin`.
    fn rotate(&self, x: &Tensor, sin: &Tensor) -> Result<Tensor> {
        if self.interleaved {
            candle_nn::rotary_emb::rope_i(x, &self.cos, sin)
        } else {
            candle_nn::rotary_emb::rope(x, &self.cos, sin)
        }
    }
}

/// Shapes of one pass.
pub(super) struct Dims {
    pub(super) b: usize,
    pub(super) t: usize,
    nh: usize,
    nkv: usize,
    hd: usize,
}

impl Dims {
    pub(super) fn new(cfg: &Config, b: usize, t: usize) -> Dims {
        Dims {
            b,
            t,
            nh: cfg.num_attention_heads,
            nkv: cfg.num_key_value_heads(),
            hd: cfg.head_dim(),
        }
    }

    fn rep(&self) -> usize {
        self.nh / self.nkv
    }

    /// `[B*T, heads*hd]` -> `[B, heads, T, hd]`, contiguous.
    fn split_heads(&self, y: &Tensor, heads: usize) -> Result<Tensor> {
        y.reshape((self.b, self.t, heads, self.hd))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// `[B, heads, T, hd]` -> `[B*T, heads*hd]`, contiguous.
    fn merge_heads(&self, x: &Tensor, heads: usize) -> Result<Tensor> {
        x.reshape((self.b, heads, self.t, self.hd))?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((self.b * self.t, heads * self.hd))
    }

    /// Grouped-query layout: the `rep` query heads of one kv head stacked along the
    /// sequence axis, `[B, nkv, rep*T, hd]` (a view of `[B, nh, T, hd]`).
    fn grouped(&self, q: &Tensor) -> Result<Tensor> {
        q.reshape((self.b, self.nkv, self.rep() * self.t, self.hd))
    }
}

/// One layer's weights by role.
pub(super) struct LayerWeights<'a> {
    prefix: String,
    input_norm: &'a Tensor,
    post_norm: &'a Tensor,
    /// Qwen3's per-head RMSNorms of queries and keys (before the rotation).
    q_norm: Option<&'a Tensor>,
    k_norm: Option<&'a Tensor>,
    q: Proj<'a>,
    k: Proj<'a>,
    v: Proj<'a>,
    o: Proj<'a>,
    gate: Proj<'a>,
    up: Proj<'a>,
    down: Proj<'a>,
}

impl<'a> LayerWeights<'a> {
    /// Layer `i`'s weights from the pass's maps (adapters by module path).
    pub(super) fn get(
        ws: &'a HashMap<String, Tensor>,
        adapters: &'a HashMap<String, Adapter>,
        i: usize,
    ) -> Result<LayerWeights<'a>> {
        let prefix = format!("model.layers.{i}");
        let get = |n: &str| super::weight(ws, &format!("{prefix}.{n}"));
        let proj = |n: &str| -> Result<Proj<'a>> {
            let name = format!("{prefix}.{n}");
            Ok(Proj {
                w: get(&format!("{n}.weight"))?,
                b: ws.get(&format!("{name}.bias")),
                adapter: adapters.get(&name),
                name,
            })
        };
        Ok(LayerWeights {
            input_norm: get("input_layernorm.weight")?,
            post_norm: get("post_attention_layernorm.weight")?,
            q_norm: ws.get(&format!("{prefix}.self_attn.q_norm.weight")),
            k_norm: ws.get(&format!("{prefix}.self_attn.k_norm.weight")),
            q: proj("self_attn.q_proj")?,
            k: proj("self_attn.k_proj")?,
            v: proj("self_attn.v_proj")?,
            o: proj("self_attn.o_proj")?,
            gate: proj("mlp.gate_proj")?,
            up: proj("mlp.up_proj")?,
            down: proj("mlp.down_proj")?,
            prefix,
        })
    }
}

/// `x A^T` of each adapted projection, for its backward.
#[derive(Default)]
struct AdapterInputs {
    q: Option<Tensor>,
    k: Option<Tensor>,
    v: Option<Tensor>,
    o: Option<Tensor>,
    gate: Option<Tensor>,
    up: Option<Tensor>,
    down: Option<Tensor>,
}

/// What one layer's backward needs from its forward.
pub(super) struct LayerSaved {
    n1: RmsSaved,
    h1: Tensor,
    /// The q/k norms' statistics, where the layer has them.
    qn: Option<RmsSaved>,
    kn: Option<RmsSaved>,
    /// Rotated queries, grouped `[B, nkv, rep*T, hd]`.
    q: Tensor,
    /// Rotated keys and values, `[B, nkv, T, hd]`.
    k: Tensor,
    v: Tensor,
    /// Attention probabilities, grouped `[B, nkv, rep*T, T]`, compute dtype.
    p: Tensor,
    /// Attention output before `o_proj`, `[B*T, nh*hd]`.
    o: Tensor,
    n2: RmsSaved,
    h2: Tensor,
    g: Tensor,
    u: Tensor,
    m: Tensor,
    xa: AdapterInputs,
}

/// One layer over `x` `[B*T, hidden]`: returns its output and what the backward keeps.
pub(super) fn forward(
    x: &Tensor,
    lw: &LayerWeights<'_>,
    dims: &Dims,
    pos: &Positions,
    eps: f64,
) -> Result<(Tensor, LayerSaved)> {
    let (nh, nkv, hd) = (dims.nh, dims.nkv, dims.hd);
    let mut xa = AdapterInputs::default();
    let (h1, n1) = rms_fwd(x, lw.input_norm, eps)?;
    let (q, xa_q) = lw.q.forward(&h1)?;
    let (k, xa_k) = lw.k.forward(&h1)?;
    let (v, xa_v) = lw.v.forward(&h1)?;
    (xa.q, xa.k, xa.v) = (xa_q, xa_k, xa_v);
    let (q, qn) = head_norm(&q, lw.q_norm, hd, eps)?;
    let (k, kn) = head_norm(&k, lw.k_norm, hd, eps)?;
    let q = pos.rotate(&dims.split_heads(&q, nh)?, &pos.sin)?;
    let q = dims.grouped(&q)?;
    let k = pos.rotate(&dims.split_heads(&k, nkv)?, &pos.sin)?;
    let v = dims.split_heads(&v, nkv)?;
    let scale = 1.0 / (hd as f64).sqrt();
    let scores = q
        .matmul(&k.t()?)?
        .to_dtype(DType::F32)?
        .affine(scale, 0.0)?
        .reshape((dims.b, nh, dims.t, dims.t))?
        .broadcast_add(&pos.causal)?;
    let p = candle_nn::ops::softmax_last_dim(&scores)?
        .to_dtype(x.dtype())?
        .reshape((dims.b, nkv, dims.rep() * dims.t, dims.t))?;
    let o = dims.merge_heads(&p.matmul(&v)?, nh)?;
    let (attn, xa_o) = lw.o.forward(&o)?;
    xa.o = xa_o;
    let x_mid = (x + attn)?;
    let (h2, n2) = rms_fwd(&x_mid, lw.post_norm, eps)?;
    let (g, xa_g) = lw.gate.forward(&h2)?;
    let (u, xa_u) = lw.up.forward(&h2)?;
    let m = (g.silu()? * &u)?;
    let (mlp, xa_d) = lw.down.forward(&m)?;
    (xa.gate, xa.up, xa.down) = (xa_g, xa_u, xa_d);
    let y = (&x_mid + mlp)?;
    let saved = LayerSaved {
        n1,
        h1,
        qn,
        kn,
        q,
        k,
        v,
        p,
        o,
        n2,
        h2,
        g,
        u,
        m,
        xa,
    };
    Ok((y, saved))
}

/// The layer's backward for output gradient `dy`: returns the input gradient and pushes
/// the trainable weights' gradients.
pub(super) fn backward(
    dy: &Tensor,
    s: &LayerSaved,
    lw: &LayerWeights<'_>,
    dims: &Dims,
    pos: &Positions,
    grads: &mut Grads,
) -> Result<Tensor> {
    let norm_name = |n: &str| format!("{}.{n}.weight", lw.prefix);
    // MLP: y = x_mid + down(silu(g) * u).
    let dm = lw.down.backward(dy, &s.m, s.xa.down.as_ref(), grads)?;
    let sig = candle_nn::ops::sigmoid(&s.g)?;
    let du = (&dm * (&s.g * &sig)?)?;
    // silu'(g) = s * (1 + g * (1 - s))
    let dsilu = (&sig * ((&s.g * sig.affine(-1.0, 1.0)?)? + 1.0)?)?;
    let dg = ((&dm * &s.u)? * dsilu)?;
    let dh2 = (lw.gate.backward(&dg, &s.h2, s.xa.gate.as_ref(), grads)?
        + lw.up.backward(&du, &s.h2, s.xa.up.as_ref(), grads)?)?;
    let (dxn, dw) = rms_bwd(&dh2, lw.post_norm, &s.n2, grads.base_trainable())?;
    grads.push_opt(norm_name("post_attention_layernorm"), dw);
    let dx_mid = (dy + dxn)?;

    // Attention: x_mid = x + o_proj(softmax(q k^T * scale + mask) v).
    let (nh, nkv) = (dims.nh, dims.nkv);
    let d_o = lw.o.backward(&dx_mid, &s.o, s.xa.o.as_ref(), grads)?;
    let d_o = dims.grouped(&dims.split_heads(&d_o, nh)?)?;
    let dp = d_o.matmul(&s.v.t()?)?;
    let dv = s.p.t()?.matmul(&d_o)?;
    let (pf, dpf) = (s.p.to_dtype(DType::F32)?, dp.to_dtype(DType::F32)?);
    let row = (&dpf * &pf)?.sum_keepdim(D::Minus1)?;
    let scale = 1.0 / (dims.hd as f64).sqrt();
    let ds = (pf * dpf.broadcast_sub(&row)?)?
        .affine(scale, 0.0)?
        .to_dtype(dy.dtype())?;
    let dq = ds.matmul(&s.k)?.reshape((dims.b, nh, dims.t, dims.hd))?;
    let dk = ds.t()?.matmul(&s.q)?;
    let dq = dims.merge_heads(&pos.rotate(&dq, &pos.neg_sin)?, nh)?;
    let dk = dims.merge_heads(&pos.rotate(&dk, &pos.neg_sin)?, nkv)?;
    let dv = dims.merge_heads(&dv, nkv)?;
    let dq = head_norm_bwd(
        &dq,
        lw.q_norm,
        s.qn.as_ref(),
        dims.hd,
        norm_name("self_attn.q_norm"),
        grads,
    )?;
    let dk = head_norm_bwd(
        &dk,
        lw.k_norm,
        s.kn.as_ref(),
        dims.hd,
        norm_name("self_attn.k_norm"),
        grads,
    )?;
    let dh1 = ((lw.q.backward(&dq, &s.h1, s.xa.q.as_ref(), grads)?
        + lw.k.backward(&dk, &s.h1, s.xa.k.as_ref(), grads)?)?
        + lw.v.backward(&dv, &s.h1, s.xa.v.as_ref(), grads)?)?;
    let (dxn, dw) = rms_bwd(&dh1, lw.input_norm, &s.n1, grads.base_trainable())?;
    grads.push_opt(norm_name("input_layernorm"), dw);
    dx_mid + dxn
}
