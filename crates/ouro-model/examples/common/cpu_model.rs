/// The checkpoint in `dir` loaded on the CPU for sampling, with `weights`; an error when
/// it has no tokenizer.json, which every benchmark here encodes or decodes with.
pub fn load(
    dir: &str,
    weights: ouro_model::SampleDtype,
) -> Result<ouro_model::checkpoint::Checkpoint, Box<dyn std::error::Error>> {
    let ck =
        ouro_model::checkpoint::load_for_sampling(dir, (&ouro_model::Placement::cpu(), weights))?;
    if ck.tokenizer.is_none() {
        return Err(format!("{dir}: checkpoint has no tokenizer.json").into());
    }
    Ok(ck)
}
