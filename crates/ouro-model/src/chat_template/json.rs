//! JSON as chat templates see it: objects in document order (Python dicts keep
//! insertion order, and templates print tool schemas and call arguments with
//! `tojson`), and transformers' `tojson` filter, which is Python's `json.dumps`.

use minijinja::value::{Kwargs, Value};
use minijinja::{Error as JinjaError, ErrorKind};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// A JSON value whose objects keep their keys in document order (serde_json's
/// own `Value` sorts them).
#[derive(Debug, Clone, PartialEq)]
pub enum OrderedJson {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    String(String),
    Array(Vec<OrderedJson>),
    Object(Vec<(String, OrderedJson)>),
}

impl OrderedJson {
    /// Parses JSON text, keeping object keys in order.
    pub fn parse(text: &str) -> serde_json::Result<Self> {
        serde_json::from_str(text)
    }

    /// The value of `key` in an object.
    pub fn get(&self, key: &str) -> Option<&OrderedJson> {
        match self {
            Self::Object(kv) => kv.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A message as `apply_chat_template` hands it to the template: keys whose
    /// value is null dropped (an OpenAI tool call's `content: null` rendered as
    /// `None`), and the reasoning under each name templates read it by
    /// (`reasoning_content`, and `thinking` for gpt-oss) when it came under one.
    pub fn as_template_message(&self) -> OrderedJson {
        let Self::Object(kv) = self else {
            return self.clone();
        };
        let kv: Vec<&(String, OrderedJson)> = kv.iter().filter(|(_, v)| *v != Self::Null).collect();
        let value = |name: &str| kv.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let Some(r) = ["reasoning_content", "thinking", "reasoning"]
            .iter()
            .find_map(|name| value(name))
        else {
            return Self::Object(kv.into_iter().cloned().collect());
        };
        // As transformers builds it, `{"thinking": r, **message, "reasoning_content": r}`:
        // a key given again keeps its place and takes the later value.
        let mut out = vec![(
            "thinking".to_string(),
            value("thinking").unwrap_or_else(|| r.clone()),
        )];
        out.extend(kv.iter().filter(|(k, _)| k != "thinking").map(|(k, v)| {
            let v = if k == "reasoning_content" {
                r.clone()
            } else {
                v.clone()
            };
            (k.clone(), v)
        }));
        if value("reasoning_content").is_none() {
            out.push(("reasoning_content".into(), r));
        }
        Self::Object(out)
    }
}

impl Serialize for OrderedJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Null => s.serialize_unit(),
            Self::Bool(b) => s.serialize_bool(*b),
            Self::Int(i) => s.serialize_i64(*i),
            Self::UInt(u) => s.serialize_u64(*u),
            Self::Float(f) => s.serialize_f64(*f),
            Self::String(x) => s.serialize_str(x),
            Self::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for x in items {
                    seq.serialize_element(x)?;
                }
                seq.end()
            }
            Self::Object(kv) => {
                let mut map = s.serialize_map(Some(kv.len()))?;
                for (k, v) in kv {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for OrderedJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OrderedVisitor)
    }
}

struct OrderedVisitor;

