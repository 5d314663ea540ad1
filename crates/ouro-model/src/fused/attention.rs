//! Fused CPU pieces of training attention, each with its backward:
//!
//! - [`rope_heads`]: rotary embedding and the `[B, T, H, D] -> [B, H, T, D]` transpose in
//!   one pass (the unfused path needs a copy, two narrows, four multiplies and a concat,
//!   forward and backward).
//! - [`causal_softmax`]: scale, causal / key-padding mask and softmax of attention scores
//!   in one pass, so no `[B, H, T, T]` bias or scaled copy is ever materialised.
//!
//! The score and value products stay candle matmuls (gemm), which already run near peak.

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use num_traits::Float;
use rayon::prelude::*;

use super::slice;

/// cos/sin of positions `0..T`, `[T, half]` row-major, shared by every layer of a forward.
#[derive(Clone)]
pub struct RopeTables {
    cos: Arc<Vec<f64>>,
    sin: Arc<Vec<f64>>,
    half: usize,
    interleaved: bool,
}

impl RopeTables {
    /// The tables as f32, `[T, half]` each, with `(half, interleaved)`.
    pub(crate) fn to_f32(&self) -> (Vec<f32>, Vec<f32>, usize, bool) {
        let f = |v: &[f64]| v.iter().map(|&x| x as f32).collect();
        (f(&self.cos), f(&self.sin), self.half, self.interleaved)
    }

    /// Tables for positions `0..t` from the model's inverse frequencies.
    pub fn new(inv_freq: &[f64], t: usize, interleaved: bool) -> Self {
        let half = inv_freq.len();
        let mut cos = Vec::with_capacity(t * half);
        let mut sin = Vec::with_capacity(t * half);
        for p in 0..t {
            for &f in inv_freq {
                let a = p as f64 * f;
                cos.push(a.cos());
                sin.push(a.sin());
            }
        }
        Self {
            cos: Arc::new(cos),
            sin: Arc::new(sin),
            half,
            interleaved,
        }
    }
}

/// Rotary embedding of `x [B, T, H, D]` at positions `0..T`, returned as `[B, H, T, D]`.
pub fn rope_heads(x: &Tensor, tables: &RopeTables) -> Result<Tensor> {
    x.contiguous()?.apply_op1(RopeHeads(tables.clone()))
}

/// `softmax(scale * s + mask)` over the last dim of `scores [B, H, T, Tk]` (queries at
/// positions `Tk - T .. Tk`). Query `i` sees key `j` when `j <= Tk - T + i` and, if
/// `key_valid` (`[B][Tk]`) is given, key `j` is a real token or the query itself, exactly
/// as [`crate::ops::attention_bias`].
pub fn causal_softmax(
    scores: &Tensor,
    scale: f64,
    key_valid: Option<Arc<Vec<Vec<bool>>>>,
) -> Result<Tensor> {
    scores
        .contiguous()?
        .apply_op1(CausalSoftmax { scale, key_valid })
}

/// Pair `(a, b)` indices of rotation `i` within a head of `d` values.
#[inline]
pub(crate) fn pair(i: usize, half: usize, interleaved: bool) -> (usize, usize) {
    if interleaved {
        (2 * i, 2 * i + 1)
    } else {
        (i, i + half)
    }
}

struct RopeHeads(RopeTables);

impl RopeHeads {
    fn fwd<T: Float + Send + Sync>(&self, x: &[T], dims: &[usize]) -> Vec<T> {
        let (b, t, h, d) = (dims[0], dims[1], dims[2], dims[3]);
        let tb = &self.0;
        let mut out = vec![T::zero(); x.len()];
        // One task per (b, h): writes rows t of out[b, h] from x[b, t, h].
        out.par_chunks_mut(t * d).enumerate().for_each(|(bh, o)| {
            let (bi, hi) = (bh / h, bh % h);
            for ti in 0..t {
                let src = &x[((bi * t + ti) * h + hi) * d..][..d];
                let dst = &mut o[ti * d..][..d];
                for i in 0..tb.half {
                    let c = T::from(tb.cos[ti * tb.half + i]).expect("f64 -> float");
                    let s = T::from(tb.sin[ti * tb.half + i]).expect("f64 -> float");
                    let (ia, ib) = pair(i, tb.half, tb.interleaved);
                    dst[ia] = src[ia] * c - src[ib] * s;
                    dst[ib] = src[ib] * c + src[ia] * s;
                }
            }
        });
        let _ = b;
        out
    }

    /// Inverse rotation of `g [B, H, T, D]` back to `[B, T, H, D]`.
    fn bwd<T: Float + Send + Sync>(&self, g: &[T], dims: &[usize]) -> Vec<T> {
        let (t, h, d) = (dims[1], dims[2], dims[3]);
        let tb = &self.0;
        let mut out = vec![T::zero(); g.len()];
        // One task per (b, t): writes out[b, t, :, :].
        out.par_chunks_mut(h * d)
            .enumerate()
            .with_min_len(8)
            .for_each(|(bt, o)| {
                let (bi, ti) = (bt / t, bt % t);
                for hi in 0..h {
                    let src = &g[((bi * h + hi) * t + ti) * d..][..d];
                    let dst = &mut o[hi * d..][..d];
                    for i in 0..tb.half {
                        let c = T::from(tb.cos[ti * tb.half + i]).expect("f64 -> float");
                        let s = T::from(tb.sin[ti * tb.half + i]).expect("f64 -> float");
                        let (ia, ib) = pair(i, tb.half, tb.interleaved);
                        dst[ia] = src[ia] * c + src[ib] * s;
                        dst[ib] = src[ib] * c - src[ia] * s;
                    }
                }
            });
        out
    }
}

