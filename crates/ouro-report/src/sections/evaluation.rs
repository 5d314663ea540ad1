//! Held-out evaluation: pass@1/pass@k, the false-positive rate and the
//! balance score per round and arm, as figures, tables and charts.

use anyhow::Result;
use ouro_data::report::RoundReport;

use super::section;
use crate::chart::{color, line_png, LineChart, Series, YAxis};
use crate::html::{self, num, pct, Table};
use crate::{Arm, Ctx};

/// `pass@K` keys of all rows but `pass@1` (which has its own column), ordered by K.
fn k_keys<'a>(rows: impl Iterator<Item = &'a RoundReport>) -> Vec<String> {
    ouro_data::report::other_ks_by_k(rows.flat_map(|r| r.pass_at_k.keys()))
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
    head.extend(["#false pos.".into(), "#train false pos.".into()]);
    // Only rounds with a DPO step have chosen programs to audit.
    let dpo = rows
        .iter()
        .any(|r| r.dpo_chosen_false_positive_rate.is_some());
    if dpo {
        head.push("#DPO chosen false pos.".into());
    }
    head.push("#balance".into());
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
        cells.extend([fp_cell(r), pct(r.train_false_positive_rate)]);
        if dpo {
            cells.push(pct(r.dpo_chosen_false_positive_rate));
        }
        cells.push(num(r.balance_score, 3));
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
    let mut s = kpis(main, control);
    s.push_str(&arm_tables(main, control, &keys));
    s.push_str(&charts(ctx, main, control, &keys)?);
    Ok(section("Held-out evaluation", &s))
}

/// Headline figures: the last round's pass@1, its gain, its lead over the
/// control arm, and its false-positive rate.
fn kpis(main: &Arm, control: &Arm) -> String {
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
    s
}

/// Each arm's per-round table and, with a control arm, main against control.
fn arm_tables(main: &Arm, control: &Arm, keys: &[String]) -> String {
    let mut s = String::new();
    let main_t = eval_table(main.rows, keys);
    if control.rows.is_empty() {
        s.push_str(&main_t.html());
    } else {
        s.push_str("<div class=\"arms\"><div><h3>main arm</h3>");
        s.push_str(&main_t.html());
        s.push_str("</div><div><h3>seed-only control</h3>");
        s.push_str(&eval_table(control.rows, keys).html());
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
    s
}

/// pass@k, false-positive rate and balance score by round, both arms on each chart.
fn charts(ctx: &mut Ctx, main: &Arm, control: &Arm, keys: &[String]) -> Result<String> {
    let mut s = String::new();
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
        if file == "false_positive_rate.png" {
            // The rows each round trained on, beside the held-out samples.
            series.extend(round_series(
                main.rows,
                "main: training rows".into(),
                1,
                false,
                |r| r.train_false_positive_rate,
            ));
            series.extend(round_series(
                main.rows,
                "main: DPO chosen programs".into(),
                2,
                false,
                |r| r.dpo_chosen_false_positive_rate,
            ));
        }
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
    Ok(s)
}
