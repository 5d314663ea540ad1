//! 8-bit weights for sampling: Q8_0, llama.cpp's format (blocks of 32 weights
//! sharing one scale), and `x W^T` over them.
//!
//! Decoding a few rows is bound by the bytes of weights streamed per token; Q8_0
//! moves 36 bytes per 32 weights where f32 moves 128. The activations are
//! quantized the same way for the product (as llama.cpp does), so each block's
//! dot product is integer arithmetic and one scale multiply. Training never sees
//! these weights: a decoder gets a quantized copy for sampling only
//! ([`crate::decoder::Decoder::quantize_for_sampling`]).

use candle_core::{Result, Tensor};
use rayon::prelude::*;

use crate::rows_matmul::{f32_slice, outputs, COLS};

/// Weights per block (one scale each).
pub const BLOCK: usize = 32;

/// One block: `value[i] = d * q[i]`.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub struct Block {
    pub d: f32,
    pub q: [i8; BLOCK],
}

/// An `[n, k]` matrix quantized row by row (`k` a multiple of [`BLOCK`]).
#[derive(Debug, Clone)]
pub struct Q8Matrix {
    n: usize,
    k: usize,
    blocks: Vec<Block>,
}

fn quantize_block(x: &[f32]) -> Block {
    let amax = x.iter().fold(0f32, |a, v| a.max(v.abs()));
    let d = amax / 127.0;
    let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
    let mut q = [0i8; BLOCK];
    for (q, &v) in q.iter_mut().zip(x) {
        *q = (v * inv).round() as i8;
    }
    Block { d, q }
}

/// Quantizes rows of length `k` (a multiple of [`BLOCK`]).
fn quantize_rows(x: &[f32], k: usize) -> Vec<Block> {
    debug_assert_eq!(k % BLOCK, 0);
    x.chunks(BLOCK).map(quantize_block).collect()
}

impl Q8Matrix {
    /// Quantizes `w` (`[n, k]`, row-major); `None` when `k` is not a multiple of
    /// [`BLOCK`] (the caller keeps f32 weights).
    pub fn quantize(w: &[f32], n: usize, k: usize) -> Option<Q8Matrix> {
        if k == 0 || !k.is_multiple_of(BLOCK) || w.len() != n * k {
            return None;
        }
        let blocks = w
            .par_chunks(k)
            .flat_map_iter(|row| quantize_rows(row, k))
            .collect();
        Some(Q8Matrix { n, k, blocks })
    }

    /// Quantizes a 2-D f32 CPU tensor; `None` for anything else.
    pub fn from_tensor(w: &Tensor) -> Result<Option<Q8Matrix>> {
        let Ok((n, k)) = w.dims2() else {
            return Ok(None);
        };
        let w = w.contiguous()?;
        let (g, l) = w.storage_and_layout();
        Ok(f32_slice(&g, l).and_then(|v| Self::quantize(v, n, k)))
    }

    /// The weights back in f32 (for tests and error measurements).
    pub fn dequantize(&self) -> Vec<f32> {
        self.blocks
            .iter()
            .flat_map(|b| b.q.iter().map(move |&q| b.d * q as f32))
            .collect()
    }

    fn row(&self, j: usize) -> &[Block] {
        let per = self.k / BLOCK;
        &self.blocks[j * per..(j + 1) * per]
    }
}

/// Rows of `x` up to which the 8-bit kernel beats the f32 one. With few rows both
/// stream weights from memory and 8 bits move a quarter of the bytes; with many the
/// work is arithmetic, where f32 FMAs do 16 products an instruction and the 8-bit dot
/// spends about seven on 32 plus a scale. Measured on SmolLM2-135M, one AVX-512 core
/// (bench_generate, 2026-12-05), q8 vs f32 tok/s: batch 1 97 vs 38, batch 8 153 vs 115,
/// batch 16 155 vs 168.
pub const MAX_ROWS: usize = 8;

/// `x @ w^T (+ b)` for each `(w, b)`, for an f32 CPU `x` of at most [`MAX_ROWS`]
/// rows; `None` otherwise (the caller falls back to the f32 weights).
pub fn linear_many(
    x: &Tensor,
    projs: &[(&Q8Matrix, Option<&Tensor>)],
) -> Result<Option<Vec<Tensor>>> {
    let dims = x.dims().to_vec();
    let k = *dims.last().expect("rank >= 1");
    let m: usize = dims[..dims.len() - 1].iter().product();
    if m > MAX_ROWS || !x.device().is_cpu() || projs.iter().any(|(w, _)| w.k != k) {
        return Ok(None);
    }
    let x = x.contiguous()?;
    let (g, l) = x.storage_and_layout();
    let Some(xs) = f32_slice(&g, l) else {
        return Ok(None);
    };
    let mats: Vec<&Q8Matrix> = projs.iter().map(|(w, _)| *w).collect();
    let outs = matmul_wt_many(xs, m, k, &mats);
    drop(g);
    let ns: Vec<usize> = mats.iter().map(|w| w.n).collect();
    let biases: Vec<_> = projs.iter().map(|(_, b)| *b).collect();
    outputs(outs, &dims, &ns, &biases, x.device()).map(Some)
}

