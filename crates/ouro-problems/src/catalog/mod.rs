//! Catalogue families: parameterised templates that add breadth of skills
//! (dicts, recursion, tuples, indexing and slicing, formatting, math, sets,
//! conditionals and boolean logic) next to the compositional families.
//!
//! A template is a function shape with integer parameters (constants, or
//! indices into a fixed choice list). Its near-miss mutants are the same
//! template with one parameter off by one, which is exactly the off-by-one
//! mistake audit tests must catch.

mod mappings;
mod math;
mod numeric;
mod sequences;

use crate::rng::Rng;
use crate::spec::{Difficulty, MutantSpec, Purpose, Spec};
use ouro_python::value::Value;

/// One template of a catalogue family.
pub struct Template {
    pub family: &'static str,
    pub entry: &'static str,
    pub params: &'static str,
    pub tags: &'static [&'static str],
    pub difficulty: Difficulty,
    /// Inclusive range of each parameter `P0`, `P1`, ...
    pub ranges: &'static [(i64, i64)],
    pub doc: fn(&[i64]) -> String,
    pub body: fn(&[i64]) -> String,
    pub eval: fn(&[i64], &[Value]) -> Value,
    pub input: fn(&mut Rng, &[i64], Purpose) -> Vec<Value>,
}

/// All templates, in a fixed order (part of the determinism contract).
pub fn templates() -> Vec<&'static Template> {
    mappings::TEMPLATES
        .iter()
        .chain(sequences::TEMPLATES.iter())
        .chain(numeric::TEMPLATES.iter())
        .chain(math::TEMPLATES.iter())
        .collect()
}

/// A template with its parameters drawn.
#[derive(Clone)]
pub struct TemplateSpec {
    pub template: &'static Template,
    pub p: Vec<i64>,
}

/// Draws a problem of the named catalogue family.
///
/// Panics if the family has no template (a programming error).
pub fn sample(family: &str, rng: &mut Rng) -> TemplateSpec {
    let all: Vec<&'static Template> = templates()
        .into_iter()
        .filter(|t| t.family == family)
        .collect();
    assert!(
        !all.is_empty(),
        "no catalogue templates for family {family}"
    );
    let template = *rng.pick(&all);
    let p = template
        .ranges
        .iter()
        .map(|&(lo, hi)| rng.range(lo, hi))
        .collect();
    TemplateSpec { template, p }
}

impl Spec for TemplateSpec {
    fn family(&self) -> &'static str {
        self.template.family
    }
    fn entry(&self) -> String {
        self.template.entry.to_string()
    }
    fn params(&self) -> String {
        self.template.params.to_string()
    }
    fn doc(&self) -> String {
        (self.template.doc)(&self.p)
    }
    fn body(&self) -> String {
        (self.template.body)(&self.p)
    }
    fn eval(&self, args: &[Value]) -> Value {
        (self.template.eval)(&self.p, args)
    }
    fn random_input(&self, rng: &mut Rng, purpose: Purpose) -> Vec<Value> {
        (self.template.input)(rng, &self.p, purpose)
    }
    fn mutants(&self) -> Vec<MutantSpec> {
        let mut out = Vec::new();
        for (i, &(lo, hi)) in self.template.ranges.iter().enumerate() {
            for delta in [-1, 1] {
                let v = self.p[i] + delta;
                if v < lo || v > hi {
                    continue;
                }
                let mut p = self.p.clone();
                p[i] = v;
                out.push(MutantSpec {
                    label: format!("P{i} {} -> {v}", self.p[i]),
                    spec: Box::new(TemplateSpec {
                        template: self.template,
                        p,
                    }),
                    essential: false,
                });
            }
        }
        out
    }
    fn tags(&self) -> Vec<&'static str> {
        self.template.tags.to_vec()
    }
    fn difficulty(&self) -> Difficulty {
        self.template.difficulty
    }
}

// ---- shared input generators and Python helpers ----

