//! HF directory round trips and bad-input errors.

mod common;

use candle_core::{DType, Device};
use common::*;
use ouro_model::{checkpoint, ModelError};

fn tiny_tokenizer() -> ouro_model::Tokenizer {
    use tokenizers::models::wordlevel::WordLevel;
    let vocab = (0..37).map(|i| (format!("t{i}"), i as u32)).collect();
    let model = WordLevel::builder()
        .vocab(vocab)
        .unk_token("t0".into())
        .build()
        .unwrap();
    ouro_model::Tokenizer::new(model)
}

#[test]
fn saved_checkpoint_loads_with_identical_logits_and_tokenizer() {
    let cfg = full_featured_config();
    let (vm, d) = build(&cfg, 21, DType::F32);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ckpt");
    let tok = tiny_tokenizer();
    checkpoint::save(&out, &cfg, &vm, Some(&tok)).unwrap();
    for f in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "generation_config.json",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let ck = checkpoint::load(&out, &Device::Cpu).unwrap();
    assert_eq!(ck.config, {
        let mut c = cfg.clone();
        c.torch_dtype = Some("float32".into());
        c
    });
    let x = ids(2, 5, cfg.vocab_size, 1);
    let a = d.forward(&x).unwrap();
    let b = ck.decoder.forward(&x).unwrap();
    assert_eq!(a.to_vec3::<f32>().unwrap(), b.to_vec3::<f32>().unwrap());
    assert_eq!(ck.tokenizer.unwrap().get_vocab_size(true), 37);
    // saving again over an existing directory replaces it and leaves no temp dirs
    checkpoint::save(&out, &cfg, &ck.varmap, None).unwrap();
    assert!(!out.join("tokenizer.json").exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("ckpt")]);
}

fn saved(cfg: &ouro_model::Config) -> (tempfile::TempDir, std::path::PathBuf) {
    let (vm, _) = build(cfg, 2, DType::F32);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m");
    checkpoint::save(&out, cfg, &vm, None).unwrap();
    (dir, out)
}

#[test]
fn a_training_runs_output_stands_for_its_final_model() {
    let cfg = ouro_model::Config::tiny();
    let (vm, _) = build(&cfg, 2, DType::F32);
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    // A run killed after a checkpoint: no final model yet, so which weights to load
    // is not guessed, and the error names the checkpoint.
    checkpoint::save(run.join("checkpoint-000002"), &cfg, &vm, None).unwrap();
    checkpoint::save(run.join("checkpoint-000010"), &cfg, &vm, None).unwrap();
    let e = checkpoint::load(&run, &Device::Cpu).err().unwrap();
    assert!(
        matches!(&e, ModelError::UnfinishedTraining { checkpoint, .. }
            if checkpoint.ends_with("checkpoint-000010")),
        "{e}"
    );
    checkpoint::save(run.join("model"), &cfg, &vm, None).unwrap();
    let ck = checkpoint::load(&run, &Device::Cpu).unwrap();
    assert_eq!(ck.dir, run.join("model"));
    // A model directory is itself, whatever lies under it.
    assert_eq!(
        checkpoint::resolve_model_dir(&run.join("model")).unwrap(),
        run.join("model")
    );
}

#[test]
fn missing_checkpoint_is_an_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let e = checkpoint::load(dir.path().join("nope"), &Device::Cpu)
        .err()
        .unwrap();
    assert!(matches!(e, ModelError::MissingFile { .. }), "{e}");
    assert!(e.to_string().contains("nope"));
    let cfg = full_featured_config();
    let (_d, out) = saved(&cfg);
    std::fs::remove_file(out.join("model.safetensors")).unwrap();
    let e = checkpoint::load(&out, &Device::Cpu).err().unwrap();
    assert!(e.to_string().contains("model.safetensors"), "{e}");
}

