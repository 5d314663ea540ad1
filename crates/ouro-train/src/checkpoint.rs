//! Atomic checkpoints: model files, optimiser moments and trainer state in
//! `checkpoint-NNNNNN/`, written to a temp dir first and renamed into place.

use candle_core::{Device, Var};
use ouro_model::files::TRAINING_CHECKPOINT_PREFIX;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Result, TrainError};
use crate::model::TrainableLm;
use crate::optim::FusedAdamW;
use crate::var_files::load_vars_from;

/// What a checkpoint needs besides tensors to continue the same run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Optimiser steps completed.
    pub step: u64,
    pub total_steps: u64,
    /// AdamW update count.
    pub adam_t: u64,
    /// Hash of the serialized config, to refuse resuming with a different config.
    pub config_hash: String,
    /// Hash of the prepared examples (token ids, loss masks, weights): resuming on other
    /// data would finish one model trained on two datasets. Absent from older checkpoints,
    /// which are then resumed unchecked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_hash: Option<String>,
    /// Hash of the trainable weights the run started from (the base model's, or LoRA's
    /// initial adapters'): resuming from another `--model` would return this run's model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_hash: Option<String>,
}

/// What a resumed run must share with the run that wrote its checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct RunIdentity {
    /// [`crate::sft::config_hash`] of the config.
    pub config: String,
    /// Hash of the prepared examples.
    pub data: String,
}

impl RunIdentity {
    /// Why a checkpoint written as `state` cannot continue this run, if it cannot.
    pub fn mismatch(&self, state: &TrainerState, start_hash: &str) -> Option<&'static str> {
        if state.config_hash != self.config {
            Some("was written with a different config; use a new --out dir")
        } else if state.data_hash.as_ref().is_some_and(|d| *d != self.data) {
            Some("was trained on other data (its prepared examples differ from --data's); resume with the same --data, or use a new --out dir")
        } else if state.start_hash.as_ref().is_some_and(|h| h != start_hash) {
            Some("started from other weights than --model's; resume with the same --model, or use a new --out dir")
        } else {
            None
        }
    }
}

/// A hash over tensors' names, shapes and values, in order. It reads every trainable
/// weight back to the host once per run, one tensor at a time.
pub fn weights_hash(named: &[(String, candle_core::Var)]) -> Result<String> {
    let mut h = blake3::Hasher::new();
    for (name, var) in named {
        let t = var.as_tensor();
        h.update(name.as_bytes());
        for d in t.dims() {
            h.update(&(*d as u64).to_le_bytes());
        }
        let values: Vec<f32> = t
            .flatten_all()
            .and_then(|t| t.to_dtype(candle_core::DType::F32))
            .and_then(|t| t.to_vec1())
            .map_err(|e| TrainError::Model(format!("hashing '{name}': {e}")))?;
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        h.update(&bytes);
    }
    Ok(h.finalize().to_hex().to_string())
}

/// Name of the checkpoint dir of `step`.
pub fn checkpoint_dir(out: &Path, step: u64) -> PathBuf {
    out.join(format!("{TRAINING_CHECKPOINT_PREFIX}{step:06}"))
}

/// Writes a complete checkpoint for `state.step`; nothing is visible under the final name
/// until every file is written.
pub fn save(
    out: &Path,
    model: &dyn TrainableLm,
    opt: &FusedAdamW,
    names: &[String],
    state: &TrainerState,
) -> Result<PathBuf> {
    let final_dir = checkpoint_dir(out, state.step);
    let tmp = out.join(format!(".checkpoint-{:06}.tmp", state.step));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    model.save(&tmp)?;
    let mut moments = HashMap::new();
    for ((name, p), mom) in names.iter().zip(&opt.params).zip(&opt.state) {
        let (m, v) = mom.to_cpu(p.shape())?;
        moments.insert(format!("m.{name}"), m);
        moments.insert(format!("v.{name}"), v);
    }
    let opt_path = tmp.join("optimizer.safetensors");
    candle_core::safetensors::save(&moments, &opt_path).map_err(|e| TrainError::Checkpoint {
        path: opt_path.clone(),
        message: e.to_string(),
    })?;
    let state_json = serde_json::to_vec_pretty(state).expect("state serializes");
    std::fs::write(tmp.join("trainer_state.json"), state_json)
        .map_err(|e| TrainError::io(&tmp, e))?;
    if final_dir.exists() {
        std::fs::remove_dir_all(&final_dir).map_err(|e| TrainError::io(&final_dir, e))?;
    }
    std::fs::rename(&tmp, &final_dir).map_err(|e| TrainError::io(&final_dir, e))?;
    Ok(final_dir)
}

