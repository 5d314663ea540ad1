//! The tokenizer of a GGUF file, rebuilt from its `tokenizer.ggml.*` metadata as the
//! byte-level BPE `tokenizer.json` transformers would load.

use std::path::Path;

use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, PreTokenizerWrapper, SplitDelimiterBehavior, Tokenizer};

use super::{meta, meta_str, meta_u64};
use crate::error::{ModelError, Result};

/// Builds a byte-level BPE tokenizer from `tokenizer.ggml.*` metadata.
pub fn tokenizer_from_gguf(c: &Content, path: &Path) -> Result<Tokenizer> {
    let err = |msg: String| ModelError::Tokenizer {
        path: path.into(),
        msg,
    };
    let Some(model) = meta_str(c, "tokenizer.ggml.model") else {
        return Err(err(
            "the file holds no tokenizer (no tokenizer.ggml.model metadata): import a GGUF \
             exported with its tokenizer"
                .into(),
        ));
    };
    if model != "gpt2" {
        return Err(err(format!(
            "tokenizer model '{model}' is not supported (only byte-level BPE 'gpt2')"
        )));
    }
    let strings = |key: &str| -> Result<Vec<String>> {
        let arr = meta(c, key)
            .and_then(|v| v.to_vec().ok())
            .ok_or_else(|| err(format!("missing '{key}'")))?;
        arr.iter()
            .map(|v| {
                v.to_string()
                    .cloned()
                    .map_err(|_| err(format!("'{key}' has a non-string entry")))
            })
            .collect()
    };
    let tokens = strings("tokenizer.ggml.tokens")?;
    let merges: Vec<(String, String)> = strings("tokenizer.ggml.merges")?
        .into_iter()
        .map(|m| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| err(format!("bad merge '{m}'")))
        })
        .collect::<Result<_>>()?;
    let vocab: tokenizers::models::bpe::Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let pre = meta_str(c, "tokenizer.ggml.pre").unwrap_or("default");
    // Llama 3 style vocabularies take a whole pre-token that is itself in the
    // vocabulary as one token, whatever the merges say (llama.cpp and HF agree).
    let ignore_merges = matches!(pre, "llama3" | "llama-v3" | "llama-bpe" | "falcon3");
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .ignore_merges(ignore_merges)
        .build()
        .map_err(|e| err(e.to_string()))?;
    let mut tok = Tokenizer::new(bpe);
    const GPT2: bool = true;
    let pretok: PreTokenizerWrapper = match pre {
        // SmolLM (and the StarCoder-family vocabularies llama.cpp treats alike):
        // digits split one by one, then the GPT-2 byte-level regex.
        "smollm" | "starcoder" | "refact" | "codeshell" => Sequence::new(vec![
            Digits::new(true).into(),
            ByteLevel::new(false, true, GPT2).into(),
        ])
        .into(),
        "qwen2" | "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "smaug-bpe" => {
            let digits = if pre == "qwen2" {
                r"\p{N}"
            } else {
                r"\p{N}{1,3}"
            };
            let re = format!(
                r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{{L}}\p{{N}}]?\p{{L}}+|{digits}| ?[^\s\p{{L}}\p{{N}}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
            );
            let split = Split::new(
                SplitPattern::Regex(re),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map_err(|e| err(e.to_string()))?;
            Sequence::new(vec![
                split.into(),
                ByteLevel::new(false, false, false).into(),
            ])
            .into()
        }
        "default" | "gpt-2" | "gpt2" | "phi-2" => ByteLevel::new(false, true, GPT2).into(),
        // Another rule (deepseek, tekken, gpt-4o, ...) split by GPT-2's would encode
        // digits and punctuation differently from llama.cpp and transformers.
        other => {
            return Err(err(format!(
                "pre-tokenizer 'tokenizer.ggml.pre' = '{other}' is not supported (default, gpt-2, \
                 smollm, starcoder, refact, codeshell, qwen2, llama-bpe, llama3, falcon3, \
                 smaug-bpe); import the Hugging Face checkpoint instead"
            )))
        }
    };
    tok.with_pre_tokenizer(Some(pretok));
    tok.with_decoder(Some(ByteLevelDecoder::new(true, true, true)));
    // Control and user-defined tokens are matched whole, never split by BPE.
    let types: Vec<u64> = meta(c, "tokenizer.ggml.token_type")
        .and_then(|v| v.to_vec().ok())
        .map(|a| {
            a.iter()
                .map(|v| match v {
                    Value::I32(x) => *x as u64,
                    Value::U32(x) => *x as u64,
                    _ => 1,
                })
                .collect()
        })
        .unwrap_or_default();
    let specials: Vec<AddedToken> = types
        .iter()
        .enumerate()
        .filter(|(_, &t)| t == 3 || t == 4)
        .filter_map(|(i, _)| tokens.get(i))
        .map(|t| AddedToken::from(t.clone(), true))
        .collect();
    tok.add_special_tokens(specials)
        .map_err(|e| err(e.to_string()))?;
    // llama.cpp and transformers start a plain prompt with BOS where the GGUF says
    // so (Llama 3's `<|begin_of_text|>`): the tokenizer does it, as Llama 3's own
    // tokenizer.json does with the same post-processor.
    if let Some(Value::Bool(true)) = meta(c, "tokenizer.ggml.add_bos_token") {
        let id = meta_u64(c, "tokenizer.ggml.bos_token_id").ok_or_else(|| {
            err(
                "'tokenizer.ggml.add_bos_token' is set with no 'tokenizer.ggml.bos_token_id'"
                    .into(),
            )
        })?;
        let bos = tokens.get(id as usize).ok_or_else(|| {
            err(format!(
                "'tokenizer.ggml.bos_token_id' {id} is past the vocabulary"
            ))
        })?;
        let post = TemplateProcessing::builder()
            .try_single(format!("{bos} $A"))
            .and_then(|b| b.try_pair(format!("{bos} $A {bos} $B:1")))
            .map_err(|e| err(e.to_string()))?
            .special_tokens(vec![(bos.clone(), id as u32)])
            .build()
            .map_err(|e| err(e.to_string()))?;
        tok.with_post_processor(Some(post));
    }
    Ok(tok)
}
