//! Named vars to and from safetensors files: the one format for weights,
//! shared by checkpoints and by models that save themselves.

use candle_core::{Device, Tensor, Var};
use std::collections::HashMap;
use std::path::Path;

use crate::error::{Result, TrainError};

/// Saves vars as safetensors under their names.
pub fn save_vars(vars: &[(String, Var)], path: &Path) -> Result<()> {
    let map: HashMap<String, Tensor> = vars
        .iter()
        .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
        .collect();
    candle_core::safetensors::save(&map, path).map_err(|e| TrainError::Checkpoint {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Loads weights named `<file>` into `vars` (every var must be present with its shape).
pub fn load_vars_from(vars: &[(String, Var)], file: &Path) -> Result<()> {
    let err = |m: String| TrainError::Checkpoint {
        path: file.to_path_buf(),
        message: m,
    };
    let tensors =
        candle_core::safetensors::load(file, &Device::Cpu).map_err(|e| err(e.to_string()))?;
    for (name, var) in vars {
        let t = tensors
            .get(name)
            .ok_or_else(|| err(format!("missing tensor '{name}'")))?;
        if t.shape() != var.shape() {
            return Err(err(format!(
                "tensor '{name}': shape {:?}, model has {:?}",
                t.shape(),
                var.shape()
            )));
        }
        var.set(&t.to_dtype(var.dtype())?.to_device(var.device())?)?;
    }
    Ok(())
}
