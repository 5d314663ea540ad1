//! Generator behaviour: reproducibility per seed, independence from batch
//! composition, stop sequences, max tokens, EOS, log-prob accounting.

mod common;

use candle_core::{DType, Device, Tensor};
use ouro_model::{FinishReason, GenerationRequest, Generator, SamplingParams};

fn setup() -> (ouro_model::Decoder, ouro_model::Tokenizer) {
    let (d, tok, _) = setup_with_vars();
    (d, tok)
}

/// [`setup`] and the var map the decoder's weights live in.
fn setup_with_vars() -> (
    ouro_model::Decoder,
    ouro_model::Tokenizer,
    candle_nn::VarMap,
) {
    let corpus: Vec<String> = (0..60)
        .map(|i| format!("def f{i}(x):\n    return x * {i} + 1\n\n"))
        .collect();
    let tok = ouro_model::tokenizer::train_bpe(corpus, 300).unwrap();
    let mut cfg = ouro_model::Config::tiny();
    cfg.vocab_size = tok.get_vocab_size(true);
    let vm = ouro_model::init::init_varmap(&cfg, 1, DType::F32, &Device::Cpu).unwrap();
    // Larger weights than the 0.02 init so the distribution is far from uniform.
    for v in vm.all_vars() {
        if v.as_tensor().rank() == 2 {
            v.set(&(v.as_tensor() * 25.0).unwrap()).unwrap();
        }
    }
    let d = ouro_model::Decoder::new(
        &cfg,
        candle_nn::VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu),
    )
    .unwrap();
    (d, tok, vm)
}

fn req(prompt: &str, seed: u64, max_tokens: usize) -> GenerationRequest {
    GenerationRequest {
        prompt: prompt.into(),
        params: SamplingParams {
            temperature: 1.0,
            top_p: 0.95,
            max_tokens,
            seed,
            ..Default::default()
        },
        top_logprobs: 0,
    }
}

#[test]
fn a_sample_depends_only_on_its_prompt_params_and_seed_not_on_the_batch() {
    let (d, tok) = setup();
    let g = Generator::new(&d, &tok).with_eos(vec![]);
    let alone = g.generate(&[req("def f3(x):", 42, 12)]).unwrap();
    let batch = g
        .generate(&[
            req("def", 1, 5),
            req("def f3(x):", 42, 12),
            req("def f10(x):\n    return x", 7, 20),
        ])
        .unwrap();
    // Same tokens and text; the summed log-prob may differ in the last float
    // digits because batched matmuls block the sums differently.
    assert_eq!(alone[0].token_ids, batch[1].token_ids);
    assert_eq!(alone[0].text, batch[1].text);
    assert!((alone[0].logprob - batch[1].logprob).abs() < 1e-4);
    assert_eq!(alone[0].completion_tokens, 12);
    assert_eq!(alone[0].finish_reason, FinishReason::Length);
    // a different seed gives a different sample (overwhelmingly likely with 12 draws)
    let other = g.generate(&[req("def f3(x):", 43, 12)]).unwrap();
    assert_ne!(other[0].token_ids, alone[0].token_ids);
}

#[test]
fn summed_logprob_matches_the_training_forward() {
    let (d, tok) = setup();
    let g = Generator::new(&d, &tok).with_eos(vec![]);
    let out = &g.generate(&[req("def f5(x):", 3, 8)]).unwrap()[0];
    let prompt = tok.encode("def f5(x):", false).unwrap().get_ids().to_vec();
    let all: Vec<u32> = prompt.iter().chain(&out.token_ids).copied().collect();
    let n = all.len();
    let ids = Tensor::from_vec(all[..n - 1].to_vec(), (1, n - 1), &Device::Cpu).unwrap();
    let tg = Tensor::from_vec(all[1..].to_vec(), (1, n - 1), &Device::Cpu).unwrap();
    let lp = d
        .token_logprobs(&ids, &tg)
        .unwrap()
        .narrow(1, prompt.len() - 1, out.token_ids.len())
        .unwrap();
    let sum = lp.sum_all().unwrap().to_scalar::<f32>().unwrap() as f64;
    assert!((sum - out.logprob).abs() < 1e-3, "{sum} vs {}", out.logprob);
    assert_eq!(out.prompt_tokens, prompt.len());
}

