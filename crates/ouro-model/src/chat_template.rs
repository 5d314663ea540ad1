//! A checkpoint's own Jinja chat template, rendered the way transformers'
//! `apply_chat_template` renders it.
//!
//! transformers compiles templates in a sandboxed jinja2 environment with
//! `trim_blocks` and `lstrip_blocks` on, a `raise_exception` global, a
//! `strftime_now` global and its own `tojson` (Python's `json.dumps` with
//! `ensure_ascii=False`, not jinja2's HTML-escaping filter). Python string
//! methods (`.strip()`, `.startswith()`, ...) come from minijinja-contrib's
//! pycompat layer. Anything else a template leans on (`namespace`, loop
//! variables, slicing) is plain Jinja that minijinja implements.

use std::path::{Path, PathBuf};

use minijinja::value::{Serde, Value};
use minijinja::{Environment, Error as JinjaError, ErrorKind};
use ouro_data::Message;

use crate::error::{ModelError, Result};
use crate::files::TOKENIZER_CONFIG_FILE;

/// The file newer transformers versions save the template to, beside
/// `tokenizer_config.json`.
pub const CHAT_TEMPLATE_FILE: &str = "chat_template.jinja";

/// A compiled chat template with the special tokens it may print.
pub struct ChatTemplate {
    env: Environment<'static>,
    source: String,
    bos_token: String,
    eos_token: String,
    /// The tokenizer's other special tokens that it names (`unk_token`, `pad_token`,
    /// ...), which transformers hands every template too.
    other_tokens: Vec<(&'static str, String)>,
    /// Where the template came from, for errors.
    origin: PathBuf,
}

/// The special tokens besides BOS and EOS that transformers passes a template
/// (its `special_tokens_map`), where the tokenizer config names them.
const OTHER_TOKENS: [&str; 5] = [
    "unk_token",
    "pad_token",
    "sep_token",
    "cls_token",
    "mask_token",
];

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("origin", &self.origin)
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .finish_non_exhaustive()
    }
}

impl Clone for ChatTemplate {
    fn clone(&self) -> Self {
        let mut t = Self::new(
            &self.source,
            &self.bos_token,
            &self.eos_token,
            self.origin.clone(),
        )
        .expect("a template that compiled once compiles again");
        t.other_tokens = self.other_tokens.clone();
        t
    }
}

