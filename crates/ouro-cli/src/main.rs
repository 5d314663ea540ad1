//! `ouro`: turn a code model's own attempts into training data and a better model.
//!
//! This binary only parses arguments and calls library functions; every
//! command lives in `cmd/`. Exit codes: 0 ok, 1 error, 2 usage.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
mod interrupt;

const EXAMPLES: &str = "\
Examples:
  ouro run pipelines/quickstart.toml                 run the offline quickstart
  ouro problems generate --count 2000 --seed 0 --out runs/problems
  ouro import problems --format humaneval HumanEval.jsonl.gz --out runs/he
  ouro import generations --format openai-batch batch_output.jsonl --problems runs/he --out runs/samples
  ouro stats runs/samples

Run `ouro <command> --help` for the options and an example of each command.";

#[derive(Parser, Debug)]
#[command(
    name = "ouro",
    version,
    about = "Turn a code model's own attempts into better training data and a better model",
    long_about = "ouro is a staged, resumable pipeline: sample solutions, execute them in a sandbox, \
rank them and build SFT / DPO / LintSeq / repair datasets as Hugging Face Parquet shards, \
train with SFT and DPO, and iterate.",
    after_help = EXAMPLES
)]
struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Only errors and warnings: no progress bars, stage lines or summaries.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// No progress bars or periodic progress lines; logs and summaries stay
    /// (-q also hides those).
    #[arg(long, global = true)]
    no_progress: bool,
    #[command(subcommand)]
    command: Command,
}

// `about` and not a doc comment on each variant: a variant's doc comment also sets the long
// help, hiding the long description each command's `Args` documents.
#[derive(Subcommand, Debug)]
enum Command {
    #[command(
        about = "Run a pipeline: build datasets (problems, samples, execute, build, lintseq), or train and iterate (expert iteration rounds with evaluation); resumable"
    )]
    Run(cmd::run::Args),
    #[command(about = "Generate the bundled, procedurally generated Python problem family")]
    Problems(cmd::problems::Args),
    /// Import problem sets or raw generations into ouro shards.
    #[command(subcommand)]
    Import(cmd::import::ImportCommand),
    #[command(about = "Run every sample against its tests in a sandbox; write verdicts")]
    Execute(cmd::execute::Args),
    #[command(
        about = "Build SFT, DPO, repair (and mutant / generated-test) datasets from verdicts"
    )]
    Build(cmd::build::Args),
    #[command(about = "LintSeq: turn programs into linter-valid edit sequences")]
    Lintseq(cmd::lintseq::Args),
    #[command(about = "FAIT: weight spans where correct and similar incorrect solutions differ")]
    Fait(cmd::fait::Args),
    #[command(about = "Create, import (GGUF), sample from, and render chat templates of models")]
    Model(cmd::model::Args),
    #[command(about = "Train a BPE tokenizer on a problem set")]
    Tokenizer(cmd::tokenizer::Args),
    #[command(about = "SFT and DPO training")]
    Train(cmd::train::Args),
    #[command(about = "Counts, pass rates and per-tag / per-difficulty breakdowns of any shards")]
    Stats(cmd::stats::Args),
    #[command(
        about = "Render a run directory's report.json and training curves into one HTML page"
    )]
    Report(cmd::report::Args),
    #[command(about = "Print a Slurm or Kubernetes launcher that runs a pipeline across shards")]
    Launch(cmd::launch::Args),
    #[command(about = "Draw samples from a local checkpoint or OpenAI-compatible servers")]
    Sample(cmd::sample::Args),
    #[command(
        about = "Serve a checkpoint over the OpenAI API (/v1/completions, /v1/chat/completions)"
    )]
    Serve(cmd::serve::Args),
    #[command(about = "Compile assert-style tests for isolated judging and report coverage")]
    Tests(cmd::tests::Args),
}

