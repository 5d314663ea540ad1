//! Round metrics: unbiased pass@k, the B-STaR balance score, the false-positive rate.

use serde::Serialize;

/// Unbiased pass@k of Chen et al. (2021): `1 − Π_{i=n−c+1}^{n} (1 − k/i)`.
///
/// `n` samples were drawn, `c` of them correct. Returns `None` when `k > n`
/// (the estimator is undefined); 1.0 when `n − c < k`.
pub fn pass_at_k(n: usize, c: usize, k: usize) -> Option<f64> {
    if k == 0 || k > n || c > n {
        return None;
    }
    if n - c < k {
        return Some(1.0);
    }
    let mut prod = 1.0;
    for i in (n - c + 1)..=n {
        prod *= 1.0 - k as f64 / i as f64;
    }
    Some(1.0 - prod)
}

/// B-STaR balance score: mean over problems of `min(c, 8)/8 · c/n`.
///
/// Each item is `(c, n)`: c correct unique samples among n selected. A
/// problem with `n = 0` contributes 0.
pub fn bstar_balance(per_problem: &[(usize, usize)]) -> f64 {
    if per_problem.is_empty() {
        return 0.0;
    }
    let total: f64 = per_problem
        .iter()
        .map(|&(c, n)| {
            if n == 0 {
                0.0
            } else {
                (c.min(8) as f64 / 8.0) * (c as f64 / n as f64)
            }
        })
        .sum();
    total / per_problem.len() as f64
}

/// False positives: samples that pass the filter tests but fail the audit tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct FalsePositives {
    /// Filter-passing samples that also have an audit execution.
    pub audited: usize,
    /// Of those, how many failed the audit suite.
    pub failed_audit: usize,
    /// Filter-passing samples without an audit execution (not counted in the rate).
    pub unaudited: usize,
}

impl FalsePositives {
    /// `failed_audit / audited`; `None` when nothing was audited.
    pub fn rate(&self) -> Option<f64> {
        (self.audited > 0).then(|| self.failed_audit as f64 / self.audited as f64)
    }
}

/// Mean of pass@k over problems, for each k in `ks`; problems with fewer than k samples are left out.
///
/// Returns `(k, mean, problems counted)`.
pub fn mean_pass_at_k(
    per_problem: &[(usize, usize)],
    ks: &[usize],
) -> Vec<(usize, Option<f64>, usize)> {
    ks.iter()
        .map(|&k| {
            let vals: Vec<f64> = per_problem
                .iter()
                .filter_map(|&(n, c)| pass_at_k(n, c, k))
                .collect();
            let mean = (!vals.is_empty()).then(|| vals.iter().sum::<f64>() / vals.len() as f64);
            (k, mean, vals.len())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numerically naive form `1 − C(n−c, k)/C(n, k)`.
    fn pass_at_k_binomial(n: u64, c: u64, k: u64) -> f64 {
        fn choose(n: u64, k: u64) -> f64 {
            if k > n {
                return 0.0;
            }
            (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
        }
        1.0 - choose(n - c, k) / choose(n, k)
    }

    #[test]
    fn pass_at_k_equals_the_binomial_form() {
        for (n, c, k) in [
            (10, 3, 1),
            (10, 3, 5),
            (20, 1, 10),
            (200, 17, 10),
            (5, 0, 1),
            (5, 5, 5),
        ] {
            let a = pass_at_k(n, c, k).unwrap();
            let b = pass_at_k_binomial(n as u64, c as u64, k as u64);
            assert!((a - b).abs() < 1e-12, "n={n} c={c} k={k}: {a} vs {b}");
        }
        assert!((pass_at_k(10, 3, 1).unwrap() - 0.3).abs() < 1e-12);
        assert_eq!(pass_at_k(4, 1, 5), None);
    }

    #[test]
    fn bstar_balance_caps_counts_at_eight() {
        // (c=4, n=8): 4/8 · 4/8 = 0.25; (c=16, n=16): 1 · 1 = 1; (0, 0): 0.
        let b = bstar_balance(&[(4, 8), (16, 16), (0, 0)]);
        assert!((b - 1.25 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn false_positive_rate_ignores_unaudited() {
        let fp = FalsePositives {
            audited: 4,
            failed_audit: 1,
            unaudited: 10,
        };
        assert_eq!(fp.rate(), Some(0.25));
        assert_eq!(FalsePositives::default().rate(), None);
    }
}
