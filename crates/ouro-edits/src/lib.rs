//! Edit-level training data for ouro.
//!
//! - [`difflib`]: Python `difflib` (SequenceMatcher, unified diff) ported
//!   byte for byte.
//! - [`sampling`]: LintSeq backward sampling, as the official implementation.
//! - [`replay`]: rebuilding a program from its diff sequence.
//! - [`lintseq`]: the stage, shards in and `lintseq` config out
//!   ([`lintseq::run`]).
//! - [`fait`]: FAIT weight spans over passing samples and their nearest
//!   failing neighbours ([`fait::run`]).
//!
//! Invariant: this crate does no sampling from models and runs no untrusted
//! code; the only linter it calls is `ouro-python`'s, in process.

mod card;
pub mod difflib;
pub mod exclude;
pub mod fait;
pub mod input;
pub mod lintseq;
pub mod replay;
pub mod sampling;

pub use exclude::Exclude;
pub use fait::{FaitOptions, FaitStats};
pub use lintseq::{LintseqOptions, LintseqStats};

/// Errors of the edit stages.
#[derive(Debug, thiserror::Error)]
pub enum EditsError {
    #[error(transparent)]
    Data(#[from] ouro_data::DataError),
    #[error("{0}")]
    Input(String),
}
