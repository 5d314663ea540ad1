//! The pool of slots and the per-sample path: request, verdict, record.

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use ouro_data::{Execution, Problem, Sample, Suite};

use crate::cgroup::{self, CgroupSupport};
use crate::isolate::{CompileCache, Compiled};
use crate::slot::{resolve_python, Slot, SlotSpec};
use crate::{ExecError, ExecOptions};
pub use job::not_run;
use job::{compile_job, run_job};

mod job;

/// One unit of work: a sample against one suite of its problem.
#[derive(Debug, Clone)]
pub struct Job {
    pub problem: Arc<Problem>,
    pub sample: Arc<Sample>,
    pub suite: Suite,
}

enum WorkItem {
    Sample {
        job: Job,
        seq: usize,
        reply: mpsc::Sender<(usize, Execution)>,
    },
    /// Compile a problem's tests (the spy pass) without running any sample.
    Compile {
        problem: Arc<Problem>,
        suite: Suite,
        seq: usize,
        reply: mpsc::Sender<(usize, Option<Arc<Compiled>>)>,
    },
}

/// A running pool of W slots, each a sandbox with a warm fork server,
/// served by its own thread. Dropping the executor stops every slot.
pub struct Executor {
    tx: Option<mpsc::Sender<WorkItem>>,
    workers: Vec<JoinHandle<()>>,
    /// Isolation each slot achieved (updated when a slot restarts), compiled tests.
    shared: Arc<Shared>,
    warnings: Vec<String>,
    uids: std::ops::Range<u32>,
    /// Held while the executor lives, so no other executor on the host runs as `uids`.
    _uid_block: crate::uids::UidBlock,
    scratch: PathBuf,
}

/// A worker's spy slot: a separate fork server that runs only trusted spy
/// passes, so that test scripts (and their expected values) never enter the
/// memory of a server whose children run sample code.
struct Spy {
    slot: Option<Slot>,
    spec: SlotSpec,
}

/// What a worker thread shares with the others.
struct Shared {
    cgroups: Option<CgroupSupport>,
    isolation: Mutex<Vec<String>>,
    compiled: CompileCache,
}

