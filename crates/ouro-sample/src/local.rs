//! The local backend: an HF checkpoint sampled in process.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use ouro_data::run::StageStats;
use ouro_model::chat::{PromptFormat, PromptRenderer};
use ouro_model::{checkpoint, GenerationRequest, Generator, Prompt, SamplingParams};

use crate::record::Raw;
use crate::{Job, SampleOptions};

/// Generates one completion per job, in job order. Prompts are rendered by
/// the checkpoint's own chat template for `PromptFormat::ChatMl`.
pub(crate) fn generate(
    jobs: &[Job],
    model_dir: &Path,
    batch_size: usize,
    prompt_format: PromptFormat,
    (place, weights): (&ouro_model::Placement, ouro_model::SampleDtype),
    opts: &SampleOptions,
    stats: &mut StageStats,
) -> anyhow::Result<Vec<Raw>> {
    let load_start = Instant::now();
    tracing::info!(
        "local sampling on {}, {} weights",
        place.describe(),
        weights.name()
    );
    let ck = checkpoint::load_for_sampling(model_dir, (place, weights))
        .with_context(|| format!("loading checkpoint {}", model_dir.display()))?;
    let tok = ck.tokenizer.as_ref().with_context(|| {
        format!(
            "{}: no tokenizer.json (the local backend needs the checkpoint's tokenizer)",
            model_dir.display()
        )
    })?;
    let render = PromptRenderer::for_model(model_dir, prompt_format)?;
    stats.time("load_model", load_start.elapsed().as_secs_f64());
    let requests: Vec<GenerationRequest> = jobs
        .iter()
        .map(|job| {
            Ok(GenerationRequest {
                prompt: Prompt::for_user(&render, &job.problem.prompt)?,
                params: sampling_params(opts, job.seed),
                top_logprobs: 0,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    // Rows of similar prompt length share a batch: less left padding, and
    // the batch's rows tend to finish together.
    let mut order: Vec<(usize, usize)> = requests
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let len = r.prompt.encode(tok).map_or(0, |ids| ids.len());
            (len, i)
        })
        .collect();
    order.sort();
    let mut out: Vec<Option<Raw>> = vec![None; jobs.len()];
    // Past the positions the model was trained on, samples are whatever RoPE
    // extrapolation gives: such a request fails, as a server answers it with a 400.
    let context = ck.decoder.config().max_position_embeddings;
    let max_tokens = opts.max_tokens as usize;
    let (fits, past): (Vec<_>, Vec<_>) = order
        .into_iter()
        .partition(|&(len, _)| len + max_tokens <= context);
    if let Some(&(len, i)) = past.first() {
        tracing::warn!(
            "{} samples not drawn: prompt and max_tokens pass the model's {context} positions (the first, of {}: {len} prompt tokens + {max_tokens})",
            past.len(),
            jobs[i].problem.problem_id
        );
    }
    if fits.is_empty() {
        if let Some(&(len, _)) = past.first() {
            // As a server's 400s fail an HTTP run: a shard of error rows is no sample.
            anyhow::bail!(
                "every sample failed ({n} of {n}): the prompt's {len} tokens and max_tokens \
                 {max_tokens} pass the model's context of {context} positions (lower --max-tokens)",
                n = past.len()
            );
        }
    }
    for &(len, i) in &past {
        out[i] = Some(Raw {
            completion: String::new(),
            finish_reason: Some("error".into()),
            error: Some(format!(
                "the prompt's {len} tokens and max_tokens {max_tokens} pass the model's context \
                 of {context} positions"
            )),
            prompt_tokens: Some(len as u32),
            completion_tokens: Some(0),
            logprob: None,
        });
    }
    let order = fits;
    let batch_size = batch_size.max(1);
    let generator = Generator::for_checkpoint(&ck, tok).with_max_batch(batch_size);
    let bar = ouro_data::progress::bar(jobs.len() as u64, opts.progress, "sample", "samples");
    bar.inc(past.len() as u64);
    for chunk in order.chunks(batch_size) {
        let batch: Vec<GenerationRequest> =
            chunk.iter().map(|&(_, i)| requests[i].clone()).collect();
        let (generations, times) = generator
            .generate_timed(&batch)
            .context("generating a batch of samples")?;
        // Which side of a step to speed up: the model's forwards, or the host's sampling.
        stats.time("generate_model", times.model_s);
        stats.time("generate_token_choice", times.choose_s);
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
