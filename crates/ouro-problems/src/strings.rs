//! String pipelines: one to three steps applied to `s` in order, then a
//! final step that returns something about the result.
//!
//! ```python
//! def transform(s):
//!     """Apply these steps to s in order: convert it to lower case; reverse it. Then return how many times 'a' occurs in it.
//!     """
//!     s = s.lower()
//!     s = s[::-1]
//!     return s.count('a')
//! ```

use crate::rng::Rng;
use crate::spec::{Difficulty, MutantSpec, Purpose, Spec};
use ouro_python::value::{py_slice_str, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Lower,
    Upper,
    Reverse,
    Strip,
    Replace(char, char),
    Remove(char),
    Take(i64),
    Drop(i64),
    TakeLast(i64),
    EverySecond,
    Title,
    Swapcase,
    ReverseWords,
    SortWords,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Final {
    Itself,
    Length,
    Count(char),
    Words,
    Palindrome,
    Find(char),
    UpperCount,
}

/// Steps that, as the first of two or more, are reserved for `heldout`.
pub const HELDOUT_LEAD_STEPS: [&str; 2] = ["reverse", "swapcase"];

const PARAM_CHARS: [char; 5] = ['a', 'b', 'c', 'd', 'e'];

fn next_char(c: char) -> char {
    if c == 'h' {
        'a'
    } else {
        (c as u8 + 1) as char
    }
}

impl Step {
    fn sample(rng: &mut Rng) -> Step {
        match rng.below(14) {
            0 => Step::Lower,
            1 => Step::Upper,
            2 => Step::Reverse,
            3 => Step::Strip,
            4 => {
                let from = *rng.pick(&PARAM_CHARS);
                let mut to = *rng.pick(&['a', 'b', 'c', 'd', 'e', 'x', 'y', 'z']);
                if to == from {
                    to = 'z';
                }
                Step::Replace(from, to)
            }
            5 => Step::Remove(*rng.pick(&PARAM_CHARS)),
            6 => Step::Take(rng.range(1, 6)),
            7 => Step::Drop(rng.range(1, 4)),
            8 => Step::TakeLast(rng.range(1, 6)),
            9 => Step::EverySecond,
            10 => Step::Title,
            11 => Step::Swapcase,
            12 => Step::ReverseWords,
            _ => Step::SortWords,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Step::Reverse => "reverse",
            Step::Swapcase => "swapcase",
            _ => "other",
        }
    }

    fn phrase(&self) -> String {
        match *self {
            Step::Lower => "convert it to lower case".into(),
            Step::Upper => "convert it to upper case".into(),
            Step::Reverse => "reverse it".into(),
            Step::Strip => "remove leading and trailing spaces".into(),
            Step::Replace(a, b) => format!("replace every '{a}' with '{b}'"),
            Step::Remove(c) => format!("remove every '{c}'"),
            Step::Take(k) => format!("keep its first {k} characters"),
            Step::Drop(k) => format!("drop its first {k} characters"),
            Step::TakeLast(k) => format!("keep its last {k} characters"),
            Step::EverySecond => "keep every second character, starting with the first".into(),
            Step::Title => "capitalize every word".into(),
            Step::Swapcase => "swap the case of every letter".into(),
            Step::ReverseWords => "reverse the order of its words".into(),
            Step::SortWords => "sort its words alphabetically".into(),
        }
    }

    fn code(&self) -> String {
        match *self {
            Step::Lower => "s.lower()".into(),
            Step::Upper => "s.upper()".into(),
            Step::Reverse => "s[::-1]".into(),
            Step::Strip => "s.strip()".into(),
            Step::Replace(a, b) => format!("s.replace('{a}', '{b}')"),
            Step::Remove(c) => format!("s.replace('{c}', '')"),
            Step::Take(k) => format!("s[:{k}]"),
            Step::Drop(k) => format!("s[{k}:]"),
            Step::TakeLast(k) => format!("s[-{k}:]"),
            Step::EverySecond => "s[::2]".into(),
            Step::Title => "s.title()".into(),
            Step::Swapcase => "s.swapcase()".into(),
            Step::ReverseWords => "' '.join(s.split()[::-1])".into(),
            Step::SortWords => "' '.join(sorted(s.split()))".into(),
        }
    }

    fn apply(&self, s: &str) -> String {
        match *self {
            Step::Lower => s.to_ascii_lowercase(),
            Step::Upper => s.to_ascii_uppercase(),
            Step::Reverse => s.chars().rev().collect(),
            Step::Strip => s
                .trim_matches(|c: char| c.is_ascii_whitespace())
                .to_string(),
            Step::Replace(a, b) => s.replace(a, &b.to_string()),
            Step::Remove(c) => s.replace(c, ""),
            Step::Take(k) => py_slice_str(s, None, Some(k), 1),
            Step::Drop(k) => py_slice_str(s, Some(k), None, 1),
            Step::TakeLast(k) => py_slice_str(s, Some(-k), None, 1),
            Step::EverySecond => py_slice_str(s, None, None, 2),
            Step::Title => {
                let mut prev_cased = false;
                s.chars()
                    .map(|c| {
                        let out = if prev_cased {
                            c.to_ascii_lowercase()
                        } else {
                            c.to_ascii_uppercase()
                        };
                        prev_cased = c.is_ascii_alphabetic();
                        out
                    })
                    .collect()
            }
            Step::Swapcase => s
                .chars()
                .map(|c| {
                    if c.is_ascii_uppercase() {
                        c.to_ascii_lowercase()
                    } else {
                        c.to_ascii_uppercase()
                    }
                })
                .collect(),
            Step::ReverseWords => s
                .split_ascii_whitespace()
                .rev()
                .collect::<Vec<_>>()
                .join(" "),
            Step::SortWords => {
                let mut w: Vec<&str> = s.split_ascii_whitespace().collect();
                w.sort();
                w.join(" ")
            }
        }
    }

    fn near_misses(&self) -> Vec<Step> {
        match *self {
            Step::Lower => vec![Step::Upper],
            Step::Upper => vec![Step::Lower],
            Step::Replace(a, b) => vec![Step::Replace(b, a), Step::Replace(next_char(a), b)],
            Step::Remove(c) => vec![Step::Remove(next_char(c))],
            Step::Take(k) => vec![
                Step::Take(k + 1),
                Step::Take(k - 1),
                Step::TakeLast(k),
                Step::Drop(k),
            ],
            Step::Drop(k) => vec![Step::Drop(k + 1), Step::Drop(k - 1), Step::Take(k)],
            Step::TakeLast(k) => vec![Step::TakeLast(k + 1), Step::TakeLast(k - 1), Step::Take(k)],
            Step::Title => vec![Step::Upper],
            Step::ReverseWords => vec![Step::Reverse],
            Step::SortWords => vec![Step::ReverseWords],
            _ => vec![],
        }
        .into_iter()
        .filter(|s| !matches!(s, Step::Take(k) | Step::Drop(k) | Step::TakeLast(k) if *k < 1))
        .collect()
    }
}

impl Final {
    fn sample(rng: &mut Rng) -> Final {
        match rng.below(7) {
            0 => Final::Itself,
            1 => Final::Length,
            2 => Final::Count(*rng.pick(&PARAM_CHARS)),
            3 => Final::Words,
            4 => Final::Palindrome,
            5 => Final::Find(*rng.pick(&PARAM_CHARS)),
            _ => Final::UpperCount,
        }
    }

    fn phrase(&self) -> String {
        match *self {
            Final::Itself => "return it".into(),
            Final::Length => "return its length".into(),
            Final::Count(c) => format!("return how many times '{c}' occurs in it"),
            Final::Words => "return its number of words".into(),
            Final::Palindrome => "return whether it reads the same backwards".into(),
            Final::Find(c) => {
                format!("return the index of the first '{c}' in it, or -1 if there is none")
            }
            Final::UpperCount => "return how many upper case letters it has".into(),
        }
    }

    fn code(&self) -> String {
        match *self {
            Final::Itself => "s".into(),
            Final::Length => "len(s)".into(),
            Final::Count(c) => format!("s.count('{c}')"),
            Final::Words => "len(s.split())".into(),
            Final::Palindrome => "s == s[::-1]".into(),
            Final::Find(c) => format!("s.find('{c}')"),
            Final::UpperCount => "sum(1 for c in s if c.isupper())".into(),
        }
    }

    fn apply(&self, s: &str) -> Value {
        match *self {
            Final::Itself => Value::str(s),
            Final::Length => Value::Int(s.chars().count() as i64),
            Final::Count(c) => Value::Int(s.matches(c).count() as i64),
            Final::Words => Value::Int(s.split_ascii_whitespace().count() as i64),
            Final::Palindrome => Value::Bool(s.chars().eq(s.chars().rev())),
            Final::Find(c) => Value::Int(s.find(c).map_or(-1, |i| i as i64)),
            Final::UpperCount => {
                Value::Int(s.chars().filter(|c| c.is_ascii_uppercase()).count() as i64)
            }
        }
    }

    fn near_misses(&self) -> Vec<Final> {
        match *self {
            Final::Length => vec![Final::Words],
            Final::Words => vec![Final::Length],
            Final::Count(c) => vec![Final::Count(next_char(c))],
            Final::Find(c) => vec![Final::Find(next_char(c)), Final::Count(c)],
            Final::UpperCount => vec![Final::Length],
            _ => vec![],
        }
    }
}

/// A string pipeline problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    pub steps: Vec<Step>,
    pub last: Final,
}

