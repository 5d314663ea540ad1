//! Python's `==`, `in`, `bool()` and numeric tolerance, as CPython defines them.

use std::collections::{HashMap, HashSet};

use super::{int_from_hex, Value};

/// An exact integer, as Python compares numbers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Exact {
    Small(i64),
    Big(bool, String),
}

/// The exact integer a float equals, if it is integral.
pub(super) fn float_as_int(f: f64) -> Option<Exact> {
    if !f.is_finite() || f.fract() != 0.0 {
        return None;
    }
    if f.abs() < 9.0e18 {
        return Some(Exact::Small(f as i64));
    }
    let bits = f.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i64 - 1075;
    let mant = (bits & ((1u64 << 52) - 1)) | (1u64 << 52);
    // |f| >= 9e18 > 2^53, so exp > 0: f = mant * 2^exp exactly.
    let (q, r) = (exp / 4, exp % 4);
    let hex = format!("{:x}{}", (mant as u128) << r, "0".repeat(q as usize));
    match int_from_hex(f < 0.0, &hex) {
        Value::Int(i) => Some(Exact::Small(i)),
        Value::BigInt { neg, hex } => Some(Exact::Big(neg, hex)),
        _ => None,
    }
}

enum Num {
    Int(Exact),
    Float(f64),
}

fn number(v: &Value) -> Option<Num> {
    Some(match v {
        Value::Bool(b) => Num::Int(Exact::Small(*b as i64)),
        Value::Int(i) => Num::Int(Exact::Small(*i)),
        Value::BigInt { neg, hex } => Num::Int(Exact::Big(*neg, hex.clone())),
        Value::Float(f) => Num::Float(*f),
        _ => return None,
    })
}

fn num_eq(a: Num, b: Num) -> bool {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => x == y,
        (Num::Float(x), Num::Float(y)) => x == y,
        (Num::Int(i), Num::Float(f)) | (Num::Float(f), Num::Int(i)) => {
            float_as_int(f).is_some_and(|fi| fi == i)
        }
    }
}

/// `a == b` in Python.
pub fn py_eq(a: &Value, b: &Value) -> bool {
    if let (Some(x), Some(y)) = (number(a), number(b)) {
        return num_eq(x, y);
    }
    match (a, b) {
        (Value::None, Value::None) => true,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Bytes(x), Value::Bytes(y)) => x == y,
        (Value::List(x), Value::List(y)) | (Value::Tuple(x), Value::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q))
        }
        (Value::Set(x), Value::Set(y)) => {
            if x.len() != y.len() {
                return false;
            }
            let Some(keys) = y.iter().map(key).collect::<Option<HashSet<Key>>>() else {
                return false;
            };
            x.iter().all(|e| key(e).is_some_and(|k| keys.contains(&k)))
        }
        (Value::Dict(x), Value::Dict(y)) => {
            if x.len() != y.len() {
                return false;
            }
            let mut index: HashMap<Key, &Value> = HashMap::with_capacity(y.len());
            for (k, v) in y {
                match key(k) {
                    Some(k) => {
                        index.insert(k, v);
                    }
                    None => return false,
                }
            }
            x.iter().all(|(k, v)| {
                key(k)
                    .and_then(|k| index.get(&k).copied())
                    .is_some_and(|w| py_eq(v, w))
            })
        }
        _ => false,
    }
}

/// Hash-equality key of a hashable value: two values with equal keys are
/// `==` in Python and would share a dict slot. `None` for values that can
/// never be found again (NaN, anything containing NaN) or are unhashable.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    None,
    Int(Exact),
    Float(u64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Key>),
    Set(Vec<Key>),
}

