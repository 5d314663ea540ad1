//! The global flags (`-v`, `-q`) reach every subcommand, through the binary.

use std::path::Path;
use std::process::Command;

fn ouro(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ouro"))
        .args(args)
        .output()
        .expect("run ouro")
}

fn ok(args: &[&str]) -> String {
    let o = ouro(args);
    assert!(
        o.status.success(),
        "ouro {}: {}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn problems(dir: &Path) -> String {
    let out = dir.join("problems");
    let out = out.to_str().unwrap();
    ok(&[
        "problems", "generate", "--count", "4", "--seed", "3", "--out", out,
    ]);
    out.to_string()
}

#[test]
fn tests_compile_runs_with_and_without_global_flags() {
    let dir = tempfile::tempdir().unwrap();
    let p = problems(dir.path());
    for extra in [&[][..], &["-v"][..], &["-q"][..], &["--all"][..]] {
        let mut args = vec!["tests", "compile", "--problems", &p, "--workers", "1"];
        args.extend_from_slice(extra);
        let text = ok(&args);
        assert!(text.contains("problems judged in isolation"), "{text}");
    }
    let mut args = vec![
        "tests",
        "compile",
        "--problems",
        &p,
        "--workers",
        "1",
        "--json",
    ];
    args.push("-q");
    let json: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
    assert_eq!(json["problems"], 4);
}

#[test]
fn quiet_is_accepted_after_any_subcommand() {
    for cmd in [
        &["execute", "--help"][..],
        &["lintseq", "--help"][..],
        &["fait", "--help"][..],
        &["tests", "compile", "--help"][..],
    ] {
        for flag in ["-q", "-v", "-vv"] {
            let mut args = cmd.to_vec();
            args.insert(args.len() - 1, flag);
            ok(&args);
        }
    }
}

fn usage_error(args: &[&str], expect: &str) {
    let o = ouro(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "ouro {}: {err}", args.join(" "));
    assert!(err.contains(expect), "ouro {}: {err}", args.join(" "));
}

#[test]
fn sample_rejects_bad_values_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let p = problems(dir.path());
    let out = dir.path().join("s");
    let out = out.to_str().unwrap();
    let base = [
        "sample",
        "--problems",
        &p,
        "--model",
        "/nonexistent",
        "--out",
        out,
    ];
    let with = |extra: &[&'static str]| {
        let mut v: Vec<&str> = base.to_vec();
        v.extend_from_slice(extra);
        v
    };
    usage_error(&with(&["--temperature=-0.5"]), "--temperature");
    usage_error(&with(&["--top-p", "0"]), "--top-p");
    usage_error(&with(&["-n", "0"]), "--num-samples");
    let o = ouro(&with(&["--split", "tset"]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--split tset") && err.contains("train"),
        "{err}"
    );
    assert!(!Path::new(out).exists());
}