fn init_logging(verbose: u8, quiet: bool) {
    // Quiet keeps warnings: a warning (a decontamination that removed every row, a
    // warm-up as long as the run) is what a quiet run's user still needs.
    let level = match (quiet, verbose) {
        (true, _) | (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("OURO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person watching: not in a log file or a pipe.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    ouro_pipeline::status::set_quiet(cli.quiet);
    if cli.no_progress {
        ouro_data::progress::set_quiet(true);
    }
    if matches!(
        cli.command,
        Command::Stats(_) | Command::Problems(_) | Command::Launch(_)
    ) {
        // Commands that only print: `| head` closing the pipe ends them as it ends
        // `cat`, not with a panic. Not the others: the sandbox's pipes and sockets
        // rely on EPIPE, which the default SIGPIPE would turn into a kill.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let result = match cli.command {
        Command::Run(a) => cmd::run::run(a),
        Command::Problems(a) => cmd::problems::run(a),
        Command::Import(c) => cmd::import::run(c),
        Command::Execute(a) => cmd::execute::run(a),
        Command::Build(a) => cmd::build::run(a),
        Command::Lintseq(a) => cmd::lintseq::run(a),
        Command::Fait(a) => cmd::fait::run(a),
        Command::Model(a) => cmd::model::run(a),
        Command::Tokenizer(a) => cmd::tokenizer::run(a),
        Command::Train(a) => cmd::train::run(a),
        Command::Stats(a) => cmd::stats::run(a),
        Command::Report(a) => cmd::report::run(a),
        Command::Launch(a) => cmd::launch::run(a),
        Command::Sample(a) => cmd::sample::run(a),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Tests(a) => cmd::tests::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes, `: `-joined, each cause once: the library
/// errors put their source's text in their own message (so they read well
/// alone), and anyhow's `{:#}` would print it a second time.
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn a_cause_already_in_the_message_is_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        #[derive(Debug, thiserror::Error)]
        #[error("/x/report.json: {source}")]
        struct E {
            source: std::io::Error,
        }
        let e = anyhow::Error::new(E { source: io }).context("rendering /x");
        assert_eq!(
            super::error_chain(&e),
            "rendering /x: /x/report.json: No such file"
        );
    }

    /// clap checks every subcommand's arguments against the globals here
    /// (a subcommand's own `--verbose` clashing with the global `-v` count
    /// once made `ouro tests compile` panic on every invocation).
    #[test]
    fn every_subcommand_is_consistent_with_the_global_flags() {
        super::Cli::command().debug_assert();
    }

    /// Every command a user can run, with its path (`model generate`).
    fn leaves(cmd: &clap::Command, path: &str, out: &mut Vec<(String, clap::Command)>) {
        let subs: Vec<&clap::Command> = cmd
            .get_subcommands()
            .filter(|c| c.get_name() != "help")
            .collect();
        if subs.is_empty() {
            out.push((path.trim().to_string(), cmd.clone()));
        }
        for c in subs {
            leaves(c, &format!("{path} {}", c.get_name()), out);
        }
    }

    /// `--help` teaches: every option says what it does, and every command
    /// shows at least one `ouro ...` example that a shell reads as written
    /// (a long one continues over `\`-ended lines, never a bare wrap).
    #[test]
    fn every_option_has_a_description_and_every_command_an_example() {
        let mut cmds = Vec::new();
        leaves(&super::Cli::command(), "", &mut cmds);
        assert!(cmds.len() >= 15, "{} commands", cmds.len());
        let mut bare = Vec::new();
        let mut no_example = Vec::new();
        for (path, cmd) in &cmds {
            for a in cmd.get_arguments() {
                let name = a.get_id().as_str();
                if a.is_hide_set() || name == "help" || name == "version" {
                    continue;
                }
                if a.get_help().is_none() && a.get_long_help().is_none() {
                    bare.push(format!("{path} {name}"));
                }
            }
            let after = cmd
                .get_after_help()
                .or(cmd.get_after_long_help())
                .map(|h| h.to_string())
                .unwrap_or_default();
            let lines: Vec<&str> = after.lines().map(str::trim).collect();
            let mut examples = 0;
            for (i, l) in lines.iter().enumerate() {
                if !l.starts_with(&format!("ouro {path}")) {
                    continue;
                }
                examples += 1;
                // A command goes on over `\`-ended lines, as a shell reads it;
                // a line after it that starts with a flag was wrapped without one.
                let mut j = i;
                while lines[j].ends_with('\\') && j + 1 < lines.len() {
                    j += 1;
                }
                let next = lines.get(j + 1).copied().unwrap_or_default();
                assert!(
                    !next.starts_with("--"),
                    "{path}: an example wraps onto a line the shell would not join: {l} / {next}"
                );
            }
            if examples == 0 {
                no_example.push(path.clone());
            }
        }
        assert!(bare.is_empty(), "options without a description: {bare:?}");
        assert!(
            no_example.is_empty(),
            "commands without an example: {no_example:?}"
        );
    }
}
