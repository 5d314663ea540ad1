//! The pool of slots and the per-sample path: request, verdict, record.

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use ouro_data::{derive_seed, Execution, Judge, Limits, Problem, Sample, Suite, Tests, Verdict};

use crate::cgroup::{self, CgroupSupport};
use crate::isolate::{self, CompileCache, Compiled};
use crate::protocol::{Request, WireLimits};
use crate::slot::{resolve_python, Slot, SlotSpec};
use crate::verdict::{judge_assert, judge_io, Judged};
use crate::verdict_isolated::judge_isolated;
use crate::{executor_version_for, ExecError, ExecOptions, JudgeMode};

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
    /// (printed once to stderr), never silently.
    pub fn new(opts: &ExecOptions) -> Result<Executor, ExecError> {
        let workers = if opts.workers == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        } else {
            opts.workers
        };
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
        let uid_base = opts.uid_base;
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
            scratch,
        };
        if !errors.is_empty() {
            return Err(ExecError::Sandbox(errors.join("; ")));
        }
        for w in &exec.warnings {
            tracing::warn!("ouro-exec: {w}");
            eprintln!("warning: ouro-exec: {w}");
        }
        Ok(exec)
    }

    /// Warnings about isolation primitives that could not be used.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The isolation level of each slot, e.g. `cgroup+ipcns+landlock7+...`.
    pub fn isolation(&self) -> Vec<String> {
        self.shared
            .isolation
            .lock()
            .expect("isolation lock")
            .clone()
    }

    /// The uids untrusted code runs as (one per slot); a process with one of
    /// these uids outside a running sample is a leak.
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

/// The record of a sample that is never run (no code was extracted).
pub fn not_run(job: &Job, opts: &ExecOptions, error_kind: &str, isolation: &str) -> Execution {
    Execution {
        sample_id: job.sample.sample_id.clone(),
        problem_id: job.problem.problem_id.clone(),
        suite: job.suite,
        verdict: Verdict::Error,
        tests_passed: vec![],
        error_kind: Some(error_kind.to_string()),
        stderr_tail: String::new(),
        cpu_ms: 0.0,
        wall_ms: 0.0,
        max_rss_kb: 0,
        lines_executed: None,
        executor_version: executor_version_for(opts),
        limits: opts.limits.clone(),
        isolation: isolation.to_string(),
        judge: Judge::InProcess,
    }
}

fn tests_of(problem: &Problem, suite: Suite) -> Option<&Tests> {
    match suite {
        Suite::Filter => Some(&problem.tests),
        Suite::Audit => problem.audit_tests.as_ref(),
    }
}

/// Makes sure the slot is running; `Err` is the reason it cannot be.
fn ensure_slot(
    slot: &mut Option<Slot>,
    spec: &SlotSpec,
    shared: &Shared,
    opts: &ExecOptions,
) -> Result<(), String> {
    let fresh = slot.is_none();
    ensure_running(slot, spec, shared, opts)?;
    if fresh {
        if let Some(s) = slot.as_ref() {
            shared.isolation.lock().expect("isolation lock")[spec.index] = s.isolation.clone();
        }
    }
    Ok(())
}

fn ensure_running(
    slot: &mut Option<Slot>,
    spec: &SlotSpec,
    shared: &Shared,
    opts: &ExecOptions,
) -> Result<(), String> {
    if slot
        .as_ref()
        .is_some_and(|s| s.served >= opts.recycle_every)
    {
        *slot = None;
    }
    if slot.is_none() {
        let s = Slot::start(spec.clone(), shared.cgroups.as_ref()).map_err(|e| e.to_string())?;
        *slot = Some(s);
    }
    Ok(())
}

/// The compiled tests of a script, from the cache or by a spy pass on the
/// worker's spy slot.
fn compiled_for(
    spy: &mut Spy,
    shared: &Shared,
    opts: &ExecOptions,
    problem: &Problem,
    script: &str,
) -> Result<Arc<Compiled>, String> {
    let key = CompileCache::key(problem, script);
    if let Some(c) = shared.compiled.get(&key) {
        return Ok(c);
    }
    let plan = isolate::plan(script, &problem.entry_point);
    let literal = opts
        .literal_tests
        .then(|| isolate::from_literal(&plan))
        .flatten();
    let mut compiled = match literal {
        Some(c) => c,
        None => spy_pass(spy, shared, opts, problem, script, &plan)?,
    };
    compiled.sandbox_script = plan.redact(script, &compiled.skip());
    Ok(shared.compiled.insert(key, compiled))
}

/// Runs the spy pass for `plan` on the worker's spy slot (started on first use).
fn spy_pass(
    spy: &mut Spy,
    shared: &Shared,
    opts: &ExecOptions,
    problem: &Problem,
    script: &str,
    plan: &ouro_python::testcompile::TestPlan,
) -> Result<Compiled, String> {
    ensure_running(&mut spy.slot, &spy.spec, shared, opts)?;
    let slot = spy.slot.as_mut().expect("spy slot started");
    let nonce = format!("{:032x}", rand::random::<u128>());
    Ok(
        match isolate::spy_request(plan, problem, script, &nonce, wire(&opts.limits)) {
            None => isolate::from_spy(plan, None, &nonce),
            Some(req) => match slot.run(&req) {
                Ok(resp) => isolate::from_spy(plan, Some(&resp), &nonce),
                Err(e) => {
                    spy.slot = None;
                    return Err(e.to_string());
                }
            },
        },
    )
}

