//! Isolated judging: compiling a problem's assert script into cases whose
//! expected values stay in this (trusted) process.
//!
//! 1. [`ouro_python::testcompile`] finds the asserts that depend on the
//!    function under test only through returned values and rewrites them.
//! 2. A *spy pass* runs the rewritten test script (trusted, from the problem;
//!    never sample code) in a fresh sandbox child and reports, per evaluated
//!    assert, the call's arguments and the expected values ([`spy_request`],
//!    [`from_spy`]). A step the spy pass cannot reproduce falls back to
//!    in-process judging.
//! 3. A sample's child receives only the arguments, calls the function and
//!    returns each result through a strict plain-data encoder; the parent
//!    compares with Python's equality ([`ouro_python::value`], [`Check::holds`]).
//!
//! Compiled tests are cached per (script, entry point, prompt).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ouro_data::{Judge, Problem};
use ouro_python::testcompile::{self, CheckKind, StepMode, TestPlan, Wrapper};
use serde_json::{json, Value as Json};

use crate::protocol::{Request, Response, WireLimits};
use ouro_python::value::{self as pyvalue, Value};

/// How a returned value is judged, with the trusted values filled in.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    Eq(Value),
    Ne(Value),
    In(Value),
    IsTrue,
    IsFalse,
    IsNone,
    IsNotNone,
    Truthy,
    Falsy,
    AbsTol {
        expected: Value,
        tol: Value,
        inclusive: bool,
    },
    IsClose {
        expected: Value,
        rel_tol: f64,
        abs_tol: f64,
    },
}

impl Check {
    /// Whether the assert holds for a value that is not plain data (a re.Match, a
    /// Decimal), where that can be told without its contents: it is never None and
    /// never a bool, and `truth` is its truth value where the harness could read it
    /// without running the sample's code. `None`: undecidable.
    pub fn holds_for_opaque(&self, truth: Option<bool>) -> Option<bool> {
        match self {
            Check::IsNone | Check::IsTrue | Check::IsFalse => Some(false),
            Check::IsNotNone => Some(true),
            Check::Truthy => truth,
            Check::Falsy => truth.map(|t| !t),
            _ => None,
        }
    }

    /// Whether the assert holds for the returned value `v`.
    pub fn holds(&self, v: &Value) -> bool {
        match self {
            Check::Eq(e) => pyvalue::py_eq(v, e),
            Check::Ne(e) => !pyvalue::py_eq(v, e),
            Check::In(c) => pyvalue::contains(c, v).unwrap_or(false),
            Check::IsTrue => *v == Value::Bool(true),
            Check::IsFalse => *v == Value::Bool(false),
            Check::IsNone => *v == Value::None,
            Check::IsNotNone => *v != Value::None,
            Check::Truthy => pyvalue::truthy(v),
            Check::Falsy => !pyvalue::truthy(v),
            Check::AbsTol {
                expected,
                tol,
                inclusive,
            } => pyvalue::within_tolerance(v, expected, tol, *inclusive),
            Check::IsClose {
                expected,
                rel_tol,
                abs_tol,
            } => pyvalue::isclose(v, expected, *rel_tol, *abs_tol),
        }
    }
}

/// One call of the function under test and how its result is judged.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Index of the test (statement) the case belongs to.
    pub test: usize,
    /// What the sandbox receives: `{"a": args, "k": kwargs, "w": wrappers}`.
    pub call: Json,
    pub check: Check,
}

/// A problem's test script, compiled.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Compiled {
    /// Tests in the script (as the in-process harness counts them).
    pub ntests: usize,
    /// Per test: judged from `cases` (true) or in process (false).
    pub isolated: Vec<bool>,
    pub cases: Vec<Case>,
    /// Assert statements in the script, and those in isolated tests.
    pub asserts: usize,
    pub asserts_isolated: usize,
    /// Why each test that is not isolated is not.
    pub reasons: Vec<(usize, String)>,
    /// What the sandbox receives of the script for mixed judging: the script
    /// with every isolated test replaced by `assert True`, so that no
    /// expected value of an isolated test enters the untrusted process.
    pub sandbox_script: String,
    /// The script's module-level imports, run in the sample's globals before the calls
    /// (`ouro_python::testcompile::module_imports`).
    pub imports: String,
}

