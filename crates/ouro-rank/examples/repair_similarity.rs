//! How similar a repair record's fix is to the failing program, for true
//! fixes and for unrelated passing programs: the measurement behind
//! `RepairOptions::min_similarity`'s default.
//!
//! On HumanEval (`scripts/fetch-humaneval.sh`): a true fix is the canonical
//! program against one of its injected-error mutants; an unrelated "fix" is
//! the same prompt completed by another problem's canonical body (it would
//! pass nothing, but it stands for a passing program written another way).
//!
//! `cargo run --release --example repair_similarity [HumanEval.jsonl]`

use ouro_rank::mutate::sample_mutants;
use ouro_rank::render::similarity;

fn quantiles(name: &str, mut v: Vec<f64>) {
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    println!(
        "{name:<10} n={:<6} p1={:.3} p5={:.3} p25={:.3} median={:.3} p75={:.3} p95={:.3} p99={:.3}",
        v.len(),
        q(0.01),
        q(0.05),
        q(0.25),
        q(0.5),
        q(0.75),
        q(0.95),
        q(0.99)
    );
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "scripts/.cache/HumanEval.jsonl".into());
    let text = std::fs::read_to_string(&path).expect("run scripts/fetch-humaneval.sh first");
    let rows: Vec<(String, String)> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["prompt"].as_str().unwrap().to_string(),
                v["canonical_solution"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let (mut related, mut unrelated) = (Vec::new(), Vec::new());
    for (i, (prompt, body)) in rows.iter().enumerate() {
        let program = format!("{prompt}{body}");
        for m in sample_mutants(&program, 6, i as u64) {
            related.push(similarity(&m.code, &program));
            for k in 1..=5 {
                let (_, other) = &rows[(i + 7 * k) % rows.len()];
                unrelated.push(similarity(&m.code, &format!("{prompt}{other}")));
            }
        }
    }
    quantiles("true fix", related.clone());
    quantiles("unrelated", unrelated.clone());
    for t in [0.3, 0.4, 0.5, 0.6, 0.7] {
        let keep = related.iter().filter(|&&s| s >= t).count() as f64 / related.len() as f64;
        let reject = unrelated.iter().filter(|&&s| s < t).count() as f64 / unrelated.len() as f64;
        println!(
            "min_similarity {t:.1}: keeps {:.1}% of true fixes, rejects {:.1}% of unrelated",
            100.0 * keep,
            100.0 * reject
        );
    }
}
