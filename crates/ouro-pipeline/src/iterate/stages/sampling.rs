//! Sampling a model and executing its samples, and the evaluation that
//! turns one such pass over the held-out split into a report row.

use std::path::Path;

use anyhow::Result;
use ouro_data::report::RoundReport;
use ouro_data::run::part_path;
use ouro_data::{shard, Execution, Problem, Sample, ShardSpec};

use super::{rel, Ctx, Phase, STOP};
use crate::config::{EvalStage, SamplingStage};
use crate::iterate::eval::{evaluate, EvalResult};

/// What a [`Ctx::sample_and_execute`] pass draws, with the sampling settings it draws with.
pub(super) enum Draw<'a> {
    /// A round's training pool: the filter suite labels it, and the audit suite also
    /// runs when `audit` (the ranker orders by it).
    Pool {
        sampling: &'a SamplingStage,
        audit: bool,
    },
    /// The held-out split: both suites, since strict pass@k needs the audit.
    Eval { sampling: &'a SamplingStage },
}

impl Ctx<'_> {
    /// Samples `plan`, writes the samples shard and executes it with the suites
    /// `draw` names.
    pub(super) fn sample_and_execute(
        &mut self,
        dir: &Path,
        plan: &[(&Problem, usize)],
        model: &Path,
        (round, first_index): (u32, u32),
        label: &str,
        draw: Draw<'_>,
    ) -> Result<(Vec<Sample>, Vec<Execution>)> {
        let (sampling, audit, eval) = match draw {
            Draw::Pool { sampling, audit } => (sampling, audit, false),
            Draw::Eval { sampling } => (sampling, true, true),
        };
        let (sample_phase, execute_phase) = if eval {
            (Phase::Eval, Phase::Eval)
        } else {
            (Phase::Sample, Phase::Execute)
        };
        let samples_dir = dir.join("samples");
        let exec_dir = dir.join("executions");
        let seed = self.cfg.problems.seed;
        // pass@k reads verdicts alone.
        let count_lines = !eval
            && self
                .cfg
                .iterate
                .as_ref()
                .is_some_and(|it| crate::config::DatasetKind::read_line_counts(&it.datasets));
        let mut suites = vec![ouro_data::Suite::Filter];
        if audit {
            suites.push(ouro_data::Suite::Audit);
        }
        let exec_opts = crate::stages::exec_options(self.cfg.execute.as_ref(), suites, count_lines);
        let problems_dir = self.problems_dir.clone();
        let (device, dtype, sample_dtype) =
            self.cfg.model.as_ref().map_or((None, None, None), |m| {
                (m.device.clone(), m.dtype.clone(), m.sample_dtype.clone())
            });
        self.stage(
            sample_phase,
            &samples_dir,
            &format!("{label} samples"),
            || {
                let mut backend = ouro_sample::BackendConfig::local(model);
                if let ouro_sample::BackendConfig::Local {
                    batch_size,
                    device: d,
                    dtype: t,
                    sample_dtype: w,
                    prompt_format,
                    ..
                } = &mut backend
                {
                    *batch_size = sampling.batch_size;
                    *prompt_format = sampling.prompt_format;
                    (*d, *t, *w) = (device, dtype, sample_dtype);
                }
                let opts = ouro_sample::SampleOptions {
                    round,
                    temperature: sampling.temperature,
                    top_p: sampling.top_p,
                    max_tokens: sampling.max_tokens,
                    // A chat reply opens with prose or a fence before its `def`; it
                    // ends at the end-of-turn token instead.
                    stop: match sampling.prompt_format {
                        ouro_model::chat::PromptFormat::Plain => {
                            STOP.iter().map(|s| s.to_string()).collect()
                        }
                        ouro_model::chat::PromptFormat::ChatMl => Vec::new(),
                    },
                    seed,
                    progress: true,
                    first_index,
                    ..Default::default()
                };
                let part = part_path(&samples_dir, ShardSpec::default());
                ouro_sample::sample_to_shard(plan, &backend, &opts, &part)
            },
        )?;
        self.stage(
            execute_phase,
            &exec_dir,
            &format!("{label} execute"),
            || {
                let r = ouro_exec::execute(&problems_dir, &samples_dir, &exec_dir, &exec_opts)?;
                Ok(crate::stages::exec_stats(&r))
            },
        )?;
        Ok((shard::read_dir(&samples_dir)?, shard::read_dir(&exec_dir)?))
    }

    /// Samples the eval split with `model` and records the round's row.
    pub(super) fn eval_round(
        &mut self,
        round: u32,
        model: &Path,
        e: &EvalStage,
        control: bool,
    ) -> Result<RoundReport> {
        let arm = if control { "control/" } else { "" };
        let dir = self.arm_dir(round, arm, "eval");
        let eval_set = std::mem::take(&mut self.splits.eval);
        let plan: Vec<(&Problem, usize)> = eval_set
            .iter()
            .map(|p| (p, e.samples_per_problem))
            .collect();
        let label = format!("{arm}eval r{round}");
        let res = self.sample_and_execute(
            &dir,
            &plan,
            model,
            (round, 0),
            &label,
            Draw::Eval {
                sampling: &e.sampling,
            },
        );
        self.splits.eval = eval_set;
        let (samples, execs) = res?;
        let result: EvalResult = evaluate(&samples, &execs, &e.k);
        ouro_data::fsutil::atomic_write_json(dir.join("eval.json"), &result)?;
        let train_dir = self.arm_dir(round, arm, "train-sft");
        let metrics = train_dir.join("metrics.jsonl");
        let dpo_metrics = self.arm_dir(round, arm, "train-dpo").join("metrics.jsonl");
        let row = RoundReport {
            round,
            model: rel(self.run, model),
            heldout_problems: result.problems,
            samples_per_problem: result.samples_per_problem,
            pass_at_1: result.pass_at_1,
            pass_at_k: result.pass_at_k.clone(),
            false_positive_rate: result.false_positive_rate,
            audited_passes: result.audited_passes,
            problems: result.per_problem.clone(),
            sft_metrics: metrics.exists().then(|| rel(self.run, &metrics)),
            dpo_metrics: dpo_metrics.exists().then(|| rel(self.run, &dpo_metrics)),
            ..Default::default()
        };
        crate::status::say(format_args!(
            "{arm}round {round}: {} pass@1 {:.1}%{}",
            e.split,
            100.0 * result.pass_at_1,
            crate::iterate::other_ks(std::iter::once(&result.pass_at_k))
                .iter()
                .map(|k| format!(", {k} {:.1}%", 100.0 * result.pass_at_k[k]))
                .collect::<String>()
        ));
        Ok(row)
    }
}
