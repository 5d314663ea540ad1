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
//! - an augmented assignment (`x += 1`) does not make `x` defined;
//! - a use inside a loop is fine when the loop binds the name anywhere;
//! - `del x` does not make later uses of `x` errors;
//! - a name bound only in some branches of an `if`/`try`/`match` is E0606 when
//!   used after it; loop bodies count as executed.
//! Function and lambda bodies run later, so their free names only need a
//! binding somewhere in an enclosing function or in the module. Class scopes
//! are skipped when resolving names from nested functions and comprehensions.
//! A star import at module level disables E0602 entirely.

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, ExprContext, Stmt};
use ruff_text_size::TextSize;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::lint::{LineIndex, LintMessage};

const BUILTINS: &[&str] = &[
    "ArithmeticError",
    "AssertionError",
    "AttributeError",
    "BaseException",
    "BaseExceptionGroup",
    "BlockingIOError",
    "BrokenPipeError",
    "BufferError",
    "BytesWarning",
    "ChildProcessError",
    "ConnectionAbortedError",
    "ConnectionError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "DeprecationWarning",
    "EOFError",
    "Ellipsis",
    "EncodingWarning",
    "EnvironmentError",
    "Exception",
    "ExceptionGroup",
    "False",
    "FileExistsError",
    "FileNotFoundError",
    "FloatingPointError",
    "FutureWarning",
    "GeneratorExit",
    "IOError",
    "ImportError",
    "ImportWarning",
    "IndentationError",
    "IndexError",
    "InterruptedError",
    "IsADirectoryError",
    "KeyError",
    "KeyboardInterrupt",
    "LookupError",
    "MemoryError",
    "ModuleNotFoundError",
    "NameError",
    "None",
    "NotADirectoryError",
    "NotImplemented",
    "NotImplementedError",
    "OSError",
    "OverflowError",
    "PendingDeprecationWarning",
    "PermissionError",
    "ProcessLookupError",
    "RecursionError",
    "ReferenceError",
    "ResourceWarning",
    "RuntimeError",
    "RuntimeWarning",
    "StopAsyncIteration",
    "StopIteration",
    "SyntaxError",
    "SyntaxWarning",
    "SystemError",
    "SystemExit",
    "TabError",
    "TimeoutError",
    "True",
    "TypeError",
    "UnboundLocalError",
    "UnicodeDecodeError",
    "UnicodeEncodeError",
    "UnicodeError",
    "UnicodeTranslateError",
    "UnicodeWarning",
    "UserWarning",
    "ValueError",
    "Warning",
    "ZeroDivisionError",
    "__build_class__",
    "__debug__",
    "__doc__",
    "__import__",
    "__loader__",
    "__name__",
    "__package__",
    "__spec__",
    "__file__",
    "__builtins__",
    "__annotations__",
    "__dict__",
    "__path__",
    "__cached__",
    "abs",
    "aiter",
    "all",
    "anext",
    "any",
    "ascii",
    "bin",
    "bool",
    "breakpoint",
    "bytearray",
    "bytes",
    "callable",
    "chr",
    "classmethod",
    "compile",
    "complex",
    "copyright",
    "credits",
    "delattr",
    "dict",
    "dir",
    "divmod",
    "enumerate",
    "eval",
    "exec",
    "exit",
    "filter",
    "float",
    "format",
    "frozenset",
    "getattr",
    "globals",
    "hasattr",
    "hash",
    "help",
    "hex",
    "id",
    "input",
    "int",
    "isinstance",
    "issubclass",
    "iter",
    "len",
    "license",
    "list",
    "locals",
    "map",
    "max",
    "memoryview",
    "min",
    "next",
    "object",
    "oct",
    "open",
    "ord",
    "pow",
    "print",
    "property",
    "quit",
    "range",
    "repr",
    "reversed",
    "round",
    "set",
    "setattr",
    "slice",
    "sorted",
    "staticmethod",
    "str",
    "sum",
    "super",
    "tuple",
    "type",
    "vars",
    "zip",
];

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

/// Pass 1: which names each function/class/module scope binds.
struct Collector<'a> {
    scopes: Vec<Scope<'a>>,
    scope_of: FxHashMap<TextSize, usize>,
    current: usize,
    star_import: bool,
    tmp: Vec<&'a str>,
    /// Whether `x += ...` counts as binding `x` (it makes `x` local, but
    /// does not make a loop-carried use defined for pylint).
    aug_binds: bool,
}

impl<'a> Collector<'a> {
    fn bind_all(&mut self) {
        let cur = self.current;
        for n in self.tmp.drain(..) {
            self.scopes[cur].bound.insert(n);
        }
    }

