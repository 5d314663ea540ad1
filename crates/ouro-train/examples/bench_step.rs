//! Step-time benchmark of ouro-train on the 16M-parameter configuration of
//! `scripts/bench-train.sh` (fp32, CPU). Prints one JSON line.
//!
//!     cargo build --release -p ouro-train --example bench_step
//!     target/release/examples/bench_step sft 6     # 4 x 256 tokens per step
//!     target/release/examples/bench_step dpo 6     # 2 pairs x 256 tokens per step
//!
//! `OURO_BENCH_GENERIC=1` times the device-generic path instead (what a GPU runs:
//! composed ops, candle autograd, the tensor-op optimiser), here on the CPU.

use candle_core::{DType, Device};
use ouro_model::checkpoint::Checkpoint;
use ouro_train::config::{DpoConfig, OptimConfig, SftConfig};
use ouro_train::run::DecoderLm;
use ouro_train::tokenize::{DpoExample, SftExample};

/// 16M parameters: vocab 4096, d=384, 8 layers, 6 heads, MLP 1024, tied embeddings.
pub fn bench_config() -> ouro_model::Config {
    let mut c = ouro_model::Config::tiny();
    c.vocab_size = 4096;
    c.hidden_size = 384;
    c.intermediate_size = 1024;
    c.num_hidden_layers = 8;
    c.num_attention_heads = 6;
    c.num_key_value_heads = Some(6);
    c.max_position_embeddings = 512;
    c.tie_word_embeddings = true;
    c
}

fn lcg(state: &mut u64) -> u32 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((*state >> 33) % 4000) as u32 + 10
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("sft");
    let steps: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(6);
    let cfg = bench_config();
    let dev = Device::Cpu;
    let varmap = ouro_model::init::init_varmap(&cfg, 0, DType::F32, &dev).unwrap();
    let decoder = ouro_model::Decoder::new(
        &cfg,
        candle_nn::VarBuilder::from_varmap(&varmap, DType::F32, &dev),
    )
    .unwrap();
    let params = cfg.num_parameters();
    let ckpt = Checkpoint {
        dir: "bench".into(),
        config: cfg,
        varmap,
        decoder,
        tokenizer: None,
        generation_config: None,
        chat_template: None,
    };
    let model = DecoderLm::from_checkpoint(ckpt, &dev);
    let generic = std::env::var_os("OURO_BENCH_GENERIC").is_some_and(|v| v == "1");
    let model = if generic { model.with_generic() } else { model };
    let out = tempfile::tempdir().unwrap();
    let optim = OptimConfig {
        lr: 1e-4,
        max_steps: steps,
        batch_size: 4,
        progress: false,
        ..OptimConfig::default()
    };
    let mut rng = 7u64;
    let report = match mode {
        "sft" => {
            let ex: Vec<SftExample> = (0..64)
                .map(|i| {
                    let ids: Vec<u32> = (0..257).map(|_| lcg(&mut rng)).collect();
                    let mut mask = vec![true; 257];
                    mask[0] = false;
                    SftExample {
                        ids,
                        mask,
                        span_w: vec![1.0; 257],
                        index: i,
                    }
                })
                .collect();
            let cfg = SftConfig {
                optim,
                max_length: 257,
                ..SftConfig::default()
            };
            ouro_train::sft::train_examples(&model, &ex, 0, &cfg, out.path(), None).unwrap()
        }
        _ => {
            let ex: Vec<DpoExample> = (0..16)
                .map(|i| {
                    let mut g = |n: usize| (0..n).map(|_| lcg(&mut rng)).collect::<Vec<u32>>();
                    DpoExample {
                        prompt: g(128),
                        chosen: g(128),
                        rejected: g(128),
                        chosen_w: vec![1.0; 128],
                        rejected_w: vec![1.0; 128],
                        index: i,
                    }
                })
                .collect();
            let refs = ouro_train::dpo::reference_logps(&model, &ex, 0, 2).unwrap();
            let cfg = DpoConfig {
                optim: OptimConfig {
                    batch_size: 2,
                    ..optim
                },
                ..DpoConfig::default()
            };
            ouro_train::dpo::train_examples(&model, &ex, &refs, 0, &cfg, out.path(), None).unwrap()
        }
    };
    let text = std::fs::read_to_string(&report.metrics).unwrap();
    let mut times: Vec<f64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["step_s"]
                .as_f64()
                .unwrap()
        })
        .skip(1)
        .collect();
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = times.get(times.len() / 2).copied().unwrap_or(f64::NAN);
    let opt: Vec<f64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["optim_s"]
                .as_f64()
                .unwrap()
        })
        .collect();
    eprintln!("optimizer seconds per step: {opt:?}");
    println!(
        "{}",
        serde_json::json!({"impl": "ouro", "mode": mode, "generic": generic, "params": params, "steps": steps, "s_per_step": median, "final_loss": report.final_loss})
    );
}
