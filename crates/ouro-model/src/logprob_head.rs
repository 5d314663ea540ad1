//! Chunked per-token log-prob head: `log_softmax(h @ W^T)[target]` without ever
//! holding the full `[N, V]` logits. On CPU it is one custom op whose backward
//! recomputes each chunk's logits, so training memory is `O(chunk * V)` instead
//! of `O(N * V)`; elsewhere it is a chunked composition of candle ops.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Device, Layout, Result, Shape, Tensor, D};
use num_traits::Float;
use rayon::prelude::*;

use crate::fused::by_float;

/// `h [N, H]`, `w [V, H]`, `targets [N] u32` -> `[N]` log-probs, differentiable in `h` and `w`.
pub fn chunked_logprobs(
    h: &Tensor,
    w: &Tensor,
    targets: &Tensor,
    chunk_elems: usize,
) -> Result<Tensor> {
    let v = w.dim(0)?;
    let rows = (chunk_elems / v.max(1)).max(1);
    if crate::fused::cpu_float(h) && w.dtype() == h.dtype() {
        h.contiguous()?.apply_op3(
            &w.contiguous()?,
            &targets.contiguous()?,
            LogprobHead { rows },
        )
    } else {
        composite(h, w, targets, rows)
    }
}

/// Reference implementation from plain differentiable candle ops.
pub fn composite(h: &Tensor, w: &Tensor, targets: &Tensor, rows: usize) -> Result<Tensor> {
    let n = h.dim(0)?;
    let mut parts = Vec::new();
    let mut start = 0;
    while start < n {
        let len = rows.min(n - start);
        let hc = h.narrow(0, start, len)?;
        let tc = targets.narrow(0, start, len)?;
        let logits = hc.matmul(&w.t()?)?;
        // The log-softmax of half-precision logits in f32: the log-probs feed the loss.
        let logits = if crate::fused::is_half(logits.dtype()) {
            logits.to_dtype(candle_core::DType::F32)?
        } else {
            logits
        };
        let lse = logits.log_sum_exp(D::Minus1)?;
        let picked = logits.gather(&tc.unsqueeze(1)?, 1)?.squeeze(1)?;
        parts.push((picked - lse)?);
        start += len;
    }
    Tensor::cat(&parts, 0)
}

struct LogprobHead {
    rows: usize,
}

fn to_tensor(s: &CpuStorage, l: &Layout) -> Result<Tensor> {
    let (a, b) = l
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("logprob head: input not contiguous".into()))?;
    let dev = Device::Cpu;
    match s {
        CpuStorage::F32(v) => Tensor::from_slice(&v[a..b], l.shape(), &dev),
        CpuStorage::F64(v) => Tensor::from_slice(&v[a..b], l.shape(), &dev),
        CpuStorage::U32(v) => Tensor::from_slice(&v[a..b], l.shape(), &dev),
        CpuStorage::I64(v) => Tensor::from_slice(&v[a..b], l.shape(), &dev),
        _ => candle_core::bail!("logprob head: unsupported dtype (f32, f64, u32, i64 only)"),
    }
}