impl Compiled {
    /// How a sample of this problem is judged.
    pub fn judge(&self) -> Judge {
        let n = self.isolated.iter().filter(|&&i| i).count();
        if n == 0 || self.ntests == 0 {
            Judge::InProcess
        } else if n == self.ntests {
            Judge::Isolated
        } else {
            Judge::Mixed
        }
    }

    /// The calls as the sandbox receives them (see [`Request::calls`]).
    pub fn calls_wire(&self) -> String {
        let calls: Vec<&Json> = self.cases.iter().map(|c| &c.call).collect();
        serde_json::to_string(&calls).expect("JSON values serialize")
    }

    /// Tests judged in isolation (the in-process part skips them).
    pub fn skip(&self) -> Vec<usize> {
        (0..self.ntests).filter(|&t| self.isolated[t]).collect()
    }

    fn in_process(plan: &TestPlan, why: &str) -> Compiled {
        let ntests = plan.tests();
        let mut compiled = Compiled {
            ntests,
            isolated: vec![false; ntests],
            cases: vec![],
            asserts: plan.steps.iter().map(|s| s.asserts).sum(),
            asserts_isolated: 0,
            sandbox_script: String::new(),
            imports: String::new(),
            reasons: plan
                .steps
                .iter()
                .filter_map(|s| {
                    let t = s.test?;
                    Some(match &s.mode {
                        StepMode::InProcess(w) if plan.reason.is_none() => (t, w.clone()),
                        _ => (t, why.to_string()),
                    })
                })
                .collect(),
        };
        // A script with no test to blame (one that does not parse) still says why.
        if compiled.reasons.is_empty() {
            if let Some(reason) = &plan.reason {
                compiled.reasons.push((0, reason.clone()));
            }
        }
        compiled
    }
}

fn wire_wrapper(w: &Wrapper, vals: &[Json]) -> Json {
    match w {
        Wrapper::Set => json!(["set"]),
        Wrapper::FrozenSet => json!(["frozenset"]),
        Wrapper::Sorted => json!(["sorted"]),
        Wrapper::List => json!(["list"]),
        Wrapper::Tuple => json!(["tuple"]),
        Wrapper::Round { ndigits: None } => json!(["round"]),
        Wrapper::Round { ndigits: Some(i) } => json!(["round", vals[*i]]),
    }
}

/// The spy-pass request for a plan; `None` when nothing can be compiled.
pub fn spy_request(
    plan: &TestPlan,
    problem: &Problem,
    script: &str,
    nonce: &str,
    limits: WireLimits,
) -> Option<Request> {
    if plan.reason.is_some() || plan.compiled_tests() == 0 {
        return None;
    }
    let steps = plan
        .steps
        .iter()
        .map(|s| match &s.mode {
            StepMode::Run => json!({"mode": "run"}),
            StepMode::Spy(src) => json!({"mode": "spy", "src": src}),
            StepMode::InProcess(_) => json!({"mode": "skip"}),
        })
        .collect();
    let mut names = vec![problem.entry_point.clone()];
    names.extend(plan.check_param.clone());
    names.retain(|n| !n.is_empty());
    Some(Request {
        kind: "spy",
        code: String::new(),
        script: script.to_string(),
        entry_point: problem.entry_point.clone(),
        cases: vec![],
        nonce: nonce.to_string(),
        seed: 0,
        limits,
        calls: None,
        run_script: false,
        skip: vec![],
        ntests: 0,
        spy_steps: Some(steps),
        spy_nvals: plan.atoms.iter().map(|a| a.nvals).collect(),
        spy_names: names,
        prelude: problem.prompt.clone(),
        header: "",
    })
}

