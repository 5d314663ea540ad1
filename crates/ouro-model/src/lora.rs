//! LoRA adapters over a frozen decoder, stored in PEFT's layout.
//!
//! An adapted projection computes `x W^T + (alpha / r) * (x A^T) B^T` with `A [r, in]`
//! and `B [out, r]`. `B` starts at zero, so a fresh adapter leaves the model unchanged,
//! and bypassing the adapters gives the base model back exactly: DPO uses that bypass
//! as its reference instead of a second copy of the weights.
//!
//! On disk a directory holds `adapter_config.json` and `adapter_model.safetensors` with
//! PEFT's tensor names (`base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight`),
//! which `peft.PeftModel.from_pretrained` loads.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::{ModelError, Result};

pub const ADAPTER_CONFIG_FILE: &str = "adapter_config.json";
pub const ADAPTER_WEIGHTS_FILE: &str = "adapter_model.safetensors";

/// Every projection LoRA can adapt, with the sub-module that holds it.
pub const TARGETS: [(&str, &str); 7] = [
    ("q_proj", "self_attn"),
    ("k_proj", "self_attn"),
    ("v_proj", "self_attn"),
    ("o_proj", "self_attn"),
    ("gate_proj", "mlp"),
    ("up_proj", "mlp"),
    ("down_proj", "mlp"),
];

/// LoRA hyper-parameters, named as PEFT's `LoraConfig`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoraConfig {
    pub r: usize,
    pub lora_alpha: f64,
    /// Only 0 is supported: dropout on the adapter input would make the adapted model
    /// differ from the reference even at `B = 0`.
    pub lora_dropout: f64,
    /// Short projection names (`q_proj`, ..., `down_proj`).
    pub target_modules: Vec<String>,
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self {
            r: 8,
            lora_alpha: 16.0,
            lora_dropout: 0.0,
            target_modules: TARGETS.iter().map(|(m, _)| m.to_string()).collect(),
        }
    }
}

impl LoraConfig {
    /// `alpha / r`, the factor on the adapter's output.
    pub fn scale(&self) -> f64 {
        self.lora_alpha / self.r as f64
    }

    /// Checks rank, dropout and module names; `origin` names the file or field in errors.
    pub fn validate(&self, origin: &Path) -> Result<()> {
        let bad = |msg: String| {
            Err(ModelError::Config {
                path: origin.into(),
                msg,
            })
        };
        if self.r == 0 {
            return bad("lora r must be at least 1".into());
        }
        if self.lora_dropout != 0.0 {
            return bad(format!(
                "lora_dropout = {} is not supported (only 0)",
                self.lora_dropout
            ));
        }
        if self.target_modules.is_empty() {
            return bad("lora target_modules is empty".into());
        }
        for m in &self.target_modules {
            if sub_module(m).is_none() {
                let known: Vec<&str> = TARGETS.iter().map(|(m, _)| *m).collect();
                return bad(format!(
                    "unknown lora target module '{m}' (known: {})",
                    known.join(", ")
                ));
            }
        }
        Ok(())
    }
}

fn sub_module(short: &str) -> Option<&'static str> {
    TARGETS.iter().find(|(m, _)| *m == short).map(|(_, s)| *s)
}

/// HF path of projection `short` of layer `layer`, e.g. `model.layers.3.mlp.up_proj`.
pub fn module_path(layer: usize, short: &str) -> Option<String> {
    sub_module(short).map(|s| format!("model.layers.{layer}.{s}.{short}"))
}

/// PEFT's tensor name of `lora_A` (`which = 'A'`) or `lora_B` of a module path.
pub fn peft_name(module: &str, which: char) -> String {
    format!("base_model.model.{module}.lora_{which}.weight")
}

/// `[out, in]` of a base projection.
fn base_shape(cfg: &Config, module: &str) -> Result<(usize, usize)> {
    let name = format!("{module}.weight");
    cfg.parameter_shapes()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| (s[0], s[1]))
        .ok_or_else(|| ModelError::InvalidArgument(format!("no base weight {name}")))
}

