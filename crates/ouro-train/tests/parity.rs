//! Parity with TRL 1.16 / torch on a fixed batch: loss, gradients and DPO metrics.
//! The fixture comes from `python3 scripts/trl_fixtures.py` (runs TRL's own loss code).

use candle_core::{Device, Tensor};
use ouro_train::config::{DpoConfig, DpoLossType};
use ouro_train::dpo::{self, ReferenceLogps};
use ouro_train::model::{BigramLm, TrainableLm};
use ouro_train::sft;
use ouro_train::tokenize::{DpoExample, SftExample};
use serde_json::Value;

fn fixture() -> Value {
    let text = include_str!("fixtures/trl_parity.json");
    serde_json::from_str(text).unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn model(f: &Value) -> BigramLm {
    let (v, d) = (
        f["vocab"].as_u64().unwrap() as usize,
        f["dim"].as_u64().unwrap() as usize,
    );
    let m = BigramLm::new(v, d, 0, &Device::Cpu).unwrap();
    m.embed
        .set(&Tensor::from_vec(floats(&f["embed"]), (v, d), &Device::Cpu).unwrap())
        .unwrap();
    m.head
        .set(&Tensor::from_vec(floats(&f["head"]), (d, v), &Device::Cpu).unwrap())
        .unwrap();
    m
}

fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}[{i}]: got {g}, TRL {w}"
        );
    }
}

fn check_grads(what: &str, m: &BigramLm, surrogate: &Tensor, want: &Value) {
    let grads = surrogate.backward().unwrap();
    for (name, var) in m.vars() {
        let g: Vec<f32> = grads
            .get(var.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_close(
            &format!("{what} grad {name}"),
            &g,
            &floats(&want[&name]),
            1e-5,
        );
    }
}

#[test]
fn sft_loss_and_gradients_match_trl_with_and_without_weights() {
    let f = fixture();
    let pad = f["pad_id"].as_u64().unwrap() as u32;
    for case in f["sft"].as_array().unwrap() {
        let weighted = case["weighted"].as_bool().unwrap();
        let examples: Vec<SftExample> = case["rows"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let (p, c) = (ids(&r["prompt"]), ids(&r["completion"]));
                let w = if weighted {
                    floats(&r["weights"])
                } else {
                    vec![1.0; c.len()]
                };
                SftExample {
                    ids: [p.clone(), c.clone()].concat(),
                    mask: [vec![false; p.len()], vec![true; c.len()]].concat(),
                    span_w: [vec![1.0; p.len()], w].concat(),
                    index: i,
                }
            })
            .collect();
        let m = model(&f);
        let idx: Vec<usize> = (0..examples.len()).collect();
        let num_items = case["num_items"].as_f64().unwrap();
        let r = sft::micro_batch(&m, &examples, &idx, pad, 1.0, num_items, &Device::Cpu).unwrap();
        let want = case["loss"].as_f64().unwrap();
        assert!(
            (r.loss - want).abs() < 1e-5 * (1.0 + want.abs()),
            "weighted={weighted}: {} vs TRL {want}",
            r.loss
        );
        check_grads(
            &format!("sft weighted={weighted}"),
            &m,
            r.surrogate().expect("bigram trains through autograd"),
            &case["grads"],
        );
    }
}

#[test]
fn dpo_loss_gradients_and_metrics_match_trl_for_every_loss_type() {
    let f = fixture();
    let pad = f["pad_id"].as_u64().unwrap() as u32;
    let rows = f["dpo_rows"].as_array().unwrap();
    let examples: Vec<DpoExample> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let (c, rj) = (ids(&r["chosen"]), ids(&r["rejected"]));
            DpoExample {
                prompt: ids(&r["prompt"]),
                chosen_w: vec![1.0; c.len()],
                rejected_w: vec![1.0; rj.len()],
                chosen: c,
                rejected: rj,
                index: i,
            }
        })
        .collect();
    // Sequence reference values carried on the first completion token.
    let spread = |vals: Vec<f32>, lens: Vec<usize>| -> Vec<Vec<f32>> {
        vals.iter()
            .zip(lens)
            .map(|(&v, n)| (0..n).map(|k| if k == 0 { v } else { 0.0 }).collect())
            .collect()
    };
    let refs = ReferenceLogps {
        chosen: spread(
            floats(&f["ref_chosen"]),
            examples.iter().map(|e| e.chosen.len()).collect(),
        ),
        rejected: spread(
            floats(&f["ref_rejected"]),
            examples.iter().map(|e| e.rejected.len()).collect(),
        ),
    };
    let mut seen = std::collections::HashSet::new();
    for case in f["dpo"].as_array().unwrap() {
        let loss_type = match case["loss_type"].as_str().unwrap() {
            "sigmoid" => DpoLossType::Sigmoid,
            "ipo" => DpoLossType::Ipo,
            "hinge" => DpoLossType::Hinge,
            "robust" => DpoLossType::Robust,
            other => panic!("unknown {other}"),
        };
        seen.insert(format!("{loss_type:?}"));
        let cfg = DpoConfig {
            beta: case["beta"].as_f64().unwrap(),
            loss_type,
            label_smoothing: case["label_smoothing"].as_f64().unwrap(),
            rpo_alpha: case["rpo_alpha"].as_f64(),
            ..DpoConfig::default()
        };
        let what = format!("{loss_type:?} rpo={:?}", cfg.rpo_alpha);
        let m = model(&f);
        let idx: Vec<usize> = (0..examples.len()).collect();
        let r =
            dpo::micro_batch(&m, &cfg, &examples, &idx, &refs, pad, 1.0, 1, &Device::Cpu).unwrap();
        let want = case["loss"].as_f64().unwrap();
        assert!(
            (r.loss - want).abs() < 1e-5 * (1.0 + want.abs()),
            "{what}: {} vs TRL {want}",
            r.loss
        );
        let got = serde_json::to_value(r.dpo.unwrap()).unwrap();
        for (k, v) in case["metrics"].as_object().unwrap() {
            let (g, w) = (got[k].as_f64().unwrap(), v.as_f64().unwrap());
            assert!(
                (g - w).abs() < 1e-5 * (1.0 + w.abs()),
                "{what}: metric {k}: {g} vs TRL {w}"
            );
        }
        check_grads(
            &what,
            &m,
            r.surrogate().expect("bigram trains through autograd"),
            &case["grads"],
        );
    }
    assert_eq!(seen.len(), 4, "every loss type has a fixture");
}
