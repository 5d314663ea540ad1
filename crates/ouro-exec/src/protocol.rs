//! Frames exchanged with the slot harness (`harness.py`).
//!
//! A frame is a 4-byte little-endian length followed by UTF-8 JSON. The
//! harness reports facts (exit status, resource use, the raw result channel,
//! captured stdout); the verdict is decided in Rust from these facts.

use serde::{Deserialize, Serialize};

/// Limits as the harness reads them.
#[derive(Debug, Clone, Serialize)]
pub struct WireLimits {
    pub cpu_ms: u64,
    pub wall_ms: u64,
    pub memory_mb: u64,
    pub output_bytes: u64,
}

/// One sample to run.
#[derive(Debug, Clone, Serialize)]
pub struct Request {
    /// `assert`, `io`, or `spy` (the trusted spy pass of a test script).
    pub kind: &'static str,
    pub code: String,
    /// Assert script (assert kind only).
    pub script: String,
    pub entry_point: String,
    /// Stdin of each case (io kind only).
    pub cases: Vec<String>,
    /// Per-sample secret that prefixes every line of the result channel.
    pub nonce: String,
    pub seed: u64,
    pub limits: WireLimits,
    /// Isolated judging: inputs of each call of the function under test, a
    /// JSON array of `{"a": args, "k": kwargs, "w": wrappers}` (plain-data
    /// wire form) sent as one string: the fork server decodes each distinct
    /// string once and its children inherit the values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calls: Option<String>,
    /// With `calls`: also run the script in process, skipping these tests
    /// (they are judged from the calls).
    pub run_script: bool,
    pub skip: Vec<usize>,
    /// Number of tests, for requests whose script is withheld (isolated).
    pub ntests: usize,
    /// Spy pass (`spy` kind): per step `{"mode": "run"|"spy"|"skip", "src"}`,
    /// the number of values each atom reports, the names of the function
    /// under test, and the prompt (trusted helpers the tests may call).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spy_steps: Option<Vec<serde_json::Value>>,
    pub spy_nvals: Vec<usize>,
    pub spy_names: Vec<String>,
    pub prelude: String,
    /// Statements run in the program's globals before the program itself,
    /// one by one, an import that fails skipped: the names an official
    /// harness defines for every program of its problem set.
    pub header: &'static str,
}

/// What happened to one child process.
#[derive(Debug, Clone, Deserialize)]
pub struct Run {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// `cpu`, `wall`, `output` or `result` (returned values past the result
    /// channel's 64 MiB) when the harness killed the child.
    pub killed: Option<String>,
    pub cpu_ms: f64,
    pub wall_ms: f64,
    pub max_rss_kb: u64,
    /// Raw result channel; only lines starting with the nonce count.
    pub result: String,
    pub stdout: String,
    pub stderr_tail: String,
    pub leftovers: u32,
}

/// The harness's answer to one [`Request`].
#[derive(Debug, Clone, Deserialize)]
pub struct Response {
    pub runs: Vec<Run>,
    /// Number of tests in the assert script, counted before any untrusted code ran.
    pub ntests: Option<usize>,
    /// Set when the test script itself does not compile.
    pub test_error: Option<String>,
}

/// The first frame of a slot.
#[derive(Debug, Clone, Deserialize)]
pub struct Hello {
    pub isolation: Vec<String>,
    pub warnings: Vec<String>,
    pub python: String,
    /// Why the slot will not run samples at all (it exits after saying so).
    #[serde(default)]
    pub refused: Option<String>,
}
