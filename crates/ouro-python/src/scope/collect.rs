//! Pass 1: which names each function, class and module scope binds,
//! flow-insensitively (Python decides locality before running anything).

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::TextSize;
use rustc_hash::FxHashMap;

use super::{alias_binding, parameter_names, pattern_names, target_names, Scope, ScopeKind};

/// Pass 1: which names each function/class/module scope binds.
pub(super) struct Collector<'a> {
    pub(super) scopes: Vec<Scope<'a>>,
    pub(super) scope_of: FxHashMap<TextSize, usize>,
    current: usize,
    pub(super) star_import: bool,
    tmp: Vec<&'a str>,
    /// Whether `x += ...` counts as binding `x` (it makes `x` local, but
    /// does not make a loop-carried use defined for pylint).
    aug_binds: bool,
    /// Leave out bindings under an `if` that pylint calls uncertain
    /// (see `guards`).
    pub(super) skip_uncertain_ifs: bool,
}

impl<'a> Collector<'a> {
    /// A collector whose outermost scope is of `kind`. `aug_binds`: see the field.
    pub(super) fn new(kind: ScopeKind, aug_binds: bool) -> Self {
        Collector {
            scopes: vec![Scope::new(kind, None)],
            scope_of: FxHashMap::default(),
            current: 0,
            star_import: false,
            tmp: Vec::new(),
            aug_binds,
            skip_uncertain_ifs: false,
        }
    }

    fn bind_all(&mut self) {
        let names: Vec<&'a str> = self.tmp.drain(..).collect();
        for n in names {
            self.bind(n);
        }
    }

    /// A binding in the current scope; of the module's name where the current
    /// function declares it `global` (`global x` then `x = 1`: order-free at module
    /// level, as it is bound when some function runs).
    fn bind(&mut self, name: &'a str) {
        let cur = self.current;
        self.scopes[cur].bound.insert(name);
        if cur != 0 && self.scopes[cur].globals.contains(name) {
            self.scopes[0].bound.insert(name);
            self.scopes[0].globals.insert(name);
        }
    }

    fn enter(&mut self, kind: ScopeKind, key: TextSize) -> usize {
        let parent = self.current;
        self.scopes.push(Scope::new(kind, Some(parent)));
        let idx = self.scopes.len() - 1;
        self.scope_of.insert(key, idx);
        self.current = idx;
        parent
    }
}

impl<'a> Visitor<'a> for Collector<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(f) => {
                self.bind(f.name.id.as_str());
                for d in &f.decorator_list {
                    self.visit_expr(&d.expression);
                }
                let parent = self.enter(ScopeKind::Function, f.range.start());
                parameter_names(&f.parameters, &mut self.tmp);
                self.bind_all();
                self.visit_body(&f.body);
                self.current = parent;
                return;
            }
            Stmt::ClassDef(c) => {
                self.bind(c.name.id.as_str());
                let parent = self.enter(ScopeKind::Class, c.range.start());
                self.visit_body(&c.body);
                self.current = parent;
                return;
            }
            Stmt::Assign(a) => {
                for t in &a.targets {
                    target_names(t, &mut self.tmp);
                }
                self.bind_all();
            }
            Stmt::If(i) if self.skip_uncertain_ifs => {
                self.visit_expr(&i.test);
                for c in &i.elif_else_clauses {
                    if let Some(t) = &c.test {
                        self.visit_expr(t);
                    }
                }
                for n in super::guards::certain_if_bindings(i) {
                    self.bind(n);
                }
                return;
            }
            Stmt::AugAssign(a) if self.aug_binds => {
                target_names(&a.target, &mut self.tmp);
                // `global x` then `x += 1` reads the module's x first: no binding of it
                // (pylint's E0602 where the module never binds x).
                let cur = self.current;
                for n in self.tmp.drain(..) {
                    self.scopes[cur].bound.insert(n);
                }
            }
            Stmt::AnnAssign(a) => {
                target_names(&a.target, &mut self.tmp);
                self.bind_all();
            }
            Stmt::For(f) => {
                target_names(&f.target, &mut self.tmp);
                self.bind_all();
            }
            Stmt::With(w) => {
                for item in &w.items {
                    if let Some(v) = &item.optional_vars {
                        target_names(v, &mut self.tmp);
                    }
                }
                self.bind_all();
            }
            Stmt::Delete(d) => {
                for t in &d.targets {
                    target_names(t, &mut self.tmp);
                }
                self.bind_all();
            }
            Stmt::Import(i) => {
                for a in &i.names {
                    self.bind(alias_binding(a));
                }
            }
            Stmt::ImportFrom(i) => {
                for a in &i.names {
                    if a.name.id.as_str() == "*" {
                        self.star_import = true;
                    } else {
                        self.bind(alias_binding(a));
                    }
                }
            }
            Stmt::Global(g) => {
                // The declaration binds nothing: an assignment after it does (`bind`).
                for n in &g.names {
                    self.scopes[self.current].globals.insert(n.id.as_str());
                }
            }
            Stmt::Nonlocal(g) => {
                for n in &g.names {
                    self.scopes[self.current].nonlocals.insert(n.id.as_str());
                }
            }
            Stmt::Try(t) => {
                for h in &t.handlers {
                    let ast::ExceptHandler::ExceptHandler(h) = h;
                    if let Some(n) = &h.name {
                        self.bind(n.id.as_str());
                    }
                }
            }
            Stmt::Match(m) => {
                for c in &m.cases {
                    pattern_names(&c.pattern, &mut self.tmp);
                }
                self.bind_all();
            }
            _ => {}
        }
        visitor::walk_stmt(self, stmt);
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Named(n) => {
                target_names(&n.target, &mut self.tmp);
                self.bind_all();
                self.visit_expr(&n.value);
            }
            Expr::Lambda(_) => {}
            _ => visitor::walk_expr(self, expr),
        }
    }
}
