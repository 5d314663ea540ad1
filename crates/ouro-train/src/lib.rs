//! SFT and DPO training for ouro, with TRL 1.16's semantics.
//!
//! - [`sft`]: completion-only / assistant-only loss, weight spans, packing; the loss is the
//!   weighted token sum over the loss tokens of the whole optimiser step (TRL's
//!   `num_items_in_batch`).
//! - [`dpo`]: sigmoid, ipo, hinge and robust losses plus an optional RPO NLL term, one
//!   concatenated forward pass for chosen and rejected, cached reference log-probs.
//! - [`optim`]: fused in-place AdamW, global-norm clipping, LR schedules.
//! - [`engine`]: gradient accumulation, seeded data order, metrics JSONL, progress bar,
//!   atomic checkpoints with optimiser state, exact resume, SVG loss curve.
//!
//! Models plug in through [`model::TrainableLm`].

pub mod checkpoint;
pub mod config;
pub mod dpo;
pub mod engine;
pub mod error;
#[cfg(feature = "decoder")]
pub mod formats;
pub mod hub;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod out_dir;
#[cfg(feature = "decoder")]
pub mod run;
pub mod sft;
pub mod tokenize;
pub mod var_files;

pub use config::{
    CheckedConfig, DpoConfig, DpoLossType, LoraSettings, LrSchedule, OptimConfig, Overflow,
    SftConfig, SpanWeighting,
};
pub use engine::TrainReport;
pub use error::{Result, TrainError};
pub use model::TrainableLm;
