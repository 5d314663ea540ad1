//! f32 CPU kernels of the hand-written training pass: strided GEMM, a buffer pool, RMSNorm,
//! RoPE and SwiGLU, forward and backward, over plain row-major slices.
//!
//! Every reduction runs over fixed row blocks summed in block order, so results do not
//! depend on the number of threads or on scheduling (training is bitwise reproducible).

use gemm::Parallelism;
use rayon::prelude::*;
use std::sync::Mutex;

use crate::fused::pair;

/// Rows per task of the row-parallel kernels and per partial sum of the reductions.
const ROWS: usize = 16;

/// A matrix operand: `data[r * rs + c * cs]` is element `(r, c)`.
#[derive(Clone, Copy)]
pub struct M<'a> {
    pub data: &'a [f32],
    pub rs: isize,
    pub cs: isize,
}

/// Row-major `rows x cols` view with row stride `ld`.
pub fn rm(data: &[f32], ld: usize) -> M<'_> {
    M {
        data,
        rs: ld as isize,
        cs: 1,
    }
}

/// The transpose of a row-major matrix with row stride `ld`.
pub fn tr(data: &[f32], ld: usize) -> M<'_> {
    M {
        data,
        rs: 1,
        cs: ld as isize,
    }
}

/// Highest offset touched by an `m x n` view, to bounds-check before handing raw pointers
/// to gemm.
fn extent(m: usize, n: usize, rs: isize, cs: isize) -> usize {
    if m == 0 || n == 0 {
        return 0;
    }
    (m as isize - 1) as usize * rs.unsigned_abs() + (n as isize - 1) as usize * cs.unsigned_abs()
}

/// `dst[m x n] (row stride ldd) = (acc ? dst : 0) + a[m x k] * b[k x n]`.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    ldd: usize,
    acc: bool,
    a: M,
    b: M,
    parallel: bool,
) {
    // SAFETY: `dst` is exclusively borrowed and its length is passed along.
    unsafe {
        gemm_ptr(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst.len(),
            ldd,
            acc,
            a,
            b,
            parallel,
        )
    }
}

/// [`gemm`] into `dst_len` floats at `dst`.
///
/// # Safety
/// `dst..dst + dst_len` must be valid for writes, and no other thread may access the
/// elements of the `m x n` view while this runs.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gemm_ptr(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_len: usize,
    ldd: usize,
    acc: bool,
    a: M,
    b: M,
    parallel: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        dst_len > extent(m, n, ldd as isize, 1),
        "gemm: dst too small"
    );
    assert!(
        k == 0 || a.data.len() > extent(m, k, a.rs, a.cs),
        "gemm: lhs too small"
    );
    assert!(
        k == 0 || b.data.len() > extent(k, n, b.rs, b.cs),
        "gemm: rhs too small"
    );
    if k == 0 {
        if !acc {
            for r in 0..m {
                std::slice::from_raw_parts_mut(dst.add(r * ldd), n).fill(0.0);
            }
        }
        return;
    }
    let par = if parallel && rayon::current_num_threads() > 1 {
        Parallelism::Rayon(rayon::current_num_threads())
    } else {
        Parallelism::None
    };
    gemm::gemm(
        m,
        n,
        k,
        dst,
        1,
        ldd as isize,
        acc,
        a.data.as_ptr(),
        a.cs,
        a.rs,
        b.data.as_ptr(),
        b.cs,
        b.rs,
        1.0,
        1.0,
        false,
        false,
        false,
        par,
    )
}

/// Reuses activation buffers across passes: fresh multi-megabyte allocations cost a page
/// fault per 4 KiB on first touch, which at this scale is as slow as the arithmetic.
static POOL: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());

/// A buffer of `len` floats with unspecified contents (callers overwrite every element).
pub fn take(len: usize) -> Vec<f32> {
    let mut pool = POOL.lock().expect("buffer pool");
    let best = pool
        .iter()
        .enumerate()
        .filter(|(_, v)| v.capacity() >= len)
        .min_by_key(|(_, v)| v.capacity())
        .map(|(i, _)| i);
    match best {
        Some(i) => {
            let mut v = pool.swap_remove(i);
            drop(pool);
            if v.len() >= len {
                v.truncate(len);
            } else {
                v.resize(len, 0.0);
            }
            v
        }
        None => {
            drop(pool);
            vec![0.0; len]
        }
    }
}

/// Frees every pooled buffer (after training, before the process does something else).
pub fn release_pool() {
    POOL.lock().expect("buffer pool").clear();
}

/// A zero-filled buffer of `len` floats.
pub fn take_zeroed(len: usize) -> Vec<f32> {
    let mut v = take(len);
    v.par_chunks_mut(1 << 14).for_each(|c| c.fill(0.0));
    v
}

/// Returns buffers to the pool (kept up to a bound, so a one-off huge pass does not pin
/// memory forever).
pub fn give(bufs: impl IntoIterator<Item = Vec<f32>>) {
    let mut pool = POOL.lock().expect("buffer pool");
    for b in bufs {
        if b.capacity() > 0 && pool.len() < 512 {
            pool.push(b);
        }
    }
}

fn inv_rms(x: &[f32], eps: f32) -> f32 {
    let ss: f32 = x.iter().map(|v| v * v).sum();
    1.0 / (ss / x.len() as f32 + eps).sqrt()
}

