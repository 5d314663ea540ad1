//! Training configuration, read from TOML with serde defaults for every field.

use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::error::{Result, TrainError};

mod check;
pub use check::CheckedConfig;

/// Learning-rate schedule, as in `transformers.get_scheduler`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrSchedule {
    /// `lr` for every step after warm-up: transformers' `constant_with_warmup`
    /// (its `constant` where `warmup_steps = 0`).
    Constant,
    /// Linear warm-up, then linear decay to 0 at `total_steps`.
    Linear,
    /// Linear warm-up, then half a cosine down to 0 at `total_steps`.
    Cosine,
}

/// Optimiser and loop settings shared by SFT and DPO.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// AdamW's decoupled weight decay, on every parameter but norms' weights and
    /// biases, which transformers' Trainer exempts too.
    pub weight_decay: f64,
    /// Clip the global L2 norm of the gradients to this value; `0` disables clipping.
    pub max_grad_norm: f64,
    pub schedule: LrSchedule,
    pub warmup_steps: u64,
    /// Examples per micro-batch (per forward pass).
    pub batch_size: usize,
    /// Micro-batches per optimiser step.
    pub grad_accum: usize,
    /// Optimiser steps; `0` means derive it from `epochs`.
    pub max_steps: u64,
    pub epochs: f64,
    /// Seed for data order.
    pub seed: u64,
    /// Save a checkpoint every this many steps (`0`: only at the end). TRL's
    /// name, `save_steps`, is accepted too.
    #[serde(alias = "save_steps")]
    pub save_every: u64,
    /// Also save a resumable checkpoint once this many seconds have passed
    /// since the last one (`0`: never), so that a killed run resumes near where
    /// it stopped. Only the newest such checkpoint is kept, and none is left
    /// once training ends: the output does not depend on when they were taken.
    pub save_every_s: u64,
    /// Keep at most this many checkpoints in `OUT`, deleting the oldest after
    /// each save, as TRL's `save_total_limit` does (`0`: keep every one). The
    /// final checkpoint counts and is never the one deleted.
    pub save_total_limit: u64,
    /// Abort if a loss is NaN or infinite.
    pub stop_on_nan: bool,
    /// Show an indicatif progress bar.
    pub progress: bool,
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self {
            lr: 1e-4,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            max_grad_norm: 1.0,
            schedule: LrSchedule::Linear,
            warmup_steps: 0,
            batch_size: 4,
            grad_accum: 1,
            max_steps: 0,
            epochs: 1.0,
            seed: 42,
            save_every: 0,
            save_every_s: 300,
            save_total_limit: 0,
            stop_on_nan: true,
            progress: true,
        }
    }
}

/// How a row becomes one training sequence: the token limit, what a longer row does,
/// whether each completion ends with the tokenizer's EOS (as TRL appends it), whether
/// only the completion carries loss, and who wrote the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowFit {
    pub max_length: usize,
    pub overflow: Overflow,
    pub append_eos: bool,
    /// SFT's `completion_only_loss` (DPO scores completions only, always).
    pub completion_only_loss: bool,
    /// Set from the dataset, not the config: [`RowText::Plain`] in `row_fit()`.
    pub text: RowText,
}

/// Who wrote a row's text, which decides how it becomes tokens (as TRL tokenizes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RowText {
    /// Strings from the dataset: encoded with the tokenizer's special tokens (the BOS a
    /// Llama-family post-processor adds), the EOS appended to each completion.
    #[default]
    Plain,
    /// A chat template's output (conversational rows): encoded as it is, since the
    /// template wrote its own BOS and closed each turn (`apply_chat_template`'s
    /// tokenization, without special tokens; no EOS appended).
    Rendered,
}

/// What to do with an example whose tokens exceed `max_length`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overflow {
    /// Keep the first `max_length` tokens (TRL's `truncation_mode = "keep_start"`).
    Truncate,
    /// Skip the example and count it.
    Drop,
}

/// How per-token weights from weight spans are scheduled over training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpanWeighting {
    pub enabled: bool,
    /// Multiplier on `(span.weight - 1)`: the effective weight is
    /// `1 + scale(step) * (span.weight - 1)`, so `0` means unweighted.
    pub scale: f64,
    /// Ramp `scale` linearly from 0 over this many steps (`0`: full scale from the start).
    pub ramp_steps: u64,
}

impl Default for SpanWeighting {
    fn default() -> Self {
        Self {
            enabled: true,
            scale: 1.0,
            ramp_steps: 0,
        }
    }
}

impl SpanWeighting {
    /// Effective multiplier on `(weight - 1)` at `step`.
    pub fn scale_at(&self, step: u64) -> f64 {
        if !self.enabled {
            return 0.0;
        }
        if self.ramp_steps == 0 {
            self.scale
        } else {
            self.scale * ((step as f64 + 1.0) / self.ramp_steps as f64).min(1.0)
        }
    }
}