const WORDS: [&str; 14] = [
    "apple", "bee", "cat", "dog", "egg", "fig", "go", "hat", "ice", "jam", "a", "an", "tree", "sun",
];

pub(crate) fn int_list(rng: &mut Rng, min_len: i64, max_len: i64, lo: i64, hi: i64) -> Vec<i64> {
    let n = rng.range(min_len, max_len);
    (0..n).map(|_| rng.range(lo, hi)).collect()
}

/// Ints near the parameters (for audit inputs) mixed with a plain range.
pub(crate) fn near_list(rng: &mut Rng, p: &[i64], purpose: Purpose, lo: i64, hi: i64) -> Vec<i64> {
    match purpose {
        Purpose::Filter => int_list(rng, 3, 8, lo, hi),
        Purpose::Audit => {
            let n = rng.range(0, 6);
            (0..n)
                .map(|_| {
                    if !p.is_empty() && rng.chance(1, 2) {
                        *rng.pick(p) + rng.range(-1, 1)
                    } else {
                        rng.range(lo, hi)
                    }
                })
                .collect()
        }
    }
}

pub(crate) fn word_list(rng: &mut Rng, min_len: i64, max_len: i64) -> Vec<String> {
    let n = rng.range(min_len, max_len);
    (0..n).map(|_| rng.pick(&WORDS).to_string()).collect()
}

pub(crate) fn strs(words: &[String]) -> Value {
    Value::List(words.iter().map(|w| Value::str(w.clone())).collect())
}

/// A dict of distinct word keys to ints.
pub(crate) fn word_dict(rng: &mut Rng, min_len: i64, max_len: i64, lo: i64, hi: i64) -> Value {
    let n = rng.range(min_len, max_len) as usize;
    let mut keys: Vec<&str> = Vec::new();
    while keys.len() < n {
        let w = *rng.pick(&WORDS);
        if !keys.contains(&w) {
            keys.push(w);
        }
    }
    Value::Dict(
        keys.into_iter()
            .map(|k| (Value::str(k), Value::Int(rng.range(lo, hi))))
            .collect(),
    )
}

/// Python's `d[k] = v`: replaces in place or appends.
pub(crate) fn dict_set(d: &mut Vec<(Value, Value)>, k: Value, v: Value) {
    match d.iter_mut().find(|(k2, _)| k2.py_eq(&k)) {
        Some(slot) => slot.1 = v,
        None => d.push((k, v)),
    }
}

pub(crate) fn pairs(rng: &mut Rng, min_len: i64, max_len: i64, lo: i64, hi: i64) -> Value {
    let n = rng.range(min_len, max_len);
    Value::List(
        (0..n)
            .map(|_| {
                Value::Tuple(vec![
                    Value::Int(rng.range(lo, hi)),
                    Value::Int(rng.range(lo, hi)),
                ])
            })
            .collect(),
    )
}

/// A nested list of small ints, at most `depth` levels deep.
pub(crate) fn nested(rng: &mut Rng, depth: u32) -> Value {
    let n = rng.range(0, 4);
    Value::List(
        (0..n)
            .map(|_| {
                if depth > 1 && rng.chance(1, 3) {
                    nested(rng, depth - 1)
                } else {
                    Value::Int(rng.range(-3, 9))
                }
            })
            .collect(),
    )
}

/// `+ k` or `- k`, for rendering `a + k` with a possibly negative `k`.
pub(crate) fn plus(k: i64) -> String {
    if k < 0 {
        format!("- {}", -k)
    } else {
        format!("+ {k}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogue_family_has_templates_and_valid_ranges() {
        for fam in [
            "dicts",
            "recursion",
            "tuples",
            "indexing",
            "formatting",
            "math",
            "sets",
            "logic",
        ] {
            assert!(templates().iter().any(|t| t.family == fam), "{fam}");
        }
        for t in templates() {
            assert!(t.ranges.iter().all(|(lo, hi)| lo <= hi), "{}", t.entry);
        }
    }
}
