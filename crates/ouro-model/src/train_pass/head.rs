//! The LM head of the training pass: logits chunk by chunk, turned into softmax
//! probabilities in place, and their gradient.

use rayon::prelude::*;

use super::kernels::{gemm, rm, tr};

/// Logits of `hn` rows against `head` (`[vocab, d]`) into `buf`, turned into softmax
/// probabilities in place; the target log-probs go to `logp`.
pub(super) fn head_probs(
    hn: &[f32],
    head: &[f32],
    d: usize,
    targets: &[u32],
    buf: &mut [f32],
    logp: &mut [f32],
) {
    let rows = targets.len();
    let vocab = buf.len() / rows;
    gemm(
        rows,
        vocab,
        d,
        buf,
        vocab,
        false,
        rm(hn, d),
        tr(head, d),
        true,
    );
    buf.par_chunks_mut(vocab)
        .zip(targets.par_iter().zip(logp.par_iter_mut()))
        .for_each(|(row, (&tg, lp))| {
            let mx = row.iter().fold(f32::NEG_INFINITY, |a, &x| a.max(x));
            let at = row[tg as usize] - mx;
            row.iter_mut()
                .for_each(|x| *x = crate::fastmath::exp(*x - mx));
            let sum = crate::fastmath::sum(row);
            *lp = at - sum.ln();
            let r = 1.0 / sum;
            row.iter_mut().for_each(|x| *x *= r);
        });
}

/// Softmax rows in place -> `coef * (onehot(target) - softmax)`.
pub(super) fn dlogits(buf: &mut [f32], vocab: usize, targets: &[u32], coef: &[f32]) {
    buf.par_chunks_mut(vocab)
        .zip(targets.par_iter().zip(coef.par_iter()))
        .for_each(|(row, (&tg, &c))| {
            row.iter_mut().for_each(|x| *x *= -c);
            row[tg as usize] += c;
        });
}
