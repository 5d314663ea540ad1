//! SFT selection (the `sft` config): rejection sampling with dedup, DART budgets,
//! a cap per problem and a guaranteed fraction of reference data.
//!
//! Pools arrive deduplicated and best first, so rejection sampling is "take
//! passing candidates in order". The budget decides how many per problem:
//! - **uniform(k)**: k per problem (DART-Math "uniform");
//! - **prop2diff(k)**: proportional to difficulty, `quota_p = round(k · f_p / mean f)`
//!   with `f_p` the problem's failure rate over its attempts and the mean
//!   taken over problems with a passing sample; at least 1 for those.
//!
//! Both are capped by `max_per_problem`. Problems that got fewer rows than
//! their quota are reported as deficits (DART would sample them again).
//! Reference solutions are then added until they make up at least
//! `reference_fraction` of all rows, problems without a selected sample first.

use ouro_data::SftRecord;
use serde::{Deserialize, Serialize};

use crate::pairs::CompletionFormat;
use crate::pool::Pool;
use crate::pytok::normalise_code;

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
        let k: usize = k
            .parse()
            .map_err(|_| format!("budget '{text}': K must be a whole number"))?;
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
    match budget {
        Budget::Uniform { k } => vec![k; pools.len()],
        Budget::Prop2diff { k } => {
            let fail: Vec<Option<f64>> = pools
                .iter()
                .map(|p| {
                    (p.attempts > 0 && p.passed_attempts > 0)
                        .then(|| 1.0 - p.passed_attempts as f64 / p.attempts as f64)
                })
                .collect();
            let solved: Vec<f64> = fail.iter().flatten().copied().collect();
            let mean = if solved.is_empty() {
                0.0
            } else {
                solved.iter().sum::<f64>() / solved.len() as f64
            };
            fail.iter()
                .map(|f| match f {
                    None => 0,
                    Some(_) if mean == 0.0 => k,
                    Some(f) => ((k as f64 * f / mean).round() as usize).max(1),
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
        if normalise_code(code).is_empty() {
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
