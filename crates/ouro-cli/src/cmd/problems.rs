//! `ouro problems`: the bundled, procedurally generated problem family.

use std::path::PathBuf;

use anyhow::Context;

/// Generate the bundled problem family (deterministic, offline).
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  ouro problems generate --count 2000 --seed 0 --out data/problems"
)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Write N generated Python function problems as Parquet shards.
    ///
    /// The same --count/--seed always produce byte-identical problems, and a
    /// smaller count is a prefix of a larger one. Splits: train, test, and
    /// heldout (a structural gap; see the ouro-problems crate docs).
    #[command(
        after_help = "Examples:\n  ouro problems generate --count 2000 --seed 0 --out data/problems\n  ouro problems generate --count 500 --families compose --jsonl problems.jsonl --out run/problems"
    )]
    Generate(GenerateArgs),
}

#[derive(clap::Args, Debug)]
pub struct GenerateArgs {
    /// Number of distinct problems to generate (at least 1).
    #[arg(long, default_value_t = 2000, value_parser = super::at_least_one)]
    pub count: usize,
    /// Seed of the generator.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output directory for `part-*.parquet` shards.
    #[arg(long, value_parser = super::out_dir)]
    pub out: PathBuf,
    /// Only these families, comma-separated (compose, strings, dicts,
    /// recursion, tuples, indexing, formatting, math, sets, logic), with
    /// equal weights. Default: all, weighted towards compose.
    #[arg(long, value_delimiter = ',')]
    pub families: Vec<String>,
    /// Random filter tests per problem.
    #[arg(long, default_value_t = 4, value_parser = super::at_least_one)]
    pub filter_tests: usize,
    /// Add a filter test for every near-miss mutant the random ones let through
    /// (strong training tests; the audit suite stays an independent check).
    #[arg(long)]
    pub targeted_filter: bool,
    /// Percent of non-heldout problems placed in the `test` split.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub test_percent: u32,
    /// Also write the problems as JSON lines to this file.
    #[arg(long)]
    pub jsonl: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Generate(a) => generate(a),
    }
}

fn generate(a: GenerateArgs) -> anyhow::Result<()> {
    ouro_data::shard::check_output_dir::<ouro_data::Problem>(&a.out)?;
    let mut options = ouro_problems::GenerateOptions {
        count: a.count,
        seed: a.seed,
        filter_tests: a.filter_tests,
        targeted_filter: a.targeted_filter,
        test_percent: a.test_percent,
        ..Default::default()
    };
    if !a.families.is_empty() {
        options.families = a
            .families
            .iter()
            .map(|f| f.parse::<ouro_problems::Family>().map(|f| (f, 1)))
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow::anyhow!("--families: {e}"))?;
    }
    let problems = ouro_problems::generate(&options)?;
    // The side file first: a bad --jsonl path then fails before the shards are written.
    if let Some(path) = &a.jsonl {
        ouro_problems::write_jsonl(path, &problems)
            .with_context(|| format!("--jsonl {}", path.display()))?;
    }
    let shards = ouro_problems::write(&a.out, &problems)?;
    let summary = ouro_problems::summarize(&problems);
    tracing::info!(
        count = problems.len(),
        shards = shards.len(),
        out = %a.out.display(),
        "generated problems"
    );
    println!("{summary}");
    Ok(())
}
