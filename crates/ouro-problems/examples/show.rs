//! Prints a few generated problems: `cargo run --example show -- COUNT SEED`.
fn main() {
    let mut args = std::env::args().skip(1);
    let count = args.next().map_or(10, |a| a.parse().expect("count"));
    let seed = args.next().map_or(0, |a| a.parse().expect("seed"));
    let gen = ouro_problems::generate_detailed(&ouro_problems::GenerateOptions {
        count,
        seed,
        ..Default::default()
    })
    .expect("generate");
    for g in &gen {
        let p = &g.problem;
        println!(
            "=== {} [{}] {:?} {:?}",
            p.problem_id, p.split, p.difficulty, p.tags
        );
        println!("{}", p.reference_solution.as_deref().unwrap_or(""));
        if let ouro_data::Tests::AssertScript { script } = &p.tests {
            println!("{script}");
        }
        if let Some(ouro_data::Tests::AssertScript { script }) = &p.audit_tests {
            println!("{script}");
        }
        for m in &g.mutants {
            println!(
                "  mutant {:<40} filter={} audit={}",
                m.label, m.killed_by_filter, m.killed_by_audit
            );
        }
    }
    let problems: Vec<_> = gen.into_iter().map(|g| g.problem).collect();
    eprintln!("{}", ouro_problems::summarize(&problems));
}
