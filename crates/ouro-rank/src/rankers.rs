//! Rankers: scores over the rows of a [`PassMatrix`]; higher is better.
//!
//! Notation: `E` is the n×m pass matrix (n samples, m tests), `E[i][j] = 1`
//! when sample i passes test j. Rankers that work on *groups* (CodeT, B4)
//! group samples by identical rows ("pass pattern") and give every member
//! the group's score.
//!
//! - **pass rate**: `score_i = Σ_j E_ij / m` (0 when m = 0).
//! - **CodeT consensus** (Chen et al. 2022): `score(g) = |pattern(g)| · sqrt(|g|)`,
//!   where `|pattern|` counts the tests the group passes. This is the official
//!   code's score (microsoft/CodeT `src/agreement.py`, `math.sqrt(len(solution_set))`);
//!   the paper writes `|S_x| · |S_y|`, which ranks differently (a lone sample passing
//!   6 tests beats two passing 4 here, and loses there); ouro follows the code.
//! - **CodeDPO-style PageRank** (see [`PageRankOptions`]): mutual reinforcement
//!   of code and test scores.
//! - **B4** (Chen et al. 2024, `strategy.py` of ZJU-CTAG/B4): for each group
//!   g, with `x` the 0/1 indicator of the group's rows (the solutions
//!   assumed correct) and `y` its pass pattern (the tests assumed correct),
//!   N = n, M = m, `E1 = E[x=0][:, y=1]`, `E0 = E[x=0][:, y=0]`:
//!
//!   `lnB(Σy+α, M−Σy+1) + lnB(Σx+α, N−Σx+1) + lnB(ΣE1+1, |E1|−ΣE1+1) + lnB(ΣE0+1, |E0|−ΣE0+β0)`
//!
//!   where `lnB(a, b) = lnΓ(a) + lnΓ(b) − lnΓ(a+b)` (scipy's `betaln`),
//!   `|E|` counts the cells of a sub-matrix (an empty sub-matrix gives
//!   `lnB(1, 1) = 0` for E1 and `lnB(1, β0)` for E0, as in the reference).
//!   Defaults: α = 1e3 (`alpha_xy` in the reference), β0 = 1e4.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::matrix::PassMatrix;

/// Which ranker scores the samples of a problem.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Ranker {
    #[default]
    PassRate,
    Codet,
    PageRank(PageRankOptions),
    B4 {
        alpha: f64,
        beta0: f64,
    },
}

impl Ranker {
    /// Parses `pass_rate`, `codet`, `pagerank`, `b4`, `b4:1e5` (β0).
    pub fn parse(text: &str) -> Result<Ranker, String> {
        let (name, arg) = match text.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (text, None),
        };
        match (name, arg) {
            ("pass_rate" | "pass-rate", None) => Ok(Ranker::PassRate),
            ("codet", None) => Ok(Ranker::Codet),
            ("pagerank" | "codedpo", None) => Ok(Ranker::PageRank(PageRankOptions::default())),
            ("b4", None) => Ok(Ranker::B4 {
                alpha: B4_ALPHA,
                beta0: 1e4,
            }),
            ("b4", Some(b)) => {
                let beta0: f64 = b
                    .parse()
                    .map_err(|_| format!("ranker '{text}': β0 '{b}' is not a number"))?;
                if !(beta0.is_finite() && beta0 > 0.0) {
                    return Err(format!(
                        "ranker '{text}': β0 must be a finite positive number"
                    ));
                }
                Ok(Ranker::B4 {
                    alpha: B4_ALPHA,
                    beta0,
                })
            }
            _ => Err(format!(
                "unknown ranker '{text}' (expected pass_rate, codet, pagerank, b4 or b4:<beta0>)"
            )),
        }
    }

    /// Name used in reports and dataset cards.
    pub fn label(&self) -> String {
        match self {
            Ranker::PassRate => "pass_rate".into(),
            Ranker::Codet => "codet".into(),
            Ranker::PageRank(o) => format!(
                "pagerank(d={},iters={},tol={})",
                o.damping, o.max_iterations, o.tolerance
            ),
            Ranker::B4 { alpha, beta0 } => format!("b4(alpha={alpha:e},beta0={beta0:e})"),
        }
    }

    /// One score per row of `m`.
    pub fn score(&self, m: &PassMatrix) -> Vec<f64> {
        self.score_checked(m).0
    }

    /// One score per row of `m`, and whether an iterative ranker converged
    /// (always true for the closed-form ones).
    pub fn score_checked(&self, m: &PassMatrix) -> (Vec<f64>, bool) {
        match self {
            Ranker::PassRate => (pass_rate(m), true),
            Ranker::Codet => (codet(m), true),
            Ranker::PageRank(o) => {
                let r = pagerank(m, o);
                (r.code, r.converged)
            }
            Ranker::B4 { alpha, beta0 } => (b4(m, *alpha, *beta0), true),
        }
    }
}

