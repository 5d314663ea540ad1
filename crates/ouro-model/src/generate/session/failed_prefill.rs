//! A chunked prefill that fails part way loses its newcomers and nothing else.

use super::*;
use crate::generate::events::NoSink;
use crate::{GenerationRequest, Generator, SamplingParams};
use candle_core::Device;

fn req(prompt: &str, seed: u64, max_tokens: usize) -> GenerationRequest {
    GenerationRequest {
        prompt: prompt.into(),
        params: SamplingParams {
            temperature: 1.0,
            max_tokens,
            seed,
            ..Default::default()
        },
        top_logprobs: 0,
    }
}

#[test]
fn a_prefill_failing_in_a_later_slice_drops_only_its_newcomers() {
    let corpus: Vec<String> = (0..40)
        .map(|i| format!("def f{i}(x):\n    return x * {i} + 1\n\n"))
        .collect();
    let tok = crate::tokenizer::train_bpe(corpus, 300).unwrap();
    let mut cfg = crate::Config::tiny();
    cfg.vocab_size = tok.get_vocab_size(true);
    let vm = crate::init::init_varmap(&cfg, 1, DType::F32, &Device::Cpu).unwrap();
    let d = crate::Decoder::new(
        &cfg,
        candle_nn::VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu),
    )
    .unwrap();
    let g = Generator::new(&d, &tok).with_eos(vec![]);
    let a = req("def", 3, 12);
    let mut s = DecodeSession::new(&g).continuous().chunked_prefill(4);
    let mut done = s.admit([(0, a.clone())], &NoSink).unwrap();
    done.extend(s.step(&NoSink).unwrap());

    // Admission refuses a token id past the vocabulary, so this newcomer is queued by
    // hand: its embedding lookup fails in its third 4-position slice, as a forward that
    // runs out of memory part way would.
    let newcomer = req("def f3(x):\n    return x * 3", 5, 4);
    let mut ids = g.prompt_ids(&newcomer.prompt).unwrap();
    assert!(ids.len() > 10, "{} tokens", ids.len());
    ids[9] = cfg.vocab_size as u32;
    let row = Active::new(7, newcomer, &ids);
    s.prefilling.push_back(Prefill::new(&[ids], vec![row]));
    assert_eq!(s.len(), 2);
    for _ in 0..2 {
        done.extend(s.step(&NoSink).unwrap());
    }
    match s.step(&NoSink) {
        Err(ModelError::Prefill { keys, .. }) => assert_eq!(keys, vec![7]),
        other => panic!("expected the prefill to fail, got {other:?}"),
    }
    assert_eq!(s.len(), 1, "the newcomer is gone, the row in flight is not");
    while !s.is_empty() {
        done.extend(s.step(&NoSink).unwrap());
    }
    let alone = g.generate(&[a]).unwrap().remove(0);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].0, 0);
    assert_eq!(done[0].1.token_ids, alone.token_ids);
    assert_eq!(done[0].1.text, alone.text);
}
