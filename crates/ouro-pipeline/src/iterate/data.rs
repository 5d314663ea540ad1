//! What a round trains on: the run's problems split by role, reference rows,
//! replay subsampling, and the build reports read back.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{bail, Context, Result};
use ouro_data::{derive_seed, Problem, SftRecord};
use ouro_rank::pairs::CompletionFormat;

use crate::config::{EvalStage, PipelineConfig};

/// The problems of a run, split by role.
pub(super) struct Splits {
    pub seed: Vec<Problem>,
    pub pool: Vec<Problem>,
    pub eval: Vec<Problem>,
}

pub(super) fn splits(
    problems: &[Problem],
    cfg: &PipelineConfig,
    eval: &EvalStage,
) -> Result<Splits> {
    let seed_n = cfg.seed_sft.as_ref().map_or(0, |s| s.problems);
    let pool_splits = cfg
        .iterate
        .as_ref()
        .map_or_else(|| vec!["train".to_string()], |i| i.pool_split.clone());
    let seed_split = pool_splits.first().map_or("train", String::as_str);
    let mut eval_set: Vec<Problem> = problems
        .iter()
        .filter(|p| p.split == eval.split)
        .cloned()
        .collect();
    if eval_set.is_empty() {
        bail!("key 'eval.split': no problem has split '{}'", eval.split);
    }
    if eval.max_problems > 0 {
        eval_set.truncate(eval.max_problems);
    }
    let evaluated: HashSet<&str> = eval_set.iter().map(|p| p.problem_id.as_str()).collect();
    let first: Vec<&Problem> = problems
        .iter()
        .filter(|p| p.split == seed_split && !evaluated.contains(p.problem_id.as_str()))
        .collect();
    if seed_n > first.len() {
        bail!(
            "key 'seed_sft.problems' = {seed_n}, but the run has only {} problems in split '{seed_split}' outside the evaluation set",
            first.len()
        );
    }
    let seed: Vec<Problem> = first[..seed_n].iter().map(|p| (*p).clone()).collect();
    let seeded: HashSet<&str> = seed.iter().map(|p| p.problem_id.as_str()).collect();
    let pool: Vec<Problem> = problems
        .iter()
        .filter(|p| pool_splits.contains(&p.split))
        .filter(|p| {
            !evaluated.contains(p.problem_id.as_str()) && !seeded.contains(p.problem_id.as_str())
        })
        .cloned()
        .collect();
    if cfg.iterate.is_some() && pool.is_empty() {
        bail!(
            "key 'iterate.pool_split': no problem of {pool_splits:?} is left for the pool once the seed and evaluated problems are taken out"
        );
    }
    Ok(Splits {
        seed,
        pool,
        eval: eval_set,
    })
}

/// SFT rows from reference solutions (prompt = problem prompt, completion =
/// the reference in `format`: what follows the prompt, or the whole program).
pub(super) fn reference_rows(problems: &[Problem], format: CompletionFormat) -> Vec<SftRecord> {
    problems
        .iter()
        .filter_map(|p| {
            let r = p.reference_solution.as_ref()?;
            // A reference that does not start with the prompt has no continuation.
            if !format.fits(&p.prompt, r) {
                return None;
            }
            Some(SftRecord {
                prompt: p.prompt.clone(),
                completion: format.render(&p.prompt, r),
                problem_id: p.problem_id.clone(),
                sample_id: None,
                round: 0,
                origin: "reference".into(),
                score: None,
                weight_spans: Vec::new(),
            })
        })
        .collect()
}

/// The B-STaR balance score the SFT build recorded in its report, if it built one.
pub(super) fn sft_balance(dataset: &Path) -> Result<Option<f64>> {
    let Some(path) = ouro_data::hf::config_report(&dataset.join("sft")) else {
        return Ok(None);
    };
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let report: ouro_rank::build::BuildReport =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok(report.metrics.bstar_balance)
}

/// About `fraction` of `rows`, each kept by a hash of it: deterministic, and a row's
/// fate does not depend on the others (the count varies around the share).
pub(super) fn subsample(rows: Vec<SftRecord>, fraction: f64, seed: u64) -> Vec<SftRecord> {
    if fraction >= 1.0 {
        return rows;
    }
    let cut = (fraction.max(0.0) * u64::MAX as f64) as u64;
    rows.into_iter()
        .filter(|r| {
            let key = format!("{}#{}", r.problem_id, r.completion);
            derive_seed(&key, seed) <= cut
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(id: usize, split: &str) -> Problem {
        Problem {
            problem_id: format!("p{id}"),
            source: "test".into(),
            prompt: format!("def f{id}():\n"),
            entry_point: format!("f{id}"),
            language: "python".into(),
            starter_code: String::new(),
            reference_solution: Some(format!("def f{id}():\n    return {id}\n")),
            tests: ouro_data::Tests::AssertScript {
                script: String::new(),
            },
            audit_tests: None,
            difficulty: None,
            tags: Vec::new(),
            split: split.into(),
        }
    }

    fn config(pool_split: &str) -> PipelineConfig {
        toml::from_str(&format!(
            r#"
            out = "run"
            [problems]
            count = 1
            [model]
            init = "tiny"
            [seed_sft]
            problems = 3
            [iterate]
            rounds = 1
            pool_split = {pool_split}
            [eval]
            max_problems = 2
            "#
        ))
        .unwrap()
    }

    #[test]
    fn evaluated_problems_are_never_seed_or_pool() {
        let problems: Vec<Problem> = (0..12)
            .map(|i| problem(i, if i % 3 == 0 { "heldout" } else { "train" }))
            .collect();
        let cfg = config(r#"["train", "heldout"]"#);
        let s = splits(&problems, &cfg, cfg.eval.as_ref().unwrap()).unwrap();
        let ids =
            |v: &[Problem]| -> Vec<String> { v.iter().map(|p| p.problem_id.clone()).collect() };
        assert_eq!(ids(&s.eval), ["p0", "p3"]);
        assert_eq!(ids(&s.seed), ["p1", "p2", "p4"]);
        // The rest of train, and the held-out problems that are not evaluated.
        assert_eq!(ids(&s.pool), ["p5", "p6", "p7", "p8", "p9", "p10", "p11"]);

        // Pool = eval split only, every problem evaluated: an error naming the key.
        let all_eval: Vec<Problem> = (0..2).map(|i| problem(i, "heldout")).collect();
        let cfg = config(r#""heldout""#);
        let mut e = cfg.eval.clone().unwrap();
        e.max_problems = 0;
        let mut cfg = cfg;
        cfg.seed_sft = None;
        let err = splits(&all_eval, &cfg, &e).err().unwrap().to_string();
        assert!(err.contains("iterate.pool_split"), "{err}");
    }
}
