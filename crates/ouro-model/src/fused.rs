//! Fused CPU kernels with a hand-written backward pass: softmax over the last
//! dimension, RMSNorm, SwiGLU, and the attention pieces of [`attention`]. candle-transformers has fused versions of both, but
//! without `bwd`, so gradients silently stop at them (DESIGN §4). These run one
//! pass per row (rayon across rows) forward and backward; on other devices the
//! functions fall back to compositions of differentiable candle ops.

use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor, WithDType, D,
};
use num_traits::Float;
use rayon::prelude::*;

/// Evaluates `$body` with `$t` standing for `f32` or `f64`, as storage `$s` holds, and
/// wraps the `Vec` it returns in a `CpuStorage` of that type; other dtypes are an error
/// naming `$op`. Every fused op runs on both, so the f64 gradient checks cover them.
macro_rules! by_float {
    ($s:expr, $op:literal, |$t:ident| $body:expr) => {
        match $s {
            CpuStorage::F32(_) => {
                type $t = f32;
                CpuStorage::F32($body)
            }
            CpuStorage::F64(_) => {
                type $t = f64;
                CpuStorage::F64($body)
            }
            _ => candle_core::bail!(concat!($op, ": only f32/f64 are supported")),
        }
    };
}
pub(crate) use by_float;

mod attention;
pub(crate) use attention::pair;
pub use attention::{causal_softmax, rope_heads, RopeTables};

/// Rows handed to one rayon task; keeps scheduling overhead small for short rows.
const MIN_ROWS_PER_TASK: usize = 16;

fn slice<'a, T: WithDType>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&s.as_slice::<T>()?[a..b]),
        None => candle_core::bail!("fused op: input is not contiguous"),
    }
}

/// Softmax over the last dimension, differentiable.
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    if cpu_float(x) {
        x.contiguous()?.apply_op1(Softmax)
    } else if is_half(x.dtype()) {
        // Exponentials and the row sum in f32: bf16's 8-bit mantissa loses whole
        // probability mass over long rows.
        candle_nn::ops::softmax(&x.to_dtype(DType::F32)?, D::Minus1)?.to_dtype(x.dtype())
    } else {
        candle_nn::ops::softmax(x, D::Minus1)
    }
}

/// Whether the CPU kernels here can take `x` (they are written for f32 and f64 only).
pub(crate) fn cpu_float(x: &Tensor) -> bool {
    x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64)
}

pub(crate) fn is_half(d: DType) -> bool {
    matches!(d, DType::BF16 | DType::F16)
}

/// RMSNorm over the last dimension, differentiable in `x` and `w`.
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    if cpu_float(x) && w.dtype() == x.dtype() {
        x.contiguous()?.apply_op2(&w.contiguous()?, RmsNorm { eps })
    } else {
        rms_norm_composite(x, w, eps)
    }
}

/// `silu(g) * u`, differentiable in both.
pub fn swiglu(g: &Tensor, u: &Tensor) -> Result<Tensor> {
    if cpu_float(g) && g.shape() == u.shape() && g.dtype() == u.dtype() {
        g.contiguous()?.apply_op2(&u.contiguous()?, SwiGlu)
    } else {
        swiglu_composite(g, u)
    }
}

/// The reference SwiGLU from plain candle ops.
pub fn swiglu_composite(g: &Tensor, u: &Tensor) -> Result<Tensor> {
    g.silu()?.mul(u)
}

/// The reference RMSNorm from plain candle ops (used off-CPU and in tests).
pub fn rms_norm_composite(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    // The mean square of a half-precision row is taken in f32, as torch's Llama does.
    let dt = x.dtype();
    let xf = if is_half(dt) {
        x.to_dtype(DType::F32)?
    } else {
        x.clone()
    };
    let ms = xf.sqr()?.mean_keepdim(D::Minus1)?;
    let r = (ms + eps)?.sqrt()?.recip()?;
    xf.broadcast_mul(&r)?.to_dtype(dt)?.broadcast_mul(w)
}

fn softmax_rows<T: Float + Send + Sync>(x: &[T], n: usize) -> Vec<T> {
    let mut out = vec![T::zero(); x.len()];
    out.par_chunks_mut(n)
        .zip(x.par_chunks(n))
        .with_min_len(MIN_ROWS_PER_TASK)
        .for_each(|(o, xi)| {
            let m = xi.iter().fold(T::neg_infinity(), |a, &b| a.max(b));
            let mut s = T::zero();
            for (oj, &xj) in o.iter_mut().zip(xi) {
                *oj = (xj - m).exp();
                s = s + *oj;
            }
            let inv = T::one() / s;
            o.iter_mut().for_each(|v| *v = *v * inv);
        });
    out
}

