//! Catalogue templates over numbers and text: recursion and formatting (math and logic
//! are in `math`).

use super::{int_list, nested, plus, strs, word_list, Template};
use crate::spec::Difficulty::{Easy, Hard, Medium};
use ouro_python::value::{py_str_repr, Value};

const SEPARATORS: [&str; 4] = [", ", "-", " ", "/"];

fn nested_ints(v: &Value, out: &mut Vec<i64>) {
    match v {
        Value::List(items) => items.iter().for_each(|i| nested_ints(i, out)),
        other => out.push(other.as_int()),
    }
}

fn flat(v: &Value) -> Vec<i64> {
    let mut out = Vec::new();
    nested_ints(v, &mut out);
    out
}

/// Python's `str(x).zfill(width)`.
fn zfill(x: i64, width: usize) -> String {
    let digits = x.unsigned_abs().to_string();
    let sign = if x < 0 { "-" } else { "" };
    let pad = width.saturating_sub(digits.len() + sign.len());
    format!("{sign}{}{digits}", "0".repeat(pad))
}

pub(super) fn n_input(rng: &mut crate::rng::Rng, lo: i64, hi: i64) -> Vec<Value> {
    vec![Value::Int(rng.range(lo, hi))]
}

fn rec_linear(p: &[i64], n: i64) -> i64 {
    if n == 0 {
        p[0]
    } else {
        p[1] * rec_linear(p, n - 1) + p[2]
    }
}

fn rec_pair(p: &[i64], n: i64) -> i64 {
    match n {
        0 => p[0],
        1 => p[1],
        _ => rec_pair(p, n - 1) + p[2] * rec_pair(p, n - 2),
    }
}