fn compile_job(
    spy: &mut Spy,
    shared: &Shared,
    opts: &ExecOptions,
    problem: &Problem,
    suite: Suite,
) -> Option<Arc<Compiled>> {
    let Some(Tests::AssertScript { script }) = tests_of(problem, suite) else {
        return None;
    };
    for _attempt in 0..=opts.sandbox_retries {
        if let Ok(c) = compiled_for(spy, shared, opts, problem, script) {
            return Some(c);
        }
    }
    let plan = isolate::plan(script, &problem.entry_point);
    Some(Arc::new(isolate::from_spy(&plan, None, "")))
}

fn wire(l: &Limits) -> WireLimits {
    WireLimits {
        cpu_ms: l.cpu_ms,
        wall_ms: l.wall_ms,
        memory_mb: l.memory_mb,
        output_bytes: l.output_bytes,
    }
}

fn run_job(
    slot: &mut Option<Slot>,
    spy: &mut Spy,
    spec: &SlotSpec,
    shared: &Shared,
    opts: &ExecOptions,
    job: &Job,
) -> Execution {
    let iso_now = || slot_isolation(&shared.isolation, spec.index);
    let Some(code) = job.sample.code.as_ref() else {
        return not_run(job, opts, "no_code", &iso_now());
    };
    let Some(tests) = tests_of(&job.problem, job.suite) else {
        let mut rec = not_run(job, opts, "no_tests", &iso_now());
        rec.verdict = Verdict::SandboxError;
        return rec;
    };
    let nonce = format!("{:032x}", rand::random::<u128>());
    let (kind, script, cases) = match tests {
        Tests::AssertScript { script } => ("assert", script.clone(), vec![]),
        Tests::IoCases { cases } => (
            "io",
            String::new(),
            cases.iter().map(|c| c.input.clone()).collect(),
        ),
    };
    let req = Request {
        kind,
        code: code.clone(),
        script,
        entry_point: job.problem.entry_point.clone(),
        cases,
        nonce: nonce.clone(),
        seed: derive_seed(&job.sample.sample_id, 0),
        limits: wire(&opts.limits),
        calls: None,
        run_script: true,
        skip: vec![],
        ntests: 0,
        spy_steps: None,
        spy_nvals: vec![],
        spy_names: vec![],
        prelude: String::new(),
    };
    let mut last_error = String::new();
    for _attempt in 0..=opts.sandbox_retries {
        if let Err(e) = ensure_slot(slot, spec, shared, opts) {
            last_error = e;
            continue;
        }
        let compiled = match (opts.judge, tests) {
            (JudgeMode::Auto, Tests::AssertScript { script }) => {
                match compiled_for(spy, shared, opts, &job.problem, script) {
                    Ok(c) => Some(c).filter(|c| c.judge() != Judge::InProcess),
                    Err(e) => {
                        last_error = e;
                        continue;
                    }
                }
            }
            _ => None,
        };
        let s = slot.as_mut().expect("slot started");
        let mut req = req.clone();
        if let Some(c) = &compiled {
            let mixed = c.judge() == Judge::Mixed;
            req.calls = Some(c.calls_wire());
            req.run_script = mixed;
            req.skip = c.skip();
            req.ntests = c.ntests;
            // Isolated tests' expected values never reach this slot.
            req.script = if mixed {
                c.sandbox_script.clone()
            } else {
                String::new()
            };
        }
        let oom_before = s.oom_kills();
        match s.run(&req) {
            Ok(resp) => {
                let oom = s.oom_kills() > oom_before;
                let judged: Judged = match (tests, &compiled) {
                    (Tests::AssertScript { .. }, Some(c)) => judge_isolated(&resp, &nonce, oom, c),
                    (Tests::AssertScript { .. }, None) => judge_assert(&resp, &nonce, oom),
                    (Tests::IoCases { cases }, _) => judge_io(&resp, cases, &nonce, oom),
                };
                if judged.verdict == Verdict::SandboxError
                    && judged.error_kind.as_deref() == Some("child_setup")
                {
                    last_error = "child setup failed".into();
                    *slot = None;
                    continue;
                }
                let runs = &resp.runs;
                return Execution {
                    sample_id: job.sample.sample_id.clone(),
                    problem_id: job.problem.problem_id.clone(),
                    suite: job.suite,
                    verdict: judged.verdict,
                    tests_passed: judged.tests_passed,
                    error_kind: judged.error_kind,
                    stderr_tail: runs
                        .last()
                        .map(|r| r.stderr_tail.clone())
                        .unwrap_or_default(),
                    cpu_ms: runs.iter().map(|r| r.cpu_ms).sum(),
                    wall_ms: runs.iter().map(|r| r.wall_ms).sum(),
                    max_rss_kb: runs.iter().map(|r| r.max_rss_kb).max().unwrap_or(0),
                    lines_executed: runs
                        .iter()
                        .map(|r| crate::verdict::lines_executed(r, &nonce))
                        .sum(),
                    executor_version: executor_version_for(opts),
                    limits: opts.limits.clone(),
                    isolation: s.isolation.clone(),
                    judge: compiled.as_ref().map_or(Judge::InProcess, |c| c.judge()),
                };
            }
            Err(e) => {
                last_error = e.to_string();
                *slot = None;
            }
        }
    }
    let mut rec = not_run(job, opts, "sandbox", &iso_now());
    rec.verdict = Verdict::SandboxError;
    rec.error_kind = Some(format!("sandbox:{last_error}"));
    rec
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

fn slot_isolation(isolation: &Mutex<Vec<String>>, index: usize) -> String {
    isolation.lock().expect("isolation lock")[index].clone()
}
