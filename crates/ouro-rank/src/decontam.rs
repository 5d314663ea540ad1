//! Benchmark decontamination.
//!
//! The default rule is the one bigcode (The Stack, StarCoder, StarCoder2)
//! and SelfCodeAlign apply: a training text is contaminated when it contains
//! a benchmark string — a prompt's docstring, a plain-text task statement or
//! a reference solution — as a case-insensitive substring. Both sides are
//! normalised first (lower case, every run of whitespace one space), so a
//! docstring re-indented inside another function or pasted as a plain
//! instruction still matches. A few one-line reference solutions are so
//! generic that matching them would flag unrelated code; they are
//! whitelisted as bigcode's `HUMAN_EVAL_STRINGS_OK` does, and strings
//! shorter than [`MIN_CHARS`] are skipped for the same reason.
//!
//! Benchmarks are kept as [`Fingerprints`]: for each normalised string its
//! length, a hash of its first [`MIN_CHARS`] bytes and a hash of the whole.
//! Matching is one rolling-hash pass over the text (candidates by prefix,
//! confirmed by the full hash), and a benchmark can ship as fingerprints
//! without its text: HumanEval's are embedded (`data/humaneval.fingerprints`,
//! made by `ouro build fingerprints`), so decontamination against it works
//! offline by default.
//!
//! The older rule — any shared window of n significant Python tokens — is
//! kept as [`DecontamRule::Ngram`].

use std::collections::{HashMap, HashSet};

use ouro_data::Problem;
use serde::{Deserialize, Serialize};

use crate::dedup::{mulmod, MERSENNE as MOD};
use ouro_python::lexer::significant_tokens;

/// Which rule flags a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecontamRule {
    /// Case-insensitive, whitespace-normalised substring of a benchmark string (bigcode).
    #[default]
    Substring,
    /// A shared window of n significant Python tokens.
    Ngram,
}

impl std::str::FromStr for DecontamRule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "substring" => Ok(DecontamRule::Substring),
            "ngram" => Ok(DecontamRule::Ngram),
            other => Err(format!(
                "unknown decontamination rule '{other}' (expected substring or ngram)"
            )),
        }
    }
}

/// Benchmarks whose fingerprints ship inside ouro.
pub const BUILTIN_BENCHMARKS: &[&str] = &["humaneval"];

/// Knobs of decontamination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DecontamOptions {
    pub rule: DecontamRule,
    /// Built-in benchmarks (see [`BUILTIN_BENCHMARKS`]); substring rule only.
    pub builtin: Vec<String>,
    /// n of the n-gram rule.
    pub ngram: usize,
}

impl Default for DecontamOptions {
    fn default() -> Self {
        DecontamOptions {
            rule: DecontamRule::Substring,
            builtin: vec!["humaneval".into()],
            ngram: 10,
        }
    }
}

impl DecontamOptions {
    /// The rule in words, for reports and the dataset card.
    pub fn label(&self) -> String {
        match self.rule {
            DecontamRule::Substring => format!(
                "case-insensitive substring of benchmark docstrings and solutions (≥ {MIN_CHARS} chars)"
            ),
            // Built-in benchmarks ship as substring fingerprints, not texts to take
            // n-grams of: they are matched by the substring rule still.
            DecontamRule::Ngram if !self.builtin.is_empty() => format!(
                "{}-gram of significant tokens (built-in benchmarks: case-insensitive \
                 substring, ≥ {MIN_CHARS} chars)",
                self.ngram
            ),
            DecontamRule::Ngram => format!("{}-gram of significant tokens", self.ngram),
        }
    }

    /// An unknown built-in benchmark name, as an error naming the valid ones; an n of 0.
    pub fn check(&self) -> Result<(), String> {
        if self.ngram == 0 {
            return Err("the n of the ngram decontamination rule must be at least 1".into());
        }
        for b in &self.builtin {
            if !BUILTIN_BENCHMARKS.contains(&b.as_str()) {
                return Err(format!(
                    "unknown built-in benchmark '{b}' (expected one of: {}; other benchmarks are given as problem files)",
                    BUILTIN_BENCHMARKS.join(", ")
                ));
            }
        }
        Ok(())
    }
}

