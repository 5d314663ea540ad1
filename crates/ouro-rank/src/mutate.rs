//! Injected errors: single-site mutations of a passing program.
//!
//! Mutations work on the token stream of [`ouro_python::lexer`], so strings and
//! comments are never touched. Each [`Mutant`] records the edited character
//! range in both the original and the mutant, which become the emphasis
//! spans of injected-error pairs. A mutant is only a candidate: the caller
//! keeps it as a negative only after it *fails when executed*.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use ouro_python::lexer::{tokenize, Tok, TokKind, KEYWORDS};

/// The kinds of injected error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum MutationKind {
    /// An integer literal n becomes n+1 or n−1.
    OffByOne,
    /// A comparison becomes its negation (`<` → `>=`, `==` → `!=`).
    ComparisonFlip,
    /// An arithmetic or boolean operator becomes a sibling (`+` → `-`, `and` → `or`).
    OperatorSwap,
    /// A strict comparison becomes non-strict or back (`<` → `<=`).
    BoundaryChange,
    /// A use of one local name becomes another local name.
    WrongVariable,
    /// The body of an `if`/`elif`/`else` block becomes `pass`.
    DroppedBranch,
}

impl MutationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MutationKind::OffByOne => "off_by_one",
            MutationKind::ComparisonFlip => "comparison_flip",
            MutationKind::OperatorSwap => "operator_swap",
            MutationKind::BoundaryChange => "boundary_change",
            MutationKind::WrongVariable => "wrong_variable",
            MutationKind::DroppedBranch => "dropped_branch",
        }
    }
}

/// One mutated program.
#[derive(Debug, Clone, PartialEq)]
pub struct Mutant {
    pub kind: MutationKind,
    pub code: String,
    /// Edited range in the original, in chars, `[start, end)`.
    pub original_span: (u32, u32),
    /// Edited range in the mutant, in chars, `[start, end)`.
    pub mutant_span: (u32, u32),
}

fn char_pos(s: &str, byte: usize) -> u32 {
    s[..byte].chars().count() as u32
}

fn replace(code: &str, kind: MutationKind, start: usize, end: usize, with: &str) -> Mutant {
    let mut out = String::with_capacity(code.len() + with.len());
    out.push_str(&code[..start]);
    out.push_str(with);
    out.push_str(&code[end..]);
    let s = char_pos(code, start);
    Mutant {
        kind,
        original_span: (s, char_pos(code, end)),
        mutant_span: (s, s + with.chars().count() as u32),
        code: out,
    }
}

const BUILTINS: [&str; 24] = [
    "len",
    "range",
    "print",
    "int",
    "str",
    "float",
    "list",
    "dict",
    "set",
    "tuple",
    "sum",
    "min",
    "max",
    "abs",
    "sorted",
    "enumerate",
    "zip",
    "map",
    "filter",
    "any",
    "all",
    "bool",
    "self",
    "reversed",
];

/// Which of `sig` declare a parameter of a `def` or a `lambda`. A declaration is
/// not a use: renamed, it changes the signature or repeats a name (`def f(l, l)`,
/// a SyntaxError, which is no single-site bug).
fn declared_parameters(sig: &[&Tok], code: &str) -> Vec<bool> {
    let mut declares = vec![false; sig.len()];
    let mut k = 0;
    while k < sig.len() {
        let text = sig[k].text(code);
        let (open, close) = match text {
            "def" if sig.get(k + 2).is_some_and(|t| t.text(code) == "(") => (k + 2, ")"),
            "lambda" => (k, ":"),
            _ => {
                k += 1;
                continue;
            }
        };
        let mut depth = 0i32;
        let mut j = open + 1;
        while j < sig.len() {
            match sig[j].text(code) {
                "(" | "[" | "{" => depth += 1,
                ")" | "]" | "}" if depth > 0 => depth -= 1,
                t if t == close && depth == 0 => break,
                _ => {}
            }
            // A default value is a use; the name before `=`, `:` or `,` is declared.
            let next = sig.get(j + 1).map(|t| t.text(code));
            let prev = sig[j - 1].text(code);
            if depth == 0
                && sig[j].kind == TokKind::Name
                && matches!(prev, "(" | "," | "*" | "**" | "lambda")
                && matches!(next, Some("," | "=" | ":" | ")"))
            {
                declares[j] = true;
            }
            j += 1;
        }
        k = j;
    }
    declares
}

