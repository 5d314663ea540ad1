//! Parity with PyTorch/transformers on the same weights. The fixtures under
//! tests/fixtures/parity/ were written by transformers' `save_pretrained` and
//! hold its logits and loss (regenerate: `python3 scripts/model_parity.py`).

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, D};

fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("config.json").exists())
        .collect();
    v.sort();
    assert!(
        v.len() >= 3,
        "parity fixtures missing under {}",
        root.display()
    );
    v
}

struct Expected {
    ids: Tensor,
    logits: Vec<f64>,
    loss: f64,
}

fn expected(dir: &Path) -> Expected {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let ids: Vec<Vec<u32>> = serde_json::from_value(v["input_ids"].clone()).unwrap();
    let (b, t) = (ids.len(), ids[0].len());
    Expected {
        ids: Tensor::from_vec(ids.concat(), (b, t), &Device::Cpu).unwrap(),
        logits: serde_json::from_value(v["logits"].clone()).unwrap(),
        loss: v["loss"].as_f64().unwrap(),
    }
}

/// Mean next-token cross-entropy, as transformers computes it with `labels=input_ids`.
fn loss(d: &ouro_model::Decoder, ids: &Tensor) -> f64 {
    let (_, t) = ids.dims2().unwrap();
    let inputs = ids.narrow(1, 0, t - 1).unwrap();
    let targets = ids.narrow(1, 1, t - 1).unwrap();
    let lp = d.token_logprobs(&inputs, &targets).unwrap();
    -lp.mean_all()
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

#[test]
fn logits_and_loss_match_transformers_within_1e_4() {
    for dir in fixtures() {
        let exp = expected(&dir);
        let ck = ouro_model::checkpoint::load(&dir, &Device::Cpu).unwrap();
        let logits: Vec<f64> = ck
            .decoder
            .forward(&exp.ids)
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(logits.len(), exp.logits.len());
        let max = logits
            .iter()
            .zip(&exp.logits)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(max < 1e-4, "{}: max logit diff {max:e}", dir.display());
        let l = loss(&ck.decoder, &exp.ids);
        assert!(
            (l - exp.loss).abs() < 1e-4,
            "{}: loss {l} vs {}",
            dir.display(),
            exp.loss
        );
        // the generation path agrees with the training path on real configs too
        let mut cache = ouro_model::KvCache::new();
        let (b, t) = exp.ids.dims2().unwrap();
        let pos = vec![(0..t as u32).collect::<Vec<_>>(); b];
        let valid = vec![vec![true; t]; b];
        let last = ck
            .decoder
            .forward_step(&exp.ids, &pos, &valid, &mut cache)
            .unwrap();
        let full = ck
            .decoder
            .forward(&exp.ids)
            .unwrap()
            .narrow(1, t - 1, 1)
            .unwrap()
            .squeeze(1)
            .unwrap();
        let d = (last - full)
            .unwrap()
            .abs()
            .unwrap()
            .max(D::Minus1)
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d < 1e-5, "{}: cached step differs by {d}", dir.display());
    }
}

/// Opt-in: a checkpoint saved by ouro loads in `AutoModelForCausalLM.from_pretrained`
/// with the same logits. Needs torch + transformers:
///   OURO_TORCH_PYTHON=/path/to/venv/bin/python cargo test -p ouro-model --test parity -- --ignored
#[test]
#[ignore]
fn ouro_checkpoint_loads_in_transformers() {
    let Ok(py) = std::env::var("OURO_TORCH_PYTHON") else {
        eprintln!("skipping: set OURO_TORCH_PYTHON to a python with torch and transformers");
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tmp = tempfile::tempdir().unwrap();
    for (i, mut cfg) in [ouro_model::Config::tiny(), ouro_model::Config::small()]
        .into_iter()
        .enumerate()
    {
        cfg.vocab_size = 97;
        if i == 1 {
            cfg.model_type = "qwen2".into();
            cfg.architectures = vec!["Qwen2ForCausalLM".into()];
            cfg.tie_word_embeddings = false;
        }
        let vm = ouro_model::init::init_varmap(&cfg, 5, DType::F32, &Device::Cpu).unwrap();
        let d = ouro_model::Decoder::new(
            &cfg,
            candle_nn::VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu),
        )
        .unwrap();
        let dir = tmp.path().join(format!("m{i}"));
        ouro_model::checkpoint::save(&dir, &cfg, &vm, None).unwrap();
        let ids: Vec<u32> = (0..16).map(|j| (j * 13 + 5) % 97).collect();
        let x = Tensor::from_vec(ids.clone(), (2, 8), &Device::Cpu).unwrap();
        let logits: Vec<f32> = d
            .forward(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let exp = serde_json::json!({"input_ids": [ids[..8].to_vec(), ids[8..].to_vec()], "logits": logits});
        std::fs::write(
            tmp.path().join(format!("m{i}.expected.json")),
            exp.to_string(),
        )
        .unwrap();
        let st = std::process::Command::new(&py)
            .arg(root.join("scripts/model_parity.py"))
            .arg("--check-ouro")
            .arg(&dir)
            .status()
            .unwrap();
        assert!(
            st.success(),
            "transformers disagrees with ouro on {}",
            dir.display()
        );
    }
}
