//! End-to-end: a run directory built here renders into a page with its
//! tables and embedded charts, and PNG files that decode.

use std::collections::BTreeMap;
use std::path::Path;

use ouro_data::report::{FailureExample, ProblemEval, RoundReport, RunInfo, RunReport};

fn sft_line(step: u64, loss: f64) -> String {
    format!(
        r#"{{"step":{step},"loss":{loss},"grad_norm":1.2,"lr":0.0002,"tokens":512,"tokens/s":900.0,"step_s":0.57,"optim_s":0.02}}"#
    )
}

fn dpo_line(step: u64, loss: f64, margin: f64) -> String {
    format!(
        r#"{{"step":{step},"loss":{loss},"grad_norm":0.8,"lr":0.00005,"tokens":300,"tokens/s":400.0,"step_s":0.75,"optim_s":0.02,"rewards/chosen":{c},"rewards/rejected":{r},"rewards/accuracies":0.8,"rewards/margins":{margin},"logps/chosen":-20.0,"logps/rejected":-25.0}}"#,
        c = margin / 2.0,
        r = -margin / 2.0
    )
}

fn round(r: u32, pass1: f64, sft: Option<&str>, dpo: Option<&str>) -> RoundReport {
    RoundReport {
        round: r,
        model: format!("round-{r:02}/train-dpo/checkpoint"),
        heldout_problems: 200,
        samples_per_problem: 10,
        pass_at_1: pass1,
        // `ouro run` also records pass@1 here; the report shows it once.
        pass_at_k: BTreeMap::from([
            ("pass@1".to_string(), pass1),
            ("pass@5".to_string(), (pass1 * 1.6).min(1.0)),
            ("pass@10".to_string(), (pass1 * 1.9).min(1.0)),
        ]),
        false_positive_rate: Some(0.08 - 0.01 * r as f64),
        audited_passes: 400,
        // Round 0 trains on references: nothing to audit.
        train_false_positive_rate: (r > 0).then_some(0.017 * r as f64),
        train_audited_rows: if r > 0 { 500 } else { 0 },
        dpo_chosen_false_positive_rate: (r > 0).then_some(0.05 * r as f64),
        dpo_audited_pairs: if r > 0 { 400 } else { 0 },
        balance_score: Some(0.4 + 0.1 * r as f64),
        data_counts: BTreeMap::from([
            ("sft".to_string(), 1000 + 300 * r as u64),
            ("dpo".to_string(), 400 + 100 * r as u64),
            ("repair".to_string(), 120),
        ]),
        sft_metrics: sft.map(str::to_string),
        dpo_metrics: dpo.map(str::to_string),
        seconds: BTreeMap::from([
            ("sample".to_string(), 120.0),
            ("execute".to_string(), 45.5),
            ("train".to_string(), 300.0),
        ]),
        problems: problems(r),
    }
}

/// Two held-out problems: `fib-3` is solved from round 1 on; `sort-7` never is,
/// and its failing sample's stderr holds markup that must be escaped.
fn problems(r: u32) -> Vec<ProblemEval> {
    let failure = |id: &str, verdict: &str, stderr: &str| FailureExample {
        sample_id: id.into(),
        verdict: verdict.into(),
        error_kind: Some("AssertionError".into()),
        code: "def f(xs):\n    return xs".into(),
        stderr: stderr.into(),
    };
    vec![
        ProblemEval {
            problem_id: "fib-3".into(),
            samples: 10,
            passed: if r == 0 { 0 } else { 10 },
            first_failure: (r == 0).then(|| failure("fib-3/r0/s0", "fail", "")),
        },
        ProblemEval {
            problem_id: "sort-7".into(),
            samples: 10,
            passed: 0,
            first_failure: Some(failure(
                &format!("sort-7/r{r}/s1"),
                "fail (audit)",
                "Traceback: assert f([2, 1]) == [1, 2] <script>",
            )),
        },
    ]
}

fn write_metrics(run: &Path, rel: &str, lines: &[String]) {
    let p = run.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, lines.join("\n") + "\n").unwrap();
}

