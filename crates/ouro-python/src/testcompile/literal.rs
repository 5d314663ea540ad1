//! The spy pass without a sandbox, for scripts made of literals.
//!
//! Most benchmark test scripts (155 of HumanEval's 164) call the function
//! under test on literal arguments and compare with literal values, or with
//! arithmetic on literals. What the spy pass would report for them is known
//! from the source alone, so the executor can skip that pass (a fork of a
//! sandbox child per problem, about a sixth of a HumanEval run's CPU). The
//! records built here are the ones the spy pass prints, value for value;
//! anything that might behave otherwise at run time (a name, a call, a set's
//! iteration order, an import that could fail, an unhashable key, a division
//! by zero) leaves the script to the real spy pass.

use ruff_python_ast::{self as ast, Expr, Number, Operator, Stmt, UnaryOp};
use serde_json::{json, Value as Json};

use super::pattern::AtomSpec;
use super::StepMode;
use crate::value::{self as pyvalue, Value};

/// The value of a constant expression (literals, and the arithmetic of
/// [`binop`] on them) as Python builds it, or `None` where evaluating it
/// could do anything else.
pub(super) fn value(e: &Expr) -> Option<Value> {
    Some(match e {
        Expr::NoneLiteral(_) => Value::None,
        Expr::BooleanLiteral(b) => Value::Bool(b.value),
        Expr::NumberLiteral(n) => number(&n.value)?,
        // A lone surrogate (`'\ud800'`) is a Python str but no Rust string: the parser
        // holds U+FFFD in its place, so such a literal (and a real U+FFFD, which cannot
        // be told apart) is left to the spy pass, which sees the real value.
        Expr::StringLiteral(s) if s.value.to_str().contains('\u{FFFD}') => return None,
        Expr::StringLiteral(s) => Value::Str(s.value.to_str().to_string()),
        Expr::BytesLiteral(b) => Value::Bytes(b.value.bytes().collect()),
        Expr::UnaryOp(u) if matches!(u.op, UnaryOp::USub | UnaryOp::UAdd) => {
            let neg = u.op == UnaryOp::USub;
            // Only on a number: `-True` is -1 in Python, and not worth the care.
            match (value(&u.operand)?, neg) {
                (Value::Int(i), true) => Value::Int(i.checked_neg()?),
                (Value::Float(f), true) => Value::Float(-f),
                (v @ (Value::Int(_) | Value::Float(_)), false) => v,
                _ => return None,
            }
        }
        Expr::BinOp(b) => binop(b.op, value(&b.left)?, value(&b.right)?)?,
        Expr::List(l) => Value::List(elements(&l.elts)?),
        Expr::Tuple(t) => Value::Tuple(elements(&t.elts)?),
        // Keys are deduplicated pairwise below; a large literal goes to the spy.
        Expr::Dict(d) if d.items.len() <= 1000 => {
            let mut out: Vec<(Value, Value)> = Vec::with_capacity(d.items.len());
            for item in &d.items {
                let k = value(item.key.as_ref()?)?;
                let v = value(&item.value)?;
                if !hashable(&k) {
                    return None;
                }
                // A repeated key (or an equal one: 1, 1.0, True) keeps its
                // first place and takes the last value, as in Python.
                match out.iter_mut().find(|(old, _)| pyvalue::py_eq(old, &k)) {
                    Some(slot) => slot.1 = v,
                    None => out.push((k, v)),
                }
            }
            Value::Dict(out)
        }
        _ => return None,
    })
}

/// Ints that convert to a float exactly, so that Python's `int / int` (the
/// correctly rounded quotient) is the quotient of the two floats.
const EXACT_IN_F64: i64 = 1 << 53;

fn as_float(v: &Value) -> Option<f64> {
    match v {
        Value::Float(f) => Some(*f),
        Value::Int(i) if i.unsigned_abs() <= EXACT_IN_F64 as u64 => Some(*i as f64),
        _ => None,
    }
}

