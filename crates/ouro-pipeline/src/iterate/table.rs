//! The per-round table `ouro run` prints at the end.

use std::collections::BTreeMap;

use ouro_data::report::RunReport;

/// The `pass@K` keys other than `pass@1` that any round has, ordered by K: the
/// columns a round table prints after pass@1.
pub fn other_ks<'a, V: 'a>(rounds: impl Iterator<Item = &'a BTreeMap<String, V>>) -> Vec<String> {
    ouro_data::report::other_ks_by_k(rounds.flat_map(|m| m.keys()))
}

/// The per-round table printed at the end of a run.
pub fn round_table(report: &RunReport) -> String {
    let mut out = String::new();
    let ks = other_ks(report.rounds.iter().map(|r| &r.pass_at_k));
    out.push_str(&format!("{:<7} {:>8}", "round", "pass@1"));
    for k in &ks {
        out.push_str(&format!(" {k:>8}"));
    }
    // Only runs with a DPO step have chosen programs to audit.
    let dpo = report
        .rounds
        .iter()
        .any(|r| r.dpo_chosen_false_positive_rate.is_some());
    out.push_str(&format!(" {:>8} {:>9}", "FP rate", "train FP"));
    if dpo {
        out.push_str(&format!(" {:>9}", "DPO FP"));
    }
    out.push_str(&format!(" {:>8} {:>9}\n", "SFT rows", "control"));
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
        out.push_str(&format!(" {fp:>8} {train_fp:>9}"));
        if dpo {
            let dpo_fp = pct(r.dpo_chosen_false_positive_rate);
            out.push_str(&format!(" {dpo_fp:>9}"));
        }
        out.push_str(&format!(" {sft:>8} {ctl:>9}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ouro_data::report::RoundReport;

    fn report(dpo: Option<f64>) -> RunReport {
        RunReport {
            rounds: vec![RoundReport {
                round: 1,
                pass_at_1: 0.25,
                false_positive_rate: Some(0.01),
                train_false_positive_rate: Some(0.02),
                dpo_chosen_false_positive_rate: dpo,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn dpo_column_only_when_a_round_audited_chosen_programs() {
        let plain = round_table(&report(None));
        assert!(!plain.contains("DPO FP"), "{plain}");
        let with = round_table(&report(Some(0.125)));
        let lines: Vec<&str> = with.lines().collect();
        assert!(lines[0].contains("train FP    DPO FP"), "{with}");
        assert!(lines[1].contains("2.0%     12.5%"), "{with}");
    }
}
