//! One decoder layer of the tensor pass, forward and backward, and the RMSNorm both use.
//!
//! Half-precision activations stay in the compute dtype as in the autograd path; the
//! norms' statistics, the attention softmax and its backward run in f32.

use std::collections::HashMap;

use candle_core::{DType, Result, Tensor, D};

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
    b: usize,
    t: usize,
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

/// What RMSNorm's backward needs: the normalised rows and `1/rms`, both f32.
pub(super) struct RmsSaved {
    xhat: Tensor,
    r: Tensor,
}

/// `x / rms(x) * w`, with the statistics in f32 (the same ops as
/// [`crate::fused::rms_norm_composite`], so the two paths round alike).
pub(super) fn rms_fwd(x: &Tensor, w: &Tensor, eps: f64) -> Result<(Tensor, RmsSaved)> {
    let xf = x.to_dtype(DType::F32)?;
    let r = (xf.sqr()?.mean_keepdim(D::Minus1)? + eps)?
        .sqrt()?
        .recip()?;
    let xhat = xf.broadcast_mul(&r)?;
    let h = xhat.to_dtype(x.dtype())?.broadcast_mul(w)?;
    Ok((h, RmsSaved { xhat, r }))
}

/// Gradients of [`rms_fwd`]: `dx` in `dh`'s dtype and `dw` in f32.
pub(super) fn rms_bwd(dh: &Tensor, w: &Tensor, s: &RmsSaved) -> Result<(Tensor, Tensor)> {
    let dhf = dh.to_dtype(DType::F32)?;
    let dw = (&dhf * &s.xhat)?.sum(0)?;
    let dxhat = dhf.broadcast_mul(&w.to_dtype(DType::F32)?)?;
    let c = (&dxhat * &s.xhat)?.mean_keepdim(D::Minus1)?;
    let dx = (dxhat - s.xhat.broadcast_mul(&c)?)?.broadcast_mul(&s.r)?;
    Ok((dx.to_dtype(dh.dtype())?, dw))
}

/// Qwen3's RMSNorm over each head of `y` `[rows, heads*hd]`, where the layer has one.
fn head_norm(
    y: &Tensor,
    w: Option<&Tensor>,
    hd: usize,
    eps: f64,
) -> Result<(Tensor, Option<RmsSaved>)> {
    let Some(w) = w else {
        return Ok((y.clone(), None));
    };
    let (rows, width) = y.dims2()?;
    let (h, saved) = rms_fwd(&y.reshape((rows * width / hd, hd))?, w, eps)?;
    Ok((h.reshape((rows, width))?, Some(saved)))
}

/// The backward of [`head_norm`]: pushes the norm weight's gradient and returns the
/// projection output's.
fn head_norm_bwd(
    dy: &Tensor,
    w: Option<&Tensor>,
    saved: Option<&RmsSaved>,
    hd: usize,
    prefix: &str,
    which: &str,
    grads: &mut Vec<(String, Tensor)>,
) -> Result<Tensor> {
    let (Some(w), Some(saved)) = (w, saved) else {
        return Ok(dy.clone());
    };
    let (rows, width) = dy.dims2()?;
    let (dx, dw) = rms_bwd(&dy.reshape((rows * width / hd, hd))?, w, saved)?;
    grads.push((format!("{prefix}.self_attn.{which}_norm.weight"), dw));
    dx.reshape((rows, width))
}

/// A projection's weight `[out, in]` and optional bias.
pub(super) struct Proj<'a> {
    name: String,
    w: &'a Tensor,
    b: Option<&'a Tensor>,
}

