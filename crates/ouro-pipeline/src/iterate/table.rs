//! The per-round table `ouro run` prints at the end.

use std::collections::BTreeMap;

use ouro_data::report::RunReport;

/// The `pass@K` keys other than `pass@1` that any round has, in order: the
/// columns a round table prints after pass@1.
pub fn other_ks<'a, V: 'a>(rounds: impl Iterator<Item = &'a BTreeMap<String, V>>) -> Vec<String> {
    rounds
        .flat_map(|m| m.keys().cloned())
        .filter(|k| k != "pass@1")
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The per-round table printed at the end of a run.
pub fn round_table(report: &RunReport) -> String {
    let mut out = String::new();
    let ks = other_ks(report.rounds.iter().map(|r| &r.pass_at_k));
    out.push_str(&format!("{:<7} {:>8}", "round", "pass@1"));
    for k in &ks {
        out.push_str(&format!(" {k:>8}"));
    }
    out.push_str(&format!(
        " {:>8} {:>9} {:>8} {:>9}\n",
        "FP rate", "train FP", "SFT rows", "control"
    ));
    let control: BTreeMap<u32, f64> = report
        .control
        .iter()
        .map(|r| (r.round, r.pass_at_1))
        .collect();
    for r in &report.rounds {
        out.push_str(&format!("{:<7} {:>7.1}%", r.round, 100.0 * r.pass_at_1));
        for k in &ks {
            match r.pass_at_k.get(k) {
                Some(v) => out.push_str(&format!(" {:>7.1}%", 100.0 * v)),
                None => out.push_str(&format!(" {:>8}", "-")),
            }
        }
        let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.1}%", 100.0 * v));
        let (fp, train_fp) = (pct(r.false_positive_rate), pct(r.train_false_positive_rate));
        let sft = r
            .data_counts
            .get("sft")
            .map_or("-".to_string(), |v| v.to_string());
        let ctl = pct(control.get(&r.round).copied());
        out.push_str(&format!(" {fp:>8} {train_fp:>9} {sft:>8} {ctl:>9}\n"));
    }
    out
}