/// Benchmark strings shorter than this many normalised bytes are too generic
/// to mean contamination; it is also the prefix a fingerprint hashes.
pub const MIN_CHARS: usize = 20;

/// HumanEval canonical solutions too generic to mean contamination
/// (bigcode's `HUMAN_EVAL_STRINGS_OK`), normalised.
pub const TRIVIAL_SOLUTIONS: &[&str] = &[
    "return x + y",
    "return len(string)",
    "return n**2",
    "return ''.join(strings)",
    "return \" \".join(strings)",
];

/// Lower case, whitespace runs collapsed to one space, trimmed.
pub fn normalise_text(s: &str) -> String {
    s.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Contents of every triple-quoted string in `code`, in order.
fn triple_quoted(code: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = code;
    loop {
        let next = ["\"\"\"", "'''"]
            .iter()
            .filter_map(|q| rest.find(q).map(|i| (i, *q)))
            .min();
        let Some((i, q)) = next else { break };
        let body = &rest[i + 3..];
        let Some(j) = body.find(q) else { break };
        out.push(&body[..j]);
        rest = &body[j + 3..];
    }
    out
}

/// A docstring's task statement without its examples (the text before a
/// `>>>` or `Example` line), when there is such a part: a docstring pasted
/// without its doctests is still the benchmark's task.
fn description(doc: &str) -> Option<&str> {
    let mut offset = 0;
    for line in doc.split_inclusive('\n') {
        let t = line.trim_start().to_lowercase();
        if t.starts_with(">>>") || t.starts_with("example") || t.starts_with("for example") {
            let d = doc[..offset].trim();
            return (!d.is_empty()).then_some(d);
        }
        offset += line.len();
    }
    None
}

/// The MBPP prompt ouro's importer writes: the task sits between these.
const MBPP_LEAD: &str = "here is your task: ";
const MBPP_TAIL: &str = " Your code should pass";

/// The strings of one benchmark problem that training data must not contain:
/// its docstrings and their task statements (or, without any docstring, the
/// prompt's task statement) and its reference solution's body (what follows
/// the prompt). Raw, not normalised.
pub fn benchmark_strings(p: &Problem) -> Vec<String> {
    let mut out = Vec::new();
    for d in triple_quoted(&p.prompt) {
        let d = d.trim();
        out.push(d.to_string());
        if let Some(desc) = description(d) {
            out.push(desc.to_string());
        }
    }
    if out.is_empty() {
        let task = match (p.prompt.find(MBPP_LEAD), p.prompt.find(MBPP_TAIL)) {
            (Some(a), Some(b)) if a + MBPP_LEAD.len() <= b => &p.prompt[a + MBPP_LEAD.len()..b],
            _ => p.prompt.as_str(),
        };
        out.push(task.trim().to_string());
    }
    if let Some(r) = &p.reference_solution {
        let body = r.strip_prefix(p.prompt.as_str()).unwrap_or(r);
        out.push(body.trim().to_string());
    }
    out
}

const BASE: u64 = 1_000_003;

/// Polynomial prefix hashes of `bytes` (`h[i]` covers `bytes[..i]`).
struct Prefix {
    h: Vec<u64>,
    pow: Vec<u64>,
}

impl Prefix {
    fn new(bytes: &[u8]) -> Self {
        let mut h = Vec::with_capacity(bytes.len() + 1);
        let mut pow = Vec::with_capacity(bytes.len() + 1);
        h.push(0);
        pow.push(1);
        for &b in bytes {
            let last = *h.last().unwrap();
            h.push((mulmod(last, BASE) + b as u64 + 1) % MOD);
            pow.push(mulmod(*pow.last().unwrap(), BASE));
        }
        Prefix { h, pow }
    }

    /// Hash of `bytes[a..b]`.
    fn get(&self, a: usize, b: usize) -> u64 {
        (self.h[b] + MOD - mulmod(self.h[a], self.pow[b - a])) % MOD
    }
}

/// One benchmark string, by hash: normalised length, hash of the first
/// [`MIN_CHARS`] bytes, hash of the whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint {
    pub len: u32,
    pub prefix: u64,
    pub full: u64,
}

