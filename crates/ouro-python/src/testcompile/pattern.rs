//! Recognising the assert forms whose outcome depends on the candidate only
//! through plain values it returns, and emitting their spy-pass rewrite.

use ruff_python_ast::{self as ast, BoolOp, CmpOp, Expr, UnaryOp};
use ruff_text_size::{Ranged, TextRange};

use super::{CheckKind, Wrapper};

/// One recognised comparison inside an assert, before numbering.
pub(super) struct AtomSpec<'a> {
    /// The call of the function under test.
    pub call: &'a ast::ExprCall,
    /// Applied to the returned value, innermost first.
    pub wrappers: Vec<Wrapper>,
    pub check: CheckKind,
    /// Trusted sub-expressions the spy pass evaluates, in source order; the
    /// indices in `wrappers` and `check` point into this list.
    pub vals: Vec<&'a Expr>,
}

/// Builds atoms while remembering which value expression got which index.
struct Builder<'a> {
    call: Option<&'a ast::ExprCall>,
    wrappers: Vec<(Wrapper, Option<&'a Expr>)>,
    vals: Vec<&'a Expr>,
}

impl<'a> Builder<'a> {
    fn val(&mut self, e: &'a Expr) -> usize {
        self.vals.push(e);
        self.vals.len() - 1
    }

    /// Sorts the values into source order and renumbers every reference.
    fn finish(mut self, check: CheckKind) -> Option<AtomSpec<'a>> {
        let call = self.call?;
        let mut wrappers = Vec::new();
        for (w, e) in std::mem::take(&mut self.wrappers) {
            wrappers.push(match (w, e) {
                (Wrapper::Round { .. }, Some(e)) => Wrapper::Round {
                    ndigits: Some(self.val(e)),
                },
                (w, _) => w,
            });
        }
        let mut order: Vec<usize> = (0..self.vals.len()).collect();
        order.sort_by_key(|&i| self.vals[i].range().start());
        let mut new_index = vec![0; order.len()];
        for (new, &old) in order.iter().enumerate() {
            new_index[old] = new;
        }
        let re = |i: usize| new_index[i];
        let check = match check {
            CheckKind::Eq(i) => CheckKind::Eq(re(i)),
            CheckKind::Ne(i) => CheckKind::Ne(re(i)),
            CheckKind::In(i) => CheckKind::In(re(i)),
            CheckKind::AbsTol {
                expected,
                tol,
                inclusive,
            } => CheckKind::AbsTol {
                expected: re(expected),
                tol: re(tol),
                inclusive,
            },
            CheckKind::IsClose {
                expected,
                rel_tol,
                abs_tol,
            } => CheckKind::IsClose {
                expected: re(expected),
                rel_tol: rel_tol.map(re),
                abs_tol: abs_tol.map(re),
            },
            other => other,
        };
        let wrappers = wrappers
            .into_iter()
            .map(|w| match w {
                Wrapper::Round { ndigits } => Wrapper::Round {
                    ndigits: ndigits.map(re),
                },
                w => w,
            })
            .collect();
        let vals = order.iter().map(|&i| self.vals[i]).collect();
        Some(AtomSpec {
            call,
            wrappers,
            check,
            vals,
        })
    }
}

fn is_name(e: &Expr, name: &str) -> bool {
    matches!(e, Expr::Name(n) if n.id.as_str() == name)
}

fn is_candidate_name(e: &Expr, names: &[String]) -> bool {
    matches!(e, Expr::Name(n) if names.iter().any(|c| c == n.id.as_str()))
}

/// `math.NAME` or a bare `NAME`.
fn is_math_fn(e: &Expr, name: &str) -> bool {
    match e {
        Expr::Name(n) => n.id.as_str() == name,
        Expr::Attribute(a) => a.attr.as_str() == name && is_name(&a.value, "math"),
        _ => false,
    }
}

