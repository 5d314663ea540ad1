//! The decoder's choice between the fused CPU kernels and device-generic compositions.
//!
//! The compositions (candle matmul, softmax, log-sum-exp, elementwise ops) are what
//! runs on a GPU and in half precision; `set_generic_ops` selects them on the CPU too,
//! so `cargo test` checks the GPU's arithmetic against the fast CPU path.

use candle_core::{Result, Tensor};

use super::Decoder;

impl Decoder {
    /// Routes every op through the device-generic compositions (and plain attention)
    /// even where a fused CPU kernel applies.
    pub fn set_generic_ops(&mut self, on: bool) {
        self.generic_ops = on;
        if on {
            self.fused_attention = false;
        }
    }

    /// Whether [`Decoder::set_generic_ops`] is on.
    pub fn generic_ops(&self) -> bool {
        self.generic_ops
    }

    pub(super) fn rms(&self, x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
        if self.generic_ops {
            crate::fused::rms_norm_composite(x, w, eps)
        } else {
            crate::ops::rms_norm(x, w, eps)
        }
    }

    pub(super) fn glu(&self, g: &Tensor, u: &Tensor) -> Result<Tensor> {
        if self.generic_ops {
            crate::fused::swiglu_composite(g, u)
        } else {
            crate::ops::swiglu(g, u)
        }
    }

    pub(super) fn softmax(&self, x: &Tensor) -> Result<Tensor> {
        if self.generic_ops && x.device().is_cpu() {
            let dt = x.dtype();
            let xf = if crate::fused::is_half(dt) {
                x.to_dtype(candle_core::DType::F32)?
            } else {
                x.clone()
            };
            candle_nn::ops::softmax(&xf, candle_core::D::Minus1)?.to_dtype(dt)
        } else {
            crate::ops::softmax_last_dim(x)
        }
    }

    pub(super) fn head_logprobs(
        &self,
        h: &Tensor,
        targets: &Tensor,
        chunk_elems: usize,
    ) -> Result<Tensor> {
        if self.generic_ops {
            let rows = (chunk_elems / self.lm_head.dim(0)?.max(1)).max(1);
            crate::logprob_head::composite(h, &self.lm_head, targets, rows)
        } else {
            crate::logprob_head::chunked_logprobs(h, &self.lm_head, targets, chunk_elems)
        }
    }
}