/// `y = x * inv_rms(x) * w` per row of width `w.len()`; returns the per-row `inv_rms`.
pub fn rms_fwd(x: &[f32], w: &[f32], eps: f32, y: &mut [f32]) -> Vec<f32> {
    let d = w.len();
    let mut inv = vec![0.0f32; x.len() / d];
    y.par_chunks_mut(d * ROWS)
        .zip(x.par_chunks(d * ROWS))
        .zip(inv.par_chunks_mut(ROWS))
        .for_each(|((yb, xb), ib)| {
            for ((yr, xr), i) in yb.chunks_mut(d).zip(xb.chunks(d)).zip(ib.iter_mut()) {
                *i = inv_rms(xr, eps);
                for ((o, &a), &g) in yr.iter_mut().zip(xr).zip(w) {
                    *o = a * *i * g;
                }
            }
        });
    inv
}

/// RMSNorm backward: `dx += dx_norm(dy)` and `dw += sum_rows dy * x * inv`.
pub fn rms_bwd(x: &[f32], w: &[f32], inv: &[f32], dy: &[f32], dx: &mut [f32], dw: &mut [f32]) {
    let d = w.len();
    let partials: Vec<Vec<f32>> = dx
        .par_chunks_mut(d * ROWS)
        .zip(x.par_chunks(d * ROWS))
        .zip(dy.par_chunks(d * ROWS))
        .zip(inv.par_chunks(ROWS))
        .map(|(((dxb, xb), gb), ib)| {
            let mut part = vec![0.0f32; d];
            for (((dxr, xr), gr), &r) in dxb
                .chunks_mut(d)
                .zip(xb.chunks(d))
                .zip(gb.chunks(d))
                .zip(ib)
            {
                let mut dot = 0.0f32;
                for ((&xj, &gj), &wj) in xr.iter().zip(gr).zip(w) {
                    dot += gj * wj * xj;
                }
                let c = r * r * r * dot / d as f32;
                for (((o, &xj), &gj), &wj) in dxr.iter_mut().zip(xr).zip(gr).zip(w) {
                    *o += r * gj * wj - c * xj;
                }
                for ((p, &xj), &gj) in part.iter_mut().zip(xr).zip(gr) {
                    *p += gj * xj * r;
                }
            }
            part
        })
        .collect();
    for p in partials {
        for (a, b) in dw.iter_mut().zip(p) {
            *a += b;
        }
    }
}

/// `out += column sums of x` (`x` rows of width `out.len()`), in fixed block order.
pub fn col_sum(x: &[f32], out: &mut [f32]) {
    let d = out.len();
    let partials: Vec<Vec<f32>> = x
        .par_chunks(d * ROWS * 4)
        .map(|b| {
            let mut part = vec![0.0f32; d];
            for r in b.chunks(d) {
                for (p, &v) in part.iter_mut().zip(r) {
                    *p += v;
                }
            }
            part
        })
        .collect();
    for p in partials {
        for (a, b) in out.iter_mut().zip(p) {
            *a += b;
        }
    }
}

/// `x[r, :] += b` for every row.
pub fn add_bias(x: &mut [f32], b: &[f32]) {
    x.par_chunks_mut(b.len() * ROWS).for_each(|blk| {
        for r in blk.chunks_mut(b.len()) {
            for (v, &c) in r.iter_mut().zip(b) {
                *v += c;
            }
        }
    });
}

/// cos/sin of positions `0..t` for each rotation pair, `[t, half]`.
pub struct Rope {
    pub cos: Vec<f32>,
    pub sin: Vec<f32>,
    pub half: usize,
    pub interleaved: bool,
}

impl Rope {
    pub fn new(inv_freq: &[f64], t: usize, interleaved: bool) -> Self {
        let (cos, sin, half, interleaved) =
            crate::fused::RopeTables::new(inv_freq, t, interleaved).to_f32();
        Self {
            cos,
            sin,
            half,
            interleaved,
        }
    }

    /// Rotates (`inverse`: rotates back, the backward pass) every head of `x`, rows of
    /// `heads * 2 * half` values at positions `row % t`.
    pub fn apply(&self, x: &mut [f32], t: usize, heads: usize, inverse: bool) {
        let hd = 2 * self.half;
        let sign = if inverse { -1.0f32 } else { 1.0 };
        x.par_chunks_mut(heads * hd)
            .enumerate()
            .with_min_len(ROWS)
            .for_each(|(row, xr)| {
                let p = row % t;
                let cs = &self.cos[p * self.half..][..self.half];
                let sn = &self.sin[p * self.half..][..self.half];
                for h in xr.chunks_mut(hd) {
                    for i in 0..self.half {
                        let (ia, ib) = pair(i, self.half, self.interleaved);
                        let (c, s) = (cs[i], sign * sn[i]);
                        let (a, b) = (h[ia], h[ib]);
                        h[ia] = a * c - b * s;
                        h[ib] = b * c + a * s;
                    }
                }
            });
    }
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + crate::fastmath::exp(-x))
}

/// `m = silu(g) * u`.
pub fn swiglu_fwd(g: &[f32], u: &[f32], m: &mut [f32]) {
    m.par_chunks_mut(4096)
        .zip(g.par_chunks(4096).zip(u.par_chunks(4096)))
        .for_each(|(mb, (gb, ub))| {
            for ((o, &a), &b) in mb.iter_mut().zip(gb).zip(ub) {
                *o = a * sigmoid(a) * b;
            }
        });
}

/// SwiGLU backward in place: `g` becomes `dL/dg` and `u` becomes `dL/du`.
pub fn swiglu_bwd(g: &mut [f32], u: &mut [f32], dm: &[f32]) {
    g.par_chunks_mut(4096)
        .zip(u.par_chunks_mut(4096).zip(dm.par_chunks(4096)))
        .for_each(|(gb, (ub, db))| {
            for ((a, b), &d) in gb.iter_mut().zip(ub.iter_mut()).zip(db) {
                let s = sigmoid(*a);
                let silu = *a * s;
                let dg = d * *b * s * (1.0 + *a * (1.0 - s));
                *b = d * silu;
                *a = dg;
            }
        });
}
