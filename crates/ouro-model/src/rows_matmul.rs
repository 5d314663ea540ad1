//! `x W^T` for the few rows of batched decoding (one new token per sequence), without
//! autograd.
//!
//! A general GEMM packs `W` into its blocked layout on every call. At decode time `x` has
//! a handful of rows, so packing the whole weight matrix (28M values for SmolLM2's head)
//! costs more than the arithmetic. `W` is `[out, in]` row-major, so each output is a
//! contiguous dot product: this kernel streams every weight row once from memory and
//! dots it with all rows of `x`, which stay in L1.

use candle_core::{Result, Storage, Tensor};
use rayon::prelude::*;

/// Rows of `x` up to which the streaming kernel beats the blocked GEMM.
pub const MAX_ROWS: usize = 32;

/// `x @ w^T (+ b)` like [`crate::ops::linear`], for f32 CPU tensors with at most
/// [`MAX_ROWS`] rows; `None` for anything else (the caller falls back to `linear`).
/// The result carries no gradient.
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Option<Tensor>> {
    Ok(linear_many(x, &[(w, b)])?.map(|mut v| v.remove(0)))
}

/// [`linear`] of one input against several weights (q/k/v, gate/up) in one parallel
/// region: one wake-up of the thread pool instead of one per projection.
pub fn linear_many(
    x: &Tensor,
    projs: &[(&Tensor, Option<&Tensor>)],
) -> Result<Option<Vec<Tensor>>> {
    let dims = x.dims().to_vec();
    let k = *dims.last().expect("rank >= 1");
    let m: usize = dims[..dims.len() - 1].iter().product();
    if m > MAX_ROWS || !x.device().is_cpu() {
        return Ok(None);
    }
    let mut ns = Vec::with_capacity(projs.len());
    for (w, _) in projs {
        let (n, wk) = w.dims2()?;
        if wk != k {
            return Ok(None);
        }
        ns.push(n);
    }
    let x = x.contiguous()?;
    let (xg, xl) = x.storage_and_layout();
    let Some(xs) = f32_slice(&xg, xl) else {
        return Ok(None);
    };
    let guards: Vec<_> = projs.iter().map(|(w, _)| w.storage_and_layout()).collect();
    let mut ws = Vec::with_capacity(projs.len());
    for (g, l) in &guards {
        match f32_slice(g, l) {
            Some(s) => ws.push(s),
            None => return Ok(None),
        }
    }
    let outs = matmul_wt_many(xs, m, k, &ws);
    drop(guards);
    let biases: Vec<_> = projs.iter().map(|(_, b)| *b).collect();
    outputs(outs, &dims, &ns, &biases, x.device()).map(Some)
}

/// The kernels' flat `[m, n_i]` results as tensors shaped like the input `dims` with the
/// last dimension `n_i`, plus each projection's bias.
pub(crate) fn outputs(
    outs: Vec<Vec<f32>>,
    dims: &[usize],
    ns: &[usize],
    biases: &[Option<&Tensor>],
    device: &candle_core::Device,
) -> Result<Vec<Tensor>> {
    let mut ys = Vec::with_capacity(outs.len());
    for ((out, &n), b) in outs.into_iter().zip(ns).zip(biases) {
        let mut out_dims = dims.to_vec();
        *out_dims.last_mut().expect("rank >= 1") = n;
        let y = Tensor::from_vec(out, out_dims, device)?;
        ys.push(match b {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        });
    }
    Ok(ys)
}

/// The f32 values of a contiguous CPU tensor; `None` for any other storage.
pub(crate) fn f32_slice<'a>(g: &'a Storage, l: &candle_core::Layout) -> Option<&'a [f32]> {
    let (a, b) = l.contiguous_offsets()?;
    match g {
        Storage::Cpu(candle_core::CpuStorage::F32(v)) => Some(&v[a..b]),
        _ => None,
    }
}