pub static TEMPLATES: [Template; 12] = [
    // ---- recursion ----
    Template {
        family: "recursion",
        entry: "linear_rec",
        params: "n",
        tags: &["recursion", "arithmetic"],
        difficulty: Medium,
        ranges: &[(0, 5), (1, 3), (-3, 5)],
        doc: |p| {
            format!(
                "Return f(n) for n >= 0, where f(0) = {} and f(n) = {} * f(n - 1) {} for n > 0. Compute it recursively.",
                p[0], p[1], plus(p[2])
            )
        },
        body: |p| {
            format!(
                "    if n == 0:\n        return {}\n    return {} * linear_rec(n - 1) {}\n",
                p[0],
                p[1],
                plus(p[2])
            )
        },
        eval: |p, a| Value::Int(rec_linear(p, a[0].as_int())),
        input: |rng, _, _| n_input(rng, 0, 8),
    },
    Template {
        family: "recursion",
        entry: "pair_rec",
        params: "n",
        tags: &["recursion", "arithmetic", "conditionals"],
        difficulty: Hard,
        ranges: &[(0, 3), (1, 4), (1, 3)],
        doc: |p| {
            format!(
                "Return f(n) for n >= 0, where f(0) = {}, f(1) = {} and f(n) = f(n - 1) + {} * f(n - 2) for n > 1. Compute it recursively.",
                p[0], p[1], p[2]
            )
        },
        body: |p| {
            format!(
                "    if n == 0:\n        return {}\n    if n == 1:\n        return {}\n    return pair_rec(n - 1) + {} * pair_rec(n - 2)\n",
                p[0], p[1], p[2]
            )
        },
        eval: |p, a| Value::Int(rec_pair(p, a[0].as_int())),
        input: |rng, _, _| n_input(rng, 0, 11),
    },
    Template {
        family: "recursion",
        entry: "digit_sum",
        params: "n",
        tags: &["recursion", "math"],
        difficulty: Medium,
        ranges: &[(2, 10)],
        doc: |p| {
            format!("Return the sum of the digits of n >= 0 written in base {}. Compute it recursively.", p[0])
        },
        body: |p| {
            format!(
                "    if n < {k}:\n        return n\n    return n % {k} + digit_sum(n // {k})\n",
                k = p[0]
            )
        },
        eval: |p, a| {
            let (mut n, mut s) = (a[0].as_int(), 0);
            while n > 0 {
                s += n % p[0];
                n /= p[0];
            }
            Value::Int(s)
        },
        input: |rng, _, _| n_input(rng, 0, 5000),
    },
    Template {
        family: "recursion",
        entry: "nested_sum_above",
        params: "xs",
        tags: &["recursion", "nested-data", "lists", "filtering"],
        difficulty: Hard,
        ranges: &[(-2, 6)],
        doc: |p| {
            format!("Return the sum of all integers greater than {} in the nested list xs, at any depth.", p[0])
        },
        body: |p| {
            format!(
                "    total = 0\n    for x in xs:\n        if isinstance(x, list):\n            total += nested_sum_above(x)\n        elif x > {}:\n            total += x\n    return total\n",
                p[0]
            )
        },
        eval: |p, a| Value::Int(flat(&a[0]).into_iter().filter(|&x| x > p[0]).sum()),
        input: |rng, _, _| vec![nested(rng, 3)],
    },
    Template {
        family: "recursion",
        entry: "nested_count_divisible",
        params: "xs",
        tags: &["recursion", "nested-data", "counting", "math"],
        difficulty: Hard,
        ranges: &[(2, 4)],
        doc: |p| {
            format!("Return how many integers in the nested list xs, at any depth, are divisible by {}.", p[0])
        },
        body: |p| {
            format!(
                "    count = 0\n    for x in xs:\n        if isinstance(x, list):\n            count += nested_count_divisible(x)\n        elif x % {} == 0:\n            count += 1\n    return count\n",
                p[0]
            )
        },
        eval: |p, a| {
            Value::Int(
                flat(&a[0])
                    .into_iter()
                    .filter(|x| x.rem_euclid(p[0]) == 0)
                    .count() as i64,
            )
        },
        input: |rng, _, _| vec![nested(rng, 3)],
    },
    Template {
        family: "recursion",
        entry: "flatten_without",
        params: "xs",
        tags: &["recursion", "nested-data", "lists"],
        difficulty: Hard,
        ranges: &[(0, 6)],
        doc: |p| {
            format!("Return a flat list of the integers in the nested list xs, in order, leaving out every {}.", p[0])
        },
        body: |p| {
            format!(
                "    out = []\n    for x in xs:\n        if isinstance(x, list):\n            out.extend(flatten_without(x))\n        elif x != {}:\n            out.append(x)\n    return out\n",
                p[0]
            )
        },
        eval: |p, a| {
            Value::ints(
                &flat(&a[0])
                    .into_iter()
                    .filter(|&x| x != p[0])
                    .collect::<Vec<_>>(),
            )
        },
        input: |rng, _, _| vec![nested(rng, 3)],
    },
    Template {
        family: "recursion",
        entry: "power_mod",
        params: "b, e",
        tags: &["recursion", "math", "arithmetic"],
        difficulty: Medium,
        ranges: &[(2, 13)],
        doc: |p| {
            format!(
                "Return b to the power e, modulo {}, for e >= 0. Compute it recursively.",
                p[0]
            )
        },
        body: |p| {
            format!("    if e == 0:\n        return 1 % {k}\n    return b * power_mod(b, e - 1) % {k}\n", k = p[0])
        },
        eval: |p, a| {
            let (b, e) = (a[0].as_int(), a[1].as_int());
            let mut r = 1 % p[0];
            for _ in 0..e {
                r = (b * r).rem_euclid(p[0]);
            }
            Value::Int(r)
        },
        input: |rng, _, _| vec![Value::Int(rng.range(0, 12)), Value::Int(rng.range(0, 9))],
    },
    // ---- formatting ----
    Template {
        family: "formatting",
        entry: "join_scaled",
        params: "xs",
        tags: &["string-formatting", "strings", "mapping"],
        difficulty: Easy,
        ranges: &[(0, 3), (1, 5)],
        doc: |p| {
            format!(
                "Return the values x * {} for each x in xs, written as text and joined by {}.",
                p[1],
                py_str_repr(SEPARATORS[p[0] as usize])
            )
        },
        body: |p| {
            format!(
                "    return {}.join(str(x * {}) for x in xs)\n",
                py_str_repr(SEPARATORS[p[0] as usize]),
                p[1]
            )
        },
        eval: |p, a| {
            let parts: Vec<String> = a[0]
                .as_ints()
                .iter()
                .map(|x| (x * p[1]).to_string())
                .collect();
            Value::Str(parts.join(SEPARATORS[p[0] as usize]))
        },
        input: |rng, _, _| vec![Value::ints(&int_list(rng, 0, 5, -5, 20))],
    },
    Template {
        family: "formatting",
        entry: "zero_pad",
        params: "xs",
        tags: &["string-formatting", "strings", "lists"],
        difficulty: Easy,
        ranges: &[(2, 6)],
        doc: |p| {
            format!("Return each x in xs as text padded with leading zeros to width {} (str(x).zfill({})).", p[0], p[0])
        },
        body: |p| format!("    return [str(x).zfill({}) for x in xs]\n", p[0]),
        eval: |p, a| {
            Value::List(
                a[0].as_ints()
                    .iter()
                    .map(|&x| Value::Str(zfill(x, p[0] as usize)))
                    .collect(),
            )
        },
        input: |rng, _, _| vec![Value::ints(&int_list(rng, 0, 5, -50, 2000))],
    },
    Template {
        family: "formatting",
        entry: "labels",
        params: "pairs",
        tags: &["string-formatting", "strings", "tuples", "filtering"],
        difficulty: Medium,
        ranges: &[(0, 9)],
        doc: |p| {
            format!(
                "Return the text 'name=value' for each pair (name, value) in pairs whose value is greater than {}, joined by ', '.",
                p[0]
            )
        },
        body: |p| {
            format!(
                "    return ', '.join(f'{{k}}={{v}}' for k, v in pairs if v > {})\n",
                p[0]
            )
        },
        eval: |p, a| {
            let parts: Vec<String> = a[0]
                .as_list()
                .iter()
                .map(|t| t.as_list())
                .filter(|t| t[1].as_int() > p[0])
                .map(|t| format!("{}={}", t[0].as_str(), t[1].as_int()))
                .collect();
            Value::Str(parts.join(", "))
        },
        input: |rng, _, _| {
            let names = word_list(rng, 0, 5);
            vec![Value::List(
                names
                    .into_iter()
                    .map(|n| Value::Tuple(vec![Value::Str(n), Value::Int(rng.range(-2, 14))]))
                    .collect(),
            )]
        },
    },
    Template {
        family: "formatting",
        entry: "right_align",
        params: "words",
        tags: &["string-formatting", "strings", "lists"],
        difficulty: Easy,
        ranges: &[(3, 8)],
        doc: |p| {
            format!("Return each word of words right-aligned to width {} by padding with '.' on the left.", p[0])
        },
        body: |p| format!("    return [w.rjust({}, '.') for w in words]\n", p[0]),
        eval: |p, a| {
            Value::List(
                a[0].as_list()
                    .iter()
                    .map(|w| {
                        let w = w.as_str();
                        let pad = (p[0] as usize).saturating_sub(w.len());
                        Value::Str(format!("{}{w}", ".".repeat(pad)))
                    })
                    .collect(),
            )
        },
        input: |rng, _, _| vec![strs(&word_list(rng, 0, 5))],
    },
    Template {
        family: "formatting",
        entry: "numbered",
        params: "xs",
        tags: &["string-formatting", "strings", "indexing"],
        difficulty: Medium,
        ranges: &[(0, 3)],
        doc: |p| {
            format!(
                "Return the text 'i:x' for each element x of xs numbered from {} as i, joined by ' | '.",
                p[0]
            )
        },
        body: |p| {
            format!(
                "    return ' | '.join(f'{{i}}:{{x}}' for i, x in enumerate(xs, {}))\n",
                p[0]
            )
        },
        eval: |p, a| {
            let parts: Vec<String> = a[0]
                .as_ints()
                .iter()
                .enumerate()
                .map(|(i, x)| format!("{}:{x}", i as i64 + p[0]))
                .collect();
            Value::Str(parts.join(" | "))
        },
        input: |rng, _, _| vec![Value::ints(&int_list(rng, 0, 5, -5, 20))],
    },
];
