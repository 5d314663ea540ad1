//! JSON text as Python literals, exactly as Python's `json.loads` reads it.
//!
//! APPS keeps its call-based tests as JSON text, which its own harness reads
//! with `json.loads`: integers of any size, object keys in their order, lone
//! surrogates in strings. A `serde_json::Value` keeps none of that (a big
//! integer becomes a float, keys are sorted), and a test built from it can
//! fail the dataset's own reference solution. This parser keeps each scalar's
//! source text and each object's order, and writes Python source from them.

/// A parsed JSON value, its scalars kept as Python source text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    List(Vec<Lit>),
    /// Keys as their Python (JSON string) literals, with the decoded key for lookups.
    Object(Vec<(String, String, Lit)>),
    Atom(String),
}

impl Lit {
    /// The Python source of this value.
    pub fn python(&self) -> String {
        match self {
            Lit::Atom(a) => a.clone(),
            Lit::List(items) => format!(
                "[{}]",
                items.iter().map(Lit::python).collect::<Vec<_>>().join(", ")
            ),
            Lit::Object(pairs) => format!(
                "{{{}}}",
                pairs
                    .iter()
                    .map(|(k, _, v)| format!("{k}: {}", v.python()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// The Python source of this value with a list written as a tuple.
    pub fn python_tuple(&self) -> String {
        match self {
            Lit::List(items) if items.len() == 1 => format!("({},)", items[0].python()),
            Lit::List(items) => format!(
                "({})",
                items.iter().map(Lit::python).collect::<Vec<_>>().join(", ")
            ),
            other => other.python(),
        }
    }

    /// An object whose keys all read as integers, with integer keys: what APPS'
    /// harness makes of a dict JSON forced to string keys (`{int(k): v ...}`).
    pub fn int_keyed(&self) -> Option<Lit> {
        let Lit::Object(pairs) = self else {
            return None;
        };
        pairs
            .iter()
            .map(|(_, k, v)| {
                let n: i128 = k.trim().parse().ok()?;
                Some((n.to_string(), n.to_string(), v.clone()))
            })
            .collect::<Option<Vec<_>>>()
            .map(Lit::Object)
    }

    /// The value of `key`, for an object.
    pub fn get(&self, key: &str) -> Option<&Lit> {
        match self {
            Lit::Object(pairs) => pairs.iter().rev().find(|(_, k, _)| k == key).map(|p| &p.2),
            _ => None,
        }
    }

    /// The decoded text of a string atom.
    pub fn as_str(&self) -> Option<String> {
        match self {
            Lit::Atom(a) if a.starts_with('"') => serde_json::from_str(a).ok(),
            _ => None,
        }
    }
}

/// Deeper nesting than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 256;

/// Parses a JSON text; the error says what is wrong and at which byte.
pub(crate) fn parse(text: &str) -> Result<Lit, String> {
    let mut p = Parser { s: text, i: 0 };
    let v = p.value(0)?;
    p.ws();
    if p.i != text.len() {
        return Err(format!("trailing characters at byte {}", p.i));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        let rest = &self.s[self.i..];
        self.i += rest.len() - rest.trim_start_matches([' ', '\t', '\n', '\r']).len();
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at byte {}", c as char, self.i))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Lit, String> {
        if depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH} levels"));
        }
        self.ws();
        match self.peek() {
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(Lit::List(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Lit::List(items));
                        }
                        _ => return Err(format!("expected ',' or ']' at byte {}", self.i)),
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut pairs = Vec::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Ok(Lit::Object(pairs));
                }
                loop {
                    self.ws();
                    let key = self.string()?;
                    let decoded = serde_json::from_str(&key).unwrap_or_else(|_| key.clone());
                    self.expect(b':')?;
                    let v = self.value(depth + 1)?;
                    pairs.push((python_string(&key), decoded, v));
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Lit::Object(pairs));
                        }
                        _ => return Err(format!("expected ',' or '}}' at byte {}", self.i)),
                    }
                }
            }
            Some(b'"') => Ok(Lit::Atom(python_string(&self.string()?))),
            Some(b't') => self.word("true", "True"),
            Some(b'f') => self.word("false", "False"),
            Some(b'n') => self.word("null", "None"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(format!("expected a JSON value at byte {}", self.i)),
        }
    }

    fn word(&mut self, json: &str, python: &str) -> Result<Lit, String> {
        if self.s[self.i..].starts_with(json) {
            self.i += json.len();
            Ok(Lit::Atom(python.into()))
        } else {
            Err(format!("expected a JSON value at byte {}", self.i))
        }
    }

    /// A number as written: JSON's number grammar is Python's, and Python's
    /// integers have no size limit.
    fn number(&mut self) -> Result<Lit, String> {
        let start = self.i;
        let rest = &self.s.as_bytes()[start..];
        let len = rest
            .iter()
            .position(|b| !matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
            .unwrap_or(rest.len());
        let text = &self.s[start..start + len];
        // Checked with serde_json's grammar, so nothing but a JSON number passes.
        if serde_json::from_str::<serde_json::Number>(text).is_err()
            && serde_json::from_str::<f64>(text).is_err()
            && !is_big_integer(text)
        {
            return Err(format!("bad number '{text}' at byte {start}"));
        }
        self.i += len;
        Ok(Lit::Atom(text.to_string()))
    }

    /// A string's JSON source, quotes included.
    fn string(&mut self) -> Result<String, String> {
        let start = self.i;
        if self.peek() != Some(b'"') {
            return Err(format!("expected a string at byte {start}"));
        }
        let bytes = self.s.as_bytes();
        let mut i = start + 1;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'"' => {
                    self.i = i + 1;
                    return Ok(self.s[start..=i].to_string());
                }
                c if c < 0x20 => return Err(format!("control character in a string at byte {i}")),
                _ => i += 1,
            }
        }
        Err(format!("unterminated string at byte {start}"))
    }
}

fn is_big_integer(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
}

/// A JSON string literal as a Python one: the same escapes, but `\/`, which
/// Python does not know, as `/`. `\uD800` stays a lone surrogate, as in `json.loads`.
fn python_string(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut chars = json.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('/') => out.push('/'),
            Some(next) => {
                out.push('\\');
                out.push(next);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_integers_key_order_and_lone_surrogates_are_kept() {
        let v = parse(
            r#"{"inputs": [[123456789012345678901, {"b": 1, "a": 2.5e3}]], "s": "x\/y\ud800", "t": [true, null, -0]}"#,
        )
        .unwrap();
        assert_eq!(
            v.get("inputs").unwrap().python(),
            r#"[[123456789012345678901, {"b": 1, "a": 2.5e3}]]"#
        );
        assert_eq!(v.get("s").unwrap().python(), r#""x/y\ud800""#);
        // An escaped backslash before a slash stays one.
        assert_eq!(parse(r#""a\\/b""#).unwrap().python(), r#""a\\/b""#);
        assert_eq!(v.get("t").unwrap().python(), "[True, None, -0]");
        assert_eq!(parse(r#""fn""#).unwrap().as_str().as_deref(), Some("fn"));
        for bad in ["[1,", "{\"a\" 1}", "01", "[1] x", "\"a", "tru"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse(&"[".repeat(10_000))
            .unwrap_err()
            .contains("nested deeper"));
    }
}