    fn bind(&mut self, name: &'a str) {
        self.scopes[self.current].bound.insert(name);
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
            Stmt::AugAssign(a) if self.aug_binds => {
                target_names(&a.target, &mut self.tmp);
                self.bind_all();
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
                for n in &g.names {
                    self.scopes[self.current].globals.insert(n.id.as_str());
                    self.scopes[0].bound.insert(n.id.as_str());
                    if self.current != 0 {
                        // Bound when some function runs: order-free at module level.
                        self.scopes[0].globals.insert(n.id.as_str());
                    }
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

/// Which locals of the scope being walked are bound at the current point.
#[derive(Clone, Default)]
struct Flow<'a> {
    definite: FxHashSet<&'a str>,
    possible: FxHashSet<&'a str>,
    /// Names bound somewhere in an enclosing loop body of this scope.
    loop_bound: FxHashSet<&'a str>,
}

impl<'a> Flow<'a> {
    fn bind(&mut self, name: &'a str) {
        self.definite.insert(name);
        self.possible.insert(name);
    }
}

/// A lambda or comprehension between the current statement scope and a name.
struct Frame<'a> {
    names: Vec<&'a str>,
    deferred: bool,
}

/// Pass 2: ordered walk and name resolution.
struct Checker<'a, 'l> {
    scopes: &'l [Scope<'a>],
    scope_of: &'l FxHashMap<TextSize, usize>,
    builtins: FxHashSet<&'static str>,
    star_import: bool,
    current: usize,
    flow: Flow<'a>,
    frames: Vec<Frame<'a>>,
    deferred: Vec<(usize, &'a ast::StmtFunctionDef)>,
    lines: &'l LineIndex,
    messages: Vec<LintMessage>,
    tmp: Vec<&'a str>,
    aug_target: bool,
}

enum Resolution {
    Ok,
    Undefined,
    BeforeAssignment,
    PossiblyBeforeAssignment,
}

impl<'a, 'l> Checker<'a, 'l> {
    fn resolve(&self, name: &str) -> Resolution {
        let mut deferred = false;
        for frame in self.frames.iter().rev() {
            if frame.names.contains(&name) {
                return Resolution::Ok;
            }
            deferred |= frame.deferred;
        }
        let scope = &self.scopes[self.current];
        let in_nested = !self.frames.is_empty();
        if scope.kind == ScopeKind::Module && scope.globals.contains(name) {
            return Resolution::Ok;
        }
        if scope.globals.contains(name) {
            return self.resolve_module_or_builtin(name);
        }
        if scope.nonlocals.contains(name) {
            return Resolution::Ok;
        }
        let class_hidden = in_nested && scope.kind == ScopeKind::Class;
        if !class_hidden && scope.bound.contains(name) {
            if deferred || self.flow.definite.contains(name) || self.flow.loop_bound.contains(name)
            {
                return Resolution::Ok;
            }
            if self.flow.possible.contains(name) {
                return Resolution::PossiblyBeforeAssignment;
            }
            return Resolution::BeforeAssignment;
        }
        let mut parent = scope.parent;
        while let Some(p) = parent {
            let s = &self.scopes[p];
            match s.kind {
                ScopeKind::Class => {}
                ScopeKind::Function => {
                    if s.bound.contains(name)
                        || s.nonlocals.contains(name)
                        || s.globals.contains(name)
                    {
                        return Resolution::Ok;
                    }
                }
                ScopeKind::Module => {
                    if s.bound.contains(name) {
                        return Resolution::Ok;
                    }
                }
            }
            parent = s.parent;
        }
        self.resolve_builtin(name)
    }

    fn resolve_module_or_builtin(&self, name: &str) -> Resolution {
        if self.scopes[0].bound.contains(name) {
            Resolution::Ok
        } else {
            self.resolve_builtin(name)
        }
    }

    fn resolve_builtin(&self, name: &str) -> Resolution {
        if self.builtins.contains(name) || self.star_import {
            Resolution::Ok
        } else {
            Resolution::Undefined
        }
    }

    fn load(&mut self, name: &'a str, at: TextSize) {
        let (code, message) = match self.resolve(name) {
            Resolution::Ok => return,
            Resolution::Undefined => ("E0602", format!("Undefined variable '{name}'")),
            Resolution::BeforeAssignment if self.aug_target => {
                ("E0602", format!("Undefined variable '{name}'"))
            }
            Resolution::BeforeAssignment => (
                "E0601",
                format!("Using variable '{name}' before assignment"),
            ),
            Resolution::PossiblyBeforeAssignment => (
                "E0606",
                format!("Possibly using variable '{name}' before assignment"),
            ),
        };
        self.messages.push(LintMessage {
            code,
            line: self.lines.line_of(at),
            message,
        });
    }

    fn bind_target(&mut self, target: &'a Expr) {
        target_names(target, &mut self.tmp);
        for n in std::mem::take(&mut self.tmp) {
            self.flow.bind(n);
        }
    }

    /// Walks a body; returns whether every path through it leaves the block
    /// (return, raise, break, continue).
    fn body(&mut self, stmts: &'a [Stmt]) -> bool {
        for s in stmts {
            if self.stmt(s) {
                return true;
            }
        }
        false
    }

    /// Runs `branches` from the current state and merges their outcomes like
    /// alternative control-flow paths. `exhaustive` is false when control can
    /// also skip every branch (an `if` without `else`).
    fn branches(&mut self, branches: &[(Vec<&'a str>, &'a [Stmt])], exhaustive: bool) -> bool {
        let before = self.flow.clone();
        let mut live: Vec<FxHashSet<&'a str>> = Vec::new();
        let mut possible = before.possible.clone();
        for (prebound, b) in branches {
            self.flow = before.clone();
            for n in prebound {
                self.flow.bind(n);
            }
            let terminated = self.body(b);
            possible.extend(self.flow.possible.iter().copied());
            if !terminated {
                live.push(std::mem::take(&mut self.flow.definite));
            }
        }
        if !exhaustive {
            live.push(before.definite.clone());
        }
        let all_terminated = live.is_empty();
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
            loop_bound: before.loop_bound,
        };
        all_terminated
    }

    fn loop_body(&mut self, body: &'a [Stmt], orelse: &'a [Stmt]) {
        let saved_loop = self.flow.loop_bound.clone();
        let mut c = Collector {
            scopes: vec![Scope::new(ScopeKind::Function, None)],
            scope_of: FxHashMap::default(),
            current: 0,
            star_import: false,
            tmp: Vec::new(),
            aug_binds: false,
        };
        c.visit_body(body);
        self.flow
            .loop_bound
            .extend(c.scopes[0].bound.iter().copied());
        let before_definite = self.flow.definite.clone();
        self.body(body);
        // Pylint treats a loop body as executed: what it binds stays bound.
        let after_body = std::mem::take(&mut self.flow.definite);
        self.flow.definite = before_definite.union(&after_body).copied().collect();
        self.flow.loop_bound = saved_loop;
        self.body(orelse);
    }

    fn stmt(&mut self, stmt: &'a Stmt) -> bool {
        match stmt {
            Stmt::FunctionDef(f) => {
                for d in &f.decorator_list {
                    self.visit_expr(&d.expression);
                }
                self.parameters_outer(&f.parameters);
                if let Some(r) = &f.returns {
                    self.visit_expr(r);
                }
                self.flow.bind(f.name.id.as_str());
                if let Some(&idx) = self.scope_of.get(&f.range.start()) {
                    self.deferred.push((idx, f));
                }
            }
            Stmt::ClassDef(c) => {
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
                    self.current = idx;
                    self.body(&c.body);
                    self.current = saved_scope;
                    self.flow = saved_flow;
                }
                self.flow.bind(c.name.id.as_str());
            }
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
            Stmt::Break(_) | Stmt::Continue(_) => return true,
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
                self.visit_expr(&a.annotation);
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
                self.loop_body(&f.body, &f.orelse);
            }
            Stmt::While(w) => {
                self.visit_expr(&w.test);
                self.loop_body(&w.body, &w.orelse);
            }
            Stmt::If(i) => {
                self.visit_expr(&i.test);
                let mut bodies: Vec<(Vec<&'a str>, &'a [Stmt])> = vec![(Vec::new(), &i.body)];
                let mut exhaustive = false;
                for clause in &i.elif_else_clauses {
                    match &clause.test {
                        Some(t) => self.visit_expr(t),
                        None => exhaustive = true,
                    }
                    bodies.push((Vec::new(), &clause.body));
                }
                return self.branches(&bodies, exhaustive);
            }
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
            Stmt::Match(m) => {
                self.visit_expr(&m.subject);
                let before = self.flow.clone();
                let mut exhaustive = false;
                let mut bodies: Vec<(Vec<&'a str>, &'a [Stmt])> = Vec::new();
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
                    bodies.push((captures, &case.body));
                }
                return self.branches(&bodies, exhaustive);
            }
            Stmt::Try(t) => {
                let before = self.flow.clone();
                let body_terminated = self.body(&t.body);
                let mut main_terminated = body_terminated;
                if !body_terminated {
                    main_terminated = self.body(&t.orelse);
                }
                let main = std::mem::replace(&mut self.flow, before.clone());
                let mut live: Vec<FxHashSet<&'a str>> = Vec::new();
                let mut possible = main.possible.clone();
                if !main_terminated {
                    live.push(main.definite.clone());
                }
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
                let all_terminated = live.is_empty();
                let definite = match live.split_first() {
                    None => main.definite.clone(),
                    Some((first, rest)) => first
                        .iter()
                        .copied()
                        .filter(|n| rest.iter().all(|s| s.contains(n)))
                        .collect(),
                };
                self.flow = Flow {
                    definite,
                    possible,
                    loop_bound: before.loop_bound,
                };
                let final_terminated = self.body(&t.finalbody);
                return all_terminated || final_terminated;
            }
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
                    if !matches!(t, Expr::Name(_)) {
                        self.visit_expr(t);
                    }
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

