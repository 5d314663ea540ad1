//! Raw generations: OpenAI/vLLM batch output, open-instruct, OpenRLHF and plain JSONL.
//!
//! Every input line becomes at least one [`Sample`]. A batch line whose
//! request failed (null response, non-200 status, an `error` object) becomes
//! a sample with `finish_reason = "error"` and the reason in
//! `generation_error`, so failures are counted instead of silently dropped.

use std::collections::HashMap;
use std::path::Path;

use ouro_data::{Problem, Sample, SamplingParams};
use ouro_python::extract::extract_code;
use serde_json::Value;

use crate::jsonl::{kind, read_jsonl, Fields, Result};

/// A supported generations format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenerationFormat {
    /// OpenAI Batch API output: `{custom_id, response: {status_code, body}, error}`.
    OpenaiBatch,
    /// vLLM's `run_batch` output: the OpenAI batch format.
    Vllm,
    /// open-instruct style: `{id, messages: [.., {role: assistant, content}]}`.
    OpenInstruct,
    /// OpenRLHF style: `{input, output}` matched to problems by prompt text (or an id field).
    Openrlhf,
    /// Plain JSONL: `{problem_id, completion}` (names configurable).
    Jsonl,
}

impl std::str::FromStr for GenerationFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "openai-batch" => Ok(Self::OpenaiBatch),
            "vllm" => Ok(Self::Vllm),
            "open-instruct" => Ok(Self::OpenInstruct),
            "openrlhf" => Ok(Self::Openrlhf),
            "jsonl" => Ok(Self::Jsonl),
            other => Err(format!(
                "unknown generations format '{other}': expected openai-batch, vllm, open-instruct, openrlhf or jsonl"
            )),
        }
    }
}

/// Options of a generations import.
#[derive(Debug, Clone)]
pub struct GenerationImport {
    pub format: GenerationFormat,
    /// Model name to record when the input does not carry one.
    pub model: Option<String>,
    pub round: u32,
    /// Field holding the problem id (`jsonl`, `open-instruct`, `openrlhf`).
    pub id_field: String,
    /// Field holding the completion text (`jsonl`).
    pub completion_field: String,
}

impl Default for GenerationImport {
    fn default() -> Self {
        GenerationImport {
            format: GenerationFormat::Jsonl,
            model: None,
            round: 0,
            id_field: "problem_id".into(),
            completion_field: "completion".into(),
        }
    }
}

/// One generation before ids and extraction are attached.
struct Raw {
    problem_id: String,
    index: Option<u32>,
    model: Option<String>,
    completion: String,
    finish_reason: Option<String>,
    generation_error: Option<String>,
    prompt_tokens: Option<u32>,
    completion_tokens: Option<u32>,
    logprob: Option<f64>,
    params: SamplingParams,
}

impl Raw {
    fn new(problem_id: String, index: Option<u32>) -> Self {
        Raw {
            problem_id,
            index,
            model: None,
            completion: String::new(),
            finish_reason: None,
            generation_error: None,
            prompt_tokens: None,
            completion_tokens: None,
            logprob: None,
            params: SamplingParams::default(),
        }
    }
}

