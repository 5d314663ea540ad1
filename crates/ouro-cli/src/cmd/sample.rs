//! `ouro sample`: draw samples of a problem set from a local checkpoint or
//! from OpenAI-compatible servers.

use std::path::PathBuf;

use anyhow::{bail, Context};
use ouro_data::{shard, Problem};
use ouro_model::chat::PromptFormat;
use ouro_sample::{BackendConfig, Endpoint, SampleOptions};

/// Draw N samples of every problem and write them as a samples shard.
#[derive(clap::Args, Debug)]
#[command(
    long_about = "Draw N samples of every problem and write them, with the code extracted from each \
completion, as OUT/part-00000-of-00001.parquet (the samples shard `ouro execute` reads).

Two backends:
  --model DIR         an HF checkpoint sampled in process (batched; --batch-size rows per step).
  --base-url URL ...  OpenAI-compatible servers (vLLM, SGLang, llama.cpp server, TGI, `ouro serve`):
                      one request per sample, each with its own seed; several --base-url are used
                      round-robin, a retry goes to the next one. 408/429/5xx, connection errors
                      and replies cut off mid-body are retried with exponential backoff
                      (Retry-After is honoured); other errors are not. A request that still
                      fails becomes a sample with finish_reason \"error\"; the run fails when
                      every request fails, unless only one problem's requests failed (a prompt
                      over the context).

Flags marked Local: are for --model, HTTP: for --base-url; the other backend's are an error
(but --device, which a server ignores).