fn softmax_bwd_rows<T: Float + Send + Sync>(y: &[T], g: &[T], n: usize) -> Vec<T> {
    let mut out = vec![T::zero(); y.len()];
    out.par_chunks_mut(n)
        .zip(y.par_chunks(n).zip(g.par_chunks(n)))
        .with_min_len(MIN_ROWS_PER_TASK)
        .for_each(|(o, (yi, gi))| {
            let dot = yi.iter().zip(gi).fold(T::zero(), |a, (&y, &g)| a + y * g);
            for ((oj, &yj), &gj) in o.iter_mut().zip(yi).zip(gi) {
                *oj = yj * (gj - dot);
            }
        });
    out
}

fn inv_rms<T: Float>(x: &[T], eps: T) -> T {
    let n = T::from(x.len()).expect("len fits");
    let ss = x.iter().fold(T::zero(), |a, &v| a + v * v);
    T::one() / (ss / n + eps).sqrt()
}

fn rms_rows<T: Float + Send + Sync>(x: &[T], w: &[T], eps: T) -> Vec<T> {
    let n = w.len();
    let mut out = vec![T::zero(); x.len()];
    out.par_chunks_mut(n)
        .zip(x.par_chunks(n))
        .with_min_len(MIN_ROWS_PER_TASK)
        .for_each(|(o, xi)| {
            let r = inv_rms(xi, eps);
            for ((oj, &xj), &wj) in o.iter_mut().zip(xi).zip(w) {
                *oj = xj * r * wj;
            }
        });
    out
}

/// dx_j = r * g_j * w_j - r^3 * x_j / H * sum_i g_i w_i x_i
fn rms_bwd_x_rows<T: Float + Send + Sync>(x: &[T], w: &[T], g: &[T], eps: T) -> Vec<T> {
    let n = w.len();
    let nf = T::from(n).expect("len fits");
    let mut out = vec![T::zero(); x.len()];
    out.par_chunks_mut(n)
        .zip(x.par_chunks(n).zip(g.par_chunks(n)))
        .with_min_len(MIN_ROWS_PER_TASK)
        .for_each(|(o, (xi, gi))| {
            let r = inv_rms(xi, eps);
            let mut dot = T::zero();
            for ((&xj, &gj), &wj) in xi.iter().zip(gi).zip(w) {
                dot = dot + gj * wj * xj;
            }
            let c = r * r * r * dot / nf;
            for (((oj, &xj), &gj), &wj) in o.iter_mut().zip(xi).zip(gi).zip(w) {
                *oj = r * gj * wj - c * xj;
            }
        });
    out
}

/// dw_j = sum over rows of g_j * x_j * r
fn rms_bwd_w_rows<T: Float + Send + Sync>(x: &[T], g: &[T], n: usize, eps: T) -> Vec<T> {
    x.par_chunks(n)
        .zip(g.par_chunks(n))
        .with_min_len(MIN_ROWS_PER_TASK)
        .fold(
            || vec![T::zero(); n],
            |mut acc, (xi, gi)| {
                let r = inv_rms(xi, eps);
                for ((a, &xj), &gj) in acc.iter_mut().zip(xi).zip(gi) {
                    *a = *a + gj * xj * r;
                }
                acc
            },
        )
        .reduce(
            || vec![T::zero(); n],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x = *x + y);
                a
            },
        )
}

fn last_dim(l: &Layout) -> Result<usize> {
    l.shape()
        .dims()
        .last()
        .copied()
        .ok_or_else(|| candle_core::Error::Msg("fused op: scalar input".into()))
}

struct Softmax;

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "ouro-softmax-last-dim"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let n = last_dim(l)?;
        let out = by_float!(s, "ouro softmax", |T| softmax_rows(slice::<T>(s, l)?, n));
        Ok((out, l.shape().clone()))
    }
    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let g = res.apply_op2_no_bwd(&grad.contiguous()?, &SoftmaxBwd)?;
        Ok(Some(g))
    }
}

struct SoftmaxBwd;

impl CustomOp2 for SoftmaxBwd {
    fn name(&self) -> &'static str {
        "ouro-softmax-bwd"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let n = last_dim(l1)?;
        let out = by_float!(s1, "ouro softmax bwd", |T| softmax_bwd_rows(
            slice::<T>(s1, l1)?,
            slice::<T>(s2, l2)?,
            n
        ));
        Ok((out, l1.shape().clone()))
    }
}