#[test]
fn stop_sequences_and_eos_end_generation() {
    let (d, tok) = setup();
    // Greedy, then use a piece of the greedy output as the stop sequence.
    let g = Generator::new(&d, &tok).with_eos(vec![]);
    let mut r = req("def f1(x):", 0, 24);
    r.params.temperature = 0.0;
    let full = g.generate(&[r.clone()]).unwrap().remove(0);
    let text = full.text.clone();
    assert!(text.chars().count() >= 4, "{text:?}");
    let cut = text.char_indices().nth(text.chars().count() / 2).unwrap().0;
    let stop: String = text[cut..].chars().take(2).collect();
    r.params.stop = vec![stop.clone()];
    let stopped = g.generate(&[r.clone()]).unwrap().remove(0);
    assert_eq!(stopped.finish_reason, FinishReason::Stop);
    assert!(!stopped.text.contains(&stop));
    assert!(text.starts_with(&stopped.text));
    assert!(stopped.completion_tokens < full.completion_tokens);
    // An empty stop string would end every completion at once: refused, whole or in a
    // session.
    let mut empty = r.clone();
    empty.params.stop.push(String::new());
    let err = g.generate(&[r.clone(), empty.clone()]).unwrap_err();
    assert!(err.to_string().contains("a stop string is empty"), "{err}");
    let mut s = ouro_model::DecodeSession::new(&g);
    assert!(s.admit([(0, empty)], &Tokens::default()).is_err());
    assert!(s.is_empty());
    // EOS: declare the 3rd greedy token as EOS
    let eos = full.token_ids[2];
    let first_eos = full.token_ids.iter().position(|&t| t == eos).unwrap();
    r.params.stop.clear();
    let e = Generator::new(&d, &tok)
        .with_eos(vec![eos])
        .generate(&[r])
        .unwrap()
        .remove(0);
    assert_eq!(e.finish_reason, FinishReason::Stop);
    assert_eq!(e.token_ids, full.token_ids[..=first_eos].to_vec());
}

/// A prefill too big for the score budget runs in slices of query positions against the
/// cache; what comes out must be what one pass gives.
#[test]
fn a_sliced_prefill_generates_what_one_pass_does() {
    let (d, tok) = setup();
    let long = |i: usize| {
        (0..i)
            .map(|k| format!("def f{k}(x):\n    return x * {k} + 1\n"))
            .collect::<String>()
    };
    let reqs: Vec<GenerationRequest> = [(1usize, 3u64), (4, 5), (7, 9)]
        .iter()
        .map(|&(n, seed)| GenerationRequest {
            prompt: long(n).into(),
            params: SamplingParams {
                temperature: 0.0,
                max_tokens: 8,
                seed,
                ..Default::default()
            },
            top_logprobs: 0,
        })
        .collect();
    let longest = reqs
        .iter()
        .map(|r| tok.encode(r.prompt.text().unwrap(), false).unwrap().len())
        .max()
        .unwrap();
    assert!(
        longest > 3 * 16,
        "the prompts span several slices: {longest}"
    );
    let one = Generator::new(&d, &tok)
        .with_eos(vec![])
        .generate(&reqs)
        .unwrap();
    let sliced = Generator::new(&d, &tok)
        .with_eos(vec![])
        .with_prefill_budget(1)
        .generate(&reqs)
        .unwrap();
    for (a, b) in one.iter().zip(&sliced) {
        assert_eq!(a.token_ids, b.token_ids);
        assert!(
            (a.logprob - b.logprob).abs() < 1e-4,
            "{} vs {}",
            a.logprob,
            b.logprob
        );
    }
}