fn dims4(l: &Layout, what: &str) -> Result<Vec<usize>> {
    let dims = l.shape().dims().to_vec();
    if dims.len() != 4 {
        candle_core::bail!("{what}: expected a rank-4 tensor, got {:?}", l.shape());
    }
    Ok(dims)
}

impl CustomOp1 for RopeHeads {
    fn name(&self) -> &'static str {
        "ouro-rope-heads"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let dims = dims4(l, "rope_heads")?;
        if dims[3] != 2 * self.0.half || self.0.cos.len() < dims[1] * self.0.half {
            candle_core::bail!(
                "rope_heads: input {:?} does not match tables of {} positions x {}",
                l.shape(),
                self.0.cos.len() / self.0.half.max(1),
                self.0.half
            );
        }
        let out = by_float!(s, "rope_heads", |T| self.fwd(slice::<T>(s, l)?, &dims));
        Ok((out, Shape::from((dims[0], dims[2], dims[1], dims[3]))))
    }
    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let dims = arg.dims().to_vec();
        let g = grad
            .contiguous()?
            .apply_op1_no_bwd(&RopeHeadsBwd(RopeHeads(self.0.clone()), dims))?;
        Ok(Some(g))
    }
}

/// Backward of [`RopeHeads`]; carries the forward input's `[B, T, H, D]` dims.
struct RopeHeadsBwd(RopeHeads, Vec<usize>);

impl CustomOp1 for RopeHeadsBwd {
    fn name(&self) -> &'static str {
        "ouro-rope-heads-bwd"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let dims = &self.1;
        let out = by_float!(s, "rope_heads bwd", |T| self.0.bwd(slice::<T>(s, l)?, dims));
        Ok((out, Shape::from(dims.clone())))
    }
}

struct CausalSoftmax {
    scale: f64,
    key_valid: Option<Arc<Vec<Vec<bool>>>>,
}

impl CausalSoftmax {
    /// Number of keys row `i` of batch `bi` may see, and whether key `j` is masked by padding.
    fn check(&self, dims: &[usize]) -> Result<()> {
        if let Some(kv) = &self.key_valid {
            if kv.len() != dims[0] || kv.iter().any(|r| r.len() != dims[3]) {
                candle_core::bail!(
                    "causal_softmax: key_valid is not [{}][{}]",
                    dims[0],
                    dims[3]
                );
            }
        }
        if dims[2] > dims[3] {
            candle_core::bail!("causal_softmax: more queries than keys in {dims:?}");
        }
        Ok(())
    }

    fn fwd<T: Float + Send + Sync>(&self, x: &[T], dims: &[usize]) -> Vec<T> {
        let (h, t, tk) = (dims[1], dims[2], dims[3]);
        let past = tk - t;
        let scale = T::from(self.scale).expect("f64 -> float");
        let mut out = vec![T::zero(); x.len()];
        out.par_chunks_mut(tk)
            .zip(x.par_chunks(tk))
            .enumerate()
            .with_min_len(32)
            .for_each(|(r, (o, xi))| {
                let bi = r / (h * t);
                let i = r % t;
                let last = past + i;
                let valid = self.key_valid.as_ref().map(|kv| &kv[bi]);
                let seen = |j: usize| valid.is_none_or(|v| v[j] || j == last);
                let mut m = T::neg_infinity();
                for (j, &xj) in xi[..=last].iter().enumerate() {
                    if seen(j) {
                        m = m.max(xj);
                    }
                }
                let mut s = T::zero();
                for (j, (oj, &xj)) in o[..=last].iter_mut().zip(xi).enumerate() {
                    if seen(j) {
                        *oj = ((xj - m) * scale).exp();
                        s = s + *oj;
                    }
                }
                let inv = T::one() / s;
                o[..=last].iter_mut().for_each(|v| *v = *v * inv);
            });
        out
    }
}

impl CustomOp1 for CausalSoftmax {
    fn name(&self) -> &'static str {
        "ouro-causal-softmax"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let dims = dims4(l, "causal_softmax")?;
        self.check(&dims)?;
        if self.scale <= 0.0 {
            candle_core::bail!("causal_softmax: scale must be positive");
        }
        let out = by_float!(s, "causal_softmax", |T| self.fwd(slice::<T>(s, l)?, &dims));
        Ok((out, l.shape().clone()))
    }
    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let g = res.apply_op2_no_bwd(&grad.contiguous()?, &ScaledSoftmaxBwd(self.scale))?;
        Ok(Some(g))
    }
}

/// `dx = scale * p * (g - sum(p * g))` row by row; masked entries have `p = 0`.
struct ScaledSoftmaxBwd(f64);

fn scaled_softmax_bwd<T: Float + Send + Sync>(p: &[T], g: &[T], n: usize, scale: T) -> Vec<T> {
    let mut out = vec![T::zero(); p.len()];
    out.par_chunks_mut(n)
        .zip(p.par_chunks(n).zip(g.par_chunks(n)))
        .with_min_len(32)
        .for_each(|(o, (pi, gi))| {
            let dot = pi.iter().zip(gi).fold(T::zero(), |a, (&p, &g)| a + p * g);
            for ((oj, &pj), &gj) in o.iter_mut().zip(pi).zip(gi) {
                *oj = scale * pj * (gj - dot);
            }
        });
    out
}

impl CustomOp2 for ScaledSoftmaxBwd {
    fn name(&self) -> &'static str {
        "ouro-causal-softmax-bwd"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let n = *l1.shape().dims().last().unwrap_or(&1);
        let out = by_float!(s1, "causal_softmax bwd", |T| scaled_softmax_bwd(
            slice::<T>(s1, l1)?,
            slice::<T>(s2, l2)?,
            n,
            self.0 as T
        ));
        Ok((out, l1.shape().clone()))
    }
}