/// Floats ahead of the current position that the weight stream prefetches.
const PREFETCH: usize = 2048;

/// Weight rows per task (also of the 8-bit kernel, [`crate::q8`]).
pub(crate) const COLS: usize = 16;

/// `out[i, j] = dot(x[i, :], w[j, :])`, `x` `[m, k]`, `w` `[n, k]`, `out` `[m, n]`.
pub fn matmul_wt(x: &[f32], m: usize, k: usize, w: &[f32], n: usize) -> Vec<f32> {
    debug_assert_eq!(w.len(), n * k);
    matmul_wt_many(x, m, k, &[w]).remove(0)
}

/// [`matmul_wt`] for several weight matrices (each `[n_i, k]`) in one parallel region.
pub fn matmul_wt_many(x: &[f32], m: usize, k: usize, ws: &[&[f32]]) -> Vec<Vec<f32>> {
    // Tasks fill `[n, m]` per weight (one contiguous run per weight row), transposed at
    // the end.
    let mut ts: Vec<Vec<f32>> = ws.iter().map(|w| vec![0.0f32; w.len() / k * m]).collect();
    let tasks: Vec<(&mut [f32], &[f32])> = ts
        .iter_mut()
        .zip(ws)
        .flat_map(|(t, w)| t.chunks_mut(COLS * m).zip(w.chunks(COLS * k)))
        .collect();
    tasks
        .into_par_iter()
        .for_each(|(tb, wb)| dots(x, m, k, wb, tb));
    if m == 1 {
        return ts;
    }
    ts.into_iter()
        .map(|t| transpose(&t, t.len() / m, m))
        .collect()
}

/// `t` `[n, m]` (one run per weight row, as the kernels fill it) as `[m, n]`.
pub(crate) fn transpose(t: &[f32], n: usize, m: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; m * n];
    for (j, col) in t.chunks(m).enumerate() {
        for (i, &v) in col.iter().enumerate() {
            out[i * n + j] = v;
        }
    }
    out
}

