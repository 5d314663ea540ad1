//! `-q` silences a run's status lines (errors still print), after or before
//! the subcommand.

use ouro_e2e::{ouro, stderr, workspace};

#[test]
fn quiet_run_prints_nothing_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    for (i, args) in [["-q", "run"], ["run", "-q"], ["run", "-v"]]
        .iter()
        .enumerate()
    {
        let out = dir.path().join(format!("out{i}"));
        let text = std::fs::read_to_string(workspace().join("pipelines/datasets.toml"))
            .unwrap()
            .replace("count = 2000", "count = 6")
            .replace("runs/datasets", &out.display().to_string());
        let p = dir.path().join(format!("p{i}.toml"));
        std::fs::write(&p, text).unwrap();
        let p = p.display().to_string();
        let o = ouro(&[args[0], args[1], &p]);
        assert!(o.status.success(), "{}", stderr(&o));
        if args.contains(&"-q") {
            assert_eq!(stderr(&o), "", "quiet run wrote to stderr");
        } else {
            assert!(stderr(&o).contains("stage problems ..."), "{}", stderr(&o));
        }
    }
}

/// Without a terminal (a Slurm log, CI, a pipe) progress is plain lines with
/// counts, rate and ETA, one per interval (`OURO_PROGRESS_INTERVAL_S`, 10 s by
/// default; 0 here so that every update prints); `-q` silences them too.
#[test]
fn progress_without_a_terminal_is_plain_lines() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let text = std::fs::read_to_string(workspace().join("pipelines/datasets.toml"))
        .unwrap()
        .replace("count = 2000", "count = 6")
        .replace("runs/datasets", &out.display().to_string());
    let p = dir.path().join("p.toml");
    std::fs::write(&p, text).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(ouro_e2e::ouro_bin())
            .args(args)
            .env("OURO_PROGRESS_INTERVAL_S", "0")
            .output()
            .unwrap()
    };
    let o = run(&["run", &p.display().to_string()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    let line = err
        .lines()
        .find(|l| l.starts_with("execute: ") && !l.starts_with("execute: 0/"))
        .unwrap_or_else(|| panic!("no execute progress line:\n{err}"));
    assert!(
        line.contains("/34 samples (") && line.contains("/s") && line.contains("eta"),
        "{line}"
    );
    assert!(
        !err.contains('\r') && !err.contains('\u{1b}'),
        "no terminal control codes in a log"
    );
    std::fs::remove_dir_all(&out).unwrap();
    let o = run(&["-q", "run", &p.display().to_string()]);
    assert!(o.status.success());
    assert_eq!(stderr(&o), "");
    // --no-progress (before or after the subcommand) drops the progress
    // lines and keeps the stage lines.
    for args in [["--no-progress", "run"], ["run", "--no-progress"]] {
        std::fs::remove_dir_all(&out).unwrap();
        let o = run(&[args[0], args[1], &p.display().to_string()]);
        assert!(o.status.success(), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("stage execute ..."), "{err}");
        assert!(!err.contains("execute: "), "{err}");
    }
}
