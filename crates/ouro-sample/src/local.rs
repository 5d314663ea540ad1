//! The local backend: an HF checkpoint sampled in process.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use ouro_data::run::StageStats;
use ouro_model::chat::{format_prompt, PromptFormat, SMOLLM2_SYSTEM};
use ouro_model::{checkpoint, GenerationRequest, Generator, SamplingParams};

use crate::record::Raw;
use crate::{Job, SampleOptions};

/// SmolLM2's vocabulary size: its chat template inserts a default system turn.
pub(crate) const SMOLLM2_VOCAB: usize = 49152;

/// Generates one completion per job, in job order.
/// The text a local model is given for `prompt`: the prompt itself, or one
/// ChatML user turn (after SmolLM2's default system turn, for its tokenizer,
/// as its own template does). Training rows of a chat-sampled round are
/// rendered with it too, so a model trains on the input it samples from.
pub fn model_prompt(prompt: &str, format: PromptFormat, vocab_size: usize) -> String {
    let system =
        (format == PromptFormat::ChatMl && vocab_size == SMOLLM2_VOCAB).then_some(SMOLLM2_SYSTEM);
    format_prompt(prompt, format, system)
}

/// [`model_prompt`] for the model in `model_dir` (reads its tokenizer once).
pub fn model_prompt_for(
    model_dir: &Path,
    format: PromptFormat,
) -> anyhow::Result<impl Fn(&str) -> String> {
    let vocab = match format {
        PromptFormat::Plain => 0,
        PromptFormat::ChatMl => {
            let file = model_dir.join("tokenizer.json");
            tokenizers::Tokenizer::from_file(&file)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?
                .get_vocab_size(true)
        }
    };
    Ok(move |prompt: &str| model_prompt(prompt, format, vocab))
}

pub(crate) fn generate(
    jobs: &[Job],
    model_dir: &Path,
    batch_size: usize,
    prompt_format: PromptFormat,
    place: &ouro_model::Placement,
    opts: &SampleOptions,
    stats: &mut StageStats,
) -> anyhow::Result<Vec<Raw>> {
    let load_start = Instant::now();
    tracing::info!("local sampling on {}", place.describe());
    let ck = checkpoint::load_with_dtype(model_dir, &place.device, place.dtype)
        .with_context(|| format!("loading checkpoint {}", model_dir.display()))?;
    let tok = ck.tokenizer.as_ref().with_context(|| {
        format!(
            "{}: no tokenizer.json (the local backend needs the checkpoint's tokenizer)",
            model_dir.display()
        )
    })?;
    stats.time("load_model", load_start.elapsed().as_secs_f64());
    let requests: Vec<GenerationRequest> = jobs
        .iter()
        .map(|job| GenerationRequest {
            prompt: model_prompt(&job.problem.prompt, prompt_format, tok.get_vocab_size(true)),
            params: sampling_params(opts, job.seed),
        })
        .collect();
    // Rows of similar prompt length share a batch: less left padding, and
    // the batch's rows tend to finish together.
    let mut order: Vec<(usize, usize)> = requests
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let len = tok
                .encode(r.prompt.as_str(), false)
                .map(|e| e.len())
                .unwrap_or(r.prompt.len());
            (len, i)
        })
        .collect();
    order.sort();
    let batch_size = batch_size.max(1);
    let generator = Generator::new(&ck.decoder, tok).with_max_batch(batch_size);
    let bar = crate::progress_bar(jobs.len() as u64, opts.progress, "sample");
    let mut out: Vec<Option<Raw>> = vec![None; jobs.len()];
    for chunk in order.chunks(batch_size) {
        let batch: Vec<GenerationRequest> =
            chunk.iter().map(|&(_, i)| requests[i].clone()).collect();
        let generations = generator
            .generate(&batch)
            .context("generating a batch of samples")?;
        for (&(_, i), g) in chunk.iter().zip(generations) {
            out[i] = Some(Raw {
                completion: g.text,
                finish_reason: Some(g.finish_reason.as_str().to_string()),
                error: None,
                prompt_tokens: Some(g.prompt_tokens as u32),
                completion_tokens: Some(g.completion_tokens as u32),
                logprob: Some(g.logprob),
            });
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(out
        .into_iter()
        .map(|r| r.expect("every job generated"))
        .collect())
}

pub(crate) fn sampling_params(opts: &SampleOptions, seed: u64) -> SamplingParams {
    SamplingParams {
        temperature: opts.temperature,
        top_p: opts.top_p,
        top_k: opts.top_k,
        min_p: opts.min_p,
        max_tokens: opts.max_tokens as usize,
        stop: opts.stop.clone(),
        seed,
    }
}
