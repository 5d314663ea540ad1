//! Agreement with real Python: every reference solution passes its own
//! tests, every test argument is a plain literal, and the audit suites fail
//! the near-miss mutants they target. Needs only `python3` (stdlib).

use std::io::Write;
use std::process::{Command, Stdio};

use ouro_data::Tests;
use ouro_problems::{generate_detailed, Family, GenerateOptions, Generated};

/// Runs each job's program, then its `check(candidate)`; reports the jobs
/// whose outcome differs from `expect_pass`, or whose failure was not an
/// AssertionError (a mutant that does not even run proves nothing).
const DRIVER: &str = r#"
import ast, json, sys
sys.setrecursionlimit(10000)
bad = []
jobs = 0
for line in sys.stdin:
    job = json.loads(line)
    jobs += 1
    outcome, detail = "pass", ""
    try:
        ns = {}
        exec(compile(job["program"], "program", "exec"), ns)
        tns = {}
        exec(compile(job["tests"], "tests", "exec"), tns)
        tns["check"](ns[job["entry"]])
    except AssertionError:
        outcome = "assert"
    except BaseException as e:
        outcome, detail = "error", type(e).__name__ + ": " + str(e)[:200]
    want = "pass" if job["expect_pass"] else "assert"
    if outcome != want:
        bad.append({"id": job["id"], "what": job["what"], "outcome": outcome, "detail": detail})
    if job["check_literals"]:
        tree = ast.parse(job["tests"])
        check = tree.body[0]
        if len(tree.body) != 1 or not isinstance(check, ast.FunctionDef) or check.name != "check":
            bad.append({"id": job["id"], "what": "script shape", "outcome": "", "detail": ""})
            continue
        for stmt in check.body:
            ok = isinstance(stmt, ast.Assert) and isinstance(stmt.test, ast.Compare)
            if ok:
                call = stmt.test.left
                ok = isinstance(call, ast.Call) and getattr(call.func, "id", "") == "candidate"
            if ok:
                try:
                    for node in list(call.args) + list(stmt.test.comparators):
                        ast.literal_eval(node)
                except ValueError:
                    ok = False
            if not ok:
                bad.append({"id": job["id"], "what": "non-literal assert", "outcome": ast.unparse(stmt), "detail": ""})
print(json.dumps({"jobs": jobs, "bad": bad}))
"#;

struct Job<'a> {
    id: &'a str,
    what: String,
    program: &'a str,
    entry: &'a str,
    tests: &'a str,
    expect_pass: bool,
    check_literals: bool,
}

fn script(t: &Tests) -> &str {
    match t {
        Tests::AssertScript { script } => script,
        Tests::IoCases { .. } => panic!("bundled problems use assert scripts"),
    }
}

/// Runs the jobs under python3; returns (jobs run, failures as JSON).
fn run_python(jobs: &[Job]) -> (u64, Vec<serde_json::Value>) {
    let mut child = Command::new("python3")
        .args(["-I", "-c", DRIVER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 on PATH");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for j in jobs {
            let line = serde_json::json!({
                "id": j.id, "what": j.what, "program": j.program, "entry": j.entry,
                "tests": j.tests, "expect_pass": j.expect_pass, "check_literals": j.check_literals,
            });
            writeln!(stdin, "{line}").expect("write job");
        }
    }
    let out = child.wait_with_output().expect("python3 ran");
    assert!(
        out.status.success(),
        "driver failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("driver JSON");
    (
        v["jobs"].as_u64().unwrap(),
        v["bad"].as_array().unwrap().clone(),
    )
}

fn generated(count: usize, seed: u64) -> Vec<Generated> {
    generate_detailed(&GenerateOptions {
        count,
        seed,
        ..Default::default()
    })
    .expect("generate")
}

#[test]
fn every_reference_solution_passes_its_filter_and_audit_tests_under_python() {
    let gen = generated(2000, 0);
    for f in Family::ALL {
        let prefix = format!("ouro/{}/", f.name());
        assert!(
            gen.iter()
                .any(|g| g.problem.problem_id.starts_with(&prefix)),
            "no {prefix} problem"
        );
    }
    let mut jobs = Vec::new();
    for g in &gen {
        let p = &g.problem;
        let program = p.reference_solution.as_deref().expect("reference");
        assert_eq!(
            program,
            format!("{}{}", p.prompt, &program[p.prompt.len()..])
        );
        for (what, t) in [
            ("filter", &p.tests),
            ("audit", p.audit_tests.as_ref().expect("audit")),
        ] {
            jobs.push(Job {
                id: &p.problem_id,
                what: what.into(),
                program,
                entry: &p.entry_point,
                tests: script(t),
                expect_pass: true,
                check_literals: true,
            });
        }
    }
    let (ran, bad) = run_python(&jobs);
    assert_eq!(ran, 4000);
    assert!(
        bad.is_empty(),
        "{} failures, first: {:#?}",
        bad.len(),
        &bad[..bad.len().min(5)]
    );
}

#[test]
fn audit_tests_fail_every_mutant_they_claim_to_kill_under_python() {
    let gen = generated(400, 7);
    let mut jobs = Vec::new();
    let (mut dropped_conditions, mut audit_only_kills) = (0, 0);
    for g in &gen {
        let p = &g.problem;
        for m in &g.mutants {
            if m.label.starts_with("drop condition") || m.label.starts_with("drop step") {
                assert!(
                    m.killed_by_audit,
                    "{}: audit misses essential mutant {}",
                    p.problem_id, m.label
                );
                dropped_conditions += 1;
            }
            if m.killed_by_audit && !m.killed_by_filter {
                audit_only_kills += 1;
            }
            for (what, t, killed) in [
                ("filter", &p.tests, m.killed_by_filter),
                (
                    "audit",
                    p.audit_tests.as_ref().expect("audit"),
                    m.killed_by_audit,
                ),
            ] {
                jobs.push(Job {
                    id: &p.problem_id,
                    what: format!("{what} vs mutant {}", m.label),
                    program: &m.program,
                    entry: &p.entry_point,
                    tests: script(t),
                    // A suite that tells the mutant apart must fail it; one
                    // that does not must pass it (the Rust and Python
                    // semantics agree on the mutant too).
                    expect_pass: !killed,
                    check_literals: false,
                });
            }
        }
    }
    assert!(
        dropped_conditions > 100,
        "only {dropped_conditions} dropped-condition mutants"
    );
    // The point of audit suites: they catch near misses the filter suite lets through.
    assert!(
        audit_only_kills > 50,
        "audit caught only {audit_only_kills} mutants the filter missed"
    );
    let (ran, bad) = run_python(&jobs);
    assert_eq!(ran as usize, jobs.len());
    assert!(
        bad.is_empty(),
        "{} failures, first: {:#?}",
        bad.len(),
        &bad[..bad.len().min(5)]
    );
}
