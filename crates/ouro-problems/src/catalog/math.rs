//! Math and logic templates of the catalogue family (after `numeric`'s, in that order).

use super::numeric::n_input;
use super::{near_list, pairs, Template};
use crate::spec::Difficulty::{Easy, Hard, Medium};
use crate::spec::Purpose;
use ouro_python::value::Value;

fn is_prime(m: i64) -> bool {
    m > 1 && (2..m).all(|d| m % d != 0)
}

pub static TEMPLATES: [Template; 10] = [
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
