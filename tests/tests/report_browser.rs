//! report.html of a real run, opened in headless Chromium: the page parses
//! into every section the report promises (run header, per-step curves,
//! per-problem table) and paints charts, with no network.
//!
//! Needs Chromium (`.ci/run` installs Debian's `chromium`); skipped without
//! one outside CI. Run alone: cargo test -p ouro-e2e --test report_browser

use std::path::Path;
use std::process::Command;

use ouro_data::report::RunReport;
use ouro_e2e::{chromium, ouro, stderr, tiny_iteration};

/// Chromium's view of `html`: the DOM it built, and a PNG screenshot.
fn open_in_chromium(browser: &Path, html: &Path, work: &Path) -> (String, Vec<u8>) {
    let url = format!("file://{}", html.display());
    let shot = work.join("shot.png");
    let base = |profile: &str| {
        let mut c = Command::new(browser);
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", work.join(profile).display()));
        c
    };
    let dom = base("p1").arg("--dump-dom").arg(&url).output().unwrap();
    assert!(
        dom.status.success(),
        "chromium --dump-dom: {}",
        stderr(&dom)
    );
    let s = base("p2")
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1200,2400")
        .arg(&url)
        .output()
        .unwrap();
    assert!(s.status.success(), "chromium --screenshot: {}", stderr(&s));
    (
        String::from_utf8_lossy(&dom.stdout).into_owned(),
        std::fs::read(&shot).expect("chromium wrote no screenshot"),
    )
}

/// Share of pixels that are not near-white, and the number of distinct colours.
fn ink(png_bytes: &[u8]) -> (f64, usize) {
    let mut reader = png::Decoder::new(png_bytes).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let bpp = info.color_type.samples();
    let px: Vec<&[u8]> = buf[..info.buffer_size()].chunks(bpp).collect();
    let inked = px
        .iter()
        .filter(|p| p[..3].iter().any(|&c| c < 200))
        .count();
    let colours: std::collections::HashSet<[u8; 3]> =
        px.iter().step_by(7).map(|p| [p[0], p[1], p[2]]).collect();
    (inked as f64 / px.len() as f64, colours.len())
}

#[test]
fn report_html_shows_every_section_in_chromium() {
    let Some(browser) = chromium() else {
        eprintln!("skipping: no chromium (set CHROMIUM, or see .ci/run)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let p = tiny_iteration(dir.path());
    let o = ouro(&["run", &p]);
    assert!(o.status.success(), "{}", stderr(&o));
    let run = dir.path().join("run");
    let report = RunReport::read(&run).unwrap();

    // Rendered elsewhere, the page and its charts stay out of the run directory.
    std::fs::remove_dir_all(run.join("report")).unwrap();
    let site = dir.path().join("site");
    let o = ouro(&[
        "report",
        run.to_str().unwrap(),
        "--out",
        &format!("{}/", site.display()),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!run.join("report").exists(), "charts written into the run");
    assert!(site.join("report/sft_lr.png").exists());
    let html = site.join("report.html");

    let (dom, shot) = open_in_chromium(&browser, &html, dir.path());
    let info = report.run.as_ref().expect("ouro run records provenance");
    assert_eq!(info.ouro_version, env!("CARGO_PKG_VERSION"));
    assert!(info.config.contains("[iterate]"));
    assert_eq!(info.seeds.get("problems.seed"), Some(&0));
    for want in [
        "<h2>Run</h2>".to_string(),
        format!("started</th><td>{}", info.started),
        "problems.seed = 0".into(),
        "pipeline config (".into(),
        "SFT loss (log scale)".into(),
        "SFT learning rate".into(),
        "SFT gradient norm".into(),
        "<h2>Time by phase</h2>".into(),
        "<h2>Per-problem results</h2>".into(),
    ] {
        assert!(dom.contains(&want), "the DOM lacks {want}");
    }
    if report.rounds.iter().any(|r| r.dpo_metrics.is_some()) {
        assert!(dom.contains("DPO learning rate"));
    }
    // Every round's phases, round 0 included: its tokenizer, init and seed SFT.
    let r0 = &report.rounds[0].seconds;
    for phase in ["init", "train", "eval"] {
        assert!(
            r0.get(phase).is_some_and(|s| *s > 0.0),
            "round 0 {phase}: {r0:?}"
        );
    }
    let r1 = &report.rounds[1].seconds;
    for phase in ["sample", "execute", "build", "train", "eval"] {
        assert!(
            r1.get(phase).is_some_and(|s| *s > 0.0),
            "round 1 {phase}: {r1:?}"
        );
    }
    // One table row per held-out problem, each with its first failure or a pass.
    let table = dom.split("<h2>Per-problem results</h2>").nth(1).unwrap();
    let table = table.split("</table>").next().unwrap();
    let last = report.rounds.last().unwrap();
    assert_eq!(last.problems.len(), 6);
    for p in &last.problems {
        assert!(
            table.contains(&format!("<td>{}</td>", p.problem_id)),
            "{}",
            p.problem_id
        );
    }
    let failing = last
        .problems
        .iter()
        .filter(|p| p.passed < p.samples)
        .count();
    assert!(table.matches("<details>").count() >= failing);
    // pass@1 with one sample drawn per attempt is the mean per-problem pass rate.
    let mean: f64 = last
        .problems
        .iter()
        .map(|p| p.passed as f64 / p.samples as f64)
        .sum::<f64>()
        / last.problems.len() as f64;
    assert!(
        (mean - last.pass_at_1).abs() < 1e-9,
        "{mean} vs {}",
        last.pass_at_1
    );
    // The false-positive rate reads as a percentage, or as undefined when nothing passed.
    match last.false_positive_rate {
        Some(_) => assert!(last.audited_passes > 0),
        None => assert!(dom.contains(">undefined</td>"), "undefined FP rate"),
    }
    let embedded = dom.matches("src=\"data:image/png;base64,").count();
    let files = std::fs::read_dir(site.join("report")).unwrap().count();
    assert!(
        embedded >= 5 && embedded == files,
        "{embedded} charts embedded, {files} files"
    );
    let (inked, colours) = ink(&shot);
    assert!(
        inked > 0.02 && colours >= 16,
        "blank screenshot: {inked:.3} inked, {colours} colours"
    );
}
