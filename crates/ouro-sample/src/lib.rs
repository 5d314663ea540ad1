//! ouro-sample: draw samples of problems from a model.
//!
//! Two backends behind one call, [`sample`]:
//! - **local**: an HF checkpoint directory run in process with
//!   [`ouro_model::Generator`], many samples per batch;
//! - **openai**: any OpenAI-compatible server (vLLM, SGLang, llama.cpp
//!   server, TGI, `ouro serve`) over `/v1/completions` or
//!   `/v1/chat/completions`, one request per sample with its own seed,
//!   bounded concurrency, retries, a pool of base URLs and an on-disk
//!   request cache so a killed run replays nothing it already has.
//!
//! [`serve`] is the reverse direction: a local checkpoint behind the OpenAI
//! API (`ouro serve`).
//!
//! Every sample's seed is derived from (global seed, problem id, round,
//! index), so a sample does not depend on which backend, batch, worker or
//! server drew it: the local backend and `ouro serve` produce the same
//! completions for the same plan.

mod cache;
mod local;
mod openai;
mod record;
pub mod serve;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use ouro_data::run::StageStats;
use ouro_data::{Problem, Sample};
use ouro_model::chat::PromptFormat;
use serde::{Deserialize, Serialize};

pub use openai::{base_url_root, served_model};

/// Which API of an OpenAI-compatible server to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Endpoint {
    /// `/v1/completions`: the problem prompt is continued as raw text (base models).
    #[default]
    Completions,
    /// `/v1/chat/completions`: the problem prompt is one user message (instruct models).
    Chat,
}

impl Endpoint {
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Completions => "/v1/completions",
            Endpoint::Chat => "/v1/chat/completions",
        }
    }
}

/// Where samples come from. In TOML: `backend = "local"` or `backend = "openai"`
/// plus the variant's keys; unknown keys are an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "backend", rename_all = "lowercase", deny_unknown_fields)]
pub enum BackendConfig {
    /// An HF checkpoint directory, sampled in process on the CPU.
    Local {
        model: PathBuf,
        /// Sequences decoded together per `Generator::generate` call.
        #[serde(default = "default_batch_size")]
        batch_size: usize,
        /// `plain` (the prompt is continued as is) or `chatml` (a user turn in the
        /// checkpoint's own chat template; ChatML when it has none).
        #[serde(default = "default_prompt_format")]
        prompt_format: PromptFormat,
        /// `cpu`, `cuda` or `cuda:N` [default: a GPU in a CUDA build that finds one, else
        /// the CPU].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<String>,
        /// `f32`, `bf16` or `f16` [default: f32 on the CPU, bf16 on a GPU].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dtype: Option<String>,
        /// The weights sampling reads: `f32` (the model's own) or `q8` (8-bit copies,
        /// CPU in f32 only) [default: f32].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sample_dtype: Option<String>,
    },
    /// OpenAI-compatible servers.
    #[serde(rename = "openai")]
    OpenAi {
        /// One or more servers (`http://host:8000` or `http://host:8000/v1`),
        /// used round-robin; a retry goes to the next one.
        base_urls: Vec<String>,
        /// The served model name (vLLM's `--served-model-name`).
        model: String,
        /// Environment variable holding the bearer token (default `OPENAI_API_KEY`);
        /// no `Authorization` header is sent when it is unset or empty.
        #[serde(default)]
        api_key_env: Option<String>,
        #[serde(default)]
        endpoint: Endpoint,
        /// Requests in flight at once, over all base URLs.
        #[serde(default = "default_concurrency")]
        concurrency: usize,
        /// Retries of one request on 408/429/5xx and connection errors.
        #[serde(default = "default_max_retries")]
        max_retries: u32,
        /// Per-request timeout in seconds.
        #[serde(default = "default_timeout_s")]
        timeout_s: u64,
        /// First retry delay; doubled per retry (capped at 30 s), with jitter.
        /// A `Retry-After` header overrides it.
        #[serde(default = "default_backoff_ms")]
        initial_backoff_ms: u64,
        /// Ask for token log-probabilities (summed into `Sample.logprob`).
        #[serde(default)]
        logprobs: bool,
    },
}