fn check_of(kind: &CheckKind, vals: &[Value]) -> Result<Check, String> {
    let num = |i: Option<usize>, default: f64| -> Result<f64, String> {
        match i {
            None => Ok(default),
            Some(i) => pyvalue::as_f64(&vals[i]).ok_or_else(|| "tolerance is not a number".into()),
        }
    };
    Ok(match *kind {
        CheckKind::Eq(i) => Check::Eq(vals[i].clone()),
        CheckKind::Ne(i) => Check::Ne(vals[i].clone()),
        CheckKind::In(i) => {
            if pyvalue::contains(&vals[i], &Value::None).is_none()
                && !matches!(vals[i], Value::Str(_) | Value::Bytes(_))
            {
                return Err("`in` over a value that is not a container".into());
            }
            Check::In(vals[i].clone())
        }
        CheckKind::IsTrue => Check::IsTrue,
        CheckKind::IsFalse => Check::IsFalse,
        CheckKind::IsNone => Check::IsNone,
        CheckKind::IsNotNone => Check::IsNotNone,
        CheckKind::Truthy => Check::Truthy,
        CheckKind::Falsy => Check::Falsy,
        CheckKind::AbsTol {
            expected,
            tol,
            inclusive,
        } => Check::AbsTol {
            expected: vals[expected].clone(),
            tol: vals[tol].clone(),
            inclusive,
        },
        CheckKind::IsClose {
            expected,
            rel_tol,
            abs_tol,
        } => Check::IsClose {
            expected: vals[expected].clone(),
            rel_tol: num(rel_tol, 1e-9)?,
            abs_tol: num(abs_tol, 0.0)?,
        },
    })
}

/// One parsed record of the spy channel.
enum SpyLine {
    Case(Json),
    StepFailed(usize, String),
    Failed(String),
    Done,
}

fn spy_lines(raw: &str, nonce: &str) -> Vec<SpyLine> {
    let mut out = Vec::new();
    for line in raw.lines() {
        let Some(rest) = line.strip_prefix(nonce).and_then(|r| r.strip_prefix(' ')) else {
            continue;
        };
        let (tag, body) = rest.split_once(' ').unwrap_or((rest, ""));
        out.push(match tag {
            "C" => match serde_json::from_str(body) {
                Ok(j) => SpyLine::Case(j),
                Err(e) => SpyLine::Failed(format!("bad case record: {e}")),
            },
            "F" => {
                let (i, why) = body.split_once(' ').unwrap_or((body, ""));
                match i.parse() {
                    Ok(i) => SpyLine::StepFailed(i, why.to_string()),
                    Err(_) => SpyLine::Failed("bad step record".into()),
                }
            }
            "X" => SpyLine::Failed(body.to_string()),
            "D" => SpyLine::Done,
            _ => continue,
        });
    }
    out
}

/// Builds the compiled tests from a plan and the spy pass's answer. Any
/// problem with the spy pass leaves the affected tests in process.
pub fn from_spy(plan: &TestPlan, resp: Option<&Response>, nonce: &str) -> Compiled {
    let Some(resp) = resp else {
        let why = plan.reason.as_deref().unwrap_or("no assert compiles");
        return Compiled::in_process(plan, why);
    };
    if let Some(e) = &resp.test_error {
        return Compiled::in_process(plan, e);
    }
    let Some(run) = resp.runs.first() else {
        return Compiled::in_process(plan, "spy pass did not run");
    };
    if let Some(k) = &run.killed {
        return Compiled::in_process(plan, &format!("spy pass killed: {k}"));
    }
    from_lines(plan, spy_lines(&run.result, nonce))
}

/// The compiled tests of a script whose spy records the source alone gives
/// ([`TestPlan::literal_spy`]), built exactly as from the spy pass's answer.
pub fn from_literal(plan: &TestPlan) -> Option<Compiled> {
    let records = plan.literal_spy.as_ref()?;
    let mut lines: Vec<SpyLine> = records.iter().cloned().map(SpyLine::Case).collect();
    lines.push(SpyLine::Done);
    Some(from_lines(plan, lines))
}

