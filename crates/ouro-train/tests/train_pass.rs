//! The decoder trains through ouro_model's hand-written train pass by default: SFT and
//! DPO runs through it follow the autograd runs, and resuming stays bitwise exact.
#![cfg(feature = "decoder")]

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use ouro_model::checkpoint::Checkpoint;
use ouro_model::Config;
use ouro_train::config::{DpoConfig, OptimConfig, SftConfig};
use ouro_train::model::TrainableLm;
use ouro_train::run::DecoderLm;
use ouro_train::tokenize::{DpoExample, SftExample};
use std::path::Path;

fn model(seed: u64) -> DecoderLm {
    let mut cfg = Config::tiny();
    cfg.vocab_size = 64;
    let dev = Device::Cpu;
    let varmap = ouro_model::init::init_varmap(&cfg, seed, DType::F32, &dev).unwrap();
    let decoder =
        ouro_model::Decoder::new(&cfg, VarBuilder::from_varmap(&varmap, DType::F32, &dev)).unwrap();
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
        &dev,
    )
}

fn tokens(n: usize, salt: usize) -> Vec<u32> {
    (0..n)
        .map(|i| ((i * 37 + salt * 11) % 60 + 2) as u32)
        .collect()
}

/// Ragged lengths, so batches are right-padded; some positions weighted 0 or 2.
fn sft_examples() -> Vec<SftExample> {
    (0..12)
        .map(|i| {
            let n = 8 + (i * 5) % 13;
            let mut mask = vec![true; n];
            mask[..3].iter_mut().for_each(|m| *m = false);
            let span_w = (0..n).map(|j| if j % 4 == 0 { 2.0 } else { 1.0 }).collect();
            SftExample {
                ids: tokens(n, i),
                mask,
                span_w,
                index: i,
            }
        })
        .collect()
}

fn optim(steps: u64) -> OptimConfig {
    OptimConfig {
        lr: 3e-3,
        max_steps: steps,
        batch_size: 4,
        grad_accum: 2,
        progress: false,
        ..OptimConfig::default()
    }
}

fn params(m: &DecoderLm) -> Vec<(String, Vec<f32>)> {
    m.vars()
        .into_iter()
        .map(|(n, v)| (n, v.as_tensor().flatten_all().unwrap().to_vec1().unwrap()))
        .collect()
}

fn losses(dir: &Path) -> Vec<f64> {
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

fn assert_close(a: &[(String, Vec<f32>)], b: &[(String, Vec<f32>)], tol: f32) {
    for ((name, x), (_, y)) in a.iter().zip(b) {
        let scale = y.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
        let d = x
            .iter()
            .zip(y)
            .fold(0.0f32, |m, (p, q)| m.max((p - q).abs()));
        assert!(
            d.is_finite() && d / scale < tol,
            "{name}: differs by {d} (scale {scale})"
        );
    }
}

#[test]
fn sft_through_the_train_pass_follows_autograd() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SftConfig {
        optim: optim(4),
        max_length: 32,
        ..SftConfig::default()
    };
    let ex = sft_examples();
    let fast = model(3);
    let slow = model(3).with_autograd();
    ouro_train::sft::train_examples(&fast, &ex, 0, &cfg, &dir.path().join("fast"), None).unwrap();
    ouro_train::sft::train_examples(&slow, &ex, 0, &cfg, &dir.path().join("slow"), None).unwrap();
    let (lf, ls) = (
        losses(&dir.path().join("fast")),
        losses(&dir.path().join("slow")),
    );
    for (a, b) in lf.iter().zip(&ls) {
        assert!((a - b).abs() < 1e-4 * b.abs().max(1.0), "loss {a} vs {b}");
    }
    assert_close(&params(&fast), &params(&slow), 1e-3);
}

#[test]
fn dpo_through_the_train_pass_follows_autograd() {
    let dir = tempfile::tempdir().unwrap();
    let ex: Vec<DpoExample> = (0..8)
        .map(|i| DpoExample {
            prompt: tokens(5 + i % 3, i),
            chosen: tokens(4 + i % 2, i + 20),
            rejected: tokens(6, i + 40),
            chosen_w: vec![1.0; 4 + i % 2],
            rejected_w: vec![1.0; 6],
            index: i,
        })
        .collect();
    let cfg = DpoConfig {
        optim: OptimConfig {
            batch_size: 2,
            ..optim(3)
        },
        ..DpoConfig::default()
    };
    let fast = model(5);
    let slow = model(5).with_autograd();
    let refs = ouro_train::dpo::reference_logps(&slow, &ex, 0, 2).unwrap();
    for (m, name) in [(&fast, "fast"), (&slow, "slow")] {
        ouro_train::dpo::train_examples(m, &ex, &refs, 0, &cfg, &dir.path().join(name), None)
            .unwrap();
    }
    let (lf, ls) = (
        losses(&dir.path().join("fast")),
        losses(&dir.path().join("slow")),
    );
    for (a, b) in lf.iter().zip(&ls) {
        assert!((a - b).abs() < 1e-4, "loss {a} vs {b}");
    }
    assert_close(&params(&fast), &params(&slow), 1e-3);
}

#[test]
fn resuming_through_the_train_pass_is_bitwise_exact() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SftConfig {
        optim: OptimConfig {
            save_every: 3,
            ..optim(6)
        },
        max_length: 32,
        ..SftConfig::default()
    };
    let ex = sft_examples();
    let straight = model(7);
    ouro_train::sft::train_examples(&straight, &ex, 0, &cfg, &dir.path().join("a"), None).unwrap();
    let first = model(7);
    ouro_train::sft::train_examples(&first, &ex, 0, &cfg, &dir.path().join("b"), Some(3)).unwrap();
    let second = model(7);
    let r = ouro_train::sft::train_examples(&second, &ex, 0, &cfg, &dir.path().join("b"), None)
        .unwrap();
    assert_eq!(r.resumed_from, Some(3));
    assert_eq!(
        params(&straight),
        params(&second),
        "parameters differ after resume"
    );
    assert_eq!(losses(&dir.path().join("a")), losses(&dir.path().join("b")));
}
