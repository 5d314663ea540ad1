//! The output directory of a training run: apart from the run's inputs, and written by
//! one run at a time.

use std::fs::File;
use std::path::Path;

use crate::error::{Result, TrainError};

/// Held for the run's life: a second `ouro train` into the same directory is refused
/// rather than interleaving its checkpoints and metrics lines with this one's.
#[derive(Debug)]
pub struct OutLock {
    _file: File,
}

const LOCK_FILE: &str = ".ouro-train.lock";

fn refuse(out: &Path, message: String) -> TrainError {
    TrainError::Output {
        path: out.to_path_buf(),
        message,
    }
}

/// Checks that `out` is neither an input nor inside one. Creates nothing: a run refused
/// for its inputs leaves no output behind.
pub fn check_apart(out: &Path, model_dir: &Path, data: &Path) -> Result<()> {
    // A run writes checkpoint-*/, model/ and metrics into `out`: into the model directory
    // they would mix with the weights it was loaded from, and into a data directory the
    // next run (or a resume) would read them as training rows.
    for (what, input) in [("--model", model_dir), ("--data", data)] {
        if ouro_data::fsutil::is_within(out, input) {
            return Err(refuse(out, format!(
                "is {what} {} or inside it; training writes checkpoints, metrics and a model there: use another --out",
                ouro_data::fsutil::resolved(input).display()
            )));
        }
    }
    if out.exists() && !out.is_dir() {
        return Err(refuse(out, "exists and is not a directory".into()));
    }
    Ok(())
}

/// Creates `out` if needed and locks it for the caller's life.
pub fn lock(out: &Path) -> Result<OutLock> {
    match ouro_data::fsutil::try_lock(out, LOCK_FILE) {
        Ok(Some(file)) => Ok(OutLock { _file: file }),
        Ok(None) => Err(refuse(
            out,
            "another `ouro train` is writing into it; wait for it, or use another --out".into(),
        )),
        Err(e) => Err(TrainError::io(out.join(LOCK_FILE), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_out_that_is_an_input_or_in_one_or_in_use_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let (model, data) = (d.path().join("model"), d.path().join("data"));
        std::fs::create_dir_all(&model).unwrap();
        std::fs::create_dir_all(&data).unwrap();
        for out in [model.clone(), data.clone(), data.join("run")] {
            let e = check_apart(&out, &model, &data).unwrap_err().to_string();
            assert!(e.contains("or inside it"), "{}: {e}", out.display());
        }
        assert!(!data.join("run").exists(), "a refusal creates nothing");
        let file = d.path().join("file");
        std::fs::write(&file, "").unwrap();
        let e = check_apart(&file, &model, &data).unwrap_err().to_string();
        assert!(e.contains("not a directory"), "{e}");
        let out = d.path().join("out");
        check_apart(&out, &model, &data).unwrap();
        let held = lock(&out).unwrap();
        let e = lock(&out).unwrap_err().to_string();
        assert!(e.contains("another `ouro train` is writing into it"), "{e}");
        drop(held);
        lock(&out).unwrap();
    }
}
