//! The hand-written training pass agrees with candle's autograd through
//! `Decoder::token_logprobs` (itself checked against finite differences in
//! `gradients.rs`): log-probs and every parameter gradient.

mod common;

use candle_core::{DType, Device, Tensor};
use common::*;
use ouro_model::train_pass::{GradSlots, TrainPass};
use ouro_model::Config;

#[test]
fn train_pass_matches_autograd() {
    // 70 positions: the attention runs in causal row blocks (with a ragged last one).
    for ((label, cfg), (b, t)) in pass_configs().into_iter().zip([(3, 9), (2, 70), (2, 9)]) {
        let (vm, dec) = build(&cfg, 5, DType::F32);
        let ids = ids(b, t, cfg.vocab_size, 1);
        let targets = common::ids(b, t, cfg.vocab_size, 2);
        let c = coef(b, t);
        let ct = Tensor::from_vec(c.clone(), (b, t), &Device::Cpu).unwrap();

        let lp = dec.token_logprobs(&ids, &targets).unwrap();
        let grads = (&lp * &ct).unwrap().sum_all().unwrap().backward().unwrap();
        let lp: Vec<f32> = lp.flatten_all().unwrap().to_vec1().unwrap();

        let pass = TrainPass::forward(&dec, &ids, &targets)
            .unwrap()
            .unwrap_or_else(|| panic!("{label}: train pass not available"));
        let e = max_rel(pass.logprobs(), &lp);
        assert!(e < 1e-5, "{label}: logprobs differ by {e}");

        let data = vm.data().lock().unwrap();
        let mut names: Vec<&String> = data.keys().collect();
        names.sort();
        // Filled with garbage: an overwriting backward must not read it.
        let mut bufs: Vec<Vec<f32>> = names
            .iter()
            .map(|n| vec![f32::NAN; data[*n].elem_count()])
            .collect();
        let mut slots = GradSlots::new(true);
        for (n, buf) in names.iter().zip(bufs.iter_mut()) {
            slots.insert(n, buf);
        }
        pass.backward(&dec, &c, &mut slots).unwrap();
        for (n, got) in names.iter().zip(&bufs) {
            let want: Vec<f32> = grads
                .get(data[*n].as_tensor())
                .unwrap_or_else(|| panic!("{label}: autograd has no gradient for {n}"))
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let e = max_rel(got, &want);
            assert!(
                e < 1e-4,
                "{label}: {n}: gradient differs by {e} (relative to its max)"
            );
        }
    }
}

#[test]
fn train_pass_accumulates_into_existing_gradients() {
    let cfg = Config::tiny();
    let (vm, dec) = build(&cfg, 2, DType::F32);
    let ids = ids(2, 6, cfg.vocab_size, 3);
    let targets = common::ids(2, 6, cfg.vocab_size, 4);
    let c = coef(2, 6);
    let data = vm.data().lock().unwrap();
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    let run = |bufs: &mut Vec<Vec<f32>>, overwrite: bool| {
        let mut slots = GradSlots::new(overwrite);
        for (n, buf) in names.iter().zip(bufs.iter_mut()) {
            slots.insert(n, buf);
        }
        let pass = TrainPass::forward(&dec, &ids, &targets).unwrap().unwrap();
        pass.backward(&dec, &c, &mut slots).unwrap();
    };
    let mut once: Vec<Vec<f32>> = names
        .iter()
        .map(|n| vec![0.0; data[*n].elem_count()])
        .collect();
    run(&mut once, true);
    let mut twice = once.clone();
    run(&mut twice, false);
    for ((n, a), b) in names.iter().zip(&once).zip(&twice) {
        let doubled: Vec<f32> = a.iter().map(|x| 2.0 * x).collect();
        assert!(max_rel(b, &doubled) < 1e-6, "{n}: second pass did not add");
    }
}

#[test]
fn train_pass_declines_what_it_does_not_cover() {
    // q/k norms (Qwen3) and f64 weights go through candle's autograd instead.
    let (_, qwen3) = build(&full_featured_config(), 1, DType::F32);
    let ids = ids(1, 4, 37, 1);
    assert!(TrainPass::forward(&qwen3, &ids, &ids).unwrap().is_none());
    let (_, f64_model) = build(&Config::tiny(), 1, DType::F64);
    assert!(TrainPass::forward(&f64_model, &ids, &ids)
        .unwrap()
        .is_none());
}

#[test]
fn train_pass_rejects_out_of_range_tokens() {
    let cfg = Config::tiny();
    let (_, dec) = build(&cfg, 1, DType::F32);
    let ids = Tensor::from_vec(vec![1u32, 2, cfg.vocab_size as u32], (1, 3), &Device::Cpu).unwrap();
    let err = TrainPass::forward(&dec, &ids, &ids)
        .err()
        .expect("out-of-range id");
    assert!(err.to_string().contains("out of range"), "{err}");
}
