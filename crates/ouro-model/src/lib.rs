//! ouro-model: a trainable Llama/Qwen2/Qwen3-family decoder in candle.
//!
//! - [`Config`] deserializes a Hugging Face `config.json`; presets [`Config::tiny`], [`Config::small`].
//! - [`Decoder`] is built from a `VarBuilder` with HF tensor names. Its training
//!   forward ([`Decoder::forward`], [`Decoder::token_logprobs`]) uses only ops with a
//!   backward pass; [`Decoder::forward_step`] is the KV-cache generation path.
//! - [`checkpoint`] loads (mmapped) and saves (atomically) HF directories.
//! - [`init`] gives deterministic random initialisation.
//!
//! See `API.md` next to this crate's `Cargo.toml` for the contract the trainer relies on.

pub mod chat;
pub mod chat_template;
pub mod checkpoint;
pub mod config;
pub mod decode_attention;
pub mod decoder;
pub mod device;
pub mod error;
pub mod fastmath;
pub mod files;
pub mod fused;
pub mod generate;
pub mod gguf;
pub mod init;
pub mod kv_cache;
pub mod logprob_head;
pub mod lora;
pub mod ops;
pub mod q8;
pub mod rows_matmul;
pub mod sampling;
pub mod tensor_pass;
pub mod tokenizer;
pub mod train_pass;

pub use config::{Config, RopeScaling};
pub use decoder::{Decoder, KvCache};
pub use device::{DeviceError, Placement, SampleDtype};
pub use error::{ModelError, Result};
pub use generate::{
    DecodeSession, FinishReason, Generation, GenerationRequest, GenerationTimes, Generator, Prompt,
    ScoredPrompt, TokenLogprob, TokenSink,
};
pub use sampling::SamplingParams;
pub use tokenizers::Tokenizer;
