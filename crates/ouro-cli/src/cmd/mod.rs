//! One module per command: clap arguments and a call into a library.

pub mod build;
pub mod execute;
pub mod fait;
pub mod import;
pub mod launch;
pub mod lintseq;
pub mod model;
pub mod problems;
pub mod report;
pub mod run;
pub mod sample;
pub mod serve;
pub mod stats;
pub mod tests;
pub mod tokenizer;
pub mod train;

use std::sync::atomic::{AtomicBool, Ordering};

static QUIET: AtomicBool = AtomicBool::new(false);

/// Set once from the global `-q`/`--quiet` before any command runs; a
/// per-command `--quiet` would shadow the global flag and reject `-q`.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether commands draw progress bars (not under `-q`).
pub fn progress_bars() -> bool {
    !QUIET.load(Ordering::Relaxed)
}
