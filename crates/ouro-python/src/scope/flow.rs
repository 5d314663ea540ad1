//! Pass 2, statements: the ordered walk of a scope's body, tracking which
//! locals are definitely or possibly bound on every path.

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::Ranged;
use rustc_hash::FxHashSet;

use super::check::{Checker, Flow};
use super::{alias_binding, guards, pattern_names, ScopeKind};

/// A branch: names bound on entry, names exempted inside it, its body.
type Branch<'a> = (Vec<&'a str>, Vec<&'a str>, &'a [Stmt]);

impl<'a> Checker<'a, '_> {
    /// Walks a body; returns whether every path through it leaves the block
    /// (return, raise, break, continue).
    pub(super) fn body(&mut self, stmts: &'a [Stmt]) -> bool {
        let mut terminated = false;
        for s in stmts {
            // Unreachable statements are still checked, as pylint does.
            terminated |= self.stmt(s);
        }
        terminated
    }

    /// Runs `branches` from the current state and merges their outcomes like
    /// alternative control-flow paths. `exhaustive` is false when control can
    /// also skip every branch (an `if` without `else`).
    /// Each branch is (names bound on entry, names exempted inside, body).
    fn branches(&mut self, branches: &[Branch<'a>], exhaustive: bool) -> bool {
        let before = self.flow.clone();
        let mut live: Vec<FxHashSet<&'a str>> = Vec::new();
        let mut possible = before.possible.clone();
        for (prebound, exempt, b) in branches {
            self.flow = before.clone();
            for n in prebound {
                self.flow.bind(n);
            }
            self.flow.loop_bound.extend(exempt.iter().copied());
            let terminated = self.body(b);
            possible.extend(self.flow.possible.iter().copied());
            if !terminated {
                live.push(std::mem::take(&mut self.flow.definite));
            }
        }
        if !exhaustive {
            live.push(before.definite.clone());
        }
        self.merge_paths(before, live, possible)
    }

    /// Joins alternative paths: a name is definitely bound after them when
    /// it is on every path that goes on (`live`), possibly bound when on any.
    /// When no path goes on, the state before them stands. Returns whether
    /// every path left the block.
    fn merge_paths(
        &mut self,
        before: Flow<'a>,
        live: Vec<FxHashSet<&'a str>>,
        possible: FxHashSet<&'a str>,
    ) -> bool {
        let definite = match live.split_first() {
            None => before.definite.clone(),
            Some((first, rest)) => first
                .iter()
                .copied()
                .filter(|n| rest.iter().all(|s| s.contains(n)))
                .collect(),
        };
        self.flow = Flow {
            definite,
            possible,
            ..before
        };
        live.is_empty()
    }

    fn in_function(&self) -> bool {
        self.scopes[self.current].kind == ScopeKind::Function
    }

    /// `for_stmt` is the loop when it is a `for` (pylint exempts names a
    /// `for` binds; see `guards`), `None` for `while`.
    fn loop_body(
        &mut self,
        body: &'a [Stmt],
        orelse: &'a [Stmt],
        for_stmt: Option<&'a ast::StmtFor>,
    ) {
        let saved = (
            self.flow.loop_bound.clone(),
            self.flow.loop_uncertain.clone(),
        );
        let exempt = for_stmt.filter(|_| self.in_function());
        if let Some(f) = exempt {
            let mut certain = guards::bindings(body, true);
            certain.extend(guards::bindings(orelse, true));
            guards::for_target(f, &mut certain);
            let mut all = guards::bindings(body, false);
            all.extend(guards::bindings(orelse, false));
            self.flow
                .loop_uncertain
                .extend(all.into_iter().filter(|n| !certain.contains(n)));
            self.flow.loop_bound.extend(certain);
            self.for_depth += 1;
        }
        let before_definite = self.flow.definite.clone();
        self.loop_depth += 1;
        self.body(body);
        self.loop_depth -= 1;
        // Pylint treats a loop body as executed: what it binds stays bound.
        let after_body = std::mem::take(&mut self.flow.definite);
        self.flow.definite = before_definite.union(&after_body).copied().collect();
        self.body(orelse);
        if exempt.is_some() {
            self.for_depth -= 1;
        }
        (self.flow.loop_bound, self.flow.loop_uncertain) = saved;
    }

    /// Decorators, defaults and annotations run now; the body is checked
    /// later (deferred), when the names it can see are all bound.
    fn function_def(&mut self, f: &'a ast::StmtFunctionDef) {
        for d in &f.decorator_list {
            self.visit_expr(&d.expression);
        }
        self.parameters_outer(&f.parameters);
        if let Some(r) = &f.returns {
            self.annotation(r);
        }
        self.flow.bind(f.name.id.as_str());
        if let Some(&idx) = self.scope_of.get(&f.range.start()) {
            self.deferred.push((idx, f));
        }
    }

    /// `del x` reads `x` (it raises NameError when unbound): pylint checks it as a
    /// use, and a name not bound before it is E0602 even if bound later, as for an
    /// augmented assignment. What `del x` leaves (an unbound `x`) is not tracked.
    fn delete_target(&mut self, target: &'a Expr) {
        match target {
            Expr::Name(n) => {
                self.aug_target = true;
                self.load(n.id.as_str(), n.range.start());
                self.aug_target = false;
            }
            Expr::Tuple(t) => t.elts.iter().for_each(|e| self.delete_target(e)),
            Expr::List(l) => l.elts.iter().for_each(|e| self.delete_target(e)),
            other => self.visit_expr(other),
        }
    }

    /// A class body runs at definition time, in its own scope and flow.
    fn class_def(&mut self, c: &'a ast::StmtClassDef) {
        for d in &c.decorator_list {
            self.visit_expr(&d.expression);
        }
        if let Some(args) = &c.arguments {
            for a in args.args.iter() {
                self.visit_expr(a);
            }
            for k in args.keywords.iter() {
                self.visit_expr(&k.value);
            }
        }
        if let Some(&idx) = self.scope_of.get(&c.range.start()) {
            let saved_scope = self.current;
            let saved_flow = std::mem::take(&mut self.flow);
            let saved_depths = (self.for_depth, self.loop_depth);
            (self.for_depth, self.loop_depth) = (0, 0);
            self.current = idx;
            self.defining.push(c.name.id.as_str());
            self.body(&c.body);
            self.defining.pop();
            self.current = saved_scope;
            self.flow = saved_flow;
            (self.for_depth, self.loop_depth) = saved_depths;
        }
        self.flow.bind(c.name.id.as_str());
    }

    /// Each case binds its captures, then its body is one branch.
    fn match_stmt(&mut self, m: &'a ast::StmtMatch) -> bool {
        self.visit_expr(&m.subject);
        let before = self.flow.clone();
        let mut exhaustive = false;
        let mut bodies: Vec<Branch<'a>> = Vec::new();
        for case in &m.cases {
            let mut captures = Vec::new();
            pattern_names(&case.pattern, &mut captures);
            for n in &captures {
                self.flow.bind(n);
            }
            struct PatternExprs<'c, 'a, 'l>(&'c mut Checker<'a, 'l>);
            impl<'a> Visitor<'a> for PatternExprs<'_, 'a, '_> {
                fn visit_expr(&mut self, expr: &'a Expr) {
                    self.0.visit_expr(expr);
                }
            }
            visitor::walk_pattern(&mut PatternExprs(self), &case.pattern);
            if let Some(g) = &case.guard {
                self.visit_expr(g);
            }
            if case.guard.is_none() && case.pattern.is_irrefutable() {
                exhaustive = true;
            }
            self.flow = before.clone();
            bodies.push((captures, Vec::new(), &case.body));
        }
        self.branches(&bodies, exhaustive)
    }

    /// An `if`/`elif`/`else` chain. Inside a function, a use in the chain
    /// accepts names the `if`/`elif` bodies around it assign directly, and
    /// inside a `for`, names the chain binds for certain (see `guards`).
    fn if_stmt(&mut self, i: &'a ast::StmtIf) -> bool {
        let function = self.in_function();
        let saved = (
            self.flow.loop_bound.clone(),
            self.flow.loop_uncertain.clone(),
        );
        if function && self.for_depth > 0 {
            // For a use inside this `if`, pylint judges the `if`s nested in
            // it, not this one: names bound only under an uncertain nested
            // `if` lose the exemption even when this `if` made them certain
            // for the rest of the loop (by a `break`, say).
            let mut certain = FxHashSet::default();
            let mut all = FxHashSet::default();
            for body in std::iter::once(&i.body).chain(i.elif_else_clauses.iter().map(|c| &c.body))
            {
                certain.extend(guards::bindings(body, true));
                all.extend(guards::bindings(body, false));
            }
            for n in all.into_iter().filter(|n| !certain.contains(n)) {
                self.flow.loop_bound.remove(n);
                self.flow.loop_uncertain.insert(n);
            }
            self.flow.loop_bound.extend(certain);
        }
        let mut assigned = Vec::new();
        if function {
            guards::direct_assigns(&i.body, &mut assigned);
        }
        self.visit_guarded(&i.test, &assigned);
        let mut branches: Vec<Branch<'a>> = vec![(Vec::new(), assigned.clone(), &i.body)];
        let mut exhaustive = false;
        for clause in &i.elif_else_clauses {
            match &clause.test {
                Some(t) => {
                    if function {
                        guards::direct_assigns(&clause.body, &mut assigned);
                    }
                    self.visit_guarded(t, &assigned);
                }
                None => exhaustive = true,
            }
            branches.push((Vec::new(), assigned.clone(), &clause.body));
        }
        let terminated = self.branches(&branches, exhaustive);
        (self.flow.loop_bound, self.flow.loop_uncertain) = saved;
        terminated
    }

    /// Walked in pylint's order (body, handlers, `else`, `finally`): only the
    /// first use of a name is checked.
    fn try_stmt(&mut self, t: &'a ast::StmtTry) -> bool {
        let before = self.flow.clone();
        let body_terminated = self.body(&t.body);
        let main = std::mem::replace(&mut self.flow, before.clone());
        let mut live: Vec<FxHashSet<&'a str>> = Vec::new();
        let mut possible = main.possible.clone();
        for h in &t.handlers {
            let ast::ExceptHandler::ExceptHandler(h) = h;
            // A handler may run after any prefix of the body.
            self.flow = before.clone();
            self.flow.possible.extend(main.possible.iter().copied());
            if let Some(ty) = &h.type_ {
                self.visit_expr(ty);
            }
            if let Some(n) = &h.name {
                self.flow.bind(n.id.as_str());
            }
            let terminated = self.body(&h.body);
            possible.extend(self.flow.possible.iter().copied());
            if !terminated {
                live.push(std::mem::take(&mut self.flow.definite));
            }
        }
        self.flow = main;
        let main_terminated = self.body(&t.orelse) || body_terminated;
        possible.extend(self.flow.possible.iter().copied());
        if !main_terminated {
            live.push(std::mem::take(&mut self.flow.definite));
        }
        let all_terminated = self.merge_paths(before, live, possible);
        let final_terminated = self.body(&t.finalbody);
        all_terminated || final_terminated
    }

    fn visit_guarded(&mut self, test: &'a Expr, exempt: &[&'a str]) {
        let saved = self.flow.loop_bound.clone();
        self.flow.loop_bound.extend(exempt.iter().copied());
        self.visit_expr(test);
        self.flow.loop_bound = saved;
    }

    fn stmt(&mut self, stmt: &'a Stmt) -> bool {
        match stmt {
            Stmt::FunctionDef(f) => self.function_def(f),
            Stmt::ClassDef(c) => self.class_def(c),
            Stmt::Return(r) => {
                if let Some(v) = &r.value {
                    self.visit_expr(v);
                }
                return true;
            }
            Stmt::Raise(r) => {
                if let Some(e) = &r.exc {
                    self.visit_expr(e);
                }
                if let Some(c) = &r.cause {
                    self.visit_expr(c);
                }
                return true;
            }
            Stmt::Break(_) | Stmt::Continue(_) => {
                if self.loop_depth == 0 {
                    let word = if matches!(stmt, Stmt::Break(_)) {
                        "break"
                    } else {
                        "continue"
                    };
                    self.message(
                        "E0103",
                        stmt.start(),
                        format!("'{word}' not properly in loop"),
                    );
                }
                return true;
            }
            Stmt::Assign(a) => {
                self.visit_expr(&a.value);
                for t in &a.targets {
                    self.visit_expr(t);
                }
                for t in &a.targets {
                    self.bind_target(t);
                }
            }
            Stmt::AugAssign(a) => {
                self.visit_expr(&a.value);
                if let Expr::Name(n) = a.target.as_ref() {
                    // pylint calls an augmented assignment of a never-bound
                    // name undefined rather than used-before-assignment.
                    self.aug_target = true;
                    self.load(n.id.as_str(), n.range.start());
                    self.aug_target = false;
                    self.flow.bind(n.id.as_str());
                } else {
                    self.visit_expr(&a.target);
                }
            }
            Stmt::AnnAssign(a) => {
                self.annotation(&a.annotation);
                if let Some(v) = &a.value {
                    self.visit_expr(v);
                    self.visit_expr(&a.target);
                    self.bind_target(&a.target);
                } else if !matches!(a.target.as_ref(), Expr::Name(_)) {
                    self.visit_expr(&a.target);
                }
            }
            Stmt::For(f) => {
                self.visit_expr(&f.iter);
                self.visit_expr(&f.target);
                self.bind_target(&f.target);
                self.loop_body(&f.body, &f.orelse, Some(f));
            }
            Stmt::While(w) => {
                self.visit_expr(&w.test);
                self.loop_body(&w.body, &w.orelse, None);
            }
            Stmt::If(i) => return self.if_stmt(i),
            Stmt::With(w) => {
                for item in &w.items {
                    self.visit_expr(&item.context_expr);
                    if let Some(v) = &item.optional_vars {
                        self.visit_expr(v);
                        self.bind_target(v);
                    }
                }
                return self.body(&w.body);
            }
            Stmt::Match(m) => return self.match_stmt(m),
            Stmt::Try(t) => return self.try_stmt(t),
            Stmt::Import(i) => {
                for a in &i.names {
                    self.flow.bind(alias_binding(a));
                }
            }
            Stmt::ImportFrom(i) => {
                for a in &i.names {
                    if a.name.id.as_str() != "*" {
                        self.flow.bind(alias_binding(a));
                    }
                }
            }
            Stmt::Delete(d) => {
                for t in &d.targets {
                    self.delete_target(t);
                }
            }
            Stmt::Global(_)
            | Stmt::Nonlocal(_)
            | Stmt::Pass(_)
            | Stmt::TypeAlias(_)
            | Stmt::IpyEscapeCommand(_) => {}
            Stmt::Expr(e) => self.visit_expr(&e.value),
            Stmt::Assert(a) => {
                self.visit_expr(&a.test);
                if let Some(m) = &a.msg {
                    self.visit_expr(m);
                }
            }
        }
        false
    }
}