fn default_batch_size() -> usize {
    64
}
fn default_prompt_format() -> PromptFormat {
    PromptFormat::Plain
}
fn default_concurrency() -> usize {
    32
}
fn default_max_retries() -> u32 {
    6
}
fn default_timeout_s() -> u64 {
    600
}
fn default_backoff_ms() -> u64 {
    500
}

impl BackendConfig {
    /// The local backend with default batch size and the plain prompt format.
    pub fn local(model: impl Into<PathBuf>) -> Self {
        BackendConfig::Local {
            model: model.into(),
            batch_size: default_batch_size(),
            prompt_format: default_prompt_format(),
            device: None,
            dtype: None,
            sample_dtype: None,
        }
    }

    /// The OpenAI backend over `/v1/completions` with default limits.
    pub fn openai(base_urls: Vec<String>, model: impl Into<String>) -> Self {
        BackendConfig::OpenAi {
            base_urls,
            model: model.into(),
            api_key_env: None,
            endpoint: Endpoint::Completions,
            concurrency: default_concurrency(),
            max_retries: default_max_retries(),
            timeout_s: default_timeout_s(),
            initial_backoff_ms: default_backoff_ms(),
            logprobs: false,
        }
    }

    /// The name recorded in `Sample.model`: the checkpoint directory's name,
    /// or the served model name.
    pub fn model_name(&self) -> String {
        match self {
            BackendConfig::Local { model, .. } => checkpoint_name(model),
            BackendConfig::OpenAi { model, .. } => model.clone(),
        }
    }
}

/// The last path component of a checkpoint directory (`runs/x/model-1` -> `model-1`).
pub(crate) fn checkpoint_name(dir: &Path) -> String {
    let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    canonical
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

/// How to sample, shared by both backends.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleOptions {
    /// Expert-iteration round, recorded in every sample and mixed into its seed.
    pub round: u32,
    pub temperature: f64,
    /// 1.0 disables nucleus sampling.
    pub top_p: f64,
    /// 0 disables top-k (not sent to servers then).
    pub top_k: usize,
    /// 0 disables min-p (not sent to servers then).
    pub min_p: f64,
    pub max_tokens: u32,
    /// Stop sequences; the completion is cut before them.
    pub stop: Vec<String>,
    /// Global seed; each sample's seed is derived from it (see [`sample_seed`]).
    pub seed: u64,
    /// Request cache of the HTTP backend; `None` disables it.
    pub cache_dir: Option<PathBuf>,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Index of each problem's first attempt: a later batch of attempts at
    /// the same problems and round (DART's resampling) starts past the
    /// earlier ones, so its seeds and sample ids are new.
    pub first_index: u32,
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions {
            round: 0,
            temperature: 0.8,
            top_p: 1.0,
            top_k: 0,
            min_p: 0.0,
            max_tokens: 512,
            stop: Vec::new(),
            seed: 0,
            cache_dir: None,
            progress: false,
            first_index: 0,
        }
    }
}

/// The seed of attempt `index` at `problem_id` in `round`.
///
/// Kept below 2^31: llama.cpp's server reads the seed as a 32-bit value and
/// vLLM as a signed 64-bit one, and the recorded seed must be the one used.
pub fn sample_seed(global_seed: u64, problem_id: &str, round: u32, index: u32) -> u64 {
    ouro_data::derive_seed(
        &format!("sample\u{1f}{problem_id}\u{1f}{round}\u{1f}{index}"),
        global_seed,
    ) & 0x7fff_ffff
}

/// One attempt to draw: which problem, which index, which seed.
#[derive(Debug, Clone)]
pub(crate) struct Job<'a> {
    pub problem: &'a Problem,
    pub index: u32,
    pub seed: u64,
}

