//! The device-generic path (candle autograd over ops with CUDA kernels) run on the CPU:
//! it must train like the hand-written fast path, in f32 to 1e-5 and with bf16 compute
//! (f32 master weights) to 2e-2. A GPU runs this path, so this is its CPU check.
#![cfg(feature = "decoder")]

mod common;

use candle_core::{DType, Device};
use common::{assert_losses, optim};
use ouro_model::Config;
use ouro_train::config::SftConfig;
use ouro_train::run::DecoderLm;
use std::path::Path;

fn model(seed: u64) -> DecoderLm {
    common::model(seed, &Device::Cpu)
}

fn sft_losses(m: &DecoderLm, out: &Path) -> Vec<f64> {
    common::sft_losses(m, out, 3)
}

fn dpo_losses(m: &DecoderLm, out: &Path) -> Vec<f64> {
    common::dpo_losses(m, out, 3)
}

#[test]
fn generic_path_trains_sft_like_the_fast_path_in_f32() {
    let dir = tempfile::tempdir().unwrap();
    let fast = model(3);
    let generic = model(3).with_generic();
    assert!(fast.uses_hand_pass() && !generic.uses_hand_pass());
    assert!(generic.uses_tensor_pass());
    let a = sft_losses(&fast, &dir.path().join("fast"));
    let b = sft_losses(&generic, &dir.path().join("generic"));
    assert_losses(&b, &a, 1e-5, "sft generic vs fast");
}

#[test]
fn generic_path_trains_dpo_like_the_fast_path_in_f32() {
    let dir = tempfile::tempdir().unwrap();
    let a = dpo_losses(&model(5), &dir.path().join("fast"));
    let b = dpo_losses(&model(5).with_generic(), &dir.path().join("generic"));
    assert_losses(&b, &a, 1e-5, "dpo generic vs fast");
}

/// The generic path's gradients come from the hand-written tensor pass; candle's autograd
/// over the same ops is the reference it must train like (DPO and SFT, f32 and bf16).
#[test]
fn tensor_pass_trains_like_autograd() {
    let dir = tempfile::tempdir().unwrap();
    let autograd = model(3).with_generic().with_autograd();
    assert!(!autograd.uses_tensor_pass());
    assert_eq!(autograd.gradient_path(), "autograd");
    let a = sft_losses(&autograd, &dir.path().join("sft-autograd"));
    let b = sft_losses(&model(3).with_generic(), &dir.path().join("sft-tensor"));
    assert_losses(&b, &a, 1e-5, "sft tensor pass vs autograd");
    let a = dpo_losses(
        &model(5).with_generic().with_autograd(),
        &dir.path().join("dpo-autograd"),
    );
    let b = dpo_losses(&model(5).with_generic(), &dir.path().join("dpo-tensor"));
    assert_losses(&b, &a, 1e-5, "dpo tensor pass vs autograd");
    let half = |m: DecoderLm| m.with_compute_dtype(DType::BF16).with_generic();
    let a = sft_losses(
        &half(model(3)).with_autograd(),
        &dir.path().join("bf16-autograd"),
    );
    let tensor = half(model(3));
    assert!(tensor.uses_tensor_pass());
    let b = sft_losses(&tensor, &dir.path().join("bf16-tensor"));
    assert_losses(&b, &a, 2e-2, "sft bf16 tensor pass vs autograd");
    // LoRA adapters (over a frozen base) train through the pass as well, DPO included.
    let lora = |m: DecoderLm| {
        m.with_lora(&ouro_train::LoraSettings {
            r: 4,
            ..Default::default()
        })
        .unwrap()
    };
    let tensor = lora(model(5));
    assert_eq!(tensor.gradient_path(), "hand-written tensor pass");
    let a = sft_losses(
        &lora(model(5)).with_autograd(),
        &dir.path().join("lora-autograd"),
    );
    let b = sft_losses(&tensor, &dir.path().join("lora-tensor"));
    assert_losses(&b, &a, 1e-5, "sft lora tensor pass vs autograd");
    assert_ne!(a[0], a[a.len() - 1], "the adapters trained");
    let a = dpo_losses(
        &lora(model(5)).with_autograd(),
        &dir.path().join("lora-dpo-a"),
    );
    let b = dpo_losses(&lora(model(5)), &dir.path().join("lora-dpo-t"));
    assert_losses(&b, &a, 1e-5, "dpo lora tensor pass vs autograd");
}

#[test]
fn bf16_compute_with_f32_master_weights_trains_like_f32() {
    let dir = tempfile::tempdir().unwrap();
    let half = model(3).with_compute_dtype(DType::BF16);
    assert!(!half.uses_hand_pass());
    let a = sft_losses(&model(3), &dir.path().join("sft-f32"));
    let b = sft_losses(&half, &dir.path().join("sft-bf16"));
    assert_losses(&b, &a, 2e-2, "sft bf16 vs f32");
    assert_ne!(a, b, "bf16 compute left no trace");
    // The master weights stayed f32 and moved.
    for (name, v) in ouro_train::model::TrainableLm::vars(&half) {
        assert_eq!(v.dtype(), DType::F32, "{name}");
    }
    let a = dpo_losses(&model(5), &dir.path().join("dpo-f32"));
    let b = dpo_losses(
        &model(5).with_compute_dtype(DType::BF16),
        &dir.path().join("dpo-bf16"),
    );
    assert_losses(&b, &a, 2e-2, "dpo bf16 vs f32");
}

fn params(m: &DecoderLm) -> Vec<Vec<f32>> {
    ouro_train::model::TrainableLm::vars(m)
        .iter()
        .map(|(_, v)| v.as_tensor().flatten_all().unwrap().to_vec1().unwrap())
        .collect()
}

