//! The device-generic hand-written pass agrees with candle's autograd through
//! `Decoder::token_logprobs` (itself checked against finite differences in
//! `gradients.rs`): log-probs and every parameter gradient, in f32 and in bf16 over f32
//! master weights, with the LM head in one chunk and in several.

mod common;

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use common::*;
use ouro_model::tensor_pass::TensorPass;
use ouro_model::Config;

fn flat(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// Compares the pass over `dec` with autograd over `reference` (same vars), returning the
/// worst relative log-prob and gradient differences.
fn compare(
    label: &str,
    vm: &candle_nn::VarMap,
    dec: &ouro_model::Decoder,
    reference: &ouro_model::Decoder,
    (b, t): (usize, usize),
    chunk_elems: usize,
) -> (f32, f32) {
    let vocab = dec.config().vocab_size;
    let ids = ids(b, t, vocab, 1);
    let targets = common::ids(b, t, vocab, 2);
    let c = Tensor::from_vec(coef(b, t), (b, t), &Device::Cpu).unwrap();
    let lp = reference
        .token_logprobs(&ids, &targets)
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap();
    let want = (&lp * &c).unwrap().sum_all().unwrap().backward().unwrap();
    let pass = TensorPass::forward_chunked(dec, &ids, &targets, chunk_elems)
        .unwrap()
        .unwrap_or_else(|| panic!("{label}: tensor pass not available"));
    assert_eq!(pass.logprobs().dtype(), DType::F32);
    let lp_err = max_rel(&flat(pass.logprobs()), &flat(&lp));
    let got: HashMap<String, Tensor> = pass.backward(&c).unwrap().into_iter().collect();
    let data = vm.data().lock().unwrap();
    assert_eq!(got.len(), data.len(), "{label}: one gradient per weight");
    let mut worst = 0.0f32;
    for (name, var) in data.iter() {
        let g = got
            .get(name)
            .unwrap_or_else(|| panic!("{label}: no gradient for {name}"));
        assert_eq!(g.dtype(), DType::F32, "{label}: {name}");
        assert_eq!(g.shape(), var.shape(), "{label}: {name}");
        let w = want
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("{label}: autograd has no gradient for {name}"));
        let e = max_rel(&flat(g), &flat(w));
        assert!(e.is_finite(), "{label}: {name}: non-finite gradient");
        worst = worst.max(e);
        if e > 1e-4 && dec.dtype() == DType::F32 {
            panic!("{label}: {name}: gradient differs by {e} (relative to its max)");
        }
    }
    (lp_err, worst)
}

/// The CPU pass's decoders plus Qwen3's q/k norms (which only this pass covers).
fn configs() -> Vec<(&'static str, Config)> {
    let mut v = pass_configs();
    v.push((
        "qwen3 (q/k norms, qkv bias, untied)",
        full_featured_config(),
    ));
    v
}

#[test]
fn tensor_pass_matches_autograd_in_f32() {
    for ((label, cfg), (b, t)) in configs()
        .into_iter()
        .zip([(3, 9), (2, 70), (2, 9), (2, 11)])
    {
        let (vm, mut dec) = build(&cfg, 5, DType::F32);
        dec.set_generic_ops(true);
        // One head chunk, then chunks of 7 rows (the last one ragged).
        for elems in [1 << 22, 7 * cfg.vocab_size] {
            let (lp, _) = compare(label, &vm, &dec, &dec, (b, t), elems);
            assert!(lp < 1e-5, "{label}: logprobs differ by {lp}");
        }
    }
}

#[test]
fn tensor_pass_in_bf16_stays_near_autograd_in_bf16() {
    for (label, cfg) in configs() {
        let (vm, mut base) = build(&cfg, 5, DType::F32);
        base.set_generic_ops(true);
        let mut half =
            ouro_model::checkpoint::compute_decoder(&cfg, &vm, DType::BF16, &Device::Cpu).unwrap();
        half.set_generic_ops(true);
        let (lp, grads) = compare(label, &vm, &half, &half, (2, 9), 1 << 22);
        assert!(lp < 2e-2, "{label}: bf16 logprobs differ by {lp}");
        assert!(grads < 5e-2, "{label}: bf16 gradients differ by {grads}");
    }
}

#[test]
fn tensor_pass_declines_lora_and_rejects_bad_ids() {
    // LoRA adapters go through candle's autograd instead.
    let cfg = Config::tiny();
    let (_, mut with_lora) = build(&cfg, 1, DType::F32);
    let lora = ouro_model::lora::LoraConfig {
        r: 2,
        lora_alpha: 4.0,
        lora_dropout: 0.0,
        target_modules: vec!["q_proj".into()],
    };
    let adapters =
        ouro_model::lora::LoraAdapters::init(&cfg, &lora, 1, DType::F32, &Device::Cpu).unwrap();
    with_lora.attach_lora(&adapters).unwrap();
    let ids = ids(1, 4, cfg.vocab_size, 1);
    assert!(TensorPass::forward(&with_lora, &ids, &ids)
        .unwrap()
        .is_none());
    let (_, dec) = build(&cfg, 1, DType::F32);
    let bad = Tensor::from_vec(vec![1u32, 2, cfg.vocab_size as u32], (1, 3), &Device::Cpu).unwrap();
    let err = TensorPass::forward(&dec, &bad, &bad)
        .err()
        .expect("out-of-range id");
    assert!(err.to_string().contains("out of range"), "{err}");
}