/// Arithmetic the expected values of tests use (`2.0/3.0`, `3 * 5 * 7`,
/// `'ab' + 'c'`), where the result is Python's exactly: integer ops that
/// stay in i64, IEEE float `+ - * /`, and concatenation. Anything that
/// would raise, overflow i64, or go through libm (`**` on floats) is left
/// to the spy pass, and so are bools (`True + 1`).
fn binop(op: Operator, a: Value, b: Value) -> Option<Value> {
    use Value::{Float, Int, List, Str, Tuple};
    const MAX_LEN: usize = 100_000;
    Some(match (op, a, b) {
        (Operator::Add, Int(x), Int(y)) => Int(x.checked_add(y)?),
        (Operator::Sub, Int(x), Int(y)) => Int(x.checked_sub(y)?),
        (Operator::Mult, Int(x), Int(y)) => Int(x.checked_mul(y)?),
        (Operator::FloorDiv, Int(x), Int(y)) if y != 0 && !(x == i64::MIN && y == -1) => {
            Int(pyvalue::py_floordiv(x, y))
        }
        (Operator::Mod, Int(x), Int(y)) if y != 0 && !(x == i64::MIN && y == -1) => {
            Int(pyvalue::py_mod(x, y))
        }
        (Operator::Pow, Int(x), Int(y)) if y >= 0 => Int(x.checked_pow(u32::try_from(y).ok()?)?),
        (Operator::Add, Str(x), Str(y)) if x.len() + y.len() <= MAX_LEN => Str(x + &y),
        (Operator::Mult, Str(x), Int(n)) | (Operator::Mult, Int(n), Str(x)) => {
            let n = usize::try_from(n.max(0)).ok()?;
            if x.len().checked_mul(n)? > MAX_LEN {
                return None;
            }
            Str(x.repeat(n))
        }
        (Operator::Add, List(mut x), List(y)) => {
            x.extend(y);
            List(x)
        }
        (Operator::Add, Tuple(mut x), Tuple(y)) => {
            x.extend(y);
            Tuple(x)
        }
        (op @ (Operator::Add | Operator::Sub | Operator::Mult | Operator::Div), a, b)
            if matches!(a, Float(_)) || matches!(b, Float(_)) || op == Operator::Div =>
        {
            let (x, y) = (as_float(&a)?, as_float(&b)?);
            let r = match op {
                Operator::Add => x + y,
                Operator::Sub => x - y,
                Operator::Mult => x * y,
                _ if y == 0.0 => return None,
                _ => x / y,
            };
            if !r.is_finite() {
                return None;
            }
            Float(r)
        }
        _ => return None,
    })
}

fn number(n: &Number) -> Option<Value> {
    match n {
        Number::Int(i) => i.as_i64().map(Value::Int),
        Number::Float(f) if f.is_finite() => Some(Value::Float(*f)),
        _ => None,
    }
}

fn elements(elts: &[Expr]) -> Option<Vec<Value>> {
    elts.iter().map(value).collect()
}

fn hashable(v: &Value) -> bool {
    match v {
        Value::List(_) | Value::Dict(_) | Value::Set(_) => false,
        Value::Tuple(xs) => xs.iter().all(hashable),
        _ => true,
    }
}

/// Whether a statement outside `check` runs without effect or failure:
/// a docstring, `pass`, or names bound to literals (HumanEval's `METADATA`).
pub(super) fn inert_setup(stmt: &Stmt) -> bool {
    match stmt {
        Stmt::Pass(_) => true,
        Stmt::Expr(e) => matches!(e.value.as_ref(), Expr::StringLiteral(_)),
        Stmt::Assign(a) => {
            a.targets.iter().all(|t| matches!(t, Expr::Name(_))) && value(&a.value).is_some()
        }
        _ => false,
    }
}

/// The spy records of one step of the test body, given the atoms compiled
/// for it (numbered from `first_atom`); `None` when only running the spy
/// pass can tell.
pub(super) fn step_records(
    stmt: &Stmt,
    mode: &StepMode,
    specs: &[AtomSpec],
    first_atom: usize,
) -> Option<Vec<Json>> {
    match mode {
        // The spy pass skips these.
        StepMode::InProcess(_) => Some(vec![]),
        StepMode::Run => inert_setup(stmt).then(Vec::new),
        StepMode::Spy(_) => {
            let Stmt::Assert(a) = stmt else {
                return None;
            };
            if specs.is_empty() {
                // An assert that does not call the function under test runs
                // as is: it must hold (`assert True, "..."`).
                return value(&a.test)
                    .is_some_and(|v| pyvalue::truthy(&v))
                    .then(Vec::new);
            }
            specs
                .iter()
                .enumerate()
                .map(|(i, spec)| record(first_atom + i, spec))
                .collect()
        }
    }
}

/// `{"a": id, "args": [...], "kw": [[name, v], ...], "v": [...]}`, as the
/// spy pass's `__ouro_case__` reports it.
fn record(id: usize, spec: &AtomSpec) -> Option<Json> {
    let encoded = |e: &Expr| pyvalue::encode(&value(e)?);
    let args = &spec.call.arguments;
    let positional: Vec<Json> = args
        .args
        .iter()
        .map(|e| {
            if e.is_starred_expr() {
                None
            } else {
                encoded(e)
            }
        })
        .collect::<Option<_>>()?;
    let keywords: Vec<Json> = args
        .keywords
        .iter()
        .map(|k: &ast::Keyword| Some(json!([k.arg.as_ref()?.as_str(), encoded(&k.value)?])))
        .collect::<Option<_>>()?;
    let vals: Vec<Json> = spec
        .vals
        .iter()
        .map(|e| encoded(e))
        .collect::<Option<_>>()?;
    Some(json!({"a": id, "args": positional, "kw": keywords, "v": vals}))
}
