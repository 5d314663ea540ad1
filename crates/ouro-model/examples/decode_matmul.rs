//! Decode-step matmul cost: candle's `x.matmul(&w.t())` (what `linear` does) against a
//! plain dot-product kernel over W's rows, for the small-M shapes of batched decoding
//! (M = batch rows, one new token each). W is [out, in] row-major, so every output is a
//! contiguous dot product: the weights are streamed once, nothing is packed.
//!
//!   cargo run --release -p ouro-model --example decode_matmul [M=8]
//! Prints per-shape milliseconds for both; single thread (RAYON_NUM_THREADS=1) is the fair view.

use candle_core::{Device, Tensor};

fn dot_rows(x: &[f32], m: usize, k: usize, w: &[f32], n: usize) -> Vec<f32> {
    let mut out = vec![0f32; m * n];
    // 4 weight rows at a time against every x row: each weight row is read once per call.
    for j0 in (0..n).step_by(4) {
        let rows: Vec<&[f32]> = (j0..(j0 + 4).min(n))
            .map(|j| &w[j * k..(j + 1) * k])
            .collect();
        for i in 0..m {
            let xi = &x[i * k..(i + 1) * k];
            for (r, wr) in rows.iter().enumerate() {
                let mut acc = [0f32; 8];
                let (xc, wc) = (xi.chunks_exact(8), wr.chunks_exact(8));
                let (xt, wt) = (xc.remainder(), wc.remainder());
                for (a, b) in xc.zip(wc) {
                    for l in 0..8 {
                        acc[l] += a[l] * b[l];
                    }
                }
                let mut s: f32 = acc.iter().sum();
                s += xt.iter().zip(wt).map(|(a, b)| a * b).sum::<f32>();
                out[i * n + j0 + r] = s;
            }
        }
    }
    out
}

fn main() -> candle_core::Result<()> {
    let m: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(8);
    let dev = Device::Cpu;
    // SmolLM2-135M: q/o 576x576, k/v 192x576, gate/up 1536x576, down 576x1536, lm_head 49152x576
    for (n, k, reps) in [
        (576, 576, 200),
        (192, 576, 400),
        (1536, 576, 100),
        (576, 1536, 100),
        (49152, 576, 4),
    ] {
        let w = Tensor::randn(0f32, 0.02, (n, k), &dev)?;
        let x = Tensor::randn(0f32, 1.0, (m, k), &dev)?;
        let _ = x.matmul(&w.t()?)?;
        let t = std::time::Instant::now();
        let mut c = None;
        for _ in 0..reps {
            c = Some(x.matmul(&w.t()?)?);
        }
        let candle_ms = t.elapsed().as_secs_f64() * 1e3 / reps as f64;
        let (xv, wv) = (
            x.flatten_all()?.to_vec1::<f32>()?,
            w.flatten_all()?.to_vec1::<f32>()?,
        );
        let t = std::time::Instant::now();
        let mut d = Vec::new();
        for _ in 0..reps {
            d = dot_rows(&xv, m, k, &wv, n);
        }
        let dot_ms = t.elapsed().as_secs_f64() * 1e3 / reps as f64;
        let c = c.unwrap().flatten_all()?.to_vec1::<f32>()?;
        let err = c
            .iter()
            .zip(&d)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        println!("M={m} N={n:5} K={k:4}: candle {candle_ms:8.3} ms, row dots {dot_ms:8.3} ms (max diff {err:.1e})");
    }
    Ok(())
}
