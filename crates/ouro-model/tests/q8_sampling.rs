//! 8-bit sampling weights: the generation step over Q8_0 copies stays close to
//! the f32 step, and nothing but the generation step sees them.

mod common;

use candle_core::{DType, Tensor};
use common::*;
use ouro_model::{Config, KvCache};

fn config() -> Config {
    let mut c = Config::tiny();
    c.vocab_size = 97;
    c.hidden_size = 64;
    c.intermediate_size = 128;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
    c.num_key_value_heads = Some(2);
    c.tie_word_embeddings = false;
    c
}

/// Logits of a 6-token prefill and then 5 single-token steps, `[steps, V]` each.
fn step_logits(d: &ouro_model::Decoder, ids: &Tensor) -> Vec<Vec<f32>> {
    let mut cache = KvCache::new();
    let mut out = Vec::new();
    let pos = |a: u32, b: u32| vec![(a..b).collect::<Vec<u32>>()];
    let l = d
        .forward_step(
            &ids.narrow(1, 0, 6).unwrap(),
            &pos(0, 6),
            &[vec![true; 6]],
            &mut cache,
        )
        .unwrap();
    out.push(l.flatten_all().unwrap().to_vec1::<f32>().unwrap());
    for t in 6..11 {
        let l = d
            .forward_step(
                &ids.narrow(1, t, 1).unwrap(),
                &pos(t as u32, t as u32 + 1),
                &[vec![true; t + 1]],
                &mut cache,
            )
            .unwrap();
        out.push(l.flatten_all().unwrap().to_vec1::<f32>().unwrap());
    }
    out
}

#[test]
fn q8_generation_steps_track_f32_and_training_is_untouched() {
    let cfg = config();
    let (_vm, mut d) = build(&cfg, 11, DType::F32);
    let ids = ids(1, 11, cfg.vocab_size, 3);
    let a = step_logits(&d, &ids);
    let before = d.forward(&ids).unwrap();
    assert_eq!(d.quantize_for_sampling().unwrap(), 7 * 2 + 1);
    let after = d.forward(&ids).unwrap();
    let same = (before - after).unwrap().abs().unwrap().max_all().unwrap();
    assert_eq!(
        same.to_scalar::<f32>().unwrap(),
        0.0,
        "the training forward changed"
    );

    let b = step_logits(&d, &ids);
    let mut agree = 0;
    for (x, y) in a.iter().zip(&b) {
        let scale = x.iter().fold(0f32, |m, v| m.max(v.abs()));
        let diff = x.iter().zip(y).fold(0f32, |m, (p, q)| m.max((p - q).abs()));
        assert!(
            diff < 0.05 * scale.max(1.0),
            "max diff {diff} vs logit scale {scale}"
        );
        assert!(diff > 0.0, "the q8 weights were not used");
        let argmax = |v: &[f32]| (0..v.len()).max_by(|&i, &j| v[i].total_cmp(&v[j])).unwrap();
        agree += (argmax(x) == argmax(y)) as usize;
    }
    assert!(agree >= 5, "greedy tokens agree at {agree} of 6 steps");
}