/// The generic path keeps AdamW's moments on the model's device; a checkpoint must carry
/// them there and back so that a resumed run is the uninterrupted one.
#[test]
fn generic_path_resumes_bitwise_with_moments_on_the_device() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SftConfig {
        optim: ouro_train::config::OptimConfig {
            save_every: 2,
            ..optim(4)
        },
        max_length: 32,
        ..SftConfig::default()
    };
    let ex = common::sft_examples();
    let straight = model(7).with_generic();
    ouro_train::sft::train_examples(&straight, &ex, 0, &cfg, &dir.path().join("a"), None).unwrap();
    let first = model(7).with_generic();
    ouro_train::sft::train_examples(&first, &ex, 0, &cfg, &dir.path().join("b"), Some(2)).unwrap();
    let second = model(7).with_generic();
    let r = ouro_train::sft::train_examples(&second, &ex, 0, &cfg, &dir.path().join("b"), None)
        .unwrap();
    assert_eq!(r.resumed_from, Some(2));
    assert_eq!(
        params(&straight),
        params(&second),
        "parameters differ after resume"
    );
    assert_eq!(
        common::losses(&dir.path().join("a")),
        common::losses(&dir.path().join("b"))
    );
    // Moments that never reached the checkpoint would restart from zero: a resumed run
    // without them must differ, or this test could not fail.
    let third = model(7).with_generic();
    let ck = dir.path().join("b/checkpoint-000002/optimizer.safetensors");
    let zeros: std::collections::HashMap<String, candle_core::Tensor> =
        candle_core::safetensors::load(&ck, &Device::Cpu)
            .unwrap()
            .into_iter()
            .map(|(k, t)| (k, t.zeros_like().unwrap()))
            .collect();
    std::fs::remove_dir_all(dir.path().join("b/checkpoint-000004")).unwrap();
    candle_core::safetensors::save(&zeros, &ck).unwrap();
    ouro_train::sft::train_examples(&third, &ex, 0, &cfg, &dir.path().join("b"), None).unwrap();
    assert_ne!(
        params(&straight),
        params(&third),
        "moments made no difference"
    );
}

fn model_dir(dir: &Path) {
    let tok = ouro_train::tokenize::char_tokenizer("abcdefghijklmnopqrstuvwxyz =()+:");
    let mut cfg = Config::tiny();
    cfg.vocab_size = tok.tokenizer.get_vocab_size(true);
    cfg.eos_token_id = Some(1.into());
    let vm = ouro_model::init::init_varmap(&cfg, 0, DType::F32, &Device::Cpu).unwrap();
    ouro_model::checkpoint::save(dir, &cfg, &vm, Some(&tok.tokenizer)).unwrap();
}

#[test]
fn train_report_names_device_dtype_and_path_and_save_dtype_is_honoured() {
    let tmp = tempfile::tempdir().unwrap();
    model_dir(&tmp.path().join("m"));
    std::fs::create_dir_all(tmp.path().join("d")).unwrap();
    let rows: Vec<ouro_data::SftRecord> = (0..4)
        .map(|i| ouro_data::SftRecord {
            prompt: format!("def f{i}(x):"),
            completion: " return x+1".into(),
            problem_id: format!("p{i}"),
            sample_id: None,
            round: 0,
            origin: "reference".into(),
            score: None,
            weight_spans: vec![],
        })
        .collect();
    ouro_data::shard::write_records(tmp.path().join("d/part-00000.parquet"), &rows).unwrap();
    let cfg = SftConfig {
        optim: optim(2),
        ..SftConfig::default()
    };
    let report = |out: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(out.join("train_report.json")).unwrap())
            .unwrap()
    };
    let (m, d) = (tmp.path().join("m"), tmp.path().join("d"));
    let fast = tmp.path().join("fast");
    ouro_train::run::train_sft_on(&cfg, &m, &d, &fast, &ouro_train::run::TrainDevice::cpu())
        .unwrap();
    let r = report(&fast);
    assert_eq!(
        (&r["device"], &r["dtype"], &r["backend"], &r["save_dtype"]),
        (&"cpu".into(), &"f32".into(), &"fast".into(), &"f32".into())
    );
    assert_eq!(r["optimizer"], "host");
    assert_eq!(r["gradients"], "hand-written CPU pass");
    let half = tmp.path().join("half");
    let dev = ouro_train::run::TrainDevice {
        place: ouro_model::Placement::resolve(Some("cpu"), Some("bf16")).unwrap(),
        generic: true,
        save_dtype: Some(DType::BF16),
    };
    let (rep, _) = ouro_train::run::train_sft_on(&cfg, &m, &d, &half, &dev).unwrap();
    assert!(rep.final_loss.is_finite());
    let r = report(&half);
    assert_eq!(
        (&r["device"], &r["dtype"], &r["backend"], &r["save_dtype"]),
        (
            &"cpu".into(),
            &"bf16".into(),
            &"generic".into(),
            &"bf16".into()
        )
    );
    assert_eq!(
        r["optimizer"], "device",
        "the generic path runs the GPU's optimiser"
    );
    assert_eq!(r["gradients"], "hand-written tensor pass");
    let saved =
        ouro_model::checkpoint::load_with_dtype(half.join("model"), &Device::Cpu, DType::BF16)
            .unwrap();
    assert_eq!(saved.config.torch_dtype.as_deref(), Some("bfloat16"));
    // The f32 run's checkpoints do not go on in bf16: a resume with another --dtype
    // was accepted, and the report named bf16 for steps trained in f32.
    let err = ouro_train::run::train_sft_on(&cfg, &m, &d, &fast, &dev)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the run started on cpu, f32, fast backend and would go on on cpu, bf16, generic backend"),
        "{err}"
    );
}
