//! Ctrl-C during `ouro run`: exit 130, a line that says how to resume, no
//! traceback from the sandboxes, and the resumed run finishes.

use std::io::Read;
use std::process::{Command, Stdio};

use ouro_e2e::{adopt_orphans, adopted_orphans, ouro, ouro_bin, parquet_bytes, stderr, workspace};

#[test]
fn sigint_during_execute_says_how_to_resume() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let text = std::fs::read_to_string(workspace().join("pipelines/datasets.toml"))
        .unwrap()
        .replace("count = 2000", "count = 400")
        .replace("runs/datasets", &out.display().to_string());
    let pipeline = dir.path().join("p.toml");
    std::fs::write(&pipeline, text).unwrap();
    let p = pipeline.display().to_string();
    // Interrupt once the execute stage has started (its marker is absent,
    // its journal exists), or whenever the run would otherwise end.
    let (code, err) = interrupt_when(&p, &out.join("round-00/executions"));
    if code == Some(0) {
        eprintln!("the run finished before the interrupt; nothing to check");
        return;
    }
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains(&format!("ouro run {p} --resume")), "{err}");
    assert!(!err.contains("Traceback"), "{err}");
    let o = ouro(&["run", &p, "--resume"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The resumed stage's summary counts the rows executed before the
    // interrupt too: its verdicts add up to its executions.
    let stdout = String::from_utf8_lossy(&o.stdout);
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("execute"))
        .unwrap_or_else(|| panic!("no execute line in {stdout}"));
    let count = |prefix: &str| -> u64 {
        line.split_whitespace()
            .filter_map(|w| w.strip_prefix(prefix))
            .filter_map(|w| w.split('=').next_back()?.parse::<u64>().ok())
            .sum()
    };
    assert_eq!(count("executions="), count("verdict_"), "{line}");
    // And the datasets equal an uninterrupted run's, byte for byte.
    let plain = dir.path().join("plain");
    let text = std::fs::read_to_string(&pipeline)
        .unwrap()
        .replace(&out.display().to_string(), &plain.display().to_string());
    let plain_p = dir.path().join("plain.toml");
    std::fs::write(&plain_p, text).unwrap();
    let o = ouro(&["run", &plain_p.display().to_string()]);
    assert!(o.status.success(), "{}", stderr(&o));
    for config in ["dataset", "lintseq"] {
        let a = parquet_bytes(&out.join("round-00").join(config));
        let b = parquet_bytes(&plain.join("round-00").join(config));
        assert!(!a.is_empty(), "{config}");
        assert!(
            a == b,
            "{config}: the interrupted run's Parquet differs from a plain run's"
        );
    }
}

/// Interrupts `ouro run PIPELINE --resume` once `marker` (a
/// directory under the run) appears; returns the exit code and stderr.
/// Fails if the interrupted run leaves a process behind.
fn interrupt_when(pipeline: &str, marker: &std::path::Path) -> (Option<i32>, String) {
    adopt_orphans();
    let mut child = Command::new(ouro_bin())
        .args(["run", pipeline, "--resume"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..12000 {
        if marker.exists() || child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    // Sandboxes that were told to stop get a moment to exit before they count.
    let mut left = adopted_orphans();
    for _ in 0..40 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        left = adopted_orphans();
    }
    assert!(
        left.is_empty(),
        "the interrupted run left processes behind: {left:?}\n{err}"
    );
    (status.code(), err)
}

/// Ctrl-C while round 1 samples, audits its training rows and trains: each time the
/// hint names the resume command, and the resumed run's report equals an
/// uninterrupted run's to the last figure (pass@k, data counts, losses).
#[test]
fn sigint_during_sampling_and_training_resumes_to_the_same_report() {
    let plain = tempfile::tempdir().unwrap();
    let p = ouro_e2e::tiny_iteration(plain.path());
    let o = ouro(&["run", &p]);
    assert!(o.status.success(), "{}", stderr(&o));
    let want = ouro_data::report::RunReport::read(&plain.path().join("run")).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let p = ouro_e2e::tiny_iteration(dir.path());
    let run = dir.path().join("run");
    // Timings differ between runs; each step and its loss must not.
    let losses = |root: &std::path::Path| -> Vec<(u64, String)> {
        std::fs::read_to_string(root.join("round-01/train-sft/metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (v["step"].as_u64().unwrap(), v["loss"].to_string())
            })
            .collect()
    };
    let mut interrupted = 0;
    for stage in [
        "round-01/samples",
        "round-01/train-audit",
        "round-01/train-sft",
    ] {
        let (code, err) = interrupt_when(&p, &run.join(stage));
        if code != Some(0) {
            interrupted += 1;
            assert_eq!(code, Some(130), "{err}");
            assert!(err.contains(&format!("ouro run {p} --resume")), "{err}");
            assert!(
                !err.contains("Traceback") && !err.contains("panicked"),
                "{err}"
            );
            let o = ouro(&["run", &p, "--resume"]);
            assert!(o.status.success(), "{}", stderr(&o));
        }
        let got = ouro_data::report::RunReport::read(&run).unwrap();
        assert_eq!(got.rounds.len(), want.rounds.len());
        for (g, w) in got.rounds.iter().zip(&want.rounds) {
            assert_eq!(g.pass_at_k, w.pass_at_k, "{stage}: round {}", g.round);
            assert_eq!(g.data_counts, w.data_counts, "{stage}: round {}", g.round);
            assert_eq!(g.false_positive_rate, w.false_positive_rate, "{stage}");
            assert_eq!(
                (g.train_false_positive_rate, g.train_audited_rows),
                (w.train_false_positive_rate, w.train_audited_rows),
                "{stage}"
            );
        }
        assert_eq!(losses(&run), losses(&plain.path().join("run")), "{stage}");
        // The next interruption starts from a run with round 0 only.
        std::fs::remove_dir_all(run.join("round-01")).unwrap();
    }
    eprintln!("interrupted {interrupted} of 3 times");
}
