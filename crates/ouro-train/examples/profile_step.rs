//! Where a training step's time goes, on the configuration of `bench_step`: forward and
//! backward of the decoder separately, and the throughput of candle's CPU matmul on
//! the step's largest shapes (the floor for any implementation built on it).
//!
//!     cargo run --release --example profile_step [REPEATS]

use candle_core::{DType, Device, Tensor};
use std::time::Instant;

#[path = "bench_step.rs"]
#[allow(dead_code)]
mod bench;

fn time<T>(label: &str, reps: usize, mut f: impl FnMut() -> T) -> f64 {
    let _ = f();
    let t0 = Instant::now();
    for _ in 0..reps {
        let _ = f();
    }
    let s = t0.elapsed().as_secs_f64() / reps as f64;
    println!("{label:<44} {:8.1} ms", s * 1e3);
    s
}

fn main() {
    let reps: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let cfg = bench::bench_config();
    let dev = Device::Cpu;
    let varmap = ouro_model::init::init_varmap(&cfg, 0, DType::F32, &dev).unwrap();
    let mut dec = ouro_model::Decoder::new(
        &cfg,
        candle_nn::VarBuilder::from_varmap(&varmap, DType::F32, &dev),
    )
    .unwrap();
    let (b, t) = (4usize, 256usize);
    let ids: Vec<u32> = (0..b * t).map(|i| (i * 7919 % 4000 + 10) as u32).collect();
    let ids = Tensor::from_vec(ids, (b, t), &dev).unwrap();
    let targets = ids.clone();
    println!("threads: rayon {}", rayon::current_num_threads());
    time("forward (token_logprobs)", reps, || {
        dec.token_logprobs(&ids, &targets).unwrap()
    });
    time("forward + backward", reps, || {
        dec.token_logprobs(&ids, &targets)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap()
    });
    dec.set_fused_attention(false);
    time("forward + backward, unfused attention", reps, || {
        dec.token_logprobs(&ids, &targets)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap()
    });
    dec.set_fused_attention(true);
    let n = b * t;
    let h = candle_core::Var::randn(0f32, 1.0, (n, 384), &dev).unwrap();
    let wv = candle_core::Var::randn(0f32, 0.05, (4096, 384), &dev).unwrap();
    let tf = targets.flatten_all().unwrap();
    time("logprob head fwd+bwd [1024,384]x[4096,384]", reps, || {
        ouro_model::logprob_head::chunked_logprobs(&h, &wv, &tf, 1 << 22)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap()
    });
    let x = Tensor::randn(0f32, 1.0, (n, 384), &dev).unwrap();
    let w = Tensor::randn(0f32, 1.0, (1024, 384), &dev).unwrap();
    let s = time("matmul [1024,384] x [384,1024] (w.t())", reps * 4, || {
        x.matmul(&w.t().unwrap()).unwrap()
    });
    println!(
        "  -> {:.1} GFLOP/s",
        2.0 * (n * 384 * 1024) as f64 / s / 1e9
    );
    let g = Tensor::randn(0f32, 1.0, (n, 1024), &dev).unwrap();
    let s = time(
        "matmul grad_w: g.t() [1024,1024] x x [1024,384]",
        reps * 4,
        || g.t().unwrap().matmul(&x).unwrap(),
    );
    println!(
        "  -> {:.1} GFLOP/s",
        2.0 * (n * 384 * 1024) as f64 / s / 1e9
    );
    let flops = 6.0 * cfg.num_parameters() as f64 * n as f64;
    println!(
        "model: {} params, ~{:.1} GFLOP per step (6 N T)",
        cfg.num_parameters(),
        flops / 1e9
    );
}
