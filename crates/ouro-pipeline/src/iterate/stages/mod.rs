//! The stages of expert iteration, in the order a run executes them.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use ouro_data::report::{RunInfo, RunReport};
use ouro_data::run::{RunDir, StageStats};
use ouro_data::{derive_seed, shard, Execution, Problem, Sample};
use ouro_train::config::SftConfig;

use super::data::{reference_rows, sft_balance, splits, subsample, Splits};
use super::eval::{per_problem_passes, PassRule};
use crate::config::{BudgetKind, EvalStage, IterateStage, PipelineConfig, RankTests};

/// What a trainer returns: its report and the data-preparation counts.
type Trained = (
    ouro_train::engine::TrainReport,
    ouro_train::tokenize::PrepStats,
);

/// Stops a continuation at the end of the function body.
const STOP: [&str; 4] = ["\ndef ", "\nclass ", "\nif __name__", "\nprint("];
use crate::markers::{stage, RunSummary};

mod audit;
mod edits;
mod resample;
mod rows;
mod sampling;

use sampling::Draw;

/// The column of the report's "Time by phase" that a stage's seconds go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Init,
    Sample,
    Execute,
    Build,
    Train,
    Eval,
}

impl Phase {
    fn key(self) -> &'static str {
        match self {
            Phase::Init => "init",
            Phase::Sample => "sample",
            Phase::Execute => "execute",
            Phase::Build => "build",
            Phase::Train => "train",
            Phase::Eval => "eval",
        }
    }
}

/// What the round stages share.
struct Ctx<'a> {
    run: &'a RunDir,
    cfg: &'a PipelineConfig,
    problems_dir: PathBuf,
    splits: Splits,
    summary: &'a mut RunSummary,
    report: RunReport,
    /// Stage seconds by phase since the last report row took them. They come
    /// from the stage markers, so a resumed stage counts its first run's time.
    seconds: std::collections::BTreeMap<&'static str, f64>,
}

/// Runs round 0 and the configured rounds; writes `RUN/report.json` after each.
pub fn run_iteration(
    run: &RunDir,
    cfg: &PipelineConfig,
    problems_dir: &Path,
    summary: &mut RunSummary,
    info: RunInfo,
) -> Result<RunReport> {
    let eval_cfg = cfg
        .eval
        .clone()
        .context("key 'eval': expert iteration needs an [eval] section")?;
    let problems: Vec<Problem> = shard::read_dir(problems_dir)?;
    let mut ctx = Ctx {
        run,
        cfg,
        problems_dir: problems_dir.to_path_buf(),
        splits: splits(&problems, cfg, &eval_cfg)?,
        summary,
        report: RunReport::read(run.root()).unwrap_or_else(|_| RunReport {
            pipeline: pipeline_name(cfg),
            ..Default::default()
        }),
        seconds: Default::default(),
    };
    // A resume keeps the first start's date.
    let started = ctx.report.run.as_ref().map(|r| r.started.clone());
    ctx.report.run = Some(RunInfo {
        started: started.unwrap_or(info.started),
        ..info
    });
    let place = ctx.train_device()?.place;
    let weights = cfg.model.as_ref().and_then(|m| m.sample_dtype.as_deref());
    let device = match ouro_model::SampleDtype::parse(weights)? {
        ouro_model::SampleDtype::Q8 => format!("{}, sampling with q8 weights", place.describe()),
        ouro_model::SampleDtype::Full => place.describe(),
    };
    crate::status::say(format_args!("model on {device}"));
    ctx.report.device = Some(device);
    let base = ctx.base_model(&problems)?;
    let model0 = ctx.seed_round(&base)?;
    let mut row = ctx.eval_round(0, &model0, &eval_cfg, false)?;
    row.seconds = ctx.take_seconds();
    RunReport::upsert(&mut ctx.report.rounds, row);
    ctx.report.write(run.root())?;

    let Some(it) = cfg.iterate.clone() else {
        return Ok(ctx.report);
    };
    let (mut model, mut control) = (model0.clone(), model0.clone());
    if it.control {
        let mut row = ctx.report.rounds[0].clone();
        row.data_counts.clear();
        // The control arm shares round 0 with the main arm; its time is counted there.
        row.seconds.clear();
        RunReport::upsert(&mut ctx.report.control, row);
    }
    for r in 1..=it.rounds {
        // Where the run stands, for logs that have no progress bar to look at.
        crate::status::say(format_args!("round {r}/{}", it.rounds));
        let start = if it.from_base { &model0 } else { &model };
        model = ctx.expert_round(r, &it, start, &eval_cfg)?;
        if it.control {
            let start = if it.from_base { &model0 } else { &control };
            control = ctx.control_round(r, &it, start, &eval_cfg)?;
        }
    }
    Ok(ctx.report)
}

