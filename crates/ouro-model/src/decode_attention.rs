//! Attention of one new token per sequence over the KV cache, without autograd.
//!
//! Through candle this is a batched matmul per step whose keys get repacked by gemm, an
//! additive mask, a softmax and a second matmul, each allocating. Here every (sequence,
//! kv head) task dots its query heads against the cached keys in place (they are
//! contiguous rows of the cache buffer), softmaxes, and sums the value rows.

use candle_core::{Layout, Result, Storage, Tensor};
use rayon::prelude::*;

use crate::fused::pair;
use crate::rows_matmul::dots;

/// `softmax(q K^T * scale + bias) V` for `q [B, H, 1, D]` and `k`, `v` `[B, KV, L, D]`
/// (views whose rows are contiguous, such as the cache's), `bias [B, 1, 1, L]` additive
/// (0 or -inf) or none. Returns `[B, H, 1, D]`, or `None` outside f32 on CPU.
pub fn decode_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    bias: Option<&Tensor>,
    scale: f64,
) -> Result<Option<Tensor>> {
    let (b, nh, t, d) = q.dims4()?;
    let (_, nkv, len, _) = k.dims4()?;
    if t != 1 || !q.device().is_cpu() || nh % nkv != 0 {
        return Ok(None);
    }
    let q = q.contiguous()?;
    let bias: Option<Vec<f32>> = match bias {
        Some(m) => Some(
            m.to_dtype(candle_core::DType::F32)?
                .flatten_all()?
                .to_vec1()?,
        ),
        None => None,
    };
    if bias.as_ref().is_some_and(|m| m.len() != b * len) {
        return Ok(None);
    }
    let (qg, ql) = q.storage_and_layout();
    let (kg, kl) = k.storage_and_layout();
    let (vg, vl) = v.storage_and_layout();
    let (Some(qs), Some(kr), Some(vr)) = (f32s(&qg), rows(&kg, kl, d), rows(&vg, vl, d)) else {
        return Ok(None);
    };
    let qs = &qs[ql.start_offset()..];
    let rep = nh / nkv;
    let mut out = vec![0.0f32; b * nh * d];
    out.par_chunks_mut(rep * d).enumerate().for_each(|(bk, o)| {
        let (bi, h) = (bk / nkv, bk % nkv);
        let keys = kr.head(bi, h, len);
        let vals = vr.head(bi, h, len);
        let qh = &qs[bk * rep * d..][..rep * d];
        // scores as [len, rep]: key j's dot with each query head of the group.
        let mut s = vec![0.0f32; len * rep];
        dots(qh, rep, d, keys, &mut s);
        for r in 0..rep {
            let mut mx = f32::NEG_INFINITY;
            for j in 0..len {
                let m = bias.as_ref().map_or(0.0, |m| m[bi * len + j]);
                let x = s[j * rep + r] * scale as f32 + m;
                s[j * rep + r] = x;
                mx = mx.max(x);
            }
            let mut sum = 0.0f32;
            for j in 0..len {
                let e = (s[j * rep + r] - mx).exp();
                s[j * rep + r] = e;
                sum += e;
            }
            let or = &mut o[r * d..(r + 1) * d];
            for (j, vrow) in vals.chunks_exact(d).enumerate() {
                let p = s[j * rep + r] / sum;
                for (a, &x) in or.iter_mut().zip(vrow) {
                    *a += p * x;
                }
            }
        }
    });
    drop((qg, kg, vg));
    Ok(Some(Tensor::from_vec(out, (b, nh, 1, d), q.device())?))
}

/// RoPE of the generation step without autograd: `x [B, T, H, D]` -> `[B, H, T, D]`
/// rotated by `cos`/`sin` `[B, 1, T, D/2]` (per-row positions). The candle composition
/// is nine ops on strided views per call, twice per layer and step. `None` outside f32
/// on CPU.
pub fn decode_rope(
    x: &Tensor,
    cos: &Tensor,
    sin: &Tensor,
    interleaved: bool,
) -> Result<Option<Tensor>> {
    let (b, t, h, d) = x.dims4()?;
    let half = d / 2;
    if !x.device().is_cpu()
        || x.dtype() != candle_core::DType::F32
        || cos.elem_count() != b * t * half
    {
        return Ok(None);
    }
    let xs: Vec<f32> = x.flatten_all()?.to_vec1()?;
    let cs: Vec<f32> = cos
        .to_dtype(candle_core::DType::F32)?
        .flatten_all()?
        .to_vec1()?;
    let sn: Vec<f32> = sin
        .to_dtype(candle_core::DType::F32)?
        .flatten_all()?
        .to_vec1()?;
    let mut out = vec![0.0f32; xs.len()];
    for bi in 0..b {
        for ti in 0..t {
            let tab = (bi * t + ti) * half;
            for hi in 0..h {
                let src = &xs[((bi * t + ti) * h + hi) * d..][..d];
                let dst = &mut out[((bi * h + hi) * t + ti) * d..][..d];
                for i in 0..half {
                    let (ia, ib) = pair(i, half, interleaved);
                    let (c, s) = (cs[tab + i], sn[tab + i]);
                    dst[ia] = src[ia] * c - src[ib] * s;
                    dst[ib] = src[ib] * c + src[ia] * s;
                }
            }
        }
    }
    Ok(Some(Tensor::from_vec(out, (b, h, t, d), x.device())?))
}

