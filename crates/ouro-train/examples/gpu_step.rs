//! ouro's side of `scripts/gpu-check.sh`: median seconds per SFT or DPO step
//! of an HF checkpoint (SmolLM2-135M shape, from `gpu_bench_torch.py init`)
//! on one device, bf16 compute over f32 master weights, random tokens, the
//! same shapes as the PyTorch reference (SFT 8 x 512, DPO 4 pairs x 512).
//!
//!     gpu_step sft|dpo MODEL_DIR STEPS [cuda|cpu]
//!
//! The gradients come from the hand-written tensor pass; `OURO_TRAIN_AUTOGRAD=1` times
//! candle's autograd instead (the JSON's `gradients` says which ran).
//!     gpu_step gen MODEL_DIR NEW_TOKENS [cuda|cpu]
//!
//! `gen` is the sampling side: 64 sequences of 32 random prompt tokens, T=0.8, top-p
//! 0.95, exactly NEW_TOKENS each (no EOS), bf16 weights, like transformers `generate`
//! in `gpu_bench_torch.py gen`; the model dir needs the word-per-id tokenizer
//! `gpu_bench_torch.py init` writes. The slower of 2 timed runs after a 4-token warm-up
//! (the torch side takes the same statistic).
//!
//! Build: `scripts/check-cuda-build.sh` then
//! `cargo build --release -p ouro-train --features cuda --example gpu_step`.

use candle_core::{DType, Device};
use ouro_train::config::{DpoConfig, OptimConfig, SftConfig};
use ouro_train::run::DecoderLm;
use ouro_train::tokenize::{DpoExample, SftExample};

fn lcg(state: &mut u64) -> u32 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((*state >> 33) % 48_990) as u32 + 10
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: gpu_step sft|dpo MODEL_DIR STEPS [cuda|cpu]");
        std::process::exit(2);
    }
    let (mode, dir) = (args[1].as_str(), std::path::Path::new(&args[2]));
    let steps: u64 = args[3].parse().expect("STEPS");
    let dev = match args.get(4).map(String::as_str).unwrap_or("cuda") {
        "cpu" => Device::Cpu,
        _ => ouro_model::device::open_cuda(0).expect("CUDA device 0"),
    };
    if mode == "gen" {
        return generate(dir, steps as usize, &dev);
    }
    // Phases wait for their kernels, so optim_s splits the step (see engine.rs).
    std::env::set_var("OURO_SYNC_TIMING", "1");
    let model = DecoderLm::load_as(dir, &dev, DType::F32)
        .expect("load")
        .with_compute_dtype(DType::BF16)
        .with_generic();
    let out = tempfile::tempdir().unwrap();
    let optim = |batch_size| OptimConfig {
        lr: 1e-5,
        max_steps: steps + 1,
        batch_size,
        progress: false,
        ..OptimConfig::default()
    };
    let mut rng = 7u64;
    let report = if mode == "sft" {
        let ex: Vec<SftExample> = (0..8 * (steps as usize + 1))
            .map(|i| {
                let ids: Vec<u32> = (0..513).map(|_| lcg(&mut rng)).collect();
                let mut mask = vec![true; 513];
                mask[0] = false;
                SftExample {
                    ids,
                    mask,
                    span_w: vec![1.0; 513],
                    index: i,
                }
            })
            .collect();
        let cfg = SftConfig {
            optim: optim(8),
            max_length: 513,
            ..SftConfig::default()
        };
        ouro_train::sft::train_examples(&model, &ex, 0, &cfg, out.path(), None).unwrap()
    } else {
        let ex: Vec<DpoExample> = (0..4 * (steps as usize + 1))
            .map(|i| {
                let mut g = |n: usize| (0..n).map(|_| lcg(&mut rng)).collect::<Vec<u32>>();
                DpoExample {
                    prompt: g(128),
                    chosen: g(384),
                    rejected: g(384),
                    chosen_w: vec![1.0; 384],
                    rejected_w: vec![1.0; 384],
                    index: i,
                }
            })
            .collect();
        let refs = ouro_train::dpo::reference_logps(&model, &ex, 0, 4).unwrap();
        let cfg = DpoConfig {
            optim: optim(4),
            ..DpoConfig::default()
        };
        ouro_train::dpo::train_examples(&model, &ex, &refs, 0, &cfg, out.path(), None).unwrap()
    };
    let text = std::fs::read_to_string(&report.metrics).unwrap();
    // Medians over the steps after the first, each phase's kernels waited for:
    // forward passes and losses, backward passes with gradient accumulation, and the
    // optimiser (norm, clipping and AdamW).
    let median = |key: &str| {
        let mut v: Vec<f64> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?[key].as_f64())
            .skip(1)
            .collect();
        v.sort_by(|a, b| a.total_cmp(b));
        (v.get(v.len() / 2).copied().unwrap_or(f64::NAN), v.len())
    };
    let ((step, steps), (optim, _)) = (median("step_s"), median("optim_s"));
    let ((forward, _), (backward, _)) = (median("forward_s"), median("backward_s"));
    println!(
        "{}",
        serde_json::json!({"impl": "ouro-bf16", "mode": mode, "s_per_step": step,
            "gradients": model.gradient_path(),
            "forward_s_per_step": forward, "backward_s_per_step": backward,
            "optim_s_per_step": optim, "steps": steps})
    );
}