impl Executor {
    /// Probes the machine, starts `opts.workers` slots and waits until each
    /// one is serving. Missing isolation primitives are reported as warnings
    /// (printed once to stderr), never silently, and are an error when
    /// `opts.require_isolation` names them. A slot replaced later (recycled, or
    /// after a sandbox failure) is not checked again.
    pub fn new(opts: &ExecOptions) -> Result<Executor, ExecError> {
        check_limits(opts)?;
        let workers = opts.slots();
        let python = resolve_python(&opts.python).map_err(ExecError::Sandbox)?;
        let mut warnings = Vec::new();
        let linecount = if opts.count_lines && opts.native_line_counter {
            match crate::native::line_counter(&python) {
                Ok(path) => Some(path),
                Err(e) => {
                    warnings.push(format!(
                        "C line counter unavailable ({e}): lines_executed is counted in Python \
                         (same counts, slower tests)"
                    ));
                    None
                }
            }
        } else {
            None
        };
        let cgroups = match cgroup::probe() {
            Ok(c) => {
                c.remove_stale();
                Some(c)
            }
            Err(e) => {
                warnings.push(format!(
                    "cgroups unavailable ({e}): no memory/pids limit per slot"
                ));
                None
            }
        };
        let shared = Arc::new(Shared {
            cgroups,
            isolation: Mutex::new(vec![String::new(); workers]),
            compiled: CompileCache::default(),
        });
        let scratch_root = opts.scratch_dir.clone().unwrap_or_else(std::env::temp_dir);
        remove_stale_scratch(&scratch_root);
        let scratch = scratch_root.join(format!("ouro-exec-{}-{}", std::process::id(), {
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        }));
        std::fs::create_dir_all(&scratch).map_err(|e| ExecError::io(&scratch, e))?;
        let uid_block =
            crate::uids::claim(opts.uid_base, 2 * workers as u32).map_err(ExecError::Sandbox)?;
        let uid_base = uid_block.base;
        let (tx, rx) = mpsc::channel::<WorkItem>();
        let rx = Arc::new(Mutex::new(rx));
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(usize, Vec<String>), String>>();
        let mut handles = Vec::new();
        for index in 0..workers {
            let spec = SlotSpec {
                index,
                python: python.clone(),
                workdir: scratch.join(format!("slot-{index}")),
                tmpfs_mb: opts.tmpfs_mb,
                slot_memory_mb: opts.limits.memory_mb + opts.tmpfs_mb + 256,
                max_pids: opts.max_pids,
                uid: uid_base + index as u32,
                linecount: linecount.clone(),
                count_lines: opts.count_lines,
            };
            let rx = Arc::clone(&rx);
            let shared = Arc::clone(&shared);
            // Spy slots run trusted code only; their uids follow the sample slots'.
            let spy_uid = uid_base + (workers + index) as u32;
            let ready = ready_tx.clone();
            let opts = opts.clone();
            // Slots are started inside their worker thread: the harness asks for
            // SIGKILL when the thread that spawned it goes away.
            handles.push(std::thread::spawn(move || {
                let mut slot = match Slot::start(spec.clone(), shared.cgroups.as_ref()) {
                    Ok(s) => {
                        shared.isolation.lock().expect("isolation lock")[index] =
                            s.isolation.clone();
                        let _ = ready.send(Ok((index, s.warnings.clone())));
                        Some(s)
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e.to_string()));
                        return;
                    }
                };
                drop(ready);
                let mut spy = Spy {
                    slot: None,
                    spec: SlotSpec {
                        workdir: spec.workdir.with_file_name(format!("spy-{index}")),
                        uid: spy_uid,
                        ..spec.clone()
                    },
                };
                loop {
                    let item = {
                        let guard = rx.lock().expect("queue lock");
                        guard.recv()
                    };
                    let Ok(item) = item else { break };
                    match item {
                        WorkItem::Sample { job, seq, reply } => {
                            let rec = run_job(&mut slot, &mut spy, &spec, &shared, &opts, &job);
                            let _ = reply.send((seq, rec));
                        }
                        WorkItem::Compile {
                            problem,
                            suite,
                            seq,
                            reply,
                        } => {
                            let c = compile_job(&mut spy, &shared, &opts, &problem, suite);
                            let _ = reply.send((seq, c));
                        }
                    }
                }
            }));
        }
        drop(ready_tx);
        let mut errors = Vec::new();
        let mut slot_warnings: Vec<String> = Vec::new();
        for r in ready_rx.iter() {
            match r {
                Ok((_, w)) => {
                    for w in w {
                        if !slot_warnings.contains(&w) {
                            slot_warnings.push(w);
                        }
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        warnings.extend(slot_warnings);
        let exec = Executor {
            tx: Some(tx),
            workers: handles,
            shared,
            warnings,
            uids: uid_base..uid_base + workers as u32,
            _uid_block: uid_block,
            scratch,
        };
        if !errors.is_empty() {
            return Err(ExecError::Sandbox(errors.join("; ")));
        }
        let missing = exec.missing_isolation(&opts.require_isolation);
        if !missing.is_empty() {
            // Dropping `exec` stops the slots before anything ran in them.
            return Err(ExecError::Sandbox(format!(
                "this machine's sandbox lacks required isolation: {} (nothing was executed). \
                 What the slots reported: {}",
                missing.join(", "),
                if exec.warnings.is_empty() {
                    "no warnings".to_string()
                } else {
                    exec.warnings.join("; ")
                }
            )));
        }
        // Once per process: a pipeline starts an executor for every execute stage. Logged,
        // not printed: a library's caller owns stderr (`Executor::warnings` has them all).
        static SAID: Mutex<Vec<String>> = Mutex::new(Vec::new());
        let mut said = SAID.lock().expect("warnings lock");
        for w in &exec.warnings {
            if !said.contains(w) {
                tracing::warn!("ouro-exec: {w}");
                said.push(w.clone());
            }
        }
        drop(said);
        Ok(exec)
    }

    /// Warnings about isolation primitives that could not be used.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The primitives of `required` that some slot lacks.
    pub fn missing_isolation<'r, S: AsRef<str>>(&self, required: &'r [S]) -> Vec<&'r str> {
        let mut missing: Vec<&str> = Vec::new();
        for achieved in self.isolation() {
            for m in crate::slot::missing_isolation(required, &achieved) {
                if !missing.contains(&m) {
                    missing.push(m);
                }
            }
        }
        missing
    }

    /// The isolation level of each slot, e.g. `cgroup+ipcns+landlock7+...`.
    pub fn isolation(&self) -> Vec<String> {
        self.shared
            .isolation
            .lock()
            .expect("isolation lock")
            .clone()
    }

    /// The uids untrusted code runs as (one per slot) when ouro runs as root; a
    /// process with one of these uids outside a running sample is a leak. Without
    /// root, samples keep the caller's uid inside their slot's user namespace.
    pub fn sandbox_uids(&self) -> std::ops::Range<u32> {
        self.uids.clone()
    }

    /// Runs the jobs on all slots; `on_result` sees each execution as soon as
    /// it is judged (in completion order). Returns when all are done.
    pub fn run_all(&self, jobs: Vec<Job>, mut on_result: impl FnMut(Execution)) {
        let (reply, results) = mpsc::channel();
        let n = jobs.len();
        let tx = self.tx.as_ref().expect("executor running");
        for (seq, job) in jobs.into_iter().enumerate() {
            tx.send(WorkItem::Sample {
                job,
                seq,
                reply: reply.clone(),
            })
            .expect("workers alive");
        }
        drop(reply);
        for (_, rec) in results.iter().take(n) {
            on_result(rec);
        }
    }

    /// Runs the jobs and returns their executions in job order.
    pub fn run_batch(&self, jobs: Vec<Job>) -> Vec<Execution> {
        let n = jobs.len();
        let (reply, results) = mpsc::channel();
        let tx = self.tx.as_ref().expect("executor running");
        for (seq, job) in jobs.into_iter().enumerate() {
            tx.send(WorkItem::Sample {
                job,
                seq,
                reply: reply.clone(),
            })
            .expect("workers alive");
        }
        drop(reply);
        let mut out: Vec<Option<Execution>> = vec![None; n];
        for (seq, rec) in results.iter().take(n) {
            out[seq] = Some(rec);
        }
        out.into_iter()
            .map(|r| r.expect("every job answered"))
            .collect()
    }
}