/// Python's string methods as pycompat gives them, but `str.title()` as Python has it:
/// pycompat starts a word only after whitespace, where Python starts one after any
/// character without case (`o'neil` -> `O'Neil`, `x2y` -> `X2Y`).
fn python_methods(
    state: &mut minijinja::State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> std::result::Result<Value, JinjaError> {
    if let (Some(s), "title") = (value.as_str(), method) {
        let () = minijinja::value::from_args(args)?;
        let mut out = String::with_capacity(s.len());
        let mut after_cased = false;
        for c in s.chars() {
            let cased = c.is_lowercase() || c.is_uppercase();
            if cased && after_cased {
                out.extend(c.to_lowercase());
            } else if cased {
                out.extend(c.to_uppercase());
            } else {
                out.push(c);
            }
            after_cased = cased;
        }
        return Ok(Value::from(out));
    }
    minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
}

impl ChatTemplate {
    /// Compiles `source`. `origin` names the file in errors.
    pub fn new(source: &str, bos_token: &str, eos_token: &str, origin: PathBuf) -> Result<Self> {
        let mut env = Environment::new();
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .build()
                .expect("the default delimiters are valid"),
        );
        env.set_unknown_method_callback(python_methods);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_filter("tojson", json::tojson);
        env.add_template_owned("chat", source.to_string())
            .map_err(|e| template_error(&origin, &e))?;
        Ok(Self {
            env,
            source: source.to_string(),
            bos_token: bos_token.to_string(),
            eos_token: eos_token.to_string(),
            other_tokens: Vec::new(),
            origin,
        })
    }

    /// The template of the checkpoint in `dir`: `chat_template.jinja` when present,
    /// else `tokenizer_config.json`'s `chat_template` (a string, or a list of named
    /// templates, of which "default" is taken). `None` when the checkpoint has none.
    pub fn from_model_dir(dir: &Path) -> Result<Option<Self>> {
        let cfg = tokenizer_config(dir)?;
        let bos = special_token(&cfg, "bos_token");
        let eos = special_token(&cfg, "eos_token");
        let Some((source, origin)) = source_in(dir, &cfg)? else {
            return Ok(None);
        };
        let mut t = Self::new(&source, &bos, &eos, origin)?;
        // A template printing `unk_token` or `pad_token` had printed nothing.
        t.other_tokens = OTHER_TOKENS
            .iter()
            .map(|&name| (name, special_token(&cfg, name)))
            .filter(|(_, token)| !token.is_empty())
            .collect();
        Ok(Some(t))
    }

    /// `tokenizer_config.json`'s `eos_token` in `dir` (transformers' `tokenizer.eos_token`,
    /// which TRL appends to completions), when it names one.
    pub fn configured_eos_token(dir: &Path) -> Result<Option<String>> {
        let eos = special_token(&tokenizer_config(dir)?, "eos_token");
        Ok((!eos.is_empty()).then_some(eos))
    }

    /// The template text of the checkpoint in `dir`, uncompiled (what a checkpoint
    /// trained from it must keep).
    pub fn source_in_dir(dir: &Path) -> Result<Option<String>> {
        Ok(source_in(dir, &tokenizer_config(dir)?)?.map(|(s, _)| s))
    }

    /// The template text, as the checkpoint holds it.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders a conversation of plain role/content messages.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        self.render_json::<Message, Message>(messages, None, add_generation_prompt)
    }

    /// Renders messages of any shape (tool calls, tool results) and an optional
    /// tool list, as `apply_chat_template(messages, tools=...)` does. Maps keep
    /// the order they serialise in ([`OrderedJson`] keeps a file's).
    pub fn render_json<M: serde::Serialize, T: serde::Serialize>(
        &self,
        messages: &[M],
        tools: Option<&[T]>,
        add_generation_prompt: bool,
    ) -> Result<String> {
        let tmpl = self
            .env
            .get_template("chat")
            .map_err(|e| template_error(&self.origin, &e))?;
        let mut ctx: std::collections::BTreeMap<&str, Value> = self
            .other_tokens
            .iter()
            .map(|(name, token)| (*name, Value::from(token.as_str())))
            .collect();
        ctx.extend([
            ("messages", Value::from(Serde(messages))),
            ("tools", Value::from(tools.map(|t| Value::from(Serde(t))))),
            ("add_generation_prompt", Value::from(add_generation_prompt)),
            ("bos_token", Value::from(self.bos_token.as_str())),
            ("eos_token", Value::from(self.eos_token.as_str())),
        ]);
        // A template that parsed fails on what it was given (a message without
        // `content`, roles out of order, its own `raise_exception`): say so rather
        // than blame the checkpoint's config.
        tmpl.render(ctx).map_err(|e| ModelError::Render {
            template: self.origin.clone(),
            msg: jinja_message(&e),
        })
    }

    /// The rendered conversation and the byte ranges of each assistant turn: from
    /// the end of the generation prompt that precedes it to the end of what the turn
    /// adds (its closing marker and the newline after it, as TRL trains them). Found
    /// by rendering prefixes of the conversation, so a template that rewrites earlier
    /// turns when later ones follow is an error.
    pub fn render_with_assistant_ranges(
        &self,
        messages: &[Message],
    ) -> Result<(String, Vec<(usize, usize)>)> {
        let full = self.render(messages, false)?;
        let mut ranges = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            if m.role != "assistant" {
                continue;
            }
            let before = self.render(&messages[..i], true)?;
            let through = self.render(&messages[..=i], false)?;
            if !through.starts_with(&before) || !full.starts_with(&through) {
                return Err(ModelError::Config {
                    path: self.origin.clone(),
                    msg: format!(
                        "chat_template: rendering messages 0..{i} is not a prefix of the whole \
                         conversation, so assistant turn {i} cannot be located for the loss mask"
                    ),
                });
            }
            ranges.push((before.len(), through.len()));
        }
        Ok((full, ranges))
    }

    /// A prompt and a reply rendered apart, as TRL does for conversational
    /// prompt-completion and preference data: the prompt with its generation header,
    /// and all the text the whole conversation adds after it.
    pub fn render_prompt_and_reply(
        &self,
        prompt: &[Message],
        reply: &[Message],
    ) -> Result<(String, String)> {
        let head = self.render(prompt, true)?;
        let all: Vec<Message> = prompt.iter().chain(reply).cloned().collect();
        let whole = self.render(&all, false)?;
        let Some(rest) = whole.strip_prefix(&head) else {
            return Err(ModelError::Config {
                path: self.origin.clone(),
                msg: "chat_template: the prompt rendered with its generation header is not a \
                      prefix of the prompt and reply rendered together"
                    .into(),
            });
        };
        Ok((head, rest.to_string()))
    }
}

