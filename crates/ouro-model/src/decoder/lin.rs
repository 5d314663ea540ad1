//! One projection of the decoder, `x W^T (+ b)`, and the kernels it may take.

use std::sync::Arc;

use candle_core::{Result, Tensor};

use super::Pass;
use crate::ops::linear;
use crate::q8::Q8Matrix;

/// A projection `x W^T (+ b)`, optionally with a LoRA adapter `(A, B, scale)` and an
/// 8-bit copy of `W` for sampling ([`super::Decoder::quantize_for_sampling`]).
pub(super) struct Lin {
    pub(super) w: Tensor,
    pub(super) b: Option<Tensor>,
    pub(super) lora: Option<(Tensor, Tensor, f64)>,
    pub(super) q8: Option<Arc<Q8Matrix>>,
}

impl Lin {
    pub(super) fn new(w: Tensor, b: Option<Tensor>) -> Self {
        Lin {
            w,
            b,
            lora: None,
            q8: None,
        }
    }

    pub(super) fn forward(&self, x: &Tensor, pass: &Pass) -> Result<Tensor> {
        let adapters = pass.adapters;
        let y = project(
            x,
            &self.w,
            self.b.as_ref(),
            self.q8.as_deref(),
            pass.no_grad,
        )?;
        match (&self.lora, adapters) {
            (Some((a, b, scale)), true) => y + (linear(&linear(x, a, None)?, b, None)? * *scale)?,
            _ => Ok(y),
        }
    }

    /// Stops gradients at the base weights; an 8-bit copy is dropped with them
    /// (what follows is training, whose updates it would not see).
    pub(super) fn freeze(&mut self) {
        self.w = self.w.detach();
        self.b = self.b.as_ref().map(|b| b.detach());
        self.q8 = None;
    }
}

/// `x W^T (+ b)`; without autograd (decoding) a few rows take the streaming kernel,
/// over the 8-bit copy of `W` when there is one.
pub(super) fn project(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    q8: Option<&Q8Matrix>,
    no_grad: bool,
) -> Result<Tensor> {
    if no_grad {
        if let Some(q) = q8 {
            if let Some(mut ys) = crate::q8::linear_many(x, &[(q, b)])? {
                return Ok(ys.remove(0));
            }
        }
        if let Some(y) = crate::rows_matmul::linear(x, w, b)? {
            return Ok(y);
        }
    }
    linear(x, w, b)
}

/// Several projections of one input. Without autograd and adapters (decoding) they share
/// one pass of the streaming kernel; otherwise each is [`Lin::forward`].
pub(super) fn project_all<const N: usize>(
    x: &Tensor,
    lins: [&Lin; N],
    pass: &Pass,
) -> Result<[Tensor; N]> {
    let plain = lins.iter().all(|l| l.lora.is_none() || !pass.adapters);
    if pass.no_grad && plain {
        let q8: Option<Vec<_>> = lins
            .iter()
            .map(|l| l.q8.as_deref().map(|q| (q, l.b.as_ref())))
            .collect();
        let mut ys = match q8 {
            Some(projs) => crate::q8::linear_many(x, &projs)?,
            None => None,
        };
        if ys.is_none() {
            let projs: Vec<_> = lins.iter().map(|l| (&l.w, l.b.as_ref())).collect();
            ys = crate::rows_matmul::linear_many(x, &projs)?;
        }
        if let Some(ys) = ys {
            return Ok(ys.try_into().expect("one output per projection"));
        }
    }
    let mut ys = Vec::with_capacity(N);
    for l in lins {
        ys.push(l.forward(x, pass)?);
    }
    Ok(ys.try_into().expect("one output per projection"))
}