/// A benchmark's fingerprints (prefixes of [`MIN_CHARS`] bytes).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fingerprints {
    pub prints: Vec<Fingerprint>,
}

/// Embedded fingerprints of HumanEval (164 problems, from the `human-eval`
/// package's data file).
const HUMANEVAL: &str = include_str!("../data/humaneval.fingerprints");

impl Fingerprints {
    /// Fingerprints of `strings`: normalised, whitelisted and short strings dropped, sorted, unique.
    pub fn from_strings<'a>(strings: impl IntoIterator<Item = &'a str>) -> Self {
        let mut set = HashSet::new();
        for s in strings {
            let n = normalise_text(s);
            if n.len() < MIN_CHARS || TRIVIAL_SOLUTIONS.contains(&n.as_str()) {
                continue;
            }
            let p = Prefix::new(n.as_bytes());
            set.insert(Fingerprint {
                len: n.len() as u32,
                prefix: p.get(0, MIN_CHARS),
                full: p.get(0, n.len()),
            });
        }
        let mut prints: Vec<Fingerprint> = set.into_iter().collect();
        prints.sort();
        Fingerprints { prints }
    }

    /// Fingerprints of benchmark problems (see [`benchmark_strings`]).
    pub fn of_problems(problems: &[Problem]) -> Self {
        let strings: Vec<String> = problems.iter().flat_map(benchmark_strings).collect();
        Self::from_strings(strings.iter().map(String::as_str))
    }

    /// A built-in benchmark's fingerprints.
    pub fn builtin(name: &str) -> Result<Self, String> {
        match name {
            "humaneval" => Self::parse(HUMANEVAL),
            other => Err(format!("unknown built-in benchmark '{other}'")),
        }
    }

    /// The text form: a `prefix_len N` line, then `len prefix full` per line (hex hashes).
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "# ouro decontamination fingerprints: normalised length, prefix hash, full hash\nprefix_len {MIN_CHARS}\n"
        );
        for f in &self.prints {
            s.push_str(&format!("{} {:016x} {:016x}\n", f.len, f.prefix, f.full));
        }
        s
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let mut out = Fingerprints::default();
        let mut prefix_len = None;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || format!("fingerprints line {}: cannot read '{line}'", i + 1);
            if let Some(n) = line.strip_prefix("prefix_len ") {
                prefix_len = Some(n.trim().parse::<usize>().map_err(|_| bad())?);
                continue;
            }
            let parts: Vec<&str> = line.split_whitespace().collect();
            let [len, prefix, full] = parts[..] else {
                return Err(bad());
            };
            out.prints.push(Fingerprint {
                len: len.parse().map_err(|_| bad())?,
                prefix: u64::from_str_radix(prefix, 16).map_err(|_| bad())?,
                full: u64::from_str_radix(full, 16).map_err(|_| bad())?,
            });
        }
        if prefix_len != Some(MIN_CHARS) {
            return Err(format!(
                "fingerprints: prefix_len is {prefix_len:?}, this build hashes {MIN_CHARS}-byte prefixes"
            ));
        }
        Ok(out)
    }
}

/// Finds benchmark strings inside texts by their fingerprints.
pub struct SubstringMatcher {
    by_prefix: HashMap<u64, Vec<(usize, u64)>>,
    strings: usize,
}

impl SubstringMatcher {
    pub fn new(sets: &[Fingerprints]) -> Self {
        let mut by_prefix: HashMap<u64, Vec<(usize, u64)>> = HashMap::new();
        let mut strings = 0;
        for s in sets {
            for f in &s.prints {
                by_prefix
                    .entry(f.prefix)
                    .or_default()
                    .push((f.len as usize, f.full));
                strings += 1;
            }
        }
        SubstringMatcher { by_prefix, strings }
    }

    /// Benchmark strings known.
    pub fn strings(&self) -> usize {
        self.strings
    }