fn f32s(g: &Storage) -> Option<&[f32]> {
    match g {
        Storage::Cpu(candle_core::CpuStorage::F32(v)) => Some(v),
        _ => None,
    }
}

/// A `[B, KV, L, D]` view whose `[L, D]` blocks are contiguous.
struct Rows<'a> {
    data: &'a [f32],
    start: usize,
    stride: [usize; 2],
    d: usize,
}

fn rows<'a>(g: &'a Storage, l: &Layout, d: usize) -> Option<Rows<'a>> {
    let s = l.stride();
    if s.len() != 4 || s[3] != 1 || s[2] != d {
        return None;
    }
    Some(Rows {
        data: f32s(g)?,
        start: l.start_offset(),
        stride: [s[0], s[1]],
        d,
    })
}

impl<'a> Rows<'a> {
    /// The first `len` rows of sequence `b`, head `h`.
    fn head(&self, b: usize, h: usize, len: usize) -> &'a [f32] {
        let base = self.start + b * self.stride[0] + h * self.stride[1];
        &self.data[base..base + len * self.d]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    #[test]
    fn decode_rope_matches_the_candle_composition() {
        let dev = Device::Cpu;
        let (b, t, h, d) = (2, 3, 4, 8);
        let x = crate::init::seeded_normal((b, t, h, d), (0.0, 1.0), 1, &dev).unwrap();
        let pos: Vec<u32> = vec![5, 6, 7, 0, 1, 2];
        let inv: Vec<f64> = (0..d / 2)
            .map(|i| 1.0 / 10000f64.powf(2.0 * i as f64 / d as f64))
            .collect();
        let (cos, sin) =
            crate::ops::rope_tables(&inv, &pos, candle_core::DType::F32, &dev).unwrap();
        let (cos, sin) = (
            cos.reshape((b, 1, t, d / 2)).unwrap(),
            sin.reshape((b, 1, t, d / 2)).unwrap(),
        );
        for il in [false, true] {
            let got = decode_rope(&x, &cos, &sin, il).unwrap().unwrap();
            let xt = x.transpose(1, 2).unwrap().contiguous().unwrap();
            let want = crate::ops::apply_rope(&xt, &cos, &sin, il).unwrap();
            let e = (got - want).unwrap().abs().unwrap().max_all().unwrap();
            assert!(e.to_scalar::<f32>().unwrap() < 1e-6, "interleaved {il}");
        }
    }

    #[test]
    fn matches_the_candle_composition_with_a_mask() {
        let dev = Device::Cpu;
        let (b, nh, nkv, len, d) = (2, 6, 2, 9, 8);
        let q = crate::init::seeded_normal((b, nh, 1, d), (0.0, 1.0), 2, &dev).unwrap();
        // Keys/values as views of a larger buffer, like the KV cache's.
        let kb = crate::init::seeded_normal((b, nkv, len + 5, d), (0.0, 1.0), 3, &dev).unwrap();
        let vb = crate::init::seeded_normal((b, nkv, len + 5, d), (0.0, 1.0), 4, &dev).unwrap();
        let (k, v) = (kb.narrow(2, 0, len).unwrap(), vb.narrow(2, 0, len).unwrap());
        let mut m = vec![0f32; b * len];
        m[0] = f32::NEG_INFINITY; // left padding of row 0
        m[1] = f32::NEG_INFINITY;
        let bias = Tensor::from_vec(m, (b, 1, 1, len), &dev).unwrap();
        let scale = 1.0 / (d as f64).sqrt();
        let got = decode_attention(&q, &k, &v, Some(&bias), scale)
            .unwrap()
            .unwrap();
        let rep = nh / nkv;
        let qg = q.reshape((b, nkv, rep, d)).unwrap();
        let s = (qg.matmul(&k.t().unwrap()).unwrap() * scale).unwrap();
        let s = s
            .broadcast_add(&bias.reshape((b, 1, 1, len)).unwrap())
            .unwrap();
        let p = candle_nn::ops::softmax_last_dim(&s).unwrap();
        let want = p
            .matmul(&v.contiguous().unwrap())
            .unwrap()
            .reshape((b, nh, 1, d))
            .unwrap();
        let e = (got - want).unwrap().abs().unwrap().max_all().unwrap();
        assert!(e.to_scalar::<f32>().unwrap() < 1e-5);
    }
}
