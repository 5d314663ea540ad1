//! Differentiable building blocks. Everything here is built from candle ops that
//! have a backward pass (or from [`crate::fused`] ops that implement one); the
//! fused kernels of candle-transformers are deliberately not used.

use candle_core::{DType, Device, Result, Tensor, D};

/// `x @ w^T (+ b)` for `x` of any rank >= 2; `w` is `[out, in]` as in HF checkpoints.
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let inner = *dims.last().expect("rank >= 1");
    let rows: usize = dims[..dims.len() - 1].iter().product();
    let y = x.reshape((rows, inner))?.matmul(&w.t()?)?;
    let y = match b {
        Some(b) => y.broadcast_add(b)?,
        None => y,
    };
    let mut out_dims = dims;
    *out_dims.last_mut().expect("rank >= 1") = w.dim(0)?;
    y.reshape(out_dims)
}

/// RMSNorm over the last dimension: `x / sqrt(mean(x^2) + eps) * w`.
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    crate::fused::rms_norm(x, w, eps)
}

/// Softmax over the last dimension.
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    crate::fused::softmax_last_dim(x)
}

/// SiLU-gated MLP input: `silu(g) * u`.
pub fn swiglu(g: &Tensor, u: &Tensor) -> Result<Tensor> {
    crate::fused::swiglu(g, u)
}

/// cos and sin tables `[n, head_dim/2]` for the given positions.
pub fn rope_tables(
    inv_freq: &[f64],
    positions: &[u32],
    dtype: DType,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let half = inv_freq.len();
    let mut cos = Vec::with_capacity(positions.len() * half);
    let mut sin = Vec::with_capacity(positions.len() * half);
    for &p in positions {
        for &f in inv_freq {
            let a = p as f64 * f;
            cos.push(a.cos());
            sin.push(a.sin());
        }
    }
    let cos = Tensor::from_vec(cos, (positions.len(), half), device)?.to_dtype(dtype)?;
    let sin = Tensor::from_vec(sin, (positions.len(), half), device)?.to_dtype(dtype)?;
    Ok((cos, sin))
}

/// Rotary embedding on `x: [B, H, T, head_dim]`. `cos`/`sin` broadcast to
/// `[B, H, T, head_dim/2]` (`[T, half]` for shared positions, `[B, 1, T, half]` per row).
///
/// Half-split layout (HF): pairs are `(x[i], x[i + half])`. Interleaved layout
/// (GPT-J, GGUF): pairs are `(x[2i], x[2i + 1])`.
pub fn apply_rope(x: &Tensor, cos: &Tensor, sin: &Tensor, interleaved: bool) -> Result<Tensor> {
    let (b, h, t, hd) = x.dims4()?;
    let half = hd / 2;
    if interleaved {
        let xr = x.reshape((b, h, t, half, 2))?;
        let x1 = xr.narrow(D::Minus1, 0, 1)?.squeeze(D::Minus1)?;
        let x2 = xr.narrow(D::Minus1, 1, 1)?.squeeze(D::Minus1)?;
        let r1 = (x1.broadcast_mul(cos)? - x2.broadcast_mul(sin)?)?;
        let r2 = (x2.broadcast_mul(cos)? + x1.broadcast_mul(sin)?)?;
        Tensor::stack(&[r1, r2], D::Minus1)?.reshape((b, h, t, hd))
    } else {
        let x1 = x.narrow(D::Minus1, 0, half)?;
        let x2 = x.narrow(D::Minus1, half, half)?;
        let r1 = (x1.broadcast_mul(cos)? - x2.broadcast_mul(sin)?)?;
        let r2 = (x2.broadcast_mul(cos)? + x1.broadcast_mul(sin)?)?;
        Tensor::cat(&[r1, r2], D::Minus1)
    }
}

/// Additive attention bias `[B or 1, 1, T, past + T]`: 0 where query `i` may
/// attend key `j`, `-inf` elsewhere. Keys are causal (`j <= past + i`) and, when
/// `key_valid` (`[B][past + T]`) is given, real tokens; a query always sees
/// itself so that padded rows never become all `-inf` (which would give NaN).
pub fn attention_bias(
    t: usize,
    past: usize,
    key_valid: Option<&[Vec<bool>]>,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let tk = past + t;
    let rows = key_valid.map(|k| k.len()).unwrap_or(1);
    let mut v = vec![0f32; rows * t * tk];
    for r in 0..rows {
        for i in 0..t {
            for j in 0..tk {
                let causal_ok = j <= past + i;
                let pad_ok = match key_valid {
                    Some(k) => k[r][j] || j == past + i,
                    None => true,
                };
                if !(causal_ok && pad_ok) {
                    v[(r * t + i) * tk + j] = f32::NEG_INFINITY;
                }
            }
        }
    }
    Tensor::from_vec(v, (rows, 1, t, tk), device)?.to_dtype(dtype)
}
