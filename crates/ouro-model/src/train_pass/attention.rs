//! Causal attention of the training pass, forward and backward, per (sequence, head) on
//! small single-threaded GEMMs.

use rayon::prelude::*;
use std::cell::RefCell;

use super::kernels::{gemm, gemm_ptr, rm, tr, M};
use crate::fastmath::{exp, sum};

/// Shapes of one attention call: `b` sequences of `t` tokens; queries `[b*t, nh*hd]`,
/// keys and values `[b*t, nkv*hd]`, probabilities `[b, nh, t, t]`.
#[derive(Clone, Copy)]
pub struct Attn {
    pub b: usize,
    pub t: usize,
    pub nh: usize,
    pub nkv: usize,
    pub hd: usize,
    pub scale: f32,
}

/// Lets rayon tasks write disjoint, strided parts of one buffer.
#[derive(Clone, Copy)]
struct SharedMut(*mut f32, usize);
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

impl SharedMut {
    fn new(s: &mut [f32]) -> Self {
        Self(s.as_mut_ptr(), s.len())
    }
    /// [`gemm`] into this buffer from offset `off`.
    ///
    /// # Safety
    /// No other task may touch the `m x n` view at `off` while this runs.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm(
        &self,
        off: usize,
        m: usize,
        n: usize,
        k: usize,
        ldd: usize,
        acc: bool,
        a: M,
        b: M,
    ) {
        assert!(off <= self.1, "gemm: offset out of range");
        gemm_ptr(
            m,
            n,
            k,
            self.0.add(off),
            self.1 - off,
            ldd,
            acc,
            a,
            b,
            false,
        )
    }
}

