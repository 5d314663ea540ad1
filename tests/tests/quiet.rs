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

/// The single commands keep `-q` too: their summaries go, their results on stdout stay.
#[test]
fn quiet_commands_print_nothing_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name).display().to_string();
    let quiet = |args: &[&str]| -> String {
        let o = ouro(&[&["-q"], args].concat());
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o), "", "ouro -q {args:?} wrote to stderr");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let loud = |args: &[&str]| stderr(&ouro(args));
    quiet(&[
        "problems",
        "generate",
        "--count",
        "6",
        "--out",
        &d("problems"),
    ]);
    // Each problem's reference solution, as generations to import.
    let problems: Vec<ouro_data::Problem> =
        ouro_data::shard::read_dir(dir.path().join("problems")).unwrap();
    let lines: String = problems
        .iter()
        .map(|p| {
            let row = serde_json::json!({"problem_id": p.problem_id,
                "completion": p.reference_solution.clone().unwrap()});
            format!("{row}\n")
        })
        .collect();
    std::fs::write(dir.path().join("gens.jsonl"), lines).unwrap();
    let import = [
        "import",
        "generations",
        "--format",
        "jsonl",
        &d("gens.jsonl"),
        "--problems",
        &d("problems"),
        "--out",
        &d("samples"),
    ];
    quiet(&import);
    assert!(loud(&import).contains("imported 6 samples"));
    let execute = [
        "execute",
        "--workers",
        "1",
        "--problems",
        &d("problems"),
        "--samples",
        &d("samples"),
        "--out",
        &d("executions"),
    ];
    quiet(&execute);
    assert!(loud(&execute).contains("6 executions (6 resumed"));
    quiet(&[
        "build",
        "sft",
        "--problems",
        &d("problems"),
        "--samples",
        &d("samples"),
        "--executions",
        &d("executions"),
        "--out",
        &d("built"),
    ]);
    quiet(&["lintseq", "--input", &d("built"), "--out", &d("lintseq")]);
    quiet(&[
        "tokenizer",
        "train",
        "--problems",
        &d("problems"),
        "--vocab-size",
        "300",
        "--out",
        &d("tok.json"),
    ]);
    quiet(&[
        "model",
        "init",
        "--config",
        "tiny",
        "--tokenizer",
        &d("tok.json"),
        "--out",
        &d("model"),
    ]);
    let stdout = quiet(&[
        "train",
        "sft",
        "--model",
        &d("model"),
        "--data",
        &d("built"),
        "--out",
        &d("sft"),
    ]);
    assert!(
        stdout.trim().ends_with("model"),
        "the model's path stays on stdout: {stdout}"
    );
    quiet(&[
        "sample",
        "--problems",
        &d("problems"),
        "--model",
        &d("sft"),
        "-n",
        "1",
        "--max-tokens",
        "8",
        "--out",
        &d("sampled"),
    ]);
}

/// `-q` leaves stderr to errors and warnings (it dropped logged warnings, leaving only
/// errors).
#[test]
fn quiet_keeps_warnings() {
    let o = ouro(&[
        "-q",
        "launch",
        "slurm",
        "no-such-pipeline.toml",
        "--num-shards",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no-such-pipeline.toml is not readable here"),
        "{}",
        stderr(&o)
    );
}