/// α of the B4 reference (`alpha_xy`).
pub const B4_ALPHA: f64 = 1e3;

/// Fraction of tests passed per row.
pub fn pass_rate(m: &PassMatrix) -> Vec<f64> {
    if m.n_tests == 0 {
        return vec![0.0; m.n_samples()];
    }
    m.row_sums()
        .into_iter()
        .map(|s| s as f64 / m.n_tests as f64)
        .collect()
}

/// Groups row indices by identical pass pattern, in order of first appearance.
pub fn pattern_groups(m: &PassMatrix) -> Vec<Vec<usize>> {
    let mut index: HashMap<&[bool], usize> = HashMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, row) in m.rows.iter().enumerate() {
        let g = *index.entry(row.as_slice()).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(i);
    }
    groups
}

/// CodeT dual execution agreement: `#tests passed × sqrt(#rows with that pattern)`.
pub fn codet(m: &PassMatrix) -> Vec<f64> {
    let mut out = vec![0.0; m.n_samples()];
    for g in pattern_groups(m) {
        let passed = m.rows[g[0]].iter().filter(|&&b| b).count() as f64;
        let s = passed * (g.len() as f64).sqrt();
        for i in g {
            out[i] = s;
        }
    }
    out
}

/// Knobs of the CodeDPO-style PageRank.
///
/// Exact iteration (Jacobi style: both updates read the previous iterate):
///
/// ```text
/// c⁰_i = 1/n,  t⁰_j = 1/m
/// ĉ_i = (1−d)·cᵏ_i + d·Σ_j E_ij·tᵏ_j        t̂_j = (1−d)·tᵏ_j + d·Σ_i E_ij·cᵏ_i
/// cᵏ⁺¹ = ĉ / Σĉ                              tᵏ⁺¹ = t̂ / Σt̂
/// ```
///
/// stopping when `max(‖cᵏ⁺¹−cᵏ‖∞, ‖tᵏ⁺¹−tᵏ‖∞) < tolerance` or after
/// `max_iterations` updates. The normalisation keeps scores comparable
/// across problems (they sum to 1); a vector whose sum is 0 stays uniform.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PageRankOptions {
    /// d: weight of the neighbours' scores in each update.
    pub damping: f64,
    pub max_iterations: u32,
    pub tolerance: f64,
}

impl Default for PageRankOptions {
    fn default() -> Self {
        PageRankOptions {
            damping: 0.85,
            max_iterations: 10_000,
            tolerance: 1e-9,
        }
    }
}

/// Result of [`pagerank`]: final code and test scores, and how it stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRankResult {
    pub code: Vec<f64>,
    pub tests: Vec<f64>,
    pub iterations: u32,
    pub converged: bool,
}

fn normalise(v: &mut [f64]) {
    let s: f64 = v.iter().sum();
    if s > 0.0 && s.is_finite() {
        v.iter_mut().for_each(|x| *x /= s);
    } else if !v.is_empty() {
        let u = 1.0 / v.len() as f64;
        v.iter_mut().for_each(|x| *x = u);
    }
}

/// CodeDPO-style mutual reinforcement of code and test scores; see [`PageRankOptions`].
pub fn pagerank(m: &PassMatrix, o: &PageRankOptions) -> PageRankResult {
    let n = m.n_samples();
    let k = m.n_tests;
    let d = o.damping;
    let mut c = vec![if n > 0 { 1.0 / n as f64 } else { 0.0 }; n];
    let mut t = vec![if k > 0 { 1.0 / k as f64 } else { 0.0 }; k];
    let mut iterations = 0;
    let mut converged = false;
    while iterations < o.max_iterations {
        let mut c2: Vec<f64> = c.iter().map(|x| (1.0 - d) * x).collect();
        let mut t2: Vec<f64> = t.iter().map(|x| (1.0 - d) * x).collect();
        for (i, row) in m.rows.iter().enumerate() {
            for (j, &e) in row.iter().enumerate() {
                if e {
                    c2[i] += d * t[j];
                    t2[j] += d * c[i];
                }
            }
        }
        normalise(&mut c2);
        normalise(&mut t2);
        let delta = c
            .iter()
            .zip(&c2)
            .chain(t.iter().zip(&t2))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        c = c2;
        t = t2;
        iterations += 1;
        if delta < o.tolerance {
            converged = true;
            break;
        }
    }
    PageRankResult {
        code: c,
        tests: t,
        iterations,
        converged,
    }
}

