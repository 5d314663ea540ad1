//! Regenerates the committed sample under `data/bundled/`:
//! `cargo run --example write_sample -- data/bundled`
//! (run from the repository root).
fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "data/bundled".into());
    let options = ouro_problems::sample_options();
    let problems = ouro_problems::generate(&options).expect("generate");
    ouro_problems::write(&dir, &problems).expect("write shards");
    ouro_problems::write_jsonl(format!("{dir}/problems.jsonl"), &problems).expect("write jsonl");
    print!("{}", ouro_problems::summarize(&problems));
}
