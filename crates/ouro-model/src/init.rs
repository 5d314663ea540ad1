//! Deterministic random initialisation.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;
use rand::{Rng, SeedableRng};

use crate::config::Config;
use crate::error::{ModelError, Result};

/// Standard deviation of the normal init of projections and embeddings (HF `initializer_range`).
pub const INIT_STD: f64 = 0.02;

/// Creates a `VarMap` holding every parameter of `cfg` (HF names):
/// norms are 1, biases 0, everything else N(0, 0.02²). Each tensor draws
/// from its own RNG seeded by `(seed, name)`, so the same seed always gives
/// the same weights, whatever the device thread count.
pub fn init_varmap(cfg: &Config, seed: u64, dtype: DType, device: &Device) -> Result<VarMap> {
    let varmap = VarMap::new();
    {
        let mut data = varmap.data().lock().expect("varmap lock");
        for (name, shape) in cfg.parameter_shapes() {
            let n: usize = shape.iter().product();
            let values: Vec<f64> = if name.ends_with("norm.weight") {
                vec![1.0; n]
            } else if name.ends_with(".bias") {
                vec![0.0; n]
            } else {
                let mut rng =
                    rand::rngs::StdRng::seed_from_u64(ouro_data::derive_seed(&name, seed));
                normal_vec(&mut rng, n, INIT_STD)
            };
            let t = Tensor::from_vec(values, shape, device)?.to_dtype(dtype)?;
            data.insert(name, Var::from_tensor(&t)?);
        }
    }
    Ok(varmap)
}

/// An f32 tensor of draws from N(mean, std²), the same for the same seed on every run and
/// machine: candle's CPU `randn` draws from an unseeded thread RNG, so a check built on it
/// passes or fails by chance.
pub fn seeded_normal(
    shape: impl Into<candle_core::Shape>,
    (mean, std): (f64, f64),
    seed: u64,
    device: &Device,
) -> Result<Tensor> {
    let shape = shape.into();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let values: Vec<f32> = normal_vec(&mut rng, shape.elem_count(), std)
        .into_iter()
        .map(|x| (mean + x) as f32)
        .collect();
    Ok(Tensor::from_vec(values, shape, device)?)
}

/// `n` draws from N(0, std²) by Box-Muller (no extra crate needed).
fn normal_vec(rng: &mut impl Rng, n: usize, std: f64) -> Vec<f64> {
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let u1: f64 = rng.gen::<f64>().max(f64::MIN_POSITIVE);
        let u2: f64 = rng.gen();
        let r = (-2.0 * u1.ln()).sqrt() * std;
        let a = 2.0 * std::f64::consts::PI * u2;
        out.push(r * a.cos());
        out.push(r * a.sin());
    }
    out.truncate(n);
    out
}

/// Resolves `tiny`, `small` or a path to a `config.json`.
pub fn resolve_config(spec: &str) -> Result<Config> {
    resolve_sized(spec).map(|(cfg, _)| cfg)
}

/// [`resolve_config`], with the `vocab_size` a config file gave, if any.
fn resolve_sized(spec: &str) -> Result<(Config, Option<usize>)> {
    match spec {
        "tiny" => Ok((Config::tiny(), None)),
        "small" => Ok((Config::small(), None)),
        path if !std::path::Path::new(path).exists() => Err(ModelError::InvalidArgument(format!(
            "config '{path}': not a preset (tiny, small) nor an existing config.json"
        ))),
        path => config_sized_later(std::path::Path::new(path)),
    }
}

/// A `config.json` for `init`, whose `vocab_size` the tokenizer sets: the file may leave
/// it out. Returns the config and the `vocab_size` the file gave, if any.
fn config_sized_later(path: &std::path::Path) -> Result<(Config, Option<usize>)> {
    let text = std::fs::read_to_string(path).map_err(|e| ModelError::Io {
        path: path.into(),
        source: e,
    })?;
    let mut value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| ModelError::Json {
            path: path.into(),
            msg: e.to_string(),
        })?;
    let given = value.get("vocab_size").and_then(|v| v.as_u64());
    if let Some(map) = value.as_object_mut() {
        // A placeholder that validates; the tokenizer's size replaces it.
        map.entry("vocab_size").or_insert(serde_json::json!(1));
    }
    let cfg = Config::from_json_str(&value.to_string(), path)?;
    Ok((cfg, given.map(|v| v as usize)))
}

/// `ouro model init`: a deterministic random checkpoint for `config` (preset
/// name or `config.json` path) sized to the tokenizer's vocabulary, written as
/// an HF directory at `out` together with the tokenizer. EOS/BOS ids are taken
/// from the tokenizer's `<|endoftext|>` (or `</s>`) when the config has none.
pub fn init_checkpoint(
    config: &str,
    tokenizer: &std::path::Path,
    seed: u64,
    out: &std::path::Path,
) -> Result<Config> {
    let (mut cfg, given_vocab) = resolve_sized(config)?;
    let tok = crate::checkpoint::load_tokenizer(tokenizer)?;
    cfg.vocab_size = tok.get_vocab_size(true);
    if let Some(v) = given_vocab.filter(|&v| v != cfg.vocab_size) {
        tracing::warn!(
            "{config}: vocab_size {v} replaced by the tokenizer's {}",
            cfg.vocab_size
        );
    }
    if cfg.eos_token_id.is_none() {
        let eos = [crate::tokenizer::EOS_TOKEN, "</s>", "<|im_end|>"]
            .iter()
            .find_map(|t| tok.token_to_id(t));
        if let Some(e) = eos {
            cfg.eos_token_id = Some(e.into());
            cfg.bos_token_id.get_or_insert(e.into());
        }
    }
    cfg.validate(std::path::Path::new(config))?;
    let varmap = init_varmap(&cfg, seed, DType::F32, &Device::Cpu)?;
    crate::checkpoint::save(out, &cfg, &varmap, Some(&tok))?;
    Ok(cfg)
}