/// Every single-site mutant of `code`, in source order, grouped by kind.
pub fn all_mutants(code: &str) -> Vec<Mutant> {
    let toks: Vec<Tok> = tokenize(code);
    let sig: Vec<&Tok> = toks
        .iter()
        .filter(|t| !matches!(t.kind, TokKind::Space | TokKind::Comment))
        .collect();
    let mut out = Vec::new();
    // Names bound as variables: parameters and assignment targets are
    // approximated by "a name used at least twice, not called, not an attribute".
    let mut var_counts: std::collections::BTreeMap<&str, usize> = Default::default();
    let is_var_use = |k: usize| -> bool {
        let t = sig[k];
        if t.kind != TokKind::Name {
            return false;
        }
        let text = t.text(code);
        if KEYWORDS.contains(&text) || BUILTINS.contains(&text) {
            return false;
        }
        let prev = k.checked_sub(1).map(|p| sig[p].text(code));
        let next = sig.get(k + 1).map(|n| n.text(code));
        !matches!(prev, Some("." | "def" | "class" | "import" | "from" | "as"))
            && !matches!(next, Some("(" | "."))
    };
    for (k, tok) in sig.iter().enumerate() {
        if is_var_use(k) {
            *var_counts.entry(tok.text(code)).or_default() += 1;
        }
    }
    let declares = declared_parameters(&sig, code);
    let vars: Vec<&str> = var_counts
        .iter()
        .filter(|(_, &c)| c >= 2)
        .map(|(v, _)| *v)
        .collect();

    for (k, t) in sig.iter().enumerate() {
        let text = t.text(code);
        let prev = k.checked_sub(1).map(|p| sig[p].text(code));
        match t.kind {
            TokKind::Number if text.bytes().all(|b| b.is_ascii_digit()) && text.len() < 18 => {
                let n: i64 = text.parse().unwrap_or(0);
                out.push(replace(
                    code,
                    MutationKind::OffByOne,
                    t.start,
                    t.end,
                    &(n + 1).to_string(),
                ));
                if n > 0 {
                    out.push(replace(
                        code,
                        MutationKind::OffByOne,
                        t.start,
                        t.end,
                        &(n - 1).to_string(),
                    ));
                }
            }
            TokKind::Op => {
                let flip = match text {
                    "<" => Some(">="),
                    ">" => Some("<="),
                    "<=" => Some(">"),
                    ">=" => Some("<"),
                    "==" => Some("!="),
                    "!=" => Some("=="),
                    _ => None,
                };
                if let Some(f) = flip {
                    out.push(replace(
                        code,
                        MutationKind::ComparisonFlip,
                        t.start,
                        t.end,
                        f,
                    ));
                }
                let boundary = match text {
                    "<" => Some("<="),
                    "<=" => Some("<"),
                    ">" => Some(">="),
                    ">=" => Some(">"),
                    _ => None,
                };
                if let Some(b) = boundary {
                    out.push(replace(
                        code,
                        MutationKind::BoundaryChange,
                        t.start,
                        t.end,
                        b,
                    ));
                }
                // `*` after `(`/`,`/`import` is unpacking or a star import, not multiplication.
                let starred =
                    text == "*" && matches!(prev, None | Some("(" | "," | "import" | "[" | "="));
                let swap = match text {
                    "+" => Some("-"),
                    "-" => Some("+"),
                    "*" if !starred => Some("+"),
                    "//" => Some("/"),
                    "/" => Some("//"),
                    "%" => Some("//"),
                    "+=" => Some("-="),
                    "-=" => Some("+="),
                    _ => None,
                };
                if let Some(s) = swap {
                    out.push(replace(code, MutationKind::OperatorSwap, t.start, t.end, s));
                }
            }
            TokKind::Name if text == "and" || text == "or" => {
                let s = if text == "and" { "or" } else { "and" };
                out.push(replace(code, MutationKind::OperatorSwap, t.start, t.end, s));
            }
            TokKind::Name
                if is_var_use(k) && !declares[k] && vars.contains(&text) && prev != Some("for") =>
            {
                // The nearest other variable in name order keeps the choice deterministic.
                if let Some(other) = vars.iter().find(|v| **v != text) {
                    out.push(replace(
                        code,
                        MutationKind::WrongVariable,
                        t.start,
                        t.end,
                        other,
                    ));
                }
            }
            _ => {}
        }
    }
    out.extend(dropped_branches(code));
    out
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches([' ', '\t']).len()
}

fn dropped_branches(code: &str) -> Vec<Mutant> {
    let mut line_starts = vec![0];
    for (i, b) in code.bytes().enumerate() {
        if b == b'\n' {
            line_starts.push(i + 1);
        }
    }
    let lines: Vec<&str> = code.split('\n').collect();
    let mut out = Vec::new();
    for (li, line) in lines.iter().enumerate() {
        let head = line.trim_start();
        let head_code = head.split('#').next().unwrap_or("").trim_end();
        let is_branch =
            (head.starts_with("if ") || head.starts_with("elif ") || head.starts_with("else"))
                && head_code.ends_with(':');
        if !is_branch {
            continue;
        }
        let ind = indent_of(line);
        let mut body_end = li + 1;
        let mut body_indent = None;
        while body_end < lines.len() {
            let l = lines[body_end];
            if l.trim().is_empty() {
                body_end += 1;
                continue;
            }
            if indent_of(l) <= ind {
                break;
            }
            body_indent.get_or_insert(indent_of(l));
            body_end += 1;
        }
        let Some(bi) = body_indent else { continue };
        // Trailing blank lines stay outside the dropped body.
        while body_end > li + 1 && lines[body_end - 1].trim().is_empty() {
            body_end -= 1;
        }
        let start = line_starts[li + 1];
        let end = if body_end < line_starts.len() {
            line_starts[body_end] - 1
        } else {
            code.len()
        };
        let body = &code[start..end];
        let replacement = format!(
            "{}pass",
            &lines[li
                + 1
                + lines[li + 1..]
                    .iter()
                    .position(|l| !l.trim().is_empty())
                    .unwrap_or(0)][..bi]
        );
        if body.trim() == "pass" {
            continue;
        }
        let mut m = replace(code, MutationKind::DroppedBranch, start, end, &replacement);
        // Emphasis on the `pass` itself, not its indentation.
        m.mutant_span.0 += bi as u32;
        out.push(m);
    }
    out
}

