//! SFT selection (the `sft` config): rejection sampling with dedup, DART budgets,
//! a cap per problem and a guaranteed fraction of reference data.
//!
//! Pools arrive deduplicated and best first, so rejection sampling is "take
//! passing candidates in order". The budget decides how many per problem:
//! - **uniform(k)**: k per problem (DART-Math "uniform");
//! - **prop2diff(k)**: proportional to difficulty and max-normalised, as
//!   DART-Math defines it: `quota_p = max(1, ceil(k · f_p / max f))` with
//!   `f_p` the problem's failure rate over its attempts, so the hardest
//!   attempted problem gets k, unsolved ones included.
//!
//! Both are capped by `max_per_problem`. Attempted problems that got fewer
//! rows than their quota are reported as deficits (DART would sample them
//! again); problems never attempted have no quota.
//! Reference solutions are then added until they make up at least
//! `reference_fraction` of all rows, problems without a selected sample first;
//! a reference holding benchmark text, equal to a row its problem has, or past
//! its problem's cap is not added.

use ouro_data::SftRecord;
use serde::{Deserialize, Serialize};

use crate::pool::Pool;
use crate::render::CompletionFormat;
use ouro_python::lexer::normalise_code;

/// Per-problem budget.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Budget {
    Uniform { k: usize },
    Prop2diff { k: usize },
}

impl Budget {
    /// Parses `uniform:K` or `prop2diff:K`.
    pub fn parse(text: &str) -> Result<Budget, String> {
        let (name, k) = text
            .split_once(':')
            .ok_or_else(|| format!("budget '{text}': expected uniform:K or prop2diff:K"))?;
        let k: usize = match k.parse() {
            Ok(0) | Err(_) => {
                return Err(format!("budget '{text}': K must be a whole number >= 1"))
            }
            Ok(k) => k,
        };
        match name {
            "uniform" => Ok(Budget::Uniform { k }),
            "prop2diff" => Ok(Budget::Prop2diff { k }),
            _ => Err(format!(
                "budget '{text}': unknown budget '{name}' (uniform or prop2diff)"
            )),
        }
    }
}

/// Knobs of SFT selection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SftOptions {
    pub budget: Budget,
    pub max_per_problem: usize,
    /// Reference rows make up at least this fraction of the output, when enough exist. In [0, 1).
    pub reference_fraction: f64,
}

impl Default for SftOptions {
    fn default() -> Self {
        SftOptions {
            budget: Budget::Uniform { k: 4 },
            max_per_problem: 8,
            reference_fraction: 0.0,
        }
    }
}

/// Counts of SFT selection.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SftStats {
    pub sample_rows: usize,
    pub reference_rows: usize,
    pub references_needed: usize,
    pub references_available: usize,
    pub problems_with_rows: usize,
    /// Problems that got fewer sample rows than their quota.
    pub problems_below_quota: usize,
    /// Sum over problems of `quota − rows` (how many more correct samples DART would want).
    pub quota_deficit: usize,
}

/// Quota per pool under the budget (before the cap).
pub fn quotas(pools: &[Pool], budget: Budget) -> Vec<usize> {
    let counts: Vec<(usize, usize)> = pools
        .iter()
        .map(|p| (p.attempts, p.passed_attempts))
        .collect();
    quotas_from_counts(&counts, budget)
}

/// DART's quotas from `(attempts, passed)` per problem.
///
/// - `uniform:K`: K per attempted problem;
/// - `prop2diff:K`: `max(1, ceil(K · f_p / max f))` with `f_p` the failure
///   rate, so the hardest attempted problem (an unsolved one, if any) gets K
///   and the easiest still gets 1 (DART-Math, max-normalised).
///
/// A problem never attempted has no quota: it has no difficulty yet, and a
/// shortfall there says nothing about the budget.
pub fn quotas_from_counts(counts: &[(usize, usize)], budget: Budget) -> Vec<usize> {
    let fail = |&(attempts, passed): &(usize, usize)| -> Option<f64> {
        (attempts > 0).then(|| 1.0 - passed.min(attempts) as f64 / attempts as f64)
    };
    match budget {
        Budget::Uniform { k } => counts
            .iter()
            .map(|c| if fail(c).is_some() { k } else { 0 })
            .collect(),
        Budget::Prop2diff { k } => {
            let hardest = counts.iter().filter_map(fail).fold(0.0f64, f64::max);
            counts
                .iter()
                .map(|c| match fail(c) {
                    None => 0,
                    Some(_) if hardest == 0.0 => 1,
                    // The small epsilon keeps k · f / max at exactly an integer
                    // from rounding up past it.
                    Some(f) => ((k as f64 * f / hardest - 1e-9).ceil() as usize).clamp(1, k),
                })
                .collect()
        }
    }
}

