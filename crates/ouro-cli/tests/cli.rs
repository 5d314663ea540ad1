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
