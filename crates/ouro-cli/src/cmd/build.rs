//! `ouro build`: turn executed samples into datasets (argument parsing only;
//! the logic lives in `ouro_rank::build`).

use std::path::PathBuf;

use anyhow::Context;
use clap::ValueEnum;
use ouro_data::PairKind;
use ouro_rank::build::{
    build_dpo, build_generated_tests, build_mutants, build_repair, build_sft, BuildInputs,
    BuildOptions, BuildReport,
};
use ouro_rank::pairs::{CompletionFormat, NegativeChoice};
use ouro_rank::rankers::{PageRankOptions, Ranker};
use ouro_rank::sft::Budget;

/// A clap value parser that keeps the text but checks it with `parse` first, so a bad
/// value is a usage error (exit 2) like every other bad flag value.
fn checked<T: 'static>(
    parse: fn(&str) -> Result<T, String>,
) -> impl Fn(&str) -> Result<String, String> + Clone + Send + Sync + 'static {
    move |s| parse(s).map(|_| s.to_string())
}

/// Which dataset config to build.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Prompt/completion rows from passing samples (rejection sampling + DART budget).
    Sft,
    /// Prompt/chosen/rejected preference pairs.
    Dpo,
    /// Repair conversations: prompt, failing code, feedback, fix.
    Repair,
    /// Injected-error mutant samples to execute before `build dpo` (written to --out as samples).
    Mutants,
    /// CodeT: problems whose filter suite is the model-generated tests in --samples (written to --out).
    GeneratedTests,
}

/// Build SFT rows, DPO pairs or repair records from problems, samples and their executions.
///
/// Output is a Hugging Face dataset directory: `<out>/<config>/train-*.parquet`,
/// `<out>/<config>/_build_report.json` and a `README.md` card listing every config built there.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  ouro build sft --problems run/problems --samples run/round-01/samples \\
      --executions run/round-01/executions --out run/round-01/data --budget prop2diff:4
  ouro build dpo --problems P --samples S --executions E --out D --ranker codet --negative hardest
  ouro build mutants --problems P --samples S --executions E --out run/round-01/mutants
  # then execute the mutants and give both to `build dpo`:
  ouro build dpo --problems P --samples S --samples M --executions E --executions EM --out D")]
