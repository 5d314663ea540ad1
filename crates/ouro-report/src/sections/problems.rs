//! Per-problem results: which held-out problems the model solves in each
//! round, and what its first failing attempt looked like.

use std::collections::BTreeMap;

use ouro_data::report::{FailureExample, ProblemEval};

use super::section;
use crate::html::{self, escape, pct};
use crate::{Arm, Ctx};

const TITLE: &str = "Per-problem results";

/// One row per held-out problem of the main arm, worst last-round pass rate
/// first; the first failing sample of the latest round that had one, with
/// its code and stderr, opens from the row.
pub fn per_problem(ctx: &mut Ctx, main: &Arm) -> String {
    let rounds: Vec<u32> = main
        .rows
        .iter()
        .filter(|r| !r.problems.is_empty())
        .map(|r| r.round)
        .collect();
    if rounds.is_empty() {
        return section(TITLE, &ctx.not_run(TITLE));
    }
    // problem -> round -> its evaluation
    let mut table: BTreeMap<&str, BTreeMap<u32, &ProblemEval>> = BTreeMap::new();
    for r in main.rows {
        for p in &r.problems {
            table.entry(&p.problem_id).or_default().insert(r.round, p);
        }
    }
    let rate = |p: &ProblemEval| (p.samples > 0).then(|| p.passed as f64 / p.samples as f64);
    let last = *rounds.last().expect("non-empty");
    let mut order: Vec<(&str, &BTreeMap<u32, &ProblemEval>)> =
        table.iter().map(|(k, v)| (*k, v)).collect();
    order.sort_by(|a, b| {
        let key =
            |m: &BTreeMap<u32, &ProblemEval>| m.get(&last).and_then(|p| rate(p)).unwrap_or(-1.0);
        key(a.1).total_cmp(&key(b.1)).then(a.0.cmp(b.0))
    });

    let mut s = html::note(&format!(
        "{} held-out problems; pass rate under the strict rule (filter and audit tests), \
         per round of the main arm.",
        table.len()
    ));
    s.push_str("<div class=\"tw\"><table class=\"problems\"><thead><tr><th>problem</th>");
    for r in &rounds {
        s.push_str(&format!("<th class=\"n\">round {r}</th>"));
    }
    s.push_str("<th>first failing sample</th></tr></thead><tbody>\n");
    for (id, by_round) in order {
        s.push_str(&format!("<tr><td>{}</td>", escape(id)));
        for r in &rounds {
            let cell = by_round
                .get(r)
                .map(|p| format!("{} ({}/{})", pct(rate(p)), p.passed, p.samples))
                .unwrap_or_else(|| "—".into());
            s.push_str(&format!("<td class=\"n\">{}</td>", escape(&cell)));
        }
        let failure = by_round
            .iter()
            .rev()
            .find_map(|(r, p)| p.first_failure.as_ref().map(|f| (*r, f)));
        s.push_str("<td class=\"w\">");
        match failure {
            Some((round, f)) => s.push_str(&failure_html(round, f)),
            None => s.push_str("every sample passed"),
        }
        s.push_str("</td></tr>\n");
    }
    s.push_str("</tbody></table></div>\n");
    section(TITLE, &s)
}

fn failure_html(round: u32, f: &FailureExample) -> String {
    let kind = f
        .error_kind
        .as_deref()
        .map(|k| format!(": {k}"))
        .unwrap_or_default();
    let stderr = if f.stderr.trim().is_empty() {
        "(no stderr)".to_string()
    } else {
        f.stderr.clone()
    };
    format!(
        "<details><summary>round {round}: {}{}</summary>\
         <p class=\"file\">{}</p><pre class=\"code\">{}</pre><pre class=\"stderr\">{}</pre></details>",
        escape(&f.verdict),
        escape(&kind),
        escape(&f.sample_id),
        escape(&f.code),
        escape(&stderr)
    )
}
