//! A completions or chat request body, checked and turned into what the model thread
//! decodes. Every rejection names the field, as OpenAI's own 400s do.

use ouro_data::Message;
use ouro_model::chat::PromptRenderer;
use ouro_model::{Prompt, SamplingParams};
use serde_json::Value;

use super::{bad, ApiError};

/// Most alternatives listed per token (`logprobs` on completions, `top_logprobs` on
/// chat); OpenAI allows 5 and 20, vLLM 20 by default.
pub(super) const MAX_TOP_LOGPROBS: u64 = 20;

/// A request, checked.
pub(super) struct Parsed {
    pub prompts: Vec<Prompt>,
    pub params: SamplingParams,
    /// Completions per prompt.
    pub n: usize,
    /// `Some(k)` when log-probs were asked for, with `k` alternatives per token.
    pub logprobs: Option<usize>,
    /// `Some` when `stream` is true: whether a last chunk carries the usage.
    pub stream: Option<StreamOptions>,
    /// Completions only: answer each prompt followed by its completion (and, with
    /// log-probs, the prompt's tokens scored too).
    pub echo: bool,
}

pub(super) struct StreamOptions {
    pub include_usage: bool,
}

/// Reads a `/v1/completions` (`chat` false) or `/v1/chat/completions` body.
pub(super) fn parse(
    body: &Value,
    chat: bool,
    renderer: &PromptRenderer,
) -> Result<Parsed, ApiError> {
    unsupported(body)?;
    let echo = flag(body, "echo")?;
    if echo && chat {
        return Err(bad("`echo` applies to /v1/completions only"));
    }
    let prompts = if chat {
        vec![Prompt::Rendered(chat_prompt(body, renderer)?)]
    } else {
        completion_prompts(body)?
    };
    let (params, n) = sampling_params(body, if chat { 512 } else { 16 })?;
    // Scoring a prompt without sampling (echo, max_tokens 0) is how clients ask for a
    // text's log-likelihood.
    if params.max_tokens == 0 && !echo {
        return Err(bad("`max_tokens` must be at least 1 (0 only with `echo`)"));
    }
    let streaming = flag(body, "stream")?;
    let include_usage = match body.get("stream_options") {
        None | Some(Value::Null) => false,
        Some(_) if !streaming => return Err(bad("`stream_options` needs `stream: true`")),
        Some(Value::Object(o)) => match o.get("include_usage") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(bad("`stream_options.include_usage` must be true or false")),
        },
        Some(_) => return Err(bad("`stream_options` must be an object")),
    };
    let stream = streaming.then_some(StreamOptions { include_usage });
    Ok(Parsed {
        prompts,
        params,
        n,
        logprobs: logprobs(body, chat)?,
        stream,
        echo,
    })
}

/// Parameters that would change what is sampled and that this server does not
/// implement: refused unless they hold their neutral value (which clients often send
/// by default), since ignoring them would answer a different request than was asked.
fn unsupported(body: &Value) -> Result<(), ApiError> {
    let n = body.get("n").cloned().unwrap_or(Value::from(1));
    let neutral = |key: &str, v: &Value| match key {
        "logit_bias" => v.as_object().is_some_and(|m| m.is_empty()),
        "presence_penalty" | "frequency_penalty" => v.as_f64() == Some(0.0),
        "repetition_penalty" => v.as_f64() == Some(1.0),
        "best_of" => v.as_u64() == Some(1) || *v == n,
        "response_format" => v.get("type").and_then(Value::as_str) == Some("text"),
        "tools" => v.as_array().is_some_and(|t| t.is_empty()),
        "tool_choice" => v.as_str() == Some("none"),
        "suffix" => v.as_str() == Some(""),
        _ => false,
    };
    for key in [
        "logit_bias",
        "presence_penalty",
        "frequency_penalty",
        "repetition_penalty",
        "best_of",
        "response_format",
        "tools",
        "tool_choice",
        "suffix",
    ] {
        match body.get(key) {
            None | Some(Value::Null) => {}
            Some(v) if neutral(key, v) => {}
            Some(v) => {
                return Err(bad(format!(
                    "`{key}` is not supported by ouro serve (got {v}); leave it out"
                )))
            }
        }
    }
    Ok(())
}