#[test]
fn nan_logits_are_an_error_not_a_stream_of_token_zero() {
    let (d, tok, vm) = setup_with_vars();
    let g = Generator::new(&d, &tok);
    let ok = g.generate(&[req("def f3(x):", 1, 3)]);
    assert!(ok.is_ok(), "{:?}", ok.err());
    // A NaN in the final norm's weight makes every logit NaN.
    let data = vm.data().lock().unwrap();
    let norm = &data["model.norm.weight"];
    let nan = (norm.as_tensor() * f64::NAN).unwrap();
    norm.set(&nan).unwrap();
    drop(data);
    let err = g.generate(&[req("def f3(x):", 1, 3)]).unwrap_err();
    assert!(err.to_string().contains("logits are NaN"), "{err}");
}

/// Collects what a streaming generation reports, per request.
#[derive(Default)]
struct Recorder {
    tokens: std::sync::Mutex<Vec<(usize, u32, f64)>>,
    finished: std::sync::Mutex<Vec<(usize, ouro_model::Generation)>>,
}

impl ouro_model::TokenSink for Recorder {
    fn token(&self, request: usize, t: &ouro_model::TokenLogprob) {
        self.tokens.lock().unwrap().push((request, t.id, t.logprob));
    }
    fn finished(&self, request: usize, g: &ouro_model::Generation) {
        self.finished.lock().unwrap().push((request, g.clone()));
    }
}

#[test]
fn streaming_reports_every_token_in_order_and_generates_what_generate_does() {
    let (d, tok) = setup();
    // Two batches (max_batch 2), so request indices must count across them; one request
    // asks for no tokens at all.
    let reqs: Vec<GenerationRequest> = [(7, 12), (8, 3), (9, 0), (10, 12)]
        .iter()
        .map(|&(seed, n)| req("def f", seed, n))
        .collect();
    let g = Generator::new(&d, &tok).with_max_batch(2);
    let plain = g.generate(&reqs).unwrap();
    let rec = Recorder::default();
    let streamed = g.generate_streaming(&reqs, &rec).unwrap();
    assert_eq!(streamed, plain);
    let tokens = rec.tokens.into_inner().unwrap();
    let finished = rec.finished.into_inner().unwrap();
    assert_eq!(finished.len(), reqs.len(), "each request finishes once");
    for (i, gen) in plain.iter().enumerate() {
        let mine: Vec<u32> = tokens.iter().filter(|t| t.0 == i).map(|t| t.1).collect();
        assert_eq!(mine, gen.token_ids, "request {i}'s tokens, in order");
        let f: Vec<_> = finished.iter().filter(|f| f.0 == i).collect();
        assert_eq!(f.len(), 1);
        assert_eq!(&f[0].1, gen);
        // The per-token log-probs are the terms of the summed one, in order.
        let ids: Vec<u32> = gen.token_logprobs.iter().map(|t| t.id).collect();
        assert_eq!(ids, gen.token_ids);
        let sum = gen.token_logprobs.iter().fold(0.0, |a, t| a + t.logprob);
        assert_eq!(sum, gen.logprob);
        assert!(gen.token_logprobs.iter().all(|t| t.top.is_empty()));
    }
}

#[test]
fn top_logprobs_list_the_likeliest_tokens_and_greedy_picks_the_first() {
    let (d, tok) = setup();
    let mut r = req("def f", 3, 6);
    r.params.temperature = 0.0;
    r.top_logprobs = 4;
    let out = Generator::new(&d, &tok).generate(&[r]).unwrap();
    for t in &out[0].token_logprobs {
        assert_eq!(t.top.len(), 4);
        assert_eq!(
            t.top[0],
            (t.id, t.logprob),
            "greedy takes the most likely token"
        );
        assert!(
            t.top.windows(2).all(|w| w[0].1 >= w[1].1),
            "most likely first"
        );
        assert!(t.top.iter().map(|x| x.1.exp()).sum::<f64>() <= 1.0 + 1e-9);
    }
}