/// LoRA: train low-rank adapters over a frozen base (PEFT's `LoraConfig` names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoraSettings {
    pub r: usize,
    pub lora_alpha: f64,
    /// Must be 0 (adapter dropout is not supported).
    pub lora_dropout: f64,
    /// Projections to adapt: any of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj.
    pub target_modules: Vec<String>,
    /// Seed of the adapters' `A` init (`B` starts at 0).
    pub seed: u64,
    /// Also write the adapters folded into the base as a full HF checkpoint (`out/model`);
    /// the PEFT adapter directory `out/adapter` is always written.
    pub merge: bool,
}

impl Default for LoraSettings {
    fn default() -> Self {
        Self {
            r: 8,
            lora_alpha: 16.0,
            lora_dropout: 0.0,
            target_modules: [
                "q_proj",
                "k_proj",
                "v_proj",
                "o_proj",
                "gate_proj",
                "up_proj",
                "down_proj",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            seed: 0,
            merge: true,
        }
    }
}

/// The assistant turns of a conversation that SFT trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AssistantTurns {
    /// Only the final one. A repair record's earlier assistant turn is the
    /// failing attempt; training on it teaches the model to write the bug
    /// (CYCLE masks the faulty generation for the same reason).
    #[default]
    Last,
    /// Every assistant turn (TRL's `assistant_only_loss`).
    All,
}

/// Supervised fine-tuning settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SftConfig {
    pub optim: OptimConfig,
    /// Maximum tokens per sequence (prompt + completion).
    pub max_length: usize,
    pub overflow: Overflow,
    /// Loss on the completion only (TRL `completion_only_loss`), for prompt-completion
    /// rows, strings or conversational; `messages` rows train the assistant turns
    /// `assistant_turns` names.
    pub completion_only_loss: bool,
    /// Which assistant turns of `messages` rows carry loss: `last` (default) or `all`.
    pub assistant_turns: AssistantTurns,
    /// Concatenate examples into rows of `max_length` tokens (loss masks kept per token,
    /// each example's first token not a label). Packed examples attend to the ones before
    /// them in their row and positions run on: TRL's padding-free packing keeps them
    /// apart, so its loss does not change with packing and this one's does.
    pub packing: bool,
    pub weights: SpanWeighting,
    /// Append the tokenizer's EOS to each completion, as TRL does.
    pub append_eos: bool,
    /// Train LoRA adapters instead of every weight (`[lora]` table).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lora: Option<LoraSettings>,
}

impl SftConfig {
    /// How each row becomes a training sequence under this config.
    pub fn row_fit(&self) -> RowFit {
        RowFit {
            max_length: self.max_length,
            overflow: self.overflow,
            append_eos: self.append_eos,
            completion_only_loss: self.completion_only_loss,
            text: RowText::Plain,
        }
    }
}

impl Default for SftConfig {
    fn default() -> Self {
        Self {
            optim: OptimConfig::default(),
            max_length: 1024,
            overflow: Overflow::Truncate,
            completion_only_loss: true,
            assistant_turns: AssistantTurns::Last,
            packing: false,
            weights: SpanWeighting::default(),
            append_eos: true,
            lora: None,
        }
    }
}

/// DPO loss variants, named as TRL's `loss_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DpoLossType {
    Sigmoid,
    Ipo,
    Hinge,
    Robust,
}

impl<'de> Deserialize<'de> for DpoLossType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = DpoLossType;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("one of \"sigmoid\", \"ipo\", \"hinge\", \"robust\"")
            }
            fn visit_str<E: serde::de::Error>(
                self,
                v: &str,
            ) -> std::result::Result<Self::Value, E> {
                match v {
                    "sigmoid" => Ok(DpoLossType::Sigmoid),
                    "ipo" => Ok(DpoLossType::Ipo),
                    "hinge" => Ok(DpoLossType::Hinge),
                    "robust" => Ok(DpoLossType::Robust),
                    other => Err(E::unknown_variant(
                        other,
                        &["sigmoid", "ipo", "hinge", "robust"],
                    )),
                }
            }
            // TRL 1.x writes RPO as a list of losses: `["sigmoid", "sft"]`.
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                _: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                Err(serde::de::Error::custom(
                    "a list of loss types is not supported: for TRL's [\"<type>\", \"sft\"] \
                     (RPO) give loss_type = \"<type>\" and rpo_alpha = the sft weight",
                ))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Direct preference optimisation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DpoConfig {
    pub optim: OptimConfig,
    pub beta: f64,
    pub loss_type: DpoLossType,
    /// The label noise robust DPO assumes (`loss_type = "robust"` only, as in TRL 1.x;
    /// other loss types warn that it changes nothing).
    pub label_smoothing: f64,
    /// Weight of an NLL term on chosen completions (RPO; in TRL 1.16 this is
    /// `loss_type = [<type>, "sft"]`, `loss_weights = [1, rpo_alpha]`); `None` disables it.
    pub rpo_alpha: Option<f64>,
    /// Maximum tokens of prompt + completion; longer sequences keep their start (TRL
    /// `truncation_mode = "keep_start"`), and pairs whose prompt alone fills it are dropped.
    pub max_length: usize,
    pub overflow: Overflow,
    /// Weight-span emphasis on the summed log-probs (injected-error pairs).
    pub weights: SpanWeighting,
    pub append_eos: bool,
    /// Train LoRA adapters; the reference is then the base with adapters bypassed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lora: Option<LoraSettings>,
}

