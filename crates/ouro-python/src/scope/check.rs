//! Pass 2, expressions: the checker's state, name resolution and the
//! messages it reports. Statements (the control flow) are in `flow`.

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, ExprContext};
use ruff_text_size::TextSize;
use rustc_hash::{FxHashMap, FxHashSet};

use super::builtins::BUILTINS;
use super::{parameter_names, target_names, Scope, ScopeKind};
use crate::diagnostics::{LineIndex, LintMessage};

/// Which locals of the scope being walked are bound at the current point.
#[derive(Clone, Default)]
pub(super) struct Flow<'a> {
    pub(super) definite: FxHashSet<&'a str>,
    pub(super) possible: FxHashSet<&'a str>,
    /// Names pylint's loop and `if` exemptions accept here (see `guards`).
    pub(super) loop_bound: FxHashSet<&'a str>,
    /// Names an enclosing `for` binds only under uncertain `if`s (E0606).
    pub(super) loop_uncertain: FxHashSet<&'a str>,
}

impl<'a> Flow<'a> {
    pub(super) fn bind(&mut self, name: &'a str) {
        self.definite.insert(name);
        self.possible.insert(name);
    }
}

/// A lambda or comprehension between the current statement scope and a name.
pub(super) struct Frame<'a> {
    names: Vec<&'a str>,
    deferred: bool,
}

/// Pass 2: ordered walk and name resolution.
pub(super) struct Checker<'a, 'l> {
    pub(super) scopes: &'l [Scope<'a>],
    pub(super) scope_of: &'l FxHashMap<TextSize, usize>,
    pub(super) builtins: FxHashSet<&'static str>,
    pub(super) star_import: bool,
    pub(super) current: usize,
    pub(super) flow: Flow<'a>,
    pub(super) frames: Vec<Frame<'a>>,
    pub(super) deferred: Vec<(usize, &'a ast::StmtFunctionDef)>,
    pub(super) lines: &'l LineIndex,
    pub(super) messages: Vec<LintMessage>,
    pub(super) tmp: Vec<&'a str>,
    pub(super) aug_target: bool,
    /// (scope, name) pairs already looked up: pylint checks only the first
    /// use of a local name in each scope (`NamesConsumer.consumed`).
    pub(super) consumed: FxHashSet<(usize, &'a str)>,
    /// Enclosing `for` loops of the scope walked (the loop exemption).
    pub(super) for_depth: u32,
    /// Enclosing loops of the scope walked (E0103).
    pub(super) loop_depth: u32,
    /// [`crate::diagnostics::Semantics::Strict`]: every use is checked and the loop
    /// exemption is off.
    pub(super) strict: bool,
    /// Classes whose bodies are being walked, innermost last: their names are not
    /// bound until the body has run (pylint E0602 on a use in it).
    pub(super) defining: Vec<&'a str>,
    /// Walking an annotation, and the module has `from __future__ import
    /// annotations` (annotations are then never evaluated).
    pub(super) in_annotation: bool,
    pub(super) postponed_annotations: bool,
}

enum Resolution {
    Ok,
    Undefined,
    BeforeAssignment,
    PossiblyBeforeAssignment,
}

impl<'a, 'l> Checker<'a, 'l> {
    pub(super) fn new(
        scopes: &'l [Scope<'a>],
        scope_of: &'l FxHashMap<TextSize, usize>,
        star_import: bool,
        lines: &'l LineIndex,
    ) -> Self {
        Checker {
            scopes,
            scope_of,
            builtins: BUILTINS.iter().copied().collect(),
            star_import,
            current: 0,
            flow: Flow::default(),
            frames: Vec::new(),
            deferred: Vec::new(),
            lines,
            messages: Vec::new(),
            tmp: Vec::new(),
            aug_target: false,
            consumed: FxHashSet::default(),
            for_depth: 0,
            loop_depth: 0,
            strict: false,
            defining: Vec::new(),
            in_annotation: false,
            postponed_annotations: false,
        }
    }

    fn resolve(&mut self, name: &'a str) -> Resolution {
        let mut deferred = false;
        for frame in self.frames.iter().rev() {
            if frame.names.contains(&name) {
                return Resolution::Ok;
            }
            deferred |= frame.deferred;
        }
        let scopes = self.scopes;
        let scope = &scopes[self.current];
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
            if !self.consumed.insert((self.current, name)) && !self.strict {
                return Resolution::Ok;
            }
            let loop_exempt = !self.strict && self.flow.loop_bound.contains(name);
            if deferred || self.flow.definite.contains(name) || loop_exempt {
                return Resolution::Ok;
            }
            let loop_uncertain = !self.strict && self.flow.loop_uncertain.contains(name);
            if self.flow.possible.contains(name) || loop_uncertain {
                return Resolution::PossiblyBeforeAssignment;
            }
            return Resolution::BeforeAssignment;
        }
        // A class's own name, used while its body runs (a class attribute, a method's
        // default or annotation), is bound only once the body is done: NameError.
        if !deferred
            && self.defining.contains(&name)
            && !(self.in_annotation && self.postponed_annotations)
        {
            return Resolution::Undefined;
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

    pub(super) fn message(&mut self, code: &'static str, at: TextSize, message: String) {
        self.messages.push(LintMessage {
            code,
            line: self.lines.line_of(at),
            message,
        });
    }

    pub(super) fn load(&mut self, name: &'a str, at: TextSize) {
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
        self.message(code, at, message);
    }

    pub(super) fn bind_target(&mut self, target: &'a Expr) {
        target_names(target, &mut self.tmp);
        for n in std::mem::take(&mut self.tmp) {
            self.flow.bind(n);
        }
    }

    /// Defaults and annotations of a signature are evaluated in the enclosing scope.
    pub(super) fn parameters_outer(&mut self, params: &'a ast::Parameters) {
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
                self.annotation(a);
            }
        }
        for p in params.vararg.iter().chain(params.kwarg.iter()) {
            if let Some(a) = &p.annotation {
                self.annotation(a);
            }
        }
    }

    /// An annotation: evaluated where it stands, unless annotations are postponed.
    pub(super) fn annotation(&mut self, a: &'a Expr) {
        self.in_annotation = true;
        self.visit_expr(a);
        self.in_annotation = false;
    }

    pub(super) fn comprehension(
        &mut self,
        generators: &'a [ast::Comprehension],
        elts: &[&'a Expr],
    ) {
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
