//! Errors of ouro-model. Every error that comes from a file names the file and,
//! where there is one, the tensor.

use std::path::PathBuf;

/// Result alias used across the crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;

/// What can go wrong while building, loading, saving or running a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: missing file (expected a Hugging Face model directory with config.json, model.safetensors, tokenizer.json)")]
    MissingFile { path: PathBuf },
    #[error("{path}: a file, not a model directory (expected a Hugging Face model directory with config.json, model.safetensors, tokenizer.json)")]
    NotADirectory { path: PathBuf },
    #[error("{dir}: a training run's output without its final model (the run stopped before it ended): resume it with the same `ouro train` command, or load its latest checkpoint, {checkpoint}")]
    UnfinishedTraining { dir: PathBuf, checkpoint: PathBuf },
    #[error("{path}: invalid JSON: {msg}")]
    Json { path: PathBuf, msg: String },
    #[error("{path}: unknown architecture '{arch}' (supported: llama, qwen2, qwen3)")]
    UnknownArchitecture { path: PathBuf, arch: String },
    #[error("{path}: invalid config: {msg}")]
    Config { path: PathBuf, msg: String },
    #[error("the chat template in {template} could not render these messages: {msg}")]
    Render { template: PathBuf, msg: String },
    #[error("{path}: tensor '{tensor}': expected shape {expected:?}, found {found:?}")]
    Shape {
        path: PathBuf,
        tensor: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("{path}: tensor '{tensor}' is missing")]
    MissingTensor { path: PathBuf, tensor: String },
    #[error("{path}: tensor '{tensor}': {msg}")]
    Tensor {
        path: PathBuf,
        tensor: String,
        msg: String,
    },
    #[error("{path}: tensor '{tensor}': unsupported quantisation {dtype} (supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)")]
    UnsupportedQuantisation {
        path: PathBuf,
        tensor: String,
        dtype: String,
    },
    #[error("{path}: corrupt file: {msg}")]
    Corrupt { path: PathBuf, msg: String },
    #[error("{path}: tokenizer: {msg}")]
    Tokenizer { path: PathBuf, msg: String },
    #[error("tokenizer: {0}")]
    Tokenize(String),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("the model's logits are NaN at completion token {token} (diverged training or corrupt weights?)")]
    NanLogits { token: usize },
    /// A chunked prefill failed part way: only the rows `keys` are lost, and the
    /// session that ran it goes on (see `DecodeSession::chunked_prefill`).
    #[error("prefilling rows {keys:?}: {source}")]
    Prefill {
        keys: Vec<usize>,
        #[source]
        source: Box<ModelError>,
    },
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error("{0}")]
    Data(String),
}

impl ModelError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ModelError::Io {
            path: path.into(),
            source,
        }
    }
}