/// Dispatches to the widest SIMD the CPU has: the inner loop is written so that LLVM
/// vectorises it for whichever target features the wrapper enables.
pub(crate) fn dots(x: &[f32], m: usize, k: usize, w: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked just above).
            return unsafe { dots_avx512(x, m, k, w, out) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            return unsafe { dots_avx2(x, m, k, w, out) };
        }
    }
    dots_generic::<false>(x, m, k, w, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dots_avx512(x: &[f32], m: usize, k: usize, w: &[f32], out: &mut [f32]) {
    if m == 1 {
        return gemv_avx512(x, k, w, out);
    }
    let n = w.len() / k;
    let mut j = 0;
    while j < n {
        // Several weight rows per sweep: each x load feeds that many FMAs. Many token
        // rows make x spill out of L1, so those take 4 weight rows x 4 token rows.
        let q = if m >= 16 && j + 4 <= n {
            4
        } else if j + 2 <= n {
            2
        } else {
            1
        };
        let wr = &w[j * k..(j + q) * k];
        let mut i = 0;
        while i < m {
            let xs = &x[i * k..];
            let left = m - i;
            let r = if left >= 8 && q < 4 {
                8
            } else if left >= 4 {
                4
            } else {
                1
            };
            let mut o = [0.0f32; 16];
            match (r, q) {
                (8, 2) => row_block_avx512::<8, 2>(wr, xs, k, &mut o),
                (8, _) => row_block_avx512::<8, 1>(wr, xs, k, &mut o),
                (4, 4) => row_block_avx512::<4, 4>(wr, xs, k, &mut o),
                (4, 2) => row_block_avx512::<4, 2>(wr, xs, k, &mut o),
                (4, _) => row_block_avx512::<4, 1>(wr, xs, k, &mut o),
                (_, 4) => row_block_avx512::<1, 4>(wr, xs, k, &mut o),
                (_, 2) => row_block_avx512::<1, 2>(wr, xs, k, &mut o),
                _ => row_block_avx512::<1, 1>(wr, xs, k, &mut o),
            }
            for qq in 0..q {
                out[(j + qq) * m + i..][..r].copy_from_slice(&o[qq * r..qq * r + r]);
            }
            i += r;
        }
        j += q;
    }
}

/// One row of `x` (batch-1 decoding): nothing to reuse a weight load for, so the loop
/// only streams each weight row in order, 64 values an iteration into four independent
/// sums, with `x` in L1. The general kernel's row blocking and prefetches cost a third of
/// the bandwidth here (the SmolLM2 head on one core: 10.3 ms that way, about 7.5 ms so).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn gemv_avx512(x: &[f32], k: usize, w: &[f32], out: &mut [f32]) {
    use std::arch::x86_64::*;
    let (wide, full) = (k / 64 * 64, k / 16 * 16);
    let xp = x.as_ptr();
    for (row, o) in w.chunks_exact(k).zip(out.iter_mut()) {
        let p = row.as_ptr();
        let mut a = [_mm512_setzero_ps(); 4];
        let mut c = 0;
        // SAFETY: every offset read is below k, the length of `row` and of `x`.
        while c < wide {
            for (i, ai) in a.iter_mut().enumerate() {
                let (wv, xv) = (
                    _mm512_loadu_ps(p.add(c + 16 * i)),
                    _mm512_loadu_ps(xp.add(c + 16 * i)),
                );
                *ai = _mm512_fmadd_ps(wv, xv, *ai);
            }
            c += 64;
        }
        while c < full {
            a[0] = _mm512_fmadd_ps(_mm512_loadu_ps(p.add(c)), _mm512_loadu_ps(xp.add(c)), a[0]);
            c += 16;
        }
        let mut s = _mm512_reduce_add_ps(_mm512_add_ps(
            _mm512_add_ps(a[0], a[1]),
            _mm512_add_ps(a[2], a[3]),
        ));
        for t in full..k {
            s = row[t].mul_add(x[t], s);
        }
        *o = s;
    }
}

