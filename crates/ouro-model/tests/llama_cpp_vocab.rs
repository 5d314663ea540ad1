//! Opt-in: ouro's GGUF tokenizer against llama.cpp's reference tokenizations.
//!
//! llama.cpp ships vocab-only GGUFs with `.inp` (texts separated by
//! `\n__ggml_vocab_test__\n`) and `.out` (one line of token ids per text) files;
//! llama-cpp-python's sdist vendors them. For every byte-level BPE vocabulary
//! whose pre-tokenizer ouro implements, each text must encode to exactly the
//! reference ids (llama.cpp's test encodes without special-token parsing or BOS).
//! `starcoder` uses the same pre-tokenizer as SmolLM2's `smollm`.
//!
//!   python3 -m pip download --no-deps --no-binary llama-cpp-python --dest /tmp/sd llama-cpp-python
//!   tar xzf /tmp/sd/llama_cpp_python-*.tar.gz -C /tmp/sd
//!   OURO_LLAMA_CPP_SDIST=$(echo /tmp/sd/llama_cpp_python-*/) \
//!     cargo test -p ouro-model --test llama_cpp_vocab -- --ignored --nocapture
//! (scripts/smollm2-parity.sh does this as its first step.)

use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::Content;

/// Vocabularies ouro's importer builds (byte-level BPE with a known pre-tokenizer).
const VOCABS: &[&str] = &["gpt-2", "starcoder", "llama-bpe", "qwen2", "refact"];

fn models_dir() -> Option<PathBuf> {
    let root = std::env::var_os("OURO_LLAMA_CPP_SDIST")?;
    Some(PathBuf::from(root).join("vendor/llama.cpp/models"))
}

fn reference(gguf: &Path) -> Vec<(String, Vec<u32>)> {
    let inp = std::fs::read_to_string(gguf.with_extension("gguf.inp")).unwrap();
    let out = std::fs::read_to_string(gguf.with_extension("gguf.out")).unwrap();
    // llama.cpp's reader: a trailing separator does not start another text.
    let sep = "\n__ggml_vocab_test__\n";
    let texts: Vec<&str> = inp.strip_suffix(sep).unwrap_or(&inp).split(sep).collect();
    let ids: Vec<Vec<u32>> = out
        .lines()
        .map(|l| l.split_whitespace().map(|t| t.parse().unwrap()).collect())
        .collect();
    assert_eq!(
        texts.len(),
        ids.len(),
        "{}: .inp/.out disagree",
        gguf.display()
    );
    texts.into_iter().map(String::from).zip(ids).collect()
}

#[test]
#[ignore]
fn gguf_tokenizers_match_llama_cpp_reference_tokenizations() {
    let Some(dir) = models_dir() else {
        eprintln!("skipping: set OURO_LLAMA_CPP_SDIST to an extracted llama-cpp-python sdist");
        return;
    };
    let mut failures = Vec::new();
    let mut total = 0;
    for name in VOCABS {
        let path = dir.join(format!("ggml-vocab-{name}.gguf"));
        let mut f =
            std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let content = Content::read(&mut f).unwrap();
        let tok = ouro_model::gguf::tokenizer_from_gguf(&content, &path).unwrap();
        let cases = reference(&path);
        let mut ok = 0;
        for (text, want) in &cases {
            let got = tok.encode(text.as_str(), false).unwrap().get_ids().to_vec();
            if &got == want {
                ok += 1;
            } else {
                failures.push(format!("{name}: {text:?}\n  want {want:?}\n  got  {got:?}"));
            }
        }
        total += cases.len();
        eprintln!("{name}: {ok}/{} reference tokenizations match", cases.len());
    }
    assert!(
        failures.is_empty(),
        "{} of {total} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// SmolLM2's own vocabulary: the tokenizer ouro imports from the Q4_1 GGUF against
/// llama-cpp-python's tokenization of the same texts (dumped by scripts/smollm2_tokens.py;
/// scripts/smollm2-parity.sh runs both).
///
///   OURO_SMOLLM2_TOKENS=$PWD/scripts/.cache/smollm2/llama-tokens.json \
///     cargo test -p ouro-model --test llama_cpp_vocab -- --ignored --nocapture
#[test]
#[ignore]
fn smollm2_tokenizer_matches_llama_cpp() {
    let Some(cases) = std::env::var_os("OURO_SMOLLM2_TOKENS") else {
        eprintln!("skipping: set OURO_SMOLLM2_TOKENS (scripts/smollm2_tokens.py writes it)");
        return;
    };
    let gguf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts/.cache/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    let mut f = std::fs::File::open(&gguf).unwrap_or_else(|e| panic!("{}: {e}", gguf.display()));
    let content = Content::read(&mut f).unwrap();
    let tok = ouro_model::gguf::tokenizer_from_gguf(&content, &gguf).unwrap();
    let cases: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&cases).unwrap()).unwrap();
    let mut failures = Vec::new();
    for c in &cases {
        let text = c["text"].as_str().unwrap();
        let want: Vec<u32> = c["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let got = tok.encode(text, false).unwrap().get_ids().to_vec();
        if got != want {
            failures.push(format!("{text:?}\n  want {want:?}\n  got  {got:?}"));
        }
    }
    eprintln!(
        "smollm2: {}/{} llama-cpp-python tokenizations match",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