#[test]
fn a_scored_prompt_gives_its_tokens_the_log_probs_sampling_gave_them() {
    let (d, tok) = setup();
    let g = Generator::new(&d, &tok);
    let mut r = req("def f", 5, 8);
    r.params.temperature = 0.0;
    r.top_logprobs = 2;
    let out = g.generate(std::slice::from_ref(&r)).unwrap().remove(0);
    // Token ids are taken as they are: the same prompt as ids generates the same.
    let ids = tok.encode("def f", false).unwrap().get_ids().to_vec();
    let mut by_ids = r.clone();
    by_ids.prompt = ouro_model::Prompt::Ids(ids.clone());
    assert_eq!(g.generate(&[by_ids]).unwrap()[0], out);
    // The prompt and its greedy continuation, scored in one forward: the continuation's
    // log-probs are the ones the cached decode steps sampled with.
    let whole: Vec<u32> = ids.iter().chain(&out.token_ids).copied().collect();
    let (scored_ids, scored) = g
        .prompt_logprobs(&ouro_model::Prompt::Ids(whole.clone()), 2)
        .unwrap();
    assert_eq!(scored_ids, whole);
    assert_eq!(scored.len(), whole.len() - 1, "every token but the first");
    let tail = &scored[ids.len() - 1..];
    for (s, t) in tail.iter().zip(&out.token_logprobs) {
        assert_eq!(s.id, t.id);
        assert!(
            (s.logprob - t.logprob).abs() < 1e-4,
            "{} vs {}",
            s.logprob,
            t.logprob
        );
        assert_eq!(s.top[0].0, t.id, "greedy sampled the likeliest token");
    }
    let err = g
        .prompt_logprobs(&ouro_model::Prompt::Ids(vec![1, 1_000_000]), 0)
        .unwrap_err();
    assert!(err.to_string().contains("outside the vocabulary"), "{err}");
}

#[test]
fn prompts_scored_together_score_as_they_do_alone() {
    let (d, tok) = setup();
    let g = Generator::new(&d, &tok);
    let prompts: Vec<ouro_model::Prompt> = [
        "def f1(x):\n    return x * 1 + 1\n",
        "def f",
        "d",
        "def f22(x):\n",
    ]
    .iter()
    .map(|&p| p.into())
    .collect();
    let together = g.prompts_logprobs(&prompts, 3).unwrap();
    for (p, (ids, scored)) in prompts.iter().zip(&together) {
        let (alone_ids, alone) = g.prompt_logprobs(p, 3).unwrap();
        assert_eq!(ids, &alone_ids);
        assert_eq!(scored.len(), ids.len().saturating_sub(1), "{p:?}");
        for (a, b) in scored.iter().zip(&alone) {
            assert_eq!(a.id, b.id);
            assert!(
                (a.logprob - b.logprob).abs() < 1e-4,
                "{p:?}: {} vs {}",
                a.logprob,
                b.logprob
            );
            assert_eq!(a.top.len(), 3);
        }
    }
}

