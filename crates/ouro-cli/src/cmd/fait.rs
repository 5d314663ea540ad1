//! `ouro fait`: FAIT weight spans (argument parsing only; the logic lives in
//! `ouro_edits::fait`).

use std::path::PathBuf;

use anyhow::Context;
use ouro_edits::fait::{run as run_fait, FaitOptions};

/// Mark where passing samples differ from their nearest failing sample.
///
/// For each passing sample, the most similar failing sample of the same
/// problem (normalised token edit distance <= --max-distance) is diffed at
/// line and token level; the differing characters get weight spans. Output:
/// `<out>/sft` (passing samples with `weight_spans`), `<out>/dpo` (pairs with
/// `chosen_spans`/`rejected_spans`) and `<out>/fait_report.json`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:
  ouro fait --executions run/round-01/executions --samples run/round-01/samples \\
      --problems run/problems --out run/round-01/fait --max-distance 0.4")]
pub struct Args {
    /// Executions shard directory (filter-suite verdicts).
    #[arg(long)]
    pub executions: PathBuf,
    /// Samples shard directory.
    #[arg(long)]
    pub samples: PathBuf,
    /// Problems shard directory (prompts).
    #[arg(long)]
    pub problems: PathBuf,
    /// Output dataset directory, FAIT's own: its configs are named sft and dpo, so the
    /// dataset of an `ouro build` is refused rather than replaced.
    #[arg(long, value_parser = super::out_dir)]
    pub out: PathBuf,
    /// Largest normalised token edit distance for a contrast pair, in (0, 1] (0 would
    /// pair identical programs only, which pass and fail alike).
    #[arg(long, default_value_t = 0.5, value_parser = super::positive_share)]
    pub max_distance: f64,
    /// Weight of changed tokens in the passing completion.
    #[arg(long, default_value_t = 2.0, value_parser = super::weight)]
    pub token_weight: f32,
    /// Weight of the rest of changed lines in the passing completion.
    #[arg(long, default_value_t = 1.5, value_parser = super::weight)]
    pub line_weight: f32,
    /// Weight of changed tokens in the failing completion.
    #[arg(long, default_value_t = 2.0, value_parser = super::weight)]
    pub rejected_token_weight: f32,
    /// Weight of the rest of changed lines in the failing completion.
    #[arg(long, default_value_t = 1.5, value_parser = super::weight)]
    pub rejected_line_weight: f32,
    #[command(flatten)]
    pub benchmarks: super::Benchmarks,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let options = FaitOptions {
        max_distance: args.max_distance,
        token_weight: args.token_weight,
        line_weight: args.line_weight,
        rejected_token_weight: args.rejected_token_weight,
        rejected_line_weight: args.rejected_line_weight,
        progress: super::progress_bars(),
        exclude: args.benchmarks.exclusion()?,
    };
    let stats = run_fait(
        &args.executions,
        &args.samples,
        &args.problems,
        &args.out,
        &options,
    )
    .with_context(|| format!("fait -> {}", args.out.display()))?;
    // The summary is the result, on stdout; -q hides it as it hides every summary.
    if !ouro_pipeline::status::quiet() {
        println!(
            "fait: {} passing samples, {} pairs (mean distance {:.3}), {} without contrast, {} completions without locatable code, {} samples left out as holding benchmark text",
            stats.passing_samples, stats.pairs, stats.mean_distance, stats.no_contrast, stats.code_not_in_completion, stats.decontaminated_samples
        );
    }
    Ok(())
}