fn tokenizer_config(dir: &Path) -> Result<serde_json::Value> {
    let path = dir.join(TOKENIZER_CONFIG_FILE);
    if !path.exists() {
        return Ok(serde_json::Value::Null);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| ModelError::io(&path, e))?;
    serde_json::from_str(&text).map_err(|e| ModelError::Json {
        path,
        msg: e.to_string(),
    })
}

/// The template text and the file it came from.
fn source_in(dir: &Path, cfg: &serde_json::Value) -> Result<Option<(String, PathBuf)>> {
    let jinja = dir.join(CHAT_TEMPLATE_FILE);
    if jinja.exists() {
        let source = std::fs::read_to_string(&jinja).map_err(|e| ModelError::io(&jinja, e))?;
        return Ok(Some((source, jinja)));
    }
    let cfg_path = dir.join(TOKENIZER_CONFIG_FILE);
    let source = template_source(cfg).map_err(|msg| ModelError::Json {
        path: cfg_path.clone(),
        msg,
    })?;
    Ok(source.map(|s| (s, cfg_path)))
}

fn template_error(origin: &Path, e: &JinjaError) -> ModelError {
    ModelError::Config {
        path: origin.into(),
        msg: format!("chat_template: {}", jinja_message(e)),
    }
}

/// A minijinja error with its chain of causes.
fn jinja_message(e: &JinjaError) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    msg
}

/// `chat_template` of a tokenizer config: a string, or `[{name, template}]`.
fn template_source(cfg: &serde_json::Value) -> std::result::Result<Option<String>, String> {
    match cfg.get("chat_template") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        Some(serde_json::Value::Array(named)) => {
            let pick = named
                .iter()
                .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
                .or_else(|| named.first());
            match pick
                .and_then(|t| t.get("template"))
                .and_then(|t| t.as_str())
            {
                Some(s) => Ok(Some(s.to_string())),
                None => Err(
                    "chat_template: a list of templates needs {\"name\", \"template\"} \
                             entries, one named \"default\""
                        .into(),
                ),
            }
        }
        Some(other) => Err(format!(
            "chat_template: expected a string or a list of named templates, found {other}"
        )),
    }
}

/// A special token of a tokenizer config: a string or an `AddedToken` object.
fn special_token(cfg: &serde_json::Value, key: &str) -> String {
    match cfg.get(key) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Object(o)) => o
            .get("content")
            .and_then(|c| c.as_str())
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    }
}

fn raise_exception(msg: String) -> std::result::Result<Value, JinjaError> {
    Err(JinjaError::new(ErrorKind::InvalidOperation, msg))
}

/// transformers' `strftime_now(format)`: the current UTC time. Only the common
/// directives are supported; templates use it for "Today Date: %d %b %Y".
fn strftime_now(format: String) -> std::result::Result<Value, JinjaError> {
    Ok(Value::from(ouro_data::datetime::strftime_utc(
        &format,
        ouro_data::datetime::now_secs(),
    )))
}

mod json;

pub use json::OrderedJson;

#[cfg(test)]
mod tests;
