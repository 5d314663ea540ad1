//! Catalogue templates over containers: dicts, tuples, indexing and slicing, sets.

use super::{dict_set, int_list, near_list, pairs, strs, word_dict, word_list, Template};
use crate::spec::Difficulty::{Easy, Hard, Medium};
use crate::spec::Purpose;
use crate::value::{py_slice_list, Value};

fn sorted_unique(mut v: Vec<i64>) -> Value {
    v.sort();
    v.dedup();
    Value::ints(&v)
}

pub static TEMPLATES: [Template; 28] = [
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
