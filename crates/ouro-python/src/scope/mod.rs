//! Name resolution: undefined names (pylint E0602), use before assignment
//! (E0601) and possible use before assignment (E0606).
//!
//! Two passes over a syntactically valid module:
//! 1. [`Collector`] records, per function, class and module scope, every name
//!    the scope binds (flow-insensitively, as Python decides locality), its
//!    `global`/`nonlocal` declarations, and whether a star import occurs.
//! 2. [`Checker`] walks each scope's statements in order, tracking which
//!    locals are definitely or possibly bound, and resolves every load.
//!
//! The rules follow what pylint reports, which is not always what CPython
//! would raise at run time:
//! - only the first use of a local name in a scope is checked (pylint's
//!   consumer marks the name consumed), so the walk follows pylint's order
//!   (`try` body, handlers, `else`, `finally`);
//! - an augmented assignment (`x += 1`) of a never-bound name is E0602;
//! - inside a function, a `for` that binds a name anywhere accepts uses of
//!   it inside the loop, unless the only bindings sit under an uncertain
//!   `if` (E0606); an `if` whose body assigns a name accepts uses inside the
//!   `if`; `while` loops get no exemption (see [`guards`]);
//! - a class's own name used while its body runs (a class attribute, a method's
//!   default, or an annotation unless `from __future__ import annotations`) is
//!   E0602, as the class is bound only after its body;
//! - `del x` is a use of `x` (E0602 when `x` is not bound before it), and does
//!   not make later uses of `x` errors;
//! - a name bound only in some branches of an `if`/`try`/`match` is E0606 when
//!   used after it; loop bodies count as executed;
//! - unreachable statements are checked; `break`/`continue` outside a loop
//!   is E0103.
//!
//! Function and lambda bodies run later, so their free names only need a
//! binding somewhere in an enclosing function or in the module. Class scopes
//! are skipped when resolving names from nested functions and comprehensions.
//! A star import at module level disables E0602 entirely.

mod builtins;
mod check;
mod collect;
mod flow;
mod guards;
mod placement;

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr};
use rustc_hash::FxHashSet;

use crate::diagnostics::{LineIndex, LintMessage};
use check::{Checker, Flow};
use collect::Collector;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScopeKind {
    Module,
    Class,
    Function,
}

#[derive(Debug)]
struct Scope<'a> {
    kind: ScopeKind,
    parent: Option<usize>,
    bound: FxHashSet<&'a str>,
    globals: FxHashSet<&'a str>,
    nonlocals: FxHashSet<&'a str>,
}

impl<'a> Scope<'a> {
    fn new(kind: ScopeKind, parent: Option<usize>) -> Self {
        Scope {
            kind,
            parent,
            bound: FxHashSet::default(),
            globals: FxHashSet::default(),
            nonlocals: FxHashSet::default(),
        }
    }
}

/// Names bound by an assignment target (`a`, `a, *b`, `[a, (b, c)]`).
fn target_names<'a>(target: &'a Expr, out: &mut Vec<&'a str>) {
    match target {
        Expr::Name(n) => out.push(n.id.as_str()),
        Expr::Tuple(t) => t.elts.iter().for_each(|e| target_names(e, out)),
        Expr::List(l) => l.elts.iter().for_each(|e| target_names(e, out)),
        Expr::Starred(s) => target_names(&s.value, out),
        _ => {}
    }
}

fn parameter_names<'a>(params: &'a ast::Parameters, out: &mut Vec<&'a str>) {
    for p in params
        .posonlyargs
        .iter()
        .chain(&params.args)
        .chain(&params.kwonlyargs)
    {
        out.push(p.parameter.name.id.as_str());
    }
    if let Some(v) = &params.vararg {
        out.push(v.name.id.as_str());
    }
    if let Some(k) = &params.kwarg {
        out.push(k.name.id.as_str());
    }
}

fn alias_binding(alias: &ast::Alias) -> &str {
    match &alias.asname {
        Some(a) => a.id.as_str(),
        None => {
            let full = alias.name.id.as_str();
            full.split('.').next().unwrap_or(full)
        }
    }
}

fn pattern_names<'a>(pattern: &'a ast::Pattern, out: &mut Vec<&'a str>) {
    struct P<'o, 'a> {
        out: &'o mut Vec<&'a str>,
    }
    impl<'a> Visitor<'a> for P<'_, 'a> {
        fn visit_pattern(&mut self, pattern: &'a ast::Pattern) {
            match pattern {
                ast::Pattern::MatchAs(m) => {
                    if let Some(n) = &m.name {
                        self.out.push(n.id.as_str());
                    }
                }
                ast::Pattern::MatchStar(m) => {
                    if let Some(n) = &m.name {
                        self.out.push(n.id.as_str());
                    }
                }
                ast::Pattern::MatchMapping(m) => {
                    if let Some(n) = &m.rest {
                        self.out.push(n.id.as_str());
                    }
                }
                _ => {}
            }
            visitor::walk_pattern(self, pattern);
        }
        fn visit_expr(&mut self, _expr: &'a Expr) {}
    }
    P { out }.visit_pattern(pattern);
}

/// Runs both passes over a parsed module and appends the messages.
pub(crate) fn check_names(
    module: &ast::ModModule,
    lines: &LineIndex,
    semantics: crate::diagnostics::Semantics,
    out: &mut Vec<LintMessage>,
) {
    let mut collector = Collector::new(ScopeKind::Module, true);
    collector.visit_body(&module.body);
    placement::check(
        &module.body,
        &collector.scopes,
        &collector.scope_of,
        lines,
        out,
    );
    let mut checker = Checker::new(
        &collector.scopes,
        &collector.scope_of,
        collector.star_import,
        lines,
    );
    checker.strict = semantics == crate::diagnostics::Semantics::Strict;
    checker.postponed_annotations = module.body.iter().any(|s| {
        matches!(s, ast::Stmt::ImportFrom(i)
            if i.module.as_ref().is_some_and(|m| m.as_str() == "__future__")
                && i.names.iter().any(|a| a.name.as_str() == "annotations"))
    });
    checker.body(&module.body);
    while let Some((idx, f)) = checker.deferred.pop() {
        checker.current = idx;
        checker.flow = Flow::default();
        let mut names = Vec::new();
        parameter_names(&f.parameters, &mut names);
        for n in names {
            checker.flow.bind(n);
        }
        checker.body(&f.body);
    }
    out.append(&mut checker.messages);
}