#[test]
fn corrupt_safetensors_is_an_error_naming_the_file() {
    let (_d, out) = saved(&full_featured_config());
    std::fs::write(
        out.join("model.safetensors"),
        b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage",
    )
    .unwrap();
    let e = checkpoint::load(&out, &Device::Cpu).err().unwrap();
    assert!(matches!(e, ModelError::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains("model.safetensors"), "{e}");
}

#[test]
fn wrong_tensor_shape_is_an_error_naming_file_and_tensor() {
    let cfg = full_featured_config();
    let (_d, out) = saved(&cfg);
    // Claim a bigger intermediate size than the weights have.
    let mut bigger = cfg.clone();
    bigger.intermediate_size += 1;
    std::fs::write(out.join("config.json"), bigger.to_json()).unwrap();
    let e = checkpoint::load(&out, &Device::Cpu).err().unwrap();
    let msg = e.to_string();
    assert!(matches!(e, ModelError::Shape { .. }), "{msg}");
    assert!(
        msg.contains("model.safetensors") && msg.contains("model.layers.0.mlp.gate_proj.weight"),
        "{msg}"
    );
}

#[test]
fn missing_tensor_is_an_error_naming_the_tensor() {
    let mut cfg = full_featured_config();
    cfg.tie_word_embeddings = true;
    let (_d, out) = saved(&cfg);
    cfg.tie_word_embeddings = false;
    std::fs::write(out.join("config.json"), cfg.to_json()).unwrap();
    let e = checkpoint::load(&out, &Device::Cpu).err().unwrap();
    assert!(e.to_string().contains("lm_head.weight"), "{e}");
}

#[test]
fn unknown_architecture_is_an_error_naming_the_config() {
    let (_d, out) = saved(&full_featured_config());
    let text = std::fs::read_to_string(out.join("config.json")).unwrap();
    std::fs::write(
        out.join("config.json"),
        text.replace("\"qwen3\"", "\"mamba\""),
    )
    .unwrap();
    let e = checkpoint::load(&out, &Device::Cpu).err().unwrap();
    assert!(matches!(e, ModelError::UnknownArchitecture { .. }), "{e}");
    assert!(e.to_string().contains("config.json") && e.to_string().contains("mamba"));
}

#[test]
fn corrupt_config_is_an_error_naming_the_config() {
    let (_d, out) = saved(&full_featured_config());
    std::fs::write(out.join("config.json"), b"{\"model_type\": \"llama\",").unwrap();
    let e = checkpoint::load(&out, &Device::Cpu).err().unwrap();
    assert!(matches!(e, ModelError::Json { .. }), "{e}");
    assert!(e.to_string().contains("config.json"), "{e}");
    std::fs::remove_file(out.join("config.json")).unwrap();
    let e = checkpoint::load(&out, &Device::Cpu).err().unwrap();
    assert!(matches!(e, ModelError::MissingFile { .. }), "{e}");
    assert!(e.to_string().contains("config.json"), "{e}");
}

/// A config the model cannot run is refused where it is read: a negative epsilon had
/// `init` write a model whose every logit was NaN, blamed on its weights. Valid JSON
/// with a missing field is a config error, not "invalid JSON".
#[test]
fn bad_config_values_are_config_errors() {
    let base = ouro_model::Config::tiny().to_json();
    for (from, to, says) in [
        (
            "\"rms_norm_eps\": 0.00001",
            "\"rms_norm_eps\": -1.0",
            "rms_norm_eps -1",
        ),
        (
            "\"rope_theta\": 10000.0",
            "\"rope_theta\": 0.0",
            "rope_theta 0",
        ),
    ] {
        assert!(base.contains(from), "{base}");
        let e = ouro_model::Config::from_json_str(&base.replace(from, to), "c.json".as_ref())
            .unwrap_err();
        assert!(
            matches!(e, ModelError::Config { .. }) && e.to_string().contains(says),
            "{e}"
        );
    }
    let e = ouro_model::Config::from_json_str(r#"{"model_type": "llama"}"#, "c.json".as_ref())
        .unwrap_err();
    assert!(matches!(e, ModelError::Config { .. }), "{e}");
    assert!(e.to_string().contains("missing field"), "{e}");
}

/// `model init --config FILE` sizes the vocabulary from the tokenizer: the file may
/// leave `vocab_size` out.
#[test]
fn init_takes_vocab_size_from_the_tokenizer() {
    let dir = tempfile::tempdir().unwrap();
    let tok = dir.path().join("tokenizer.json");
    tiny_tokenizer().save(&tok, false).unwrap();
    let mut cfg: serde_json::Value =
        serde_json::from_str(&ouro_model::Config::tiny().to_json()).unwrap();
    cfg.as_object_mut().unwrap().remove("vocab_size");
    let path = dir.path().join("config.json");
    std::fs::write(&path, cfg.to_string()).unwrap();
    let out = dir.path().join("m");
    let made = ouro_model::init::init_checkpoint(path.to_str().unwrap(), &tok, 0, &out).unwrap();
    assert_eq!(made.vocab_size, 37);
}

#[test]
fn init_is_deterministic_per_seed() {
    let cfg = ouro_model::Config::tiny();
    let a = ouro_model::init::init_varmap(&cfg, 7, DType::F32, &Device::Cpu).unwrap();
    let b = ouro_model::init::init_varmap(&cfg, 7, DType::F32, &Device::Cpu).unwrap();
    let c = ouro_model::init::init_varmap(&cfg, 8, DType::F32, &Device::Cpu).unwrap();
    let get = |vm: &candle_nn::VarMap| {
        vm.data().lock().unwrap()["model.layers.1.mlp.up_proj.weight"]
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    };
    assert_eq!(get(&a), get(&b));
    assert_ne!(get(&a), get(&c));
    let std = {
        let v = get(&a);
        (v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
    };
    assert!((std - 0.02).abs() < 0.002, "std {std}");
}

#[test]
fn hf_llama_and_qwen2_configs_deserialize() {
    let llama = r#"{"architectures":["LlamaForCausalLM"],"model_type":"llama","vocab_size":49152,"hidden_size":576,
      "intermediate_size":1536,"num_hidden_layers":30,"num_attention_heads":9,"num_key_value_heads":3,
      "rms_norm_eps":1e-05,"rope_theta":100000,"tie_word_embeddings":true,"hidden_act":"silu",
      "max_position_embeddings":8192,"bos_token_id":1,"eos_token_id":2,"torch_dtype":"bfloat16","pretraining_tp":1,
      "rope_scaling":null}"#;
    let c = ouro_model::Config::from_json_str(llama, "config.json".as_ref()).unwrap();
    assert_eq!(
        (c.head_dim(), c.num_key_value_heads(), c.qkv_bias()),
        (64, 3, false)
    );
    assert_eq!(c.eos_token_ids(), vec![2]);
    assert!(c.to_json().contains("pretraining_tp"));
    let qwen2 = r#"{"architectures":["Qwen2ForCausalLM"],"model_type":"qwen2","vocab_size":151936,"hidden_size":896,
      "intermediate_size":4864,"num_hidden_layers":24,"num_attention_heads":14,"num_key_value_heads":2,
      "rms_norm_eps":1e-06,"rope_theta":1000000.0,"tie_word_embeddings":true,"eos_token_id":151643,
      "rope_scaling":{"type":"linear","factor":2.0}}"#;
    let c = ouro_model::Config::from_json_str(qwen2, "config.json".as_ref()).unwrap();
    assert!(c.qkv_bias() && !c.o_bias() && !c.qk_norm());
    assert_eq!(c.inv_freq()[0], 0.5);
}

#[test]
fn generation_stops_at_the_eos_ids_generation_config_lists_too() {
    // Chat checkpoints often keep their end-of-turn token only in
    // generation_config.json, where transformers and vLLM read it.
    let mut cfg = full_featured_config();
    cfg.eos_token_id = Some(serde_json::json!(2));
    let (_dir, out) = saved(&cfg);
    std::fs::write(
        out.join("generation_config.json"),
        r#"{"eos_token_id": [2, 7], "bos_token_id": 1}"#,
    )
    .unwrap();
    let ck = checkpoint::load(&out, &Device::Cpu).unwrap();
    assert_eq!(ck.eos_token_ids(), vec![2, 7]);
}
