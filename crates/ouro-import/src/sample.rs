//! The one way a generation becomes a [`Sample`]: content id, code
//! extraction (reasoning in `<think>` is not code) and failure bookkeeping.
//! Imports and live sampling (`ouro-sample`) both go through here, so a
//! generation gives the same row whichever way it arrived.

use ouro_data::{Problem, RecordedSampling, Sample};
use ouro_python::extract::{extract_code, ExtractError};

/// One generation as a source gives it, before ids and extraction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Generation {
    pub completion: String,
    pub finish_reason: Option<String>,
    /// Set when the generation failed; the sample then has no code.
    pub error: Option<String>,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
    pub logprob: Option<f64>,
}

impl Generation {
    /// A request that produced nothing: recorded, never dropped.
    pub fn failed(error: String) -> Self {
        Generation {
            finish_reason: Some("error".into()),
            error: Some(error),
            ..Generation::default()
        }
    }
}

/// Where a generation sits: its round, index among the problem's samples,
/// model name and the parameters it was drawn with.
#[derive(Debug, Clone)]
pub struct Provenance<'a> {
    pub round: u32,
    pub index: u32,
    pub model: &'a str,
    pub params: RecordedSampling,
}

/// Builds the sample of `problem` from `generation`.
pub fn to_sample(problem: &Problem, at: Provenance, generation: Generation) -> Sample {
    let (code, extraction_error) = if generation.error.is_some() {
        (None, Some("generation failed".to_string()))
    } else if ouro_python::extract::reasoning_unclosed(&generation.completion) {
        (None, Some(ExtractError::UnclosedReasoning.to_string()))
    } else {
        // A continuation goes on from the starter code, which is the prompt itself
        // where it is code (HumanEval) and the last part of a prose prompt (APPS).
        let continued = match problem.starter_code.as_str() {
            "" => &problem.prompt,
            starter => starter,
        };
        match extract_code(
            &answer_text(&generation.completion),
            continued,
            &problem.entry_point,
        ) {
            Ok(code) => (Some(code), None),
            Err(e) => (None, Some(e.to_string())),
        }
    };
    Sample {
        sample_id: Sample::compute_id(
            &problem.problem_id,
            at.round,
            at.model,
            at.index,
            &generation.completion,
        ),
        problem_id: problem.problem_id.clone(),
        round: at.round,
        index: at.index,
        model: at.model.to_string(),
        params: at.params,
        completion: generation.completion,
        code,
        extraction_error,
        finish_reason: generation.finish_reason,
        generation_error: generation.error,
        prompt_tokens: generation.prompt_tokens,
        completion_tokens: generation.completion_tokens,
        logprob: generation.logprob,
    }
}

/// A round-0 sample whose program is known rather than generated (a
/// reference solution, a mutant of one): no extraction, and the completion
/// is what follows the prompt.
pub fn from_program(problem: &Problem, index: u32, model: &str, program: &str) -> Sample {
    let completion = program
        .strip_prefix(problem.prompt.as_str())
        .unwrap_or(program)
        .to_string();
    Sample {
        sample_id: Sample::compute_id(&problem.problem_id, 0, model, index, &completion),
        problem_id: problem.problem_id.clone(),
        round: 0,
        index,
        model: model.into(),
        params: RecordedSampling::default(),
        completion,
        code: Some(program.to_string()),
        extraction_error: None,
        finish_reason: Some("stop".into()),
        generation_error: None,
        prompt_tokens: None,
        completion_tokens: None,
        logprob: None,
    }
}

/// The answer part of a completion: reasoning kept in `<think>` is not code.
pub fn answer_text(completion: &str) -> String {
    completion[ouro_python::extract::answer_start(completion)..].to_string()
}
