//! The build stage's inputs, knobs and report: plain data that the stage
//! (`build`) fills and the dataset card (`card`) reads, so the card needs
//! nothing of the stage itself.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::decontam::DecontamOptions;
use crate::dedup::DedupOptions;
use crate::pairs::PairOptions;
use crate::rankers::Ranker;
use crate::render::CompletionFormat;
use crate::repair::RepairOptions;
use crate::sft::SftOptions;

/// Where the inputs are: each a shard directory or a single shard.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuildInputs {
    pub problems: PathBuf,
    pub samples: PathBuf,
    pub executions: PathBuf,
    /// More samples and their executions read with `samples` and `executions` (executed
    /// injected-error mutants beside the model's samples, say).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_samples: Vec<PathBuf>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_executions: Vec<PathBuf>,
    /// Evaluation problems to decontaminate against (their docstrings, task
    /// statements and reference solutions; see `decontam`).
    pub eval_problems: Option<PathBuf>,
    /// More benchmark problem shards (directories or files) to decontaminate against.
    #[serde(default)]
    pub benchmarks: Vec<PathBuf>,
    /// Executions of the samples against model-generated tests (see
    /// `build::build_generated_tests`) or against a held-back suite; when
    /// given, the ranker scores that matrix (its `ranking_suite` rows).
    /// Pass/fail labels always come from the filter suite.
    #[serde(default)]
    pub ranking_executions: Option<PathBuf>,
    /// Which suite of `ranking_executions` the ranker scores: `filter` (generated
    /// tests become a problem's filter suite) or `audit` (a family's held-back tests).
    #[serde(default = "filter_suite")]
    pub ranking_suite: ouro_data::Suite,
}

impl BuildInputs {
    /// Every shard directory the build reads, with what it is (for errors).
    pub fn named_paths(&self) -> Vec<(&std::path::Path, &'static str)> {
        let mut paths = vec![
            (self.problems.as_path(), "problems"),
            (self.samples.as_path(), "samples"),
            (self.executions.as_path(), "executions"),
        ];
        paths.extend(self.more_samples.iter().map(|p| (p.as_path(), "samples")));
        paths.extend(
            self.more_executions
                .iter()
                .map(|p| (p.as_path(), "executions")),
        );
        paths.extend(
            self.eval_problems
                .iter()
                .map(|p| (p.as_path(), "evaluation problems")),
        );
        paths.extend(self.benchmarks.iter().map(|p| (p.as_path(), "benchmark")));
        paths.extend(
            self.ranking_executions
                .iter()
                .map(|p| (p.as_path(), "ranking executions")),
        );
        paths
    }
}

fn filter_suite() -> ouro_data::Suite {
    ouro_data::Suite::Filter
}

/// All knobs of the build stage.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuildOptions {
    pub ranker: Ranker,
    pub dedup: DedupOptions,
    /// Decontamination rule and built-in benchmarks.
    #[serde(default)]
    pub decontaminate: DecontamOptions,
    pub completion_format: CompletionFormat,
    pub sft: SftOptions,
    pub pairs: PairOptions,
    pub repair: RepairOptions,
    /// k values of the reported pass@k.
    pub pass_k: Vec<usize>,
    /// Rows per output shard.
    pub rows_per_shard: usize,
    /// Use only problems whose filter-suite passes were all judged in
    /// isolation (expected values never inside the sample's interpreter);
    /// problems with a pass judged in process are left out of the data.
    #[serde(default)]
    pub require_isolated: bool,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            ranker: Ranker::default(),
            dedup: DedupOptions::default(),
            decontaminate: DecontamOptions::default(),
            completion_format: CompletionFormat::default(),
            sft: SftOptions::default(),
            pairs: PairOptions::default(),
            repair: RepairOptions::default(),
            pass_k: vec![1, 5, 10],
            rows_per_shard: 100_000,
            require_isolated: false,
        }
    }
}

/// Summary statistics of the per-problem pass rate.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PassRateStats {
    pub problems: usize,
    pub mean: f64,
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

/// Round metrics of the pool.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RoundMetrics {
    /// `(k, mean pass@k, problems counted)`.
    pub pass_at_k: Vec<(usize, Option<f64>, usize)>,
    pub pass_rate: PassRateStats,
    pub false_positive_rate: Option<f64>,
    pub bstar_balance: Option<f64>,
}

/// What one build did: the counts that go into the report and the card.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuildReport {
    /// `sft`, `dpo` or `repair`.
    pub config: String,
    pub rows: usize,
    pub files: Vec<String>,
    pub pool: serde_json::Value,
    pub selection: serde_json::Value,
    pub metrics: RoundMetrics,
    pub warnings: Vec<String>,
    pub inputs: BuildInputs,
    pub options: BuildOptions,
    pub versions: serde_json::Value,
    pub seconds: f64,
}