fn flag(body: &Value, key: &str) -> Result<bool, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(bad(format!("`{key}` must be true or false"))),
    }
}

/// Completions take `logprobs: k` (the sampled token and `k` alternatives per token);
/// chat takes `logprobs: true` and `top_logprobs: k`.
fn logprobs(body: &Value, chat: bool) -> Result<Option<usize>, ApiError> {
    let count = |key: &str| -> Result<Option<usize>, ApiError> {
        match body.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_u64() {
                Some(k) if k <= MAX_TOP_LOGPROBS => Ok(Some(k as usize)),
                _ => Err(bad(format!(
                    "`{key}` must be an integer from 0 to {MAX_TOP_LOGPROBS}"
                ))),
            },
        }
    };
    if !chat {
        if body.get("top_logprobs").is_some_and(|v| !v.is_null()) {
            return Err(bad(
                "`top_logprobs` is a chat option; /v1/completions takes `logprobs: k`",
            ));
        }
        return count("logprobs");
    }
    let top = count("top_logprobs")?;
    match (flag(body, "logprobs")?, top) {
        (true, top) => Ok(Some(top.unwrap_or(0))),
        (false, Some(k)) if k > 0 => Err(bad("`top_logprobs` needs `logprobs: true`")),
        (false, _) => Ok(None),
    }
}

/// `prompt`: a string, a list of strings, a list of token ids, or a list of such lists.
fn completion_prompts(body: &Value) -> Result<Vec<Prompt>, ApiError> {
    let ids = |v: &Value| -> Option<Vec<u32>> {
        v.as_array()?
            .iter()
            .map(|x| x.as_u64().and_then(|i| u32::try_from(i).ok()))
            .collect()
    };
    let shape = || {
        bad("`prompt` must be a string, a list of strings, a list of token ids or a list of such lists")
    };
    let prompt = body
        .get("prompt")
        .ok_or_else(|| bad("`prompt` is required"))?;
    let prompts = match prompt {
        Value::String(s) => Ok(vec![Prompt::Text(s.clone())]),
        Value::Array(items) if items.is_empty() => Err(shape()),
        Value::Array(items) if items.iter().all(Value::is_string) => Ok(items
            .iter()
            .filter_map(|s| s.as_str().map(|s| Prompt::Text(s.to_string())))
            .collect()),
        Value::Array(items) if items.iter().all(Value::is_array) => items
            .iter()
            .map(|p| ids(p).map(Prompt::Ids))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(shape),
        _ => ids(prompt).map(|p| vec![Prompt::Ids(p)]).ok_or_else(shape),
    }?;
    // As vLLM: the model would be fed its BOS token, which an echo does not show.
    let empty = |p: &Prompt| match p {
        Prompt::Text(t) => t.is_empty(),
        Prompt::Ids(ids) => ids.is_empty(),
        Prompt::Rendered(_) => false,
    };
    if prompts.iter().any(empty) {
        return Err(bad("`prompt` must not be empty"));
    }
    Ok(prompts)
}

/// The roles a chat message may have (OpenAI's, less `tool` and `function`:
/// tool calls are refused). A typo would otherwise reach the template as a
/// role it renders as it likes.
const CHAT_ROLES: [&str; 4] = ["system", "developer", "user", "assistant"];