    /// Defaults and annotations of a signature are evaluated in the enclosing scope.
    fn parameters_outer(&mut self, params: &'a ast::Parameters) {
        for p in params
            .posonlyargs
            .iter()
            .chain(&params.args)
            .chain(&params.kwonlyargs)
        {
            if let Some(d) = &p.default {
                self.visit_expr(d);
            }
            if let Some(a) = &p.parameter.annotation {
                self.visit_expr(a);
            }
        }
        for p in params.vararg.iter().chain(params.kwarg.iter()) {
            if let Some(a) = &p.annotation {
                self.visit_expr(a);
            }
        }
    }

    fn comprehension(&mut self, generators: &'a [ast::Comprehension], elts: &[&'a Expr]) {
        let Some((first, _)) = generators.split_first() else {
            return;
        };
        self.visit_expr(&first.iter);
        let mut names = Vec::new();
        for g in generators {
            target_names(&g.target, &mut names);
        }
        self.frames.push(Frame {
            names,
            deferred: false,
        });
        for (i, g) in generators.iter().enumerate() {
            if i > 0 {
                self.visit_expr(&g.iter);
            }
            for cond in &g.ifs {
                self.visit_expr(cond);
            }
        }
        for e in elts {
            self.visit_expr(e);
        }
        self.frames.pop();
    }
}

