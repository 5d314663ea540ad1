//! One module per command: clap arguments and a call into a library.

/// A human line on stderr (a command's summary), silenced by the global `-q` like every
/// status line: under `-q` stderr carries errors (and warnings) only. Results a script
/// reads go to stdout and stay.
macro_rules! say {
    ($($t:tt)*) => {
        ouro_pipeline::status::say(format_args!($($t)*))
    };
}

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

/// Version of the objects `--json` prints. Scripts check it; it changes only
/// when a field is renamed or removed (new fields do not change it).
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// `--json`: one object on stdout, with `schema_version` and `command` first.
pub fn print_json(command: &str, body: serde_json::Value) {
    let mut out = serde_json::Map::new();
    out.insert("schema_version".into(), JSON_SCHEMA_VERSION.into());
    out.insert("command".into(), command.into());
    if let serde_json::Value::Object(fields) = body {
        out.extend(fields);
    }
    println!("{}", serde_json::Value::Object(out));
}

/// Whether commands draw progress bars: not under the global `-q`, which
/// `main` hands to `ouro_pipeline::status` (one switch for status lines and
/// bars; a per-command `--quiet` would shadow the global flag).
/// The benchmarks LintSeq and FAIT rows must not hold, named as `ouro build` names them.
#[derive(clap::Args, Debug)]
pub struct Benchmarks {
    /// Benchmark problems whose docstrings and solutions no row may hold (problem
    /// shards; repeatable).
    #[arg(long = "benchmark", value_name = "PATH")]
    pub benchmarks: Vec<std::path::PathBuf>,
    /// Built-in benchmarks no row may hold, comma-separated, or `none`.
    #[arg(long, default_value = "humaneval")]
    pub builtin_benchmarks: String,
}

impl Benchmarks {
    pub fn exclusion(&self) -> anyhow::Result<Option<ouro_edits::Exclude>> {
        let o = ouro_rank::decontam::DecontamOptions {
            builtin: builtin_benchmarks(&self.builtin_benchmarks),
            ..Default::default()
        };
        o.check()
            .map_err(|e| anyhow::anyhow!("--builtin-benchmarks: {e}"))?;
        ouro_pipeline::benchmark_exclusion(&self.benchmarks, &o)
    }
}

/// A `--builtin-benchmarks` list: comma-separated names, or `none`.
pub fn builtin_benchmarks(list: &str) -> Vec<String> {
    match list.trim() {
        "none" | "" => Vec::new(),
        list => list.split(',').map(|b| b.trim().to_string()).collect(),
    }
}

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

/// An output directory (`--out`): one that exists as a file would fail later
/// with the system's "File exists", so it is a usage error naming the flag.
pub fn out_dir(text: &str) -> Result<std::path::PathBuf, String> {
    let path = std::path::PathBuf::from(text);
    if path.exists() && !path.is_dir() {
        return Err(format!("{text} exists and is not a directory"));
    }
    Ok(path)
}

/// [`at_least_one`] for limits held as u64 (milliseconds, bytes, MiB).
pub fn at_least_one_u64(text: &str) -> Result<u64, String> {
    at_least_one(text).map(|n| n as u64)
}

/// A finite number >= 0 (temperatures, margins, min_p).
pub fn non_negative(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        Ok(_) => Err("must be a finite number >= 0".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// A training weight: finite and >= 0 (a negative one would push those tokens down).
pub fn weight(text: &str) -> Result<f32, String> {
    non_negative(text).map(|v| v as f32)
}

/// A stop sequence: an empty one matches at offset 0 and would empty every completion
/// (as an unset `--stop "$STOP"` gives).
/// A `--stop` sequence, with `\n`, `\t` and `\\` read as a newline, a tab and a
/// backslash (a shell passes them as two characters), the same for every command.
pub fn stop_sequence(text: &str) -> Result<String, String> {
    if text.is_empty() {
        Err("must not be empty (it would stop every completion before its first token)".into())
    } else {
        Ok(unescape(text))
    }
}

/// `\n`, `\t` and `\\` in a stop sequence given on the command line.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// A share or similarity in [0, 1].
pub fn unit_interval(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        Ok(_) => Err("must be in [0, 1]".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// A count with an upper bound (`-k` sequences per program): past it, a typo would
/// allocate or loop for ever.
pub fn count_up_to(max: usize) -> impl Fn(&str) -> Result<usize, String> + Clone {
    move |text| match at_least_one(text)? {
        n if n > max => Err(format!("must be at most {max}")),
        n => Ok(n),
    }
}

/// A share in (0, 1]: a probability mass to keep (top_p, 1 keeping every token), or a
/// largest distance that some pair can be within.
pub fn positive_share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 1.0 => Ok(v),
        Ok(_) => Err("must be in (0, 1]".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod parser_tests {
    #[test]
    fn stop_sequences_read_escapes_alike_for_every_command() {
        assert_eq!(super::stop_sequence("\\ndef ").unwrap(), "\ndef ");
        assert_eq!(super::stop_sequence("a\\tb\\\\n").unwrap(), "a\tb\\n");
        assert!(super::stop_sequence("").is_err());
    }
}