/// The adapter variables of one model, keyed by PEFT tensor name.
pub struct LoraAdapters {
    pub config: LoraConfig,
    vars: BTreeMap<String, Var>,
}

impl LoraAdapters {
    /// Fresh adapters: `A` uniform in `±1/sqrt(in)` (PEFT's Kaiming-uniform with
    /// `a = sqrt(5)`), `B = 0`. Each tensor has its own RNG seeded by `(seed, name)`.
    pub fn init(
        model: &Config,
        cfg: &LoraConfig,
        seed: u64,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        cfg.validate(Path::new("<lora config>"))?;
        let mut vars = BTreeMap::new();
        for module in modules(model, cfg) {
            let (out, inp) = base_shape(model, &module)?;
            let a_name = peft_name(&module, 'A');
            let mut rng = rand::rngs::StdRng::seed_from_u64(ouro_data::derive_seed(&a_name, seed));
            let bound = 1.0 / (inp as f64).sqrt();
            let a: Vec<f64> = (0..cfg.r * inp)
                .map(|_| rng.gen_range(-bound..bound))
                .collect();
            let a = Tensor::from_vec(a, (cfg.r, inp), device)?.to_dtype(dtype)?;
            let b = Tensor::zeros((out, cfg.r), dtype, device)?;
            vars.insert(a_name, Var::from_tensor(&a)?);
            vars.insert(peft_name(&module, 'B'), Var::from_tensor(&b)?);
        }
        Ok(Self {
            config: cfg.clone(),
            vars,
        })
    }

