//! Compiling assert-style tests into cases the trusted parent can judge.
//!
//! A test that runs inside the interpreter of the code under test can be
//! subverted by that code (a thread or trace hook replaces the asserts, a
//! returned object's `__eq__` always holds). This module finds the asserts
//! whose outcome depends on the function under test only through the plain
//! values it returns, and rewrites them for a *spy pass*: the test script
//! (trusted, from the problem) runs once with every such assert replaced by
//! `__ouro_case__(ID, __ouro_args__(ARGS), V1, V2, ...)`, which records the
//! call's arguments and the trusted values (expected value, tolerance, ...)
//! instead of calling anything. The executor then sends only the arguments to
//! the sandbox and compares the returned values in Rust.
//!
//! The statement layout mirrors the executor's in-process harness: for a
//! HumanEval script (`def check(candidate):`) the steps are the top-level
//! statements of `check`'s body, otherwise the module's top-level statements;
//! a step containing an `assert` is a test.
//!
//! Supported assert forms (`OBS` is a call of the function under test,
//! optionally under `set`, `frozenset`, `sorted`, `list`, `tuple`, `round`):
//! `OBS == E`, `E == OBS`, `!=`, `OBS in E`, `OBS`, `not OBS`, `OBS is
//! True/False/None`, `OBS is not None`, `abs(OBS - E) < TOL` (either order,
//! `<=`, `math.fabs`), `math.isclose(OBS, E, rel_tol=, abs_tol=)`, and `and`
//! of these, anywhere in loops or conditionals, with computed arguments.
//!
//! A step is judged in process when the function under test is used in any
//! other way (its value flows into further computation, it is rebound, an
//! assert sits inside `try`/`with` that might swallow it). A step judged in
//! process that binds names makes every later step in-process too, since the
//! spy pass cannot reproduce those bindings.

mod literal;
mod pattern;

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, ExprContext, Stmt};
use ruff_python_parser::parse_module;
use ruff_text_size::{Ranged, TextRange};

/// A value-preserving builtin applied, in the sandbox, to the returned value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrapper {
    Set,
    FrozenSet,
    Sorted,
    List,
    Tuple,
    /// `round(x)` or `round(x, NDIGITS)`; `ndigits` indexes the atom's values.
    Round {
        ndigits: Option<usize>,
    },
}

/// How one returned value is judged; `usize` fields index the atom's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckKind {
    Eq(usize),
    Ne(usize),
    In(usize),
    IsTrue,
    IsFalse,
    IsNone,
    IsNotNone,
    Truthy,
    Falsy,
    AbsTol {
        expected: usize,
        tol: usize,
        inclusive: bool,
    },
    IsClose {
        expected: usize,
        rel_tol: Option<usize>,
        abs_tol: Option<usize>,
    },
}

/// One comparison of a returned value; the spy pass reports one record per
/// evaluation (an atom inside a loop is evaluated many times).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Atom {
    /// The step the atom belongs to.
    pub step: usize,
    pub wrappers: Vec<Wrapper>,
    pub check: CheckKind,
    /// Number of trusted values the spy pass reports for it.
    pub nvals: usize,
}

/// What the spy pass does with one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepMode {
    /// A statement that does not touch the function under test: run as is.
    Run,
    /// A test whose asserts were all rewritten: run this source instead.
    Spy(String),
    /// Not compiled: skipped by the spy pass, executed (and, for a test,
    /// judged) in process.
    InProcess(String),
}

/// One top-level statement of the test body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Index among the tests when the statement contains an assert.
    pub test: Option<usize>,
    /// Assert statements inside it.
    pub asserts: usize,
    /// Binds names the following steps may read: when this step ends up
    /// judged in process, the spy pass cannot reproduce what follows it.
    pub binds: bool,
    pub mode: StepMode,
    /// Byte range of the statement in the script.
    pub span: std::ops::Range<usize>,
}