/// A one-token request sampled from the logits its prompt's scoring forward gave is the
/// one-token request a session generates after a prefill: the same token, text, finish
/// and reported events, to float rounding in the log-probs.
#[test]
fn the_first_token_sampled_from_scoring_logits_is_the_one_a_prefill_gives() {
    let (d, tok) = setup();
    let g = Generator::new(&d, &tok);
    let prompts: Vec<ouro_model::Prompt> = ["def f1(x):\n    return x * 1 + 1\n", "def f", "d"]
        .iter()
        .map(|&p| p.into())
        .collect();
    let both = g.prompts_logprobs_and_next(&prompts, 2).unwrap();
    let scored = g.prompts_logprobs(&prompts, 2).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for (i, (((ids, lps), next), (want_ids, want))) in both.iter().zip(&scored).enumerate() {
        assert_eq!(ids, want_ids);
        assert_eq!(lps.len(), want.len(), "the same tokens scored");
        for (a, b) in lps.iter().zip(want) {
            assert_eq!(
                (a.id, &a.top.iter().map(|t| t.0).collect::<Vec<_>>()),
                (b.id, &b.top.iter().map(|t| t.0).collect::<Vec<_>>())
            );
            assert!((a.logprob - b.logprob).abs() < 1e-4);
        }
        assert_eq!(next.len(), d.config().vocab_size);
        for seed in 0..8 {
            let mut r = req("", seed, 1);
            r.prompt = prompts[i].clone();
            r.top_logprobs = 2;
            if seed == 0 {
                r.params.temperature = 0.0;
            }
            let events = Tokens::default();
            let got = g.sample_first((7, r.clone()), ids, next, &events).unwrap();
            let want = g.generate(std::slice::from_ref(&r)).unwrap().remove(0);
            let at = format!("prompt {i}, seed {seed}");
            assert_eq!(got.token_ids, want.token_ids, "{at}");
            assert_eq!(
                (&got.text, got.finish_reason, got.prompt_tokens),
                (&want.text, want.finish_reason, want.prompt_tokens),
                "{at}"
            );
            assert!((got.logprob - want.logprob).abs() < 1e-4, "{at}");
            let top = |g: &ouro_model::Generation| -> Vec<u32> {
                g.token_logprobs[0].top.iter().map(|t| t.0).collect()
            };
            assert_eq!(top(&got), top(&want), "{at}");
            assert_eq!(
                *events.0.lock().unwrap(),
                vec![(7, got.token_ids[0])],
                "{at}"
            );
            seen.insert(got.token_ids[0]);
        }
    }
    assert!(seen.len() > 3, "the seeds drew different tokens: {seen:?}");
    let mut two = req("def f", 1, 2);
    two.top_logprobs = 0;
    let err = g
        .sample_first((0, two), &both[1].0 .0, &both[1].1, &Tokens::default())
        .unwrap_err();
    assert!(err.to_string().contains("one token"), "{err}");
}

/// Records every streamed token by request key.
#[derive(Default)]
struct Tokens(std::sync::Mutex<Vec<(usize, u32)>>);

impl ouro_model::TokenSink for Tokens {
    fn token(&self, key: usize, t: &ouro_model::TokenLogprob) {
        self.0.lock().unwrap().push((key, t.id));
    }
    fn finished(&self, _: usize, _: &ouro_model::Generation) {}
}

impl Tokens {
    fn count(&self, key: usize) -> usize {
        self.0.lock().unwrap().iter().filter(|t| t.0 == key).count()
    }
}

/// Continuous batching: requests that join a session while others decode (one with a
/// prompt shorter than the cache, one longer) generate what they generate alone, and
/// once the rows that needed the oldest positions finish, the cache drops them.
#[test]
fn requests_joining_a_session_mid_decode_generate_what_they_do_alone() {
    let (d, tok) = setup();
    let g = Generator::new(&d, &tok).with_eos(vec![]);
    let a = req("def f10(x):\n    return x * 10 + 1\n\ndef", 7, 6);
    let b = req("def", 1, 14);
    let c = req(
        "def f3(x):\n    return x * 3 + 1\n\ndef f4(x):\n    return x * 4 + 1\n\ndef f5",
        42,
        5,
    );
    let sink = Tokens::default();
    let mut s = ouro_model::DecodeSession::new(&g).continuous();
    let mut done = s.admit([(0, a.clone())], &sink).unwrap();
    for _ in 0..3 {
        done.extend(s.step(&sink).unwrap());
    }
    let before = s.cache_len();
    done.extend(s.admit([(1, b.clone())], &sink).unwrap());
    assert_eq!(
        s.cache_len(),
        before,
        "a shorter newcomer is padded, not the rows"
    );
    done.extend(s.step(&sink).unwrap());
    let c_len = g.prompt_ids(&c.prompt).unwrap().len();
    assert!(c_len > s.cache_len(), "c must be longer than the cache");
    done.extend(s.admit([(2, c.clone())], &sink).unwrap());
    assert_eq!(s.cache_len(), c_len, "a longer newcomer pads the rows");
    let b_len = g.prompt_ids(&b.prompt).unwrap().len();
    let mut trimmed = false;
    while !s.is_empty() {
        done.extend(s.step(&sink).unwrap());
        if s.len() == 1 && done.iter().all(|(k, _)| *k != 1) {
            // Only b is left: the cache holds its prompt and the tokens fed back.
            assert_eq!(s.cache_len(), b_len + sink.count(1));
            trimmed = true;
        }
    }
    assert!(trimmed, "b outlived a and c");
    assert_eq!(done.len(), 3);
    for (key, r) in [(0, &a), (1, &b), (2, &c)] {
        let alone = generated_as_alone(&g, &done, key, r);
        assert_eq!(sink.count(key), alone.completion_tokens);
    }
}