/// Reads generations and turns them into samples of the given problems,
/// extracting the code of each completion.
pub fn import_generations(
    path: &Path,
    problems: &[Problem],
    opts: &GenerationImport,
) -> Result<Vec<Sample>> {
    let lines = read_jsonl(path)?;
    let by_id: HashMap<&str, &Problem> = problems
        .iter()
        .map(|p| (p.problem_id.as_str(), p))
        .collect();
    let by_prompt: HashMap<&str, &Problem> =
        problems.iter().map(|p| (p.prompt.trim(), p)).collect();
    let mut next_index: HashMap<String, u32> = HashMap::new();
    let mut samples = Vec::with_capacity(lines.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for line in &lines {
        let f = Fields::new(path, line);
        let raws = match opts.format {
            GenerationFormat::OpenaiBatch | GenerationFormat::Vllm => batch_line(&f)?,
            GenerationFormat::OpenInstruct => vec![open_instruct_line(&f, &opts.id_field)?],
            GenerationFormat::Openrlhf => vec![openrlhf_line(&f, &opts.id_field, &by_prompt)?],
            GenerationFormat::Jsonl => vec![plain_line(&f, opts)?],
        };
        for raw in raws {
            let problem = by_id.get(raw.problem_id.as_str()).ok_or_else(|| {
                f.error(
                    id_field_name(opts),
                    format!(
                        "unknown problem '{}' (not in the --problems set)",
                        raw.problem_id
                    ),
                )
            })?;
            let counter = next_index.entry(raw.problem_id.clone()).or_insert(0);
            let index = raw.index.unwrap_or(*counter);
            *counter = (*counter).max(index + 1);
            let model = raw
                .model
                .clone()
                .or_else(|| opts.model.clone())
                .unwrap_or_else(|| "unknown".into());
            let sample_id =
                Sample::compute_id(&raw.problem_id, opts.round, &model, index, &raw.completion);
            if let Some(first) = seen.insert(format!("{}#{index}", raw.problem_id), line.number) {
                return Err(f.error(
                    id_field_name(opts),
                    format!(
                        "duplicate generation {}#{index} (first seen on line {first})",
                        raw.problem_id
                    ),
                ));
            }
            let (code, extraction_error) = if raw.generation_error.is_some() {
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
            samples.push(Sample {
                sample_id,
                problem_id: raw.problem_id,
                round: opts.round,
                index,
                model,
                params: raw.params,
                completion: raw.completion,
                code,
                extraction_error,
                finish_reason: raw.finish_reason,
                generation_error: raw.generation_error,
                prompt_tokens: raw.prompt_tokens,
                completion_tokens: raw.completion_tokens,
                logprob: raw.logprob,
            });
        }
    }
    Ok(samples)
}

fn id_field_name(opts: &GenerationImport) -> &str {
    match opts.format {
        GenerationFormat::OpenaiBatch | GenerationFormat::Vllm => "custom_id",
        _ => &opts.id_field,
    }
}

/// The answer part of a completion: reasoning kept in `<think>` is not code.
pub fn answer_text(completion: &str) -> String {
    match completion.rfind("</think>") {
        Some(end) => completion[end + "</think>".len()..].to_string(),
        None => completion.to_string(),
    }
}

/// `custom_id` is `PROBLEM_ID` or `PROBLEM_ID#INDEX`.
fn split_custom_id(custom_id: &str) -> (String, Option<u32>) {
    if let Some((id, index)) = custom_id.rsplit_once('#') {
        if let Ok(i) = index.parse::<u32>() {
            return (id.to_string(), Some(i));
        }
    }
    (custom_id.to_string(), None)
}

fn batch_line(f: &Fields) -> Result<Vec<Raw>> {
    let (problem_id, base_index) = split_custom_id(&f.string("custom_id")?);
    let failed = |reason: String| {
        let mut raw = Raw::new(problem_id.clone(), base_index);
        raw.finish_reason = Some("error".into());
        raw.generation_error = Some(reason);
        Ok(vec![raw])
    };
    if let Some(err) = f.get("error") {
        let message = err
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| err.to_string());
        return failed(format!("batch error: {message}"));
    }
    let Some(response) = f.get("response") else {
        return failed("response is null".into());
    };
    let status = response.get("status_code").and_then(Value::as_u64);
    if status != Some(200) {
        let detail = response
            .pointer("/body/error/message")
            .and_then(Value::as_str)
            .unwrap_or("");
        return failed(format!(
            "HTTP status {}{}{detail}",
            status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "missing".into()),
            if detail.is_empty() { "" } else { ": " }
        ));
    }
    let choices = f
        .required("response.body.choices")?
        .as_array()
        .ok_or_else(|| f.error("response.body.choices", "expected a list"))?;
    if choices.is_empty() {
        return failed("response has no choices".into());
    }
    let model = f.opt_string("response.body.model")?;
    let prompt_tokens = f
        .opt_u64("response.body.usage.prompt_tokens")?
        .map(|n| n as u32);
    let total_completion_tokens = f
        .opt_u64("response.body.usage.completion_tokens")?
        .map(|n| n as u32);
    let mut out = Vec::with_capacity(choices.len());
    for (i, choice) in choices.iter().enumerate() {
        let field = format!("response.body.choices.{i}");
        let index = base_index.map(|b| b + i as u32).or(if choices.len() > 1 {
            Some(i as u32)
        } else {
            None
        });
        let mut raw = Raw::new(problem_id.clone(), index);
        raw.completion = choice_text(f, choice, &field)?;
        raw.model = model.clone();
        raw.finish_reason = choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .map(str::to_string);
        raw.prompt_tokens = prompt_tokens;
        // Usage is per request; it is only this sample's when there is one choice.
        raw.completion_tokens = if choices.len() == 1 {
            total_completion_tokens
        } else {
            None
        };
        raw.logprob = choice_logprob(choice);
        out.push(raw);
    }
    Ok(out)
}

