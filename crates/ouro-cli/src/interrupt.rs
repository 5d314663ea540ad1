//! Ctrl-C and SIGTERM: one line that says how to pick the work up again,
//! then exit 130 (128 + SIGINT), as shells expect.
//!
//! Stopping at any instant is safe by construction: every shard, marker and
//! checkpoint is written to a temp file and renamed, and sandboxes die with
//! their parent (PR_SET_PDEATHSIG), so the handler only has to speak.

use std::sync::OnceLock;

static MESSAGE: OnceLock<Vec<u8>> = OnceLock::new();

/// Installs the handler; `hint` is the command that resumes the work.
pub fn on_interrupt(hint: &str) {
    let text = format!("\ninterrupted; nothing finished is lost. Resume with:\n  {hint}\n");
    if MESSAGE.set(text.into_bytes()).is_err() {
        return;
    }
    extern "C" fn handler(_signal: libc::c_int) {
        // Only async-signal-safe calls here: write(2) and _exit(2).
        if let Some(m) = MESSAGE.get() {
            // SAFETY: the buffer outlives the process; a short write is harmless.
            unsafe {
                libc::write(2, m.as_ptr().cast(), m.len());
            }
        }
        // SAFETY: ends the process without running destructors, which a
        // signal handler must not run.
        unsafe { libc::_exit(130) }
    }
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `handler` is a plain extern "C" fn that only makes
        // async-signal-safe calls.
        unsafe {
            libc::signal(
                signal,
                handler as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }
}
