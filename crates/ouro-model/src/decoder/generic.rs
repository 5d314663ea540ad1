//! The decoder's choice between the fused CPU kernels and device-generic compositions.
//!
//! The compositions (candle matmul, softmax, log-sum-exp, elementwise ops) are what
//! runs on a GPU and in half precision; `set_generic_ops` selects them on the CPU too,
//! so `cargo test` checks the GPU's arithmetic against the fast CPU path.

use candle_core::{DType, Result, Tensor};

use super::{Decoder, Pass};

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

    /// Whether a pass runs candle-nn's fused kernels, which have no backward: only a
    /// no-grad pass (the generation step), off the CPU, and on the CPU under
    /// [`Decoder::set_generic_ops`] so that tests run what a GPU runs.
    fn fused_no_grad(&self, pass: &Pass) -> bool {
        pass.no_grad && (!self.device.is_cpu() || self.generic_ops)
    }

    /// [`Decoder::rms`] in `pass`: one fused kernel (statistics in f32) when
    /// [`Decoder::fused_no_grad`].
    pub(super) fn rms_in(&self, x: &Tensor, w: &Tensor, eps: f64, pass: &Pass) -> Result<Tensor> {
        if self.fused_no_grad(pass) && w.dtype() == x.dtype() {
            candle_nn::ops::rms_norm(&x.contiguous()?, w, eps as f32)
        } else {
            self.rms(x, w, eps)
        }
    }

    /// [`Decoder::softmax`] in `pass`: the fused kernel over f32 scores when
    /// [`Decoder::fused_no_grad`].
    pub(super) fn softmax_in(&self, x: &Tensor, pass: &Pass) -> Result<Tensor> {
        if self.fused_no_grad(pass) {
            let p = candle_nn::ops::softmax_last_dim(&x.to_dtype(DType::F32)?.contiguous()?)?;
            p.to_dtype(x.dtype())
        } else {
            self.softmax(x)
        }
    }

    /// The rotation of `x` `[B, T, H, hd]` into `[B, H, T, hd]` by candle-nn's kernel, with
    /// per-row tables `cos`/`sin` `[B, 1, T, hd/2]` (the generation step's); `None` where
    /// [`Decoder::fused_no_grad`] does not hold or the tables are shared `[T, hd/2]`.
    pub(super) fn rope_no_grad(
        &self,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        pass: &Pass,
    ) -> Result<Option<Tensor>> {
        if !self.fused_no_grad(pass) || cos.rank() != 4 {
            return Ok(None);
        }
        let x = x.transpose(1, 2)?.contiguous()?;
        let (cos, sin) = (cos.squeeze(1)?.contiguous()?, sin.squeeze(1)?.contiguous()?);
        Ok(Some(if self.cfg.interleaved_rope() {
            candle_nn::rotary_emb::rope_i(&x, &cos, &sin)?
        } else {
            candle_nn::rotary_emb::rope(&x, &cos, &sin)?
        }))
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
