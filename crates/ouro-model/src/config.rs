//! Model configuration: deserializes a Hugging Face `config.json` for the
//! `llama`, `qwen2` and `qwen3` model types, and the ouro presets.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// Rotary embedding frequency scaling (`rope_scaling` in `config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RopeScaling {
    /// `linear`, `llama3` or `default`. HF writes it as `rope_type` (newer) or `type` (older).
    #[serde(alias = "type")]
    pub rope_type: String,
    #[serde(default = "one")]
    pub factor: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low_freq_factor: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_freq_factor: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_max_position_embeddings: Option<usize>,
}

fn one() -> f64 {
    1.0
}
fn default_rope_theta() -> f64 {
    10_000.0
}
fn default_eps() -> f64 {
    1e-6
}
fn default_act() -> String {
    "silu".to_string()
}
fn default_max_pos() -> usize {
    2048
}

/// Decoder hyper-parameters. Field names are Hugging Face's, so a `config.json`
/// written by transformers deserializes into this and ours loads in transformers.
/// Unknown keys are kept in `extra` and written back unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<String>,
    /// `llama`, `qwen2` or `qwen3`; anything else is rejected by [`Config::validate`].
    pub model_type: String,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    /// Fewer than `num_attention_heads` means grouped-query attention. Defaults to `num_attention_heads`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_key_value_heads: Option<usize>,
    /// Defaults to `hidden_size / num_attention_heads` (Qwen3 sets it explicitly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<usize>,
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f64,
    #[serde(default)]
    pub rope_scaling: Option<RopeScaling>,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Llama: bias on q, k, v and o projections. Qwen2 ignores the key: it always has q/k/v bias and no o bias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_bias: Option<bool>,
    /// ouro extension: RMSNorm over each head of q and k before RoPE. Defaults to true for `qwen3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_qk_norm: Option<bool>,
    /// ouro extension: rotate adjacent pairs (GPT-J / GGUF layout) instead of the HF half-split layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_interleaved: Option<bool>,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torch_dtype: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bos_token_id: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eos_token_id: Option<serde_json::Value>,
    /// Every other key of `config.json`, preserved on save.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Config {
    /// A 2-layer model for unit tests and smoke runs (d=64, 4 heads, 2 kv heads).
    pub fn tiny() -> Config {
        Config::preset(512, 64, 176, 2, 4, 2)
    }

    /// The quickstart model (DESIGN §6): 4 layers, d=128, about 0.8M parameters
    /// plus the embedding for a ~1k vocabulary.
    pub fn small() -> Config {
        Config::preset(1024, 128, 352, 4, 4, 2)
    }

    fn preset(
        vocab: usize,
        hidden: usize,
        inter: usize,
        layers: usize,
        heads: usize,
        kv: usize,
    ) -> Config {
        Config {
            architectures: vec!["LlamaForCausalLM".into()],
            model_type: "llama".into(),
            vocab_size: vocab,
            hidden_size: hidden,
            intermediate_size: inter,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            num_key_value_heads: Some(kv),
            head_dim: None,
            rms_norm_eps: 1e-5,
            rope_theta: 10_000.0,
            rope_scaling: None,
            tie_word_embeddings: true,
            attention_bias: Some(false),
            use_qk_norm: None,
            rope_interleaved: None,
            hidden_act: "silu".into(),
            max_position_embeddings: 2048,
            torch_dtype: Some("float32".into()),
            bos_token_id: None,
            eos_token_id: None,
            extra: BTreeMap::new(),
        }
    }

    /// Reads and validates a `config.json`.
    pub fn from_file(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ModelError::MissingFile { path: path.into() }
            } else {
                ModelError::io(path, e)
            }
        })?;
        Config::from_json_str(&text, path)
    }

    /// Parses and validates config JSON; `path` is only used in error messages.
    pub fn from_json_str(text: &str, path: &Path) -> Result<Config> {
        let mut cfg: Config = serde_json::from_str(text).map_err(|e| {
            // Valid JSON with a missing or mistyped field is a config error, not bad JSON.
            if e.is_data() {
                ModelError::Config {
                    path: path.into(),
                    msg: e.to_string(),
                }
            } else {
                ModelError::Json {
                    path: path.into(),
                    msg: e.to_string(),
                }
            }
        })?;
        cfg.apply_rope_parameters(path)?;
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// transformers >= 5 writes `rope_parameters: {rope_theta, rope_type, factor, ...}`
    /// instead of `rope_theta` + `rope_scaling`; it takes precedence when present.
    /// The key itself stays in `extra`, so a saved config reads the same in both.
    fn apply_rope_parameters(&mut self, path: &Path) -> Result<()> {
        let Some(rp) = self.extra.get("rope_parameters").cloned() else {
            return Ok(());
        };
        if rp.is_null() {
            return Ok(());
        }
        if let Some(theta) = rp.get("rope_theta").and_then(|v| v.as_f64()) {
            self.rope_theta = theta;
        }
        let kind = rp
            .get("rope_type")
            .and_then(|v| v.as_str())
            .unwrap_or("default");
        if kind != "default" {
            self.rope_scaling = Some(serde_json::from_value(rp).map_err(|e| ModelError::Json {
                path: path.into(),
                msg: format!("rope_parameters: {e}"),
            })?);
        }
        Ok(())
    }

    /// Pretty JSON as written to `config.json`.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("config serializes")
    }

    /// Checks the architecture is supported and the dimensions are consistent.
    pub fn validate(&self, path: &Path) -> Result<()> {
        if !matches!(self.model_type.as_str(), "llama" | "qwen2" | "qwen3") {
            return Err(ModelError::UnknownArchitecture {
                path: path.into(),
                arch: self.model_type.clone(),
            });
        }
        for arch in &self.architectures {
            if !matches!(
                arch.as_str(),
                "LlamaForCausalLM" | "Qwen2ForCausalLM" | "Qwen3ForCausalLM" | "MistralForCausalLM"
            ) {
                return Err(ModelError::UnknownArchitecture {
                    path: path.into(),
                    arch: arch.clone(),
                });
            }
        }
        let bad = |msg: String| ModelError::Config {
            path: path.into(),
            msg,
        };
        if self.hidden_act != "silu" {
            return Err(bad(format!(
                "hidden_act '{}' is not supported (only silu)",
                self.hidden_act
            )));
        }
        if self.num_attention_heads == 0 || self.num_key_value_heads() == 0 {
            return Err(bad(
                "num_attention_heads and num_key_value_heads must be > 0".into(),
            ));
        }
        if !self
            .num_attention_heads
            .is_multiple_of(self.num_key_value_heads())
        {
            return Err(bad(format!(
                "num_attention_heads {} is not a multiple of num_key_value_heads {}",
                self.num_attention_heads,
                self.num_key_value_heads()
            )));
        }
        if self.head_dim.is_none() && !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(bad(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            )));
        }
        if !self.head_dim().is_multiple_of(2) {
            return Err(bad(format!(
                "head_dim {} must be even for RoPE",
                self.head_dim()
            )));
        }
        if self.vocab_size == 0 || self.hidden_size == 0 || self.num_hidden_layers == 0 {
            return Err(bad(
                "vocab_size, hidden_size and num_hidden_layers must be > 0".into(),
            ));
        }
        // A non-positive epsilon divides by zero (or a negative) in every RMSNorm, and a
        // non-positive base gives RoPE no frequencies: NaN logits, read as bad weights.
        if !(self.rms_norm_eps.is_finite() && self.rms_norm_eps > 0.0) {
            return Err(bad(format!(
                "rms_norm_eps {} must be a positive number",
                self.rms_norm_eps
            )));
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 0.0) {
            return Err(bad(format!(
                "rope_theta {} must be a positive number",
                self.rope_theta
            )));
        }
        if let Some(s) = &self.rope_scaling {
            if !matches!(s.rope_type.as_str(), "linear" | "llama3" | "default") {
                return Err(bad(format!(
                    "rope_scaling type '{}' is not supported (linear, llama3, default)",
                    s.rope_type
                )));
            }
        }
        if self.extra.get("mlp_bias").and_then(|v| v.as_bool()) == Some(true) {
            return Err(bad("mlp_bias=true is not supported".into()));
        }
        Ok(())
    }

    pub fn num_key_value_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    pub fn head_dim(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// Whether q, k and v projections carry a bias.
    pub fn qkv_bias(&self) -> bool {
        self.model_type == "qwen2" || self.attention_bias.unwrap_or(false)
    }

    /// Whether the output projection carries a bias (Llama with `attention_bias`).
    pub fn o_bias(&self) -> bool {
        self.model_type == "llama" && self.attention_bias.unwrap_or(false)
    }

    pub fn qk_norm(&self) -> bool {
        self.use_qk_norm.unwrap_or(self.model_type == "qwen3")
    }

    pub fn interleaved_rope(&self) -> bool {
        self.rope_interleaved.unwrap_or(false)
    }

    /// Token ids that end generation, from `eos_token_id` (a number or a list).
    pub fn eos_token_ids(&self) -> Vec<u32> {
        self.eos_token_id
            .as_ref()
            .map(token_ids)
            .unwrap_or_default()
    }

    /// Every parameter the decoder owns, by HF name, with its shape, in a fixed order.
    pub fn parameter_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let h = self.hidden_size;
        let hd = self.head_dim();
        let q = self.num_attention_heads * hd;
        let kv = self.num_key_value_heads() * hd;
        let mut out = vec![(
            "model.embed_tokens.weight".to_string(),
            vec![self.vocab_size, h],
        )];
        for i in 0..self.num_hidden_layers {
            let p = format!("model.layers.{i}");
            out.push((format!("{p}.input_layernorm.weight"), vec![h]));
            out.push((format!("{p}.self_attn.q_proj.weight"), vec![q, h]));
            out.push((format!("{p}.self_attn.k_proj.weight"), vec![kv, h]));
            out.push((format!("{p}.self_attn.v_proj.weight"), vec![kv, h]));
            if self.qkv_bias() {
                out.push((format!("{p}.self_attn.q_proj.bias"), vec![q]));
                out.push((format!("{p}.self_attn.k_proj.bias"), vec![kv]));
                out.push((format!("{p}.self_attn.v_proj.bias"), vec![kv]));
            }
            if self.qk_norm() {
                out.push((format!("{p}.self_attn.q_norm.weight"), vec![hd]));
                out.push((format!("{p}.self_attn.k_norm.weight"), vec![hd]));
            }
            out.push((format!("{p}.self_attn.o_proj.weight"), vec![h, q]));
            if self.o_bias() {
                out.push((format!("{p}.self_attn.o_proj.bias"), vec![h]));
            }
            out.push((format!("{p}.post_attention_layernorm.weight"), vec![h]));
            out.push((
                format!("{p}.mlp.gate_proj.weight"),
                vec![self.intermediate_size, h],
            ));
            out.push((
                format!("{p}.mlp.up_proj.weight"),
                vec![self.intermediate_size, h],
            ));
            out.push((
                format!("{p}.mlp.down_proj.weight"),
                vec![h, self.intermediate_size],
            ));
        }
        out.push(("model.norm.weight".to_string(), vec![h]));
        if !self.tie_word_embeddings {
            out.push(("lm_head.weight".to_string(), vec![self.vocab_size, h]));
        }
        out
    }

    /// Total number of parameters.
    pub fn num_parameters(&self) -> usize {
        self.parameter_shapes()
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum()
    }

    /// Inverse RoPE frequencies, `head_dim / 2` of them, with `rope_scaling` applied.
    pub fn inv_freq(&self) -> Vec<f64> {
        let hd = self.head_dim();
        let mut inv: Vec<f64> = (0..hd / 2)
            .map(|i| 1.0 / self.rope_theta.powf((2 * i) as f64 / hd as f64))
            .collect();
        if let Some(s) = &self.rope_scaling {
            match s.rope_type.as_str() {
                "linear" => inv.iter_mut().for_each(|f| *f /= s.factor),
                "llama3" => {
                    let low = s.low_freq_factor.unwrap_or(1.0);
                    let high = s.high_freq_factor.unwrap_or(4.0);
                    let old = s.original_max_position_embeddings.unwrap_or(8192) as f64;
                    let low_wl = old / low;
                    let high_wl = old / high;
                    for f in inv.iter_mut() {
                        let wl = 2.0 * std::f64::consts::PI / *f;
                        if wl < high_wl {
                        } else if wl > low_wl {
                            *f /= s.factor;
                        } else {
                            let smooth = (old / wl - low) / (high - low);
                            *f = (1.0 - smooth) * *f / s.factor + smooth * *f;
                        }
                    }
                }
                _ => {}
            }
        }
        inv
    }
}

/// Token ids from a config value that is a number or a list of numbers.
pub(crate) fn token_ids(v: &serde_json::Value) -> Vec<u32> {
    match v {
        serde_json::Value::Number(n) => n.as_u64().map(|v| v as u32).into_iter().collect(),
        serde_json::Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_u64().map(|v| v as u32))
            .collect(),
        _ => Vec::new(),
    }
}