    /// Reads a PEFT adapter directory, checking every tensor's presence and shape.
    pub fn load(dir: &Path, model: &Config, dtype: DType, device: &Device) -> Result<Self> {
        let cfg_path = dir.join(ADAPTER_CONFIG_FILE);
        let text = std::fs::read_to_string(&cfg_path).map_err(|e| ModelError::io(&cfg_path, e))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| ModelError::Json {
                path: cfg_path.clone(),
                msg: e.to_string(),
            })?;
        let field = |k: &str| json.get(k).cloned().unwrap_or(serde_json::Value::Null);
        let targets = match field("target_modules") {
            serde_json::Value::String(s) => vec![s],
            v => serde_json::from_value::<Vec<String>>(v).map_err(|e| ModelError::Json {
                path: cfg_path.clone(),
                msg: format!("target_modules: {e}"),
            })?,
        };
        let cfg = LoraConfig {
            r: field("r").as_u64().unwrap_or(0) as usize,
            lora_alpha: field("lora_alpha").as_f64().unwrap_or(0.0),
            lora_dropout: field("lora_dropout").as_f64().unwrap_or(0.0),
            target_modules: targets,
        };
        cfg.validate(&cfg_path)?;
        for flag in ["use_rslora", "use_dora"] {
            if field(flag).as_bool() == Some(true) {
                return Err(ModelError::Config {
                    path: cfg_path,
                    msg: format!("{flag} = true is not supported"),
                });
            }
        }
        let w_path = dir.join(ADAPTER_WEIGHTS_FILE);
        let tensors =
            candle_core::safetensors::load(&w_path, device).map_err(|e| ModelError::Corrupt {
                path: w_path.clone(),
                msg: e.to_string(),
            })?;
        let mut vars = BTreeMap::new();
        for module in modules(model, &cfg) {
            let (out, inp) = base_shape(model, &module)?;
            for (which, shape) in [('A', [cfg.r, inp]), ('B', [out, cfg.r])] {
                let name = peft_name(&module, which);
                let t = tensors
                    .get(&name)
                    .ok_or_else(|| ModelError::MissingTensor {
                        path: w_path.clone(),
                        tensor: name.clone(),
                    })?;
                if t.dims() != shape {
                    return Err(ModelError::Shape {
                        path: w_path.clone(),
                        tensor: name,
                        expected: shape.to_vec(),
                        found: t.dims().to_vec(),
                    });
                }
                vars.insert(name, Var::from_tensor(&t.to_dtype(dtype)?)?);
            }
        }
        Ok(Self { config: cfg, vars })
    }

    /// The trainable variables with their PEFT names, sorted by name.
    pub fn vars(&self) -> Vec<(String, Var)> {
        self.vars
            .iter()
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect()
    }

    /// `(A, B)` of a module path such as `model.layers.0.self_attn.q_proj`.
    pub fn pair(&self, module: &str) -> Option<(Tensor, Tensor)> {
        let a = self.vars.get(&peft_name(module, 'A'))?;
        let b = self.vars.get(&peft_name(module, 'B'))?;
        Some((a.as_tensor().clone(), b.as_tensor().clone()))
    }

    /// Writes `adapter_config.json` and `adapter_model.safetensors` into the existing
    /// directory `dir` (callers stage `dir` and rename it into place).
    pub fn save(&self, dir: &Path, base_model: &str) -> Result<()> {
        let c = &self.config;
        let json = serde_json::json!({
            "peft_type": "LORA",
            "task_type": "CAUSAL_LM",
            "base_model_name_or_path": base_model,
            "r": c.r,
            "lora_alpha": c.lora_alpha,
            "lora_dropout": c.lora_dropout,
            "target_modules": c.target_modules,
            "bias": "none",
            "fan_in_fan_out": false,
            "inference_mode": true,
            "init_lora_weights": true,
            "modules_to_save": null,
            "layers_to_transform": null,
            "use_rslora": false,
            "use_dora": false,
            "revision": null,
        });
        let cfg_path = dir.join(ADAPTER_CONFIG_FILE);
        ouro_data::fsutil::atomic_write(
            &cfg_path,
            serde_json::to_string_pretty(&json)
                .expect("json")
                .as_bytes(),
        )
        .map_err(|e| ModelError::Data(format!("{}: {e}", cfg_path.display())))?;
        let tensors: Vec<(String, Tensor)> = self
            .vars
            .iter()
            .map(|(n, v)| Ok((n.clone(), v.as_tensor().to_device(&Device::Cpu)?)))
            .collect::<Result<_>>()?;
        let w_path = dir.join(ADAPTER_WEIGHTS_FILE);
        let tmp = PathBuf::from(format!("{}.tmp", w_path.display()));
        let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
        safetensors::serialize_to_file(
            tensors.iter().map(|(n, t)| (n.as_str(), t)),
            Some(meta),
            &tmp,
        )
        .map_err(|e| ModelError::Tensor {
            path: w_path.clone(),
            tensor: String::new(),
            msg: e.to_string(),
        })?;
        crate::files::permissions_of(&cfg_path, &tmp)?;
        std::fs::rename(&tmp, &w_path).map_err(|e| ModelError::io(&w_path, e))
    }

    /// Base weights with the adapters folded in (`W + scale * B A`), as a new `VarMap`
    /// that [`crate::checkpoint::save`] writes as a plain HF checkpoint.
    pub fn merged(&self, base: &VarMap) -> Result<VarMap> {
        let scale = self.config.scale();
        let out = VarMap::new();
        let src = base.data().lock().expect("varmap lock");
        let mut dst = out.data().lock().expect("varmap lock");
        for (name, var) in src.iter() {
            let w = var.as_tensor().detach();
            let module = name.strip_suffix(".weight").unwrap_or(name);
            let w = match self.pair(module) {
                Some((a, b)) => (w + (b.matmul(&a)? * scale)?)?,
                None => w.copy()?,
            };
            dst.insert(name.clone(), Var::from_tensor(&w)?);
        }
        drop(dst);
        Ok(out)
    }
}

/// Module paths adapted by `cfg`, layer by layer in `TARGETS` order.
fn modules(model: &Config, cfg: &LoraConfig) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..model.num_hidden_layers {
        for (m, _) in TARGETS {
            if cfg.target_modules.iter().any(|t| t == m) {
                out.push(module_path(i, m).expect("known target"));
            }
        }
    }
    out
}
