//! The device path: gradient sums, their norm and AdamW as candle tensor ops on the
//! parameter's own device, so a GPU step moves nothing parameter-sized across the bus;
//! one small vector (a squared norm per parameter) comes back per step. The same code
//! runs on the CPU under `--backend generic`, which is how every machine tests it.

use candle_core::{DType, Tensor, Var};

use super::StepConstants;
use crate::error::Result;

/// Adds `g` (any dtype; summed in f32) into the running sum `acc`.
pub(super) fn add(acc: &mut Option<Tensor>, g: &Tensor) -> Result<()> {
    let g = g.to_dtype(DType::F32)?;
    *acc = Some(match acc.take() {
        None => g,
        Some(a) => (a + g)?,
    });
    Ok(())
}

/// `sum(g^2)` of each gradient, reduced on its device in f32 (as
/// `torch.nn.utils.clip_grad_norm_` does) and read back together.
pub(super) fn squared_norms(grads: &[&Tensor]) -> Result<Vec<f64>> {
    if grads.is_empty() {
        return Ok(Vec::new());
    }
    let parts = grads
        .iter()
        .map(|g| g.sqr()?.sum_all())
        .collect::<candle_core::Result<Vec<_>>>()?;
    let sums: Vec<f32> = Tensor::stack(&parts, 0)?.to_vec1()?;
    Ok(sums.into_iter().map(f64::from).collect())
}

/// One AdamW update of `p` in f32 (the parameter is read and written in its own dtype);
/// `g = None` is a zero gradient. Same rule and constants as the host kernel.
pub(super) fn step(
    p: &Var,
    m: &mut Tensor,
    v: &mut Tensor,
    g: Option<&Tensor>,
    k: &StepConstants,
) -> Result<()> {
    let f = |x: f32| x as f64;
    let g = match g {
        Some(g) => g.affine(f(k.grad_scale), 0.0)?,
        None => m.zeros_like()?,
    };
    let m_new = (m.affine(f(k.b1), 0.0)? + g.affine(f(1.0 - k.b1), 0.0)?)?;
    let v_new = (v.affine(f(k.b2), 0.0)? + g.sqr()?.affine(f(1.0 - k.b2), 0.0)?)?;
    let decayed = p
        .as_tensor()
        .to_dtype(DType::F32)?
        .affine(f(k.decay), 0.0)?;
    let denom = v_new.sqrt()?.affine(f(k.inv_sqrt_bc2), f(k.eps))?;
    let update = (&m_new / denom)?.affine(f(k.step_size), 0.0)?;
    p.set(&(decayed - update)?.to_dtype(p.dtype())?)?;
    *m = m_new;
    *v = v_new;
    Ok(())
}
