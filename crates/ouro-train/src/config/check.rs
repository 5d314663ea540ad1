//! What TOML accepts but training cannot use: each check names the key, under the
//! prefix the config sits at (`optim.` in a training config file, `iterate.train.` in
//! a pipeline).

use super::{DpoConfig, LoraSettings, OptimConfig, SftConfig, SpanWeighting};

/// A value outside its range, named by its key (`prefix` + the key in the config).
fn bad(prefix: &str, key: &str, value: impl std::fmt::Display, want: &str) -> String {
    format!("key '{prefix}{key}' = {value} must be {want}")
}

impl OptimConfig {
    /// What TOML accepts but training cannot use; the error names the key, under
    /// `prefix` (`optim.` in a training config, `iterate.train.optim.` in a pipeline).
    fn check(&self, prefix: &str) -> std::result::Result<(), String> {
        let positive = |key, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(bad(prefix, key, v, "a finite number > 0"))
            }
        };
        let non_negative = |key, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(bad(prefix, key, v, "a finite number >= 0"))
            }
        };
        positive("lr", self.lr)?;
        positive("eps", self.eps)?;
        non_negative("weight_decay", self.weight_decay)?;
        non_negative("max_grad_norm", self.max_grad_norm)?;
        non_negative("epochs", self.epochs)?;
        for (key, v) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&v) {
                return Err(bad(prefix, key, v, "in [0, 1)"));
            }
        }
        for (key, v) in [
            ("batch_size", self.batch_size),
            ("grad_accum", self.grad_accum),
        ] {
            if v == 0 {
                return Err(bad(prefix, key, v, "at least 1"));
            }
        }
        if self.max_steps == 0 && self.epochs == 0.0 {
            return Err(format!(
                "keys '{prefix}max_steps' and '{prefix}epochs' are both 0: training would take no step"
            ));
        }
        Ok(())
    }
}

impl SpanWeighting {
    fn check(&self, prefix: &str) -> std::result::Result<(), String> {
        if self.scale.is_finite() && self.scale >= 0.0 {
            Ok(())
        } else {
            Err(bad(
                prefix,
                "weights.scale",
                self.scale,
                "a finite number >= 0",
            ))
        }
    }
}

impl LoraSettings {
    fn check(&self, prefix: &str) -> std::result::Result<(), String> {
        if self.r == 0 {
            return Err(bad(prefix, "lora.r", self.r, "at least 1"));
        }
        if !(self.lora_alpha.is_finite() && self.lora_alpha > 0.0) {
            return Err(bad(
                prefix,
                "lora.lora_alpha",
                self.lora_alpha,
                "a finite number > 0",
            ));
        }
        // Found when the adapters were built, after the data and the model had loaded.
        if self.lora_dropout != 0.0 {
            return Err(bad(
                prefix,
                "lora.lora_dropout",
                self.lora_dropout,
                "0 (adapter dropout is not supported)",
            ));
        }
        let known: Vec<&str> = ouro_model::lora::TARGETS.iter().map(|(m, _)| *m).collect();
        if self.target_modules.is_empty() {
            return Err(format!(
                "key '{prefix}lora.target_modules' is empty (any of {})",
                known.join(", ")
            ));
        }
        if let Some(m) = self
            .target_modules
            .iter()
            .find(|m| !known.contains(&m.as_str()))
        {
            return Err(format!(
                "key '{prefix}lora.target_modules': unknown module '{m}' (any of {})",
                known.join(", ")
            ));
        }
        Ok(())
    }
}

fn check_length(prefix: &str, max_length: usize) -> std::result::Result<(), String> {
    if max_length < 2 {
        return Err(bad(
            prefix,
            "max_length",
            max_length,
            "at least 2 (a prompt token and a completion token)",
        ));
    }
    Ok(())
}

/// A training config whose values can be checked before any work starts.
pub trait CheckedConfig {
    /// Values TOML accepts but training cannot use; the error names the key, under
    /// `prefix` (empty for a training config file, `iterate.train.` in a pipeline).
    fn check(&self, prefix: &str) -> std::result::Result<(), String>;
}

impl CheckedConfig for SftConfig {
    fn check(&self, prefix: &str) -> std::result::Result<(), String> {
        self.optim.check(&format!("{prefix}optim."))?;
        check_length(prefix, self.max_length)?;
        self.weights.check(prefix)?;
        self.lora.as_ref().map_or(Ok(()), |l| l.check(prefix))
    }
}

impl CheckedConfig for DpoConfig {
    fn check(&self, prefix: &str) -> std::result::Result<(), String> {
        self.optim.check(&format!("{prefix}optim."))?;
        check_length(prefix, self.max_length)?;
        self.weights.check(prefix)?;
        if !(self.beta.is_finite() && self.beta > 0.0) {
            return Err(bad(prefix, "beta", self.beta, "a finite number > 0"));
        }
        if !(0.0..0.5).contains(&self.label_smoothing) {
            return Err(bad(
                prefix,
                "label_smoothing",
                self.label_smoothing,
                "in [0, 0.5)",
            ));
        }
        if let Some(a) = self.rpo_alpha.filter(|a| !(a.is_finite() && *a >= 0.0)) {
            return Err(bad(prefix, "rpo_alpha", a, "a finite number >= 0"));
        }
        self.lora.as_ref().map_or(Ok(()), |l| l.check(prefix))
    }
}
