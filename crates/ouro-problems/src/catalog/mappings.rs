//! Catalogue templates over keyed and fixed-size containers: dicts and tuples.

use super::{dict_set, int_list, near_list, pairs, strs, word_dict, word_list, Template};
use crate::spec::Difficulty::{Easy, Medium};
use ouro_python::value::Value;

pub static TEMPLATES: [Template; 14] = [
    // ---- dicts ----
    Template {
        family: "dicts",
        entry: "keep_large_values",
        params: "d",
        tags: &["dicts", "filtering", "comprehensions"],
        difficulty: Easy,
        ranges: &[(0, 12)],
        doc: |p| {
            format!(
                "Return a dict with only the entries of d whose value is greater than {}.",
                p[0]
            )
        },
        body: |p| {
            format!(
                "    return {{k: v for k, v in d.items() if v > {}}}\n",
                p[0]
            )
        },
        eval: |p, a| {
            Value::Dict(
                a[0].as_dict()
                    .iter()
                    .filter(|(_, v)| v.as_int() > p[0])
                    .cloned()
                    .collect(),
            )
        },
        input: |rng, _, _| vec![word_dict(rng, 0, 5, -2, 15)],
    },
    Template {
        family: "dicts",
        entry: "rescale_values",
        params: "d",
        tags: &["dicts", "mapping", "arithmetic", "comprehensions"],
        difficulty: Easy,
        ranges: &[(2, 6), (-3, 5)],
        doc: |p| {
            format!(
                "Return a dict with the same keys as d, where each value v becomes v * {} {}.",
                p[0],
                super::plus(p[1])
            )
        },
        body: |p| {
            format!(
                "    return {{k: v * {} {} for k, v in d.items()}}\n",
                p[0],
                super::plus(p[1])
            )
        },
        eval: |p, a| {
            Value::Dict(
                a[0].as_dict()
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::Int(v.as_int() * p[0] + p[1])))
                    .collect(),
            )
        },
        input: |rng, _, _| vec![word_dict(rng, 0, 5, -5, 10)],
    },
    Template {
        family: "dicts",
        entry: "sum_divisible_values",
        params: "d",
        tags: &["dicts", "aggregation", "filtering", "math"],
        difficulty: Easy,
        ranges: &[(2, 7)],
        doc: |p| {
            format!(
                "Return the sum of the values of d that are divisible by {}.",
                p[0]
            )
        },
        body: |p| {
            format!(
                "    return sum(v for v in d.values() if v % {} == 0)\n",
                p[0]
            )
        },
        eval: |p, a| {
            Value::Int(
                a[0].as_dict()
                    .iter()
                    .map(|(_, v)| v.as_int())
                    .filter(|v| v.rem_euclid(p[0]) == 0)
                    .sum(),
            )
        },
        input: |rng, _, _| vec![word_dict(rng, 0, 6, -5, 30)],
    },
    Template {
        family: "dicts",
        entry: "keys_by_value",
        params: "d",
        tags: &["dicts", "sorting", "filtering"],
        difficulty: Medium,
        ranges: &[(0, 12)],
        doc: |p| {
            format!(
                "Return the keys of d whose value is at least {}, sorted by value and then by key.",
                p[0]
            )
        },
        body: |p| {
            format!(
                "    return sorted((k for k in d if d[k] >= {}), key=lambda k: (d[k], k))\n",
                p[0]
            )
        },
        eval: |p, a| {
            let mut kv: Vec<(i64, String)> = a[0]
                .as_dict()
                .iter()
                .filter(|(_, v)| v.as_int() >= p[0])
                .map(|(k, v)| (v.as_int(), k.as_str().to_string()))
                .collect();
            kv.sort();
            Value::List(kv.into_iter().map(|(_, k)| Value::Str(k)).collect())
        },
        input: |rng, _, _| vec![word_dict(rng, 0, 6, 0, 14)],
    },
    Template {
        family: "dicts",
        entry: "word_counts",
        params: "words",
        tags: &["dicts", "counting", "loops", "strings"],
        difficulty: Medium,
        ranges: &[(1, 5)],
        doc: |p| {
            format!(
                "Return a dict mapping each word in words with at least {} letters to the number of times it occurs in words.",
                p[0]
            )
        },
        body: |p| {
            format!(
                "    counts = {{}}\n    for w in words:\n        if len(w) >= {}:\n            counts[w] = counts.get(w, 0) + 1\n    return counts\n",
                p[0]
            )
        },
        eval: |p, a| {
            let mut d = Vec::new();
            for w in a[0].as_list() {
                if w.as_str().len() as i64 >= p[0] {
                    let c = d
                        .iter()
                        .find(|(k, _): &&(Value, Value)| k.py_eq(w))
                        .map_or(0, |(_, v)| v.as_int());
                    dict_set(&mut d, w.clone(), Value::Int(c + 1));
                }
            }
            Value::Dict(d)
        },
        input: |rng, _, _| vec![strs(&word_list(rng, 0, 8))],
    },
    Template {
        family: "dicts",
        entry: "group_by_length",
        params: "words",
        tags: &["dicts", "lists", "loops", "strings"],
        difficulty: Medium,
        ranges: &[(0, 3)],
        doc: |p| {
            format!(
                "Return a dict mapping each length to the list of words of that length, in their original order, considering only words of words longer than {} letters.",
                p[0]
            )
        },
        body: |p| {
            format!(
                "    groups = {{}}\n    for w in words:\n        if len(w) > {}:\n            groups.setdefault(len(w), []).append(w)\n    return groups\n",
                p[0]
            )
        },
        eval: |p, a| {
            let mut d: Vec<(Value, Value)> = Vec::new();
            for w in a[0].as_list() {
                let n = w.as_str().len() as i64;
                if n > p[0] {
                    match d.iter_mut().find(|(k, _)| k.as_int() == n) {
                        Some((_, Value::List(v))) => v.push(w.clone()),
                        _ => d.push((Value::Int(n), Value::List(vec![w.clone()]))),
                    }
                }
            }
            Value::Dict(d)
        },
        input: |rng, _, _| vec![strs(&word_list(rng, 0, 7))],
    },
    Template {
        family: "dicts",
        entry: "invert_shifted",
        params: "d",
        tags: &["dicts", "mapping", "comprehensions"],
        difficulty: Easy,
        ranges: &[(-3, 6)],
        doc: |p| {
            format!("Return a dict mapping v {} to k for each key k with value v in d (values are distinct).", super::plus(p[0]))
        },
        body: |p| {
            format!(
                "    return {{v {} : k for k, v in d.items()}}\n",
                super::plus(p[0])
            )
            .replace(" :", ":")
        },
        eval: |p, a| {
            let mut d = Vec::new();
            for (k, v) in a[0].as_dict() {
                dict_set(&mut d, Value::Int(v.as_int() + p[0]), k.clone());
            }
            Value::Dict(d)
        },
        input: |rng, _, _| {
            // Distinct values, so the inversion loses nothing.
            let d = word_dict(rng, 0, 5, 0, 0);
            let mut used = Vec::new();
            let entries = d
                .as_dict()
                .iter()
                .map(|(k, _)| {
                    let mut v = rng.range(-5, 12);
                    while used.contains(&v) {
                        v += 1;
                    }
                    used.push(v);
                    (k.clone(), Value::Int(v))
                })
                .collect();
            vec![Value::Dict(entries)]
        },
    },
    Template {
        family: "dicts",
        entry: "closest_key",
        params: "d",
        tags: &["dicts", "searching", "math"],
        difficulty: Medium,
        ranges: &[(0, 12)],
        doc: |p| {
            format!("Return the key of the non-empty dict d whose value is closest to {}, breaking ties by the smallest key.", p[0])
        },
        body: |p| {
            format!(
                "    return min(d, key=lambda k: (abs(d[k] - {}), k))\n",
                p[0]
            )
        },
        eval: |p, a| {
            let best = a[0]
                .as_dict()
                .iter()
                .map(|(k, v)| ((v.as_int() - p[0]).abs(), k.as_str().to_string()))
                .min()
                .expect("non-empty dict");
            Value::Str(best.1)
        },
        input: |rng, _, _| vec![word_dict(rng, 1, 5, -3, 15)],
    },
    // ---- tuples ----
    Template {
        family: "tuples",
        entry: "swap_pairs",
        params: "pairs",
        tags: &["tuples", "filtering", "comprehensions"],
        difficulty: Easy,
        ranges: &[(0, 15)],
        doc: |p| {
            format!("Return the list of (b, a) for each pair (a, b) in pairs where a + b is greater than {}.", p[0])
        },
        body: |p| {
            format!(
                "    return [(b, a) for a, b in pairs if a + b > {}]\n",
                p[0]
            )
        },
        eval: |p, a| {
            Value::List(
                a[0].as_list()
                    .iter()
                    .filter_map(|t| {
                        let v = t.as_ints();
                        (v[0] + v[1] > p[0])
                            .then(|| Value::Tuple(vec![Value::Int(v[1]), Value::Int(v[0])]))
                    })
                    .collect(),
            )
        },
        input: |rng, _, _| vec![pairs(rng, 0, 6, -2, 10)],
    },
    Template {
        family: "tuples",
        entry: "sort_pairs",
        params: "pairs",
        tags: &["tuples", "sorting", "filtering"],
        difficulty: Medium,
        ranges: &[(0, 8)],
        doc: |p| {
            format!(
                "Return the pairs of pairs whose first element is at least {}, sorted by second element and then by first element.",
                p[0]
            )
        },
        body: |p| {
            format!(
                "    return sorted((p for p in pairs if p[0] >= {}), key=lambda p: (p[1], p[0]))\n",
                p[0]
            )
        },
        eval: |p, a| {
            let mut v: Vec<(i64, i64)> = a[0]
                .as_list()
                .iter()
                .map(|t| (t.as_ints()[0], t.as_ints()[1]))
                .filter(|&(x, _)| x >= p[0])
                .collect();
            v.sort_by_key(|&(x, y)| (y, x));
            Value::List(
                v.into_iter()
                    .map(|(x, y)| Value::Tuple(vec![Value::Int(x), Value::Int(y)]))
                    .collect(),
            )
        },
        input: |rng, _, _| vec![pairs(rng, 0, 6, -2, 10)],
    },
    Template {
        family: "tuples",
        entry: "dot_where",
        params: "pairs",
        tags: &["tuples", "aggregation", "arithmetic"],
        difficulty: Medium,
        ranges: &[(0, 9)],
        doc: |p| {
            format!(
                "Return the sum of a * b for each pair (a, b) in pairs where b is at most {}.",
                p[0]
            )
        },
        body: |p| format!("    return sum(a * b for a, b in pairs if b <= {})\n", p[0]),
        eval: |p, a| {
            Value::Int(
                a[0].as_list()
                    .iter()
                    .map(|t| t.as_ints())
                    .filter(|v| v[1] <= p[0])
                    .map(|v| v[0] * v[1])
                    .sum(),
            )
        },
        input: |rng, _, _| vec![pairs(rng, 0, 6, -3, 12)],
    },
    Template {
        family: "tuples",
        entry: "combine",
        params: "xs, ys",
        tags: &["tuples", "lists", "mapping", "arithmetic"],
        difficulty: Easy,
        ranges: &[(1, 6)],
        doc: |p| {
            format!("Return the list of x + y * {} for each pair of x and y taken position by position from xs and ys, stopping at the shorter list.", p[0])
        },
        body: |p| format!("    return [x + y * {} for x, y in zip(xs, ys)]\n", p[0]),
        eval: |p, a| {
            let (xs, ys) = (a[0].as_ints(), a[1].as_ints());
            Value::ints(
                &xs.iter()
                    .zip(&ys)
                    .map(|(x, y)| x + y * p[0])
                    .collect::<Vec<_>>(),
            )
        },
        input: |rng, _, _| {
            vec![
                Value::ints(&int_list(rng, 0, 5, -5, 9)),
                Value::ints(&int_list(rng, 0, 5, -5, 9)),
            ]
        },
    },
    Template {
        family: "tuples",
        entry: "positions_above",
        params: "xs",
        tags: &["tuples", "indexing", "filtering"],
        difficulty: Easy,
        ranges: &[(0, 12)],
        doc: |p| {
            format!("Return the list of (i, x) for each index i and element x of xs where x is greater than {}.", p[0])
        },
        body: |p| {
            format!(
                "    return [(i, x) for i, x in enumerate(xs) if x > {}]\n",
                p[0]
            )
        },
        eval: |p, a| {
            Value::List(
                a[0].as_ints()
                    .into_iter()
                    .enumerate()
                    .filter(|&(_, x)| x > p[0])
                    .map(|(i, x)| Value::Tuple(vec![Value::Int(i as i64), Value::Int(x)]))
                    .collect(),
            )
        },
        input: |rng, p, purpose| vec![Value::ints(&near_list(rng, p, purpose, -3, 18))],
    },
    Template {
        family: "tuples",
        entry: "low_high",
        params: "xs",
        tags: &["tuples", "aggregation", "conditionals"],
        difficulty: Medium,
        ranges: &[(0, 12)],
        doc: |p| {
            format!(
                "Return a tuple (smallest, largest) of the elements of xs greater than {}, or (0, 0) if there are none.",
                p[0]
            )
        },
        body: |p| {
            format!(
                "    kept = [x for x in xs if x > {}]\n    if not kept:\n        return (0, 0)\n    return (min(kept), max(kept))\n",
                p[0]
            )
        },
        eval: |p, a| {
            let kept: Vec<i64> = a[0].as_ints().into_iter().filter(|&x| x > p[0]).collect();
            let lo = kept.iter().copied().min().unwrap_or(0);
            let hi = kept.iter().copied().max().unwrap_or(0);
            Value::Tuple(vec![Value::Int(lo), Value::Int(hi)])
        },
        input: |rng, p, purpose| vec![Value::ints(&near_list(rng, p, purpose, -3, 18))],
    },
];
