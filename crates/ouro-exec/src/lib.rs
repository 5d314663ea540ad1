//! ouro's sandboxed executor.
//!
//! Runs untrusted Python samples against their problem's tests and records
//! one [`ouro_data::Execution`] per (sample, suite). Only this crate runs
//! untrusted code.
//!
//! - **Slots** ([`slot`]): W sandboxes, each built once: pid/net/mount/ipc/uts
//!   namespaces (plus a user namespace when not root), a private `/proc`, a
//!   private tmpfs working directory and `/dev/shm` (multiprocessing's
//!   semaphores), a non-root uid per slot, Landlock (read-write only in the
//!   working directory and that `/dev/shm`, no TCP), a seccomp deny-list,
//!   and a cgroup (v2 or v1) for memory and pids. Missing primitives are
//!   warned about and the level achieved is recorded in every execution.
//! - **Fork server** (`harness.py`): a warm `python3 -s -S -P` per slot with
//!   common stdlib modules preimported forks one child per sample (per case
//!   for stdin/stdout tests) with rlimits, an address-space budget above the
//!   current size, a re-seeded `random`, a fresh directory and capped
//!   output; after each child every leftover process is killed and reaped.
//! - **Line counter** ([`native`]): `lines_executed` is counted by a C trace
//!   function built once per interpreter with the system compiler, or by an
//!   equivalent Python tracer when none can be built.
//! - **Verdicts** ([`verdict`]) are decided in this (trusted) process: a pass
//!   needs every test reported passed and a completion marker after them, on
//!   a result channel whose lines carry a per-sample nonce. Stdout is
//!   compared here ([`compare`]), never with the program's objects.
//! - **Isolated judging** ([`isolate`], [`verdict_isolated`], [`ouro_python::value`]):
//!   assert tests are compiled once per problem by a trusted spy pass; the
//!   sample's child receives only the inputs and returns plain data, and the
//!   expected values never leave this process. Tests that cannot be compiled
//!   run in process; [`ouro_data::Execution::judge`] records which.
//! - **Durability** ([`journal`]): verdicts are appended as they finish; a
//!   resumed run skips finished keys; the end result is `part-*.parquet`.

pub mod cgroup;
pub mod compare;
pub mod executor;
pub mod isolate;
pub mod journal;
pub mod native;
pub mod official;
pub mod protocol;
mod run;
pub mod slot;
mod uids;
pub mod verdict;
pub mod verdict_isolated;

use std::path::{Path, PathBuf};

pub use executor::{Executor, Job};
pub use ouro_data::{Execution, Limits, Suite, Verdict};
pub use run::{compile_report, execute, CompileReport, ExecStats};

/// Errors of the executor. Bad samples never cause one: they get a verdict.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Data(#[from] ouro_data::DataError),
    /// The sandbox could not be built at all (e.g. no Python interpreter).
    #[error("sandbox: {0}")]
    Sandbox(String),
    #[error("{0}")]
    Invalid(String),
}

impl ExecError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        ExecError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Options of a run.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// Number of slots; 0 means one per available core.
    pub workers: usize,
    /// Limits of every sample (part of the execution key).
    pub limits: Limits,
    /// Suites to run; `Audit` runs only for problems that have audit tests.
    pub suites: Vec<Suite>,
    /// A slot's fork server is replaced after this many samples.
    pub recycle_every: u64,
    /// Python interpreter (resolved to its real executable at startup).
    pub python: PathBuf,
    /// Size of each slot's tmpfs working directory.
    pub tmpfs_mb: u64,
    /// Process limit of a slot (cgroup pids.max and RLIMIT_NPROC).
    pub max_pids: u64,
    /// How often a sample is retried when the sandbox (not the sample) fails.
    pub sandbox_retries: u32,
    /// Where the uids of untrusted code start; the executor claims the first block of
    /// 256 from here that no other executor on the host holds (see `uids`). Slot i
    /// uses `block + i`, and its spy slot, which runs only trusted test scripts,
    /// `block + workers + i`.
    pub uid_base: u32,
    /// Where the slots' working directories are mounted (default: the system temp dir).
    pub scratch_dir: Option<PathBuf>,
    /// Show a progress bar with the live pass rate.
    pub progress: bool,
    /// How assert tests are judged.
    pub judge: JudgeMode,
    /// Count `lines_executed` with the C tracer ([`native`]) when it can be
    /// built; `false` keeps the Python tracer (the same counts, slower).
    pub native_line_counter: bool,
    /// Count `lines_executed` at all. Tracing makes loop-heavy tests 2-4x
    /// slower under CPython 3.11 (every instruction leaves the specialised
    /// path), and only efficiency pairs measured in lines read the count:
    /// a run that needs verdicts alone (pass@k, SFT filtering) skips it.
    /// Part of the executor version, so counted and uncounted executions
    /// never stand in for each other on resume.
    pub count_lines: bool,
    /// Take an assert script's spy records from its source when it calls
    /// the function on literals only ([`ouro_python::testcompile`]'s
    /// `literal_spy`) instead of running the spy pass; `false` always runs it.
    pub literal_tests: bool,
    /// Sandbox primitives (names of [`slot::FULL_ISOLATION`]) without which the executor
    /// refuses to start: on a machine that cannot give one, a run fails before executing
    /// anything instead of warning and running with less. Empty: warn only.
    pub require_isolation: Vec<String>,
}

/// How assert tests are judged (stdin/stdout tests are always compared here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JudgeMode {
    /// In isolation where the tests compile, in process for the rest
    /// (recorded per execution as `isolated`, `mixed` or `in_process`).
    #[default]
    Auto,
    /// Every test inside the sample's interpreter (the pre-isolation harness).
    InProcess,
}

impl ExecOptions {
    /// The sandbox slots `workers` asks for: one per core when 0.
    pub fn slots(&self) -> usize {
        if self.workers == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        } else {
            self.workers
        }
    }
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            workers: 0,
            limits: Limits::default(),
            suites: vec![Suite::Filter],
            recycle_every: 1000,
            python: PathBuf::from("python3"),
            tmpfs_mb: 64,
            max_pids: 64,
            sandbox_retries: 2,
            uid_base: 61000,
            scratch_dir: None,
            progress: false,
            judge: JudgeMode::Auto,
            native_line_counter: true,
            count_lines: true,
            literal_tests: true,
            require_isolation: Vec::new(),
        }
    }
}

/// The executor version a run records: in-process judging is a different
/// executor for the journal (its verdicts can differ), and so is a run
/// without line counts (its executions lack a column the others have).
pub fn executor_version_for(opts: &ExecOptions) -> String {
    let mut v = executor_version();
    if opts.judge == JudgeMode::InProcess {
        v.push_str("+inprocess");
    }
    if !opts.count_lines {
        v.push_str("+nolines");
    }
    v
}

/// The executor version recorded in every execution and its key: the crate
/// version plus a hash of the harness, so a changed harness re-runs samples.
pub fn executor_version() -> String {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION
        .get_or_init(|| {
            let mut h = blake3::Hasher::new();
            h.update(slot::HARNESS.as_bytes());
            h.update(native::LINECOUNT_C.as_bytes());
            for (_, header) in official::HEADERS {
                h.update(header.as_bytes());
            }
            let h = h.finalize().to_hex();
            format!("ouro-exec/{}+{}", env!("CARGO_PKG_VERSION"), &h[..8])
        })
        .clone()
}