/// Three rounds with SFT and DPO curves (round 2's DPO file is named but
/// missing) and a seed-only control arm.
pub fn fixture(run: &Path) {
    let mut report = RunReport {
        pipeline: "quickstart".into(),
        device: Some("cpu/f32".into()),
        run: Some(RunInfo {
            ouro_version: "0.1.0".into(),
            commit: Some("0123456789ab".into()),
            started: "2026-12-04T23:44:08Z".into(),
            config: "out = \"runs/quickstart\"\n[problems]\ncount = 400\nseed = 7\n".into(),
            seeds: BTreeMap::from([("problems.seed".to_string(), 7)]),
        }),
        ..Default::default()
    };
    for r in 0..3u32 {
        let sft = format!("round-{r:02}/train-sft/metrics.jsonl");
        let dpo = format!("round-{r:02}/train-dpo/metrics.jsonl");
        write_metrics(
            run,
            &sft,
            &(1..=40)
                .map(|s| sft_line(s, 2.5 / (1.0 + s as f64 * 0.1) + r as f64 * 0.05))
                .collect::<Vec<_>>(),
        );
        if r < 2 {
            write_metrics(
                run,
                &dpo,
                &(1..=30)
                    .map(|s| dpo_line(s, 0.69 - s as f64 * 0.01, s as f64 * 0.05 * (r + 1) as f64))
                    .collect::<Vec<_>>(),
            );
        }
        report
            .rounds
            .push(round(r, 0.2 + 0.07 * r as f64, Some(&sft), Some(&dpo)));
        let mut c = round(r, 0.2 + 0.02 * r as f64, None, None);
        c.false_positive_rate = Some(0.09);
        report.control.push(c);
    }
    report.write(run).unwrap();
}

fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR");
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    (w, h)
}

#[test]
fn renders_tables_embedded_charts_and_png_files() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path();
    fixture(run);
    let out = run.join("report.html");
    let summary = ouro_report::render(run, &out).unwrap();
    let html = std::fs::read_to_string(&out).unwrap();

    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("ouro run report: quickstart"));
    // Evaluation rows of both arms, with pass@k ordered by k.
    assert!(
        html.contains("<td>round-02/train-dpo/checkpoint</td>"),
        "main row missing"
    );
    assert!(
        html.contains("<td class=\"n\">34.0%</td>"),
        "round 2 pass@1 of the main arm"
    );
    assert!(
        html.contains("<td class=\"n\">24.0%</td>"),
        "round 2 pass@1 of the control arm"
    );
    let p5 = html.find("<th class=\"n\">pass@5</th>").unwrap();
    let p10 = html.find("<th class=\"n\">pass@10</th>").unwrap();
    assert!(p5 < p10, "pass@5 before pass@10");
    for head in html.split("<thead>").skip(1) {
        let head = head.split("</thead>").next().unwrap();
        assert!(
            head.matches(">pass@1</th>").count() <= 1,
            "pass@1 has one column: {head}"
        );
    }
    assert!(html.contains("<th class=\"n\">train false pos.</th>"));
    assert!(
        html.contains("<td class=\"n\">3.4%</td>"),
        "round 2's training rows that fail the audit"
    );
    assert!(html.contains("<th class=\"n\">DPO chosen false pos.</th>"));
    assert!(
        html.contains("<td class=\"n\">10.0%</td>"),
        "round 2's DPO chosen programs that fail the audit"
    );
    assert!(html.contains("main vs control"));
    assert!(html.contains("<th class=\"n\">repair</th>"));
    assert!(
        html.contains("<td class=\"n\">1600</td>"),
        "round 2 SFT rows"
    );
    assert!(
        html.contains("<td>missing file</td>"),
        "round 2 DPO metrics are missing"
    );
    // No external fetches: every image is inline.
    assert!(!html.contains("src=\"http"), "external image");
    assert!(!html.contains("<link"), "external stylesheet");
    let embedded = html.matches("src=\"data:image/png;base64,").count();

    let names: Vec<String> = summary
        .charts
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expect in [
        "pass_at_k.png",
        "false_positive_rate.png",
        "balance_score.png",
        "data_counts.png",
        "sft_loss.png",
        "dpo_loss.png",
        "dpo_margins.png",
    ] {
        assert!(
            names.iter().any(|n| n == expect),
            "{expect} not in {names:?}"
        );
    }
    assert_eq!(embedded, summary.charts.len());
    for p in &summary.charts {
        assert!(p.starts_with(run.join("report")));
        let bytes = std::fs::read(p).unwrap();
        assert_eq!(png_size(&bytes), (960, 420), "{}", p.display());
        assert!(bytes.len() > 8_000, "{} is suspiciously small", p.display());
    }
    assert_eq!(summary.rounds, 3);
    assert_eq!(summary.control_rounds, 3);
    assert!(summary
        .warnings
        .iter()
        .any(|w| w.contains("round 2: DPO metrics file")));

    // The header: version and commit, start date, seeds, total time, config.
    for want in [
        "<h2>Run</h2>",
        "0.1.0 (commit 0123456789ab)",
        "2026-12-04T23:44:08Z",
        "problems.seed = 7",
        "cpu/f32",
        // 3 rounds x 2 arms x 465.5 s
        "46 min 33 s",
        "<summary>pipeline config (4 lines)</summary>",
        "count = 400",
    ] {
        assert!(html.contains(want), "header lacks {want}");
    }
    // Per-step curves: loss on a log axis, learning rate and gradient norm.
    for expect in [
        "sft_lr.png",
        "sft_grad_norm.png",
        "dpo_lr.png",
        "dpo_grad_norm.png",
    ] {
        assert!(
            names.iter().any(|n| n == expect),
            "{expect} not in {names:?}"
        );
    }
    assert!(html.contains("SFT loss (log scale)"));
    // Per-problem table: the never-solved problem first, its latest failure
    // shown with escaped stderr; the solved one says so.
    let table = html.split("<h2>Per-problem results</h2>").nth(1).unwrap();
    let (sort, fib) = (
        table.find("<td>sort-7</td>").unwrap(),
        table.find("<td>fib-3</td>").unwrap(),
    );
    assert!(sort < fib, "worst problem first");
    assert!(table.contains("0.0% (0/10)") && table.contains("100.0% (10/10)"));
    assert!(table.contains("round 2: fail (audit): AssertionError"));
    assert!(table.contains("sort-7/r2/s1"));
    assert!(table.contains("&lt;script&gt;") && !table.contains("<script>"));
    assert!(table.contains("every sample passed") || table.contains("round 0: fail"));
}

