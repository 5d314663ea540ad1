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

/// Whether commands draw progress bars: not under the global `-q`, which
/// `main` hands to `ouro_pipeline::status` (one switch for status lines and
/// bars; a per-command `--quiet` would shadow the global flag).
pub fn progress_bars() -> bool {
    !ouro_pipeline::status::quiet()
}

/// A count that must be positive (`--count`, `-n`): an empty result is
/// never what was meant, so it is a usage error rather than an empty shard.
pub fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}