impl Pipeline {
    pub fn sample(rng: &mut Rng) -> Pipeline {
        let n = rng.range(1, 3) as usize;
        let steps = (0..n).map(|_| Step::sample(rng)).collect();
        Pipeline {
            steps,
            last: Final::sample(rng),
        }
    }

    fn run(&self, s: &str) -> Value {
        let mut s = s.to_string();
        for step in &self.steps {
            s = step.apply(&s);
        }
        self.last.apply(&s)
    }

    fn with(&self, change: impl FnOnce(&mut Pipeline)) -> Box<dyn Spec> {
        let mut m = self.clone();
        change(&mut m);
        Box::new(m)
    }
}

fn random_word(rng: &mut Rng, purpose: Purpose) -> String {
    let letters: &[char] = match purpose {
        Purpose::Filter => &['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'o', 'r', 's', 't'],
        Purpose::Audit => &['a', 'b', 'c', 'd', 'e', 'z'],
    };
    let len = rng.range(1, 5);
    (0..len)
        .map(|_| {
            let c = *rng.pick(letters);
            if rng.chance(1, 4) {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

impl Spec for Pipeline {
    fn family(&self) -> &'static str {
        "strings"
    }

    fn entry(&self) -> String {
        "transform".into()
    }

    fn params(&self) -> String {
        "s".into()
    }

    fn doc(&self) -> String {
        let steps: Vec<String> = self.steps.iter().map(Step::phrase).collect();
        format!(
            "Apply these steps to s in order: {}. Then {}.",
            steps.join("; "),
            self.last.phrase()
        )
    }

    fn body(&self) -> String {
        let mut b = String::new();
        for step in &self.steps {
            b.push_str(&format!("    s = {}\n", step.code()));
        }
        b.push_str(&format!("    return {}\n", self.last.code()));
        b
    }

    fn eval(&self, args: &[Value]) -> Value {
        self.run(args[0].as_str())
    }

    fn random_input(&self, rng: &mut Rng, purpose: Purpose) -> Vec<Value> {
        let n_words = rng.range(1, 4);
        let mut words: Vec<String> = (0..n_words).map(|_| random_word(rng, purpose)).collect();
        if purpose == Purpose::Audit && rng.chance(1, 4) {
            // Palindromes and near-palindromes.
            let w = words[0].clone();
            words = vec![format!("{w}{}", w.chars().rev().collect::<String>())];
        }
        let sep = if rng.chance(1, 5) { "  " } else { " " };
        let mut s = words.join(sep);
        if rng.chance(1, 4) {
            s = format!(" {s}");
        }
        if rng.chance(1, 4) {
            s.push(' ');
        }
        vec![Value::Str(s)]
    }

    fn edge_inputs(&self) -> Vec<Vec<Value>> {
        vec![vec![Value::str("")]]
    }

    fn mutants(&self) -> Vec<MutantSpec> {
        let mut out = Vec::new();
        if self.steps.len() > 1 || self.last != Final::Itself {
            for i in 0..self.steps.len() {
                out.push(MutantSpec {
                    label: format!("drop step `{}`", self.steps[i].code()),
                    spec: self.with(|m| {
                        m.steps.remove(i);
                    }),
                    essential: true,
                });
            }
        }
        for i in 1..self.steps.len() {
            out.push(MutantSpec {
                label: format!("swap steps {} and {}", i, i + 1),
                spec: self.with(|m| m.steps.swap(i - 1, i)),
                essential: false,
            });
        }
        for i in 0..self.steps.len() {
            for nm in self.steps[i].near_misses() {
                out.push(MutantSpec {
                    label: format!("`{}` -> `{}`", self.steps[i].code(), nm.code()),
                    spec: self.with(|m| m.steps[i] = nm),
                    essential: false,
                });
            }
        }
        for nm in self.last.near_misses() {
            out.push(MutantSpec {
                label: format!("`{}` -> `{}`", self.last.code(), nm.code()),
                spec: self.with(|m| m.last = nm),
                essential: false,
            });
        }
        out
    }

    fn tags(&self) -> Vec<&'static str> {
        let mut t = vec!["strings"];
        if self.steps.len() > 1 {
            t.push("composition");
        }
        for s in &self.steps {
            match s {
                Step::Reverse
                | Step::Take(_)
                | Step::Drop(_)
                | Step::TakeLast(_)
                | Step::EverySecond => t.push("slicing"),
                Step::SortWords => t.extend(["sorting", "lists"]),
                Step::ReverseWords => t.extend(["lists", "slicing"]),
                _ => {}
            }
        }
        match self.last {
            Final::Count(_) | Final::UpperCount | Final::Words => t.push("counting"),
            Final::Find(_) => t.extend(["searching", "indexing"]),
            Final::Palindrome => t.extend(["boolean-logic", "slicing"]),
            _ => {}
        }
        t
    }

    fn difficulty(&self) -> Difficulty {
        match self.steps.len() {
            1 => Difficulty::Easy,
            2 => Difficulty::Medium,
            _ => Difficulty::Hard,
        }
    }

    fn structurally_heldout(&self) -> bool {
        self.steps.len() >= 2 && HELDOUT_LEAD_STEPS.contains(&self.steps[0].name())
    }
}