impl<'de> Visitor<'de> for OrderedVisitor {
    type Value = OrderedJson;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<OrderedJson, E> {
        Ok(OrderedJson::Null)
    }
    fn visit_none<E>(self) -> Result<OrderedJson, E> {
        Ok(OrderedJson::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<OrderedJson, E> {
        Ok(OrderedJson::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<OrderedJson, E> {
        Ok(OrderedJson::Int(i))
    }
    fn visit_u64<E>(self, u: u64) -> Result<OrderedJson, E> {
        Ok(OrderedJson::UInt(u))
    }
    fn visit_f64<E>(self, f: f64) -> Result<OrderedJson, E> {
        Ok(OrderedJson::Float(f))
    }
    fn visit_str<E>(self, s: &str) -> Result<OrderedJson, E> {
        Ok(OrderedJson::String(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<OrderedJson, E> {
        Ok(OrderedJson::String(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OrderedJson, A::Error> {
        let mut out = Vec::new();
        while let Some(x) = seq.next_element()? {
            out.push(x);
        }
        Ok(OrderedJson::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedJson, A::Error> {
        let mut out: Vec<(String, OrderedJson)> = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, OrderedJson>()? {
            // A repeated key keeps its first place and its last value, as in Python.
            match out.iter_mut().find(|(key, _)| *key == k) {
                Some(slot) => slot.1 = v,
                None => out.push((k, v)),
            }
        }
        Ok(OrderedJson::Object(out))
    }
}

/// transformers' `tojson`: `json.dumps(x, ensure_ascii=False, indent=indent,
/// separators=separators, sort_keys=sort_keys)`. Written over the template's own
/// values so that maps keep their insertion order, as Python dicts do.
pub(super) fn tojson(value: Value, kwargs: Kwargs) -> std::result::Result<Value, JinjaError> {
    let indent: Option<usize> = kwargs.get("indent")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    let separators: Option<Vec<String>> = kwargs.get("separators")?;
    kwargs.assert_all_used()?;
    let (item, key) = match separators.as_deref() {
        Some([item, key]) => (item.clone(), key.clone()),
        Some(_) => {
            return Err(JinjaError::new(
                ErrorKind::InvalidOperation,
                "tojson: separators must be a pair",
            ))
        }
        // Python's defaults: ", " without indent, "," with it.
        None if indent.is_some() => (",".into(), ": ".into()),
        None => (", ".into(), ": ".into()),
    };
    let style = JsonStyle {
        indent,
        sort_keys: sort_keys.unwrap_or(false),
        item: &item,
        key: &key,
    };
    let mut out = String::new();
    style.write(&value, 0, &mut out)?;
    // The output is data, not markup: transformers marks it safe too.
    Ok(Value::from_safe_string(out))
}

struct JsonStyle<'a> {
    indent: Option<usize>,
    sort_keys: bool,
    item: &'a str,
    key: &'a str,
}

impl JsonStyle<'_> {
    fn write(
        &self,
        v: &Value,
        depth: usize,
        out: &mut String,
    ) -> std::result::Result<(), JinjaError> {
        use minijinja::value::ValueKind;
        match v.kind() {
            ValueKind::Undefined | ValueKind::None => out.push_str("null"),
            ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
            ValueKind::Number if v.is_integer() => out.push_str(&v.to_string()),
            ValueKind::Number => out.push_str(&python_float(f64::try_from(v.clone())?)),
            ValueKind::String => out.push_str(&json_string(v.as_str().unwrap_or_default())),
            ValueKind::Map => {
                let mut keys: Vec<Value> = v.try_iter()?.collect();
                if self.sort_keys {
                    keys.sort_by_key(|k| k.to_string());
                }
                if keys.is_empty() {
                    out.push_str("{}");
                    return Ok(());
                }
                out.push('{');
                for (i, k) in keys.iter().enumerate() {
                    self.separate(i, depth + 1, out);
                    out.push_str(&json_string(&k.to_string()));
                    out.push_str(self.key);
                    self.write(&v.get_item(k)?, depth + 1, out)?;
                }
                self.close(depth, out);
                out.push('}');
            }
            _ => {
                let items: Vec<Value> = v.try_iter()?.collect();
                if items.is_empty() {
                    out.push_str("[]");
                    return Ok(());
                }
                out.push('[');
                for (i, x) in items.iter().enumerate() {
                    self.separate(i, depth + 1, out);
                    self.write(x, depth + 1, out)?;
                }
                self.close(depth, out);
                out.push(']');
            }
        }
        Ok(())
    }

    fn separate(&self, i: usize, depth: usize, out: &mut String) {
        if i > 0 {
            out.push_str(self.item);
        }
        if let Some(n) = self.indent {
            out.push('\n');
            out.push_str(&" ".repeat(n * depth));
        }
    }

    fn close(&self, depth: usize, out: &mut String) {
        if let Some(n) = self.indent {
            out.push('\n');
            out.push_str(&" ".repeat(n * depth));
        }
    }
}

/// A JSON string as Python writes it with `ensure_ascii=False`.
fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// Python's `repr(float)`: the shortest round-trip digits, `2.0` rather than
/// `2`, and an exponent (`1e-07`) below 1e-4 or from 1e16 on.
pub(super) fn python_float(x: f64) -> String {
    if !x.is_finite() {
        return match x {
            x if x.is_nan() => "NaN".into(),
            x if x > 0.0 => "Infinity".into(),
            _ => "-Infinity".into(),
        };
    }
    let a = x.abs();
    if a != 0.0 && !(1e-4..1e16).contains(&a) {
        let sci = format!("{x:e}");
        let (mantissa, exp) = sci.split_once('e').expect("exponent");
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    if x == x.trunc() {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}
