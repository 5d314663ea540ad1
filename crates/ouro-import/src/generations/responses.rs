//! OpenAI's `/v1/responses` batch output: a Response object in each line's body
//! instead of chat or completions choices.

use serde_json::Value;

use super::Raw;
use crate::jsonl::{kind, Fields, Result};
use crate::sample::Generation;

/// A `/v1/responses` body (a Response object): one answer, its text the `output_text`
/// parts of its message items, a reasoning summary kept in a `<think>` block as chat
/// reasoning is, a refusal or function calls (as JSON) kept when there is no text.
pub(super) fn body(f: &Fields, request_id: String) -> Result<Vec<Raw>> {
    let mut raw = Raw::new(request_id, Some("custom_id"), None);
    let status = f.opt_string("response.body.status")?;
    if matches!(status.as_deref(), Some("failed" | "cancelled")) {
        let message = f
            .get("response.body.error.message")
            .and_then(Value::as_str)
            .unwrap_or("no message");
        raw.generation = Generation::failed(format!(
            "response {}: {message}",
            status.unwrap_or_default()
        ));
        return Ok(vec![raw]);
    }
    let output = f
        .required("response.body.output")?
        .as_array()
        .ok_or_else(|| f.error("response.body.output", "expected a list"))?;
    let (mut text, mut refusal, mut reasoning, mut calls) =
        (String::new(), String::new(), String::new(), Vec::new());
    for (i, item) in output.iter().enumerate() {
        let parts = |key: &str| {
            item.get(key)
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
        };
        match item.get("type").and_then(Value::as_str) {
            Some("message") => {
                for part in parts("content") {
                    let field = || format!("response.body.output.{i}.content");
                    let string = |key: &str| match part.get(key) {
                        Some(Value::String(s)) => Ok(s.as_str()),
                        other => Err(f.error(
                            &field(),
                            format!(
                                "a content part's '{key}': expected a string, found {}",
                                other.map_or("nothing", kind)
                            ),
                        )),
                    };
                    match part.get("type").and_then(Value::as_str) {
                        Some("output_text") => text.push_str(string("text")?),
                        Some("refusal") => refusal.push_str(string("refusal")?),
                        _ => {}
                    }
                }
            }
            Some("reasoning") => {
                for part in parts("summary") {
                    if let Some(t) = part.get("text").and_then(Value::as_str) {
                        reasoning.push_str(t);
                    }
                }
            }
            Some("function_call" | "custom_tool_call") => calls.push(item.clone()),
            _ => {}
        }
    }
    if text.is_empty() {
        text = if !refusal.is_empty() {
            refusal
        } else if !calls.is_empty() {
            Value::Array(calls).to_string()
        } else {
            text
        };
    }
    raw.generation.completion = if reasoning.is_empty() {
        text
    } else {
        format!("<think>\n{reasoning}\n</think>\n{text}")
    };
    raw.model = f.opt_string("response.body.model")?;
    // An answer cut by max_output_tokens is what chat calls finish_reason "length".
    raw.generation.finish_reason = Some(
        match (
            status.as_deref(),
            f.get("response.body.incomplete_details.reason")
                .and_then(Value::as_str),
        ) {
            (Some("incomplete"), Some("max_output_tokens")) => "length",
            (Some("incomplete"), _) => "incomplete",
            _ => "stop",
        }
        .to_string(),
    );
    raw.generation.prompt_tokens = f.opt_u32("response.body.usage.input_tokens")?;
    raw.generation.completion_tokens = f.opt_u32("response.body.usage.output_tokens")?;
    Ok(vec![raw])
}
