//! The wire form in which values leave the sandbox (see the module docs of
//! [`super`]), decoded strictly: anything unexpected is an error, never a guess.

use super::{int_from_hex, Value};

const MAX_DEPTH: usize = 200;

/// Decodes the wire form; `Err` names what is wrong.
pub fn decode(w: &serde_json::Value) -> Result<Value, String> {
    decode_at(w, 0)
}

fn items(w: &serde_json::Value, depth: usize) -> Result<Vec<Value>, String> {
    match w {
        serde_json::Value::Array(a) => a.iter().map(|x| decode_at(x, depth + 1)).collect(),
        _ => Err("expected an array".into()),
    }
}

fn decode_at(w: &serde_json::Value, depth: usize) -> Result<Value, String> {
    use serde_json::Value as J;
    if depth > MAX_DEPTH {
        return Err("nested too deeply".into());
    }
    Ok(match w {
        J::Null => Value::None,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => return Err(format!("bare number {n} (floats and big ints are tagged)")),
        },
        J::String(s) => Value::Str(s.clone()),
        J::Array(_) => Value::List(items(w, depth)?),
        J::Object(o) => {
            let mut it = o.iter();
            let (Some((tag, v)), None) = (it.next(), it.next()) else {
                return Err("tagged value must have exactly one key".into());
            };
            let text = || {
                v.as_str()
                    .ok_or_else(|| format!("{tag}: expected a string"))
            };
            match tag.as_str() {
                "I" => big_int(text()?)?,
                "F" => Value::Float(parse_float(text()?)?),
                "B" => Value::Bytes(hex_bytes(text()?)?),
                "T" => Value::Tuple(items(v, depth)?),
                "S" | "Z" => Value::Set(items(v, depth)?),
                "D" => {
                    let serde_json::Value::Array(pairs) = v else {
                        return Err("D: expected an array of pairs".into());
                    };
                    let mut out = Vec::with_capacity(pairs.len());
                    for p in pairs {
                        match p.as_array().map(|a| a.as_slice()) {
                            Some([k, v]) => {
                                out.push((decode_at(k, depth + 1)?, decode_at(v, depth + 1)?))
                            }
                            _ => return Err("D: expected [key, value] pairs".into()),
                        }
                    }
                    Value::Dict(out)
                }
                other => return Err(format!("unknown tag {other:?}")),
            }
        }
    })
}

fn parse_float(s: &str) -> Result<f64, String> {
    // Python's repr: digits, optional sign/exponent, or inf/nan.
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
    {
        return Err(format!("bad float {s:?}"));
    }
    s.parse::<f64>().map_err(|_| format!("bad float {s:?}"))
}

fn hex_bytes(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err("odd hex length".into());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| "bad hex".to_string()))
        .collect()
}

fn big_int(s: &str) -> Result<Value, String> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("bad big int {s:?}"));
    }
    Ok(int_from_hex(neg, &digits.to_ascii_lowercase()))
}

/// Python's `encode_plain` nesting and size limits (isolate.py): a value
/// beyond them is "too large" there, so it has no wire form here either.
const ENCODE_DEPTH: usize = 100;
const ENCODE_NODES: usize = 200_000;

/// The wire form the sandbox's `encode_plain` gives `v`, to the byte once
/// serialised (floats as Python's `repr`, ints outside i64 as signed hex);
/// `None` where that encoder would refuse the value as too large.
pub fn encode(v: &Value) -> Option<serde_json::Value> {
    let mut budget = ENCODE_NODES;
    encode_at(v, 0, &mut budget)
}

fn encode_at(v: &Value, depth: usize, budget: &mut usize) -> Option<serde_json::Value> {
    use serde_json::{json, Value as J};
    *budget = budget.checked_sub(1)?;
    if depth > ENCODE_DEPTH {
        return None;
    }
    let all = |xs: &[Value], budget: &mut usize| -> Option<Vec<J>> {
        xs.iter().map(|x| encode_at(x, depth + 1, budget)).collect()
    };
    Some(match v {
        Value::None => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => json!(i),
        Value::BigInt { neg, hex } => json!({"I": format!("{}{hex}", if *neg { "-" } else { "" })}),
        Value::Float(f) => json!({"F": super::repr::float_repr(*f)}),
        Value::Str(s) => J::String(s.clone()),
        Value::Bytes(b) => {
            json!({"B": b.iter().map(|x| format!("{x:02x}")).collect::<String>()})
        }
        Value::List(xs) => J::Array(all(xs, budget)?),
        Value::Tuple(xs) => json!({"T": all(xs, budget)?}),
        Value::Set(xs) => json!({"S": all(xs, budget)?}),
        Value::Dict(kv) => {
            let mut pairs = Vec::with_capacity(kv.len());
            for (k, x) in kv {
                pairs.push(J::Array(vec![
                    encode_at(k, depth + 1, budget)?,
                    encode_at(x, depth + 1, budget)?,
                ]));
            }
            json!({"D": pairs})
        }
    })
}
