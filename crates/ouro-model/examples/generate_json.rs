//! `ouro model generate MODEL --prompt P --temperature 0 --max-tokens N --ignore-eos --json`
//! without building the whole CLI (its dependency tree is much larger than
//! ouro-model's): the same library calls, the same JSON line. Used by
//! scripts/smollm2-parity.sh when `OURO_GENERATE` points at it.
//!
//!   generate_json MODEL_DIR --prompt TEXT --max-tokens N [--temperature T] [--ignore-eos] [--chat]

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut model = None;
    let (mut prompt, mut max_tokens, mut temperature) = (None, 128usize, 0.0f64);
    let (mut ignore_eos, mut chat) = (false, false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--prompt" => prompt = it.next().cloned(),
            "--max-tokens" => max_tokens = it.next().ok_or("--max-tokens N")?.parse()?,
            "--temperature" => temperature = it.next().ok_or("--temperature T")?.parse()?,
            "--ignore-eos" => ignore_eos = true,
            "--chat" => chat = true,
            "--json" => {}
            _ if model.is_none() => model = Some(std::path::PathBuf::from(a)),
            _ => return Err(format!("unexpected argument {a:?}").into()),
        }
    }
    let model = model.ok_or("usage: generate_json MODEL_DIR --prompt TEXT [...]")?;
    let prompt = prompt.ok_or("--prompt is required")?;
    let params = ouro_model::SamplingParams {
        temperature,
        max_tokens,
        ..Default::default()
    };
    let outs = ouro_model::generate::generate_from_dir_with_eos(
        &model,
        &prompt,
        chat,
        1,
        &params,
        ignore_eos.then(Vec::new),
    )?;
    let tok = ouro_model::Tokenizer::from_file(model.join(ouro_model::files::TOKENIZER_FILE))?;
    let prompt_ids = ouro_model::generate::prompt_input(&model, &prompt, chat)?.encode(&tok)?;
    for g in outs {
        println!(
            "{}",
            serde_json::json!({
                "prompt_ids": prompt_ids,
                "token_ids": g.token_ids,
                "text": g.text,
                "logprob": g.logprob,
                "finish_reason": g.finish_reason.as_str(),
            })
        );
    }
    Ok(())
}
