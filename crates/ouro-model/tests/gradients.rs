//! Acceptance: every parameter gets a gradient, and the analytic gradient of
//! the f64 model agrees with finite differences.

mod common;

use candle_core::{DType, Device, Tensor, D};
use common::*;

fn loss(d: &ouro_model::Decoder, ids: &Tensor, targets: &Tensor, weights: &Tensor) -> Tensor {
    // Mix both training heads so both are checked.
    let lp = d.token_logprobs(ids, targets).unwrap();
    let logits = d.forward(ids).unwrap();
    let a = (lp * weights).unwrap().sum_all().unwrap();
    let b = logits.sqr().unwrap().mean_all().unwrap();
    (a + b).unwrap()
}

#[test]
fn every_parameter_receives_a_nonzero_gradient() {
    for cfg in [full_featured_config(), ouro_model::Config::tiny()] {
        let mut cfg = cfg;
        cfg.vocab_size = cfg.vocab_size.min(64);
        let (vm, d) = build(&cfg, 1, DType::F32);
        let ids = ids(2, 7, cfg.vocab_size, 1);
        let targets = common::ids(2, 7, cfg.vocab_size, 2);
        let w = Tensor::ones((2, 7), DType::F32, &Device::Cpu).unwrap();
        let grads = loss(&d, &ids, &targets, &w).backward().unwrap();
        let data = vm.data().lock().unwrap();
        assert_eq!(data.len(), cfg.parameter_shapes().len());
        for (name, var) in data.iter() {
            let g = grads
                .get(var.as_tensor())
                .unwrap_or_else(|| panic!("{name}: no gradient"));
            let n = g
                .abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(n > 0.0 && n.is_finite(), "{name}: gradient norm {n}");
        }
    }
}

#[test]
fn f64_gradients_match_finite_differences() {
    let cfg = full_featured_config();
    let (vm, d) = build(&cfg, 3, DType::F64);
    let ids = ids(2, 5, cfg.vocab_size, 3);
    let targets = common::ids(2, 5, cfg.vocab_size, 4);
    let w = Tensor::from_vec(
        (0..10)
            .map(|i| 0.5 + (i % 3) as f64 * 0.25)
            .collect::<Vec<_>>(),
        (2, 5),
        &Device::Cpu,
    )
    .unwrap();
    let grads = loss(&d, &ids, &targets, &w).backward().unwrap();
    let data = vm.data().lock().unwrap();
    let eps = 1e-6;
    let mut checked = 0;
    let mut worst = 0.0f64;
    for (name, var) in data.iter() {
        let g = grads
            .get(var.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let orig = var
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        // Check the 3 entries with the largest gradient in each tensor (well above FD noise).
        let mut idx: Vec<usize> = (0..g.len()).collect();
        idx.sort_by(|&a, &b| g[b].abs().total_cmp(&g[a].abs()));
        for &i in idx.iter().take(3) {
            let eval = |delta: f64| {
                let mut v = orig.clone();
                v[i] += delta;
                var.set(&Tensor::from_vec(v, var.as_tensor().shape(), &Device::Cpu).unwrap())
                    .unwrap();
                loss(&d, &ids, &targets, &w).to_scalar::<f64>().unwrap()
            };
            let num = (eval(eps) - eval(-eps)) / (2.0 * eps);
            eval(0.0);
            let rel = (num - g[i]).abs() / num.abs().max(g[i].abs()).max(1e-8);
            worst = worst.max(rel);
            assert!(
                rel < 1e-3,
                "{name}[{i}]: analytic {} vs numeric {num} (rel {rel:.2e})",
                g[i]
            );
            checked += 1;
        }
    }
    assert!(checked >= 3 * cfg.parameter_shapes().len());
    eprintln!("finite differences: {checked} entries, worst relative error {worst:.2e}");
}

#[test]
fn fused_rms_norm_and_softmax_match_plain_candle_ops_and_their_gradients() {
    let x = candle_core::Var::from_tensor(
        &normal((3, 5, 8), 0.0, 1.0, 1).to_dtype(DType::F64).unwrap(),
    )
    .unwrap();
    let w = candle_core::Var::from_tensor(&normal(8, 1.0, 0.3, 2).to_dtype(DType::F64).unwrap())
        .unwrap();
    let r = normal((3, 5, 8), 0.0, 1.0, 3).to_dtype(DType::F64).unwrap();
    let fused = ouro_model::fused::rms_norm(&x, &w, 1e-5).unwrap();
    let plain = ouro_model::fused::rms_norm_composite(&x, &w, 1e-5).unwrap();
    let gf = (fused.clone() * &r)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let gp = (plain.clone() * &r)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let maxdiff = |a: &Tensor, b: &Tensor| {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    };
    assert!(maxdiff(&fused, &plain) < 1e-12);
    assert!(maxdiff(gf.get(&x).unwrap(), gp.get(&x).unwrap()) < 1e-12);
    assert!(maxdiff(gf.get(&w).unwrap(), gp.get(&w).unwrap()) < 1e-12);

    let sf = ouro_model::fused::softmax_last_dim(&x).unwrap();
    let sp = candle_nn::ops::softmax(&x, D::Minus1).unwrap();
    let gf = (sf.clone() * &r)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let gp = (sp.clone() * &r)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    assert!(maxdiff(&sf, &sp) < 1e-12);
    assert!(maxdiff(gf.get(&x).unwrap(), gp.get(&x).unwrap()) < 1e-12);
}

#[test]
fn chunked_logprob_head_matches_full_log_softmax_and_gradients() {
    let dev = Device::Cpu;
    let h =
        candle_core::Var::from_tensor(&normal((11, 6), 0.0, 1.0, 4).to_dtype(DType::F64).unwrap())
            .unwrap();
    let w =
        candle_core::Var::from_tensor(&normal((13, 6), 0.0, 1.0, 5).to_dtype(DType::F64).unwrap())
            .unwrap();
    let t = Tensor::from_vec(
        (0..11u32).map(|i| (i * 5) % 13).collect::<Vec<_>>(),
        11,
        &dev,
    )
    .unwrap();
    let g = normal(11, 0.0, 1.0, 6).to_dtype(DType::F64).unwrap();
    // chunk of 3 rows (39 elems) to exercise several chunks
    let fused = ouro_model::logprob_head::chunked_logprobs(&h, &w, &t, 39).unwrap();
    let full = candle_nn::ops::log_softmax(&h.matmul(&w.t().unwrap()).unwrap(), D::Minus1)
        .unwrap()
        .gather(&t.unsqueeze(1).unwrap(), 1)
        .unwrap()
        .squeeze(1)
        .unwrap();
    let maxdiff = |a: &Tensor, b: &Tensor| {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    };
    assert!(maxdiff(&fused, &full) < 1e-12);
    let gf = (fused * &g).unwrap().sum_all().unwrap().backward().unwrap();
    let gp = (full * &g).unwrap().sum_all().unwrap().backward().unwrap();
    assert!(maxdiff(gf.get(&h).unwrap(), gp.get(&h).unwrap()) < 1e-12);
    assert!(maxdiff(gf.get(&w).unwrap(), gp.get(&w).unwrap()) < 1e-12);
}