impl CustomOp3 for LogprobHead {
    fn name(&self) -> &'static str {
        "ouro-chunked-logprob-head"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let h = to_tensor(s1, l1)?;
        let w = to_tensor(s2, l2)?;
        let t = to_tensor(s3, l3)?.to_dtype(candle_core::DType::U32)?;
        let n = h.dim(0)?;
        let mut parts = Vec::new();
        let mut start = 0;
        while start < n {
            let len = self.rows.min(n - start);
            let logits = h.narrow(0, start, len)?.matmul(&w.t()?)?;
            parts.push(logits.apply_op2_no_bwd(&t.narrow(0, start, len)?, &PickLogprob)?);
            start += len;
        }
        let out = Tensor::cat(&parts, 0)?;
        let n = out.dim(0)?;
        let storage = match out.dtype() {
            candle_core::DType::F32 => CpuStorage::F32(out.to_vec1::<f32>()?),
            candle_core::DType::F64 => CpuStorage::F64(out.to_vec1::<f64>()?),
            d => candle_core::bail!("logprob head: unsupported dtype {d:?}"),
        };
        Ok((storage, Shape::from(n)))
    }

    fn bwd(
        &self,
        h: &Tensor,
        w: &Tensor,
        targets: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // d logp_i / d logits_ij = onehot_ij - softmax_ij
        let h = h.detach();
        let w = w.detach();
        let n = h.dim(0)?;
        let v = w.dim(0)?;
        let mut dh_parts = Vec::new();
        let mut dw: Option<Tensor> = None;
        let mut start = 0;
        while start < n {
            let len = self.rows.min(n - start);
            let hc = h.narrow(0, start, len)?;
            let tc = targets.narrow(0, start, len)?;
            let gc = grad.narrow(0, start, len)?;
            let logits = hc.matmul(&w.t()?)?;
            let dlogits = if logits.device().is_cpu() {
                let tc = tc.to_dtype(candle_core::DType::U32)?.contiguous()?;
                logits.apply_op3_no_bwd(&tc, &gc.contiguous()?, &DLogits)?
            } else {
                let p = crate::fused::softmax_last_dim(&logits)?;
                let onehot = Tensor::zeros((len, v), h.dtype(), h.device())?.scatter_add(
                    &tc.unsqueeze(1)?,
                    &Tensor::ones((len, 1), h.dtype(), h.device())?,
                    1,
                )?;
                (onehot - p)?.broadcast_mul(&gc.unsqueeze(1)?)?
            };
            dh_parts.push(dlogits.matmul(&w)?);
            let dwc = dlogits.t()?.matmul(&hc)?;
            dw = Some(match dw {
                Some(acc) => (acc + dwc)?,
                None => dwc,
            });
            start += len;
        }
        let dh = Tensor::cat(&dh_parts, 0)?;
        Ok((Some(dh), dw, None))
    }
}

fn host<'a, T: candle_core::WithDType>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&s.as_slice::<T>()?[a..b]),
        None => candle_core::bail!("logprob head: input is not contiguous"),
    }
}

fn row_max<T: Float>(x: &[T]) -> T {
    x.iter().fold(T::neg_infinity(), |a, &b| a.max(b))
}

/// `x[t] - logsumexp(x)` of every row of `[n, V]` logits, in one pass per row.
struct PickLogprob;

fn pick_rows<T: Float + Send + Sync>(x: &[T], t: &[u32], v: usize) -> Result<Vec<T>> {
    if let Some(&bad) = t.iter().find(|&&t| t as usize >= v) {
        candle_core::bail!("logprob head: target id {bad} is not below the vocabulary size {v}");
    }
    Ok(x.par_chunks(v)
        .zip(t.par_iter())
        .with_min_len(8)
        .map(|(xi, &ti)| {
            let m = row_max(xi);
            let s = xi.iter().fold(T::zero(), |a, &b| a + (b - m).exp());
            xi[ti as usize] - m - s.ln()
        })
        .collect())
}

impl CustomOp2 for PickLogprob {
    fn name(&self) -> &'static str {
        "ouro-pick-logprob"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, v) = l1.shape().dims2()?;
        let t = host::<u32>(s2, l2)?;
        let out = by_float!(s1, "logprob head", |T| pick_rows(host::<T>(s1, l1)?, t, v)?);
        Ok((out, Shape::from(n)))
    }
}

/// `d logp / d logits = (onehot(t) - softmax(x)) * g`, row by row.
struct DLogits;

fn dlogit_rows<T: Float + Send + Sync>(x: &[T], t: &[u32], g: &[T], v: usize) -> Vec<T> {
    let mut out = vec![T::zero(); x.len()];
    out.par_chunks_mut(v)
        .zip(x.par_chunks(v).zip(t.par_iter().zip(g.par_iter())))
        .with_min_len(8)
        .for_each(|(o, (xi, (&ti, &gi)))| {
            let m = row_max(xi);
            let mut s = T::zero();
            for (oj, &xj) in o.iter_mut().zip(xi) {
                *oj = (xj - m).exp();
                s = s + *oj;
            }
            let c = -gi / s;
            o.iter_mut().for_each(|p| *p = *p * c);
            o[ti as usize] = o[ti as usize] + gi;
        });
    out
}

impl CustomOp3 for DLogits {
    fn name(&self) -> &'static str {
        "ouro-logprob-dlogits"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (_, v) = l1.shape().dims2()?;
        let t = host::<u32>(s2, l2)?;
        let out = by_float!(s1, "logprob head", |T| dlogit_rows(
            host::<T>(s1, l1)?,
            t,
            host::<T>(s3, l3)?,
            v
        ));
        Ok((out, l1.shape().clone()))
    }
}
