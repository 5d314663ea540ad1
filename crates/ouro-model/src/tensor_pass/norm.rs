//! RMSNorm for the tensor pass: over hidden states and, in Qwen3, over each attention
//! head's queries and keys. Statistics in f32 whatever the compute dtype.

use candle_core::{DType, Result, Tensor, D};

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

/// Gradients of [`rms_fwd`]: `dx` in `dh`'s dtype and, if `w` is `trainable`, `dw` in f32.
pub(super) fn rms_bwd(
    dh: &Tensor,
    w: &Tensor,
    s: &RmsSaved,
    trainable: bool,
) -> Result<(Tensor, Option<Tensor>)> {
    let dhf = dh.to_dtype(DType::F32)?;
    let dw = match trainable {
        true => Some((&dhf * &s.xhat)?.sum(0)?),
        false => None,
    };
    let dxhat = dhf.broadcast_mul(&w.to_dtype(DType::F32)?)?;
    let c = (&dxhat * &s.xhat)?.mean_keepdim(D::Minus1)?;
    let dx = (dxhat - s.xhat.broadcast_mul(&c)?)?.broadcast_mul(&s.r)?;
    Ok((dx.to_dtype(dh.dtype())?, dw))
}

/// Qwen3's RMSNorm over each head of `y` `[rows, heads*hd]`, where the layer has one.
pub(super) fn head_norm(
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
pub(super) fn head_norm_bwd(
    dy: &Tensor,
    w: Option<&Tensor>,
    saved: Option<&RmsSaved>,
    hd: usize,
    name: String,
    grads: &mut super::Grads,
) -> Result<Tensor> {
    let (Some(w), Some(saved)) = (w, saved) else {
        return Ok(dy.clone());
    };
    let (rows, width) = dy.dims2()?;
    let dy = dy.reshape((rows * width / hd, hd))?;
    let (dx, dw) = rms_bwd(&dy, w, saved, grads.base_trainable())?;
    grads.push_opt(name, dw);
    dx.reshape((rows, width))
}