/// Text of a chat (`message.content`, with `reasoning_content`/`reasoning`
/// kept in a `<think>` block) or completions (`text`) choice.
fn choice_text(f: &Fields, choice: &Value, field: &str) -> Result<String> {
    if let Some(message) = choice.get("message") {
        let content = match message.get("content") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                return Err(f.error(
                    &format!("{field}.message.content"),
                    format!("expected a string, found {}", kind(other)),
                ))
            }
        };
        let reasoning = ["reasoning_content", "reasoning"]
            .iter()
            .find_map(|k| message.get(*k).and_then(Value::as_str))
            .filter(|r| !r.is_empty());
        return Ok(match reasoning {
            Some(r) => format!("<think>\n{r}\n</think>\n{content}"),
            None => content,
        });
    }
    match choice.get("text") {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(f.error(
            &format!("{field}.text"),
            format!("expected a string, found {}", kind(other)),
        )),
        None => Err(f.error(
            field,
            "choice has neither 'message' (chat) nor 'text' (completions)",
        )),
    }
}

/// Summed token log-probability, from chat (`logprobs.content[].logprob`) or
/// completions (`logprobs.token_logprobs[]`) choices.
pub fn choice_logprob(choice: &Value) -> Option<f64> {
    let lp = choice.get("logprobs")?;
    if let Some(content) = lp.get("content").and_then(Value::as_array) {
        return Some(
            content
                .iter()
                .filter_map(|t| t.get("logprob").and_then(Value::as_f64))
                .sum(),
        );
    }
    lp.get("token_logprobs")
        .and_then(Value::as_array)
        .map(|v| v.iter().filter_map(Value::as_f64).sum())
}

fn open_instruct_line(f: &Fields, id_field: &str) -> Result<Raw> {
    let id_field = if f.get(id_field).is_some() {
        id_field
    } else {
        "id"
    };
    let messages = f
        .required("messages")?
        .as_array()
        .ok_or_else(|| f.error("messages", "expected a list of messages"))?;
    let last = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("assistant"))
        .ok_or_else(|| f.error("messages", "no assistant message"))?;
    let content = last.get("content").and_then(Value::as_str).ok_or_else(|| {
        f.error(
            "messages[].content",
            "assistant content missing or not a string",
        )
    })?;
    let mut raw = Raw::new(f.string(id_field)?, None);
    raw.completion = content.to_string();
    raw.model = f.opt_string("model")?;
    Ok(raw)
}

fn openrlhf_line(f: &Fields, id_field: &str, by_prompt: &HashMap<&str, &Problem>) -> Result<Raw> {
    let problem_id = match f.get(id_field) {
        Some(_) => f.string(id_field)?,
        None => {
            let input = f.string("input")?;
            match by_prompt.get(input.trim()) {
                Some(p) => p.problem_id.clone(),
                None => return Err(f.error("input", "prompt text matches no problem's prompt (add a problem id field or use --id-field)")),
            }
        }
    };
    let mut raw = Raw::new(problem_id, None);
    raw.completion = f.string("output")?;
    Ok(raw)
}

fn plain_line(f: &Fields, opts: &GenerationImport) -> Result<Raw> {
    let mut raw = Raw::new(
        f.string(&opts.id_field)?,
        f.opt_u64("index")?.map(|i| i as u32),
    );
    raw.completion = f.string(&opts.completion_field)?;
    raw.model = f.opt_string("model")?;
    raw.finish_reason = f.opt_string("finish_reason")?;
    raw.params = SamplingParams {
        temperature: f.opt_f64("temperature")?,
        top_p: f.opt_f64("top_p")?,
        seed: f.opt_u64("seed")?,
        max_tokens: f.opt_u64("max_tokens")?.map(|n| n as u32),
    };
    Ok(raw)
}
