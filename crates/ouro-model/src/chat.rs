//! Prompt formats: plain text, or ChatML (`<|im_start|>role\n...<|im_end|>`),
//! the template of SmolLM2-Instruct and Qwen2.

use ouro_data::Message;
use tokenizers::Tokenizer;

use crate::config::Config;

/// How a prompt is turned into model input text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptFormat {
    /// The prompt text is the model input, unchanged.
    Plain,
    /// One user turn wrapped in ChatML, ending with the assistant header.
    ChatMl,
}

/// The Jinja template written to `tokenizer_config.json` for ChatML models
/// (the same text SmolLM2-Instruct ships).
pub const CHATML_TEMPLATE: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// Default system prompt SmolLM2's template inserts when none is given.
pub const SMOLLM2_SYSTEM: &str =
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

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

/// A `tokenizer_config.json` so that `AutoTokenizer` loads our `tokenizer.json`;
/// includes the ChatML template when the vocabulary has `<|im_start|>`.
pub fn tokenizer_config(tok: &Tokenizer, cfg: &Config) -> serde_json::Value {
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
    if tok.token_to_id("<|im_start|>").is_some() {
        m.insert("chat_template".into(), CHATML_TEMPLATE.into());
    }
    serde_json::Value::Object(m)
}
