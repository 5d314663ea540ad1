//! Python values: what generated functions take and return, with Python's
//! `repr` (to write test literals) and Python's `==` (to compare outputs).

use std::fmt::Write;

/// A plain Python value. Dicts keep insertion order (as Python does) and
/// compare order-insensitively.
#[derive(Debug, Clone)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Str(String),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    Dict(Vec<(Value, Value)>),
}

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

    /// Python's `==`: `True == 1`, dicts ignore order, lists and tuples never equal.
    pub fn py_eq(&self, other: &Value) -> bool {
        use Value::*;
        match (self, other) {
            (None, None) => true,
            (Bool(a), Bool(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (Bool(a), Int(b)) | (Int(b), Bool(a)) => *a as i64 == *b,
            (Str(a), Str(b)) => a == b,
            (List(a), List(b)) | (Tuple(a), Tuple(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.py_eq(y))
            }
            (Dict(a), Dict(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .all(|(k, v)| b.iter().any(|(k2, v2)| k.py_eq(k2) && v.py_eq(v2)))
            }
            _ => false,
        }
    }

    /// Python's `repr`, as a literal that evaluates back to this value.
    pub fn repr(&self) -> String {
        let mut out = String::new();
        self.write_repr(&mut out);
        out
    }

    fn write_repr(&self, out: &mut String) {
        match self {
            Value::None => out.push_str("None"),
            Value::Bool(true) => out.push_str("True"),
            Value::Bool(false) => out.push_str("False"),
            Value::Int(i) => write!(out, "{i}").expect("write to String"),
            Value::Str(s) => out.push_str(&py_str_repr(s)),
            Value::List(items) => {
                out.push('[');
                write_items(out, items);
                out.push(']');
            }
            Value::Tuple(items) => {
                out.push('(');
                write_items(out, items);
                if items.len() == 1 {
                    out.push(',');
                }
                out.push(')');
            }
            Value::Dict(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    k.write_repr(out);
                    out.push_str(": ");
                    v.write_repr(out);
                }
                out.push('}');
            }
        }
    }
}

fn write_items(out: &mut String, items: &[Value]) {
    for (i, v) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        v.write_repr(out);
    }
}

/// Python's `repr` of a `str`: single quotes unless the text holds a single
/// quote and no double quote.
pub fn py_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                write!(out, "\\x{:02x}", c as u32).expect("write to String")
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `a // b` for `b != 0` (floors toward negative infinity).
pub fn py_floordiv(a: i64, b: i64) -> i64 {
    let q = a / b;
    if (a % b != 0) && ((a < 0) != (b < 0)) {
        q - 1
    } else {
        q
    }
}

/// Python's `a % b` for `b != 0` (takes the sign of `b`).
pub fn py_mod(a: i64, b: i64) -> i64 {
    a - b * py_floordiv(a, b)
}

/// Python's `seq[start:stop:step]` indices over a sequence of length `len`.
pub fn py_slice_indices(
    len: usize,
    start: Option<i64>,
    stop: Option<i64>,
    step: i64,
) -> Vec<usize> {
    assert!(step != 0, "slice step 0");
    let n = len as i64;
    let clamp = |v: i64, lo: i64, hi: i64| v.max(lo).min(hi);
    let norm = |v: i64| if v < 0 { v + n } else { v };
    let mut out = Vec::new();
    if step > 0 {
        let s = start.map_or(0, |v| clamp(norm(v), 0, n));
        let e = stop.map_or(n, |v| clamp(norm(v), 0, n));
        let mut i = s;
        while i < e {
            out.push(i as usize);
            i += step;
        }
    } else {
        let s = start.map_or(n - 1, |v| clamp(norm(v), -1, n - 1));
        let e = stop.map_or(-1, |v| clamp(norm(v), -1, n - 1));
        let mut i = s;
        while i > e {
            out.push(i as usize);
            i += step;
        }
    }
    out
}

/// Python's slice of a `str` (ASCII text: one char per index).
pub fn py_slice_str(s: &str, start: Option<i64>, stop: Option<i64>, step: i64) -> String {
    let chars: Vec<char> = s.chars().collect();
    py_slice_indices(chars.len(), start, stop, step)
        .into_iter()
        .map(|i| chars[i])
        .collect()
}

/// Python's slice of a list.
pub fn py_slice_list<T: Clone>(
    xs: &[T],
    start: Option<i64>,
    stop: Option<i64>,
    step: i64,
) -> Vec<T> {
    py_slice_indices(xs.len(), start, stop, step)
        .into_iter()
        .map(|i| xs[i].clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_matches_python_literals() {
        let v = Value::List(vec![
            Value::Int(-3),
            Value::Bool(true),
            Value::None,
            Value::str("it's"),
            Value::Tuple(vec![Value::Int(1)]),
            Value::Dict(vec![(Value::str("a"), Value::ints(&[]))]),
        ]);
        assert_eq!(v.repr(), r#"[-3, True, None, "it's", (1,), {'a': []}]"#);
        assert_eq!(py_str_repr("a\nb'\""), r#"'a\nb\'"'"#);
    }

    #[test]
    fn equality_follows_python() {
        assert!(Value::Bool(true).py_eq(&Value::Int(1)));
        assert!(!Value::ints(&[1]).py_eq(&Value::Tuple(vec![Value::Int(1)])));
        let a = Value::Dict(vec![
            (Value::Int(1), Value::Int(2)),
            (Value::Int(3), Value::Int(4)),
        ]);
        let b = Value::Dict(vec![
            (Value::Int(3), Value::Int(4)),
            (Value::Int(1), Value::Int(2)),
        ]);
        assert!(a.py_eq(&b));
    }

    #[test]
    fn integer_division_floors_like_python() {
        assert_eq!(py_floordiv(-7, 2), -4);
        assert_eq!(py_mod(-7, 3), 2);
        assert_eq!(py_mod(7, 3), 1);
    }

    #[test]
    fn slices_follow_python() {
        let xs = [0, 1, 2, 3, 4];
        assert_eq!(py_slice_list(&xs, None, None, -1), vec![4, 3, 2, 1, 0]);
        assert_eq!(py_slice_list(&xs, Some(-2), None, 1), vec![3, 4]);
        assert_eq!(py_slice_list(&xs, Some(7), None, 1), Vec::<i32>::new());
        assert_eq!(py_slice_list(&xs, Some(1), Some(-1), 2), vec![1, 3]);
        assert_eq!(py_slice_str("hello", None, Some(10), 2), "hlo");
    }
}
