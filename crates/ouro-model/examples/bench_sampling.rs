//! Time of one `sample_token` call over a SmolLM2-sized vocabulary (49,152 logits), for
//! the distributions sampling meets: near-uniform (random weights, what
//! `scripts/gpu-check.sh` samples from) and peaked (a trained model).
//!
//!     cargo run --release --example bench_sampling
//!
//! Prints microseconds per row for each case and sampling setting. On this 2-core machine
//! (2026-12-05) the nucleus cut by buckets and the vectorised exp took near-uniform
//! T=0.8 top-p 0.95 from 1,812 to 268 us a row, and plain T=1 from 264 to 76 us.

use ouro_model::generate::sample_token;
use ouro_model::SamplingParams;
use rand::{Rng, SeedableRng};

fn main() {
    const V: usize = 49_152;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    // Random weights: logits with a standard deviation near 0.1.
    let flat: Vec<f32> = (0..V).map(|_| rng.gen::<f32>() * 0.3).collect();
    // A trained model: a few dozen plausible tokens over a long tail.
    let peaked: Vec<f32> = (0..V)
        .map(|i| {
            if i % 1500 == 7 {
                8.0 + rng.gen::<f32>() * 4.0
            } else {
                rng.gen::<f32>() * 2.0
            }
        })
        .collect();
    let settings = [
        ("T=0.8 top_p=0.95", 0.8, 0.95, 0),
        ("T=1.0", 1.0, 1.0, 0),
        ("T=0.8 top_k=50 top_p=0.95", 0.8, 0.95, 50),
    ];
    for (case, logits) in [("near-uniform", &flat), ("peaked", &peaked)] {
        for (name, temperature, top_p, top_k) in settings {
            let p = SamplingParams {
                temperature,
                top_p,
                top_k,
                ..Default::default()
            };
            let rows = 200;
            let mut draw = rand::rngs::StdRng::seed_from_u64(1);
            let t0 = std::time::Instant::now();
            let mut sink = 0u64;
            for _ in 0..rows {
                sink = sink.wrapping_add(sample_token(logits, &p, &mut draw).0 as u64);
            }
            let us = t0.elapsed().as_secs_f64() * 1e6 / rows as f64;
            println!("{case:>13} {name:<28} {us:>9.1} us/row  (checksum {sink})");
        }
    }
}