fn pipeline_name(cfg: &PipelineConfig) -> String {
    cfg.out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".into())
}

fn rel(run: &RunDir, p: &Path) -> String {
    p.strip_prefix(run.root())
        .unwrap_or(p)
        .display()
        .to_string()
}

fn train_stats(
    report: &ouro_train::engine::TrainReport,
    prep: &ouro_train::tokenize::PrepStats,
) -> StageStats {
    let mut s = StageStats::default();
    s.add("steps", report.steps);
    s.add("examples", prep.kept as u64);
    s.time("train", report.seconds);
    s
}

impl Ctx<'_> {
    fn stage(
        &mut self,
        phase: Phase,
        dir: &Path,
        name: &str,
        body: impl FnOnce() -> Result<StageStats>,
    ) -> Result<StageStats> {
        stage(self.summary, dir, name, body)?;
        let stats = self
            .summary
            .stages
            .last()
            .expect("stage recorded")
            .2
            .clone();
        let total = stats.seconds.get("total").copied().unwrap_or(0.0);
        *self.seconds.entry(phase.key()).or_default() += total;
        Ok(stats)
    }

    /// The phase seconds gathered since the last call, for a report row.
    fn take_seconds(&mut self) -> std::collections::BTreeMap<String, f64> {
        std::mem::take(&mut self.seconds)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }

    /// The model round 0 starts from: an HF directory, or a fresh initialisation
    /// with a tokenizer trained on the run's non-evaluation problems.
    fn base_model(&mut self, problems: &[Problem]) -> Result<PathBuf> {
        let m = self
            .cfg
            .model
            .clone()
            .context("key 'model': expert iteration needs a [model] section")?;
        match (&m.init, &m.path) {
            (Some(_), Some(_)) | (None, None) => {
                bail!("section [model]: set exactly one of 'init' (train from scratch) and 'path'")
            }
            (None, Some(path)) => return Ok(path.clone()),
            (Some(_), None) => {}
        }
        let init = m.init.clone().expect("checked above");
        let tok =
            self.cfg.tokenizer.clone().context(
                "key 'tokenizer': [model] init needs a [tokenizer] section to train one",
            )?;
        let tok_dir = self.run.stage_dir(0, "tokenizer");
        let tok_file = tok_dir.join("tokenizer.json");
        let eval_split = self.cfg.eval.as_ref().map(|e| e.split.clone());
        let texts_of: Vec<Problem> = problems
            .iter()
            .filter(|p| Some(&p.split) != eval_split.as_ref())
            .cloned()
            .collect();
        let tf = tok_file.clone();
        self.stage(Phase::Init, &tok_dir, "tokenizer", || {
            let texts = ouro_model::tokenizer::problem_texts(&texts_of);
            let t = ouro_model::tokenizer::train_bpe(texts.iter(), tok.vocab_size)?;
            ouro_model::tokenizer::save_tokenizer(&t, &tf)?;
            let mut s = StageStats::default();
            s.add("vocab_size", t.get_vocab_size(true) as u64);
            Ok(s)
        })?;
        let init_dir = self.run.stage_dir(0, "init");
        let model_dir = init_dir.join("model");
        let md = model_dir.clone();
        self.stage(Phase::Init, &init_dir, "init", || {
            let c = ouro_model::init::init_checkpoint(&init, &tok_file, m.seed, &md)?;
            let mut s = StageStats::default();
            s.add("parameters", c.num_parameters() as u64);
            Ok(s)
        })?;
        Ok(model_dir)
    }

    /// Round 0: SFT on the seed split's reference solutions.
    fn seed_round(&mut self, base: &Path) -> Result<PathBuf> {
        let Some(seed) = self.cfg.seed_sft.clone() else {
            return Ok(base.to_path_buf());
        };
        let rows = reference_rows(&self.splits.seed, self.completion_format());
        let rows = self.as_chat(base, rows)?;
        let data = self.write_train_data(0, "", rows)?;
        self.train(0, "", &seed.train, base, &data)
    }

    fn arm_dir(&self, round: u32, arm: &str, stage: &str) -> PathBuf {
        if arm.is_empty() {
            self.run.stage_dir(round, stage)
        } else {
            self.run
                .root()
                .join(arm.trim_end_matches('/'))
                .join(format!("round-{round:02}"))
                .join(stage)
        }
    }

    fn train(
        &mut self,
        round: u32,
        arm: &str,
        cfg: &SftConfig,
        start: &Path,
        data: &Path,
    ) -> Result<PathBuf> {
        let dir = self.arm_dir(round, arm, "train-sft");
        let dev = self.train_device()?;
        self.train_stage(dir, &format!("{arm}train-sft"), |d| {
            Ok(ouro_train::run::train_sft_on(cfg, start, data, d, &dev)?)
        })
    }

    /// Runs one trainer as a stage in `dir`; the trained model lands in `dir/model`.
    fn train_stage(
        &mut self,
        dir: PathBuf,
        name: &str,
        train: impl FnOnce(&Path) -> Result<Trained>,
    ) -> Result<PathBuf> {
        let d = dir.clone();
        self.stage(Phase::Train, &dir, name, || {
            let (report, prep) = train(&d)?;
            Ok(train_stats(&report, &prep))
        })?;
        Ok(dir.join("model"))
    }

    /// DPO from `start` (also the reference) on `pairs`, into `round-NN/train-dpo`.
    fn train_dpo(
        &mut self,
        round: u32,
        cfg: &ouro_train::config::DpoConfig,
        start: &Path,
        pairs: &Path,
    ) -> Result<PathBuf> {
        let dir = self.run.stage_dir(round, "train-dpo");
        let dev = self.train_device()?;
        self.train_stage(dir, "train-dpo", |d| {
            Ok(ouro_train::run::train_dpo_on(cfg, start, pairs, d, &dev)?)
        })
    }

    /// How many attempts each pool problem gets in `round`.
    fn budget(&self, round: u32, it: &IterateStage) -> Result<Vec<(usize, usize)>> {
        let mut pool: Vec<usize> = (0..self.splits.pool.len()).collect();
        if it.pool_problems > 0 && it.pool_problems < pool.len() {
            let seed = self.cfg.problems.seed;
            pool.sort_by_key(|&i| {
                derive_seed(&format!("{}#{round}", self.splits.pool[i].problem_id), seed)
            });
            pool.truncate(it.pool_problems);
            pool.sort_unstable();
        }
        let n = it.samples_per_problem;
        let (prev, prev_execs) = self.round_data(round - 1);
        if it.budget == BudgetKind::Uniform || round == 1 || !prev.exists() {
            return Ok(pool.into_iter().map(|i| (i, n)).collect());
        }
        let samples: Vec<Sample> = shard::read_dir(&prev)?;
        let execs: Vec<Execution> = shard::read_dir(prev_execs)?;
        let passes = per_problem_passes(&samples, &execs, PassRule::Filter);
        Ok(pool
            .into_iter()
            .map(|i| {
                let k = match passes.get(&self.splits.pool[i].problem_id) {
                    Some(&(a, c)) if a > 0 && c == a => (n / 2).max(1),
                    Some(&(a, 0)) if a > 0 => 2 * n,
                    _ => n,
                };
                (i, k)
            })
            .collect())
    }

    /// Rounds 1..: sample the pool, execute, build, train, evaluate.
    fn expert_round(
        &mut self,
        round: u32,
        it: &IterateStage,
        start: &Path,
        e: &EvalStage,
    ) -> Result<PathBuf> {
        let budget = self.budget(round, it)?;
        let pool = std::mem::take(&mut self.splits.pool);
        let plan: Vec<(&Problem, usize)> = budget.iter().map(|&(i, n)| (&pool[i], n)).collect();
        let dir = self.run.round_dir(round);
        let res = self.sample_and_execute(
            &dir,
            &plan,
            start,
            (round, 0),
            &format!("round {round}"),
            Draw::Pool {
                sampling: &it.sampling,
                audit: it.rank_tests == RankTests::Audit,
            },
        );
        res?;
        let res = self.resample(round, it, start, &budget, &pool);
        self.splits.pool = pool;
        let (samples_dir, executions_dir) = res?;

        let dataset = self.run.stage_dir(round, "dataset");
        // Nothing of the held-out evaluation (or a named benchmark) may be trained on.
        let (benchmarks, decontaminate) =
            crate::stages::decontamination(&self.cfg.decontaminate(), &self.splits.eval, &dir)?;
        let inputs = ouro_rank::build::BuildInputs {
            problems: self.problems_dir.clone(),
            samples: samples_dir.clone(),
            executions: executions_dir.clone(),
            more_samples: Vec::new(),
            more_executions: Vec::new(),
            eval_problems: None,
            benchmarks,
            ranking_executions: (it.rank_tests == RankTests::Audit).then(|| executions_dir.clone()),
            ranking_suite: ouro_data::Suite::Audit,
        };
        // Training data only from passes the sandbox cannot forge (bundled
        // problems compile fully; others fall back to in-process and are left out).
        // The model continues the prompt, so rows hold what follows it; whole
        // programs would teach it to write the signature a second time.
        let mut opts = ouro_rank::build::BuildOptions {
            require_isolated: it.require_isolated,
            completion_format: self.completion_format(),
            decontaminate,
            ranker: ouro_rank::rankers::Ranker::parse(&it.ranker).map_err(anyhow::Error::msg)?,
            ..Default::default()
        };
        opts.sft.budget = it.selection_budget();
        opts.sft.max_per_problem = it.keep_per_problem;
        if let Some(kinds) = &it.pair_kinds {
            opts.pairs.kinds = kinds.clone();
            opts.pairs.injected_error_requested =
                kinds.contains(&ouro_data::PairKind::InjectedError);
        }
        let datasets = it.datasets.clone();
        let ds = dataset.clone();
        let build_stats = self.stage(
            Phase::Build,
            &dataset,
            &format!("round {round} build"),
            move || crate::stages::build_datasets(&datasets, &inputs, &opts, &ds),
        )?;

        let accepted = self.accepted_rows(round)?;
        let audit = self.audit_rows(round, &audit::SFT_ROWS, &accepted, &samples_dir)?;
        let pairs = build_stats.counts.get("dpo_rows").copied().unwrap_or(0);
        let dpo_audit = if it.dpo.is_some() && pairs > 0 {
            let dpo_rows: Vec<ouro_data::DpoRecord> = self.dataset_rows(round, "dpo")?;
            Some(self.audit_rows(round, &audit::DPO_CHOSEN, &dpo_rows, &samples_dir)?)
        } else {
            None
        };
        self.edit_datasets(round, it, &accepted)?;

        // Seed + replayed earlier rounds + this round's selection.
        let seed = self.cfg.problems.seed;
        let mut rows = subsample(
            reference_rows(&self.splits.seed, self.completion_format()),
            it.seed_fraction,
            seed,
        );
        for earlier in 1..round {
            let prev = self.accepted_rows(earlier)?;
            rows.extend(subsample(
                prev,
                it.replay_fraction,
                seed ^ u64::from(earlier),
            ));
        }
        rows.extend(accepted);
        let rows = self.as_chat(start, rows)?;
        let data = self.write_train_data(round, "", rows)?;
        let mut model = self.train(round, "", &it.train, start, &data)?;
        if let Some(dpo) = &it.dpo {
            if pairs > 0 {
                model = self.train_dpo(round, dpo, &model, &dataset.join("dpo"))?;
            } else {
                eprintln!("round {round}: no DPO pairs this round; keeping the SFT model");
            }
        }

        let mut row = self.eval_round(round, &model, e, false)?;
        for (k, v) in &build_stats.counts {
            if let Some(kind) = k.strip_suffix("_rows") {
                row.data_counts.insert(kind.to_string(), *v);
            }
        }
        row.balance_score = sft_balance(&dataset)?;
        row.train_false_positive_rate = audit.rate;
        row.train_audited_rows = audit.audited;
        if let Some(a) = dpo_audit {
            row.dpo_chosen_false_positive_rate = a.rate;
            row.dpo_audited_pairs = a.audited;
        }
        row.seconds = self.take_seconds();
        RunReport::upsert(&mut self.report.rounds, row);
        self.report.write(self.run.root())?;
        Ok(model)
    }

    /// The control arm: the same schedule on seed data alone.
    fn control_round(
        &mut self,
        round: u32,
        it: &IterateStage,
        start: &Path,
        e: &EvalStage,
    ) -> Result<PathBuf> {
        let rows = subsample(
            reference_rows(&self.splits.seed, self.completion_format()),
            it.seed_fraction,
            self.cfg.problems.seed,
        );
        let rows = self.as_chat(start, rows)?;
        let data = self.write_train_data(round, "control/", rows)?;
        let model = self.train(round, "control/", &it.train, start, &data)?;
        let mut row = self.eval_round(round, &model, e, true)?;
        row.seconds = self.take_seconds();
        RunReport::upsert(&mut self.report.control, row);
        self.report.write(self.run.root())?;
        Ok(model)
    }
}