/// Deletes the oldest complete checkpoints in `out` until `keep` are left (`0`: none
/// is deleted). The newest always stays, so a resume finds it. `timed` (clock-timed
/// checkpoints, which go when the run passes them) neither count nor are deleted.
pub fn prune(out: &Path, keep: u64, timed: &[&Path]) -> Result<()> {
    if keep == 0 {
        return Ok(());
    }
    let steps: Vec<_> = ouro_model::files::checkpoints(out, "trainer_state.json")
        .into_iter()
        .filter(|(_, dir)| !timed.contains(&dir.as_path()))
        .collect();
    let excess = steps.len().saturating_sub(keep as usize);
    for (_, dir) in steps.into_iter().take(excess) {
        std::fs::remove_dir_all(&dir).map_err(|e| TrainError::io(&dir, e))?;
    }
    Ok(())
}

/// The complete checkpoint with the highest step in `out`, if any (temp dirs ignored).
pub fn latest(out: &Path) -> Option<PathBuf> {
    ouro_model::files::latest_checkpoint(out, "trainer_state.json")
}

/// Restores moments and returns the trainer state; `weights_file` is the model weights
/// inside the checkpoint dir.
pub fn load(
    dir: &Path,
    weights_file: &Path,
    vars: &[(String, Var)],
    opt: &mut FusedAdamW,
) -> Result<TrainerState> {
    let state_path = dir.join("trainer_state.json");
    let text = std::fs::read_to_string(&state_path).map_err(|e| TrainError::io(&state_path, e))?;
    let state: TrainerState = serde_json::from_str(&text).map_err(|e| TrainError::Checkpoint {
        path: state_path.clone(),
        message: e.to_string(),
    })?;
    load_vars_from(vars, weights_file)?;
    let opt_path = dir.join("optimizer.safetensors");
    let err = |m: String| TrainError::Checkpoint {
        path: opt_path.clone(),
        message: m,
    };
    let moments =
        candle_core::safetensors::load(&opt_path, &Device::Cpu).map_err(|e| err(e.to_string()))?;
    for ((name, _), mom) in vars.iter().zip(opt.state.iter_mut()) {
        let get = |k: String| moments.get(&k).ok_or_else(|| err(format!("missing '{k}'")));
        mom.restore(get(format!("m.{name}"))?, get(format!("v.{name}"))?)
            .map_err(|e| err(format!("'{name}': {e}")))?;
    }
    opt.t = state.adam_t;
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_timed_checkpoints_do_not_count_against_the_limit() {
        let out = tempfile::tempdir().unwrap();
        for step in [50, 100, 137] {
            let dir = checkpoint_dir(out.path(), step);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("trainer_state.json"), "{}").unwrap();
        }
        let timed = checkpoint_dir(out.path(), 137);
        prune(out.path(), 2, &[timed.as_path()]).unwrap();
        let left: Vec<u64> = ouro_model::files::checkpoints(out.path(), "trainer_state.json")
            .into_iter()
            .map(|(step, _)| step)
            .collect();
        assert_eq!(left, vec![50, 100, 137]);
        prune(out.path(), 2, &[]).unwrap();
        let left: Vec<u64> = ouro_model::files::checkpoints(out.path(), "trainer_state.json")
            .into_iter()
            .map(|(step, _)| step)
            .collect();
        assert_eq!(left, vec![100, 137]);
    }
}