#[test]
fn an_undefined_false_positive_rate_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path();
    let mut r = round(0, 0.0, None, None);
    r.false_positive_rate = None;
    r.audited_passes = 0;
    RunReport {
        pipeline: "nothing-passes".into(),
        rounds: vec![r],
        ..Default::default()
    }
    .write(run)
    .unwrap();
    let summary = ouro_report::render(run, &run.join("report.html")).unwrap();
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(
        html.contains("False-positive rate: undefined"),
        "explains why"
    );
    assert!(
        html.contains("<td class=\"n\">undefined</td>"),
        "table cell"
    );
    assert!(!summary.not_run.iter().any(|n| n == "False-positive rate"));
    // An older report.json without provenance still renders, and says what is missing.
    assert!(html.contains("were not recorded"));
}

#[test]
fn absent_sections_say_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path();
    let mut r = round(0, 0.1, None, None);
    r.false_positive_rate = None;
    r.balance_score = None;
    r.data_counts.clear();
    r.seconds.clear();
    RunReport {
        pipeline: "bare".into(),
        rounds: vec![r],
        control: vec![],
        device: None,
        run: None,
    }
    .write(run)
    .unwrap();
    let out = dir.path().join("nested/out.html");
    let summary = ouro_report::render(run, &out).unwrap();
    let html = std::fs::read_to_string(&out).unwrap();
    for s in [
        "B-STaR balance score",
        "Training data",
        "SFT training",
        "DPO training",
        "Time by phase",
    ] {
        assert!(
            html.contains(&format!("{s}: not run")),
            "{s} should say not run"
        );
        assert!(
            summary.not_run.iter().any(|n| n == s),
            "{s} in {:?}",
            summary.not_run
        );
    }
    assert_eq!(summary.charts.len(), 1, "only pass@k has data");
}

#[test]
fn stale_charts_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path();
    fixture(run);
    ouro_report::render(run, &run.join("report.html")).unwrap();
    assert!(run.join("report/dpo_margins.png").exists());
    let mut report = RunReport::read(run).unwrap();
    for r in &mut report.rounds {
        r.dpo_metrics = None;
    }
    report.write(run).unwrap();
    ouro_report::render(run, &run.join("report.html")).unwrap();
    assert!(!run.join("report/dpo_margins.png").exists());
    assert!(run.join("report/sft_loss.png").exists());
}

#[test]
fn corrupt_report_json_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("report.json"),
        "{\"pipeline\": \"x\", \"rounds\": [",
    )
    .unwrap();
    let err = ouro_report::render(dir.path(), &dir.path().join("r.html")).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("report.json"), "{msg}");
    assert!(!dir.path().join("r.html").exists());

    let empty = tempfile::tempdir().unwrap();
    let msg = format!(
        "{:#}",
        ouro_report::render(empty.path(), &empty.path().join("r.html")).unwrap_err()
    );
    assert!(msg.contains("report.json"), "{msg}");
}

/// Renders the fixture to `OURO_REPORT_FIXTURE_OUT` (a directory) for the
/// headless-browser check in scripts/check-report-render.sh.
/// Run: OURO_REPORT_FIXTURE_OUT=/tmp/run cargo test -p ouro-report --test render -- --ignored fixture_for_browser
#[test]
#[ignore]
fn fixture_for_browser() {
    let out = std::env::var("OURO_REPORT_FIXTURE_OUT").expect("set OURO_REPORT_FIXTURE_OUT");
    let run = Path::new(&out);
    std::fs::create_dir_all(run).unwrap();
    fixture(run);
    ouro_report::render(run, &run.join("report.html")).unwrap();
}
