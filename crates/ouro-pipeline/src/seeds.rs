//! `ouro run --seeds N`: one expert-iteration pipeline over several seed
//! pairs, each with its seed-only control arm, summarised as mean ± sd.
//!
//! A single run is an anecdote: the problems drawn, the initialisation and
//! every sampled program depend on two seeds. Each seed pair becomes its own
//! pipeline file (`OUT-seeds/seed-S.toml`, the original with `problems.seed`,
//! `model.seed`, `out` and `iterate.control` replaced), so every member run
//! is an ordinary run that can be inspected, resumed or rerun by hand.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use ouro_data::report::{RoundReport, RunReport};
use serde::{Deserialize, Serialize};

use crate::config::load_config;
use crate::runner::run_pipeline;

/// The summary written to `OUT-seeds/seeds.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SeedsReport {
    /// The pipeline file the member runs were derived from.
    pub pipeline: String,
    pub seeds: Vec<u64>,
    /// Per-round statistics over the seeds.
    pub rounds: Vec<SeedRound>,
    /// Per-seed results, in `seeds` order.
    pub runs: Vec<SeedRun>,
}

/// One seed pair's run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SeedRun {
    pub seed: u64,
    /// The run directory.
    pub out: String,
    /// Strict held-out pass@1 of the main arm per round.
    pub pass_at_1: Vec<f64>,
    /// Strict held-out pass@1 of the control arm per round.
    pub control_pass_at_1: Vec<f64>,
    /// Wall seconds this invocation spent on the run (0 when it was already done).
    pub seconds: f64,
}

/// Mean and sample standard deviation of one figure over the seeds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct MeanSd {
    pub mean: f64,
    pub sd: f64,
    pub n: usize,
}

impl MeanSd {
    pub fn of(xs: &[f64]) -> MeanSd {
        let n = xs.len();
        if n == 0 {
            return MeanSd::default();
        }
        let mean = xs.iter().sum::<f64>() / n as f64;
        // Sample sd (n - 1): the seeds are a sample of the seeds a user could pick.
        let sd = if n > 1 {
            (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        MeanSd { mean, sd, n }
    }

    fn percent(&self) -> String {
        format!("{:.1} ± {:.1}", 100.0 * self.mean, 100.0 * self.sd)
    }
}

/// One round over all seeds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SeedRound {
    pub round: u32,
    pub pass_at_1: MeanSd,
    /// Keyed `"pass@K"`, as in `report.json`.
    pub pass_at_k: BTreeMap<String, MeanSd>,
    pub false_positive_rate: MeanSd,
    /// Share of the round's sampled SFT rows that fail the audit tests.
    #[serde(default)]
    pub train_false_positive_rate: MeanSd,
    /// Share of the round's DPO pairs whose chosen program fails the audit
    /// tests (seeds whose round trained a DPO step).
    #[serde(default)]
    pub dpo_chosen_false_positive_rate: MeanSd,
    pub control_pass_at_1: MeanSd,
    /// Main minus control pass@1, per seed, then averaged.
    pub margin_over_control: MeanSd,
    /// pass@1 minus round 0's, per seed, then averaged.
    pub gain_over_round0: MeanSd,
}

/// `OUT-seeds`: where the member runs of `out` go.
pub fn seeds_dir(out: &Path) -> PathBuf {
    let mut name = out
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "run".into());
    name.push("-seeds");
    out.with_file_name(name)
}