/// Sampling tokens/s at batch 64, the shape of transformers `generate` in the check.
fn generate(dir: &std::path::Path, new_tokens: usize, dev: &Device) {
    const BATCH: usize = 64;
    let ck = ouro_model::checkpoint::load_with_dtype(dir, dev, DType::BF16).expect("load");
    let tok = ck
        .tokenizer
        .as_ref()
        .expect("tokenizer.json in the model dir");
    let gen = ouro_model::Generator::new(&ck.decoder, tok)
        .with_eos(vec![])
        .with_max_batch(BATCH);
    let mut rng = 11u64;
    let reqs = |max_tokens: usize, rng: &mut u64| -> Vec<ouro_model::GenerationRequest> {
        (0..BATCH as u64)
            .map(|seed| ouro_model::GenerationRequest {
                prompt: (0..32)
                    .map(|_| format!("t{}", lcg(rng)))
                    .collect::<Vec<_>>()
                    .join(" ")
                    .into(),
                params: ouro_model::SamplingParams {
                    temperature: 0.8,
                    top_p: 0.95,
                    max_tokens,
                    seed,
                    ..Default::default()
                },
                top_logprobs: 0,
            })
            .collect()
    };
    gen.generate(&reqs(4, &mut rng)).expect("warm-up");
    let mut runs = Vec::new();
    let mut tokens = 0;
    for _ in 0..2 {
        let batch = reqs(new_tokens, &mut rng);
        let t0 = std::time::Instant::now();
        let (outs, times) = gen.generate_timed(&batch).expect("generate");
        runs.push((t0.elapsed().as_secs_f64(), times));
        tokens = outs.iter().map(|g| g.completion_tokens).sum::<usize>();
        assert_eq!(outs[0].prompt_tokens, 32, "one prompt token per word");
    }
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (secs, times) = runs[runs.len() / 2];
    // Per decode step: the model's forward until the logits reach the host, and the
    // host's token choice (sampling and stop checks) while the device waits.
    let per_step = |s: f64| s / times.decode_steps.max(1) as f64;
    println!(
        "{}",
        serde_json::json!({"impl": "ouro-bf16", "mode": "gen", "batch": BATCH,
            "new_tokens": new_tokens, "tokens_per_s": tokens as f64 / secs,
            "model_s_per_step": per_step(times.model_s),
            "choose_s_per_step": per_step(times.choose_s)})
    );
}