/// `o[q * R + r] = dot(w row q, x row r)` for `Q` weight rows and `R` rows of `x`, with
/// explicit AVX-512: the portable version's loops get turned inside out by LLVM (one
/// accumulator chain at a time), which leaves it latency-bound.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::needless_range_loop)] // (q, r) index two arrays in lockstep
unsafe fn row_block_avx512<const R: usize, const Q: usize>(
    w: &[f32],
    x: &[f32],
    k: usize,
    o: &mut [f32],
) {
    use std::arch::x86_64::*;
    assert!(w.len() >= Q * k && x.len() >= R * k && o.len() >= Q * R);
    let mut acc = [[_mm512_setzero_ps(); R]; Q];
    let full = k / 16 * 16;
    let (wp, xp) = (w.as_ptr(), x.as_ptr());
    let mut c = 0;
    while c < full {
        // SAFETY: c + 16 <= k, and the assert above bounds every row read.
        let mut a = [_mm512_setzero_ps(); Q];
        for (q, aq) in a.iter_mut().enumerate() {
            *aq = _mm512_loadu_ps(wp.add(q * k + c));
            // The weights stream from memory once; ask for them well ahead.
            _mm_prefetch::<_MM_HINT_T0>(wp.add(q * k + c + PREFETCH) as *const i8);
        }
        for r in 0..R {
            let b = _mm512_loadu_ps(xp.add(r * k + c));
            for q in 0..Q {
                acc[q][r] = _mm512_fmadd_ps(a[q], b, acc[q][r]);
            }
        }
        c += 16;
    }
    for q in 0..Q {
        for r in 0..R {
            let mut s = _mm512_reduce_add_ps(acc[q][r]);
            for j in full..k {
                s = w[q * k + j].mul_add(x[r * k + j], s);
            }
            o[q * R + r] = s;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dots_avx2(x: &[f32], m: usize, k: usize, w: &[f32], out: &mut [f32]) {
    dots_generic::<true>(x, m, k, w, out)
}

/// Lanes of independent partial sums, so the portable loop vectorises.
const LANES: usize = 16;

#[inline(always)]
fn dots_generic<const FMA: bool>(x: &[f32], m: usize, k: usize, w: &[f32], out: &mut [f32]) {
    for (wr, o) in w.chunks_exact(k).zip(out.chunks_exact_mut(m)) {
        // Several x rows per sweep of the weight row: their sums are independent chains,
        // so the FMA units are not waiting on one accumulator's latency.
        let mut i = 0;
        while i < m {
            let r = m - i;
            if r >= 8 {
                row_block::<8, FMA>(wr, &x[i * k..], k, &mut o[i..i + 8]);
                i += 8;
            } else if r >= 4 {
                row_block::<4, FMA>(wr, &x[i * k..], k, &mut o[i..i + 4]);
                i += 4;
            } else {
                row_block::<1, FMA>(wr, &x[i * k..], k, &mut o[i..i + 1]);
                i += 1;
            }
        }
    }
}

/// `o[r] = dot(w, x[r*k..(r+1)*k])` for `R` rows of `x`.
#[inline(always)]
fn row_block<const R: usize, const FMA: bool>(w: &[f32], x: &[f32], k: usize, o: &mut [f32]) {
    let mut acc = [[0.0f32; LANES]; R];
    let full = k / LANES * LANES;
    let mut c = 0;
    while c < full {
        let a: &[f32; LANES] = w[c..c + LANES].try_into().expect("LANES values");
        for (r, ar) in acc.iter_mut().enumerate() {
            let b: &[f32; LANES] = x[r * k + c..r * k + c + LANES]
                .try_into()
                .expect("LANES values");
            for l in 0..LANES {
                ar[l] = if FMA {
                    a[l].mul_add(b[l], ar[l])
                } else {
                    ar[l] + a[l] * b[l]
                };
            }
        }
        c += LANES;
    }
    for (r, (ar, or)) in acc.iter().zip(o.iter_mut()).enumerate() {
        let mut s = 0.0f32;
        for j in full..k {
            let (a, b) = (w[j], x[r * k + j]);
            s = if FMA { a.mul_add(b, s) } else { s + a * b };
        }
        *or = ar.iter().sum::<f32>() + s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn matches_candle_matmul() {
        let dev = Device::Cpu;
        for (m, k, n) in [
            (1, 7, 5),
            (1, 200, 37),
            (1, 576, 64),
            (3, 40, 130),
            (8, 64, 64),
            (20, 50, 7),
            (32, 33, 203),
        ] {
            let seed = (m * 1_000_000 + k * 1000 + n) as u64;
            let x = crate::init::seeded_normal((m, k), (0.0, 1.0), seed, &dev).unwrap();
            let w = crate::init::seeded_normal((n, k), (0.0, 1.0), seed + 1, &dev).unwrap();
            let b = crate::init::seeded_normal(n, (0.0, 1.0), seed + 2, &dev).unwrap();
            let want = crate::ops::linear(&x, &w, Some(&b)).unwrap();
            let got = linear(&x, &w, Some(&b))
                .unwrap()
                .expect("f32 CPU, few rows");
            let d = (want - got).unwrap().abs().unwrap().max_all().unwrap();
            assert!(d.to_scalar::<f32>().unwrap() < 1e-4, "{m}x{k}x{n}");
        }
        let many = Tensor::zeros((MAX_ROWS + 1, 4), candle_core::DType::F32, &dev).unwrap();
        let w = Tensor::zeros((3, 4), candle_core::DType::F32, &dev).unwrap();
        assert!(linear(&many, &w, None).unwrap().is_none());
    }
}