/// Parses `--seeds`: a count `N` (seeds 1..=N) or a list `3,7,11` (one seed: `0,`).
pub fn parse_seeds(spec: &str) -> Result<Vec<u64>> {
    let spec = spec.trim();
    // A list has a comma; one seed S alone is the list `S,` (a bare number is a count).
    let seeds: Vec<u64> = if spec.contains(',') {
        let spec = spec.strip_suffix(',').unwrap_or(spec);
        spec.split(',')
            .map(|s| {
                s.trim()
                    .parse::<u64>()
                    .with_context(|| format!("--seeds: '{}' is not a seed", s.trim()))
            })
            .collect::<Result<_>>()?
    } else {
        let n: u64 = spec.parse().with_context(|| {
            format!("--seeds: '{spec}' is neither a count nor a list like 1,2,3")
        })?;
        if n < 1 {
            bail!("--seeds: give at least 1 seed (a count N or a list like 1,2,3)");
        }
        (1..=n).collect()
    };
    let mut seen = std::collections::HashSet::new();
    for s in &seeds {
        if !seen.insert(s) {
            bail!("--seeds: seed {s} is listed twice");
        }
    }

    Ok(seeds)
}

/// The member pipeline for `seed`: the original text with the seed keys,
/// `out` and `iterate.control` replaced. Other keys (and their order) stay.
pub fn member_pipeline(text: &str, source: &Path, seed: u64, out: &Path) -> Result<String> {
    let mut doc: toml::Table =
        toml::from_str(text).with_context(|| format!("parsing {}", source.display()))?;
    let table = |doc: &mut toml::Table, key: &str| -> Result<()> {
        match doc.get_mut(key) {
            Some(toml::Value::Table(_)) => Ok(()),
            _ => bail!(
                "{}: --seeds needs a [{key}] section (an expert-iteration pipeline)",
                source.display()
            ),
        }
    };
    for key in ["problems", "model", "iterate"] {
        table(&mut doc, key)?;
    }
    let set = |doc: &mut toml::Table, section: &str, key: &str, v: toml::Value| {
        if let Some(toml::Value::Table(t)) = doc.get_mut(section) {
            t.insert(key.into(), v);
        }
    };
    let value = toml::Value::Integer(i64::try_from(seed).context("--seeds: seed too large")?);
    set(&mut doc, "problems", "seed", value.clone());
    set(&mut doc, "model", "seed", value);
    set(&mut doc, "iterate", "control", toml::Value::Boolean(true));
    doc.insert("out".into(), toml::Value::String(out.display().to_string()));
    let body = toml::to_string(&doc).context("writing the member pipeline")?;
    Ok(format!(
        "# Written by `ouro run {} --seeds`: seed pair {seed_n} of that pipeline,\n\
         # with its seed-only control arm. Edit the original, not this file.\n{body}",
        source.display(),
        seed_n = seed,
    ))
}

/// One member run's outcome: its seed's summary line and its report.
type MemberResult = Result<(SeedRun, RunReport)>;