impl DpoConfig {
    /// How each row becomes a training sequence under this config.
    pub fn row_fit(&self) -> RowFit {
        RowFit {
            max_length: self.max_length,
            overflow: self.overflow,
            append_eos: self.append_eos,
            completion_only_loss: true,
            text: RowText::Plain,
        }
    }
}

impl Default for DpoConfig {
    fn default() -> Self {
        Self {
            optim: OptimConfig {
                lr: 1e-6,
                ..OptimConfig::default()
            },
            beta: 0.1,
            loss_type: DpoLossType::Sigmoid,
            label_smoothing: 0.0,
            rpo_alpha: None,
            max_length: 1024,
            overflow: Overflow::Truncate,
            weights: SpanWeighting {
                enabled: false,
                ..SpanWeighting::default()
            },
            append_eos: true,
            lora: None,
        }
    }
}

impl SftConfig {
    /// The config as a TOML file to edit: every key, the optional ones that are off
    /// commented out with an example value (TOML has no "none", so they would vanish).
    pub fn to_toml(&self) -> std::result::Result<String, toml::ser::Error> {
        Ok(with_off_keys(
            toml::to_string_pretty(self)?,
            &[],
            self.lora.as_ref(),
        ))
    }
}

impl DpoConfig {
    /// [`SftConfig::to_toml`] for DPO.
    pub fn to_toml(&self) -> std::result::Result<String, toml::ser::Error> {
        let rpo = "rpo_alpha = 1.0    # off by default: weight of an NLL term on chosen (RPO)";
        let off: &[&str] = if self.rpo_alpha.is_none() {
            &[rpo]
        } else {
            &[]
        };
        Ok(with_off_keys(
            toml::to_string_pretty(self)?,
            off,
            self.lora.as_ref(),
        ))
    }
}

/// `text` with `top` (top-level keys that are off) commented in before the first table,
/// and a commented `[lora]` table at the end when LoRA is off.
fn with_off_keys(text: String, top: &[&str], lora: Option<&LoraSettings>) -> String {
    let split = text.find("\n\n[").map_or(text.len(), |i| i + 1);
    let (head, tables) = text.split_at(split);
    let mut out = head.to_string();
    for k in top {
        out.push_str(&format!("# {k}\n"));
    }
    out.push_str(tables);
    if lora.is_none() {
        out.push_str(
            "\n# [lora]              # off by default: train LoRA adapters over a frozen base\n",
        );
        let table = toml::to_string_pretty(&LoraSettings::default()).unwrap_or_default();
        for line in table.lines() {
            out.push_str(&format!("# {line}\n"));
        }
    }
    out
}

