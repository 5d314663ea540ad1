//! `ouro lintseq`: LintSeq edit sequences (argument parsing only; the logic
//! lives in `ouro_edits::lintseq`).

use std::path::PathBuf;

use anyhow::Context;
use ouro_edits::input::{InputKind, JsonlFields};
use ouro_edits::lintseq::{run as run_lintseq, LintseqOptions};

/// What the input holds.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Problem shards; programs are `reference_solution`.
    Problems,
    /// Sample shards; programs are `code`.
    Samples,
    /// SFT shards (`ouro build sft`); programs are `completion`, instructions `prompt`.
    Sft,
    /// A JSON Lines file (see --program-fields).
    Jsonl,
}

/// Turn programs into LintSeq edit sequences: linter-clean insertion diffs.
///
/// Each program gets K sampled sequences (deduplicated), each verified by
/// replay. Output: `<out>/lintseq/train-*.parquet` (prompt = instruction,
/// completion = `<|diff|>`-joined diffs) and `<out>/lintseq_report.json`,
/// which lists every skipped program with the reason.
///
/// The input is problems (reference solutions), samples (with `--executions`, only
/// those that pass), an SFT set from `ouro build sft` (the paper's setting: an
/// instruction and a program that solves it) or a JSONL file, plain or gzipped.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  ouro lintseq --input run/problems --out run/lintseq --sequences-per-program 5 --seed 1
  ouro lintseq --input run/round-01/samples --problems run/problems \\
      --executions run/round-01/executions --out run/lintseq
  ouro lintseq --input runs/build-sft --out runs/lintseq      # what `ouro build sft` wrote
  ouro lintseq --input HumanEval.jsonl --program-fields prompt,canonical_solution \\
      --id-field task_id --builtin-benchmarks none --out /tmp/he-lintseq
      # HumanEval itself: without `none`, decontamination leaves out every row")]
pub struct Args {
    /// Problems, samples or SFT shards (a directory of shards, or a dataset directory
    /// with one config, as `ouro build` writes it), or a JSONL file (`.gz` is read
    /// transparently).
    #[arg(long)]
    pub input: PathBuf,
    /// Output dataset directory.
    #[arg(long, value_parser = super::out_dir)]
    pub out: PathBuf,
    /// Sequences sampled per program (duplicates are dropped), at most 1000.
    #[arg(long, short = 'k', default_value_t = 5, value_parser = super::count_up_to(1000))]
    pub sequences_per_program: usize,
    /// Global seed; per-sequence seeds derive from it and the program's content id.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Input kind; detected from the shard columns (or a file) when omitted.
    #[arg(long, value_enum)]
    pub kind: Option<Kind>,
    /// Problems directory whose prompts become instructions for samples input.
    #[arg(long)]
    pub problems: Option<PathBuf>,
    /// Executions of samples input: only samples whose filter suite passed are kept
    /// (without it every sample with code is, failing ones included).
    #[arg(long)]
    pub executions: Option<PathBuf>,
    /// JSONL: comma-separated fields concatenated into the program.
    #[arg(long, default_value = "code", value_delimiter = ',')]
    pub program_fields: Vec<String>,
    /// JSONL: field used as the instruction.
    #[arg(long)]
    pub instruction_field: Option<String>,
    /// JSONL: field used as the problem id.
    #[arg(long)]
    pub id_field: Option<String>,
    /// Programs with more lines than this are skipped and reported.
    #[arg(long, default_value_t = 10_000)]
    pub max_lines: usize,
    /// Rayon worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Intermediate states may not read a local before binding it (no
    /// `total += x` once `total = 0` is deleted). The default follows the
    /// reference LintSeq (pylint's rules), which accepts such states.
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub benchmarks: super::Benchmarks,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let options = LintseqOptions {
        sequences_per_program: args.sequences_per_program,
        seed: args.seed,
        kind: args.kind.map(|k| match k {
            Kind::Problems => InputKind::Problems,
            Kind::Samples => InputKind::Samples,
            Kind::Sft => InputKind::Sft,
            Kind::Jsonl => InputKind::Jsonl,
        }),
        problems: args.problems,
        executions: args.executions,
        jsonl: JsonlFields {
            program: args.program_fields,
            instruction: args.instruction_field,
            id: args.id_field,
        },
        max_lines: args.max_lines,
        progress: super::progress_bars(),
        threads: args.threads,
        strict: args.strict,
        exclude: args.benchmarks.exclusion()?,
    };
    let stats = run_lintseq(&args.input, &args.out, &options)
        .with_context(|| format!("lintseq {} -> {}", args.input.display(), args.out.display()))?;
    // A few examples; the report lists them all.
    const SHOWN: usize = 5;
    for bad in stats.bad.iter().take(SHOWN) {
        say!("skipped {}: {}", bad.id, bad.reason);
    }
    if stats.bad.len() > SHOWN {
        say!(
            "... and {} more skipped (every one in {})",
            stats.bad.len() - SHOWN,
            args.out.join("lintseq_report.json").display()
        );
    }
    let not_passing = if options.executions.is_some() {
        format!(", {} samples left out as not passing", stats.not_passing)
    } else {
        String::new()
    };
    // The summary is the result, on stdout; -q hides it as it hides every summary.
    if !ouro_pipeline::status::quiet() {
        println!(
            "lintseq: {} programs -> {} sequences ({} duplicates dropped, {} skipped{not_passing}, {} left out as holding benchmark text, {} replay failures) in {:.2}s ({:.0} sequences/s); {:.2} edits/sequence, {:.2} diff lines/edit",
            stats.programs,
            stats.sequences,
            stats.duplicates,
            stats.bad.len(),
            stats.decontaminated,
            stats.replay_failures,
            stats.seconds,
            stats.sequences_per_second,
            stats.mean_edits_per_sequence,
            stats.mean_diff_lines_per_edit
        );
    }
    Ok(())
}
