//! Progress of long stages, on a terminal or in a log.
//!
//! On a terminal, an indicatif bar. Without one (a Slurm log, `nohup`, CI, a
//! pipe) indicatif draws nothing, and a long stage looks hung; there the same
//! bar prints one plain line every ~10 s (`OURO_PROGRESS_INTERVAL_S`) with
//! its count, rate and ETA. Every stage's bar comes from [`bar`], so both
//! modes look the same everywhere.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

/// Seconds between plain progress lines when stderr is not a terminal.
pub const INTERVAL_ENV: &str = "OURO_PROGRESS_INTERVAL_S";
const DEFAULT_INTERVAL_S: f64 = 10.0;

static QUIET: AtomicBool = AtomicBool::new(false);

/// Hides every bar made after this call (the CLI's `-q` and `--no-progress`), whatever the
/// stage's own `progress` setting says.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// A progress bar over `len` items of `unit` (`samples`, `programs`, `steps`)
/// labelled `what`; hidden when `show` is false or after `set_quiet(true)`.
pub fn bar(len: u64, show: bool, what: &str, unit: &str) -> ProgressBar {
    bar_from(0, len, show, what, unit)
}

/// [`bar`] starting at `pos` (a resumed run): its first line reads `pos/len`, and its rate
/// counts only the items done from there.
pub fn bar_from(pos: u64, len: u64, show: bool, what: &str, unit: &str) -> ProgressBar {
    if !show || QUIET.load(Ordering::Relaxed) {
        return ProgressBar::hidden();
    }
    let (target, template) = if std::io::stderr().is_terminal() {
        (
            ProgressDrawTarget::stderr(),
            format!("{{prefix}} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} {unit} ({{rate}}, eta {{eta}}) {{msg}}"),
        )
    } else {
        let interval = std::env::var(INTERVAL_ENV)
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .unwrap_or(DEFAULT_INTERVAL_S);
        (
            ProgressDrawTarget::term_like_with_hz(Box::new(LogLines::new(interval)), 4),
            format!("{{prefix}}: {{pos}}/{{len}} {unit} ({{percent}}%, {{rate}}, elapsed {{elapsed}}, eta {{eta}}) {{msg}}"),
        )
    };
    // Built hidden, so that the jump to `pos` reaches the rate estimator (which would
    // otherwise count it as items done in no time) before anything is drawn.
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
    bar.set_style(
        ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key(
                "rate",
                |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = w.write_str(&rate_text(s.per_sec()));
                },
            ),
    );
    bar.set_prefix(what.to_string());
    if pos > 0 {
        bar.set_position(pos);
        bar.reset_eta();
    }
    bar.set_draw_target(target);
    bar
}

/// Items per second as a person reads it: indicatif's own `{per_sec}` prints four decimals
/// whatever the size (`181.2225/s`), and a training step that takes 9 s reads `0.1070/s`.
fn rate_text(per_sec: f64) -> String {
    if !per_sec.is_finite() || per_sec <= 0.0 {
        "-/s".to_string()
    } else if per_sec >= 100.0 {
        format!("{per_sec:.0}/s")
    } else if per_sec >= 10.0 {
        format!("{per_sec:.1}/s")
    } else if per_sec >= 1.0 {
        format!("{per_sec:.2}/s")
    } else {
        format!("{:.1}s each", 1.0 / per_sec)
    }
}

/// A "terminal" that turns indicatif's redraws into a log line at most every
/// `interval`, plus the final state when the count reaches its end.
#[derive(Debug)]
struct LogLines {
    interval: Duration,
    state: Mutex<LogState>,
}

#[derive(Debug)]
struct LogState {
    last: Option<Instant>,
    current: String,
    printed: String,
}

impl LogLines {
    fn new(interval_s: f64) -> Self {
        Self {
            interval: Duration::from_secs_f64(interval_s),
            state: Mutex::new(LogState {
                last: None,
                current: String::new(),
                printed: String::new(),
            }),
        }
    }

    fn set(&self, s: &str) {
        let mut st = self.state.lock().expect("progress lock");
        if !s.trim().is_empty() {
            st.current = s.trim_end().to_string();
        }
    }
}

impl TermLike for LogLines {
    fn width(&self) -> u16 {
        120
    }
    fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.set(s);
        Ok(())
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.set(s);
        Ok(())
    }
    fn clear_line(&self) -> std::io::Result<()> {
        Ok(())
    }
    fn flush(&self) -> std::io::Result<()> {
        let mut st = self.state.lock().expect("progress lock");
        // The first draw (0/N) says the stage started; later ones wait their turn.
        let due = st.last.is_none_or(|t| t.elapsed() >= self.interval);
        if due && !st.current.is_empty() && st.current != st.printed {
            let mut err = std::io::stderr().lock();
            writeln!(err, "{}", st.current)?;
            st.printed = st.current.clone();
            st.last = Some(Instant::now());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_at_their_size() {
        assert_eq!(rate_text(181.2225), "181/s");
        assert_eq!(rate_text(42.04), "42.0/s");
        assert_eq!(rate_text(3.1372), "3.14/s");
        assert_eq!(rate_text(0.107), "9.3s each");
        assert_eq!(rate_text(0.0), "-/s");
        assert_eq!(rate_text(f64::INFINITY), "-/s");
    }

    #[test]
    fn log_lines_print_at_most_once_per_interval() {
        let t = LogLines::new(3600.0);
        t.write_line("a: 0/10").unwrap();
        t.flush().unwrap();
        assert_eq!(t.state.lock().unwrap().printed, "a: 0/10");
        t.write_line("a: 5/10").unwrap();
        t.flush().unwrap();
        assert_eq!(t.state.lock().unwrap().printed, "a: 0/10", "not due yet");
        let t = LogLines::new(0.0);
        t.write_line("a: 1/10").unwrap();
        t.flush().unwrap();
        t.write_str("a: 2/10").unwrap();
        t.flush().unwrap();
        assert_eq!(t.state.lock().unwrap().printed, "a: 2/10");
    }
}