fn from_lines(plan: &TestPlan, lines: Vec<SpyLine>) -> Compiled {
    if !matches!(lines.last(), Some(SpyLine::Done)) {
        let why = lines
            .iter()
            .find_map(|l| match l {
                SpyLine::Failed(w) => Some(format!("spy pass failed: {w}")),
                _ => None,
            })
            .unwrap_or_else(|| "spy pass ended early".into());
        return Compiled::in_process(plan, &why);
    }
    let nsteps = plan.steps.len();
    let mut why_not: Vec<Option<String>> = plan
        .steps
        .iter()
        .map(|s| match &s.mode {
            StepMode::InProcess(w) => Some(w.clone()),
            _ => None,
        })
        .collect();
    let fail = |why_not: &mut Vec<Option<String>>, step: usize, why: String| {
        if step >= nsteps || why_not[step].is_some() {
            return;
        }
        why_not[step] = Some(why.clone());
        let s = &plan.steps[step];
        if s.binds || s.test.is_none() {
            for later in why_not.iter_mut().skip(step + 1) {
                later.get_or_insert_with(|| format!("follows step {step} ({why})"));
            }
        }
    };
    let mut cases: Vec<(usize, Case)> = Vec::new();
    for line in &lines {
        match line {
            SpyLine::StepFailed(i, why) => fail(&mut why_not, *i, format!("spy: {why}")),
            // A record the parent cannot read belongs to a step it cannot name: judged
            // isolated, that step would hold no case and pass every sample.
            SpyLine::Failed(why) => return Compiled::in_process(plan, why),
            SpyLine::Case(rec) => match case_of(plan, rec) {
                Ok((step, case)) => cases.push((step, case)),
                Err((Some(step), why)) => fail(&mut why_not, step, why),
                Err((None, why)) => return Compiled::in_process(plan, &why),
            },
            _ => {}
        }
    }
    let ntests = plan.tests();
    let mut out = Compiled {
        ntests,
        isolated: vec![false; ntests],
        ..Compiled::default()
    };
    for (i, s) in plan.steps.iter().enumerate() {
        out.asserts += s.asserts;
        let Some(t) = s.test else { continue };
        match &why_not[i] {
            None => {
                out.isolated[t] = true;
                out.asserts_isolated += s.asserts;
            }
            Some(w) => out.reasons.push((t, w.clone())),
        }
    }
    out.cases = cases
        .into_iter()
        .filter(|(step, _)| why_not[*step].is_none())
        .map(|(_, c)| c)
        .collect();
    out
}

type CaseError = (Option<usize>, String);

fn case_of(plan: &TestPlan, rec: &Json) -> Result<(usize, Case), CaseError> {
    let aid = rec["a"].as_u64().map(|a| a as usize);
    let Some(atom) = aid.and_then(|a| plan.atoms.get(a)) else {
        return Err((None, "spy case names no atom".into()));
    };
    let step = atom.step;
    let Some(test) = plan.steps[step].test else {
        return Err((Some(step), "case outside a test".into()));
    };
    let err = |why: String| (Some(step), why);
    let raw_vals = rec["v"].as_array().cloned().unwrap_or_default();
    if raw_vals.len() != atom.nvals {
        return Err(err("spy reported the wrong number of values".into()));
    }
    let vals = raw_vals
        .iter()
        .map(pyvalue::decode)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(format!("expected value does not decode: {e}")))?;
    // The arguments must decode too: the sandbox decodes the same form.
    for a in rec["args"].as_array().into_iter().flatten() {
        pyvalue::decode(a).map_err(|e| err(format!("argument does not decode: {e}")))?;
    }
    let check = check_of(&atom.check, &vals).map_err(err)?;
    let wrappers: Vec<Json> = atom
        .wrappers
        .iter()
        .map(|w| wire_wrapper(w, &raw_vals))
        .collect();
    let call = json!({"a": rec["args"], "k": rec["kw"], "w": wrappers});
    Ok((step, Case { test, call, check }))
}

/// Compiled tests shared by all slots, keyed by what determines them.
#[derive(Default)]
pub struct CompileCache {
    map: Mutex<HashMap<String, Arc<Compiled>>>,
}

impl CompileCache {
    pub fn key(problem: &Problem, script: &str) -> String {
        let mut h = blake3::Hasher::new();
        for part in [script, &problem.entry_point, &problem.prompt] {
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        h.finalize().to_hex().to_string()
    }

    pub fn get(&self, key: &str) -> Option<Arc<Compiled>> {
        self.map.lock().expect("compile cache").get(key).cloned()
    }

    pub fn insert(&self, key: String, c: Compiled) -> Arc<Compiled> {
        let c = Arc::new(c);
        self.map
            .lock()
            .expect("compile cache")
            .entry(key)
            .or_insert(c)
            .clone()
    }
}

/// The static part alone (no spy pass): used when judging in process.
pub fn plan(script: &str, entry_point: &str) -> TestPlan {
    testcompile::compile(script, entry_point)
}

#[cfg(test)]
mod tests;
