//! LoRA over the real decoder, and the fused CPU attention kernels against the plain
//! candle composition they replace.
#![cfg(feature = "decoder")]

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use ouro_model::lora::{LoraAdapters, LoraConfig};
use ouro_model::{Config, Decoder};
use ouro_train::config::{DpoConfig, LoraSettings, OptimConfig};
use ouro_train::model::TrainableLm;
use ouro_train::run::DecoderLm;
use ouro_train::tokenize::DpoExample;

fn tiny(dtype: DType, seed: u64) -> (Config, VarMap, Decoder) {
    let mut cfg = Config::tiny();
    cfg.vocab_size = 48;
    let vm = ouro_model::init::init_varmap(&cfg, seed, dtype, &Device::Cpu).unwrap();
    let dec = Decoder::new(&cfg, VarBuilder::from_varmap(&vm, dtype, &Device::Cpu)).unwrap();
    (cfg, vm, dec)
}

fn ids(b: usize, t: usize, salt: usize) -> Tensor {
    let v: Vec<u32> = (0..b * t)
        .map(|i| ((i * 31 + salt * 7) % 47) as u32)
        .collect();
    Tensor::from_vec(v, (b, t), &Device::Cpu).unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

/// Sets every `B` of `a` to small deterministic non-zero values.
fn perturb_b(a: &LoraAdapters, dtype: DType) {
    for (i, (name, var)) in a.vars().into_iter().enumerate() {
        if name.ends_with("lora_B.weight") {
            let n = var.elem_count();
            let v: Vec<f64> = (0..n)
                .map(|j| 0.05 * ((i * 13 + j) as f64 * 0.37).sin())
                .collect();
            let t = Tensor::from_vec(v, var.shape(), &Device::Cpu).unwrap();
            var.set(&t.to_dtype(dtype).unwrap()).unwrap();
        }
    }
}

fn adapters(cfg: &Config, dtype: DType) -> LoraAdapters {
    let lc = LoraConfig {
        r: 4,
        lora_alpha: 8.0,
        ..LoraConfig::default()
    };
    LoraAdapters::init(cfg, &lc, 3, dtype, &Device::Cpu).unwrap()
}

#[test]
fn fresh_adapters_leave_logits_unchanged_and_gradients_reach_only_adapters() {
    let (cfg, vm, mut dec) = tiny(DType::F32, 0);
    let x = ids(2, 9, 0);
    let base = dec.forward(&x).unwrap();
    let a = adapters(&cfg, DType::F32);
    assert_eq!(a.vars().len(), 2 * 7 * cfg.num_hidden_layers);
    dec.attach_lora(&a).unwrap();
    let adapted = dec.forward(&x).unwrap();
    assert_eq!(
        max_diff(&base, &adapted),
        0.0,
        "B = 0 must give the base exactly"
    );

    let loss = dec
        .token_logprobs(&x, &ids(2, 9, 1))
        .unwrap()
        .sum_all()
        .unwrap();
    let grads = loss.backward().unwrap();
    for v in vm.all_vars() {
        assert!(
            grads.get(&v).is_none(),
            "a frozen base weight got a gradient"
        );
    }
    let mut b_nonzero = 0;
    for (name, v) in a.vars() {
        let g = grads
            .get(&v)
            .unwrap_or_else(|| panic!("no gradient for {name}"));
        let n = g
            .abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        if name.ends_with("lora_B.weight") && n > 0.0 {
            b_nonzero += 1;
        }
    }
    assert_eq!(
        b_nonzero,
        7 * cfg.num_hidden_layers,
        "every B gets a gradient"
    );
}

#[test]
fn adapter_gradient_matches_finite_differences() {
    let (cfg, _vm, mut dec) = tiny(DType::F64, 1);
    let a = adapters(&cfg, DType::F64);
    perturb_b(&a, DType::F64);
    dec.attach_lora(&a).unwrap();
    let (x, y) = (ids(2, 7, 2), ids(2, 7, 3));
    let coef = Tensor::from_vec(
        (0..14)
            .map(|i| 0.1 + (i as f64 * 0.3).cos())
            .collect::<Vec<_>>(),
        (2, 7),
        &Device::Cpu,
    )
    .unwrap();
    let loss = |d: &Decoder| {
        (d.token_logprobs(&x, &y).unwrap() * &coef)
            .unwrap()
            .sum_all()
            .unwrap()
    };
    let grads = loss(&dec).backward().unwrap();
    let vars = a.vars();
    for name in [
        "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
        "base_model.model.model.layers.1.mlp.down_proj.lora_B.weight",
        "base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight",
    ] {
        let var: &Var = &vars.iter().find(|(n, _)| n == name).unwrap().1;
        let g: Vec<f64> = grads
            .get(var)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let orig = var.as_tensor().copy().unwrap();
        let flat: Vec<f64> = orig.flatten_all().unwrap().to_vec1().unwrap();
        for &k in &[0usize, 5, flat.len() - 1] {
            let h = 1e-5;
            let at = |delta: f64| {
                let mut v = flat.clone();
                v[k] += delta;
                var.set(&Tensor::from_vec(v, orig.shape(), &Device::Cpu).unwrap())
                    .unwrap();
                loss(&dec).to_scalar::<f64>().unwrap()
            };
            let fd = (at(h) - at(-h)) / (2.0 * h);
            var.set(&orig).unwrap();
            assert!(
                (fd - g[k]).abs() <= 1e-6 * (1.0 + fd.abs()),
                "{name}[{k}]: analytic {} vs finite difference {fd}",
                g[k]
            );
        }
    }
}

#[test]
fn peft_layout_round_trips_and_merge_matches_the_adapted_model() {
    let (cfg, vm, mut dec) = tiny(DType::F32, 2);
    let a = adapters(&cfg, DType::F32);
    perturb_b(&a, DType::F32);
    dec.attach_lora(&a).unwrap();
    let x = ids(2, 8, 4);
    let adapted = dec.forward(&x).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    a.save(tmp.path(), "base").unwrap();
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("adapter_config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(json["peft_type"], "LORA");
    assert_eq!(json["r"], 4);
    let st =
        candle_core::safetensors::load(tmp.path().join("adapter_model.safetensors"), &Device::Cpu)
            .unwrap();
    assert_eq!(
        st["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"].dims(),
        &[4, 64]
    );
    assert_eq!(
        st["base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"].dims(),
        &[64, 4]
    );

    let back = LoraAdapters::load(tmp.path(), &cfg, DType::F32, &Device::Cpu).unwrap();
    let (_, _, mut dec2) = tiny(DType::F32, 2);
    dec2.attach_lora(&back).unwrap();
    assert_eq!(max_diff(&adapted, &dec2.forward(&x).unwrap()), 0.0);

    let merged = a.merged(&vm).unwrap();
    let plain = Decoder::new(
        &cfg,
        VarBuilder::from_varmap(&merged, DType::F32, &Device::Cpu),
    )
    .unwrap();
    let d = max_diff(&adapted, &plain.forward(&x).unwrap());
    assert!(d < 1e-4, "merged checkpoint differs by {d}");

    std::fs::remove_file(tmp.path().join("adapter_model.safetensors")).unwrap();
    let err = LoraAdapters::load(tmp.path(), &cfg, DType::F32, &Device::Cpu)
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("adapter_model.safetensors"),
        "{err}"
    );
}

#[test]
fn lora_config_rejects_dropout_and_unknown_modules() {
    let (cfg, _, _) = tiny(DType::F32, 0);
    for bad in [
        LoraConfig {
            lora_dropout: 0.1,
            ..LoraConfig::default()
        },
        LoraConfig {
            target_modules: vec!["qkv".into()],
            ..LoraConfig::default()
        },
    ] {
        let e = LoraAdapters::init(&cfg, &bad, 0, DType::F32, &Device::Cpu)
            .err()
            .unwrap();
        assert!(e.to_string().contains("lora"), "{e}");
    }
}

#[test]
fn dpo_with_lora_trains_adapters_against_the_bypassed_base() {
    let (cfg, vm, dec) = tiny(DType::F32, 4);
    let ckpt = ouro_model::checkpoint::Checkpoint {
        dir: "mem".into(),
        config: cfg.clone(),
        varmap: vm,
        decoder: dec,
        tokenizer: None,
        generation_config: None,
        chat_template: None,
    };
    let model = DecoderLm::from_checkpoint(ckpt, &Device::Cpu)
        .with_lora(&LoraSettings {
            r: 4,
            ..LoraSettings::default()
        })
        .unwrap();
    let base_before: Vec<f32> = model.reference_vars()[0]
        .1
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let ex: Vec<DpoExample> = (0..4u32)
        .map(|i| DpoExample {
            prompt: vec![2 + i, 5, 7],
            chosen: vec![9, 11 + i, 1],
            rejected: vec![13, 4 + i, 1],
            chosen_w: vec![1.0; 3],
            rejected_w: vec![1.0; 3],
            index: i as usize,
        })
        .collect();
    let refs = ouro_train::dpo::reference_logps(&model, &ex, 0, 2).unwrap();
    let cfg_dpo = DpoConfig {
        optim: OptimConfig {
            lr: 1e-2,
            max_steps: 3,
            batch_size: 2,
            progress: false,
            ..OptimConfig::default()
        },
        ..DpoConfig::default()
    };
    let out = tempfile::tempdir().unwrap();
    let report =
        ouro_train::dpo::train_examples(&model, &ex, &refs, 0, &cfg_dpo, out.path(), None).unwrap();
    assert_eq!(report.steps, 3);
    assert!(report.checkpoint.join("adapter_model.safetensors").exists());

    // The base is untouched; the adapters moved; the reference is still the base.
    let base_after: Vec<f32> = model.reference_vars()[0]
        .1
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    assert_eq!(base_before, base_after);
    let (x, y) = (ids(2, 6, 5), ids(2, 6, 6));
    let reference = model.reference_logprobs(&x, &y).unwrap();
    let (_, _, plain) = tiny(DType::F32, 4);
    // The reference runs the tensor pass's forward; the plain decoder its own kernels.
    let off_base = max_diff(&reference, &plain.token_logprobs(&x, &y).unwrap());
    assert!(off_base < 1e-5, "reference vs base: {off_base}");
    let policy = model.token_logprobs(&x, &y).unwrap();
    assert!(
        max_diff(&reference, &policy) > 1e-3,
        "adapters did not train"
    );
    assert_eq!(
        refs,
        ouro_train::dpo::reference_logps(&model, &ex, 0, 2).unwrap()
    );
}

/// The fused CPU attention path against the plain candle ops: logits and every
/// parameter gradient, with GQA, right padding and both RoPE layouts.
#[test]
fn fused_attention_matches_the_plain_composition() {
    for interleaved in [false, true] {
        let mut cfg = Config::tiny();
        cfg.vocab_size = 48;
        cfg.rope_interleaved = Some(interleaved);
        let dev = Device::Cpu;
        let vm = ouro_model::init::init_varmap(&cfg, 5, DType::F64, &dev).unwrap();
        let mut dec = Decoder::new(&cfg, VarBuilder::from_varmap(&vm, DType::F64, &dev)).unwrap();
        let x = ids(3, 11, 7);
        let y = ids(3, 11, 8);
        let mask = Tensor::from_vec(
            (0..33u32)
                .map(|i| u32::from(i % 11 < 11 - i / 11 * 3))
                .collect::<Vec<_>>(),
            (3, 11),
            &dev,
        )
        .unwrap();
        let run = |d: &Decoder| {
            let lp = d.token_logprobs_masked(&x, &y, Some(&mask)).unwrap();
            let g = lp.sum_all().unwrap().backward().unwrap();
            (lp, g)
        };
        let (lp_f, g_f) = run(&dec);
        dec.set_fused_attention(false);
        let (lp_p, g_p) = run(&dec);
        assert!(max_diff(&lp_f, &lp_p) < 1e-10, "interleaved={interleaved}");
        for v in vm.all_vars() {
            let d = max_diff(g_f.get(&v).unwrap(), g_p.get(&v).unwrap());
            assert!(
                d < 1e-10,
                "gradient differs by {d} (interleaved={interleaved})"
            );
        }
    }
}

#[test]
fn fused_swiglu_matches_silu_times_up_with_gradients() {
    let dev = Device::Cpu;
    let g = Var::from_vec(
        (0..600)
            .map(|i| (i as f64 * 0.071).sin() * 4.0)
            .collect::<Vec<_>>(),
        (3, 200),
        &dev,
    )
    .unwrap();
    let u = Var::from_vec(
        (0..600)
            .map(|i| (i as f64 * 0.13).cos())
            .collect::<Vec<_>>(),
        (3, 200),
        &dev,
    )
    .unwrap();
    let w = Tensor::from_vec(
        (0..600).map(|i| 1.0 + (i % 7) as f64).collect::<Vec<_>>(),
        (3, 200),
        &dev,
    )
    .unwrap();
    let f = ouro_model::fused::swiglu(&g, &u).unwrap();
    let p = ouro_model::fused::swiglu_composite(&g, &u).unwrap();
    assert!(max_diff(&f, &p) < 1e-12);
    let gf = (f * &w).unwrap().sum_all().unwrap().backward().unwrap();
    let gp = (p * &w).unwrap().sum_all().unwrap().backward().unwrap();
    for v in [&g, &u] {
        assert!(max_diff(gf.get(v).unwrap(), gp.get(v).unwrap()) < 1e-12);
    }
}

#[test]
fn sft_from_shards_with_lora_writes_adapters_and_a_merged_model() {
    use ouro_train::config::SftConfig;
    let tmp = tempfile::tempdir().unwrap();
    let tok = ouro_train::tokenize::char_tokenizer("abcdefghijklmnopqrstuvwxyz =()+:");
    let mut cfg = Config::tiny();
    cfg.vocab_size = tok.tokenizer.get_vocab_size(true);
    cfg.eos_token_id = Some(1.into());
    let vm = ouro_model::init::init_varmap(&cfg, 0, DType::F32, &Device::Cpu).unwrap();
    let mdir = tmp.path().join("m");
    ouro_model::checkpoint::save(&mdir, &cfg, &vm, Some(&tok.tokenizer)).unwrap();
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
    std::fs::create_dir_all(tmp.path().join("d")).unwrap();
    ouro_data::shard::write_records(tmp.path().join("d/part-00000.parquet"), &rows).unwrap();
    let scfg = SftConfig {
        optim: OptimConfig {
            lr: 1e-2,
            max_steps: 2,
            batch_size: 2,
            progress: false,
            ..OptimConfig::default()
        },
        lora: Some(LoraSettings {
            r: 2,
            target_modules: vec!["q_proj".into(), "v_proj".into()],
            ..LoraSettings::default()
        }),
        ..SftConfig::default()
    };
    let out = tmp.path().join("out");
    let (report, _) =
        ouro_train::run::train_sft(&scfg, &mdir, &tmp.path().join("d"), &out).unwrap();
    assert_eq!(report.steps, 2);
    let adapter = LoraAdapters::load(&out.join("adapter"), &cfg, DType::F32, &Device::Cpu).unwrap();
    assert_eq!(adapter.vars().len(), 2 * 2 * cfg.num_hidden_layers);
    let merged = ouro_model::checkpoint::load(out.join("model"), &Device::Cpu).unwrap();
    let mut base =
        Decoder::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu)).unwrap();
    base.attach_lora(&adapter).unwrap();
    let x = Tensor::new(&[[2u32, 5, 7, 3, 9, 4]], &Device::Cpu).unwrap();
    let d = max_diff(
        &base.forward(&x).unwrap(),
        &merged.decoder.forward(&x).unwrap(),
    );
    assert!(d < 1e-4, "merged model differs from base + adapters by {d}");
}