/// Cancelled rows (their client went away) sample nothing more and never finish, whether
/// decoding or still being prefilled, even when the rest of their prefill group goes
/// on; the other rows generate what they do alone.
#[test]
fn cancelled_rows_stop_and_the_others_generate_what_they_do_alone() {
    let (d, tok) = setup();
    let g = Generator::new(&d, &tok).with_eos(vec![]);
    let a = req("def", 3, 12);
    let b = req("def f1(x):", 9, 30);
    let long = "def f3(x):\n    return x * 3 + 1\n\ndef f4(x):\n    return x * 4 + 1\n\ndef f5";
    let (c, e) = (req(long, 42, 5), req(long, 43, 5));
    let sink = Tokens::default();
    let mut s = ouro_model::DecodeSession::new(&g)
        .continuous()
        .chunked_prefill(4);
    let mut done = s.admit([(0, a.clone()), (1, b.clone())], &sink).unwrap();
    for _ in 0..2 {
        done.extend(s.step(&sink).unwrap());
    }
    // c and e join as one group and are prefilled a slice per step.
    done.extend(s.admit([(2, c.clone()), (3, e.clone())], &sink).unwrap());
    done.extend(s.step(&sink).unwrap());
    assert_eq!(s.len(), 4);
    let b_tokens = sink.count(1);
    s.cancel(&std::collections::HashSet::from([1, 2]));
    assert_eq!(s.len(), 2, "cancelled rows no longer count");
    while !s.is_empty() {
        done.extend(s.step(&sink).unwrap());
    }
    let mut keys: Vec<usize> = done.iter().map(|d| d.0).collect();
    keys.sort();
    assert_eq!(keys, [0, 3], "cancelled rows never finish");
    assert_eq!((sink.count(1), sink.count(2)), (b_tokens, 0));
    for (key, r) in [(0, &a), (3, &e)] {
        generated_as_alone(&g, &done, key, r);
    }
    // A group whose rows are all cancelled is dropped before its prefill ends.
    s.admit([(4, c.clone())], &sink).unwrap();
    s.admit([(5, a.clone())], &sink).unwrap();
    s.cancel(&std::collections::HashSet::from([4]));
    let mut done = Vec::new();
    while !s.is_empty() {
        done.extend(s.step(&sink).unwrap());
    }
    assert_eq!(done.len(), 1);
    generated_as_alone(&g, &done, 5, &a);
}

/// Request `key`'s generation in `done` is what it generates alone (the same tokens and
/// text; the log-prob to float rounding); returns the lone one.
fn generated_as_alone(
    g: &Generator,
    done: &[(usize, ouro_model::Generation)],
    key: usize,
    r: &GenerationRequest,
) -> ouro_model::Generation {
    let alone = g.generate(std::slice::from_ref(r)).unwrap().remove(0);
    let joined = &done.iter().find(|(k, _)| *k == key).unwrap().1;
    assert_eq!(joined.token_ids, alone.token_ids, "request {key}");
    assert_eq!(joined.text, alone.text, "request {key}");
    assert!(
        (joined.logprob - alone.logprob).abs() < 1e-4,
        "request {key}"
    );
    alone
}

