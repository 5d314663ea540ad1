//! Ctrl-C during `ouro run`: exit 130, a line that says how to resume, no
//! traceback from the sandboxes, and the resumed run finishes.

use std::io::Read;
use std::process::{Command, Stdio};

use ouro_e2e::{ouro, ouro_bin, stderr, workspace};

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
    let mut child = Command::new(ouro_bin())
        .args(["run", &p])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the execute stage has started (its marker is absent,
    // its journal exists), or whenever the run would otherwise end.
    let journal_dir = out.join("round-00/executions");
    for _ in 0..2400 {
        if journal_dir.exists() || child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
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
    if status.code() == Some(0) {
        eprintln!("the run finished before the interrupt; nothing to check");
        return;
    }
    assert_eq!(status.code(), Some(130), "{err}");
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
}
