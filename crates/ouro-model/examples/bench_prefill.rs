//! How the prefill's attention-score budget (`Generator::with_prefill_budget`) trades
//! slices for speed on this machine: one prompt, repeated ROWS times, generating one token
//! (all prefill), timed at several budgets after one untimed pass each. The first budget is
//! timed again at the end, so drift on a noisy machine shows.
//!
//!   bench_prefill MODEL_DIR PROMPT.txt [ROWS=1]
//!   (SmolLM2 f32: scripts/fetch-smollm2.sh, then the HF import scripts/bench-score.sh makes)
#[path = "common/cpu_model.rs"]
mod cpu_model;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: bench_prefill MODEL_DIR PROMPT.txt [ROWS]");
        std::process::exit(2);
    }
    let ck = cpu_model::load(&args[1], ouro_model::SampleDtype::Full)?;
    let tok = ck.tokenizer.as_ref().expect("checked by cpu_model::load");
    let text = std::fs::read_to_string(&args[2])?;
    let rows: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(1);
    let default = ouro_model::generate::PREFILL_SCORE_BUDGET;
    for budget in [32usize << 20, 8 << 20, 4 << 20, 2 << 20, 32 << 20] {
        let g = ouro_model::Generator::new(&ck.decoder, tok).with_prefill_budget(budget);
        let mut req = ouro_model::GenerationRequest::new(
            text.as_str(),
            ouro_model::SamplingParams::default(),
        );
        req.params.max_tokens = 1;
        let reqs = vec![req; rows];
        g.generate(&reqs)?;
        let t = std::time::Instant::now();
        let out = g.generate(&reqs)?;
        let mark = if budget == default { " (default)" } else { "" };
        println!(
            "budget {}M scores{mark}: {:.2} s ({} prompt tokens x {rows})",
            budget >> 20,
            t.elapsed().as_secs_f64(),
            out[0].prompt_tokens
        );
    }
    Ok(())
}
