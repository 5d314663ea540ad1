//! Python source analysis, in process.
//!
//! - [`lint`]: parse with the ruff parser and report the pylint messages that
//!   drive LintSeq's deletions (syntax errors, undefined names, use before
//!   assignment, bad indentation). See the module docs for the coverage table.
//! - [`lexer`]: the one tokenizer: a lossless stream for normalising code
//!   (dedup, decontamination) and token-level mutations, and a fine stream
//!   (f-strings split) for token-level diffs.
//! - [`tokens`]: the fine stream with char offsets (for token-level diffs).
//! - [`extract`]: pull code out of model completions.
//! - [`value`]: Python values with `repr`, `==` and the sandbox wire form.

mod diagnostics;
pub mod extract;
pub mod lexer;
pub mod lint;
mod scope;
pub mod testcompile;
pub mod tokens;
pub mod value;

pub use lint::{is_clean, lint, lint_with, LintMessage, Semantics};
