//! The report's sections. Each returns a `<section>`; absent data becomes
//! a "not run" line rather than an error.

use std::collections::BTreeSet;

use anyhow::Result;
use ouro_data::report::RoundReport;

use crate::chart::{self, bars_png, line_png, LineChart, Series, YAxis};
use crate::html::{self, num, pct, Table};
use crate::metrics::{Metrics, Step};
use crate::{Arm, Ctx};

mod evaluation;
mod problems;
mod provenance;

pub use evaluation::evaluation;
pub use problems::per_problem;
pub use provenance::run_header;

fn section(title: &str, inner: &str) -> String {
    format!(
        "<section><h2>{}</h2>\n{inner}</section>\n",
        html::escape(title)
    )
}

fn counts_table(rows: &[RoundReport], kinds: &[String]) -> Table {
    let mut head = vec!["round".to_string()];
    head.extend(kinds.iter().map(|k| format!("#{k}")));
    let mut t = Table::new(head);
    for r in rows {
        let mut cells = vec![r.round.to_string()];
        cells.extend(kinds.iter().map(|k| {
            r.data_counts
                .get(k)
                .map_or("—".to_string(), |v| v.to_string())
        }));
        t.row(cells);
    }
    t
}

/// Rows built per round, by kind.
pub fn data_counts(ctx: &mut Ctx, main: &Arm, control: &Arm) -> Result<String> {
    let kinds: Vec<String> = main
        .rows
        .iter()
        .chain(control.rows)
        .flat_map(|r| r.data_counts.keys().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if kinds.is_empty() {
        return Ok(section("Training data", &ctx.not_run("Training data")));
    }
    let mut s = String::new();
    if control.rows.iter().all(|r| r.data_counts.is_empty()) {
        s.push_str(&counts_table(main.rows, &kinds).html());
    } else {
        s.push_str("<div class=\"arms\"><div><h3>main arm</h3>");
        s.push_str(&counts_table(main.rows, &kinds).html());
        s.push_str("</div><div><h3>seed-only control</h3>");
        s.push_str(&counts_table(control.rows, &kinds).html());
        s.push_str("</div></div>\n");
    }
    let groups: Vec<String> = main
        .rows
        .iter()
        .map(|r| format!("round {}", r.round))
        .collect();
    let series: Vec<(String, Vec<f64>)> = kinds
        .iter()
        .map(|k| {
            let v = main
                .rows
                .iter()
                .map(|r| r.data_counts.get(k).copied().unwrap_or(0) as f64)
                .collect();
            (k.clone(), v)
        })
        .collect();
    if !groups.is_empty() {
        let png = bars_png("Rows built per round (main arm)", "rows", &groups, &series);
        s.push_str(&ctx.chart("data_counts.png", "rows built per round, by kind", png)?);
    }
    Ok(section("Training data", &s))
}

fn status(m: &Metrics) -> String {
    match m {
        Metrics::NotRun => "not run".into(),
        Metrics::Missing(_) => "missing file".into(),
        Metrics::Outside(_) => "outside the run (not read)".into(),
        Metrics::Read { steps, skipped, .. } if steps.is_empty() => {
            format!("empty ({} bad lines)", skipped.len())
        }
        Metrics::Read { skipped, .. } if !skipped.is_empty() => {
            format!("ok ({} bad lines skipped)", skipped.len())
        }
        Metrics::Read { .. } => "ok".into(),
    }
}

fn mean(m: &Metrics, f: impl Fn(&Step) -> Option<f64>) -> Option<f64> {
    let v: Vec<f64> = m
        .steps()
        .iter()
        .filter_map(f)
        .filter(|v| v.is_finite())
        .collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Tokens over seconds, summed over the round's steps (a mean of per-step rates
/// weighs a short step like a long one); the mean rate where steps lack either.
fn throughput(m: &Metrics) -> Option<f64> {
    let (mut tokens, mut secs) = (0u64, 0f64);
    for s in m.steps() {
        match (s.tokens, s.step_s) {
            (Some(t), Some(d)) if d.is_finite() => {
                tokens += t;
                secs += d;
            }
            _ => return mean(m, |s| s.tokens_per_s),
        }
    }
    (secs > 0.0)
        .then(|| tokens as f64 / secs)
        .or_else(|| mean(m, |s| s.tokens_per_s))
}

fn per_round_chart(
    ctx: &mut Ctx,
    arm: &Arm,
    metrics: &[Metrics],
    file: &str,
    title: &str,
    (y_desc, y_axis): (&str, YAxis),
    f: fn(&Step) -> Option<f64>,
) -> Result<String> {
    let series: Vec<Series> = arm
        .rows
        .iter()
        .zip(metrics)
        .enumerate()
        .filter_map(|(i, (r, m))| {
            let points = m.series(f);
            (!points.is_empty()).then(|| Series {
                label: format!("round {}", r.round),
                points,
                color: chart::color(i),
                dashed: false,
            })
        })
        .collect();
    if series.is_empty() {
        return Ok(String::new());
    }
    let png = line_png(&LineChart {
        title: title.into(),
        x_desc: "step".into(),
        y_desc: y_desc.into(),
        series,
        rounds_on_x: false,
        y_axis,
    });
    ctx.chart(file, title, png)
}

/// SFT and DPO loss curves, DPO reward margins, per round.
pub fn training(ctx: &mut Ctx, main: &Arm, control: &Arm) -> Result<String> {
    let mut out = String::new();
    for dpo in [false, true] {
        let name = if dpo { "DPO training" } else { "SFT training" };
        let has = |a: &Arm| {
            let ms = if dpo { &a.dpo } else { &a.sft };
            ms.iter().any(|m| !m.steps().is_empty())
        };
        if !has(main) && !has(control) {
            let mut s = ctx.not_run(name);
            let arm_rows = main
                .rows
                .iter()
                .zip(if dpo { &main.dpo } else { &main.sft });
            let missing: Vec<String> = arm_rows
                .filter(|(_, m)| matches!(m, Metrics::Missing(_)))
                .map(|(r, _)| format!("round {}", r.round))
                .collect();
            if !missing.is_empty() {
                s.push_str(&html::note(&format!(
                    "metrics files named but missing: {}",
                    missing.join(", ")
                )));
            }
            out.push_str(&section(name, &s));
            continue;
        }
        let mut s = String::new();
        for arm in [main, control] {
            if arm.rows.is_empty() {
                continue;
            }
            let ms = if dpo { &arm.dpo } else { &arm.sft };
            let mut head = vec![
                "round",
                "status",
                "#steps",
                "#first loss",
                "#final loss",
                "#tokens/s",
            ];
            // Means over the round's steps: the last step alone is one batch, often the
            // epoch's short last one (a round read "reward acc. 100%" at a 75% mean).
            if dpo {
                head.extend([
                    "#mean margin",
                    "#mean reward acc.",
                    "#mean chosen",
                    "#mean rejected",
                ]);
            }
            let mut t = Table::new(head);
            for (r, m) in arm.rows.iter().zip(ms) {
                let first = m.steps().iter().find_map(|s| s.loss);
                let mut cells = vec![
                    r.round.to_string(),
                    status(m),
                    m.steps().len().to_string(),
                    num(first, 4),
                    num(m.last(|s| s.loss), 4),
                    num(throughput(m), 0),
                ];
                if dpo {
                    cells.extend([
                        num(mean(m, |s| s.rewards_margins), 4),
                        pct(mean(m, |s| s.rewards_accuracies)),
                        num(mean(m, |s| s.rewards_chosen), 4),
                        num(mean(m, |s| s.rewards_rejected), 4),
                    ]);
                }
                t.row(cells);
            }
            if !control.rows.is_empty() {
                s.push_str(&format!(
                    "<h3>{}</h3>",
                    if arm.name == "main" {
                        "main arm"
                    } else {
                        "seed-only control"
                    }
                ));
            }
            s.push_str(&t.html());
            let prefix = if arm.name == "main" { "" } else { "control_" };
            let arm_label = if arm.name == "main" { "" } else { " (control)" };
            let (kind, file) = if dpo { ("DPO", "dpo") } else { ("SFT", "sft") };
            type Curve = (
                &'static str,
                &'static str,
                &'static str,
                YAxis,
                fn(&Step) -> Option<f64>,
            );
            let curves: [Curve; 3] = [
                ("loss", "loss (log scale)", "loss", YAxis::Log, |s| s.loss),
                ("lr", "learning rate", "lr", YAxis::Linear, |s| s.lr),
                (
                    "grad_norm",
                    "gradient norm",
                    "grad norm",
                    YAxis::Linear,
                    |s| s.grad_norm,
                ),
            ];
            for (name, what, y, y_axis, f) in curves {
                s.push_str(&per_round_chart(
                    ctx,
                    arm,
                    ms,
                    &format!("{prefix}{file}_{name}.png"),
                    &format!("{kind} {what}{arm_label}"),
                    (y, y_axis),
                    f,
                )?);
            }
            if dpo {
                let margins = per_round_chart(
                    ctx,
                    arm,
                    ms,
                    &format!("{prefix}dpo_margins.png"),
                    &format!("DPO reward margin (chosen − rejected){arm_label}"),
                    ("rewards/margins", YAxis::Linear),
                    |s| s.rewards_margins,
                )?;
                if margins.is_empty() {
                    s.push_str(&ctx.not_run(&format!("DPO reward margins{arm_label}")));
                }
                s.push_str(&margins);
            }
        }
        out.push_str(&section(name, &s));
    }
    Ok(out)
}

/// Wall seconds per phase and round.
pub fn timing(ctx: &mut Ctx, main: &Arm, control: &Arm) -> String {
    const ORDER: [&str; 5] = ["sample", "execute", "build", "train", "eval"];
    let all: BTreeSet<&String> = main
        .rows
        .iter()
        .chain(control.rows)
        .flat_map(|r| r.seconds.keys())
        .collect();
    if all.is_empty() {
        return section("Time by phase", &ctx.not_run("Time by phase"));
    }
    let mut phases: Vec<&str> = ORDER
        .iter()
        .copied()
        .filter(|p| all.iter().any(|a| a == p))
        .collect();
    phases.extend(
        all.iter()
            .map(|s| s.as_str())
            .filter(|a| !ORDER.contains(a)),
    );
    let mut s = String::new();
    for arm in [main, control] {
        if arm.rows.iter().all(|r| r.seconds.is_empty()) {
            continue;
        }
        let mut head = vec!["round".to_string()];
        head.extend(phases.iter().map(|p| format!("#{p} s")));
        head.push("#total s".into());
        let mut t = Table::new(head);
        for r in arm.rows {
            let mut cells = vec![r.round.to_string()];
            cells.extend(phases.iter().map(|p| num(r.seconds.get(*p).copied(), 1)));
            cells.push(num(Some(r.seconds.values().sum()), 1));
            t.row(cells);
        }
        if !control.rows.is_empty() {
            s.push_str(&format!(
                "<h3>{}</h3>",
                if arm.name == "main" {
                    "main arm"
                } else {
                    "seed-only control"
                }
            ));
        }
        s.push_str(&t.html());
    }
    section("Time by phase", &s)
}

#[cfg(test)]
mod tests {
    use super::{mean, throughput};
    use crate::metrics::{Metrics, Step};

    fn step(tokens: u64, step_s: f64, accuracy: f64) -> Step {
        Step {
            tokens: Some(tokens),
            step_s: Some(step_s),
            tokens_per_s: Some(tokens as f64 / step_s),
            rewards_accuracies: Some(accuracy),
            ..Step::default()
        }
    }

    #[test]
    fn round_figures_cover_every_step() {
        // A full batch, then the epoch's short last one.
        let m = Metrics::Read {
            path: "m.jsonl".into(),
            steps: vec![step(900, 1.0, 0.5), step(100, 0.25, 1.0)],
            skipped: Vec::new(),
        };
        assert_eq!(
            throughput(&m),
            Some(800.0),
            "1000 tokens in 1.25 s, not 650 (the mean rate)"
        );
        assert_eq!(mean(&m, |s| s.rewards_accuracies), Some(0.75));
    }
}
