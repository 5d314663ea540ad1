//! Chunked per-token log-prob head: `log_softmax(h @ W^T)[target]` without ever
//! holding the full `[N, V]` logits. On CPU it is one custom op whose backward
//! recomputes each chunk's logits, so training memory is `O(chunk * V)` instead
//! of `O(N * V)`; elsewhere it is a chunked composition of candle ops.

use candle_core::{CpuStorage, CustomOp3, Device, Layout, Result, Shape, Tensor, D};

/// `h [N, H]`, `w [V, H]`, `targets [N] u32` -> `[N]` log-probs, differentiable in `h` and `w`.
pub fn chunked_logprobs(
    h: &Tensor,
    w: &Tensor,
    targets: &Tensor,
    chunk_elems: usize,
) -> Result<Tensor> {
    let v = w.dim(0)?;
    let rows = (chunk_elems / v.max(1)).max(1);
    if h.device().is_cpu() {
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
        let t = to_tensor(s3, l3)?;
        let out = composite(&h, &w, &t, self.rows)?;
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
            let tc = targets.narrow(0, start, len)?.unsqueeze(1)?;
            let gc = grad.narrow(0, start, len)?.unsqueeze(1)?;
            let logits = hc.matmul(&w.t()?)?;
            let p = crate::fused::softmax_last_dim(&logits)?;
            let onehot = Tensor::zeros((len, v), h.dtype(), h.device())?.scatter_add(
                &tc,
                &Tensor::ones((len, 1), h.dtype(), h.device())?,
                1,
            )?;
            let dlogits = (onehot - p)?.broadcast_mul(&gc)?;
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