struct RmsNorm {
    eps: f64,
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "ouro-rms-norm"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        if last_dim(l1)? != l2.shape().elem_count() {
            candle_core::bail!(
                "ouro rms_norm: weight {:?} does not match input {:?}",
                l2.shape(),
                l1.shape()
            );
        }
        let out = by_float!(s1, "ouro rms_norm", |T| rms_rows(
            slice::<T>(s1, l1)?,
            slice::<T>(s2, l2)?,
            self.eps as T
        ));
        Ok((out, l1.shape().clone()))
    }
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let dx = x.apply_op3_no_bwd(w, &grad, &RmsNormBwdX { eps: self.eps })?;
        let dw = x.apply_op2_no_bwd(&grad, &RmsNormBwdW { eps: self.eps })?;
        Ok((Some(dx), Some(dw)))
    }
}

struct RmsNormBwdX {
    eps: f64,
}

impl CustomOp3 for RmsNormBwdX {
    fn name(&self) -> &'static str {
        "ouro-rms-norm-bwd-x"
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
        let out = by_float!(s1, "ouro rms_norm bwd", |T| rms_bwd_x_rows(
            slice::<T>(s1, l1)?,
            slice::<T>(s2, l2)?,
            slice::<T>(s3, l3)?,
            self.eps as T
        ));
        Ok((out, l1.shape().clone()))
    }
}

struct RmsNormBwdW {
    eps: f64,
}

impl CustomOp2 for RmsNormBwdW {
    fn name(&self) -> &'static str {
        "ouro-rms-norm-bwd-w"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let n = last_dim(l1)?;
        let out = by_float!(s1, "ouro rms_norm bwd", |T| rms_bwd_w_rows(
            slice::<T>(s1, l1)?,
            slice::<T>(s2, l2)?,
            n,
            self.eps as T
        ));
        Ok((out, Shape::from(n)))
    }
}

/// Elementwise `f(g_i, u_i, grad_i)` over three equal-length slices, in parallel.
fn zip3<T: Float + Send + Sync>(
    a: &[T],
    b: &[T],
    c: &[T],
    f: impl Fn(T, T, T) -> T + Sync,
) -> Vec<T> {
    const CHUNK: usize = 4096;
    let mut out = vec![T::zero(); a.len()];
    out.par_chunks_mut(CHUNK)
        .zip(a.par_chunks(CHUNK))
        .zip(b.par_chunks(CHUNK).zip(c.par_chunks(CHUNK)))
        .for_each(|((o, a), (b, c))| {
            for (((o, &a), &b), &c) in o.iter_mut().zip(a).zip(b).zip(c) {
                *o = f(a, b, c);
            }
        });
    out
}

#[inline]
fn sigmoid<T: Float>(x: T) -> T {
    T::one() / (T::one() + (-x).exp())
}

struct SwiGlu;

impl CustomOp2 for SwiGlu {
    fn name(&self) -> &'static str {
        "ouro-swiglu"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        fn f<T: Float + Send + Sync>(g: &[T], u: &[T]) -> Vec<T> {
            zip3(g, u, u, |g, u, _| g * sigmoid(g) * u)
        }
        let out = by_float!(s1, "ouro swiglu", |T| f(
            slice::<T>(s1, l1)?,
            slice::<T>(s2, l2)?
        ));
        Ok((out, l1.shape().clone()))
    }
    fn bwd(
        &self,
        g: &Tensor,
        u: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let dg = g.apply_op3_no_bwd(u, &grad, &SwiGluBwd { wrt_gate: true })?;
        let du = g.apply_op3_no_bwd(u, &grad, &SwiGluBwd { wrt_gate: false })?;
        Ok((Some(dg), Some(du)))
    }
}

/// d/dg: `grad * u * s * (1 + g (1 - s))` with `s = sigmoid(g)`; d/du: `grad * g * s`.
struct SwiGluBwd {
    wrt_gate: bool,
}

impl CustomOp3 for SwiGluBwd {
    fn name(&self) -> &'static str {
        "ouro-swiglu-bwd"
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
        fn f<T: Float + Send + Sync>(g: &[T], u: &[T], d: &[T], wrt_gate: bool) -> Vec<T> {
            if wrt_gate {
                zip3(g, u, d, |g, u, d| {
                    let s = sigmoid(g);
                    d * u * s * (T::one() + g * (T::one() - s))
                })
            } else {
                zip3(g, u, d, |g, _, d| d * g * sigmoid(g))
            }
        }
        let out = by_float!(s1, "ouro swiglu bwd", |T| f(
            slice::<T>(s1, l1)?,
            slice::<T>(s2, l2)?,
            slice::<T>(s3, l3)?,
            self.wrt_gate
        ));
        Ok((out, l1.shape().clone()))
    }
}
