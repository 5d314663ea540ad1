//! Plain Python values and Python's equality semantics, in the trusted parent.
//!
//! Values cross the sandbox boundary in a strict wire form (JSON) that the
//! harness writes and reads (`isolate.py`): `null`, `true`/`false`, JSON
//! integers in i64 range, strings, and JSON arrays for lists; every other type
//! is a one-key object: `{"I": hex}` big int, `{"F": repr}` float, `{"B":
//! hex}` bytes, `{"T": [..]}` tuple, `{"D": [[k, v], ..]}` dict, `{"S": [..]}`
//! set, `{"Z": [..]}` frozenset. Anything else does not decode.
//!
//! Equality follows CPython: `1 == 1.0 == True`, `-0.0 == 0.0`, NaN is
//! never equal (not even inside containers: identity does not survive the
//! boundary), `[1] != (1,)`, dicts and sets compare without order and find
//! keys by Python's hash-equality, `set == frozenset`, `str != bytes`.
//!
//! One module for both sides of a test: the problem generators build values
//! and write them as literals ([`Value::repr`]), and the executor decodes what
//! a sandboxed program returned ([`decode`]) and compares it ([`py_eq`]).

mod eq;
mod ops;
mod repr;
mod wire;

pub use eq::{as_f64, contains, isclose, py_eq, truthy, within_tolerance};
pub use ops::{py_floordiv, py_mod, py_slice_indices, py_slice_list, py_slice_str};
pub use repr::py_str_repr;
pub use wire::{decode, encode};

/// A plain Python value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An int outside i64: sign and lowercase hex magnitude without leading zeros.
    BigInt {
        neg: bool,
        hex: String,
    },
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    /// `set` or `frozenset` (they compare equal in Python).
    Set(Vec<Value>),
}

/// Constructors and accessors for code that builds values it knows the shape
/// of (the problem generators); the accessors panic on a wrong shape because
/// that is a bug in the generator, not bad input.
impl Value {
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    pub fn ints(xs: &[i64]) -> Value {
        Value::List(xs.iter().map(|&x| Value::Int(x)).collect())
    }

    pub fn as_int(&self) -> i64 {
        match self {
            Value::Int(i) => *i,
            Value::Bool(b) => *b as i64,
            other => panic!("expected int, got {other:?}"),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Value::Str(s) => s,
            other => panic!("expected str, got {other:?}"),
        }
    }

    pub fn as_list(&self) -> &[Value] {
        match self {
            Value::List(v) | Value::Tuple(v) => v,
            other => panic!("expected list, got {other:?}"),
        }
    }

    pub fn as_ints(&self) -> Vec<i64> {
        self.as_list().iter().map(Value::as_int).collect()
    }

    pub fn as_dict(&self) -> &[(Value, Value)] {
        match self {
            Value::Dict(v) => v,
            other => panic!("expected dict, got {other:?}"),
        }
    }

    /// Python's `==` (see [`py_eq`]).
    pub fn py_eq(&self, other: &Value) -> bool {
        py_eq(self, other)
    }
}

/// Normalises an integer given as sign and hex magnitude.
fn int_from_hex(neg: bool, hex: &str) -> Value {
    let hex = hex.trim_start_matches('0');
    if hex.len() <= 16 {
        let mag = u64::from_str_radix(if hex.is_empty() { "0" } else { hex }, 16).unwrap_or(0);
        let v = if neg { -(mag as i128) } else { mag as i128 };
        if let Ok(i) = i64::try_from(v) {
            return Value::Int(i);
        }
    }
    Value::BigInt {
        neg,
        hex: hex.to_string(),
    }
}

#[cfg(test)]
mod tests;