Every sample's seed is derived from --seed, the problem id, --round and its index, so a sample does
not depend on the backend or batch that drew it. Successful HTTP responses are cached under
OUT/.http-cache (keyed by the request body, not the URL): run the same command again after a crash
and only the missing samples are requested.",
    after_help = "Examples:
  ouro sample --problems runs/problems --model runs/demo/model-0 -n 8 --temperature 0.8 --out runs/samples
  ouro sample --problems runs/he --base-url http://gpu1:8000/v1 --base-url http://gpu2:8000/v1 \\
      --served-model-name Qwen/Qwen2.5-Coder-1.5B -n 16 --concurrency 128 --stop '\\ndef ' --out runs/he-samples
  OPENAI_API_KEY=sk-... ouro sample --problems runs/he --base-url https://api.example.com/v1 \\
      --served-model-name my-model --chat -n 4 --out runs/chat-samples",
    group = clap::ArgGroup::new("source").required(true).args(["model", "base_url"])
)]
pub struct Args {
    /// Print a JSON summary on stdout (`schema_version`, counts, seconds).
    #[arg(long)]
    pub json: bool,
    /// Directory of problems shards.
    #[arg(long)]
    pub problems: PathBuf,
    /// Output directory of the samples shard.
    #[arg(long, value_parser = super::out_dir)]
    pub out: PathBuf,
    /// Local checkpoint directory (HF layout with tokenizer.json).
    #[arg(long, conflicts_with = "base_url")]
    pub model: Option<PathBuf>,
    /// OpenAI-compatible server, `http://host:port` or `http://host:port/v1` (repeatable).
    #[arg(long = "base-url", value_name = "URL")]
    pub base_url: Vec<String>,
    /// Model name the servers serve: the name given to vLLM's or `ouro serve`'s
    /// --served-model-name. Without it, the one model the first --base-url that answers
    /// lists (`GET /v1/models`) is used, and a server listing several is an error that
    /// names them. `--served-model` is the same.
    #[arg(
        long = "served-model-name",
        visible_alias = "served-model",
        value_name = "NAME"
    )]
    pub served_model: Option<String>,
    /// Use /v1/chat/completions (the prompt is one user message) instead of /v1/completions.
    #[arg(long, conflicts_with = "model")]
    pub chat: bool,
    /// Samples per problem (at least 1).
    #[arg(short = 'n', long = "num-samples", default_value_t = 1, value_parser = super::at_least_one)]
    pub num_samples: usize,
    /// Sampling temperature, >= 0 (0 is greedy decoding).
    #[arg(long, default_value_t = 0.8, value_parser = super::non_negative)]
    pub temperature: f64,
    /// Nucleus sampling: keep the smallest set of tokens whose probability
    /// reaches this mass, in (0, 1] (1 keeps every token).
    #[arg(long, default_value_t = 1.0, value_parser = super::positive_share)]
    pub top_p: f64,
    /// 0 disables top-k.
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    /// 0 disables min-p.
    #[arg(long, default_value_t = 0.0, value_parser = super::unit_interval)]
    pub min_p: f64,
    /// Most new tokens per sample; a sample that hits it has finish_reason `length`.
    #[arg(long, visible_alias = "max-new-tokens", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tokens: u32,
    /// Stop sequence (repeatable; `\n` is a newline).
    #[arg(long, value_parser = super::stop_sequence)]
    pub stop: Vec<String>,
    /// Global seed; every sample's seed is derived from it.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Expert-iteration round recorded in the samples.
    #[arg(long, default_value_t = 0)]
    pub round: u32,
    /// Index of each problem's first attempt. A second batch at the same problems and
    /// round (resampling the unsolved ones) starts past the first: new seeds, new ids.
    #[arg(long, default_value_t = 0)]
    pub first_index: u32,
    /// Only problems of this split.
    #[arg(long)]
    pub split: Option<String>,
    /// Only the first N problems (after --split).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Local: sequences decoded together.
    #[arg(long, default_value_t = 64, conflicts_with = "base_url")]
    pub batch_size: usize,
    /// Local: `plain` (continue the prompt) or `chat` (one user turn in the
    /// checkpoint's own chat template, ChatML when it has none; `chatml` is the
    /// same).
    /// (With --base-url, --chat sends the prompt as a chat user turn.)
    #[arg(long, default_value = "plain", value_parser = ["plain", "chat", "chatml"], conflicts_with = "base_url")]
    pub prompt_format: String,
    /// Local: device: `cpu`, `cuda` or `cuda:N` [default: cuda:0 in a CUDA build with a GPU, else cpu].
    #[arg(long)]
    pub device: Option<String>,
    /// Local: compute dtype: `f32`, `bf16` or `f16` [default: f32 on cpu, bf16 on cuda].
    #[arg(long, conflicts_with = "base_url")]
    pub dtype: Option<String>,
    /// Local: weights sampling reads: `f32` (the model's own) or `q8` (8-bit Q8_0 copies
    /// made at load, about 4x faster one sequence at a time on the CPU; f32 compute only)
    /// [default: f32].
    #[arg(long, value_name = "f32|q8", conflicts_with = "base_url")]
    pub sample_dtype: Option<String>,
    /// HTTP: requests in flight, over all base URLs.
    #[arg(long, default_value_t = 32, value_parser = super::at_least_one, conflicts_with = "model")]
    pub concurrency: usize,
    /// HTTP: retries per request.
    #[arg(long, default_value_t = 6, conflicts_with = "model")]
    pub max_retries: u32,
    /// HTTP: seconds per request.
    #[arg(long, default_value_t = 600, conflicts_with = "model")]
    pub timeout: u64,
    /// HTTP: environment variable holding the bearer token.
    #[arg(long, default_value = "OPENAI_API_KEY", conflicts_with = "model")]
    pub api_key_env: String,
    /// HTTP: request token log-probabilities.
    #[arg(long, conflicts_with = "model")]
    pub logprobs: bool,
    /// HTTP: response cache directory [default: OUT/.http-cache].
    #[arg(long, conflicts_with = "no_cache", conflicts_with = "model")]
    pub cache: Option<PathBuf>,
    /// HTTP: do not cache responses.
    #[arg(long, conflicts_with = "model")]
    pub no_cache: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    // Checked before the problems are read, so a bad flag fails at once. A server
    // places its own model: --device is accepted (so `--device cpu` is everywhere) and
    // does nothing there.
    if args.model.is_some() {
        let place = ouro_model::Placement::resolve(args.device.as_deref(), args.dtype.as_deref())?;
        let weights = ouro_model::SampleDtype::resolve(args.sample_dtype.as_deref(), &place)?;
        say!(
            "sampling on {}, {} weights",
            place.describe(),
            weights.name()
        );
    } else if let Some(device) = &args.device {
        tracing::warn!(
            "--device {device} does nothing with --base-url: the servers place their model"
        );
    }
    let mut problems: Vec<Problem> = shard::read_dir(&args.problems)
        .with_context(|| format!("reading problems from {}", args.problems.display()))?;
    if let Some(split) = &args.split {
        let mut splits: Vec<&str> = problems.iter().map(|p| p.split.as_str()).collect();
        splits.sort_unstable();
        splits.dedup();
        if !splits.contains(&split.as_str()) {
            bail!(
                "--split {split}: no such split in {} (it has: {})",
                args.problems.display(),
                splits.join(", ")
            );
        }
        problems.retain(|p| &p.split == split);
    }
    if let Some(limit) = args.limit {
        problems.truncate(limit);
    }
    if problems.is_empty() {
        bail!("no problems to sample in {}", args.problems.display());
    }
    let backend = match (&args.model, &args.served_model) {
        (Some(model), _) => BackendConfig::Local {
            model: model.clone(),
            batch_size: args.batch_size,
            prompt_format: if args.prompt_format != "plain" {
                PromptFormat::ChatMl
            } else {
                PromptFormat::Plain
            },
            device: args.device.clone(),
            dtype: args.dtype.clone(),
            sample_dtype: args.sample_dtype.clone(),
        },
        (None, served) => BackendConfig::OpenAi {
            base_urls: args.base_url.clone(),
            model: match served {
                Some(name) => name.clone(),
                None => {
                    let (name, host) =
                        ouro_sample::served_model(&args.base_url, &args.api_key_env)?;
                    say!("sampling from '{name}', the model {host} serves");
                    name
                }
            },
            api_key_env: Some(args.api_key_env.clone()),
            endpoint: if args.chat {
                Endpoint::Chat
            } else {
                Endpoint::Completions
            },
            concurrency: args.concurrency,
            max_retries: args.max_retries,
            timeout_s: args.timeout,
            initial_backoff_ms: 500,
            logprobs: args.logprobs,
        },
    };
    let cache_dir = match (&backend, args.no_cache) {
        (BackendConfig::OpenAi { .. }, false) => Some(
            args.cache
                .clone()
                .unwrap_or_else(|| args.out.join(".http-cache")),
        ),
        _ => None,
    };
    let opts = SampleOptions {
        round: args.round,
        temperature: args.temperature,
        top_p: args.top_p,
        top_k: args.top_k,
        min_p: args.min_p,
        max_tokens: args.max_tokens,
        stop: args.stop.clone(),
        seed: args.seed,
        cache_dir,
        // The global --no-progress and -q hide it.
        progress: true,
        first_index: args.first_index,
    };
    let plan: Vec<(&Problem, usize)> = problems.iter().map(|p| (p, args.num_samples)).collect();
    let stats = ouro_sample::sample_to_dir(&plan, &backend, &opts, &args.out)?;
    let get = |k: &str| stats.counts.get(k).copied().unwrap_or(0);
    let secs = stats.seconds.get("sampling").copied().unwrap_or(0.0);
    // In process, where the time went: the model's forwards or the host's token choice.
    let split = match (
        stats.seconds.get("generate_model"),
        stats.seconds.get("generate_token_choice"),
    ) {
        (Some(m), Some(c)) => format!(" (model {m:.1}s, token choice {c:.1}s)"),
        _ => String::new(),
    };
    say!(
        "sampled {} ({} problems x {}) in {secs:.1}s{split}: {} generation errors, {} without code, {} completion tokens ({:.0}/s){} -> {}",
        get("samples_out"),
        problems.len(),
        args.num_samples,
        get("generation_errors"),
        get("no_code"),
        get("completion_tokens"),
        get("completion_tokens") as f64 / secs.max(1e-9),
        if get("requests") + get("cache_hits") > 0 {
            format!(
                ", {} requests ({} retries), {} from cache",
                get("requests"),
                get("retries"),
                get("cache_hits")
            )
        } else {
            String::new()
        },
        args.out.join(ouro_data::shard::part_name(0, 1)).display()
    );
    if args.json {
        super::print_json(
            "sample",
            serde_json::json!({
                "out": args.out,
                "problems": problems.len(),
                "samples_per_problem": args.num_samples,
                "counts": stats.counts,
                "dropped": stats.dropped,
                "seconds": stats.seconds,
            }),
        );
    }
    Ok(())
}
