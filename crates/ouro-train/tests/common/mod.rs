//! Fixtures shared by the generic-path and CUDA tests: a tiny model drawn
//! from a seed (the same weights on any device), fixed SFT/DPO examples, and
//! the per-step losses of a short run.
#![allow(dead_code)]

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use ouro_model::checkpoint::Checkpoint;
use ouro_model::Config;
use ouro_train::config::{DpoConfig, OptimConfig, SftConfig};
use ouro_train::run::DecoderLm;
use ouro_train::tokenize::{DpoExample, SftExample};
use std::path::Path;

pub fn model(seed: u64, dev: &Device) -> DecoderLm {
    let mut cfg = Config::tiny();
    cfg.vocab_size = 64;
    // Drawn on the host from the seed: the same weights on every device.
    let varmap = ouro_model::init::init_varmap(&cfg, seed, DType::F32, dev).unwrap();
    let decoder =
        ouro_model::Decoder::new(&cfg, VarBuilder::from_varmap(&varmap, DType::F32, dev)).unwrap();
    DecoderLm::from_checkpoint(
        Checkpoint {
            dir: "test".into(),
            config: cfg,
            varmap,
            decoder,
            tokenizer: None,
            generation_config: None,
            chat_template: None,
        },
        dev,
    )
}

pub fn tokens(n: usize, salt: usize) -> Vec<u32> {
    (0..n)
        .map(|i| ((i * 37 + salt * 11) % 60 + 2) as u32)
        .collect()
}

pub fn sft_examples() -> Vec<SftExample> {
    (0..8)
        .map(|i| {
            let n = 8 + (i * 5) % 11;
            let mut mask = vec![true; n];
            mask[..3].iter_mut().for_each(|m| *m = false);
            SftExample {
                ids: tokens(n, i),
                mask,
                span_w: vec![1.0; n],
                index: i,
            }
        })
        .collect()
}

pub fn dpo_examples() -> Vec<DpoExample> {
    (0..4)
        .map(|i| DpoExample {
            prompt: tokens(5 + i % 3, i),
            chosen: tokens(4 + i % 2, i + 20),
            rejected: tokens(6, i + 40),
            chosen_w: vec![1.0; 4 + i % 2],
            rejected_w: vec![1.0; 6],
            index: i,
        })
        .collect()
}

pub fn optim(steps: u64) -> OptimConfig {
    OptimConfig {
        lr: 3e-3,
        max_steps: steps,
        batch_size: 2,
        grad_accum: 2,
        progress: false,
        ..OptimConfig::default()
    }
}

pub fn losses(dir: &Path) -> Vec<f64> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["loss"]
                .as_f64()
                .unwrap()
        })
        .collect()
}

pub fn sft_losses(m: &DecoderLm, out: &Path, steps: u64) -> Vec<f64> {
    let cfg = SftConfig {
        optim: optim(steps),
        max_length: 32,
        ..SftConfig::default()
    };
    ouro_train::sft::train_examples(m, &sft_examples(), 0, &cfg, out, None).unwrap();
    losses(out)
}

pub fn dpo_losses(m: &DecoderLm, out: &Path, steps: u64) -> Vec<f64> {
    let ex = dpo_examples();
    let cfg = DpoConfig {
        optim: optim(steps),
        ..DpoConfig::default()
    };
    let refs = ouro_train::dpo::reference_logps(m, &ex, 0, 2).unwrap();
    ouro_train::dpo::train_examples(m, &ex, &refs, 0, &cfg, out, None).unwrap();
    losses(out)
}

pub fn assert_losses(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!(
            (x - y).abs() <= tol * y.abs().max(1.0),
            "{what}: {a:?} vs {b:?}"
        );
    }
}