/// `ln B(a, b)`, the log of the Beta function.
pub fn ln_beta(a: f64, b: f64) -> f64 {
    libm::lgamma(a) + libm::lgamma(b) - libm::lgamma(a + b)
}

/// `ln B(n1 + α, n − n1 + β)`: log marginal of n Bernoulli draws with n1 ones under Beta(α, β).
fn bernoulli_beta(n1: f64, n: f64, alpha: f64, beta: f64) -> f64 {
    ln_beta(n1 + alpha, n - n1 + beta)
}

/// B4 log posterior of each row's group (see the module docs).
pub fn b4(m: &PassMatrix, alpha: f64, beta0: f64) -> Vec<f64> {
    let n = m.n_samples();
    let mm = m.n_tests;
    let mut out = vec![0.0; n];
    for g in pattern_groups(m) {
        let y = &m.rows[g[0]];
        let sum_y = y.iter().filter(|&&b| b).count() as f64;
        let mut in_group = vec![false; n];
        for &i in &g {
            in_group[i] = true;
        }
        let (mut e1_sum, mut e1_len, mut e0_sum, mut e0_len) = (0usize, 0usize, 0usize, 0usize);
        for (i, row) in m.rows.iter().enumerate() {
            if in_group[i] {
                continue;
            }
            for (j, &e) in row.iter().enumerate() {
                if y[j] {
                    e1_len += 1;
                    e1_sum += e as usize;
                } else {
                    e0_len += 1;
                    e0_sum += e as usize;
                }
            }
        }
        let score = bernoulli_beta(g.len() as f64, n as f64, alpha, 1.0)
            + bernoulli_beta(sum_y, mm as f64, alpha, 1.0)
            + bernoulli_beta(e1_sum as f64, e1_len as f64, 1.0, 1.0)
            + bernoulli_beta(e0_sum as f64, e0_len as f64, 1.0, beta0);
        for i in g {
            out[i] = score;
        }
    }
    out
}

