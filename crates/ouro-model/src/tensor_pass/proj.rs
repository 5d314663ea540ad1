//! One projection of the tensor pass, `x W^T (+ b)`, with an optional LoRA adapter
//! `(alpha / r) * (x A^T) B^T`, forward and backward.

use candle_core::{DType, Result, Tensor};

use super::Grads;
use crate::lora::peft_name;

/// A LoRA adapter of one projection: `A [r, in]`, `B [out, r]`.
pub(super) struct Adapter {
    /// The projection's module path (`model.layers.N.self_attn.q_proj`).
    pub(super) module: String,
    pub(super) a: Tensor,
    pub(super) b: Tensor,
    pub(super) scale: f64,
}

/// A projection's weight `[out, in]`, optional bias and optional adapter.
pub(super) struct Proj<'a> {
    pub(super) name: String,
    pub(super) w: &'a Tensor,
    pub(super) b: Option<&'a Tensor>,
    pub(super) adapter: Option<&'a Adapter>,
}

impl Proj<'_> {
    /// The output, and `x A^T` when there is an adapter (its backward needs it).
    pub(super) fn forward(&self, x: &Tensor) -> Result<(Tensor, Option<Tensor>)> {
        let y = x.matmul(&self.w.t()?)?;
        let y = match self.b {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        };
        Ok(match self.adapter {
            Some(ad) => {
                let xa = x.matmul(&ad.a.t()?)?;
                let y = (y + (xa.matmul(&ad.b.t()?)? * ad.scale)?)?;
                (y, Some(xa))
            }
            None => (y, None),
        })
    }

    /// The input's gradient for output gradient `dy` (input `x`, both `[rows, _]`);
    /// pushes the trainable weights' gradients: `dW` and `db` unless the base is frozen,
    /// and the adapter's `dA` and `dB`.
    pub(super) fn backward(
        &self,
        dy: &Tensor,
        x: &Tensor,
        xa: Option<&Tensor>,
        grads: &mut Grads,
    ) -> Result<Tensor> {
        let dx = dy.matmul(self.w)?;
        if grads.base_trainable() {
            let dw = dy.t()?.matmul(x)?.to_dtype(DType::F32)?;
            grads.push(format!("{}.weight", self.name), dw);
            if self.b.is_some() {
                let db = dy.to_dtype(DType::F32)?.sum(0)?;
                grads.push(format!("{}.bias", self.name), db);
            }
        }
        let (Some(ad), Some(xa)) = (self.adapter, xa) else {
            return Ok(dx);
        };
        let dyb = dy.matmul(&ad.b)?;
        let d_b = (dy.t()?.matmul(xa)? * ad.scale)?.to_dtype(DType::F32)?;
        let d_a = (dyb.t()?.matmul(x)? * ad.scale)?.to_dtype(DType::F32)?;
        grads.push(peft_name(&ad.module, 'B'), d_b);
        grads.push(peft_name(&ad.module, 'A'), d_a);
        dx + (dyb.matmul(&ad.a)? * ad.scale)?
    }
}