/// Draws `count` samples of each problem (attempt indices `0..count`) and
/// returns them in plan order, then by index, with code extracted as
/// `ouro import generations` does.
///
/// A request that still fails after its retries becomes a sample with
/// `finish_reason = "error"` and `generation_error` set; the run fails when
/// every request fails (server down, wrong model name, bad parameter), naming
/// the first error, unless the failures are one problem's own (a prompt over
/// the context). Answers replayed from the cache are not requests. Stats counts: `problems_in`, `samples_out`,
/// `generation_errors`, `no_code`, `prompt_tokens`, `completion_tokens`,
/// and for HTTP `requests`, `retries`, `cache_hits`; `seconds.sampling`.
pub fn sample(
    problems_and_counts: &[(&Problem, usize)],
    backend: &BackendConfig,
    opts: &SampleOptions,
) -> anyhow::Result<(Vec<Sample>, StageStats)> {
    let start = Instant::now();
    let mut jobs = Vec::new();
    for &(problem, count) in problems_and_counts {
        for index in opts.first_index..opts.first_index + count as u32 {
            jobs.push(Job {
                problem,
                index,
                seed: sample_seed(opts.seed, &problem.problem_id, opts.round, index),
            });
        }
    }
    let mut stats = StageStats::default();
    stats.add("problems_in", problems_and_counts.len() as u64);
    let raws = match backend {
        BackendConfig::Local {
            model,
            batch_size,
            prompt_format,
            device,
            dtype,
            sample_dtype,
        } => {
            let place = ouro_model::Placement::resolve(device.as_deref(), dtype.as_deref())?;
            let weights = ouro_model::SampleDtype::resolve(sample_dtype.as_deref(), &place)?;
            local::generate(
                &jobs,
                model,
                *batch_size,
                *prompt_format,
                (&place, weights),
                opts,
                &mut stats,
            )
            .with_context(|| format!("sampling from {}", model.display()))?
        }
        BackendConfig::OpenAi { .. } => openai::generate(&jobs, backend, opts, &mut stats)?,
    };
    let model = backend.model_name();
    let samples: Vec<Sample> = jobs
        .iter()
        .zip(raws)
        .map(|(job, raw)| record::to_sample(job, opts, &model, raw))
        .collect();
    stats.add("samples_out", samples.len() as u64);
    for s in &samples {
        if s.generation_error.is_some() {
            stats.add("generation_errors", 1);
        } else if s.code.is_none() {
            stats.add("no_code", 1);
        }
        stats.add("prompt_tokens", s.prompt_tokens.unwrap_or(0) as u64);
        stats.add("completion_tokens", s.completion_tokens.unwrap_or(0) as u64);
    }
    stats.time("sampling", start.elapsed().as_secs_f64());
    Ok((samples, stats))
}

/// [`sample`], then writes the samples as one shard
/// `out_dir/part-00000-of-00001.parquet` (atomically) and returns the stats.
pub fn sample_to_dir(
    problems_and_counts: &[(&Problem, usize)],
    backend: &BackendConfig,
    opts: &SampleOptions,
    out_dir: &Path,
) -> anyhow::Result<StageStats> {
    sample_to_shard(
        problems_and_counts,
        backend,
        opts,
        &out_dir.join(ouro_data::shard::part_name(0, 1)),
    )
}

/// [`sample`], then writes the samples as one shard at `path` (atomically;
/// e.g. `ouro_data::run::part_path(stage_dir, shard)`) and returns the stats.
pub fn sample_to_shard(
    problems_and_counts: &[(&Problem, usize)],
    backend: &BackendConfig,
    opts: &SampleOptions,
    path: &Path,
) -> anyhow::Result<StageStats> {
    let (samples, stats) = sample(problems_and_counts, backend, opts)?;
    ouro_data::shard::write_records::<Sample>(path, &samples)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(stats)
}