/// Row indices sorted best first: by score, then by pass rate, then by row index.
pub fn order_by_score(m: &PassMatrix, scores: &[f64]) -> Vec<usize> {
    let pr = m.row_sums();
    let mut idx: Vec<usize> = (0..m.n_samples()).collect();
    idx.sort_by(|&a, &b| {
        scores[b]
            .total_cmp(&scores[a])
            .then(pr[b].cmp(&pr[a]))
            .then(a.cmp(&b))
    });
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mat(rows: &[&[u8]]) -> PassMatrix {
        PassMatrix::from_rows(
            "p",
            (0..rows.len()).map(|i| format!("s{i}")).collect(),
            rows.iter()
                .map(|r| r.iter().map(|&b| b == 1).collect())
                .collect(),
        )
    }

    #[test]
    fn pass_rate_is_fraction_of_tests() {
        let m = mat(&[&[1, 1, 0, 0], &[1, 1, 1, 1], &[0, 0, 0, 0]]);
        assert_eq!(pass_rate(&m), vec![0.5, 1.0, 0.0]);
    }

    #[test]
    fn codet_rewards_consensus_over_single_high_scorer() {
        // Three identical rows passing 2 tests beat one row passing 3:
        // 2·sqrt(3) = 3.464 > 3·sqrt(1) = 3.
        let m = mat(&[&[1, 1, 0], &[1, 1, 0], &[1, 1, 0], &[1, 1, 1], &[0, 0, 0]]);
        let s = codet(&m);
        assert!((s[0] - 2.0 * 3f64.sqrt()).abs() < 1e-12);
        assert_eq!(s[0], s[2]);
        assert_eq!(s[3], 3.0);
        assert_eq!(s[4], 0.0);
        assert_eq!(order_by_score(&m, &s)[0], 0);
    }

    #[test]
    fn b4_matches_hand_computed_two_by_two() {
        // E = [[1,0],[0,1]], α = 1, β0 = 1: two symmetric groups.
        // group 0: x=(1,0), y=(1,0), N = M = 2; E1 = E[1][0] = 0, E0 = E[1][1] = 1:
        //   lnB(1+1, 2-1+1) + lnB(1+1, 2-1+1) + lnB(0+1, 1-0+1) + lnB(1+1, 1-1+1)
        //   = ln B(2,2) + ln B(2,2) + ln B(1,2) + ln B(2,1) = 2·ln(1/6) + 2·ln(1/2).
        let m = mat(&[&[1, 0], &[0, 1]]);
        let s = b4(&m, 1.0, 1.0);
        let want = 2.0 * (1.0f64 / 6.0).ln() + 2.0 * 0.5f64.ln();
        assert!((s[0] - want).abs() < 1e-12, "{s:?}");
        assert!((s[1] - s[0]).abs() < 1e-12);
    }

    #[test]
    fn b4_prefers_the_large_group_that_passes_many_tests() {
        let m = mat(&[&[1, 1, 1], &[1, 1, 1], &[1, 1, 1], &[1, 0, 0], &[0, 0, 0]]);
        let s = b4(&m, B4_ALPHA, 1e4);
        let best = order_by_score(&m, &s)[0];
        assert_eq!(best, 0);
    }

    #[test]
    fn ln_beta_matches_closed_forms() {
        // B(1,1)=1, B(2,3)=1/12, B(0.5,0.5)=π.
        assert!(ln_beta(1.0, 1.0).abs() < 1e-14);
        assert!((ln_beta(2.0, 3.0) - (1.0f64 / 12.0).ln()).abs() < 1e-13);
        assert!((ln_beta(0.5, 0.5) - std::f64::consts::PI.ln()).abs() < 1e-13);
    }

    #[test]
    fn pagerank_hand_computed_single_iteration() {
        // E = [[1,1],[1,0]], d = 0.5, one iteration from uniform (1/2, 1/2):
        // ĉ = 0.25 + 0.5·(0.5+0.5) = 0.75, 0.25 + 0.5·0.5 = 0.5  → c = (0.6, 0.4)
        // t̂ = 0.25 + 0.5·(0.5+0.5) = 0.75, 0.25 + 0.5·0.5 = 0.5  → t = (0.6, 0.4)
        let m = mat(&[&[1, 1], &[1, 0]]);
        let r = pagerank(
            &m,
            &PageRankOptions {
                damping: 0.5,
                max_iterations: 1,
                tolerance: 0.0,
            },
        );
        assert_eq!(r.iterations, 1);
        assert!(!r.converged);
        assert!((r.code[0] - 0.6).abs() < 1e-12 && (r.code[1] - 0.4).abs() < 1e-12);
        assert!((r.tests[0] - 0.6).abs() < 1e-12 && (r.tests[1] - 0.4).abs() < 1e-12);
    }

    #[test]
    fn pagerank_converges_on_random_matrices_under_the_default_cap() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(125);
        let mut worst = 0;
        for _ in 0..125 {
            let (n, k) = (rng.gen_range(1..20), rng.gen_range(1..20));
            let p = rng.gen_range(0.05..0.95);
            let rows: Vec<Vec<bool>> = (0..n)
                .map(|_| (0..k).map(|_| rng.gen_bool(p)).collect())
                .collect();
            let m = PassMatrix::from_rows("p", (0..n).map(|i| format!("s{i}")).collect(), rows);
            let r = pagerank(&m, &PageRankOptions::default());
            assert!(r.converged, "{m:?}");
            worst = worst.max(r.iterations);
            let (scores, converged) =
                Ranker::PageRank(PageRankOptions::default()).score_checked(&m);
            assert!(converged && scores == r.code);
        }
        assert!(worst < 1000, "{worst} iterations");
    }

    #[test]
    fn pagerank_converges_and_ranks_the_widest_passer_first() {
        let m = mat(&[&[1, 1, 1], &[1, 0, 0], &[0, 0, 0], &[1, 1, 0]]);
        let r = pagerank(&m, &PageRankOptions::default());
        assert!(r.converged, "{r:?}");
        assert!((r.code.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(order_by_score(&m, &r.code), vec![0, 3, 1, 2]);
    }

    #[test]
    fn rankers_survive_empty_and_testless_matrices() {
        let empty = mat(&[]);
        let testless = mat(&[&[], &[]]);
        for r in [
            Ranker::PassRate,
            Ranker::Codet,
            Ranker::PageRank(PageRankOptions::default()),
            Ranker::B4 {
                alpha: B4_ALPHA,
                beta0: 1e5,
            },
        ] {
            assert!(r.score(&empty).is_empty());
            let s = r.score(&testless);
            assert_eq!(s.len(), 2);
            assert!(s.iter().all(|x| x.is_finite()), "{r:?} {s:?}");
        }
    }

    #[test]
    fn ranker_names_parse() {
        assert_eq!(Ranker::parse("codet").unwrap(), Ranker::Codet);
        assert_eq!(
            Ranker::parse("b4:1e6").unwrap(),
            Ranker::B4 {
                alpha: 1e3,
                beta0: 1e6
            }
        );
        assert!(Ranker::parse("b4:x").is_err());
        assert!(Ranker::parse("nope").is_err());
    }
}