/// Selects SFT rows from pools (already deduplicated and decontaminated).
pub fn select_sft(
    pools: &[Pool],
    o: &SftOptions,
    fmt: CompletionFormat,
    st: &mut SftStats,
) -> Vec<SftRecord> {
    let quota = quotas(pools, o.budget);
    let mut rows = Vec::new();
    let mut without_rows = Vec::new();
    // Each problem's selected programs, normalised: a reference equal to one is no
    // new row, and the cap counts them.
    let mut selected: std::collections::HashMap<&str, Vec<String>> = Default::default();
    for (p, &q) in pools.iter().zip(&quota) {
        let q = q.min(o.max_per_problem);
        let passing: Vec<_> = p.passing().collect();
        let take = passing.len().min(q);
        if take < q {
            st.problems_below_quota += 1;
            st.quota_deficit += q - take;
        }
        if take == 0 {
            without_rows.push(p);
            continue;
        }
        st.problems_with_rows += 1;
        selected.insert(
            p.problem.problem_id.as_str(),
            passing[..take]
                .iter()
                .map(|c| normalise_code(&c.code))
                .collect(),
        );
        for c in &passing[..take] {
            rows.push(SftRecord {
                prompt: p.problem.prompt.clone(),
                completion: fmt.render(&p.problem.prompt, &c.code),
                problem_id: p.problem.problem_id.clone(),
                sample_id: Some(c.sample.sample_id.clone()),
                round: c.sample.round,
                origin: "sample".into(),
                score: Some(c.score),
                weight_spans: Vec::new(),
            });
        }
    }
    st.sample_rows = rows.len();

    let f = o.reference_fraction.clamp(0.0, 0.999);
    let needed = if f > 0.0 {
        ((f * rows.len() as f64) / (1.0 - f)).ceil() as usize
    } else {
        0
    };
    let with_rows: Vec<&Pool> = pools
        .iter()
        .filter(|p| !without_rows.iter().any(|w| std::ptr::eq(*w, *p)))
        .collect();
    let ordered = without_rows.iter().copied().chain(with_rows);
    let mut refs = Vec::new();
    let mut available = 0;
    for p in ordered {
        let Some(code) = p.problem.reference_solution.as_deref() else {
            continue;
        };
        let normalised = normalise_code(code);
        if normalised.is_empty() || !p.reference_clean {
            continue;
        }
        let own = selected
            .get(p.problem.problem_id.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        if own.len() >= o.max_per_problem || own.contains(&normalised) {
            continue;
        }
        available += 1;
        if refs.len() < needed {
            refs.push(SftRecord {
                prompt: p.problem.prompt.clone(),
                completion: fmt.render(&p.problem.prompt, code),
                problem_id: p.problem.problem_id.clone(),
                sample_id: None,
                round: 0,
                origin: "reference".into(),
                score: None,
                weight_spans: Vec::new(),
            });
        }
    }
    st.references_needed = needed;
    st.references_available = available;
    st.reference_rows = refs.len();
    rows.extend(refs);
    rows
}

#[cfg(test)]
mod dart_tests {
    use super::*;

    /// Pass counts out of 64 from the DART check: the hardest problem (never
    /// solved) gets K, the rest ceil(K · f / max f), at least 1.
    #[test]
    fn prop2diff_is_max_normalised_as_in_dart() {
        let counts: Vec<(usize, usize)> = [64, 60, 48, 32, 16, 8, 4, 2, 1, 0]
            .iter()
            .map(|&p| (64, p))
            .collect();
        assert_eq!(
            quotas_from_counts(&counts, Budget::Prop2diff { k: 4 }),
            [1, 1, 1, 2, 3, 4, 4, 4, 4, 4]
        );
        assert_eq!(
            quotas_from_counts(&counts, Budget::Prop2diff { k: 8 }),
            [1, 1, 2, 4, 6, 7, 8, 8, 8, 8]
        );
        // Without an unsolved problem the hardest solved one gets K.
        assert_eq!(
            quotas_from_counts(&[(4, 1), (4, 3), (4, 4)], Budget::Prop2diff { k: 6 }),
            [6, 2, 1]
        );
    }

    #[test]
    fn problems_never_attempted_have_no_quota() {
        let counts = [(0, 0), (8, 0), (8, 8)];
        assert_eq!(
            quotas_from_counts(&counts, Budget::Uniform { k: 4 }),
            [0, 4, 4]
        );
        assert_eq!(
            quotas_from_counts(&counts, Budget::Prop2diff { k: 4 }),
            [0, 4, 1]
        );
    }
}
