//! Batched sampling throughput of ouro's generator; used by scripts/bench-generate.sh.
//!
//!   bench_generate MODEL_DIR BATCH MAX_TOKENS [PROMPT] [--q8]
//!   bench_generate import FILE.gguf OUT_DIR
//! Prints one JSON line: {"tokens": N, "seconds": S, "tokens_per_s": R, "cpu_seconds": C,
//! "prompt_tokens": P, "model_seconds": M, "token_choice_seconds": H, "first": "..."}: M is the
//! forwards until the logits reach the host, H the host's sampling and stop checks.
//! A 4-token warm-up generation runs first and is not timed. `--q8` samples over 8-bit
//! (Q8_0) copies of the weights (`ouro sample --sample-dtype q8`).

#[path = "common/cpu_model.rs"]
mod cpu_model;
#[path = "common/cpu_time.rs"]
mod cpu_time;
use cpu_time::cpu_seconds;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().collect();
    let q8 = args.iter().any(|a| a == "--q8");
    args.retain(|a| a != "--q8");
    if args.len() == 4 && args[1] == "import" {
        let s = ouro_model::gguf::import_gguf(args[2].as_ref(), args[3].as_ref())?;
        eprintln!(
            "imported {} tensors into {}",
            s.tensor_types.len(),
            s.out_dir.display()
        );
        return Ok(());
    }
    if args.len() < 4 {
        eprintln!("usage: bench_generate MODEL_DIR BATCH MAX_TOKENS [PROMPT]");
        std::process::exit(2);
    }
    let batch: usize = args[2].parse()?;
    let max_tokens: usize = args[3].parse()?;
    let prompt = args
        .get(4)
        .cloned()
        .unwrap_or_else(|| "def fibonacci(n):".to_string());
    let weights = if q8 {
        ouro_model::SampleDtype::Q8
    } else {
        ouro_model::SampleDtype::Full
    };
    let ck = cpu_model::load(&args[1], weights)?;
    let tok = ck.tokenizer.as_ref().expect("checked by cpu_model::load");
    // Sample exactly max_tokens per sequence (no EOS) so both sides do equal work.
    let gen = ouro_model::Generator::new(&ck.decoder, tok)
        .with_eos(vec![])
        .with_max_batch(batch);
    let reqs: Vec<_> = (0..batch as u64)
        .map(|i| ouro_model::GenerationRequest {
            prompt: prompt.clone().into(),
            params: ouro_model::SamplingParams {
                temperature: 0.8,
                top_p: 0.95,
                max_tokens,
                seed: i,
                ..Default::default()
            },
            top_logprobs: 0,
        })
        .collect();
    // Warm-up (allocator, rayon pool, page cache), not timed; transformers' side does the same.
    let warm: Vec<_> = reqs
        .iter()
        .map(|r| ouro_model::GenerationRequest {
            prompt: r.prompt.clone(),
            params: ouro_model::SamplingParams {
                max_tokens: 4,
                ..r.params.clone()
            },
            top_logprobs: 0,
        })
        .collect();
    gen.generate(&warm)?;
    let cpu0 = cpu_seconds();
    let t0 = std::time::Instant::now();
    let (outs, times) = gen.generate_timed(&reqs)?;
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
    let tokens: usize = outs.iter().map(|g| g.completion_tokens).sum();
    println!(
        "{}",
        serde_json::json!({"tokens": tokens, "seconds": secs, "tokens_per_s": tokens as f64 / secs,
            "cpu_seconds": cpu, "prompt_tokens": outs[0].prompt_tokens,
            "model_seconds": times.model_s, "token_choice_seconds": times.choose_s,
            "first": outs[0].text})
    );
    Ok(())
}