/// The compiled form of a test script.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TestPlan {
    /// `check`'s parameter for HumanEval-style scripts.
    pub check_param: Option<String>,
    pub steps: Vec<Step>,
    pub atoms: Vec<Atom>,
    /// Why nothing compiles, when the reason is script-wide.
    pub reason: Option<String>,
    /// What the spy pass would report, when the source alone tells
    /// ([`literal`]): every compiled assert on literals, nothing else that
    /// runs. `None`: the spy pass must run.
    pub literal_spy: Option<Vec<serde_json::Value>>,
}

impl TestPlan {
    /// The script with the given tests' statements replaced by `assert True`:
    /// what the sandbox may see when those tests are judged in isolation (the
    /// expected values must not reach it). Test numbering is unchanged.
    pub fn redact(&self, script: &str, tests: &[usize]) -> String {
        let mut out = String::with_capacity(script.len());
        let mut at = 0;
        for s in &self.steps {
            if s.test.is_some_and(|t| tests.contains(&t)) && s.span.start >= at {
                out.push_str(&script[at..s.span.start]);
                out.push_str("assert True");
                at = s.span.end;
            }
        }
        out.push_str(&script[at..]);
        out
    }

    pub fn tests(&self) -> usize {
        self.steps.iter().filter(|s| s.test.is_some()).count()
    }

    /// Tests whose asserts were all rewritten (before the spy pass ran).
    pub fn compiled_tests(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| s.test.is_some() && !matches!(s.mode, StepMode::InProcess(_)))
            .count()
    }
}

#[derive(Default)]
struct Scan<'a> {
    names: Vec<String>,
    /// Occurrences of a candidate name that are plain loads.
    loads: Vec<TextRange>,
    rebinds: bool,
    /// Binds a name in the step's own scope (not in a lambda or comprehension).
    binds: bool,
    /// Asserts and whether a `try`/`with` encloses them.
    asserts: Vec<(&'a ast::StmtAssert, bool)>,
    guarded: usize,
    scope: usize,
}

impl Scan<'_> {
    fn bind(&mut self, name: &str) {
        if self.scope == 0 {
            self.binds = true;
        }
        if self.names.iter().any(|n| n == name) {
            self.rebinds = true;
        }
    }
}

impl<'a> Visitor<'a> for Scan<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::Assert(a) => self.asserts.push((a, self.guarded > 0)),
            Stmt::FunctionDef(f) => self.bind(f.name.as_str()),
            Stmt::ClassDef(c) => self.bind(c.name.as_str()),
            Stmt::Import(i) => {
                for a in &i.names {
                    let n = a.asname.as_ref().unwrap_or(&a.name);
                    self.bind(n.as_str().split('.').next().unwrap_or_default());
                }
            }
            Stmt::ImportFrom(i) => {
                for a in &i.names {
                    self.bind(a.asname.as_ref().unwrap_or(&a.name).as_str());
                }
            }
            Stmt::Global(_) | Stmt::Nonlocal(_) => self.binds = true,
            _ => {}
        }
        let guard = matches!(stmt, Stmt::Try(_) | Stmt::With(_));
        let scope = matches!(stmt, Stmt::FunctionDef(_) | Stmt::ClassDef(_));
        self.guarded += guard as usize;
        self.scope += scope as usize;
        visitor::walk_stmt(self, stmt);
        self.guarded -= guard as usize;
        self.scope -= scope as usize;
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        if let Expr::Name(n) = expr {
            match n.ctx {
                ExprContext::Load => {
                    if self.names.iter().any(|c| c == n.id.as_str()) {
                        self.loads.push(n.range);
                    }
                }
                _ => self.bind(n.id.as_str()),
            }
        }
        let scope = matches!(
            expr,
            Expr::Lambda(_)
                | Expr::ListComp(_)
                | Expr::SetComp(_)
                | Expr::DictComp(_)
                | Expr::Generator(_)
        );
        self.scope += scope as usize;
        visitor::walk_expr(self, expr);
        self.scope -= scope as usize;
    }
}

fn contains_assert(stmt: &Stmt) -> bool {
    let mut s = Scan::default();
    s.visit_stmt(stmt);
    !s.asserts.is_empty()
}

fn is_check_call(stmt: &Stmt) -> bool {
    matches!(stmt, Stmt::Expr(e) if matches!(e.value.as_ref(),
        Expr::Call(c) if matches!(c.func.as_ref(), Expr::Name(n) if n.id.as_str() == "check")))
}