pub struct Args {
    /// What to build.
    #[arg(value_enum)]
    pub target: Target,
    /// Problems: a shard directory or one shard.
    #[arg(long)]
    pub problems: PathBuf,
    /// Samples: a shard directory or one shard; repeat it (and --executions) to add more,
    /// such as executed mutants beside the model's samples.
    #[arg(long, required = true, action = clap::ArgAction::Append)]
    pub samples: Vec<PathBuf>,
    /// Executions of the samples: a shard directory or one shard, repeatable (not used by
    /// `generated-tests`).
    #[arg(long, action = clap::ArgAction::Append)]
    pub executions: Vec<PathBuf>,
    /// Executions the ranker scores instead of the filter suite's (labels stay the filter
    /// suite's): model-generated tests (see `generated-tests`), or `--executions` itself with
    /// `--ranking-suite audit`.
    #[arg(long)]
    pub ranking_executions: Option<PathBuf>,
    /// The suite of --ranking-executions the ranker scores.
    #[arg(long, value_parser = ["filter", "audit"], default_value = "filter", requires = "ranking_executions")]
    pub ranking_suite: String,
    /// generated-tests: tests kept per test sample.
    #[arg(long, default_value_t = 5, value_parser = super::at_least_one)]
    pub tests_per_sample: usize,
    /// generated-tests: tests kept per problem.
    #[arg(long, default_value_t = 50)]
    pub max_tests: usize,
    /// generated-tests: Python used for the `compile()` check of generated tests.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// Output dataset directory (for `mutants`: the sample shard directory).
    #[arg(long, value_parser = super::out_dir)]
    pub out: PathBuf,
    /// Evaluation problems to decontaminate against (a problem shard directory or file).
    #[arg(long)]
    pub eval_problems: Option<PathBuf>,
    /// More benchmark problems to decontaminate against (problem shards; repeatable).
    #[arg(long = "benchmark", value_name = "PATH")]
    pub benchmarks: Vec<PathBuf>,
    /// Built-in benchmarks to decontaminate against, comma-separated, or `none`.
    #[arg(long, default_value = "humaneval")]
    pub builtin_benchmarks: String,
    /// Decontamination rule: `substring` (bigcode: case-insensitive, whitespace-normalised
    /// substrings of benchmark docstrings and solutions) or `ngram` (shared token n-grams).
    #[arg(long, default_value = "substring")]
    pub decontaminate: String,
    /// Ranker: pass_rate, codet, pagerank, b4 or b4:<beta0> (a positive number; the B4
    /// paper uses 1e4, 1e5 and 1e6).
    #[arg(long, default_value = "pass_rate", value_parser = checked(Ranker::parse))]
    pub ranker: String,
    /// PageRank damping d.
    #[arg(long, default_value_t = 0.85, value_parser = super::unit_interval)]
    pub pagerank_damping: f64,
    /// PageRank iteration cap (a problem that reaches it is counted and warned about).
    #[arg(long, default_value_t = 10_000)]
    pub pagerank_iterations: u32,
    /// PageRank tolerance (max-norm change between iterates).
    #[arg(long, default_value_t = 1e-9, value_parser = super::non_negative)]
    pub pagerank_tolerance: f64,
    /// Completions as the whole program (code), inside a ```python fence (fenced), or as
    /// what follows the prompt (continuation: for base models that continue a signature;
    /// programs that do not start with the prompt are left out, counted in the report;
    /// repair rows and repair pairs keep the whole program, since their prompt ends in a
    /// request to fix one).
    #[arg(long, value_parser = ["code", "fenced", "continuation"], default_value = "code")]
    pub completion_format: String,
    /// SFT budget: uniform:K or prop2diff:K.
    #[arg(long, default_value = "uniform:4", value_parser = checked(Budget::parse))]
    pub budget: String,
    /// SFT rows per problem at most.
    #[arg(long, default_value_t = 8, value_parser = super::at_least_one)]
    pub max_per_problem: usize,
    /// Minimum fraction of reference solutions among SFT rows, in [0, 1).
    #[arg(long, default_value_t = 0.0)]
    pub reference_fraction: f64,
    /// Pair kinds, comma separated: correctness,efficiency,injected_error,repair
    /// [default: all four; injected_error pairs need executed mutants (`ouro build mutants`),
    /// and only a list naming it warns when there are none].
    #[arg(long)]
    pub pair_kinds: Option<String>,
    /// Pairs per problem and kind at most.
    #[arg(long, default_value_t = 4)]
    pub max_pairs_per_problem: usize,
    /// Correctness pairs: drop a pair unless chosen outscores rejected by this much (0: off).
    /// Labels come from the trusted tests; by default scores only order samples within a label.
    #[arg(long, default_value_t = 0.0, value_parser = super::non_negative)]
    pub min_score_margin: f64,
    /// Correctness pairs: drop a pair whose ranker scores tie (off by default).
    #[arg(long)]
    pub drop_ties: bool,
    /// Rejected side of correctness pairs: hardest (most similar) or random.
    #[arg(long, value_parser = ["hardest", "random"], default_value = "hardest")]
    pub negative: String,
    /// Efficiency pairs compare `lines` (Python lines the solution executed
    /// during its tests: the same on every run, so the dataset is too) or
    /// `cpu_time` (median CPU ms: changes with machine load).
    #[arg(long, value_parser = ["lines", "cpu_time"], default_value = "lines")]
    pub efficiency_measure: String,
    /// Efficiency pairs: the costlier side costs at least (1 + margin) times the cheaper.
    #[arg(long, default_value_t = 0.2, value_parser = super::non_negative)]
    pub efficiency_margin: f64,
    /// Efficiency pairs by lines: the costlier side executes at least this many more lines.
    #[arg(long, default_value_t = 10)]
    pub min_lines_gap: u64,
    /// Efficiency pairs by CPU time: both sides need at least this many timing runs.
    #[arg(long, default_value_t = 1)]
    pub min_timing_runs: usize,
    /// Mutants tried per passing solution.
    #[arg(long, default_value_t = 6)]
    pub mutants_per_solution: usize,
    /// Repair records per problem at most.
    #[arg(long, default_value_t = 4)]
    pub max_repairs_per_problem: usize,
    /// Repair records: the fix must be at least this similar (token Jaccard) to the
    /// failing program, so an unrelated passing program is not taught as its fix.
    #[arg(long, default_value_t = ouro_rank::repair::DEFAULT_MIN_SIMILARITY)]
    pub min_similarity: f64,
    /// Disable MinHash near-dedup (exact dedup stays on).
    #[arg(long)]
    pub no_near_dedup: bool,
    /// MinHash similarity threshold.
    #[arg(long, default_value_t = 0.7, value_parser = super::unit_interval)]
    pub near_dedup_threshold: f64,
    /// n of the `ngram` decontamination rule.
    #[arg(long, default_value_t = 10, value_parser = super::at_least_one)]
    pub decontam_ngram: usize,
    /// Dedup scope: `problem` (the same program under two problems is two rows) or `global`.
    #[arg(long, default_value = "problem")]
    pub dedup_scope: String,
    /// Seed for random choices (the order negatives are tried in, which mutants are
    /// drawn). Near-dedup's MinHash keeps its own fixed seed, so that `ouro build` and
    /// `ouro run` remove the same near duplicates.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

fn options(a: &Args) -> anyhow::Result<BuildOptions> {
    let ranker = match Ranker::parse(&a.ranker).map_err(anyhow::Error::msg)? {
        Ranker::PageRank(_) => Ranker::PageRank(PageRankOptions {
            damping: a.pagerank_damping,
            max_iterations: a.pagerank_iterations,
            tolerance: a.pagerank_tolerance,
        }),
        r => r,
    };
    let mut o = BuildOptions {
        ranker,
        ..BuildOptions::default()
    };
    o.completion_format = match a.completion_format.as_str() {
        "fenced" => CompletionFormat::Fenced,
        "continuation" => CompletionFormat::Continuation,
        _ => CompletionFormat::Code,
    };
    o.sft.budget = Budget::parse(&a.budget).map_err(anyhow::Error::msg)?;
    o.sft.max_per_problem = a.max_per_problem;
    anyhow::ensure!(
        (0.0..1.0).contains(&a.reference_fraction),
        "--reference-fraction must be in [0, 1)"
    );
    o.sft.reference_fraction = a.reference_fraction;
    if let Some(kinds) = &a.pair_kinds {
        o.pairs.kinds = kinds
            .split(',')
            .map(|k| match k.trim() {
                "correctness" => Ok(PairKind::Correctness),
                "efficiency" => Ok(PairKind::Efficiency),
                "injected_error" => Ok(PairKind::InjectedError),
                "repair" => Ok(PairKind::Repair),
                other => anyhow::bail!("--pair-kinds: unknown pair kind '{other}' (correctness, efficiency, injected_error, repair)"),
            })
            .collect::<anyhow::Result<_>>()?;
        o.pairs.injected_error_requested = o.pairs.kinds.contains(&PairKind::InjectedError);
    }
    o.pairs.max_pairs_per_problem = a.max_pairs_per_problem;
    o.pairs.min_score_margin = a.min_score_margin;
    o.pairs.drop_ties = a.drop_ties;
    o.pairs.negative = if a.negative == "random" {
        NegativeChoice::Random
    } else {
        NegativeChoice::Hardest
    };
    o.pairs.efficiency_measure = a
        .efficiency_measure
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--efficiency-measure: {e}"))?;
    o.pairs.efficiency_margin = a.efficiency_margin;
    o.pairs.min_lines_gap = a.min_lines_gap;
    o.pairs.min_timing_runs = a.min_timing_runs;
    o.pairs.mutants_per_solution = a.mutants_per_solution;
    o.pairs.seed = a.seed;
    o.repair.max_per_problem = a.max_repairs_per_problem;
    anyhow::ensure!(
        (0.0..=1.0).contains(&a.min_similarity),
        "--min-similarity must be in [0, 1], got {}",
        a.min_similarity
    );
    o.repair.min_similarity = a.min_similarity;
    o.dedup.near = !a.no_near_dedup;
    o.dedup.threshold = a.near_dedup_threshold;
    o.dedup.scope = a
        .dedup_scope
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--dedup-scope: {e}"))?;
    o.decontaminate.rule = a
        .decontaminate
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--decontaminate: {e}"))?;
    o.decontaminate.ngram = a.decontam_ngram;
    o.decontaminate.builtin = super::builtin_benchmarks(&a.builtin_benchmarks);
    o.decontaminate
        .check()
        .map_err(|e| anyhow::anyhow!("--builtin-benchmarks: {e}"))?;
    Ok(o)
}

fn print_report(r: &BuildReport, out: &std::path::Path) {
    println!(
        "{}: {} rows in {} ({:.2} s)",
        r.config,
        r.rows,
        out.join(&r.config).display(),
        r.seconds
    );
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let o = options(&args)?;
    if args.target == Target::GeneratedTests {
        let [samples] = &args.samples[..] else {
            anyhow::bail!("--samples: generated-tests reads one samples directory");
        };
        let r = build_generated_tests(
            &args.problems,
            samples,
            &args.out,
            args.tests_per_sample,
            args.max_tests,
            Some(&args.python),
        )
        .context("ouro build generated-tests")?;
        println!(
            "generated-tests: {} tests for {} problems ({} without tests, {} pieces rejected by compile()) in {}",
            r.tests, r.problems_with_tests, r.problems_without_tests, r.rejected_by_compile, args.out.display()
        );
        return Ok(());
    }
    let Some((executions, more_executions)) = args.executions.split_first() else {
        anyhow::bail!("--executions is required for this target");
    };
    let (samples, more_samples) = args.samples.split_first().expect("clap requires --samples");
    let inputs = BuildInputs {
        problems: args.problems.clone(),
        samples: samples.clone(),
        executions: executions.clone(),
        more_samples: more_samples.to_vec(),
        more_executions: more_executions.to_vec(),
        eval_problems: args.eval_problems.clone(),
        benchmarks: args.benchmarks.clone(),
        ranking_executions: args.ranking_executions.clone(),
        ranking_suite: match args.ranking_suite.as_str() {
            "audit" => ouro_data::Suite::Audit,
            _ => ouro_data::Suite::Filter,
        },
    };
    let out = &args.out;
    let report = match args.target {
        Target::Sft => build_sft(&inputs, &o, out),
        Target::Dpo => build_dpo(&inputs, &o, out),
        Target::Repair => build_repair(&inputs, &o, out),
        Target::GeneratedTests => unreachable!("handled above"),
        Target::Mutants => {
            let n = build_mutants(&inputs, &o, out).context("building mutant samples")?;
            println!("mutants: {n} samples in {}", out.display());
            return Ok(());
        }
    }
    .with_context(|| {
        let name = args
            .target
            .to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default();
        format!("ouro build {name}")
    })?;
    print_report(&report, out);
    Ok(())
}
