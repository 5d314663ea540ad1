//! Errors of the trainer. Every variant names the file, example or step at fault.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, TrainError>;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: invalid config: {message}")]
    Config { path: PathBuf, message: String },
    #[error("invalid training config: {0}")]
    InvalidConfig(String),
    #[error("{path}: {message}")]
    Data { path: PathBuf, message: String },
    /// A data file that cannot be read as rows (its error names the file and line).
    #[error(transparent)]
    Rows(#[from] ouro_data::DataError),
    #[error("dataset {path} has no usable examples ({detail})")]
    EmptyDataset { path: PathBuf, detail: String },
    #[error("row {} (problem {problem_id}): field '{field}': {message}", .index + 1)]
    Example {
        index: usize,
        problem_id: String,
        field: &'static str,
        message: String,
    },
    #[error("loss is {value} at step {step} (micro-batch {micro}); training stopped (any checkpoint saved before this step is kept; a lower optim.lr may help)")]
    NonFiniteLoss { step: u64, micro: usize, value: f32 },
    #[error("--out {path}: {message}")]
    Output { path: PathBuf, message: String },
    #[error("checkpoint {path}: {message}")]
    Checkpoint { path: PathBuf, message: String },
    #[error("model: {0}")]
    Model(String),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl TrainError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrainError::Io {
            path: path.into(),
            source,
        }
    }
}