/// Runs `pipeline` once per seed, `jobs` member runs at a time (resuming
/// finished members when `resume`), then writes and returns the summary.
pub fn run_seeds(pipeline: &Path, seeds: &[u64], jobs: usize, resume: bool) -> Result<SeedsReport> {
    let text = std::fs::read_to_string(pipeline)
        .with_context(|| format!("reading {}", pipeline.display()))?;
    let base = load_config(pipeline)?;
    if base.model.is_none() || base.iterate.is_none() || base.eval.is_none() {
        bail!(
            "{}: --seeds runs expert iteration; the pipeline needs [model], [iterate] and [eval]",
            pipeline.display()
        );
    }
    let dir = seeds_dir(&base.out);
    let summary_path = dir.join("seeds.json");
    if summary_path.exists() && !resume {
        bail!(
            "{} already holds a seeds run; pass --resume to finish it, or remove it to start over",
            dir.display()
        );
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // Every member pipeline is written and checked before the first one runs.
    let mut members = Vec::new();
    for &seed in seeds {
        let out = dir.join(format!("seed-{seed}"));
        let file = dir.join(format!("seed-{seed}.toml"));
        let member = member_pipeline(&text, pipeline, seed, &out)?;
        match std::fs::read_to_string(&file) {
            Ok(old) if old != member => bail!(
                "{} differs from what {} gives now; remove {} to start the seeds over",
                file.display(),
                pipeline.display(),
                dir.display()
            ),
            Ok(_) => {}
            Err(_) => ouro_data::fsutil::atomic_write(&file, member.as_bytes())
                .with_context(|| format!("writing {}", file.display()))?,
        }
        let config = load_config(&file)?;
        members.push((seed, file, config));
    }
    let mut report = SeedsReport {
        pipeline: pipeline.display().to_string(),
        seeds: seeds.to_vec(),
        ..Default::default()
    };
    let n = members.len();
    let run_one = |i: usize| -> Result<(SeedRun, RunReport)> {
        let (seed, file, config) = &members[i];
        crate::status::say(format_args!(
            "seed pair {} of {n} (seed {seed}): {}",
            i + 1,
            file.display()
        ));
        let t0 = Instant::now();
        let member_resume = resume || config.out.join("manifest.json").exists();
        let summary = run_pipeline(file, config, member_resume)
            .with_context(|| format!("seed {seed} ({})", file.display()))?;
        let rounds = summary
            .rounds
            .with_context(|| format!("seed {seed}: the run wrote no rounds"))?;
        let run = SeedRun {
            seed: *seed,
            out: config.out.display().to_string(),
            pass_at_1: rounds.rounds.iter().map(|r| r.pass_at_1).collect(),
            control_pass_at_1: rounds.control.iter().map(|r| r.pass_at_1).collect(),
            seconds: t0.elapsed().as_secs_f64(),
        };
        Ok((run, rounds))
    };
    // Member runs are independent directories; with `jobs` > 1 they share the
    // cores (each run's results are seeded, so only wall time changes).
    let results: Vec<MemberResult> = if jobs <= 1 {
        (0..n).map(run_one).collect()
    } else {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let slots: Vec<std::sync::Mutex<Option<MemberResult>>> =
            (0..n).map(|_| std::sync::Mutex::new(None)).collect();
        std::thread::scope(|scope| {
            for _ in 0..jobs.min(n) {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if i >= n {
                        break;
                    }
                    let r = run_one(i);
                    *slots[i].lock().expect("no panics while held") = Some(r);
                });
            }
        });
        slots
            .into_iter()
            .map(|m| {
                m.into_inner()
                    .expect("no panics while held")
                    .expect("every member ran")
            })
            .collect()
    };
    let mut reports = Vec::new();
    for r in results {
        let (run, rounds) = r?;
        report.runs.push(run);
        reports.push(rounds);
    }
    report.rounds = summarise(&reports);
    ouro_data::fsutil::atomic_write(
        &summary_path,
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )
    .with_context(|| format!("writing {}", summary_path.display()))?;
    Ok(report)
}

/// Per-round mean ± sd over the member runs' reports.
pub fn summarise(reports: &[RunReport]) -> Vec<SeedRound> {
    let rounds = reports.iter().map(|r| r.rounds.len()).min().unwrap_or(0);
    let at = |r: &RunReport, i: usize| -> Option<RoundReport> { r.rounds.get(i).cloned() };
    (0..rounds)
        .map(|i| {
            let main: Vec<RoundReport> = reports.iter().filter_map(|r| at(r, i)).collect();
            let control: Vec<Option<f64>> = reports
                .iter()
                .map(|r| r.control.get(i).map(|c| c.pass_at_1))
                .collect();
            let p1: Vec<f64> = main.iter().map(|r| r.pass_at_1).collect();
            let keys: std::collections::BTreeSet<&String> =
                main.iter().flat_map(|r| r.pass_at_k.keys()).collect();
            let pass_at_k = keys
                .into_iter()
                .map(|k| {
                    let xs: Vec<f64> = main
                        .iter()
                        .filter_map(|r| r.pass_at_k.get(k))
                        .copied()
                        .collect();
                    (k.clone(), MeanSd::of(&xs))
                })
                .collect();
            let fp: Vec<f64> = main.iter().filter_map(|r| r.false_positive_rate).collect();
            let train_fp: Vec<f64> = main
                .iter()
                .filter_map(|r| r.train_false_positive_rate)
                .collect();
            let dpo_fp: Vec<f64> = main
                .iter()
                .filter_map(|r| r.dpo_chosen_false_positive_rate)
                .collect();
            let ctl: Vec<f64> = control.iter().flatten().copied().collect();
            let margin: Vec<f64> = p1
                .iter()
                .zip(&control)
                .filter_map(|(m, c)| c.map(|c| m - c))
                .collect();
            let gain: Vec<f64> = reports
                .iter()
                .zip(&p1)
                .map(|(r, p)| p - r.rounds[0].pass_at_1)
                .collect();
            SeedRound {
                round: main.first().map_or(i as u32, |r| r.round),
                pass_at_1: MeanSd::of(&p1),
                pass_at_k,
                false_positive_rate: MeanSd::of(&fp),
                train_false_positive_rate: MeanSd::of(&train_fp),
                dpo_chosen_false_positive_rate: MeanSd::of(&dpo_fp),
                control_pass_at_1: MeanSd::of(&ctl),
                margin_over_control: MeanSd::of(&margin),
                gain_over_round0: MeanSd::of(&gain),
            }
        })
        .collect()
}