/// Up to `max` mutants of `code`, spread over kinds, chosen reproducibly from `seed`.
///
/// Kinds take turns (round robin over a seeded shuffle of each kind's
/// candidates) so one kind with many sites does not crowd out the others.
pub fn sample_mutants(code: &str, max: usize, seed: u64) -> Vec<Mutant> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut by_kind: std::collections::BTreeMap<MutationKind, Vec<Mutant>> = Default::default();
    for m in all_mutants(code) {
        if m.code != code {
            by_kind.entry(m.kind).or_default().push(m);
        }
    }
    for v in by_kind.values_mut() {
        v.shuffle(&mut rng);
    }
    let mut out: Vec<Mutant> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    loop {
        let mut progressed = false;
        for v in by_kind.values_mut() {
            if out.len() >= max {
                return out;
            }
            if let Some(m) = v.pop() {
                progressed = true;
                if seen.insert(m.code.clone()) {
                    out.push(m);
                }
            }
        }
        if !progressed {
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "def count_big(xs, limit):\n    total = 0\n    for x in xs:\n        if x > limit and x % 2 == 0:\n            total += 1\n        else:\n            total = total - 0\n    return total  # '<' stays\n";

    fn span_text(s: &str, (a, b): (u32, u32)) -> String {
        s.chars().skip(a as usize).take((b - a) as usize).collect()
    }

    #[test]
    fn every_kind_is_produced_and_spans_cover_the_edit() {
        let ms = all_mutants(SRC);
        for kind in [
            MutationKind::OffByOne,
            MutationKind::ComparisonFlip,
            MutationKind::OperatorSwap,
            MutationKind::BoundaryChange,
            MutationKind::WrongVariable,
            MutationKind::DroppedBranch,
        ] {
            assert!(ms.iter().any(|m| m.kind == kind), "no {kind:?}");
        }
        for m in &ms {
            let before = span_text(SRC, m.original_span);
            let after = span_text(&m.code, m.mutant_span);
            assert_ne!(before, after, "{m:?}");
            // Outside the spans the texts are identical.
            let pre: String = SRC.chars().take(m.original_span.0 as usize).collect();
            assert!(m.code.starts_with(&pre));
        }
        let flip = ms
            .iter()
            .find(|m| m.kind == MutationKind::ComparisonFlip)
            .unwrap();
        assert!(flip.code.contains("if x <= limit"));
        assert!(
            ms.iter().all(|m| m.code.contains("# '<' stays")),
            "comments untouched"
        );
        let drop = ms
            .iter()
            .find(|m| m.kind == MutationKind::DroppedBranch)
            .unwrap();
        assert!(
            drop.code.contains(":\n            pass\n        else:"),
            "{}",
            drop.code
        );
        assert_eq!(span_text(&drop.code, drop.mutant_span), "pass");
    }

    #[test]
    fn sampling_is_reproducible_and_spreads_kinds() {
        let a = sample_mutants(SRC, 6, 3);
        let b = sample_mutants(SRC, 6, 3);
        assert_eq!(a, b);
        assert_eq!(a.len(), 6);
        let kinds: std::collections::HashSet<_> = a.iter().map(|m| m.kind).collect();
        assert_eq!(kinds.len(), 6);
    }

    #[test]
    fn star_arguments_are_not_swapped() {
        let ms = all_mutants("def f(*args):\n    return g(*args) * 2\n");
        let swaps: Vec<_> = ms
            .iter()
            .filter(|m| m.kind == MutationKind::OperatorSwap)
            .collect();
        assert_eq!(swaps.len(), 1);
        assert!(swaps[0].code.contains("g(*args) + 2"));
    }

    #[test]
    fn parameters_are_declared_not_used() {
        // `def add(a, a)` does not compile, and `def add(b, b)` neither: a use is renamed.
        let ms =
            all_mutants("def add(a, b=1, *c):\n    f = lambda x, y: x + y\n    return a + b\n");
        let wrong: Vec<&str> = ms
            .iter()
            .filter(|m| m.kind == MutationKind::WrongVariable)
            .map(|m| m.code.as_str())
            .collect();
        assert!(!wrong.is_empty());
        for code in wrong {
            assert!(
                code.starts_with("def add(a, b=1, *c):\n    f = lambda x, y:"),
                "{code}"
            );
        }
    }
}