impl Executor {
    /// Compiles each problem's tests of `suite` for isolated judging (the
    /// spy pass runs in the slots), in input order; `None` for problems
    /// without an assert script in that suite.
    pub fn compile_tests(
        &self,
        problems: Vec<Arc<Problem>>,
        suite: Suite,
    ) -> Vec<Option<Arc<Compiled>>> {
        let n = problems.len();
        let (reply, results) = mpsc::channel();
        let tx = self.tx.as_ref().expect("executor running");
        for (seq, problem) in problems.into_iter().enumerate() {
            tx.send(WorkItem::Compile {
                problem,
                suite,
                seq,
                reply: reply.clone(),
            })
            .expect("workers alive");
        }
        drop(reply);
        let mut out: Vec<Option<Arc<Compiled>>> = vec![None; n];
        for (seq, c) in results.iter().take(n) {
            out[seq] = c;
        }
        out
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        drop(self.tx.take());
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

/// Removes working directories of executors that were killed (their slots'
/// tmpfs mounts lived in the slots' own mount namespaces and are gone).
fn remove_stale_scratch(root: &std::path::Path) {
    let Ok(rd) = std::fs::read_dir(root) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(pid) = name
            .strip_prefix("ouro-exec-")
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Limits past what rlimits and cgroups take: a CPU limit the kernel overflows
/// ends a loop with SIGXCPU (not a timeout), and an address space past its
/// range fails every sample's setup. A day and a TiB are far beyond any test.
fn check_limits(opts: &ExecOptions) -> Result<(), ExecError> {
    const DAY_MS: u64 = 24 * 3600 * 1000;
    const TIB_MB: u64 = 1 << 20;
    let l = &opts.limits;
    for (name, value, max, unit) in [
        ("cpu_ms", l.cpu_ms, DAY_MS, "ms (a day)"),
        ("wall_ms", l.wall_ms, DAY_MS, "ms (a day)"),
        ("memory_mb", l.memory_mb, TIB_MB, "MiB (1 TiB)"),
        ("tmpfs_mb", opts.tmpfs_mb, TIB_MB, "MiB (1 TiB)"),
        (
            "output_bytes",
            l.output_bytes,
            TIB_MB << 20,
            "bytes (1 TiB)",
        ),
    ] {
        if value > max {
            return Err(ExecError::Invalid(format!(
                "limit {name} = {value} is past the largest the sandbox takes, {max} {unit}"
            )));
        }
    }
    Ok(())
}
