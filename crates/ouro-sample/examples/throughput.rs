//! Local sampling throughput on the bundled problems with a random-init model.
//!
//! `cargo run --release --example throughput -- [tiny|small] [SAMPLES_PER_PROBLEM] [PROBLEMS] [MAX_TOKENS]`
//!
//! Trains a 1024-token BPE on the bundled problems, initialises the preset
//! (random weights never emit EOS early, so every sample runs to
//! `max_tokens`: the figure is decode throughput at full length), and
//! samples through `ouro_sample::sample` exactly as a pipeline would.

use std::time::Instant;

use ouro_data::{shard, Problem};
use ouro_sample::{sample, BackendConfig, SampleOptions};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let preset = args
        .first()
        .map(String::as_str)
        .unwrap_or("tiny")
        .to_string();
    let per_problem: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(8);
    let n_problems: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(32);
    let max_tokens: u32 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(128);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/bundled");
    let mut problems: Vec<Problem> = shard::read_dir(&root)?;
    problems.truncate(n_problems);
    let dir = tempfile::tempdir()?;
    let tok =
        ouro_model::tokenizer::train_bpe(ouro_model::tokenizer::problem_texts(&problems), 1024)?;
    let tok_path = dir.path().join("tokenizer.json");
    ouro_model::tokenizer::save_tokenizer(&tok, &tok_path)?;
    let model = dir.path().join(format!("{preset}-model"));
    ouro_model::init::init_checkpoint(&preset, &tok_path, 0, &model)?;
    let plan: Vec<(&Problem, usize)> = problems.iter().map(|p| (p, per_problem)).collect();
    let opts = SampleOptions {
        temperature: 0.8,
        max_tokens,
        ..SampleOptions::default()
    };
    for batch_size in [16usize, 64] {
        let backend = BackendConfig::Local {
            model: model.clone(),
            batch_size,
            prompt_format: ouro_model::chat::PromptFormat::Plain,
            device: None,
            dtype: None,
            sample_dtype: None,
        };
        let t = Instant::now();
        let (samples, stats) = sample(&plan, &backend, &opts)?;
        let secs = t.elapsed().as_secs_f64();
        let tokens = stats.counts["completion_tokens"];
        println!(
            "{preset} batch {batch_size}: {} samples, {tokens} completion tokens in {secs:.2}s (model load {:.2}s): {:.0} tokens/s, {:.1} samples/s",
            samples.len(),
            stats.seconds.get("load_model").copied().unwrap_or(0.0),
            tokens as f64 / secs,
            samples.len() as f64 / secs
        );
    }
    Ok(())
}
