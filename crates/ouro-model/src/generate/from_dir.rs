//! One prompt's completions straight from a checkpoint directory (`ouro model generate`,
//! parity checks and benchmarks).

use super::{Generation, GenerationRequest, Generator, SamplingParams};
use crate::error::{ModelError, Result};

/// The input [`generate_from_dir`] feeds the checkpoint in `dir`: `prompt`
/// itself, or with `chat` one user turn in the checkpoint's chat template.
pub fn prompt_input(dir: &std::path::Path, prompt: &str, chat: bool) -> Result<super::Prompt> {
    let format = if chat {
        crate::chat::PromptFormat::ChatMl
    } else {
        crate::chat::PromptFormat::Plain
    };
    super::Prompt::for_user(
        &crate::chat::PromptRenderer::for_model(dir, format)?,
        prompt,
    )
}

/// Loads a checkpoint directory and samples `n` completions of one prompt
/// (seeds `params.seed + i`, wrapping); `chat` wraps the prompt in ChatML (with
/// SmolLM2's default system prompt when the vocabulary is SmolLM2's).
pub fn generate_from_dir(
    dir: &std::path::Path,
    prompt: &str,
    chat: bool,
    n: usize,
    params: &SamplingParams,
) -> Result<Vec<Generation>> {
    generate_from_dir_with_eos(dir, prompt, chat, n, params, None)
}

/// [`generate_from_dir`] with the EOS ids replaced (`Some(vec![])` samples
/// exactly `max_tokens` tokens, as parity checks and benchmarks need).
pub fn generate_from_dir_with_eos(
    dir: &std::path::Path,
    prompt: &str,
    chat: bool,
    n: usize,
    params: &SamplingParams,
    eos: Option<Vec<u32>>,
) -> Result<Vec<Generation>> {
    let cpu = crate::device::Placement::cpu();
    generate_from_dir_on(
        dir,
        prompt,
        chat,
        n,
        params,
        eos,
        (&cpu, Default::default()),
    )
}

/// [`generate_from_dir_with_eos`] with the weights loaded on `place` (device and dtype),
/// sampling over `weights` (8-bit copies or the model's own).
pub fn generate_from_dir_on(
    dir: &std::path::Path,
    prompt: &str,
    chat: bool,
    n: usize,
    params: &SamplingParams,
    eos: Option<Vec<u32>>,
    (place, weights): (&crate::device::Placement, crate::device::SampleDtype),
) -> Result<Vec<Generation>> {
    let ck = crate::checkpoint::load_for_sampling(dir, (place, weights))?;
    let tok = ck
        .tokenizer
        .as_ref()
        .ok_or_else(|| ModelError::MissingFile {
            path: dir.join(crate::files::TOKENIZER_FILE),
        })?;
    let input = prompt_input(dir, prompt, chat)?;
    let reqs: Vec<GenerationRequest> = (0..n as u64)
        .map(|i| GenerationRequest {
            prompt: input.clone(),
            params: SamplingParams {
                seed: params.seed.wrapping_add(i),
                ..params.clone()
            },
            top_logprobs: 0,
        })
        .collect();
    let mut g = Generator::for_checkpoint(&ck, tok);
    if let Some(eos) = eos {
        g = g.with_eos(eos);
    }
    // Past the trained positions samples are whatever RoPE extrapolation gives; a
    // server refuses such a request, and so does this.
    let context = ck.decoder.config().max_position_embeddings;
    if let Some(r) = reqs.first() {
        let len = g.prompt_ids(&r.prompt)?.len();
        if len + params.max_tokens > context {
            return Err(ModelError::InvalidArgument(format!(
                "the prompt's {len} tokens and max_tokens {} pass the model's context of \
                 {context} positions",
                params.max_tokens
            )));
        }
    }
    g.generate(&reqs)
}
