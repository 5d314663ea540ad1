//! The file names of a Hugging Face checkpoint directory. A leaf module, so
//! that the checkpoint loader, the chat template and the tokenizer helpers
//! can all name the files without importing one another; and the layout of a training
//! run's output, which every loader accepts for its final model.

use std::path::{Path, PathBuf};

use crate::error::{ModelError, Result};

pub const CONFIG_FILE: &str = "config.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const WEIGHTS_INDEX_FILE: &str = "model.safetensors.index.json";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const GENERATION_CONFIG_FILE: &str = "generation_config.json";
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";

/// Where `ouro train --out DIR` writes its final model: `DIR/model`. Loaders take DIR
/// itself for it, since chaining `--out` into the next command's `--model` is what
/// people type.
pub const TRAINED_MODEL_DIR: &str = "model";
/// Resumable checkpoints of a training run: `DIR/checkpoint-NNNNNN`.
pub const TRAINING_CHECKPOINT_PREFIX: &str = "checkpoint-";

/// The model directory `dir` names: `dir` itself when it holds a `config.json`, or the
/// final model of the training run whose `--out` it was. A run that stopped before its
/// final model is an error naming its latest checkpoint; anything else is returned as
/// it is, for the loader to report what is missing.
pub fn resolve_model_dir(dir: &Path) -> Result<PathBuf> {
    if dir.join(CONFIG_FILE).is_file() || !dir.is_dir() {
        return Ok(dir.into());
    }
    let trained = dir.join(TRAINED_MODEL_DIR);
    if trained.join(CONFIG_FILE).is_file() {
        tracing::info!(
            "{}: a training run's output; loading its model, {}",
            dir.display(),
            trained.display()
        );
        return Ok(trained);
    }
    let latest = latest_checkpoint(dir, CONFIG_FILE);
    match latest {
        Some(checkpoint) => Err(ModelError::UnfinishedTraining {
            dir: dir.into(),
            checkpoint,
        }),
        None => Ok(dir.into()),
    }
}

/// The training checkpoint with the highest step in `out` that holds `marker` (a file
/// written last, so its presence means the checkpoint is complete); temp dirs are ignored.
pub fn latest_checkpoint(out: &Path, marker: &str) -> Option<PathBuf> {
    checkpoints(out, marker).pop().map(|(_, path)| path)
}

/// Every complete training checkpoint in `out` (see [`latest_checkpoint`]), by step.
pub fn checkpoints(out: &Path, marker: &str) -> Vec<(u64, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(out) else {
        return Vec::new();
    };
    let mut found: Vec<(u64, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let step: u64 = name
                .strip_prefix(TRAINING_CHECKPOINT_PREFIX)?
                .parse()
                .ok()?;
            e.path().join(marker).is_file().then(|| (step, e.path()))
        })
        .collect();
    found.sort();
    found
}

/// Gives `path` the permissions of `sibling`, a file this process wrote the usual way:
/// the safetensors crate creates its files private (0600), so other users on a shared
/// filesystem could read every file of a checkpoint but its weights.
pub fn permissions_of(sibling: &Path, path: &Path) -> Result<()> {
    let mode = std::fs::metadata(sibling)
        .map_err(|e| ModelError::io(sibling, e))?
        .permissions();
    std::fs::set_permissions(path, mode).map_err(|e| ModelError::io(path, e))
}