/// The table `ouro run --seeds` prints: percentages, mean ± sd over seeds.
pub fn seeds_table(report: &SeedsReport) -> String {
    let ks = crate::iterate::other_ks(report.rounds.iter().map(|r| &r.pass_at_k));
    let mut out = format!(
        "{} seed pairs ({}), mean ± sd in points\n{:<6} {:>13}",
        report.seeds.len(),
        report
            .seeds
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        "round",
        "pass@1"
    );
    for k in &ks {
        out.push_str(&format!(" {k:>13}"));
    }
    let dpo = report
        .rounds
        .iter()
        .any(|r| r.dpo_chosen_false_positive_rate.n > 0);
    out.push_str(&format!(
        " {:>13} {:>13} {:>13}",
        "gain vs r0", "FP rate", "train FP"
    ));
    if dpo {
        out.push_str(&format!(" {:>13}", "DPO FP"));
    }
    out.push_str(&format!(" {:>13} {:>13}\n", "control", "margin"));
    for r in &report.rounds {
        out.push_str(&format!("{:<6} {:>13}", r.round, r.pass_at_1.percent()));
        for k in &ks {
            let v = r.pass_at_k.get(k).map_or("-".into(), MeanSd::percent);
            out.push_str(&format!(" {v:>13}"));
        }
        let opt = |m: &MeanSd| if m.n == 0 { "-".into() } else { m.percent() };
        out.push_str(&format!(
            " {:>13} {:>13} {:>13}",
            r.gain_over_round0.percent(),
            opt(&r.false_positive_rate),
            opt(&r.train_false_positive_rate),
        ));
        if dpo {
            out.push_str(&format!(" {:>13}", opt(&r.dpo_chosen_false_positive_rate)));
        }
        out.push_str(&format!(
            " {:>13} {:>13}\n",
            opt(&r.control_pass_at_1),
            opt(&r.margin_over_control)
        ));
    }
    out.push_str("\nper seed: pass@1 by round (control)\n");
    for run in &report.runs {
        let fmt = |xs: &[f64]| {
            xs.iter()
                .map(|x| format!("{:.1}", 100.0 * x))
                .collect::<Vec<_>>()
                .join(" ")
        };
        out.push_str(&format!(
            "  seed {:<4} {}  ({})  {:.0} s\n",
            run.seed,
            fmt(&run.pass_at_1),
            fmt(&run.control_pass_at_1),
            run.seconds
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_parse_as_count_or_list() {
        assert_eq!(parse_seeds("3").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_seeds("7, 11,13").unwrap(), vec![7, 11, 13]);
        assert_eq!(parse_seeds("0,").unwrap(), vec![0]);
        assert_eq!(parse_seeds("1").unwrap(), vec![1]);
        for bad in ["0", "x", "1,1", "1,,2", "-3"] {
            assert!(parse_seeds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn member_pipeline_replaces_only_seeds_out_and_control() {
        let text = "out = \"runs/q\"\n[problems]\ncount = 5\nseed = 0\n[model]\ninit = \"small\"\nseed = 0\n\
                    [iterate]\nrounds = 2\n[eval]\nsplit = \"heldout\"\n";
        let member = member_pipeline(
            text,
            Path::new("q.toml"),
            4,
            Path::new("runs/q-seeds/seed-4"),
        )
        .unwrap();
        let doc: toml::Table = toml::from_str(&member).unwrap();
        assert_eq!(doc["out"].as_str(), Some("runs/q-seeds/seed-4"));
        assert_eq!(doc["problems"]["seed"].as_integer(), Some(4));
        assert_eq!(doc["problems"]["count"].as_integer(), Some(5));
        assert_eq!(doc["model"]["seed"].as_integer(), Some(4));
        assert_eq!(doc["iterate"]["control"].as_bool(), Some(true));
        assert_eq!(doc["iterate"]["rounds"].as_integer(), Some(2));
        assert_eq!(doc["eval"]["split"].as_str(), Some("heldout"));
        let err = member_pipeline(
            "out = \"x\"\n[problems]\n",
            Path::new("d.toml"),
            1,
            Path::new("o"),
        )
        .unwrap_err();
        assert!(format!("{err}").contains("[model]"), "{err}");
    }

    fn round(r: u32, p1: f64, fp: f64) -> RoundReport {
        RoundReport {
            round: r,
            pass_at_1: p1,
            false_positive_rate: Some(fp),
            // Round 0 trains on references, which are not audited.
            train_false_positive_rate: (r > 0).then_some(fp / 2.0),
            dpo_chosen_false_positive_rate: (r > 0).then_some(fp * 2.0),
            pass_at_k: [("pass@4".to_string(), p1 + 0.1)].into(),
            ..Default::default()
        }
    }

    #[test]
    fn summary_is_mean_and_sample_sd_of_per_seed_differences() {
        let a = RunReport {
            rounds: vec![round(0, 0.1, 0.0), round(1, 0.5, 0.02)],
            control: vec![round(0, 0.1, 0.0), round(1, 0.2, 0.0)],
            ..Default::default()
        };
        let b = RunReport {
            rounds: vec![round(0, 0.2, 0.0), round(1, 0.4, 0.04)],
            control: vec![round(0, 0.2, 0.0), round(1, 0.3, 0.0)],
            ..Default::default()
        };
        let s = summarise(&[a, b]);
        assert_eq!(s.len(), 2);
        let close = |x: f64, y: f64| assert!((x - y).abs() < 1e-12, "{x} vs {y}");
        close(s[1].pass_at_1.mean, 0.45);
        close(s[1].pass_at_1.sd, (0.005f64).sqrt());
        // Gains 0.4 and 0.2; margins 0.3 and 0.1.
        close(s[1].gain_over_round0.mean, 0.3);
        close(s[1].margin_over_control.mean, 0.2);
        close(s[1].margin_over_control.sd, (0.02f64).sqrt());
        close(s[1].false_positive_rate.mean, 0.03);
        close(s[1].train_false_positive_rate.mean, 0.015);
        close(s[1].dpo_chosen_false_positive_rate.mean, 0.06);
        assert_eq!(
            s[0].train_false_positive_rate.n, 0,
            "nothing audited in round 0"
        );
        close(s[1].pass_at_k["pass@4"].mean, 0.55);
        let table = seeds_table(&SeedsReport {
            seeds: vec![1, 2],
            rounds: s,
            ..Default::default()
        });
        assert!(table.contains("45.0 ± 7.1"), "{table}");
        assert!(table.contains("train FP        DPO FP"), "{table}");
        assert!(table.contains("1.5 ± 0.7     6.0 ± 2.8"), "{table}");
    }
}