impl Proj<'_> {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = x.matmul(&self.w.t()?)?;
        match self.b {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }

    /// Pushes `dW` (and `db`) for output gradient `dy` and input `x`, both `[rows, _]`.
    fn grads(&self, dy: &Tensor, x: &Tensor, out: &mut Vec<(String, Tensor)>) -> Result<()> {
        let dw = dy.t()?.matmul(x)?.to_dtype(DType::F32)?;
        out.push((format!("{}.weight", self.name), dw));
        if self.b.is_some() {
            let db = dy.to_dtype(DType::F32)?.sum(0)?;
            out.push((format!("{}.bias", self.name), db));
        }
        Ok(())
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
    pub(super) fn get(ws: &'a HashMap<String, Tensor>, i: usize) -> Result<LayerWeights<'a>> {
        let prefix = format!("model.layers.{i}");
        let get = |n: &str| super::weight(ws, &format!("{prefix}.{n}"));
        let proj = |n: &str| -> Result<Proj<'a>> {
            let name = format!("{prefix}.{n}");
            Ok(Proj {
                w: get(&format!("{n}.weight"))?,
                b: ws.get(&format!("{name}.bias")),
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
    let (h1, n1) = rms_fwd(x, lw.input_norm, eps)?;
    let (q, qn) = head_norm(&lw.q.forward(&h1)?, lw.q_norm, hd, eps)?;
    let (k, kn) = head_norm(&lw.k.forward(&h1)?, lw.k_norm, hd, eps)?;
    let q = pos.rotate(&dims.split_heads(&q, nh)?, &pos.sin)?;
    let q = dims.grouped(&q)?;
    let k = pos.rotate(&dims.split_heads(&k, nkv)?, &pos.sin)?;
    let v = dims.split_heads(&lw.v.forward(&h1)?, nkv)?;
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
    let x_mid = (x + lw.o.forward(&o)?)?;
    let (h2, n2) = rms_fwd(&x_mid, lw.post_norm, eps)?;
    let g = lw.gate.forward(&h2)?;
    let u = lw.up.forward(&h2)?;
    let m = (g.silu()? * &u)?;
    let y = (&x_mid + lw.down.forward(&m)?)?;
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
    };
    Ok((y, saved))
}

/// The layer's backward for output gradient `dy`: the input gradient and every weight's
/// gradient (f32, by Hugging Face name).
pub(super) fn backward(
    dy: &Tensor,
    s: &LayerSaved,
    lw: &LayerWeights<'_>,
    dims: &Dims,
    pos: &Positions,
) -> Result<(Tensor, Vec<(String, Tensor)>)> {
    let mut grads = Vec::with_capacity(12);
    // MLP: y = x_mid + down(silu(g) * u).
    let dm = dy.matmul(lw.down.w)?;
    lw.down.grads(dy, &s.m, &mut grads)?;
    let sig = candle_nn::ops::sigmoid(&s.g)?;
    let du = (&dm * (&s.g * &sig)?)?;
    // silu'(g) = s * (1 + g * (1 - s))
    let dsilu = (&sig * ((&s.g * sig.affine(-1.0, 1.0)?)? + 1.0)?)?;
    let dg = ((&dm * &s.u)? * dsilu)?;
    let dh2 = (dg.matmul(lw.gate.w)? + du.matmul(lw.up.w)?)?;
    lw.gate.grads(&dg, &s.h2, &mut grads)?;
    lw.up.grads(&du, &s.h2, &mut grads)?;
    let (dxn, dw_post) = rms_bwd(&dh2, lw.post_norm, &s.n2)?;
    grads.push((
        format!("{}.post_attention_layernorm.weight", lw.prefix),
        dw_post,
    ));
    let dx_mid = (dy + dxn)?;

    // Attention: x_mid = x + o_proj(softmax(q k^T * scale + mask) v).
    let (nh, nkv) = (dims.nh, dims.nkv);
    let d_o = dims.grouped(&dims.split_heads(&dx_mid.matmul(lw.o.w)?, nh)?)?;
    lw.o.grads(&dx_mid, &s.o, &mut grads)?;
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
    let dq = head_norm_bwd(
        &dq,
        lw.q_norm,
        s.qn.as_ref(),
        dims.hd,
        &lw.prefix,
        "q",
        &mut grads,
    )?;
    let dk = head_norm_bwd(
        &dk,
        lw.k_norm,
        s.kn.as_ref(),
        dims.hd,
        &lw.prefix,
        "k",
        &mut grads,
    )?;
    let dv = dims.merge_heads(&dv, nkv)?;
    let dh1 = ((dq.matmul(lw.q.w)? + dk.matmul(lw.k.w)?)? + dv.matmul(lw.v.w)?)?;
    lw.q.grads(&dq, &s.h1, &mut grads)?;
    lw.k.grads(&dk, &s.h1, &mut grads)?;
    lw.v.grads(&dv, &s.h1, &mut grads)?;
    let (dxn, dw_in) = rms_bwd(&dh1, lw.input_norm, &s.n1)?;
    grads.push((format!("{}.input_layernorm.weight", lw.prefix), dw_in));
    Ok(((dx_mid + dxn)?, grads))
}