impl<'a> Visitor<'a> for Checker<'a, '_> {
    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Name(n) => {
                if n.ctx == ExprContext::Load {
                    self.load(n.id.as_str(), n.range.start());
                }
            }
            Expr::Named(n) => {
                self.visit_expr(&n.value);
                if self.frames.is_empty() {
                    self.bind_target(&n.target);
                } else if let Expr::Name(t) = n.target.as_ref() {
                    // Binds in the enclosing scope; visible from here on.
                    self.flow.bind(t.id.as_str());
                    if let Some(f) = self.frames.last_mut() {
                        f.names.push(t.id.as_str());
                    }
                }
            }
            Expr::Lambda(l) => {
                let mut names = Vec::new();
                if let Some(p) = &l.parameters {
                    self.parameters_outer(p);
                    parameter_names(p, &mut names);
                }
                self.frames.push(Frame {
                    names,
                    deferred: true,
                });
                self.visit_expr(&l.body);
                self.frames.pop();
            }
            Expr::ListComp(c) => self.comprehension(&c.generators, &[&c.elt]),
            Expr::SetComp(c) => self.comprehension(&c.generators, &[&c.elt]),
            Expr::Generator(c) => self.comprehension(&c.generators, &[&c.elt]),
            Expr::DictComp(c) => {
                let mut elts: Vec<&'a Expr> = c.key.as_deref().into_iter().collect();
                elts.push(&c.value);
                self.comprehension(&c.generators, &elts)
            }
            _ => visitor::walk_expr(self, expr),
        }
    }
}

/// Runs both passes over a parsed module and appends the messages.
pub(crate) fn check_names(module: &ast::ModModule, lines: &LineIndex, out: &mut Vec<LintMessage>) {
    let mut collector = Collector {
        scopes: vec![Scope::new(ScopeKind::Module, None)],
        scope_of: FxHashMap::default(),
        current: 0,
        star_import: false,
        tmp: Vec::new(),
        aug_binds: true,
    };
    collector.visit_body(&module.body);
    let mut checker = Checker {
        scopes: &collector.scopes,
        scope_of: &collector.scope_of,
        builtins: BUILTINS.iter().copied().collect(),
        star_import: collector.star_import,
        current: 0,
        flow: Flow::default(),
        frames: Vec::new(),
        deferred: Vec::new(),
        lines,
        messages: Vec::new(),
        tmp: Vec::new(),
        aug_target: false,
    };
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
