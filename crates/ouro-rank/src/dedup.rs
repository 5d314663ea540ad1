//! Exact dedup and MinHash near-dedup.
//!
//! By default items are compared only within their group (a problem): the
//! same program answering two different prompts is two distinct training
//! rows. [`DedupScope::Global`] compares across problems, as corpus-level
//! near-dedup does (SelfCodeAlign: 5-gram MinHash, 250 permutations,
//! threshold 0.7, the defaults here; datatrove: word 5-grams, 14 buckets ×
//! 8 hashes, which puts its threshold near 0.72). Callers pass items best
//! first; the first item of each duplicate cluster is kept.
//!
//! Near-dedup follows datasketch's MinHash LSH: shingles are 5-grams of
//! significant tokens (see [`ouro_python::lexer`]), each shingle is hashed to 32
//! bits and permuted by `(a·h + b) mod (2⁶¹−1)`, truncated to 32 bits, for
//! 250 seeded permutations. Bands × rows are chosen as datasketch's
//! `_optimal_param` does (minimising equally weighted false-positive and
//! false-negative areas for the threshold); LSH candidates are confirmed by
//! the estimated Jaccard similarity `≥ threshold` and clustered with
//! union–find.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use ouro_python::lexer::{normalise_code, significant_tokens};

/// Which items dedup compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DedupScope {
    /// Only items of the same problem.
    #[default]
    Problem,
    /// Every item with every other: the same program under two problems is kept once.
    Global,
}

impl DedupScope {
    pub fn label(&self) -> &'static str {
        match self {
            DedupScope::Problem => "per problem",
            DedupScope::Global => "global (across problems)",
        }
    }
}

impl std::str::FromStr for DedupScope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "problem" => Ok(DedupScope::Problem),
            "global" => Ok(DedupScope::Global),
            other => Err(format!(
                "unknown dedup scope '{other}' (expected problem or global)"
            )),
        }
    }
}

/// Knobs of dedup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DedupOptions {
    #[serde(default)]
    pub scope: DedupScope,
    pub exact: bool,
    pub near: bool,
    pub shingle: usize,
    pub num_perm: usize,
    pub threshold: f64,
    pub seed: u64,
}

impl Default for DedupOptions {
    fn default() -> Self {
        DedupOptions {
            scope: DedupScope::Problem,
            exact: true,
            near: true,
            shingle: 5,
            num_perm: 250,
            threshold: 0.7,
            seed: 42,
        }
    }
}

/// What dedup removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct DedupStats {
    pub input: usize,
    pub exact_duplicates: usize,
    pub near_duplicates: usize,
    pub kept: usize,
    pub lsh_bands: usize,
    pub lsh_rows: usize,
}

pub(crate) fn hash64<T: Hash + ?Sized>(x: &T) -> u64 {
    // FNV-1a over the Hash stream: deterministic across runs and platforms.
    struct Fnv(u64);
    impl Hasher for Fnv {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for &b in bytes {
                self.0 ^= b as u64;
                self.0 = self.0.wrapping_mul(0x100000001b3);
            }
        }
    }
    let mut h = Fnv(0xcbf29ce484222325);
    x.hash(&mut h);
    // Final avalanche (splitmix64) so low bits are well mixed.
    let mut z = h.finish().wrapping_add(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^ (z >> 31)
}

pub(crate) const MERSENNE: u64 = (1 << 61) - 1;

/// MinHash signatures with fixed seeded permutations.
pub struct MinHasher {
    a: Vec<u64>,
    b: Vec<u64>,
    shingle: usize,
}

/// `a·b mod (2⁶¹−1)` by the Mersenne folding identity (no 128-bit division).
pub(crate) fn mulmod(a: u64, b: u64) -> u64 {
    let x = a as u128 * b as u128;
    let mut r = (x as u64 & MERSENNE) + ((x >> 61) as u64);
    r = (r & MERSENNE) + (r >> 61);
    if r >= MERSENNE {
        r - MERSENNE
    } else {
        r
    }
}

/// `(x + y) mod (2⁶¹−1)` for `x, y` below the modulus: a compare instead of the 64-bit
/// division `%` costs, which ran once per shingle per permutation.
pub(crate) fn addmod(x: u64, y: u64) -> u64 {
    let s = x + y;
    if s >= MERSENNE {
        s - MERSENNE
    } else {
        s
    }
}

impl MinHasher {
    pub fn new(num_perm: usize, shingle: usize, seed: u64) -> Self {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let a = (0..num_perm).map(|_| rng.gen_range(1..MERSENNE)).collect();
        let b = (0..num_perm).map(|_| rng.gen_range(0..MERSENNE)).collect();
        MinHasher {
            a,
            b,
            shingle: shingle.max(1),
        }
    }

    /// Hashes of the token n-grams of `code` (the whole sequence if it is shorter than n).
    pub fn shingles(&self, code: &str) -> Vec<u32> {
        let toks = significant_tokens(code);
        let n = self.shingle;
        let mut set: Vec<u32> = if toks.len() <= n {
            vec![hash64(&toks) as u32]
        } else {
            toks.windows(n).map(|w| hash64(w) as u32).collect()
        };
        set.sort_unstable();
        set.dedup();
        set
    }

