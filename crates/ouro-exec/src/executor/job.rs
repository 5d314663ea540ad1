//! One work item on a slot: the spy pass that compiles a problem's tests (once per problem
//! and suite, in the worker's spy slot), then the sample's run and its verdict.

use std::sync::{Arc, Mutex};

use ouro_data::{derive_seed, Execution, Judge, Limits, Problem, Suite, Tests, Verdict};

use super::{Job, Shared, Spy};
use crate::isolate::{self, CompileCache, Compiled};
use crate::protocol::{Request, WireLimits};
use crate::slot::{Slot, SlotSpec};
use crate::verdict::{judge_assert, judge_io, timed_out_at_memory_wall, Judged};
use crate::verdict_isolated::judge_isolated;
use crate::{executor_version_for, ExecOptions, JudgeMode};

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
        tests_digest: job.problem.tests_digest(job.suite),
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
        let mut s =
            Slot::start(spec.clone(), shared.cgroups.as_ref()).map_err(|e| e.to_string())?;
        // A replacement holds to the requirement the first slots were checked against.
        let missing = crate::slot::missing_isolation(&opts.require_isolation, &s.isolation);
        if !missing.is_empty() {
            s.kill();
            return Err(format!(
                "a restarted slot lacks required isolation: {}",
                missing.join(", ")
            ));
        }
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
    compiled.imports = ouro_python::testcompile::module_imports(script);
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

pub(super) fn compile_job(
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

pub(super) fn run_job(
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
        header: crate::official::header(&job.problem.source),
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
            req.prelude = c.imports.clone();
            // Isolated tests' expected values never reach this slot.
            req.script = if mixed {
                c.sandbox_script.clone()
            } else {
                String::new()
            };
        }
        let (oom_before, limit_hits_before) = (s.oom_kills(), s.memory_limit_hits());
        match s.run(&req) {
            Ok(resp) => {
                // A child killed for time after its slot hit the memory limit was stuck in
                // reclaim at that limit (no swap): its memory, not its loop, stopped it. The
                // kernel's OOM kill itself can also come too late, after the CPU budget.
                let timed_out = resp
                    .runs
                    .iter()
                    .any(|r| matches!(r.killed.as_deref(), Some("cpu" | "wall")));
                let oom = s.oom_kills() > oom_before
                    || (timed_out && s.memory_limit_hits() > limit_hits_before)
                    || timed_out_at_memory_wall(&resp.runs, opts.limits.memory_mb);
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
                    tests_digest: job.problem.tests_digest(job.suite),
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

fn slot_isolation(isolation: &Mutex<Vec<String>>, index: usize) -> String {
    isolation.lock().expect("isolation lock")[index].clone()
}
