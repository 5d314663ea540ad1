//! DART-Math's sampling loop: after a round's samples are executed, the
//! problems short of their selection quota are sampled again, in batches,
//! until they reach it or the per-problem cap (`[iterate] resample_passes`,
//! `max_samples`).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::Result;
use ouro_data::run::{part_path, StageStats};
use ouro_data::{shard, Execution, Problem, Sample, ShardSpec, Suite, Verdict};

use super::sampling::Draw;
use super::{Ctx, Phase};
use crate::config::{IterateStage, RankTests};
use crate::iterate::eval::{per_problem_passes, PassRule};

/// Per problem: distinct passing programs (what selection can keep).
fn distinct_passes(samples: &[Sample], executions: &[Execution]) -> BTreeMap<String, usize> {
    let passed: HashSet<&str> = executions
        .iter()
        .filter(|e| e.suite == Suite::Filter && e.verdict == Verdict::Pass)
        .map(|e| e.sample_id.as_str())
        .collect();
    let mut programs: BTreeMap<&str, HashSet<String>> = BTreeMap::new();
    for s in samples {
        if let (true, Some(code)) = (passed.contains(s.sample_id.as_str()), &s.code) {
            programs
                .entry(s.problem_id.as_str())
                .or_default()
                .insert(ouro_python::lexer::normalise_code(code));
        }
    }
    programs
        .into_iter()
        .map(|(p, set)| (p.to_string(), set.len()))
        .collect()
}

/// The next batch: problems of `planned` whose distinct passing programs are
/// below their quota (DART's, from attempts and passes so far) and whose
/// attempts are below the cap, each with `samples_per_problem` more (capped).
pub(super) fn shortfall_plan<'p>(
    it: &IterateStage,
    planned: &[&'p Problem],
    samples: &[Sample],
    executions: &[Execution],
) -> Vec<(&'p Problem, usize)> {
    let counts = per_problem_passes(samples, executions, PassRule::Filter);
    let distinct = distinct_passes(samples, executions);
    let per: Vec<(usize, usize)> = planned
        .iter()
        .map(|p| counts.get(&p.problem_id).copied().unwrap_or((0, 0)))
        .collect();
    let quotas = ouro_rank::sft::quotas_from_counts(&per, it.selection_budget());
    let cap = it.sample_cap();
    planned
        .iter()
        .zip(per.iter().zip(quotas))
        .filter_map(|(p, (&(attempts, _), quota))| {
            let have = distinct.get(&p.problem_id).copied().unwrap_or(0);
            (have < quota && attempts < cap)
                .then(|| (*p, it.samples_per_problem.min(cap - attempts)))
        })
        .collect()
}

impl Ctx<'_> {
    /// Where round `round`'s samples and executions are read from: the
    /// round's own stages, or `round-NN/all/` (the first batch and every
    /// resampled one) when the pipeline resamples.
    pub(super) fn round_data(&self, round: u32) -> (PathBuf, PathBuf) {
        let resamples = self
            .cfg
            .iterate
            .as_ref()
            .is_some_and(|i| i.resample_passes > 0);
        let dir = self.run.round_dir(round);
        let dir = if resamples { dir.join("all") } else { dir };
        (dir.join("samples"), dir.join("executions"))
    }

    /// Resamples the round's short problems (`round-NN/resample-K/`) and
    /// gathers every batch into `round-NN/all/`; returns `round_data(round)`.
    /// Each batch's attempt indices start past the cap times its pass number,
    /// so its seeds and sample ids are new.
    pub(super) fn resample(
        &mut self,
        round: u32,
        it: &IterateStage,
        model: &Path,
        budget: &[(usize, usize)],
        pool: &[Problem],
    ) -> Result<(PathBuf, PathBuf)> {
        if it.resample_passes == 0 {
            return Ok(self.round_data(round));
        }
        let dir = self.run.round_dir(round);
        let mut samples: Vec<Sample> = shard::read_dir(dir.join("samples"))?;
        let mut executions: Vec<Execution> = shard::read_dir(dir.join("executions"))?;
        let planned: Vec<&Problem> = budget.iter().map(|&(i, _)| &pool[i]).collect();
        let cap = u32::try_from(it.sample_cap()).unwrap_or(u32::MAX / 64);
        for pass in 1..=it.resample_passes {
            let plan = shortfall_plan(it, &planned, &samples, &executions);
            if plan.is_empty() {
                break;
            }
            let (s, e) = self.sample_and_execute(
                &dir.join(format!("resample-{pass}")),
                &plan,
                model,
                (round, pass.saturating_mul(cap)),
                &format!("round {round} resample {pass}"),
                Draw::Pool {
                    sampling: &it.sampling,
                    audit: it.rank_tests == RankTests::Audit,
                },
            )?;
            samples.extend(s);
            executions.extend(e);
        }
        let (all_samples, all_executions) = self.round_data(round);
        let (s_out, e_out) = (all_samples.clone(), all_executions.clone());
        let n = samples.len();
        self.stage(
            Phase::Sample,
            &all_samples,
            &format!("round {round} all samples"),
            || {
                shard::write_records(part_path(&s_out, ShardSpec::default()), &samples)?;
                let mut st = StageStats::default();
                st.add("samples", n as u64);
                Ok(st)
            },
        )?;
        let m = executions.len();
        self.stage(
            Phase::Execute,
            &all_executions,
            &format!("round {round} all executions"),
            || {
                shard::write_records(part_path(&e_out, ShardSpec::default()), &executions)?;
                let mut st = StageStats::default();
                st.add("executions", m as u64);
                Ok(st)
            },
        )?;
        Ok((all_samples, all_executions))
    }
}
