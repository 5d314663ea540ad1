//! Prompt scoring (the log-likelihoods `ouro serve` answers `echo` requests with, the
//! shape lm-evaluation-harness's loglikelihood tasks send); used by scripts/bench-score.sh.
//!
//!   bench_score MODEL_DIR IDS.json OUT.json [REPEATS=3]
//! IDS.json is `{"prompts": [[id, ...], ...]}`. The prompts are scored with
//! `Generator::prompts_logprobs` once untimed (warm-up), then REPEATS times; OUT.json gets
//! `{"tokens": N, "seconds": best, "tokens_per_s": R, "cpu_seconds": C, "logprobs": [[...]]}`,
//! where N counts the scored positions (each prompt's length minus one) and C is the process
//! CPU time of the best repeat.

#[path = "common/cpu_model.rs"]
mod cpu_model;
#[path = "common/cpu_time.rs"]
mod cpu_time;
use cpu_time::cpu_seconds;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: bench_score MODEL_DIR IDS.json OUT.json [REPEATS]");
        std::process::exit(2);
    }
    let repeats: usize = args.get(4).map(|r| r.parse()).transpose()?.unwrap_or(3);
    let ids: serde_json::Value = serde_json::from_slice(&std::fs::read(&args[2])?)?;
    let prompts: Vec<ouro_model::generate::Prompt> = ids["prompts"]
        .as_array()
        .ok_or("IDS.json: no \"prompts\" array")?
        .iter()
        .map(|p| {
            serde_json::from_value::<Vec<u32>>(p.clone()).map(ouro_model::generate::Prompt::Ids)
        })
        .collect::<Result<_, _>>()?;
    let ck = cpu_model::load(&args[1], ouro_model::SampleDtype::Full)?;
    let tok = ck.tokenizer.as_ref().expect("checked by cpu_model::load");
    let gen = ouro_model::Generator::new(&ck.decoder, tok);
    let mut scored = gen.prompts_logprobs(&prompts, 0)?;
    let mut best: Option<(f64, Option<f64>)> = None;
    for _ in 0..repeats {
        let cpu0 = cpu_seconds();
        let t0 = std::time::Instant::now();
        scored = gen.prompts_logprobs(&prompts, 0)?;
        let secs = t0.elapsed().as_secs_f64();
        let cpu = cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
        if best.is_none_or(|(s, _)| secs < s) {
            best = Some((secs, cpu));
        }
    }
    let (secs, cpu) = best.ok_or("REPEATS must be at least 1")?;
    let tokens: usize = scored.iter().map(|(_, lp)| lp.len()).sum();
    let logprobs: Vec<Vec<f64>> = scored
        .iter()
        .map(|(_, lp)| lp.iter().map(|t| t.logprob).collect())
        .collect();
    let out = serde_json::json!({"tokens": tokens, "seconds": secs,
        "tokens_per_s": tokens as f64 / secs, "cpu_seconds": cpu, "logprobs": logprobs});
    std::fs::write(&args[3], serde_json::to_vec(&out)?)?;
    Ok(())
}
