//! The report's sections. Each returns a `<section>`; absent data becomes
//! a "not run" line rather than an error.

use std::collections::BTreeSet;

use anyhow::Result;
use ouro_data::report::RoundReport;

use crate::chart::{self, bars_png, color, line_png, LineChart, Series, YAxis};
use crate::html::{self, num, pct, Table};
use crate::metrics::{Metrics, Step};
use crate::{Arm, Ctx};

mod problems;
mod provenance;

pub use problems::per_problem;
pub use provenance::run_header;

fn section(title: &str, inner: &str) -> String {
    format!(
        "<section><h2>{}</h2>\n{inner}</section>\n",
        html::escape(title)
    )
}

/// `pass@K` keys of all rows but `pass@1` (which has its own column), ordered
/// by K (so `pass@10` follows `pass@2`).
fn k_keys<'a>(rows: impl Iterator<Item = &'a RoundReport>) -> Vec<String> {
    let keys: BTreeSet<String> = rows
        .flat_map(|r| r.pass_at_k.keys().cloned())
        .filter(|k| k != "pass@1")
        .collect();
    let mut keys: Vec<String> = keys.into_iter().collect();
    let k = |s: &String| {
        s.rsplit('@')
            .next()
            .and_then(|k| k.parse::<u64>().ok())
            .unwrap_or(u64::MAX)
    };
    keys.sort_by(|a, b| k(a).cmp(&k(b)).then(a.cmp(b)));
    keys
}

fn round_series(
    rows: &[RoundReport],
    label: String,
    i: usize,
    dashed: bool,
    f: impl Fn(&RoundReport) -> Option<f64>,
) -> Option<Series> {
    let points: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| f(r).filter(|v| v.is_finite()).map(|v| (r.round as f64, v)))
        .collect();
    (!points.is_empty()).then(|| Series {
        label,
        points,
        color: color(i),
        dashed,
    })
}

fn eval_table(rows: &[RoundReport], keys: &[String]) -> Table {
    let mut head = vec![
        "round".to_string(),
        "model".into(),
        "#problems".into(),
        "#samples".into(),
        "#pass@1".into(),
    ];
    head.extend(keys.iter().map(|k| format!("#{k}")));
    head.extend(["#false pos.".into(), "#balance".into()]);
    let mut t = Table::new(head);
    for r in rows {
        let mut cells = vec![
            r.round.to_string(),
            r.model.clone(),
            r.heldout_problems.to_string(),
            r.samples_per_problem.to_string(),
            pct(Some(r.pass_at_1)),
        ];
        cells.extend(keys.iter().map(|k| pct(r.pass_at_k.get(k).copied())));
        cells.extend([fp_cell(r), num(r.balance_score, 3)]);
        t.row(cells);
    }
    t
}

/// The false-positive rate, or `undefined` when no held-out sample passed
/// the filter tests (0 of 0 is not 0%).
fn fp_cell(r: &RoundReport) -> String {
    match r.false_positive_rate {
        Some(v) => pct(Some(v)),
        None => "undefined".into(),
    }
}

const FP_UNDEFINED: &str = "False-positive rate: undefined in every round: no held-out sample \
     passed the filter tests, so none could fail the audit tests.";

fn kpi(value: &str, label: &str) -> String {
    format!(
        "<div class=\"kpi\"><b>{}</b><span>{}</span></div>",
        html::escape(value),
        html::escape(label)
    )
}

