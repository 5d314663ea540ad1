//! `ouro tokenizer`: train the small code-aware BPE tokenizer.

use std::path::PathBuf;

use anyhow::Context;

/// Tokenizer tools.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:
  ouro tokenizer train --problems data/problems --vocab-size 1024 --out tokenizer.json")]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Train a byte-level BPE on the prompts and reference solutions of a problem set.
    Train(TrainArgs),
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Example:
  ouro problems generate --count 200 --out data/problems
  ouro tokenizer train --problems data/problems --vocab-size 1024 --out tokenizer.json")]
pub struct TrainArgs {
    /// Directory of `part-*.parquet` problem shards.
    #[arg(long)]
    pub problems: PathBuf,
    /// Vocabulary size, including the 256 byte symbols and special tokens.
    #[arg(long, default_value_t = 1024)]
    pub vocab_size: usize,
    /// Output tokenizer.json (written atomically).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Train(a) => {
            let tok = ouro_model::tokenizer::train_on_problems(&a.problems, a.vocab_size)
                .with_context(|| format!("training a tokenizer on {}", a.problems.display()))?;
            ouro_model::tokenizer::save_tokenizer(&tok, &a.out)?;
            let got = tok.get_vocab_size(true);
            if got < a.vocab_size {
                // BPE stops when no pair repeats: the text has no more merges to give.
                tracing::warn!(
                    "--vocab-size {}: the problems gave only {got} tokens (BPE found no pair \
                     left to merge); more problems give a larger vocabulary",
                    a.vocab_size
                );
            }
            println!(
                "wrote {} (vocab {})",
                a.out.display(),
                tok.get_vocab_size(true)
            );
        }
    }
    Ok(())
}
