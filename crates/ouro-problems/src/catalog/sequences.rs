//! Catalogue templates over ordered and unordered collections: indexing, slicing and sets.

use super::{int_list, near_list, Template};
use crate::spec::Difficulty::{Easy, Hard, Medium};
use crate::spec::Purpose;
use ouro_python::value::{py_slice_list, Value};

fn sorted_unique(mut v: Vec<i64>) -> Value {
    v.sort();
    v.dedup();
    Value::ints(&v)
}

pub static TEMPLATES: [Template; 14] = [
    // ---- indexing and slicing ----
    Template {
        family: "indexing",
        entry: "rotate",
        params: "xs",
        tags: &["lists", "slicing"],
        difficulty: Easy,
        ranges: &[(1, 5)],
        doc: |p| {
            format!(
                "Return xs rotated left by {} positions: the first {} elements move to the end.",
                p[0], p[0]
            )
        },
        body: |p| format!("    return xs[{}:] + xs[:{}]\n", p[0], p[0]),
        eval: |p, a| {
            let xs = a[0].as_ints();
            let mut out = py_slice_list(&xs, Some(p[0]), None, 1);
            out.extend(py_slice_list(&xs, None, Some(p[0]), 1));
            Value::ints(&out)
        },
        input: |rng, _, _| vec![Value::ints(&int_list(rng, 0, 8, 0, 20))],
    },
    Template {
        family: "indexing",
        entry: "every_nth",
        params: "xs",
        tags: &["lists", "slicing", "indexing"],
        difficulty: Easy,
        ranges: &[(0, 4), (2, 4)],
        doc: |p| {
            format!(
                "Return every {}th element of xs, starting at index {}.",
                p[1], p[0]
            )
            .replace("2th", "2nd")
            .replace("3th", "3rd")
        },
        body: |p| format!("    return xs[{}::{}]\n", p[0], p[1]),
        eval: |p, a| Value::ints(&py_slice_list(&a[0].as_ints(), Some(p[0]), None, p[1])),
        input: |rng, _, _| vec![Value::ints(&int_list(rng, 0, 10, 0, 20))],
    },
    Template {
        family: "indexing",
        entry: "gaps",
        params: "xs",
        tags: &["lists", "indexing", "arithmetic"],
        difficulty: Medium,
        ranges: &[(1, 3)],
        doc: |p| {
            format!(
                "Return the list of xs[i + {}] - xs[i] for each index i where both exist.",
                p[0]
            )
        },
        body: |p| {
            format!(
                "    return [xs[i + {}] - xs[i] for i in range(len(xs) - {})]\n",
                p[0], p[0]
            )
        },
        eval: |p, a| {
            let xs = a[0].as_ints();
            let k = p[0] as usize;
            Value::ints(
                &(0..xs.len().saturating_sub(k))
                    .map(|i| xs[i + k] - xs[i])
                    .collect::<Vec<_>>(),
            )
        },
        input: |rng, _, _| vec![Value::ints(&int_list(rng, 0, 7, -5, 15))],
    },
    Template {
        family: "indexing",
        entry: "window_sums",
        params: "xs",
        tags: &["lists", "slicing", "aggregation"],
        difficulty: Medium,
        ranges: &[(2, 4)],
        doc: |p| {
            format!(
                "Return the sums of every run of {} consecutive elements of xs, in order.",
                p[0]
            )
        },
        body: |p| {
            format!(
                "    return [sum(xs[i:i + {}]) for i in range(len(xs) - {} + 1)]\n",
                p[0], p[0]
            )
        },
        eval: |p, a| {
            let xs = a[0].as_ints();
            let k = p[0] as usize;
            let n = (xs.len() + 1).saturating_sub(k);
            Value::ints(
                &(0..n)
                    .map(|i| xs[i..i + k].iter().sum())
                    .collect::<Vec<_>>(),
            )
        },
        input: |rng, _, _| vec![Value::ints(&int_list(rng, 0, 7, -5, 15))],
    },
    Template {
        family: "indexing",
        entry: "first_index_above",
        params: "xs",
        tags: &["lists", "searching", "indexing", "loops"],
        difficulty: Easy,
        ranges: &[(0, 15)],
        doc: |p| {
            format!("Return the index of the first element of xs greater than {}, or -1 if there is none.", p[0])
        },
        body: |p| {
            format!("    for i, x in enumerate(xs):\n        if x > {}:\n            return i\n    return -1\n", p[0])
        },
        eval: |p, a| {
            Value::Int(
                a[0].as_ints()
                    .iter()
                    .position(|&x| x > p[0])
                    .map_or(-1, |i| i as i64),
            )
        },
        input: |rng, p, purpose| vec![Value::ints(&near_list(rng, p, purpose, -3, 20))],
    },
    Template {
        family: "indexing",
        entry: "last_index_divisible",
        params: "xs",
        tags: &["lists", "searching", "indexing", "loops", "math"],
        difficulty: Medium,
        ranges: &[(2, 7)],
        doc: |p| {
            format!("Return the index of the last element of xs divisible by {}, or -1 if there is none.", p[0])
        },
        body: |p| {
            format!(
                "    result = -1\n    for i, x in enumerate(xs):\n        if x % {} == 0:\n            result = i\n    return result\n",
                p[0]
            )
        },
        eval: |p, a| {
            Value::Int(
                a[0].as_ints()
                    .iter()
                    .rposition(|&x| x.rem_euclid(p[0]) == 0)
                    .map_or(-1, |i| i as i64),
            )
        },
        input: |rng, _, _| vec![Value::ints(&int_list(rng, 0, 7, -5, 30))],
    },
    Template {
        family: "indexing",
        entry: "running_totals",
        params: "xs",
        tags: &["lists", "loops", "arithmetic"],
        difficulty: Easy,
        ranges: &[(-5, 10)],
        doc: |p| {
            format!("Return the running totals of xs, starting from {}: element i is {} plus the sum of xs[0] to xs[i].", p[0], p[0])
        },
        body: |p| {
            format!(
                "    out = []\n    total = {}\n    for x in xs:\n        total += x\n        out.append(total)\n    return out\n",
                p[0]
            )
        },
        eval: |p, a| {
            let mut total = p[0];
            Value::ints(
                &a[0]
                    .as_ints()
                    .into_iter()
                    .map(|x| {
                        total += x;
                        total
                    })
                    .collect::<Vec<_>>(),
            )
        },
        input: |rng, _, _| vec![Value::ints(&int_list(rng, 0, 6, -5, 10))],
    },
    Template {
        family: "indexing",
        entry: "count_rises",
        params: "xs",
        tags: &["lists", "indexing", "counting", "loops"],
        difficulty: Medium,
        ranges: &[(1, 3)],
        doc: |p| {
            format!("Return how many indices i of xs have xs[i] greater than xs[i - {}] (only for i >= {}).", p[0], p[0])
        },
        body: |p| {
            format!(
                "    return sum(1 for i in range({}, len(xs)) if xs[i] > xs[i - {}])\n",
                p[0], p[0]
            )
        },
        eval: |p, a| {
            let xs = a[0].as_ints();
            let k = p[0] as usize;
            Value::Int((k..xs.len().max(k)).filter(|&i| xs[i] > xs[i - k]).count() as i64)
        },
        input: |rng, _, _| vec![Value::ints(&int_list(rng, 0, 8, 0, 9))],
    },
    // ---- sets ----
    Template {
        family: "sets",
        entry: "common_above",
        params: "a, b",
        tags: &["sets", "sorting", "filtering"],
        difficulty: Medium,
        ranges: &[(0, 8)],
        doc: |p| {
            format!(
                "Return the sorted list of values greater than {} that occur in both a and b.",
                p[0]
            )
        },
        body: |p| {
            format!(
                "    return sorted(x for x in set(a) & set(b) if x > {})\n",
                p[0]
            )
        },
        eval: |p, a| {
            let (xs, ys) = (a[0].as_ints(), a[1].as_ints());
            sorted_unique(
                xs.into_iter()
                    .filter(|x| ys.contains(x) && *x > p[0])
                    .collect(),
            )
        },
        input: |rng, _, _| {
            vec![
                Value::ints(&int_list(rng, 0, 8, 0, 12)),
                Value::ints(&int_list(rng, 0, 8, 0, 12)),
            ]
        },
    },
    Template {
        family: "sets",
        entry: "distinct_remainders",
        params: "xs",
        tags: &["sets", "math", "counting"],
        difficulty: Easy,
        ranges: &[(2, 8)],
        doc: |p| {
            format!(
                "Return how many distinct values x % {} takes for x in xs.",
                p[0]
            )
        },
        body: |p| format!("    return len({{x % {} for x in xs}})\n", p[0]),
        eval: |p, a| {
            let mut r: Vec<i64> = a[0]
                .as_ints()
                .into_iter()
                .map(|x| x.rem_euclid(p[0]))
                .collect();
            r.sort();
            r.dedup();
            Value::Int(r.len() as i64)
        },
        input: |rng, _, _| vec![Value::ints(&int_list(rng, 0, 8, -5, 30))],
    },
    Template {
        family: "sets",
        entry: "missing_shifted",
        params: "a, b",
        tags: &["sets", "sorting", "mapping"],
        difficulty: Medium,
        ranges: &[(0, 4)],
        doc: |p| {
            format!(
                "Return the sorted distinct values x of a such that x is not y {} for any y in b.",
                super::plus(p[0])
            )
        },
        body: |p| {
            format!(
                "    return sorted(set(a) - {{y {} for y in b}})\n",
                super::plus(p[0])
            )
        },
        eval: |p, a| {
            let ys: Vec<i64> = a[1].as_ints().into_iter().map(|y| y + p[0]).collect();
            sorted_unique(
                a[0].as_ints()
                    .into_iter()
                    .filter(|x| !ys.contains(x))
                    .collect(),
            )
        },
        input: |rng, _, _| {
            vec![
                Value::ints(&int_list(rng, 0, 8, 0, 10)),
                Value::ints(&int_list(rng, 0, 6, 0, 10)),
            ]
        },
    },
    Template {
        family: "sets",
        entry: "only_in_one_below",
        params: "a, b",
        tags: &["sets", "sorting", "boolean-logic"],
        difficulty: Medium,
        ranges: &[(2, 12)],
        doc: |p| {
            format!("Return the sorted list of values less than {} that occur in exactly one of a and b.", p[0])
        },
        body: |p| {
            format!(
                "    return sorted(x for x in set(a) ^ set(b) if x < {})\n",
                p[0]
            )
        },
        eval: |p, a| {
            let (xs, ys) = (a[0].as_ints(), a[1].as_ints());
            let mut all: Vec<i64> = xs.iter().chain(&ys).copied().collect();
            all.retain(|x| xs.contains(x) != ys.contains(x) && *x < p[0]);
            sorted_unique(all)
        },
        input: |rng, _, _| {
            vec![
                Value::ints(&int_list(rng, 0, 7, 0, 14)),
                Value::ints(&int_list(rng, 0, 7, 0, 14)),
            ]
        },
    },
    Template {
        family: "sets",
        entry: "remainder_clash",
        params: "xs",
        tags: &["sets", "math", "boolean-logic"],
        difficulty: Medium,
        ranges: &[(2, 9)],
        doc: |p| {
            format!(
                "Return whether two elements of xs have the same remainder modulo {}.",
                p[0]
            )
        },
        body: |p| format!("    return len({{x % {} for x in xs}}) != len(xs)\n", p[0]),
        eval: |p, a| {
            let xs = a[0].as_ints();
            let mut r: Vec<i64> = xs.iter().map(|x| x.rem_euclid(p[0])).collect();
            r.sort();
            r.dedup();
            Value::Bool(r.len() != xs.len())
        },
        input: |rng, _, purpose| {
            let max = if purpose == Purpose::Audit { 8 } else { 5 };
            vec![Value::ints(&int_list(rng, 0, max, 0, 40))]
        },
    },
    Template {
        family: "sets",
        entry: "unique_in_order",
        params: "xs",
        tags: &["sets", "lists", "loops", "filtering"],
        difficulty: Hard,
        ranges: &[(2, 6)],
        doc: |p| {
            format!(
                "Return the elements of xs in order, keeping only the first element of each group with the same remainder modulo {}.",
                p[0]
            )
        },
        body: |p| {
            format!(
                "    seen = set()\n    out = []\n    for x in xs:\n        if x % {k} not in seen:\n            seen.add(x % {k})\n            out.append(x)\n    return out\n",
                k = p[0]
            )
        },
        eval: |p, a| {
            let mut seen = Vec::new();
            let mut out = Vec::new();
            for x in a[0].as_ints() {
                let r = x.rem_euclid(p[0]);
                if !seen.contains(&r) {
                    seen.push(r);
                    out.push(x);
                }
            }
            Value::ints(&out)
        },
        input: |rng, _, _| vec![Value::ints(&int_list(rng, 0, 8, -5, 25))],
    },
];
