//! Python's `repr`, so that a generator can write a value into a test as a
//! literal and a reader sees what Python would print.

use std::fmt::Write;

use super::Value;

impl Value {
    /// Python's `repr`. For every value but a non-finite float it is a
    /// literal that evaluates back to an equal value (`repr(float('nan'))` is
    /// `nan` in Python too). A set and a frozenset print as a set.
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
            Value::BigInt { neg, hex } => {
                if *neg {
                    out.push('-');
                }
                out.push_str(&hex_to_decimal(hex));
            }
            Value::Float(f) => out.push_str(&float_repr(*f)),
            Value::Str(s) => out.push_str(&py_str_repr(s)),
            Value::Bytes(b) => out.push_str(&bytes_repr(b)),
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
            Value::Set(items) if items.is_empty() => out.push_str("set()"),
            Value::Set(items) => {
                out.push('{');
                write_items(out, items);
                out.push('}');
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

/// The quote Python's `repr` picks: single unless the text holds a single
/// quote and no double quote.
fn quote_for(has_single: bool, has_double: bool) -> char {
    if has_single && !has_double {
        '"'
    } else {
        '\''
    }
}

/// Python's `repr` of a `str`.
pub fn py_str_repr(s: &str) -> String {
    let quote = quote_for(s.contains('\''), s.contains('"'));
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

/// Python's `repr` of `bytes`: printable ASCII as itself, the rest as `\xhh`.
fn bytes_repr(b: &[u8]) -> String {
    let quote = quote_for(b.contains(&b'\''), b.contains(&b'"'));
    let mut out = String::with_capacity(b.len() + 3);
    out.push('b');
    out.push(quote);
    for &c in b {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\r' => out.push_str("\\r"),
            c if c as char == quote => {
                out.push('\\');
                out.push(c as char);
            }
            0x20..=0x7e => out.push(c as char),
            c => write!(out, "\\x{c:02x}").expect("write to String"),
        }
    }
    out.push(quote);
    out
}

/// Python's `repr` of a float: the shortest digits that read back to the
/// same float (Rust's `{:e}` finds the same ones), printed positionally for
/// decimal exponents in -4..16 and in exponent form (`1e+16`, `1.5e-07`)
/// outside it.
pub(crate) fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is an integer");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let body = if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            let mut int_part = digits.clone();
            let frac = if digits.len() > int_len {
                int_part.truncate(int_len);
                digits[int_len..].to_string()
            } else {
                int_part.push_str(&"0".repeat(int_len - digits.len()));
                "0".to_string()
            };
            format!("{int_part}.{frac}")
        } else {
            format!("0.{}{digits}", "0".repeat((-exp - 1) as usize))
        }
    } else {
        let rest = &digits[1..];
        let point = if rest.is_empty() { "" } else { "." };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{}{point}{rest}e{esign}{:02}", &digits[..1], exp.abs())
    };
    format!("{sign}{body}")
}

/// A hex magnitude in decimal, by schoolbook conversion in base 10^9 limbs.
fn hex_to_decimal(hex: &str) -> String {
    const BASE: u64 = 1_000_000_000;
    let mut limbs: Vec<u64> = vec![0]; // little-endian, base 10^9
    for c in hex.chars() {
        let mut carry = c.to_digit(16).unwrap_or(0) as u64;
        for limb in limbs.iter_mut() {
            let v = *limb * 16 + carry;
            *limb = v % BASE;
            carry = v / BASE;
        }
        if carry > 0 {
            limbs.push(carry);
        }
    }
    let mut out = limbs.last().copied().unwrap_or(0).to_string();
    for limb in limbs.iter().rev().skip(1) {
        write!(out, "{limb:09}").expect("write to String");
    }
    out
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
    fn floats_print_as_python_does() {
        // Each pair was checked against CPython 3.11's repr().
        for (f, want) in [
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (0.1, "0.1"),
            (1234.5, "1234.5"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (123456789012345.6, "123456789012345.6"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e300, "1e+300"),
            (f64::INFINITY, "inf"),
        ] {
            assert_eq!(float_repr(f), want, "{f:e}");
        }
    }

    #[test]
    fn big_ints_bytes_and_sets_print_as_python_does() {
        let big = Value::BigInt {
            neg: true,
            hex: "10000000000000000".into(),
        };
        assert_eq!(big.repr(), "-18446744073709551616");
        assert_eq!(
            Value::Bytes(b"a'\x00\xff".to_vec()).repr(),
            r#"b"a'\x00\xff""#
        );
        assert_eq!(Value::Set(vec![]).repr(), "set()");
        assert_eq!(
            Value::Set(vec![Value::Int(1), Value::Int(2)]).repr(),
            "{1, 2}"
        );
    }
}