/// `out[i, j] = dot(x[i, :], w[j, :])` with `x` quantized per block, for several
/// weight matrices in one parallel region (`x` `[m, k]`, results `[m, n_w]`).
pub fn matmul_wt_many(x: &[f32], m: usize, k: usize, ws: &[&Q8Matrix]) -> Vec<Vec<f32>> {
    let xq = quantize_rows(x, k);
    let per = k / BLOCK;
    let xrows: Vec<&[Block]> = xq.chunks(per).collect();
    let dot = dot_fn();
    // Tasks fill `[n, m]` per weight, transposed at the end.
    let mut ts: Vec<Vec<f32>> = ws.iter().map(|w| vec![0.0f32; w.n * m]).collect();
    let tasks: Vec<(&mut [f32], &Q8Matrix, usize)> = ts
        .iter_mut()
        .zip(ws)
        .flat_map(|(t, w)| {
            t.chunks_mut(COLS * m)
                .enumerate()
                .map(move |(c, tb)| (tb, *w, c * COLS))
        })
        .collect();
    tasks.into_par_iter().for_each(|(tb, w, j0)| {
        for (jj, col) in tb.chunks_mut(m).enumerate() {
            let wr = w.row(j0 + jj);
            for (o, xr) in col.iter_mut().zip(&xrows) {
                // SAFETY: `dot_fn` returned a kernel the CPU supports.
                *o = unsafe { dot(xr, wr) };
            }
        }
    });
    if m == 1 {
        return ts;
    }
    ts.into_iter()
        .map(|t| crate::rows_matmul::transpose(&t, t.len() / m, m))
        .collect()
}

type DotFn = unsafe fn(&[Block], &[Block]) -> f32;

/// The widest block dot product this CPU runs.
fn dot_fn() -> DotFn {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return dot_avx2;
        }
    }
    dot_generic
}

/// `sum over blocks of a.d * b.d * (a.q . b.q)`, exact integer block sums.
unsafe fn dot_generic(a: &[Block], b: &[Block]) -> f32 {
    let mut acc = 0f32;
    for (a, b) in a.iter().zip(b) {
        let s: i32 =
            a.q.iter()
                .zip(&b.q)
                .map(|(&x, &y)| x as i32 * y as i32)
                .sum();
        acc += a.d * b.d * s as f32;
    }
    acc
}

/// [`dot_generic`] with AVX2: `maddubs` multiplies unsigned by signed bytes, so the
/// activations' signs move onto the weights (`|a| * (b * sign a)`); with both in
/// [-127, 127] a pair sum stays under `i16::MAX`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[Block], b: &[Block]) -> f32 {
    use std::arch::x86_64::*;
    let ones = _mm256_set1_epi16(1);
    let mut acc = _mm256_setzero_ps();
    for (a, b) in a.iter().zip(b) {
        let va = _mm256_loadu_si256(a.q.as_ptr() as *const __m256i);
        let vb = _mm256_loadu_si256(b.q.as_ptr() as *const __m256i);
        let pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(va, va), _mm256_sign_epi8(vb, va));
        let sums = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(a.d * b.d), sums, acc);
    }
    let hi = _mm256_extractf128_ps(acc, 1);
    let s = _mm_add_ps(_mm256_castps256_ps128(acc), hi);
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    _mm_cvtss_f32(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f32 / u32::MAX as f32) * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn simd_and_portable_kernels_agree_and_track_f32() {
        let (m, n, k) = (5, 37, 576);
        let x = data(m * k, 1);
        let w = data(n * k, 2);
        let q = Q8Matrix::quantize(&w, n, k).unwrap();
        let got = matmul_wt_many(&x, m, k, &[&q]).remove(0);
        let xq = quantize_rows(&x, k);
        for i in 0..m {
            for j in 0..n {
                let xr = &xq[i * k / BLOCK..(i + 1) * k / BLOCK];
                let portable = unsafe { dot_generic(xr, q.row(j)) };
                let exact: f32 = (0..k).map(|t| x[i * k + t] * w[j * k + t]).sum();
                let v = got[i * n + j];
                assert!(
                    (v - portable).abs() <= 1e-4 * (1.0 + portable.abs()),
                    "{v} vs {portable}"
                );
                // Two 8-bit roundings of values in [-1, 1] over 576 terms.
                assert!((v - exact).abs() < 0.15, "({i},{j}): {v} vs f32 {exact}");
            }
        }
    }

    #[test]
    fn quantization_round_trips_within_half_a_step() {
        let w = data(4 * 64, 3);
        let q = Q8Matrix::quantize(&w, 4, 64).unwrap();
        for (blk, (orig, back)) in w
            .chunks(BLOCK)
            .zip(q.dequantize().chunks(BLOCK))
            .enumerate()
        {
            let d = q.blocks[blk].d;
            for (a, b) in orig.iter().zip(back) {
                assert!((a - b).abs() <= d / 2.0 + 1e-7, "{a} vs {b}");
            }
        }
        assert!(Q8Matrix::quantize(&w, 8, 33).is_none());
        let zeros = Q8Matrix::quantize(&[0.0; 32], 1, 32).unwrap();
        assert_eq!(zeros.dequantize(), vec![0.0; 32]);
    }
}