/// Reads a TOML config; a missing file is an error, missing keys take defaults: those of
/// `T` itself (see [`over_defaults`]).
pub fn load_toml<T>(path: &Path) -> Result<T>
where
    T: Default + Serialize + for<'de> Deserialize<'de>,
{
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let bad = |e: toml::de::Error| TrainError::Config {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    // Parsed as `T` first for its errors: they point at the offending line.
    toml::from_str::<T>(&text).map_err(bad)?;
    over_defaults(&toml::from_str(&text).map_err(bad)?).map_err(bad)
}

/// `given` read as a `T` whose every missing key, nested ones included, takes
/// `T::default()`'s value. Plain serde fills a nested table from the nested type's own
/// default: `[optim] max_steps = 3` in a DPO config would train at SFT's lr (1e-4), not
/// DPO's (1e-6), and `[weights] scale = 2` would turn DPO's span weighting on.
pub fn over_defaults<T>(given: &toml::Table) -> std::result::Result<T, toml::de::Error>
where
    T: Default + Serialize + for<'de> Deserialize<'de>,
{
    let mut merged = toml::Table::try_from(T::default())
        .map_err(|e| <toml::de::Error as serde::de::Error>::custom(e.to_string()))?;
    merge_into(&mut merged, given);
    T::deserialize(toml::Value::Table(merged))
}

/// Keys a config accepts under another name (serde `alias`), with that name.
const ALIASES: &[(&str, &str)] = &[("save_steps", "save_every")];

fn merge_into(base: &mut toml::Table, given: &toml::Table) {
    for (key, value) in given {
        // The default sits under the field's own name: both would be a duplicate field.
        if let Some((_, field)) = ALIASES.iter().find(|(alias, _)| alias == key) {
            base.remove(*field);
        }
        match (base.get_mut(key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(g)) => merge_into(b, g),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_nested_table_keeps_the_outer_configs_defaults() {
        let given: toml::Table =
            toml::from_str("beta = 0.2\n[optim]\nmax_steps = 3\n[weights]\nscale = 2.0\n").unwrap();
        let dpo: DpoConfig = over_defaults(&given).unwrap();
        assert_eq!(
            dpo.optim.lr,
            DpoConfig::default().optim.lr,
            "DPO's lr, not SFT's"
        );
        assert!(!dpo.weights.enabled, "DPO's span weighting stays off");
        assert_eq!(
            (dpo.beta, dpo.optim.max_steps, dpo.weights.scale),
            (0.2, 3, 2.0)
        );
        // Plain serde is what went wrong: the nested type's own default.
        let plain: DpoConfig = toml::from_str("[optim]\nmax_steps = 3\n").unwrap();
        assert_eq!(plain.optim.lr, OptimConfig::default().lr);
        let sft: SftConfig =
            over_defaults(&toml::from_str("[optim]\nlr = 0.5\n").unwrap()).unwrap();
        assert_eq!(
            (sft.optim.lr, sft.optim.batch_size),
            (0.5, OptimConfig::default().batch_size)
        );
        let lora: DpoConfig = over_defaults(&toml::from_str("[lora]\nr = 4\n").unwrap()).unwrap();
        assert_eq!(lora.lora.map(|l| l.r), Some(4));
    }

    #[test]
    fn printed_configs_show_the_optional_keys_commented_and_uncommenting_turns_them_on() {
        let dpo = DpoConfig::default().to_toml().unwrap();
        assert_eq!(
            toml::from_str::<DpoConfig>(&dpo).unwrap(),
            DpoConfig::default()
        );
        let uncomment = |t: &str| -> String {
            t.lines()
                .map(|l| l.strip_prefix("# ").unwrap_or(l))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let on: DpoConfig = toml::from_str(&uncomment(&dpo)).unwrap();
        assert_eq!(on.rpo_alpha, Some(1.0));
        assert_eq!(on.lora, Some(LoraSettings::default()));
        let sft = SftConfig::default().to_toml().unwrap();
        assert_eq!(
            toml::from_str::<SftConfig>(&sft).unwrap(),
            SftConfig::default()
        );
        assert!(!sft.contains("rpo_alpha"));
        let on: SftConfig = toml::from_str(&uncomment(&sft)).unwrap();
        assert_eq!(on.lora, Some(LoraSettings::default()));
        // A key that is set prints as itself, not as a comment.
        let set = DpoConfig {
            rpo_alpha: Some(0.5),
            ..DpoConfig::default()
        };
        let text = set.to_toml().unwrap();
        assert!(
            text.contains("\nrpo_alpha = 0.5\n") && !text.contains("# rpo_alpha"),
            "{text}"
        );
    }

    #[test]
    fn trl_save_steps_is_save_every() {
        // Over the defaults too, as `--config` reads a file: they hold `save_every`.
        let given: toml::Table = toml::from_str("[optim]\nsave_steps = 25\n").unwrap();
        let merged: SftConfig = over_defaults(&given).unwrap();
        assert_eq!(merged.optim.save_every, 25);
        let c: SftConfig = toml::from_str("[optim]\nsave_steps = 25\n").unwrap();
        assert_eq!(c.optim.save_every, 25);
        assert!(toml::from_str::<SftConfig>("[optim]\nsave_stepz = 25\n").is_err());
    }

    #[test]
    fn loss_types_are_named_and_trls_rpo_list_points_to_rpo_alpha() {
        let c: DpoConfig = toml::from_str("loss_type = \"ipo\"\n").unwrap();
        assert_eq!(c.loss_type, DpoLossType::Ipo);
        let err = toml::from_str::<DpoConfig>("loss_type = [\"sigmoid\", \"sft\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("rpo_alpha"), "{err}");
        let err = toml::from_str::<DpoConfig>("loss_type = \"kto\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("sigmoid") && err.contains("robust"), "{err}");
    }
}
