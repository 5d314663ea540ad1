//! Pylint's exemptions for names used before their binding line, inside a
//! function (`utils.is_defined_before` and `NamesConsumer`'s filters):
//!
//! - A use anywhere inside a `for` statement is fine when that `for` binds
//!   the name anywhere (target, body, `else`; `x += 1` included), so
//!   loop-carried names like `m = max(d, m)` are accepted. `while` loops get
//!   no such exemption.
//! - A use inside an `if` statement (its test or any clause) is fine when the
//!   body of that `if`, or of an `elif` around the use, assigns the name at
//!   its top level (`if x > m: m = x`).
//! - A binding nested in an `if` that does not contain the use is uncertain
//!   and does not count for the loop exemption, unless the outermost such `if`
//!   contains a `break`/`continue` or binds (or returns/raises) on every
//!   branch. A use relying only on such bindings is E0606.

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, Stmt};
use rustc_hash::FxHashSet;

use super::collect::Collector;
use super::{target_names, ScopeKind};

/// Names bound in `stmts` (not in nested scopes), `x += 1` included.
/// With `certain_only`, bindings under an uncertain `if` are left out.
pub(super) fn bindings(stmts: &[Stmt], certain_only: bool) -> FxHashSet<&str> {
    let mut c = Collector::new(ScopeKind::Function, true);
    c.skip_uncertain_ifs = certain_only;
    c.visit_body(stmts);
    std::mem::take(&mut c.scopes[0].bound)
}

/// The names an `if` statement binds for certain, seen from outside it.
pub(super) fn certain_if_bindings(i: &ast::StmtIf) -> FxHashSet<&str> {
    let mut all = bindings(&i.body, false);
    for c in &i.elif_else_clauses {
        all.extend(bindings(&c.body, false));
    }
    if contains_break_or_continue(i) {
        // Pylint is permissive when the `if` can leave the loop.
        return all;
    }
    if !i.elif_else_clauses.iter().any(|c| c.test.is_none()) {
        return FxHashSet::default();
    }
    all.into_iter()
        .filter(|n| handles(&i.body, n) && i.elif_else_clauses.iter().all(|c| handles(&c.body, n)))
        .collect()
}

/// Whether every path through `body` binds `name`, returns or raises
/// (`_defines_name_raises_or_returns`, shallowly plus nested `if`s).
fn handles(body: &[Stmt], name: &str) -> bool {
    body.iter().any(|s| match s {
        Stmt::Return(_) | Stmt::Raise(_) => true,
        Stmt::If(i) => {
            i.elif_else_clauses.iter().any(|c| c.test.is_none())
                && handles(&i.body, name)
                && i.elif_else_clauses.iter().all(|c| handles(&c.body, name))
        }
        Stmt::Assign(_)
        | Stmt::AugAssign(_)
        | Stmt::AnnAssign(_)
        | Stmt::For(_)
        | Stmt::With(_) => bindings(std::slice::from_ref(s), false).contains(name),
        _ => false,
    })
}

/// Names assigned by a plain `name = ...` at the top level of `body`: a use
/// anywhere inside the `if` owning `body` counts them as defined.
pub(super) fn direct_assigns<'a>(body: &'a [Stmt], out: &mut Vec<&'a str>) {
    for s in body {
        if let Stmt::Assign(a) = s {
            for t in &a.targets {
                if let Expr::Name(n) = t {
                    out.push(n.id.as_str());
                }
            }
        }
    }
}

fn contains_break_or_continue(i: &ast::StmtIf) -> bool {
    struct Find(bool);
    impl<'a> Visitor<'a> for Find {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            if matches!(stmt, Stmt::Break(_) | Stmt::Continue(_)) {
                self.0 = true;
            }
            visitor::walk_stmt(self, stmt);
        }
        fn visit_expr(&mut self, _expr: &'a Expr) {}
    }
    let mut f = Find(false);
    f.visit_body(&i.body);
    for c in &i.elif_else_clauses {
        f.visit_body(&c.body);
    }
    f.0
}

/// Names a `for` target binds, for the loop exemption.
pub(super) fn for_target<'a>(f: &'a ast::StmtFor, out: &mut FxHashSet<&'a str>) {
    let mut names = Vec::new();
    target_names(&f.target, &mut names);
    out.extend(names);
}
