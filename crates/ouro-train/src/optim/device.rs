//! The device path: gradient sums, their norm and AdamW as candle tensor ops on the
//! parameters' own device, so a GPU step moves nothing parameter-sized across the bus;
//! one number (the squared norm) comes back per step. The same code runs on the CPU
//! under `--backend generic`, which is how every machine tests it.
//!
//! Consecutive parameters' gradients, moments and values are laid end to end in flat
//! f32 tensors of about [`GROUP_ELEMS`] values, so a step is a dozen kernels per group
//! plus two copies per parameter (gather and write back) rather than a dozen kernels per
//! parameter: a GPU pays for each launch, and a decoder has hundreds of parameters. The
//! moments stay flat between steps; each parameter's [`super::Moments::Device`] is a
//! view into them.

/// Values per flat group. Bounded so that on the CPU each temporary stays under glibc's
/// largest mmap threshold (32 MiB) and is reused rather than mapped and faulted in anew.
const GROUP_ELEMS: usize = 1 << 22;

/// Splits parameters of `sizes` (in order) into consecutive groups of about
/// [`GROUP_ELEMS`] values; a larger parameter is a group of its own, and a group
/// never holds parameters that weight decay treats apart (`decays`).
pub(super) fn groups(sizes: &[usize], decays: &[bool]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut filled) = (0, 0);
    for (i, &n) in sizes.iter().enumerate() {
        let apart = i > 0 && decays.get(i) != decays.get(i - 1);
        if filled > 0 && (filled + n > GROUP_ELEMS || apart) {
            out.push(start..i);
            (start, filled) = (i, 0);
        }
        filled += n;
    }
    if start < sizes.len() {
        out.push(start..sizes.len());
    }
    out
}

use candle_core::{DType, Tensor, TensorId, Var};

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

/// The gradient sums end to end, one flat f32 tensor per [`groups`] group; `None`
/// entries (no gradient) are zeros of their parameter's size.
pub(super) fn flatten(sums: &[(Option<&Tensor>, &Var)], decays: &[bool]) -> Result<Vec<Tensor>> {
    let sizes: Vec<usize> = sums.iter().map(|(_, p)| p.elem_count()).collect();
    groups(&sizes, decays)
        .into_iter()
        .map(|r| {
            let parts = sums[r]
                .iter()
                .map(|(g, p)| match g {
                    Some(g) => g.flatten_all(),
                    None => Tensor::zeros(p.elem_count(), DType::F32, p.device()),
                })
                .collect::<candle_core::Result<Vec<_>>>()?;
            Ok(Tensor::cat(&parts, 0)?)
        })
        .collect()
}

/// `sum(g^2)` of flat gradients, each reduced on its device in f32 (as
/// `torch.nn.utils.clip_grad_norm_` does) and read back together.
pub(super) fn squared_norm(flats: &[Tensor]) -> Result<f64> {
    if flats.is_empty() {
        return Ok(0.0);
    }
    let parts = flats
        .iter()
        .map(|g| g.sqr()?.sum_all())
        .collect::<candle_core::Result<Vec<_>>>()?;
    let sums: Vec<f32> = Tensor::stack(&parts, 0)?.to_vec1()?;
    Ok(sums.into_iter().map(f64::from).sum())
}

/// The moments of the device-updated parameters, end to end.
pub(super) struct FlatMoments {
    m: Tensor,
    v: Tensor,
    /// The per-parameter views last handed out: if a checkpoint restore replaced any,
    /// the flat moments are rebuilt from the parameters' own.
    views: Vec<(TensorId, TensorId)>,
}

/// One AdamW update of one group's `params` (each read and written in its own dtype,
/// computed in f32) with the group's flat gradient `g`; `ms`/`vs` are the parameters' moments, replaced by
/// views into the updated flat ones. Same rule and constants as the host kernel.
pub(super) fn step(
    params: &[&Var],
    ms: &mut [&mut Tensor],
    vs: &mut [&mut Tensor],
    flat: &mut Option<FlatMoments>,
    g: &Tensor,
    k: &StepConstants,
) -> Result<()> {
    let current = flat.as_ref().is_some_and(|f| {
        f.views.len() == ms.len()
            && f.views
                .iter()
                .zip(ms.iter().zip(vs.iter()))
                .all(|(&(im, iv), (m, v))| im == m.id() && iv == v.id())
    });
    let (m, v) = match flat.take() {
        Some(f) if current => (f.m, f.v),
        _ => {
            let cat = |xs: &[&mut Tensor]| -> Result<Tensor> {
                let parts = xs
                    .iter()
                    .map(|x| x.flatten_all())
                    .collect::<candle_core::Result<Vec<_>>>()?;
                Ok(Tensor::cat(&parts, 0)?)
            };
            (cat(ms)?, cat(vs)?)
        }
    };
    let p = Tensor::cat(
        &params
            .iter()
            .map(|p| p.as_tensor().flatten_all()?.to_dtype(DType::F32))
            .collect::<candle_core::Result<Vec<_>>>()?,
        0,
    )?;
    let f = |x: f32| x as f64;
    let g = g.affine(f(k.grad_scale), 0.0)?;
    let m = (m.affine(f(k.b1), 0.0)? + g.affine(f(1.0 - k.b1), 0.0)?)?;
    let v = (v.affine(f(k.b2), 0.0)? + g.sqr()?.affine(f(1.0 - k.b2), 0.0)?)?;
    let decayed = p.affine(f(k.decay), 0.0)?;
    let denom = v.sqrt()?.affine(f(k.inv_sqrt_bc2), f(k.eps))?;
    let update = (&m / denom)?.affine(f(k.step_size), 0.0)?;
    let p = (decayed - update)?;
    let mut views = Vec::with_capacity(params.len());
    let mut off = 0;
    for ((param, mi), vi) in params.iter().zip(ms.iter_mut()).zip(vs.iter_mut()) {
        let (n, shape) = (param.elem_count(), param.shape());
        param.set(
            &p.narrow(0, off, n)?
                .reshape(shape)?
                .to_dtype(param.dtype())?,
        )?;
        **mi = m.narrow(0, off, n)?.reshape(shape)?;
        **vi = v.narrow(0, off, n)?.reshape(shape)?;
        views.push((mi.id(), vi.id()));
        off += n;
    }
    *flat = Some(FlatMoments { m, v, views });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_consecutive_and_bounded_and_big_parameters_stand_alone() {
        let g = GROUP_ELEMS;
        let sizes = [g / 2, g / 4, g / 2, 3 * g, 10, 20];
        let all = [true; 6];
        assert_eq!(groups(&sizes, &all), vec![0..2, 2..3, 3..4, 4..6]);
        assert_eq!(groups(&[], &[]), Vec::<std::ops::Range<usize>>::new());
        assert_eq!(groups(&[5], &[true]), vec![0..1]);
        // Weight decay's exempt parameters (norms, biases) are grouped apart.
        assert_eq!(
            groups(&[5, 5, 5, 5], &[true, false, false, true]),
            vec![0..1, 1..3, 3..4]
        );
    }
}