/// Text of a statement that compiles at module level: a statement nested in
/// a body keeps its indentation under `if 1:`.
fn module_level(source: &str, range: TextRange, replaced: &str) -> String {
    let start = usize::from(range.start());
    let line_start = source[..start].rfind(['\n', '\r']).map_or(0, |i| i + 1);
    let prefix = &source[line_start..start];
    if prefix.is_empty() {
        format!("{replaced}\n")
    } else if prefix.chars().all(|c| c == ' ' || c == '\t') {
        format!("if 1:\n{prefix}{replaced}\n")
    } else {
        format!("if 1:\n {replaced}\n")
    }
}

/// The script's module-level `import` and `from ... import` statements (no
/// `__future__` ones), one per line: what the official harnesses make visible to the
/// solution by running the script in its globals, without any of the script's data.
pub fn module_imports(script: &str) -> String {
    let Ok(module) = parse_module(script) else {
        return String::new();
    };
    module
        .syntax()
        .body
        .iter()
        .filter(|s| match s {
            Stmt::Import(_) => true,
            Stmt::ImportFrom(i) => i.module.as_ref().is_none_or(|m| m.as_str() != "__future__"),
            _ => false,
        })
        .map(|s| &script[s.range()])
        .collect::<Vec<_>>()
        .join("\n")
}

/// Compiles `script` for the function named `entry_point`.
///
/// Never fails: a script that does not parse, or uses the function under
/// test in ways the spy pass cannot reproduce, gets steps judged in process.
pub fn compile(script: &str, entry_point: &str) -> TestPlan {
    let module = match parse_module(script) {
        Ok(m) => m.into_syntax(),
        Err(e) => {
            return TestPlan {
                reason: Some(format!("test script does not parse: {e}")),
                ..TestPlan::default()
            }
        }
    };
    // The last `def check(x)` wins, as when Python runs the script.
    let check = module.body.iter().rev().find_map(|s| match s {
        Stmt::FunctionDef(f)
            if f.name.as_str() == "check"
                && !f.is_async
                && f.parameters.args.len() == 1
                && f.parameters.posonlyargs.is_empty() =>
        {
            Some(f)
        }
        _ => None,
    });
    let mut plan = TestPlan::default();
    let mut names = Vec::new();
    if !entry_point.is_empty() {
        names.push(entry_point.to_string());
    }
    let body: &[Stmt] = match check {
        Some(f) => {
            let param = f.parameters.args[0].parameter.name.to_string();
            names.push(param.clone());
            plan.check_param = Some(param);
            &f.body
        }
        None => &module.body,
    };
    let mut script_reason = None;
    if names.is_empty() {
        script_reason = Some("no entry point to call".to_string());
    }
    if let Some(f) = check {
        for s in &module.body {
            if matches!(s, Stmt::FunctionDef(g) if std::ptr::eq(g, f)) || is_check_call(s) {
                continue;
            }
            let mut scan = Scan {
                names: names.clone(),
                ..Scan::default()
            };
            scan.visit_stmt(s);
            if !scan.loads.is_empty() || scan.rebinds {
                script_reason = Some("the setup uses the function under test".to_string());
            }
        }
    }
    let mut poisoned: Option<String> = script_reason.clone();
    // The spy pass also runs the script's other top-level statements; with a
    // second `def check` Python and this parser might not agree on which one.
    let mut literal_spy = check.is_some_and(|f| {
        module.body.iter().all(|s| match s {
            Stmt::FunctionDef(g) => std::ptr::eq(g, f),
            s => is_check_call(s) || literal::inert_setup(s),
        })
    }) || check.is_none();
    let mut literal_records = Vec::new();
    let mut ntests = 0;
    for (index, stmt) in body.iter().enumerate() {
        let mut scan = Scan {
            names: names.clone(),
            ..Scan::default()
        };
        scan.visit_stmt(stmt);
        let is_test = contains_assert(stmt);
        let test = is_test.then(|| {
            ntests += 1;
            ntests - 1
        });
        let asserts = scan.asserts.len();
        let first_atom = plan.atoms.len();
        let (mode, specs) = if let Some(why) = &poisoned {
            (StepMode::InProcess(why.clone()), vec![])
        } else {
            match compile_step(script, stmt, &scan, index, is_test, &mut plan.atoms) {
                Ok(compiled) => compiled,
                Err(why) => (StepMode::InProcess(why), vec![]),
            }
        };
        if literal_spy {
            match literal::step_records(stmt, &mode, &specs, first_atom) {
                Some(r) => literal_records.extend(r),
                None => literal_spy = false,
            }
        }
        if let StepMode::InProcess(why) = &mode {
            if poisoned.is_none()
                && (scan.binds || scan.rebinds || (!is_test && !scan.loads.is_empty()))
            {
                poisoned = Some(format!(
                    "follows step {index}, which is not compiled ({why})"
                ));
            }
        }
        plan.steps.push(Step {
            test,
            asserts,
            binds: scan.binds || scan.rebinds,
            mode,
            span: usize::from(stmt.range().start())..usize::from(stmt.range().end()),
        });
    }
    plan.reason = script_reason;
    if literal_spy && plan.reason.is_none() && plan.compiled_tests() > 0 {
        plan.literal_spy = Some(literal_records);
    }
    plan
}

