//! Catalogue templates over numbers and text: recursion, formatting, math, logic.

use super::{int_list, near_list, nested, pairs, plus, strs, word_list, Template};
use crate::spec::Difficulty::{Easy, Hard, Medium};
use crate::spec::Purpose;
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

fn is_prime(m: i64) -> bool {
    m > 1 && (2..m).all(|d| m % d != 0)
}

fn n_input(rng: &mut crate::rng::Rng, lo: i64, hi: i64) -> Vec<Value> {
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

pub static TEMPLATES: [Template; 22] = [
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
    // ---- math ----
    Template {
        family: "math",
        entry: "count_divisors",
        params: "n",
        tags: &["math", "counting", "loops"],
        difficulty: Easy,
        ranges: &[(1, 6)],
        doc: |p| format!("Return how many divisors of n >= 1 are at least {}.", p[0]),
        body: |p| {
            format!(
                "    return sum(1 for d in range(1, n + 1) if n % d == 0 and d >= {})\n",
                p[0]
            )
        },
        eval: |p, a| {
            let n = a[0].as_int();
            Value::Int((1..=n).filter(|d| n % d == 0 && *d >= p[0]).count() as i64)
        },
        input: |rng, _, _| n_input(rng, 1, 72),
    },
    Template {
        family: "math",
        entry: "count_primes",
        params: "n",
        tags: &["math", "loops", "counting", "conditionals"],
        difficulty: Medium,
        ranges: &[(0, 12)],
        doc: |p| {
            format!(
                "Return how many prime numbers m satisfy {} <= m <= n.",
                p[0]
            )
        },
        body: |p| {
            format!(
                "    count = 0\n    for m in range({}, n + 1):\n        if m > 1 and all(m % d != 0 for d in range(2, m)):\n            count += 1\n    return count\n",
                p[0]
            )
        },
        eval: |p, a| Value::Int((p[0]..=a[0].as_int()).filter(|&m| is_prime(m)).count() as i64),
        input: |rng, _, _| n_input(rng, 0, 60),
    },
    Template {
        family: "math",
        entry: "collatz_steps",
        params: "n",
        tags: &["math", "loops", "conditionals"],
        difficulty: Medium,
        ranges: &[(1, 6)],
        doc: |p| {
            format!(
                "Return how many steps it takes n >= 1 to reach {} or less, where a step halves an even n and turns an odd n into 3 * n + 1.",
                p[0]
            )
        },
        body: |p| {
            format!(
                "    steps = 0\n    while n > {}:\n        n = n // 2 if n % 2 == 0 else 3 * n + 1\n        steps += 1\n    return steps\n",
                p[0]
            )
        },
        eval: |p, a| {
            let (mut n, mut steps) = (a[0].as_int(), 0);
            while n > p[0] {
                n = if n % 2 == 0 { n / 2 } else { 3 * n + 1 };
                steps += 1;
            }
            Value::Int(steps)
        },
        input: |rng, _, _| n_input(rng, 1, 100),
    },
    Template {
        family: "math",
        entry: "count_digit",
        params: "n",
        tags: &["math", "counting", "strings"],
        difficulty: Easy,
        ranges: &[(0, 9)],
        doc: |p| {
            format!(
                "Return how many times the digit {} appears in the decimal form of n >= 0.",
                p[0]
            )
        },
        body: |p| format!("    return str(n).count('{}')\n", p[0]),
        eval: |p, a| {
            let d = char::from_digit(p[0] as u32, 10).expect("digit");
            Value::Int(
                a[0].as_int()
                    .to_string()
                    .chars()
                    .filter(|&c| c == d)
                    .count() as i64,
            )
        },
        input: |rng, p, purpose| match purpose {
            Purpose::Filter => n_input(rng, 0, 99_999),
            // Numbers built around the digit and its neighbours.
            Purpose::Audit => {
                let digits: Vec<i64> = (0..rng.range(1, 5))
                    .map(|_| (p[0] + rng.range(-1, 1)).rem_euclid(10))
                    .collect();
                vec![Value::Int(
                    digits.iter().fold(rng.range(1, 9), |acc, d| acc * 10 + d),
                )]
            }
        },
    },
    Template {
        family: "math",
        entry: "power_sum",
        params: "n",
        tags: &["math", "aggregation", "arithmetic"],
        difficulty: Easy,
        ranges: &[(1, 4), (0, 3)],
        doc: |p| {
            format!(
                "Return the sum of i ** {} for i from {} to n inclusive.",
                p[0], p[1]
            )
        },
        body: |p| {
            format!(
                "    return sum(i ** {} for i in range({}, n + 1))\n",
                p[0], p[1]
            )
        },
        eval: |p, a| Value::Int((p[1]..=a[0].as_int()).map(|i| i.pow(p[0] as u32)).sum()),
        input: |rng, _, _| n_input(rng, 0, 20),
    },
    // ---- logic ----
    Template {
        family: "logic",
        entry: "clamp_all",
        params: "xs",
        tags: &["conditionals", "lists", "mapping"],
        difficulty: Easy,
        ranges: &[(0, 6), (1, 8)],
        doc: |p| {
            format!(
                "Return xs with every element clamped to the range {} to {}.",
                p[0],
                p[0] + p[1]
            )
        },
        body: |p| {
            format!(
                "    return [min(max(x, {}), {}) for x in xs]\n",
                p[0],
                p[0] + p[1]
            )
        },
        eval: |p, a| {
            Value::ints(
                &a[0]
                    .as_ints()
                    .iter()
                    .map(|&x| x.max(p[0]).min(p[0] + p[1]))
                    .collect::<Vec<_>>(),
            )
        },
        input: |rng, p, purpose| {
            vec![Value::ints(&near_list(
                rng,
                &[p[0], p[0] + p[1]],
                purpose,
                -5,
                20,
            ))]
        },
    },
    Template {
        family: "logic",
        entry: "size_labels",
        params: "xs",
        tags: &["conditionals", "strings", "lists"],
        difficulty: Medium,
        ranges: &[(0, 9)],
        doc: |p| {
            format!(
                "Return, for each x in xs, 'big' if x is greater than {k}, 'small' if x is less than -{k}, and 'mid' otherwise.",
                k = p[0]
            )
        },
        body: |p| {
            format!(
                "    return ['big' if x > {k} else 'small' if x < -{k} else 'mid' for x in xs]\n",
                k = p[0]
            )
        },
        eval: |p, a| {
            Value::List(
                a[0].as_ints()
                    .iter()
                    .map(|&x| {
                        Value::str(if x > p[0] {
                            "big"
                        } else if x < -p[0] {
                            "small"
                        } else {
                            "mid"
                        })
                    })
                    .collect(),
            )
        },
        input: |rng, p, purpose| {
            vec![Value::ints(&near_list(
                rng,
                &[p[0], -p[0]],
                purpose,
                -15,
                15,
            ))]
        },
    },
    Template {
        family: "logic",
        entry: "fizzbuzz",
        params: "n",
        tags: &["conditionals", "loops", "strings", "math"],
        difficulty: Hard,
        ranges: &[(2, 4), (5, 7)],
        doc: |p| {
            format!(
                "Return a list for i from 1 to n: 'fizzbuzz' if i is divisible by both {a} and {b}, 'fizz' if only by {a}, 'buzz' if only by {b}, else str(i).",
                a = p[0],
                b = p[1]
            )
        },
        body: |p| {
            format!(
                "    out = []\n    for i in range(1, n + 1):\n        if i % {a} == 0 and i % {b} == 0:\n            out.append('fizzbuzz')\n        elif i % {a} == 0:\n            out.append('fizz')\n        elif i % {b} == 0:\n            out.append('buzz')\n        else:\n            out.append(str(i))\n    return out\n",
                a = p[0],
                b = p[1]
            )
        },
        eval: |p, a| {
            Value::List(
                (1..=a[0].as_int())
                    .map(|i| {
                        Value::Str(match (i % p[0] == 0, i % p[1] == 0) {
                            (true, true) => "fizzbuzz".into(),
                            (true, false) => "fizz".into(),
                            (false, true) => "buzz".into(),
                            _ => i.to_string(),
                        })
                    })
                    .collect(),
            )
        },
        input: |rng, _, _| n_input(rng, 0, 30),
    },
    Template {
        family: "logic",
        entry: "xor_flags",
        params: "xs",
        tags: &["boolean-logic", "lists", "math"],
        difficulty: Medium,
        ranges: &[(0, 10)],
        doc: |p| {
            format!("Return, for each x in xs, whether exactly one of 'x is greater than {}' and 'x is even' is true.", p[0])
        },
        body: |p| format!("    return [(x > {}) != (x % 2 == 0) for x in xs]\n", p[0]),
        eval: |p, a| {
            Value::List(
                a[0].as_ints()
                    .iter()
                    .map(|&x| Value::Bool((x > p[0]) != (x % 2 == 0)))
                    .collect(),
            )
        },
        input: |rng, p, purpose| vec![Value::ints(&near_list(rng, p, purpose, -5, 18))],
    },
    Template {
        family: "logic",
        entry: "balance",
        params: "pairs",
        tags: &["conditionals", "tuples", "aggregation"],
        difficulty: Medium,
        ranges: &[(0, 5)],
        doc: |p| {
            format!(
                "Return the sum over the pairs (a, b) in pairs of 1 if a - b is greater than {k}, -1 if b - a is greater than {k}, and 0 otherwise.",
                k = p[0]
            )
        },
        body: |p| {
            format!("    return sum(1 if a - b > {k} else -1 if b - a > {k} else 0 for a, b in pairs)\n", k = p[0])
        },
        eval: |p, a| {
            Value::Int(
                a[0].as_list()
                    .iter()
                    .map(|t| {
                        let v = t.as_ints();
                        if v[0] - v[1] > p[0] {
                            1
                        } else if v[1] - v[0] > p[0] {
                            -1
                        } else {
                            0
                        }
                    })
                    .sum(),
            )
        },
        input: |rng, _, _| vec![pairs(rng, 0, 6, 0, 10)],
    },
];