    /// The signature: per permutation, the minimum permuted shingle hash.
    pub fn signature(&self, code: &str) -> Vec<u32> {
        let sh = self.shingles(code);
        self.a
            .iter()
            .zip(&self.b)
            .map(|(&a, &b)| {
                sh.iter()
                    .map(|&h| addmod(mulmod(a, h as u64), b) as u32)
                    .min()
                    .unwrap_or(u32::MAX)
            })
            .collect()
    }
}

/// Estimated Jaccard similarity of two signatures.
pub fn estimated_jaccard(a: &[u32], b: &[u32]) -> f64 {
    let same = a.iter().zip(b).filter(|(x, y)| x == y).count();
    same as f64 / a.len().max(1) as f64
}

fn integrate(f: impl Fn(f64) -> f64, lo: f64, hi: f64) -> f64 {
    // Composite Simpson rule; the integrands are smooth polynomials.
    let n = 200;
    let h = (hi - lo) / n as f64;
    let mut s = f(lo) + f(hi);
    for i in 1..n {
        let x = lo + i as f64 * h;
        s += if i % 2 == 1 { 4.0 } else { 2.0 } * f(x);
    }
    s * h / 3.0
}

/// `(bands, rows)` minimising `0.5·FP + 0.5·FN` areas for the threshold, as datasketch does.
pub fn optimal_lsh_params(threshold: f64, num_perm: usize) -> (usize, usize) {
    let mut best = (1, num_perm.max(1));
    let mut best_err = f64::INFINITY;
    for b in 1..=num_perm {
        let max_r = num_perm / b;
        for r in 1..=max_r {
            let p = |s: f64| 1.0 - (1.0 - s.powi(r as i32)).powi(b as i32);
            let fp = integrate(p, 0.0, threshold);
            let fneg = integrate(|s| 1.0 - p(s), threshold, 1.0);
            let err = 0.5 * fp + 0.5 * fneg;
            if err < best_err {
                best_err = err;
                best = (b, r);
            }
        }
    }
    best
}

fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

/// Marks which items survive dedup; `items[i] = (group, code)`, best first.
pub fn dedup(items: &[(&str, &str)], o: &DedupOptions) -> (Vec<bool>, DedupStats) {
    dedup_labelled(items, &vec![false; items.len()], o)
}