/// `messages` rendered with the checkpoint's chat template.
fn chat_prompt(body: &Value, chat: &PromptRenderer) -> Result<String, ApiError> {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| bad("`messages` must be a non-empty list"))?;
    let mut out = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str);
        let content = match m.get("content") {
            Some(Value::String(s)) => Some(s.clone()),
            // Content parts: the text parts, joined. Any other part (an image, audio) would
            // be dropped and the reply would answer a request that was not made.
            Some(Value::Array(parts)) => {
                let mut text = String::new();
                for (j, p) in parts.iter().enumerate() {
                    match (p.get("type").and_then(Value::as_str), p.get("text").and_then(Value::as_str)) {
                        (Some("text") | None, Some(t)) => text.push_str(t),
                        (kind, _) => {
                            return Err(bad(format!(
                                "messages[{i}].content[{j}]: only text parts are served (this is a text model), not {}",
                                kind.map_or("a part without text".to_string(), |k| format!("'{k}'"))
                            )))
                        }
                    }
                }
                Some(text)
            }
            _ => None,
        };
        match (role, content) {
            (Some(role), Some(content)) if CHAT_ROLES.contains(&role) => out.push(Message {
                // OpenAI's newer name for the system turn; templates know only `system`.
                role: if role == "developer" { "system" } else { role }.to_string(),
                content,
            }),
            (Some(role), Some(_)) => {
                return Err(bad(format!(
                    "messages[{i}].role '{role}' is not one of {}",
                    CHAT_ROLES.join(", ")
                )))
            }
            _ => {
                return Err(bad(format!(
                    "messages[{i}] needs a string `role` and `content`"
                )))
            }
        }
    }
    chat.conversation(&out).map_err(|e| bad(e.to_string()))
}

/// Sampling parameters with OpenAI's defaults; `default_max_tokens` differs
/// between completions (16) and chat.
fn sampling_params(
    body: &Value,
    default_max_tokens: u64,
) -> Result<(SamplingParams, usize), ApiError> {
    let f = |k: &str, default: f64| -> Result<f64, ApiError> {
        match body.get(k) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_f64()
                .ok_or_else(|| bad(format!("`{k}` must be a number"))),
        }
    };
    let u = |k: &str| -> Result<Option<u64>, ApiError> {
        match body.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| bad(format!("`{k}` must be a non-negative integer"))),
        }
    };
    let temperature = f("temperature", 1.0)?;
    if !(0.0..=100.0).contains(&temperature) {
        return Err(bad(format!(
            "`temperature` must be in [0, 100], got {temperature}"
        )));
    }
    let top_p = f("top_p", 1.0)?;
    if !(top_p > 0.0 && top_p <= 1.0) {
        return Err(bad(format!("`top_p` must be in (0, 1], got {top_p}")));
    }
    let min_p = f("min_p", 0.0)?;
    if !(0.0..=1.0).contains(&min_p) {
        return Err(bad(format!("`min_p` must be in [0, 1], got {min_p}")));
    }
    // vLLM's "disabled" is -1, OpenAI's is absent; ours is 0.
    let top_k = match body.get("top_k") {
        None | Some(Value::Null) => 0,
        Some(v) => match v.as_i64() {
            Some(k) if k <= 0 => 0,
            Some(k) => k as usize,
            None => return Err(bad("`top_k` must be an integer")),
        },
    };
    let max_tokens = u("max_tokens")?
        .or(u("max_completion_tokens")?)
        .unwrap_or(default_max_tokens);
    let n = u("n")?.unwrap_or(1) as usize;
    if n == 0 {
        return Err(bad("`n` must be at least 1"));
    }
    let seed = match body.get("seed") {
        None | Some(Value::Null) => rand::random::<u32>() as u64,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| bad("`seed` must be a non-negative integer"))?,
    };
    let stop = match body.get("stop") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|s| s.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("`stop` must be a string or a list of strings"))?,
        Some(_) => return Err(bad("`stop` must be a string or a list of strings")),
    };
    // An empty stop sequence matches before the first token: every completion would be "".
    if stop.iter().any(String::is_empty) {
        return Err(bad("`stop` entries must not be empty"));
    }
    Ok((
        SamplingParams {
            temperature,
            top_p,
            top_k,
            min_p,
            max_tokens: max_tokens as usize,
            stop,
            seed,
        },
        n,
    ))
}
