//! The header section: what the run was started with, so two report pages
//! can be told apart and a run can be repeated.

use ouro_data::report::RunReport;

use super::section;
use crate::html::{self, escape};
use crate::Arm;

/// Version and commit, start date, total stage time, device, seeds and the
/// pipeline TOML (collapsed).
pub fn run_header(report: &RunReport, main: &Arm, control: &Arm) -> String {
    let total: f64 = main
        .rows
        .iter()
        .chain(control.rows)
        .flat_map(|r| r.seconds.values())
        .sum();
    let mut rows: Vec<(&str, String)> = Vec::new();
    let mut s = String::new();
    match &report.run {
        Some(info) => {
            let version = match &info.commit {
                Some(c) => format!("{} (commit {c})", info.ouro_version),
                None => info.ouro_version.clone(),
            };
            rows.push(("ouro", version));
            rows.push(("started", info.started.clone()));
            rows.push(("total stage time", format_seconds(total)));
            if let Some(d) = &report.device {
                rows.push(("device", d.clone()));
            }
            let seeds: Vec<String> = info
                .seeds
                .iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect();
            rows.push(("seeds", seeds.join(", ")));
            s.push_str(&kv_table(&rows));
            s.push_str(&format!(
                "<details class=\"config\"><summary>pipeline config ({} lines)</summary>\
                 <pre>{}</pre></details>\n",
                info.config.lines().count(),
                escape(&info.config)
            ));
        }
        None => {
            rows.push(("total stage time", format_seconds(total)));
            if let Some(d) = &report.device {
                rows.push(("device", d.clone()));
            }
            s.push_str(&kv_table(&rows));
            s.push_str(&html::note(
                "version, start date, seeds and config were not recorded: \
                 this report.json predates them",
            ));
        }
    }
    s.push_str(&html::note(
        "Stage time is the sum of every stage's wall time over both arms; a resumed \
         stage counts the time its finished run took.",
    ));
    section("Run", &s)
}

fn kv_table(rows: &[(&str, String)]) -> String {
    let mut s = String::from("<div class=\"tw\"><table class=\"kv\"><tbody>\n");
    for (k, v) in rows {
        s.push_str(&format!(
            "<tr><th>{}</th><td>{}</td></tr>\n",
            escape(k),
            escape(v)
        ));
    }
    s.push_str("</tbody></table></div>\n");
    s
}

/// `95.2 s`, `12 min 05 s`, `2 h 03 min`.
pub fn format_seconds(s: f64) -> String {
    if !s.is_finite() || s < 60.0 {
        // An empty sum of f64 is -0.0.
        return match crate::html::num(Some(s), 1).as_str() {
            "—" => "—".to_string(),
            n => format!("{n} s"),
        };
    }
    let whole = s.round() as u64;
    if whole < 3600 {
        format!("{} min {:02} s", whole / 60, whole % 60)
    } else {
        format!("{} h {:02} min", whole / 3600, whole / 60 % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_read_as_a_person_would_write_them() {
        assert_eq!(format_seconds(9.24), "9.2 s");
        assert_eq!(format_seconds(725.0), "12 min 05 s");
        assert_eq!(format_seconds(7380.0), "2 h 03 min");
        assert_eq!(format_seconds(-0.0), "0.0 s");
    }
}
