//! Prompt formats: plain text, or chat: the checkpoint's own Jinja template
//! ([`ChatTemplate`]), ChatML (`<|im_start|>role\n...<|im_end|>`) when it has none.

use std::path::Path;

use ouro_data::Message;
use tokenizers::Tokenizer;

use crate::chat_template::ChatTemplate;
use crate::config::Config;
use crate::error::{ModelError, Result};

/// How a prompt is turned into model input text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptFormat {
    /// The prompt text is the model input, unchanged.
    Plain,
    /// One user turn in the checkpoint's chat template (ChatML when it has
    /// none), ending with the assistant header. Spelled `chatml` or `chat`.
    #[serde(alias = "chat")]
    ChatMl,
}

/// How prompts are turned into input text for one particular checkpoint.
#[derive(Debug, Clone)]
pub enum PromptRenderer {
    Plain,
    /// The checkpoint's chat template (see [`model_chat_template`]).
    Chat(Box<ChatTemplate>),
}

impl PromptRenderer {
    /// The renderer `format` means for the checkpoint in `dir`.
    pub fn for_model(dir: &Path, format: PromptFormat) -> Result<Self> {
        Ok(match format {
            PromptFormat::Plain => Self::Plain,
            PromptFormat::ChatMl => Self::Chat(Box::new(model_chat_template(dir)?)),
        })
    }

    /// The input for one user prompt.
    pub fn prompt(&self, prompt: &str) -> Result<String> {
        match self {
            Self::Plain => Ok(prompt.to_string()),
            Self::Chat(t) => t.render(
                &[Message {
                    role: "user".into(),
                    content: prompt.to_string(),
                }],
                true,
            ),
        }
    }

    /// The input for a conversation, ending with the assistant's generation
    /// header (plain: the contents, one per line).
    pub fn conversation(&self, messages: &[Message]) -> Result<String> {
        match self {
            Self::Plain => Ok(messages
                .iter()
                .map(|m| m.content.as_str())
                .collect::<Vec<_>>()
                .join("\n")),
            Self::Chat(t) => t.render(messages, true),
        }
    }
}

/// The chat template of the checkpoint in `dir` (or a training run's output, see
/// [`crate::checkpoint::resolve_model_dir`]): its own when it has one, else
/// ChatML (after SmolLM2's default system turn for SmolLM2's vocabulary, as
/// SmolLM2's template does).
pub fn model_chat_template(dir: &Path) -> Result<ChatTemplate> {
    let dir = &crate::files::resolve_model_dir(dir)?;
    if let Some(t) = ChatTemplate::from_model_dir(dir)? {
        return Ok(t);
    }
    let file = dir.join(crate::files::TOKENIZER_FILE);
    let tok = Tokenizer::from_file(&file).map_err(|e| ModelError::Tokenizer {
        path: file.clone(),
        msg: e.to_string(),
    })?;
    let system = (tok.get_vocab_size(true) == SMOLLM2_VOCAB).then_some(SMOLLM2_SYSTEM);
    ChatTemplate::new(&chatml_template(system), "", "", file)
}

/// SmolLM2's default system prompt, which its template inserts when none is given.
pub const SMOLLM2_SYSTEM: &str =
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

/// SmolLM2's vocabulary size: a checkpoint with this vocabulary and no template
/// of its own gets SmolLM2's template (ChatML after a default system turn).
pub const SMOLLM2_VOCAB: usize = 49152;

/// The ChatML Jinja template, with `default_system` inserted first when a
/// conversation has no system turn (SmolLM2-Instruct ships exactly this with
/// [`SMOLLM2_SYSTEM`]).
pub fn chatml_template(default_system: Option<&str>) -> String {
    let system = default_system
        .map(|s| {
            format!(
                "{{% if loop.first and messages[0]['role'] != 'system' %}}{{{{ '<|im_start|>system\n{s}<|im_end|>\n' }}}}{{% endif %}}"
            )
        })
        .unwrap_or_default();
    format!(
        "{{% for message in messages %}}{system}{{{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}}}{{% endfor %}}{{% if add_generation_prompt %}}{{{{ '<|im_start|>assistant\n' }}}}{{% endif %}}"
    )
}

/// Renders messages as ChatML with the assistant generation header appended.
/// `default_system` is inserted first when the conversation has no system turn.
pub fn chatml(messages: &[Message], default_system: Option<&str>) -> String {
    let mut s = String::new();
    if let Some(sys) = default_system {
        if messages.first().map(|m| m.role.as_str()) != Some("system") {
            s.push_str(&format!("<|im_start|>system\n{sys}<|im_end|>\n"));
        }
    }
    for m in messages {
        s.push_str(&format!(
            "<|im_start|>{}\n{}<|im_end|>\n",
            m.role, m.content
        ));
    }
    s.push_str("<|im_start|>assistant\n");
    s
}

/// Formats one user prompt.
pub fn format_prompt(prompt: &str, format: PromptFormat, default_system: Option<&str>) -> String {
    match format {
        PromptFormat::Plain => prompt.to_string(),
        PromptFormat::ChatMl => chatml(
            &[Message {
                role: "user".into(),
                content: prompt.to_string(),
            }],
            default_system,
        ),
    }
}

/// A `tokenizer_config.json` so that `AutoTokenizer` loads our `tokenizer.json`.
/// Its `chat_template` is `chat_template` (the template of the checkpoint this
/// one came from) or, when that is `None` and the vocabulary has `<|im_start|>`,
/// ChatML (SmolLM2's, for SmolLM2's vocabulary).
pub fn tokenizer_config(
    tok: &Tokenizer,
    cfg: &Config,
    chat_template: Option<&str>,
) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    m.insert("tokenizer_class".into(), "PreTrainedTokenizerFast".into());
    m.insert(
        "model_max_length".into(),
        cfg.max_position_embeddings.into(),
    );
    let name = |id: Option<u32>| id.and_then(|i| tok.id_to_token(i));
    let first = |v: &Option<serde_json::Value>| -> Option<u32> {
        match v {
            Some(serde_json::Value::Number(n)) => n.as_u64().map(|x| x as u32),
            Some(serde_json::Value::Array(a)) => {
                a.first().and_then(|x| x.as_u64()).map(|x| x as u32)
            }
            _ => None,
        }
    };
    if let Some(b) = name(first(&cfg.bos_token_id)) {
        m.insert("bos_token".into(), b.into());
    }
    if let Some(e) = name(first(&cfg.eos_token_id)) {
        m.insert("eos_token".into(), e.clone().into());
        m.insert("pad_token".into(), e.into());
    }
    if let Some(t) = chat_template {
        m.insert("chat_template".into(), t.into());
    } else if tok.token_to_id("<|im_start|>").is_some() {
        let system = (tok.get_vocab_size(true) == SMOLLM2_VOCAB).then_some(SMOLLM2_SYSTEM);
        m.insert("chat_template".into(), chatml_template(system).into());
    }
    serde_json::Value::Object(m)
}
