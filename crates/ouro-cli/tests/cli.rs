//! The binary's own surface: every subcommand is reachable and teaches through `--help`.
//!
//! Besides checking the CLI, this test makes `cargo test --workspace` build
//! `target/<profile>/ouro` in the same invocation (same feature resolution) as
//! every other crate, so the end-to-end tests under `tests/` find the binary
//! instead of compiling the dependency tree a second time.

use std::process::Command;

const SUBCOMMANDS: [&str; 17] = [
    "run",
    "problems",
    "import",
    "execute",
    "build",
    "lintseq",
    "fait",
    "model",
    "tokenizer",
    "train",
    "stats",
    "report",
    "launch",
    "sample",
    "serve",
    "tests",
    "help",
];

fn ouro(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ouro"))
        .args(args)
        .output()
        .expect("run ouro")
}

#[test]
fn help_lists_every_subcommand() {
    let o = ouro(&["--help"]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    for name in SUBCOMMANDS {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(name)),
            "`ouro --help` does not list '{name}':\n{text}"
        );
    }
}

#[test]
fn every_subcommand_has_help() {
    for name in SUBCOMMANDS.iter().filter(|n| **n != "help") {
        let o = ouro(&[name, "--help"]);
        assert!(o.status.success(), "ouro {name} --help failed");
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("Usage:"),
            "ouro {name} --help has no usage line"
        );
    }
}

#[test]
fn unknown_subcommand_is_a_usage_error() {
    let o = ouro(&["smaple"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("smaple"));
}

/// A zero budget is refused before any model loads, naming the flag.
#[test]
fn serve_refuses_a_zero_chunk_budget() {
    let o = ouro(&["serve", "--model", "no-such-dir", "--chunk-tokens", "0"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--chunk-tokens") && err.contains("at least 1"),
        "{err}"
    );
}

/// `train --help` lists the config keys with their defaults, not type names.
#[test]
fn train_help_lists_config_keys_and_defaults() {
    let o = ouro(&["train", "--help"]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    for key in [
        "max_length = 1024",
        "beta = 0.1",
        "[optim]",
        "lr = ",
        "warmup_steps = 0",
    ] {
        assert!(
            text.contains(key),
            "`ouro train --help` lacks {key}:\n{text}"
        );
    }
    assert!(!text.contains("SftConfig"), "{text}");
}

/// A subcommand's `--help` shows the long description its `Args` documents (a doc comment
/// on the `Command` variant used to replace it with the one-line summary), and `-h` and
/// `ouro --help` keep the summary.
#[test]
fn long_help_shows_each_commands_own_description() {
    for (cmd, long) in [
        ("train", "Writes `<out>/metrics.jsonl`"),
        ("serve", "server-sent events"),
        ("build", "Hugging Face dataset directory"),
        ("execute", "interrupted run resumes"),
        ("sample", "Draw N samples of every problem"),
        ("lintseq", "verified by"),
        ("fait", "most similar failing sample"),
    ] {
        // Help text wraps to the terminal: compare with the line breaks undone.
        let text = |flag: &str| {
            let out = String::from_utf8(ouro(&[cmd, flag]).stdout).unwrap();
            out.split_whitespace().collect::<Vec<_>>().join(" ")
        };
        let help = text("--help");
        assert!(
            help.contains(long),
            "ouro {cmd} --help lacks {long:?}:\n{help}"
        );
        assert!(
            !text("-h").contains(long),
            "ouro {cmd} -h is the short help"
        );
    }
    let top = String::from_utf8(ouro(&["--help"]).stdout).unwrap();
    assert!(top.contains("SFT and DPO training"), "{top}");
}

/// A flag of the other backend did nothing: `--prompt-format chat` with --base-url
/// sent the raw prompt to /v1/completions, and exited 0.
#[test]
fn sample_refuses_the_other_backends_flags() {
    for (args, pair) in [
        (
            &[
                "--base-url",
                "http://127.0.0.1:9",
                "--prompt-format",
                "chat",
            ][..],
            "'--prompt-format",
        ),
        (
            &["--base-url", "http://127.0.0.1:9", "--batch-size", "8"][..],
            "'--batch-size",
        ),
        (
            &["--model", "m", "--concurrency", "4"][..],
            "'--concurrency",
        ),
        (&["--model", "m", "--no-cache"][..], "'--no-cache'"),
    ] {
        let mut all = vec!["sample", "--problems", "p", "--out", "o"];
        all.extend(args);
        let o = ouro(&all);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("cannot be used with") && err.contains(pair),
            "{args:?}: {err}"
        );
    }
}
