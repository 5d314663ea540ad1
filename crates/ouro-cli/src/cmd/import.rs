use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use ouro_data::{shard, Problem, Sample};
use ouro_import::{
    import_generations, import_problems, FieldMap, GenerationFormat, GenerationImport, IdRule,
    ProblemFormat,
};

#[derive(Subcommand, Debug)]
pub enum ImportCommand {
    /// Import a problem set (HumanEval, MBPP, APPS, or any JSONL with a field mapping).
    #[command(after_help = "\
Examples:
  ouro import problems --format humaneval HumanEval.jsonl.gz --out runs/humaneval
  ouro import problems --format mbpp mbpp.jsonl --out runs/mbpp
  ouro import problems --format jsonl my.jsonl --map problem_id=id --map prompt=question --map tests=test --out runs/mine

Writes DIR/part-00000-of-00001.parquet, replacing the one an earlier import wrote there.
Nothing is written if any line is bad.

Splits: HumanEval and APPS problems are `test` (APPS files do not say which split they
are: give `--split train` for train.jsonl); MBPP's follow its paper by task id (1-10
`prompt`, 11-510 `test`, 511-600 `validation`, 601-974 `train`); --format jsonl reads a
`split` field (`--map split=...`), else `train`. Pipelines evaluate the `[eval] split`
and train on `pool_split`.")]
    Problems {
        /// Input JSONL file (`.gz` is read transparently).
        file: PathBuf,
        /// humaneval | mbpp | apps | jsonl
        #[arg(long)]
        format: ProblemFormat,
        /// Output directory of the problems shard.
        #[arg(long, value_parser = super::out_dir)]
        out: PathBuf,
        /// For --format jsonl: OURS=THEIRS field mapping, repeatable (dotted paths allowed).
        #[arg(long = "map", value_name = "OURS=THEIRS")]
        map: Vec<String>,
        /// The split of every problem, in place of the one the format gives.
        #[arg(long, value_name = "NAME", value_parser = clap::builder::NonEmptyStringValueParser::new())]
        split: Option<String>,
        /// Print a JSON summary on stdout (`schema_version`, counts, the shard written).
        #[arg(long)]
        json: bool,
    },
    /// Import raw generations as samples of known problems, extracting their code.
    #[command(after_help = "\
Examples:
  ouro import generations --format openai-batch batch_output.jsonl --problems runs/he --out runs/he-samples
  ouro import generations --format jsonl gens.jsonl --id-field task_id --completion-field output --problems runs/he --out runs/s

Writes DIR/part-00000-of-00001.parquet, replacing the one an earlier import wrote there.

For openai-batch and vllm, `custom_id` is PROBLEM_ID or PROBLEM_ID#SUFFIX by default (a numeric
SUFFIX is the sample index); other schemes take --id-pattern or --id-map. A line whose
request failed becomes a sample with finish_reason \"error\"; it is counted, never dropped.
openai-batch reads chat completions, completions and /v1/responses bodies.")]
    Generations {
        /// Input JSONL file (`.gz` is read transparently).
        file: PathBuf,
        /// openai-batch | vllm | open-instruct | openrlhf | jsonl | human-eval
        #[arg(long)]
        format: GenerationFormat,
        /// Directory of the problems shards the generations answer.
        #[arg(long)]
        problems: PathBuf,
        /// Output directory of the samples shard.
        #[arg(long, value_parser = super::out_dir)]
        out: PathBuf,
        /// Model name to record when the input has none.
        #[arg(long)]
        model: Option<String>,
        /// Expert-iteration round to record.
        #[arg(long, default_value_t = 0)]
        round: u32,
        /// Field with the problem id (jsonl, open-instruct, openrlhf). open-instruct and
        /// openrlhf lines without it are matched by the prompt text they hold.
        #[arg(long, default_value = "problem_id")]
        id_field: String,
        /// Field with the completion text (jsonl).
        #[arg(long, default_value = "completion")]
        completion_field: String,
        /// Regular expression over the request id (`custom_id`, or the id
        /// field): the group named `problem_id`, else the first group, is the
        /// problem id; an optional group named `index` is the sample index.
        /// Example: '^(?P<problem_id>HumanEval/\d+)-s(?P<index>\d+)$'.
        #[arg(long, conflicts_with = "id_map")]
        id_pattern: Option<String>,
        /// JSONL file of {"custom_id": ..., "problem_id": ...} lines mapping
        /// each request id to its problem.
        #[arg(long)]
        id_map: Option<PathBuf>,
        /// Print a JSON summary on stdout (`schema_version`, counts, the shard written).
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: ImportCommand) -> anyhow::Result<()> {
    match cmd {
        ImportCommand::Problems {
            file,
            format,
            out,
            map,
            split,
            json,
        } => {
            if !map.is_empty() && format != ProblemFormat::Jsonl {
                anyhow::bail!(
                    "--map renames the fields of --format jsonl; {} files have fixed fields",
                    format!("{format:?}").to_lowercase()
                );
            }
            let map = FieldMap::parse(&map).map_err(anyhow::Error::msg)?;
            shard::check_output_dir::<Problem>(&out)?;
            let path = out.join(ouro_data::shard::part_name(0, 1));
            shard::check_sole_shard(&path)?;
            let mut problems = import_problems(&file, format, &map)?;
            if let Some(split) = split {
                problems.iter_mut().for_each(|p| p.split = split.clone());
            }
            shard::write_records::<Problem>(&path, &problems)
                .with_context(|| format!("writing {}", path.display()))?;
            say!("imported {} problems -> {}", problems.len(), path.display());
            if json {
                super::print_json(
                    "import problems",
                    serde_json::json!({ "problems": problems.len(), "shard": path }),
                );
            }
        }
        ImportCommand::Generations {
            file,
            format,
            problems,
            out,
            model,
            round,
            id_field,
            completion_field,
            id_pattern,
            id_map,
            json,
        } => {
            // Checked before the problems are read: a bad pattern is a usage error.
            let ids = match (id_pattern, id_map) {
                (Some(p), _) => IdRule::pattern(&p).map_err(anyhow::Error::msg)?,
                (None, Some(m)) => IdRule::map_file(&m)?,
                (None, None) => IdRule::Default,
            };
            shard::check_output_dir::<Sample>(&out)?;
            let path = out.join(ouro_data::shard::part_name(0, 1));
            shard::check_sole_shard(&path)?;
            let problem_set: Vec<Problem> = shard::read_dir(&problems)
                .with_context(|| format!("reading problems from {}", problems.display()))?;
            let opts = GenerationImport {
                format,
                model,
                round,
                id_field,
                completion_field,
                ids,
            };
            let samples = import_generations(&file, &problem_set, &opts)?;
            shard::write_records::<Sample>(&path, &samples)
                .with_context(|| format!("writing {}", path.display()))?;
            let failed = samples
                .iter()
                .filter(|s| s.generation_error.is_some())
                .count();
            // A failed generation has no code either (`ouro stats`' no_code counts both).
            let no_code = samples
                .iter()
                .filter(|s| s.code.is_none() && s.generation_error.is_none())
                .count();
            say!(
                "imported {} samples ({failed} failed generations and {no_code} more without extractable code: {} without code) -> {}",
                samples.len(),
                failed + no_code,
                path.display()
            );
            if json {
                super::print_json(
                    "import generations",
                    serde_json::json!({
                        "samples": samples.len(),
                        "failed_generations": failed,
                        "without_code": no_code,
                        "shard": path,
                    }),
                );
            }
        }
    }
    Ok(())
}