/// The step's mode and the atoms recognised in it, in numbering order.
fn compile_step<'a>(
    source: &str,
    stmt: &Stmt,
    scan: &Scan<'a>,
    index: usize,
    is_test: bool,
    atoms: &mut Vec<Atom>,
) -> Result<(StepMode, Vec<pattern::AtomSpec<'a>>), String> {
    if scan.rebinds {
        return Err("rebinds the function under test".into());
    }
    if !is_test {
        return if scan.loads.is_empty() {
            Ok((StepMode::Run, vec![]))
        } else {
            Err("uses the function under test outside an assert".into())
        };
    }
    let mut consumed: Vec<TextRange> = Vec::new();
    let mut replacements: Vec<(TextRange, String)> = Vec::new();
    let mut new_atoms = Vec::new();
    let mut step_specs = Vec::new();
    for (a, guarded) in &scan.asserts {
        let r = a.range;
        if !scan.loads.iter().any(|l| r.contains_range(*l)) {
            continue;
        }
        if *guarded {
            return Err("assert inside try/with".into());
        }
        let Some(specs) = pattern::atoms(&a.test, &scan.names) else {
            let text = &source[usize::from(r.start())..usize::from(r.end())];
            let head: String = text.chars().take(60).collect();
            return Err(format!("unsupported assert: {head}"));
        };
        // The message is only evaluated when the assert fails, and the
        // rewrite drops it: calls in it do not decide anything.
        if let Some(msg) = &a.msg {
            let m = msg.range();
            consumed.extend(scan.loads.iter().filter(|l| m.contains_range(**l)));
        }
        let mut calls = Vec::new();
        for spec in &specs {
            consumed.push(spec.call.func.range());
            calls.push(pattern::emit(source, atoms.len() + new_atoms.len(), spec));
            new_atoms.push(Atom {
                step: index,
                wrappers: spec.wrappers.clone(),
                check: spec.check,
                nvals: spec.vals.len(),
            });
        }
        let text = if calls.len() == 1 {
            calls.pop().unwrap_or_default()
        } else {
            format!("({})", calls.join(", "))
        };
        replacements.push((r, text));
        step_specs.extend(specs);
    }
    if scan.loads.iter().any(|l| !consumed.contains(l)) {
        return Err("the function under test's result flows into other code".into());
    }
    let range = stmt.range();
    let mut out = String::new();
    let mut at = usize::from(range.start());
    replacements.sort_by_key(|(r, _)| r.start());
    for (r, text) in &replacements {
        out.push_str(&source[at..usize::from(r.start())]);
        out.push_str(text);
        at = usize::from(r.end());
    }
    out.push_str(&source[at..usize::from(range.end())]);
    atoms.extend(new_atoms);
    Ok((StepMode::Spy(module_level(source, range, &out)), step_specs))
}

#[cfg(test)]
mod tests;
