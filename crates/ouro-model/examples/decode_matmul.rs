//! Decode-step matmul cost: candle's `x.matmul(&w.t())` (what `linear` does) against
//! `ouro_model::rows_matmul`, the kernel generation uses, for the small-M shapes of batched
//! decoding (M = batch rows, one new token each). W is [out, in] row-major, so every output
//! is a contiguous dot product: the weights are streamed once, nothing is packed.
//!
//!   cargo run --release --example decode_matmul [M=8]
//! Prints per-shape milliseconds for both; single thread (RAYON_NUM_THREADS=1) is the fair view.

use candle_core::{Device, Tensor};

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
            d = ouro_model::rows_matmul::matmul_wt(&xv, m, k, &wv, n);
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
