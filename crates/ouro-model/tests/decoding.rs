//! The generation path (KV cache, left padding) agrees with the training forward.

mod common;

use candle_core::{DType, Device, Tensor, D};
use common::*;
use ouro_model::KvCache;

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

#[test]
fn kv_cache_steps_reproduce_the_full_forward() {
    let cfg = full_featured_config();
    let (_vm, d) = build(&cfg, 5, DType::F64);
    let ids = ids(2, 9, cfg.vocab_size, 7);
    let full = d.forward(&ids).unwrap(); // [2, 9, V]
    let mut cache = KvCache::new();
    // prefill 4 tokens, then one at a time
    let pos = |a: u32, b: u32| vec![(a..b).collect::<Vec<u32>>(); 2];
    let valid = |n: usize| vec![vec![true; n]; 2];
    let l = d
        .forward_step(
            &ids.narrow(1, 0, 4).unwrap(),
            &pos(0, 4),
            &valid(4),
            &mut cache,
        )
        .unwrap();
    assert!(max_abs_diff(&l, &full.narrow(1, 3, 1).unwrap().squeeze(1).unwrap()) < 1e-10);
    // The weights are training vars, yet the step's logits carry no backprop graph: a
    // graph would keep every layer's activations alive until the logits are dropped.
    assert!(full.track_op(), "the weights are vars");
    assert!(!l.track_op(), "the generation step's logits hold its graph");
    for t in 4..9 {
        let l = d
            .forward_step(
                &ids.narrow(1, t, 1).unwrap(),
                &pos(t as u32, t as u32 + 1),
                &valid(t + 1),
                &mut cache,
            )
            .unwrap();
        assert!(
            max_abs_diff(&l, &full.narrow(1, t, 1).unwrap().squeeze(1).unwrap()) < 1e-10,
            "step {t}"
        );
    }
    assert_eq!(cache.len(), 9);
}

#[test]
fn left_padded_rows_match_unpadded_rows() {
    let cfg = full_featured_config();
    let (_vm, d) = build(&cfg, 6, DType::F64);
    let short = ids(1, 3, cfg.vocab_size, 9);
    let alone = d
        .forward(&short)
        .unwrap()
        .narrow(1, 2, 1)
        .unwrap()
        .squeeze(1)
        .unwrap();
    // batch: row 0 = 2 pads + short, row 1 = some 5-token prompt
    let other = ids(1, 5, cfg.vocab_size, 10);
    let padded = Tensor::cat(
        &[
            &Tensor::zeros((1, 2), DType::U32, &Device::Cpu).unwrap(),
            &short,
        ],
        1,
    )
    .unwrap();
    let batch = Tensor::cat(&[&padded, &other], 0).unwrap();
    let positions = vec![vec![0, 0, 0, 1, 2], vec![0, 1, 2, 3, 4]];
    let valid = vec![vec![false, false, true, true, true], vec![true; 5]];
    let mut cache = KvCache::new();
    let l = d
        .forward_step(&batch, &positions, &valid, &mut cache)
        .unwrap();
    assert!(max_abs_diff(&l.narrow(0, 0, 1).unwrap(), &alone) < 1e-10);
}

#[test]
fn right_padding_mask_leaves_real_positions_unchanged() {
    let cfg = full_featured_config();
    let (_vm, d) = build(&cfg, 8, DType::F64);
    let a = ids(1, 4, cfg.vocab_size, 11);
    let alone = d.forward(&a).unwrap();
    let padded = Tensor::cat(
        &[
            &a,
            &Tensor::zeros((1, 3), DType::U32, &Device::Cpu).unwrap(),
        ],
        1,
    )
    .unwrap();
    let mask = Tensor::from_vec(vec![1u32, 1, 1, 1, 0, 0, 0], (1, 7), &Device::Cpu).unwrap();
    let out = d
        .forward_masked(&padded, Some(&mask))
        .unwrap()
        .narrow(1, 0, 4)
        .unwrap();
    assert!(max_abs_diff(&out, &alone) < 1e-10);
    let lp = d
        .token_logprobs_masked(&padded, &padded, Some(&mask))
        .unwrap()
        .narrow(1, 0, 4)
        .unwrap();
    let expect = candle_nn::ops::log_softmax(&alone, D::Minus1)
        .unwrap()
        .gather(&a.unsqueeze(2).unwrap(), 2)
        .unwrap()
        .squeeze(2)
        .unwrap();
    assert!(max_abs_diff(&lp, &expect) < 1e-10);
}

#[test]
fn interleaved_rope_equals_half_split_rope_on_permuted_weights() {
    // GGUF stores q/k rows interleaved; un-permuting the rows of q/k weights and
    // switching the layout must give the same model.
    let mut cfg = ouro_model::Config::tiny();
    cfg.vocab_size = 40;
    let (vm, d_half) = build(&cfg, 12, DType::F64);
    let hd = cfg.head_dim();
    let mut icfg = cfg.clone();
    icfg.rope_interleaved = Some(true);
    let data = vm.data().lock().unwrap();
    let mut tensors = std::collections::HashMap::new();
    for (n, v) in data.iter() {
        let t = v.as_tensor().clone();
        let t = if n.ends_with("q_proj.weight") || n.ends_with("k_proj.weight") {
            // half-split row order -> interleaved row order, per head
            let rows = t.dim(0).unwrap();
            let mut perm = Vec::new();
            for h in 0..rows / hd {
                for i in 0..hd / 2 {
                    perm.push((h * hd + i) as u32);
                    perm.push((h * hd + hd / 2 + i) as u32);
                }
            }
            t.index_select(&Tensor::new(perm.as_slice(), &Device::Cpu).unwrap(), 0)
                .unwrap()
        } else {
            t
        };
        tensors.insert(n.clone(), t);
    }
    let vb = candle_nn::VarBuilder::from_tensors(tensors, DType::F64, &Device::Cpu);
    let d_int = ouro_model::Decoder::new(&icfg, vb).unwrap();
    let x = ids(2, 6, cfg.vocab_size, 13);
    assert!(max_abs_diff(&d_half.forward(&x).unwrap(), &d_int.forward(&x).unwrap()) < 1e-10);
}
