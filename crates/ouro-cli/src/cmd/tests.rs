//! `ouro tests`: inspect how problems' tests are judged.

use std::path::PathBuf;

use anyhow::Context;

/// Work with problems' test suites.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    Compile(CompileArgs),
}

/// Compile every problem's assert tests (the filter suite, which labels come
/// from; `ouro execute` compiles the audit suite the same way) for isolated judging
/// (the expected values stay in the trusted parent; the sandbox only returns plain
/// values) and print the share of asserts and of problems judged in isolation.
/// Tests that cannot be compiled are judged inside the sample's interpreter.
/// Stdin/stdout problems are counted apart: the parent compares their output.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  ouro tests compile --problems run/problems")]
pub struct CompileArgs {
    /// Directory (or single file) of problem shards.
    #[arg(long)]
    pub problems: PathBuf,
    /// Number of sandbox slots running the spy passes (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// Python interpreter.
    #[arg(long, default_value = "python3")]
    pub python: PathBuf,
    /// List every problem that is not fully isolated, with the reason
    /// (by default the first 10).
    #[arg(long)]
    pub all: bool,
    /// Print the report as one JSON object (`schema_version`, `command`, the counts;
    /// `io_problems` counts the stdin/stdout problems, which
    /// the other counts leave out).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Compile(a) => compile(a),
    }
}

fn compile(args: CompileArgs) -> anyhow::Result<()> {
    let opts = ouro_exec::ExecOptions {
        workers: args.workers,
        python: args.python,
        ..Default::default()
    };
    let r = ouro_exec::compile_report(&args.problems, &opts)
        .with_context(|| format!("compiling tests of {}", args.problems.display()))?;
    if args.json {
        super::print_json("tests compile", serde_json::to_value(&r)?);
        return Ok(());
    }
    let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
    if r.io_problems > 0 {
        println!(
            "stdin/stdout problems:        {} (outputs compared in the trusted parent: nothing to compile)",
            r.io_problems
        );
    }
    println!(
        "problems judged in isolation: {}/{} ({:.1}%), mixed: {}",
        r.problems_isolated,
        r.problems,
        pct(r.problems_isolated, r.problems),
        r.problems_mixed
    );
    println!(
        "asserts judged in isolation:  {}/{} ({:.1}%)",
        r.asserts_isolated,
        r.asserts,
        pct(r.asserts_isolated, r.asserts)
    );
    println!(
        "tests judged in isolation:    {}/{} ({:.1}%), {} calls",
        r.tests_isolated,
        r.tests,
        pct(r.tests_isolated, r.tests),
        r.cases
    );
    let shown = if args.all { r.not_isolated.len() } else { 10 };
    for (id, why) in r.not_isolated.iter().take(shown) {
        println!("  {id}: {why}");
    }
    if r.not_isolated.len() > shown {
        println!(
            "  ... {} more (--all lists them)",
            r.not_isolated.len() - shown
        );
    }
    Ok(())
}
