//! Python source analysis, in process.
//!
//! - [`lint`]: parse with the ruff parser and report the pylint errors that
//!   drive LintSeq's deletions (syntax errors, undefined names, use before
//!   assignment, bad indentation).
//! - [`extract`]: pull code out of model completions.

pub mod extract;