fn simple_call(c: &ast::ExprCall) -> bool {
    c.arguments.keywords.is_empty()
        && !c
            .arguments
            .args
            .iter()
            .any(|a| matches!(a, Expr::Starred(_)))
}

/// An observation: a call of the function under test, possibly under
/// value-preserving builtins (`set`, `sorted`, `round`, ...).
fn observation<'a>(e: &'a Expr, names: &[String], b: &mut Builder<'a>) -> bool {
    let Expr::Call(c) = e else { return false };
    if is_candidate_name(&c.func, names) {
        b.call = Some(c);
        return true;
    }
    if !simple_call(c) {
        return false;
    }
    let Expr::Name(f) = c.func.as_ref() else {
        return false;
    };
    let args = &c.arguments.args;
    let wrapper = match (f.id.as_str(), args.len()) {
        ("set", 1) => Wrapper::Set,
        ("frozenset", 1) => Wrapper::FrozenSet,
        ("sorted", 1) => Wrapper::Sorted,
        ("list", 1) => Wrapper::List,
        ("tuple", 1) => Wrapper::Tuple,
        ("round", 1 | 2) => Wrapper::Round { ndigits: None },
        _ => return false,
    };
    if !observation(&args[0], names, b) {
        return false;
    }
    b.wrappers.push((wrapper, args.get(1)));
    true
}

/// `abs(OBS - E)` or `abs(E - OBS)` (also `math.fabs`): returns the expected side.
fn abs_difference<'a>(e: &'a Expr, names: &[String], b: &mut Builder<'a>) -> Option<&'a Expr> {
    let Expr::Call(c) = e else { return None };
    if !(is_name(&c.func, "abs") || is_math_fn(&c.func, "fabs"))
        || !simple_call(c)
        || c.arguments.args.len() != 1
    {
        return None;
    }
    let Expr::BinOp(bin) = &c.arguments.args[0] else {
        return None;
    };
    if bin.op != ast::Operator::Sub {
        return None;
    }
    if observation(&bin.left, names, b) {
        Some(&bin.right)
    } else if observation(&bin.right, names, b) {
        Some(&bin.left)
    } else {
        None
    }
}

fn singleton(e: &Expr) -> Option<CheckKind> {
    match e {
        Expr::BooleanLiteral(l) if l.value => Some(CheckKind::IsTrue),
        Expr::BooleanLiteral(_) => Some(CheckKind::IsFalse),
        Expr::NoneLiteral(_) => Some(CheckKind::IsNone),
        _ => None,
    }
}

fn compare<'a>(c: &'a ast::ExprCompare, names: &[String]) -> Option<AtomSpec<'a>> {
    if c.ops.len() != 1 {
        return None;
    }
    let (op, left, right) = (c.ops[0], c.left.as_ref(), &c.comparators[0]);
    let mut b = Builder {
        call: None,
        wrappers: vec![],
        vals: vec![],
    };
    let check = match op {
        CmpOp::Eq | CmpOp::NotEq => {
            let other = if observation(left, names, &mut b) {
                right
            } else if observation(right, names, &mut b) {
                left
            } else {
                return None;
            };
            let i = b.val(other);
            if op == CmpOp::Eq {
                CheckKind::Eq(i)
            } else {
                CheckKind::Ne(i)
            }
        }
        CmpOp::In => {
            if !observation(left, names, &mut b) {
                return None;
            }
            CheckKind::In(b.val(right))
        }
        CmpOp::Is => {
            let kind = singleton(right)?;
            if !observation(left, names, &mut b) {
                return None;
            }
            kind
        }
        CmpOp::IsNot => {
            if !matches!(singleton(right)?, CheckKind::IsNone) || !observation(left, names, &mut b)
            {
                return None;
            }
            CheckKind::IsNotNone
        }
        CmpOp::Lt | CmpOp::LtE | CmpOp::Gt | CmpOp::GtE => {
            let (diff, tol) = if matches!(op, CmpOp::Lt | CmpOp::LtE) {
                (left, right)
            } else {
                (right, left)
            };
            let expected = abs_difference(diff, names, &mut b)?;
            let expected = b.val(expected);
            let tol = b.val(tol);
            CheckKind::AbsTol {
                expected,
                tol,
                inclusive: matches!(op, CmpOp::LtE | CmpOp::GtE),
            }
        }
        CmpOp::NotIn => return None,
    };
    b.finish(check)
}