    pub fn is_contaminated(&self, text: &str) -> bool {
        if self.by_prefix.is_empty() {
            return false;
        }
        let n = normalise_text(text);
        let b = n.as_bytes();
        if b.len() < MIN_CHARS {
            return false;
        }
        let p = Prefix::new(b);
        (0..=b.len() - MIN_CHARS).any(|i| {
            self.by_prefix
                .get(&p.get(i, i + MIN_CHARS))
                .is_some_and(|cands| {
                    cands
                        .iter()
                        .any(|&(len, full)| i + len <= b.len() && p.get(i, i + len) == full)
                })
        })
    }
}

/// N-gram decontamination: a text is contaminated when it shares at least
/// one n-gram of significant tokens with any benchmark text (texts shorter
/// than n contribute their whole token sequence as a single gram).
pub struct NgramMatcher {
    n: usize,
    grams: HashSet<u64>,
}

impl NgramMatcher {
    pub fn new<'a>(texts: impl IntoIterator<Item = &'a str>, n: usize) -> Self {
        let n = n.max(1);
        let mut grams = HashSet::new();
        for t in texts {
            grams.extend(Self::grams_of(t, n));
        }
        NgramMatcher { n, grams }
    }

    fn grams_of(text: &str, n: usize) -> Vec<u64> {
        let toks = significant_tokens(text);
        if toks.is_empty() {
            return Vec::new();
        }
        if toks.len() < n {
            return vec![crate::dedup::hash64(&toks)];
        }
        toks.windows(n).map(crate::dedup::hash64).collect()
    }

    pub fn n(&self) -> usize {
        self.n
    }

    pub fn is_contaminated(&self, text: &str) -> bool {
        !self.grams.is_empty()
            && Self::grams_of(text, self.n)
                .iter()
                .any(|g| self.grams.contains(g))
    }
}

/// A decontaminator of either rule.
pub enum Decontaminator {
    Substring(SubstringMatcher),
    /// N-grams of the benchmark files' texts, and the built-in benchmarks' substring
    /// fingerprints (they hold no text to take n-grams of).
    Ngram(Option<NgramMatcher>, Option<SubstringMatcher>),
}

impl Decontaminator {
    /// From benchmark problems plus the options' built-in benchmarks; `None`
    /// when there is nothing to decontaminate against.
    pub fn new(benchmarks: &[Problem], o: &DecontamOptions) -> Result<Option<Self>, String> {
        o.check()?;
        Ok(match o.rule {
            DecontamRule::Substring => {
                let mut sets = vec![Fingerprints::of_problems(benchmarks)];
                for b in &o.builtin {
                    sets.push(Fingerprints::builtin(b)?);
                }
                let m = SubstringMatcher::new(&sets);
                (m.strings() > 0).then_some(Decontaminator::Substring(m))
            }
            DecontamRule::Ngram => {
                let texts: Vec<&str> = benchmarks
                    .iter()
                    .flat_map(|p| {
                        std::iter::once(p.prompt.as_str()).chain(p.reference_solution.as_deref())
                    })
                    .collect();
                let ngram = (!texts.is_empty()).then(|| NgramMatcher::new(texts, o.ngram));
                let builtin = o
                    .builtin
                    .iter()
                    .map(|b| Fingerprints::builtin(b))
                    .collect::<Result<Vec<_>, _>>()?;
                let builtin = SubstringMatcher::new(&builtin);
                let builtin = (builtin.strings() > 0).then_some(builtin);
                (ngram.is_some() || builtin.is_some())
                    .then_some(Decontaminator::Ngram(ngram, builtin))
            }
        })
    }

    pub fn is_contaminated(&self, text: &str) -> bool {
        match self {
            Decontaminator::Substring(m) => m.is_contaminated(text),
            Decontaminator::Ngram(ngram, builtin) => {
                ngram.as_ref().is_some_and(|m| m.is_contaminated(text))
                    || builtin.as_ref().is_some_and(|m| m.is_contaminated(text))
            }
        }
    }
}

#[cfg(test)]
mod tests;
