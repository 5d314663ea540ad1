//! Statements in a place CPython's compiler refuses though the parser accepts them.
//! pylint reports each, so the reference LintSeq deletes the line; a LintSeq state
//! holding one does not compile. Deleting part of a docstring turns code into string
//! and string into code, which is how `return` lands at module level:
//!
//! | code  | pylint name                 | CPython's error |
//! |-------|-----------------------------|-----------------|
//! | E0104 | return-outside-function     | `'return' outside function` |
//! | E0105 | yield-outside-function      | `'yield' outside function` |
//! | E1142 | await-outside-async         | `'await' outside async function` |
//! | E0117 | nonlocal-without-binding    | `no binding for nonlocal 'x' found` (and at module level) |
//! | E0001 | syntax-error                | `expected 'except' or 'finally' block` (`try`/`else` with no `except`) |

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::{Ranged, TextSize};

use super::{Scope, ScopeKind};
use crate::diagnostics::{LineIndex, LintMessage};
use rustc_hash::FxHashMap;

#[derive(Clone, Copy, PartialEq)]
enum Frame {
    Module,
    Class,
    Function { is_async: bool },
    Lambda,
}

struct Placement<'s, 'a> {
    scopes: &'s [Scope<'a>],
    scope_of: &'s FxHashMap<TextSize, usize>,
    lines: &'s LineIndex,
    /// The enclosing frames, innermost last, each with its scope (lambdas share
    /// the scope around them).
    frames: Vec<(Frame, usize)>,
    out: Vec<LintMessage>,
}

impl Placement<'_, '_> {
    fn report(&mut self, code: &'static str, at: TextSize, message: String) {
        self.out.push(LintMessage {
            code,
            line: self.lines.line_of(at),
            message,
        });
    }

    fn frame(&self) -> (Frame, usize) {
        *self.frames.last().expect("the module frame")
    }

    /// Whether a function scope around `scope` (classes skipped, the module not
    /// counted) binds `name`, or passes it on as its own `nonlocal`.
    fn enclosing_binding(&self, scope: usize, name: &str) -> bool {
        let mut at = self.scopes[scope].parent;
        while let Some(i) = at {
            let s = &self.scopes[i];
            match s.kind {
                ScopeKind::Module => return false,
                ScopeKind::Function if s.bound.contains(name) || s.nonlocals.contains(name) => {
                    return true
                }
                _ => {}
            }
            at = s.parent;
        }
        false
    }

    fn enter(&mut self, frame: Frame, key: TextSize) {
        let scope = self.scope_of.get(&key).copied().unwrap_or(self.frame().1);
        self.frames.push((frame, scope));
    }
}

