//! Turning one generation into a [`Sample`], exactly as the importer does.

use ouro_data::{Sample, SamplingParams};
use ouro_import::generations::answer_text;
use ouro_python::extract::extract_code;

use crate::{Job, SampleOptions};

/// One generation as a backend returns it, before ids and extraction.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Raw {
    pub completion: String,
    pub finish_reason: Option<String>,
    /// Set when the generation failed; the sample then has no code.
    pub error: Option<String>,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
    pub logprob: Option<f64>,
}

impl Raw {
    pub fn failed(error: String) -> Self {
        Raw {
            finish_reason: Some("error".into()),
            error: Some(error),
            ..Raw::default()
        }
    }
}

pub(crate) fn to_sample(job: &Job, opts: &SampleOptions, model: &str, raw: Raw) -> Sample {
    let problem = job.problem;
    let (code, extraction_error) = if raw.error.is_some() {
        (None, Some("generation failed".to_string()))
    } else {
        match extract_code(
            &answer_text(&raw.completion),
            &problem.prompt,
            &problem.entry_point,
        ) {
            Ok(code) => (Some(code), None),
            Err(e) => (None, Some(e.to_string())),
        }
    };
    Sample {
        sample_id: Sample::compute_id(
            &problem.problem_id,
            opts.round,
            model,
            job.index,
            &raw.completion,
        ),
        problem_id: problem.problem_id.clone(),
        round: opts.round,
        index: job.index,
        model: model.to_string(),
        params: SamplingParams {
            temperature: Some(opts.temperature),
            top_p: Some(opts.top_p),
            seed: Some(job.seed),
            max_tokens: Some(opts.max_tokens),
        },
        completion: raw.completion,
        code,
        extraction_error,
        finish_reason: raw.finish_reason,
        generation_error: raw.error,
        prompt_tokens: raw.prompt_tokens,
        completion_tokens: raw.completion_tokens,
        logprob: raw.logprob,
    }
}
