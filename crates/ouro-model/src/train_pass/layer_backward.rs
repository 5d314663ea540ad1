//! One decoder layer's backward: the MLP, then attention, in reverse of the forward.

use std::collections::HashMap;

use candle_core::Result;

use super::attention::Attn;
use super::kernels::{self, gemm, rm, tr, Rope};
use super::slots::GradSlots;
use super::{w, Saved};

/// The sizes a layer's backward needs.
#[derive(Clone, Copy)]
pub(super) struct Shape {
    /// Positions in the batch (`b * t`).
    pub n: usize,
    pub t: usize,
    pub d: usize,
    pub f: usize,
    pub nh: usize,
    pub nkv: usize,
    pub qd: usize,
    pub kd: usize,
}

/// Gradient scratch buffers shared by every layer, so a pass allocates them once.
pub(super) struct LayerGrads {
    pub dh: Vec<f32>,
    pub dm: Vec<f32>,
    pub d_o: Vec<f32>,
    pub dq: Vec<f32>,
    pub dk: Vec<f32>,
    pub dv: Vec<f32>,
}

/// Adds layer `pre`'s weight gradients into `grads` and turns `dx` (the
/// gradient at the layer's output) into the gradient at its input.
#[allow(clippy::too_many_arguments)]
pub(super) fn layer_backward(
    s: &mut Saved,
    pre: &str,
    ws: &HashMap<&str, &[f32]>,
    grads: &mut GradSlots,
    shape: &Shape,
    (attn, rope): (&Attn, &Rope),
    bufs: &mut LayerGrads,
    dx: &mut [f32],
) -> Result<()> {
    let Shape {
        n,
        t,
        d,
        f,
        nh,
        nkv,
        qd,
        kd,
    } = *shape;
    let lw = |x: &str| w(ws, &format!("{pre}.{x}"));
    let mut slot = |x: &str, len: usize| grads.take(&format!("{pre}.{x}"), len);
    let has_bias = |x: &str| ws.contains_key(format!("{pre}.{x}.bias").as_str());

    // MLP: x_out = x_mid + swiglu(h2 Wg^T, h2 Wu^T) Wd^T; dx is d x_out.
    let wd = lw("mlp.down_proj.weight")?;
    let mut g_wd = slot("mlp.down_proj.weight", d * f)?;
    let acc = g_wd.acc();
    gemm(d, f, n, g_wd.buf, f, acc, tr(dx, d), rm(&s.m, f), true);
    gemm(n, f, d, &mut bufs.dm, f, false, rm(dx, d), rm(wd, f), true);
    kernels::swiglu_bwd(&mut s.g, &mut s.u, &bufs.dm);
    let (dg, du) = (&s.g, &s.u);
    for (name, dz) in [("mlp.gate_proj", dg), ("mlp.up_proj", du)] {
        let mut gw = slot(&format!("{name}.weight"), f * d)?;
        let acc = gw.acc();
        gemm(f, d, n, gw.buf, d, acc, tr(dz, f), rm(&s.h2, d), true);
    }
    gemm(
        n,
        d,
        f,
        &mut bufs.dh,
        d,
        false,
        rm(dg, f),
        rm(lw("mlp.gate_proj.weight")?, d),
        true,
    );
    gemm(
        n,
        d,
        f,
        &mut bufs.dh,
        d,
        true,
        rm(du, f),
        rm(lw("mlp.up_proj.weight")?, d),
        true,
    );
    let mut g_post = slot("post_attention_layernorm.weight", d)?;
    let w_post = lw("post_attention_layernorm.weight")?;
    kernels::rms_bwd(&s.x_mid, w_post, &s.inv2, &bufs.dh, dx, g_post.sum());

    // Attention: x_mid = x_in + attn(h1) Wo^T (+ bo); dx is now d x_mid.
    let mut g_wo = slot("self_attn.o_proj.weight", d * qd)?;
    let acc = g_wo.acc();
    gemm(d, qd, n, g_wo.buf, qd, acc, tr(dx, d), rm(&s.o, qd), true);
    if has_bias("self_attn.o_proj") {
        kernels::col_sum(dx, slot("self_attn.o_proj.bias", d)?.sum());
    }
    gemm(
        n,
        qd,
        d,
        &mut bufs.d_o,
        qd,
        false,
        rm(dx, d),
        rm(lw("self_attn.o_proj.weight")?, qd),
        true,
    );
    attn.backward(
        &s.q,
        &s.k,
        &s.v,
        &s.p,
        &bufs.d_o,
        &mut bufs.dq,
        &mut bufs.dk,
        &mut bufs.dv,
    );
    rope.apply(&mut bufs.dq, t, nh, true);
    rope.apply(&mut bufs.dk, t, nkv, true);
    let mut first = true;
    for (name, dz, out) in [
        ("q_proj", &bufs.dq, qd),
        ("k_proj", &bufs.dk, kd),
        ("v_proj", &bufs.dv, kd),
    ] {
        let wname = format!("self_attn.{name}");
        let mut gw = slot(&format!("{wname}.weight"), out * d)?;
        let acc = gw.acc();
        gemm(out, d, n, gw.buf, d, acc, tr(dz, out), rm(&s.h1, d), true);
        if has_bias(&wname) {
            kernels::col_sum(dz, slot(&format!("{wname}.bias"), out)?.sum());
        }
        let wt = lw(&format!("{wname}.weight"))?;
        gemm(
            n,
            d,
            out,
            &mut bufs.dh,
            d,
            !first,
            rm(dz, out),
            rm(wt, d),
            true,
        );
        first = false;
    }
    let mut g_in = slot("input_layernorm.weight", d)?;
    let w_in = lw("input_layernorm.weight")?;
    kernels::rms_bwd(&s.x_in, w_in, &s.inv1, &bufs.dh, dx, g_in.sum());
    Ok(())
}