/// Held-out pass@1 / pass@k, false-positive rate and balance, per round and arm.
pub fn evaluation(ctx: &mut Ctx, main: &Arm, control: &Arm) -> Result<String> {
    if main.rows.is_empty() {
        return Ok(section(
            "Held-out evaluation",
            &ctx.not_run("Held-out evaluation"),
        ));
    }
    let keys = k_keys(main.rows.iter().chain(control.rows));
    let mut s = String::from("<div class=\"kpis\">");
    let first = &main.rows[0];
    let last = main.rows.last().expect("non-empty");
    s.push_str(&kpi(
        &pct(Some(last.pass_at_1)),
        &format!("pass@1 after round {}", last.round),
    ));
    if main.rows.len() > 1 {
        let d = (last.pass_at_1 - first.pass_at_1) * 100.0;
        s.push_str(&kpi(
            &format!("{d:+.1} pp"),
            &format!("since round {}", first.round),
        ));
    }
    if let Some(c) = control.rows.iter().find(|c| c.round == last.round) {
        let d = (last.pass_at_1 - c.pass_at_1) * 100.0;
        s.push_str(&kpi(&format!("{d:+.1} pp"), "main arm − seed-only control"));
    }
    s.push_str(&kpi(&fp_cell(last), "false-positive rate"));
    s.push_str("</div>\n");

    let main_t = eval_table(main.rows, &keys);
    if control.rows.is_empty() {
        s.push_str(&main_t.html());
    } else {
        s.push_str("<div class=\"arms\"><div><h3>main arm</h3>");
        s.push_str(&main_t.html());
        s.push_str("</div><div><h3>seed-only control</h3>");
        s.push_str(&eval_table(control.rows, &keys).html());
        s.push_str("</div></div>\n<h3>main vs control</h3>");
        let mut t = Table::new([
            "round",
            "#pass@1 main",
            "#pass@1 control",
            "#Δ pp",
            "#false pos. main",
            "#false pos. control",
        ]);
        for r in main.rows {
            let c = control.rows.iter().find(|c| c.round == r.round);
            t.row([
                r.round.to_string(),
                pct(Some(r.pass_at_1)),
                pct(c.map(|c| c.pass_at_1)),
                num(c.map(|c| (r.pass_at_1 - c.pass_at_1) * 100.0), 1),
                fp_cell(r),
                c.map_or_else(|| "—".into(), fp_cell),
            ]);
        }
        s.push_str(&t.html());
    }

    let mut series = Vec::new();
    for (arm, dashed) in [(main, false), (control, true)] {
        let suffix = if dashed { " (control)" } else { "" };
        series.extend(round_series(
            arm.rows,
            format!("pass@1{suffix}"),
            0,
            dashed,
            |r| Some(r.pass_at_1),
        ));
        for (i, k) in keys.iter().enumerate() {
            series.extend(round_series(
                arm.rows,
                format!("{k}{suffix}"),
                i + 1,
                dashed,
                |r| r.pass_at_k.get(k).copied(),
            ));
        }
    }
    let png = line_png(&LineChart {
        title: "Held-out pass@k by round".into(),
        x_desc: "round".into(),
        y_desc: "pass rate".into(),
        series,
        rounds_on_x: true,
        y_axis: YAxis::Percent,
    });
    s.push_str(&ctx.chart("pass_at_k.png", "held-out pass@1 and pass@k per round", png)?);

    for (file, title, y, y_axis, f) in [
        (
            "false_positive_rate.png",
            "False-positive rate by round",
            "passes filter, fails audit",
            YAxis::Percent,
            (|r: &RoundReport| r.false_positive_rate) as fn(&RoundReport) -> Option<f64>,
        ),
        (
            "balance_score.png",
            "B-STaR balance score by round",
            "balance score",
            YAxis::Linear,
            |r: &RoundReport| r.balance_score,
        ),
    ] {
        let mut series = Vec::new();
        series.extend(round_series(main.rows, "main".into(), 0, false, f));
        series.extend(round_series(control.rows, "control".into(), 0, true, f));
        let label = title.trim_end_matches(" by round");
        s.push_str(&format!("<h3>{}</h3>", html::escape(label)));
        if series.is_empty() && file == "false_positive_rate.png" {
            s.push_str(&html::note(FP_UNDEFINED));
            continue;
        }
        if series.is_empty() {
            s.push_str(&ctx.not_run(label));
            continue;
        }
        let png = line_png(&LineChart {
            title: title.into(),
            x_desc: "round".into(),
            y_desc: y.into(),
            series,
            rounds_on_x: true,
            y_axis,
        });
        s.push_str(&ctx.chart(file, title, png)?);
    }
    Ok(section("Held-out evaluation", &s))
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
            if dpo {
                head.extend(["#margin", "#reward acc.", "#chosen", "#rejected"]);
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
                    num(mean(m, |s| s.tokens_per_s), 0),
                ];
                if dpo {
                    cells.extend([
                        num(m.last(|s| s.rewards_margins), 4),
                        pct(m.last(|s| s.rewards_accuracies)),
                        num(m.last(|s| s.rewards_chosen), 4),
                        num(m.last(|s| s.rewards_rejected), 4),
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