impl<'a> Visitor<'a> for Placement<'_, 'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(f) => {
                for d in &f.decorator_list {
                    self.visit_expr(&d.expression);
                }
                self.visit_parameters(&f.parameters);
                if let Some(r) = &f.returns {
                    self.visit_expr(r);
                }
                self.enter(
                    Frame::Function {
                        is_async: f.is_async,
                    },
                    f.range.start(),
                );
                self.visit_body(&f.body);
                self.frames.pop();
                return;
            }
            Stmt::ClassDef(c) => {
                for d in &c.decorator_list {
                    self.visit_expr(&d.expression);
                }
                if let Some(args) = &c.arguments {
                    self.visit_arguments(args);
                }
                self.enter(Frame::Class, c.range.start());
                self.visit_body(&c.body);
                self.frames.pop();
                return;
            }
            Stmt::Return(r) if !matches!(self.frame().0, Frame::Function { .. }) => {
                self.report("E0104", r.range.start(), "Return outside function".into());
            }
            Stmt::Nonlocal(n) => {
                let (frame, scope) = self.frame();
                if frame == Frame::Module {
                    self.report(
                        "E0117",
                        n.range.start(),
                        "nonlocal declaration not allowed at module level".into(),
                    );
                } else {
                    for name in &n.names {
                        if !self.enclosing_binding(scope, name.id.as_str()) {
                            self.report(
                                "E0117",
                                n.range.start(),
                                format!("nonlocal name {} found without binding", name.id),
                            );
                        }
                    }
                }
            }
            Stmt::Try(t) if t.handlers.is_empty() && !t.orelse.is_empty() => {
                let at = t.orelse[0].range().start();
                // CPython reports the `else:` line, the line before the block's first
                // statement.
                let line = self.lines.line_of(at).saturating_sub(1).max(1);
                self.out.push(LintMessage {
                    code: "E0001",
                    line,
                    message: "expected 'except' or 'finally' block".into(),
                });
            }
            _ => {}
        }
        visitor::walk_stmt(self, stmt);
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Lambda(l) => {
                if let Some(p) = &l.parameters {
                    self.visit_parameters(p);
                }
                let scope = self.frame().1;
                self.frames.push((Frame::Lambda, scope));
                self.visit_expr(&l.body);
                self.frames.pop();
                return;
            }
            Expr::Yield(ast::ExprYield { range, .. })
            | Expr::YieldFrom(ast::ExprYieldFrom { range, .. })
                if matches!(self.frame().0, Frame::Module | Frame::Class) =>
            {
                self.report("E0105", range.start(), "Yield outside function".into());
            }
            Expr::Await(a) if self.frame().0 != (Frame::Function { is_async: true }) => {
                self.report(
                    "E1142",
                    a.range.start(),
                    "'await' should be used within an async function".into(),
                );
            }
            _ => {}
        }
        visitor::walk_expr(self, expr);
    }
}

/// Appends a message for every statement or expression in a place CPython refuses.
pub(super) fn check(
    body: &[Stmt],
    scopes: &[Scope],
    scope_of: &FxHashMap<TextSize, usize>,
    lines: &LineIndex,
    out: &mut Vec<LintMessage>,
) {
    let mut p = Placement {
        scopes,
        scope_of,
        lines,
        frames: vec![(Frame::Module, 0)],
        out: Vec::new(),
    };
    p.visit_body(body);
    out.append(&mut p.out);
}

#[cfg(test)]
mod tests {
    fn codes(source: &str) -> Vec<(&'static str, u32)> {
        crate::lint::lint(source)
            .into_iter()
            .map(|m| (m.code, m.line))
            .collect()
    }

    #[test]
    fn what_cpython_refuses_to_compile_is_reported_on_its_line() {
        assert_eq!(codes("x = 1\nreturn x\n"), [("E0104", 2)]);
        assert_eq!(codes("class C:\n    yield 1\n"), [("E0105", 2)]);
        assert_eq!(codes("def f(x):\n    await x\n"), [("E1142", 2)]);
        assert_eq!(codes("nonlocal q\n"), [("E0117", 1)]);
        assert_eq!(
            codes("def f():\n    def g():\n        nonlocal q\n        q = 1\n    return g\n"),
            [("E0117", 3)]
        );
        assert_eq!(
            codes(
                "def g(x):\n    try:\n        y = 1 / x\n    else:\n        y = 2\n    \
                 finally:\n        print(1)\n    return y\n"
            ),
            [("E0001", 4)]
        );
    }

    #[test]
    fn what_cpython_compiles_is_clean() {
        for ok in [
            "def f():\n    return 1\n",
            "async def f(x):\n    return [await y for y in x]\n",
            "def f():\n    yield 1\n    g = lambda: (yield)\n    return g\n",
            "def f():\n    x = 1\n    class C:\n        def g(self):\n            nonlocal x\n            x = 2\n    return C\n",
            "def f():\n    x = 0\n    def g():\n        def h():\n            nonlocal x\n            x += 1\n        nonlocal x\n        return h\n    return g\n",
            "def f(x):\n    try:\n        y = 1 / x\n    finally:\n        print(1)\n    return y\n",
        ] {
            assert_eq!(codes(ok), [], "{ok}");
        }
    }
}
