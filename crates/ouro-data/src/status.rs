//! Status lines (`stage X ...`, a round's pass@k, the device a training runs on) on
//! stderr.
//!
//! They are the run's narrative, not log records, so they print by default;
//! the CLI's global `-q` turns them off through [`set_quiet`]. Warnings keep
//! going through `eprintln!` regardless. Here rather than in the pipeline, so that
//! the libraries a pipeline calls (training) say theirs under the same switch.

use std::sync::atomic::{AtomicBool, Ordering};

static QUIET: AtomicBool = AtomicBool::new(false);

/// Silences [`say`] (and, for callers that ask [`quiet`], progress bars)
/// for the rest of the process.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
    crate::progress::set_quiet(quiet);
}

/// Whether [`set_quiet`] was called with `true`.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Prints one status line unless quiet.
pub fn say(line: std::fmt::Arguments) {
    if !quiet() {
        eprintln!("{line}");
    }
}