/// [`dedup`] of items labelled passing or failing: near duplicates cluster only with
/// items of their own label. A failing near copy of a passing program (one token
/// changed) is the hardest negative a correctness pair, a repair record or a repair
/// pair has, not a duplicate; and a ranker that scores a failing group above the
/// passing programs (CodeT, B4) would otherwise delete a problem's only correct one.
pub fn dedup_labelled(
    items: &[(&str, &str)],
    passing: &[bool],
    o: &DedupOptions,
) -> (Vec<bool>, DedupStats) {
    let group = |i: usize| match o.scope {
        DedupScope::Problem => items[i].0,
        DedupScope::Global => "",
    };
    let mut keep = vec![true; items.len()];
    let mut stats = DedupStats {
        input: items.len(),
        ..Default::default()
    };
    if o.exact {
        let normalised: Vec<String> = items.par_iter().map(|(_, c)| normalise_code(c)).collect();
        let mut seen: HashSet<(&str, &str)> = HashSet::new();
        for i in 0..items.len() {
            if !seen.insert((group(i), normalised[i].as_str())) {
                keep[i] = false;
                stats.exact_duplicates += 1;
            }
        }
    }
    if o.near {
        let (bands, rows) = optimal_lsh_params(o.threshold, o.num_perm);
        stats.lsh_bands = bands;
        stats.lsh_rows = rows;
        let mh = MinHasher::new(o.num_perm, o.shingle, o.seed);
        let alive: Vec<usize> = (0..items.len()).filter(|&i| keep[i]).collect();
        let sigs: Vec<Vec<u32>> = alive
            .par_iter()
            .map(|&i| mh.signature(items[i].1))
            .collect();
        let mut parent: Vec<usize> = (0..alive.len()).collect();
        // Groups as small integers: a bucket key hashed and compared per band then
        // costs no string work (it had been a third of dedup's time).
        let mut group_ids: HashMap<&str, u32> = HashMap::new();
        let gids: Vec<u32> = alive
            .iter()
            .map(|&i| {
                let next = group_ids.len() as u32;
                *group_ids.entry(group(i)).or_insert(next)
            })
            .collect();
        let mut buckets: HashMap<(u32, bool, usize, u64), usize> =
            HashMap::with_capacity(alive.len() * bands);
        for (k, sig) in sigs.iter().enumerate() {
            let (group, label) = (gids[k], passing[alive[k]]);
            for band in 0..bands {
                let key = (
                    group,
                    label,
                    band,
                    hash64(&sig[band * rows..(band + 1) * rows]),
                );
                match buckets.get(&key) {
                    Some(&other) => {
                        let (ra, rb) = (find(&mut parent, k), find(&mut parent, other));
                        if ra != rb && estimated_jaccard(sig, &sigs[other]) >= o.threshold {
                            // The earlier (better) item stays the root.
                            parent[ra.max(rb)] = ra.min(rb);
                        }
                    }
                    None => {
                        buckets.insert(key, k);
                    }
                }
            }
        }
        for k in 0..alive.len() {
            if find(&mut parent, k) == k {
                continue;
            }
            keep[alive[k]] = false;
            stats.near_duplicates += 1;
        }
    }
    stats.kept = keep.iter().filter(|&&k| k).count();
    (keep, stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_duplicates_are_found_after_normalisation_within_a_group() {
        let items = [
            ("p1", "def f(x):\n    return x+1\n"),
            ("p1", "def f(x):  # same\n    return x+1\n\n"),
            ("p2", "def f(x):\n    return x+1\n"),
        ];
        let o = DedupOptions {
            near: false,
            ..Default::default()
        };
        let (keep, st) = dedup(&items, &o);
        assert_eq!(keep, vec![true, false, true]);
        assert_eq!(st.exact_duplicates, 1);
        let global = DedupOptions {
            scope: DedupScope::Global,
            ..o
        };
        assert_eq!(dedup(&items, &global).0, vec![true, false, false]);
    }

    #[test]
    fn near_copies_cluster_only_with_their_own_label() {
        let base: String = (0..30)
            .map(|i| format!("    total = total + values[{i}] * {i}\n"))
            .collect();
        let variant =
            |start: u32| format!("def f(values):\n    total = {start}\n{base}    return total\n");
        let (fail, pass_a, pass_b) = (variant(1), variant(0), variant(2));
        let items = [
            ("p", fail.as_str()),
            ("p", pass_a.as_str()),
            ("p", pass_b.as_str()),
        ];
        let o = DedupOptions::default();
        assert_eq!(dedup(&items, &o).0, vec![true, false, false]);
        // A failing program keeps the best of the passing near copies, and they it.
        let (keep, st) = dedup_labelled(&items, &[false, true, true], &o);
        assert_eq!(keep, vec![true, true, false]);
        assert_eq!(st.near_duplicates, 1);
        // A one-token failing variant of a passing program is a negative, not a copy.
        let (keep, st) = dedup_labelled(&items, &[true, false, true], &o);
        assert_eq!(keep, vec![true, true, false]);
        assert_eq!(st.near_duplicates, 1);
    }

    #[test]
    fn near_duplicates_cluster_but_distinct_programs_survive() {
        let base: String = (0..30)
            .map(|i| format!("    total = total + values[{i}] * {i}\n"))
            .collect();
        let a = format!("def f(values):\n    total = 0\n{base}    return total\n");
        let b = format!("def f(values):\n    total = 1\n{base}    return total\n");
        let c = "def g(s):\n    return ''.join(reversed(s))\n".to_string();
        let items = [("p", a.as_str()), ("p", b.as_str()), ("p", c.as_str())];
        let (keep, st) = dedup(&items, &DedupOptions::default());
        assert_eq!(keep, vec![true, false, true]);
        assert_eq!(st.near_duplicates, 1);
        assert!(st.lsh_bands * st.lsh_rows <= 250);
    }

    #[test]
    fn mersenne_folding_equals_the_naive_modulus() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for _ in 0..10_000 {
            let a = rng.gen_range(0..MERSENNE);
            let b: u64 = rng.gen_range(0..u32::MAX as u64 + 1);
            assert_eq!(
                mulmod(a, b),
                ((a as u128 * b as u128) % MERSENNE as u128) as u64
            );
        }
        assert_eq!(mulmod(MERSENNE - 1, MERSENNE - 1), 1);
        for _ in 0..10_000 {
            let (x, y) = (rng.gen_range(0..MERSENNE), rng.gen_range(0..MERSENNE));
            assert_eq!(addmod(x, y), (x + y) % MERSENNE);
        }
        assert_eq!(addmod(MERSENNE - 1, 1), 0);
        assert_eq!(addmod(MERSENNE - 1, MERSENNE - 1), MERSENNE - 2);
    }

    #[test]
    fn minhash_estimates_jaccard() {
        let mh = MinHasher::new(250, 1, 7);
        // Token sets {a..t} vs {k..D}: 10 shared of 30 → J = 1/3.
        let x: String = ('a'..='t').map(|c| format!("{c} ")).collect();
        let y: String = ('k'..='z')
            .chain('A'..='D')
            .map(|c| format!("{c} "))
            .collect();
        let j = estimated_jaccard(&mh.signature(&x), &mh.signature(&y));
        assert!((j - 1.0 / 3.0).abs() < 0.1, "{j}");
    }

    #[test]
    fn lsh_params_put_the_s_curve_near_the_threshold() {
        let (b, r) = optimal_lsh_params(0.7, 250);
        assert!(b * r <= 250);
        let knee = (1.0 / b as f64).powf(1.0 / r as f64);
        assert!((knee - 0.7).abs() < 0.1, "b={b} r={r} knee={knee}");
    }
}