fn key(v: &Value) -> Option<Key> {
    if let Some(n) = number(v) {
        return match n {
            Num::Int(i) => Some(Key::Int(i)),
            Num::Float(f) if f.is_nan() => None,
            Num::Float(f) => Some(match float_as_int(f) {
                Some(i) => Key::Int(i),
                None => Key::Float(f.to_bits()),
            }),
        };
    }
    Some(match v {
        Value::None => Key::None,
        Value::Str(s) => Key::Str(s.clone()),
        Value::Bytes(b) => Key::Bytes(b.clone()),
        Value::Tuple(t) => Key::Tuple(t.iter().map(key).collect::<Option<_>>()?),
        Value::Set(s) => {
            let mut keys: Vec<Key> = s.iter().map(key).collect::<Option<_>>()?;
            keys.sort_by_cached_key(|k| format!("{k:?}"));
            keys.dedup();
            Key::Set(keys)
        }
        _ => return None,
    })
}

/// `bool(v)` in Python.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::None => false,
        Value::Bool(b) => *b,
        Value::Int(i) => *i != 0,
        Value::BigInt { .. } => true,
        Value::Float(f) => *f != 0.0,
        Value::Str(s) => !s.is_empty(),
        Value::Bytes(b) => !b.is_empty(),
        Value::List(x) | Value::Tuple(x) | Value::Set(x) => !x.is_empty(),
        Value::Dict(d) => !d.is_empty(),
    }
}

/// `v in container` in Python; `None` when Python would raise.
pub fn contains(container: &Value, v: &Value) -> Option<bool> {
    Some(match container {
        Value::List(x) | Value::Tuple(x) => x.iter().any(|e| py_eq(e, v)),
        Value::Set(x) => {
            let k = key(v)?;
            x.iter().any(|e| key(e).as_ref() == Some(&k))
        }
        Value::Dict(d) => {
            let k = key(v)?;
            d.iter().any(|(e, _)| key(e).as_ref() == Some(&k))
        }
        Value::Str(s) => match v {
            Value::Str(n) => s.contains(n.as_str()),
            _ => return None,
        },
        Value::Bytes(s) => match v {
            Value::Bytes(n) => n.is_empty() || s.windows(n.len()).any(|w| w == n.as_slice()),
            _ => return None,
        },
        _ => return None,
    })
}

/// `float(v)` for a number; `None` for non-numbers and ints too large for a
/// float (Python raises `OverflowError`).
pub fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Bool(b) => Some(*b as i64 as f64),
        Value::Int(i) => Some(*i as f64),
        Value::BigInt { neg, hex } => {
            let mag = hex
                .chars()
                .try_fold(0f64, |acc, c| Some(acc * 16.0 + c.to_digit(16)? as f64))?;
            mag.is_finite().then_some(if *neg { -mag } else { mag })
        }
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// `abs(v - expected) < tol` (or `<=`); false whenever Python would raise.
pub fn within_tolerance(v: &Value, expected: &Value, tol: &Value, inclusive: bool) -> bool {
    let Some(t) = as_f64(tol) else { return false };
    let exact = |x: &Value| match x {
        Value::Bool(b) => Some(*b as i128),
        Value::Int(i) => Some(*i as i128),
        _ => None,
    };
    let diff = match (exact(v), exact(expected)) {
        (Some(a), Some(b)) => (a - b).abs() as f64,
        _ => match (as_f64(v), as_f64(expected)) {
            (Some(a), Some(b)) => (a - b).abs(),
            _ => return false,
        },
    };
    if inclusive {
        diff <= t
    } else {
        diff < t
    }
}

/// `math.isclose(a, b, rel_tol=, abs_tol=)`; false whenever Python would raise.
pub fn isclose(a: &Value, b: &Value, rel_tol: f64, abs_tol: f64) -> bool {
    let (Some(a), Some(b)) = (as_f64(a), as_f64(b)) else {
        return false;
    };
    if rel_tol < 0.0 || abs_tol < 0.0 {
        return false;
    }
    if a == b {
        return true;
    }
    if a.is_infinite() || b.is_infinite() {
        return false;
    }
    let diff = (b - a).abs();
    diff <= (rel_tol * b).abs() || diff <= (rel_tol * a).abs() || diff <= abs_tol
}