thread_local! {
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Causal row blocks `[i0, i1)` of a `t x t` score matrix: rows of block `[i0, i1)` only
/// see keys `< i1`, so products over the upper triangle are skipped block by block.
fn row_blocks(t: usize) -> Vec<(usize, usize)> {
    let nb = if t >= 64 { 4 } else { 1 };
    let bs = t.div_ceil(nb);
    (0..nb)
        .map(|i| (i * bs, ((i + 1) * bs).min(t)))
        .filter(|(a, b)| a < b)
        .collect()
}

impl Attn {
    /// The attention shapes of `cfg` for `b` sequences of `t` tokens.
    pub fn new(cfg: &crate::Config, b: usize, t: usize) -> Self {
        let hd = cfg.head_dim();
        Attn {
            b,
            t,
            nh: cfg.num_attention_heads,
            nkv: cfg.num_key_value_heads(),
            hd,
            scale: 1.0 / (hd as f32).sqrt(),
        }
    }

    fn rep(&self) -> usize {
        self.nh / self.nkv
    }

    /// Causal attention: fills `p` with the softmax probabilities (row `i` is valid up to
    /// its block's end; the backward reads no further) and `o` with `P V` per head, in the
    /// `[b*t, nh*hd]` layout the output projection reads.
    pub fn forward(&self, q: &[f32], k: &[f32], v: &[f32], p: &mut [f32], o: &mut [f32]) {
        let Attn { t, nh, nkv, hd, .. } = *self;
        let (qd, kd, rep) = (nh * hd, nkv * hd, self.rep());
        let blocks = row_blocks(t);
        let o_all = SharedMut::new(o);
        p.par_chunks_mut(t * t).enumerate().for_each(|(bh, ph)| {
            let (bi, h) = (bh / nh, bh % nh);
            let hk = h / rep;
            let qoff = bi * t * qd + h * hd;
            let koff = bi * t * kd + hk * hd;
            for &(i0, i1) in &blocks {
                let pb = &mut ph[i0 * t..i1 * t];
                gemm(
                    i1 - i0,
                    i1,
                    hd,
                    pb,
                    t,
                    false,
                    rm(&q[qoff + i0 * qd..], qd),
                    tr(&k[koff..], kd),
                    false,
                );
                for (r, row) in pb.chunks_mut(t).enumerate() {
                    let i = i0 + r;
                    softmax_scaled(&mut row[..=i], self.scale);
                    row[i + 1..i1].fill(0.0);
                }
                // SAFETY: head `h` of sequence `bi` owns columns `h*hd..(h+1)*hd` of rows
                // `bi*t..(bi+1)*t` of `o`; no other task writes them.
                unsafe {
                    o_all.gemm(
                        qoff + i0 * qd,
                        i1 - i0,
                        hd,
                        i1,
                        qd,
                        false,
                        rm(pb, t),
                        rm(&v[koff..], kd),
                    );
                }
            }
        });
    }

    /// Attention backward from `d_o` (`[b*t, nh*hd]`): writes `dq` and `dk`/`dv` (the
    /// gradients w.r.t. the post-RoPE queries and keys, and the values).
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        p: &[f32],
        d_o: &[f32],
        dq: &mut [f32],
        dk: &mut [f32],
        dv: &mut [f32],
    ) {
        let Attn {
            b, t, nh, nkv, hd, ..
        } = *self;
        let (qd, kd, rep) = (nh * hd, nkv * hd, self.rep());
        let blocks = row_blocks(t);
        let (dq_all, dk_all, dv_all) = (SharedMut::new(dq), SharedMut::new(dk), SharedMut::new(dv));
        (0..b * nkv).into_par_iter().for_each(|bk| {
            let (bi, hk) = (bk / nkv, bk % nkv);
            let koff = bi * t * kd + hk * hd;
            SCRATCH.with(|s| {
                let mut ds = s.borrow_mut();
                ds.resize(t * t, 0.0);
                for r in 0..rep {
                    let h = hk * rep + r;
                    let qoff = bi * t * qd + h * hd;
                    let ph = &p[(bi * nh + h) * t * t..][..t * t];
                    // The last block sees every key, so it writes dk/dv first (overwriting
                    // for the first head of the group) and the earlier blocks add.
                    for (j, &(i0, i1)) in blocks.iter().enumerate().rev() {
                        let first = r == 0 && j + 1 == blocks.len();
                        let m = i1 - i0;
                        let dsb = &mut ds[i0 * t..i1 * t];
                        let pb = &ph[i0 * t..i1 * t];
                        let dob = &d_o[qoff + i0 * qd..];
                        // dP = dO V^T, then dS = scale * P * (dP - rowsum(dP * P)).
                        gemm(
                            m,
                            i1,
                            hd,
                            dsb,
                            t,
                            false,
                            rm(dob, qd),
                            tr(&v[koff..], kd),
                            false,
                        );
                        for (rr, (dr, pr)) in dsb.chunks_mut(t).zip(pb.chunks(t)).enumerate() {
                            let i = i0 + rr;
                            let dot: f32 = dr[..=i].iter().zip(&pr[..=i]).map(|(a, b)| a * b).sum();
                            for (x, &pv) in dr[..=i].iter_mut().zip(&pr[..=i]) {
                                *x = self.scale * pv * (*x - dot);
                            }
                            dr[i + 1..i1].fill(0.0);
                        }
                        // SAFETY: this task owns query head `h` (for dq) and kv head `hk`
                        // (for dk, dv) of sequence `bi`; other tasks write other columns.
                        unsafe {
                            dq_all.gemm(
                                qoff + i0 * qd,
                                m,
                                hd,
                                i1,
                                qd,
                                false,
                                rm(dsb, t),
                                rm(&k[koff..], kd),
                            );
                            dk_all.gemm(
                                koff,
                                i1,
                                hd,
                                m,
                                kd,
                                !first,
                                tr(dsb, t),
                                rm(&q[qoff + i0 * qd..], qd),
                            );
                            dv_all.gemm(koff, i1, hd, m, kd, !first, tr(pb, t), rm(dob, qd));
                        }
                    }
                }
            });
        });
    }
}

/// `row = softmax(scale * row)` (`scale > 0`).
fn softmax_scaled(row: &mut [f32], scale: f32) {
    let mx = row.iter().fold(f32::NEG_INFINITY, |a, &s| a.max(s));
    for s in row.iter_mut() {
        *s = exp((*s - mx) * scale);
    }
    let r = 1.0 / sum(row);
    row.iter_mut().for_each(|s| *s *= r);
}

#[cfg(test)]
mod tests {
    #[test]
    fn row_blocks_cover_the_rows_once() {
        for t in [1, 9, 63, 64, 70, 256, 257] {
            let b = super::row_blocks(t);
            assert_eq!(b.first().unwrap().0, 0);
            assert_eq!(b.last().unwrap().1, t);
            assert!(b.windows(2).all(|w| w[0].1 == w[1].0), "{t}: {b:?}");
        }
    }
}