fn isclose<'a>(c: &'a ast::ExprCall, names: &[String]) -> Option<AtomSpec<'a>> {
    if !is_math_fn(&c.func, "isclose") || c.arguments.args.len() != 2 {
        return None;
    }
    if c.arguments
        .args
        .iter()
        .any(|a| matches!(a, Expr::Starred(_)))
    {
        return None;
    }
    let mut b = Builder {
        call: None,
        wrappers: vec![],
        vals: vec![],
    };
    let (a0, a1) = (&c.arguments.args[0], &c.arguments.args[1]);
    let other = if observation(a0, names, &mut b) {
        a1
    } else if observation(a1, names, &mut b) {
        a0
    } else {
        return None;
    };
    let expected = b.val(other);
    let (mut rel_tol, mut abs_tol) = (None, None);
    for k in &c.arguments.keywords {
        match k.arg.as_ref().map(|a| a.as_str()) {
            Some("rel_tol") if rel_tol.is_none() => rel_tol = Some(b.val(&k.value)),
            Some("abs_tol") if abs_tol.is_none() => abs_tol = Some(b.val(&k.value)),
            _ => return None,
        }
    }
    b.finish(CheckKind::IsClose {
        expected,
        rel_tol,
        abs_tol,
    })
}

/// The atoms of an assert's test expression, or `None` when its form is not
/// supported (the whole expression must be a conjunction of atoms).
pub(super) fn atoms<'a>(test: &'a Expr, names: &[String]) -> Option<Vec<AtomSpec<'a>>> {
    match test {
        Expr::BoolOp(op) if op.op == BoolOp::And => {
            let mut out = Vec::new();
            for v in &op.values {
                out.extend(atoms(v, names)?);
            }
            Some(out)
        }
        Expr::UnaryOp(u) if u.op == UnaryOp::Not => {
            let mut b = Builder {
                call: None,
                wrappers: vec![],
                vals: vec![],
            };
            if !observation(&u.operand, names, &mut b) {
                return None;
            }
            Some(vec![b.finish(CheckKind::Falsy)?])
        }
        Expr::Compare(c) => Some(vec![compare(c, names)?]),
        Expr::Call(c) => {
            if let Some(a) = isclose(c, names) {
                return Some(vec![a]);
            }
            let mut b = Builder {
                call: None,
                wrappers: vec![],
                vals: vec![],
            };
            if !observation(test, names, &mut b) {
                return None;
            }
            Some(vec![b.finish(CheckKind::Truthy)?])
        }
        _ => None,
    }
}

/// The spy-pass text of one atom: `__ouro_case__(ID, ...)` with the argument
/// list and the trusted values in source order, so that the spy evaluates
/// them in the order Python would.
pub(super) fn emit(source: &str, id: usize, atom: &AtomSpec) -> String {
    let args: TextRange = atom.call.arguments.range();
    let inner = &source[usize::from(args.start()) + 1..usize::from(args.end()) - 1];
    let mut items: Vec<(u32, String)> = vec![(
        u32::from(atom.call.range().start()),
        format!("__ouro_args__({inner})"),
    )];
    for v in &atom.vals {
        let r = v.range();
        items.push((
            u32::from(r.start()),
            format!(
                "({})",
                &source[usize::from(r.start())..usize::from(r.end())]
            ),
        ));
    }
    items.sort_by_key(|(at, _)| *at);
    let parts: Vec<String> = items.into_iter().map(|(_, s)| s).collect();
    format!("__ouro_case__({id}, {})", parts.join(", "))
}