/// Chunked prefill: a long prompt that joins runs a slice per step, each step still
/// giving the rows in flight their next token, and every row generates what it does
/// alone.
#[test]
fn a_newcomers_prompt_prefilled_a_slice_per_step_generates_what_it_does_alone() {
    let (d, tok) = setup();
    let g = Generator::new(&d, &tok).with_eos(vec![]);
    let a = req("def", 3, 30);
    let b = req(
        "def f3(x):\n    return x * 3 + 1\n\ndef f4(x):\n    return x * 4 + 1\n\ndef f5",
        42,
        5,
    );
    let c = req("def f1(x):", 9, 4);
    let b_len = g.prompt_ids(&b.prompt).unwrap().len();
    let c_len = g.prompt_ids(&c.prompt).unwrap().len();
    // Two rows (b and c) share each 8-position slice: 4 positions each.
    let slices = b_len.div_ceil(4);
    assert!(
        slices >= 4,
        "b's prompt spans several slices ({b_len} tokens)"
    );
    let sink = Tokens::default();
    let mut s = ouro_model::DecodeSession::new(&g)
        .continuous()
        .chunked_prefill(8);
    let mut done = s.admit([(0, a.clone())], &sink).unwrap();
    assert_eq!(s.len(), 1, "a row being prefilled counts");
    done.extend(s.step(&sink).unwrap());
    assert_eq!(
        sink.count(0),
        1,
        "a short prompt is prefilled and sampled in one step"
    );
    done.extend(s.admit([(1, b.clone()), (2, c.clone())], &sink).unwrap());
    assert_eq!(s.len(), 3);
    for i in 1..slices {
        done.extend(s.step(&sink).unwrap());
        assert_eq!(sink.count(0), 1 + i, "a decodes on while b and c prefill");
        assert_eq!(
            (sink.count(1), sink.count(2)),
            (0, 0),
            "step {i} of {slices}"
        );
    }
    done.extend(s.step(&sink).unwrap());
    assert_eq!(
        (sink.count(1), sink.count(2)),
        (1, 1),
        "sampled once prefilled"
    );
    assert!(c_len < b_len);
    while !s.is_empty() {
        done.extend(s.step(&sink).unwrap());
    }
    assert_eq!(done.len(), 3);
    for (key, r) in [(0, &a), (1, &b), (2, &c)] {
        generated_as_alone(&g, &done, key, r);
    }
}

/// A continuous session keeps finished rows in its cache until an eighth of the rows are
/// done (or newcomers join); the rows decoding beside them are unaffected.
#[test]
fn rows_finishing_one_by_one_in_a_wide_session_generate_what_they_do_alone() {
    let (d, tok) = setup();
    let g = Generator::new(&d, &tok).with_eos(vec![]);
    let prompts = ["def", "def f1(x):", "def f22(x):\n    return"];
    let reqs: Vec<GenerationRequest> = (0..24)
        .map(|i| req(prompts[i % 3], 100 + i as u64, 1 + (i * 7) % 13))
        .collect();
    let sink = Tokens::default();
    let mut s = ouro_model::DecodeSession::new(&g).continuous();
    let mut done = s
        .admit(reqs[..16].iter().cloned().enumerate(), &sink)
        .unwrap();
    let mut steps = 0;
    while !s.is_empty() {
        done.extend(s.step(&sink).unwrap());
        steps += 1;
        if steps == 4 {
            done.extend(
                s.admit((16..24).map(|i| (i, reqs[i].clone())), &sink)
                    .unwrap(),
            );
        }
    }
    assert_eq!(done.len(), reqs.len());
    for (key, r) in reqs.iter().enumerate() {
        let alone = generated_as_alone(&g, &done, key, r);
        assert_eq!(sink.count(key), alone.completion_tokens, "request {key}");
    }
}

#[test]
fn a_text_prompt_whose_tokens_the_model_lacks_is_an_error_not_a_fault() {
    let (_, tok) = setup();
    let mut cfg = ouro_model::Config::tiny();
    cfg.vocab_size = 10;
    let vm = ouro_model::init::init_varmap(&cfg, 1, DType::F32, &Device::Cpu).unwrap();
    let d = ouro_model::Decoder::new(
        &cfg,
        candle_nn::VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu),
    )
    .unwrap();
    let err = Generator::new(&d, &tok)
        .generate(&[req("def f3(x):", 1, 4)])
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("outside the model's vocabulary (0..10)")
            && msg.contains("does not match the checkpoint"),
        "{msg}"
    );
}
