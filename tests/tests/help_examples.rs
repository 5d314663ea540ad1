//! Every example a `--help` shows parses: run from an empty directory, each one may
//! fail for its missing inputs (exit 1), but never as a usage error (exit 2). An example
//! that names a renamed flag, or lost a value to a broken line continuation, is a lie to
//! the user who copies it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ouro_e2e::ouro_bin;

/// `ouro ARGS --help`, unwrapped: clap wraps help to the terminal's width, which would
/// cut examples in two.
fn help(args: &[&str]) -> String {
    let o = Command::new(ouro_bin())
        .args(args)
        .arg("--help")
        .env("COLUMNS", "1000")
        .output()
        .unwrap();
    assert!(o.status.success(), "ouro {args:?} --help");
    String::from_utf8(o.stdout).unwrap()
}

/// Subcommand paths, found by walking the `Commands:` sections of the help texts.
fn command_paths() -> Vec<Vec<String>> {
    let mut paths = vec![Vec::new()];
    let mut i = 0;
    while i < paths.len() {
        let path = paths[i].clone();
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        let text = help(&args);
        let mut in_commands = false;
        for line in text.lines() {
            if line.starts_with("Commands:") {
                in_commands = true;
                continue;
            }
            if in_commands {
                if !line.starts_with("  ") {
                    break;
                }
                // "  name   description"; wrapped descriptions start with more spaces.
                if let Some(name) = line.strip_prefix("  ").and_then(|l| l.split(' ').next()) {
                    if !name.is_empty() && name != "help" {
                        let mut sub = path.clone();
                        sub.push(name.to_string());
                        paths.push(sub);
                    }
                }
            }
        }
        i += 1;
    }
    paths
}

/// The `ouro ...` commands in a help text's examples, continuation lines joined and
/// shell redirections, pipes, comments and descriptions (after two spaces) cut off.
fn examples(help: &str) -> Vec<Vec<String>> {
    let mut joined: Vec<String> = Vec::new();
    let (mut open, mut in_examples) = (false, false);
    for line in help.lines() {
        // Prose above the examples may start with "ouro" too.
        in_examples |= line.starts_with("Example");
        if !in_examples {
            continue;
        }
        let text = line.trim();
        let text = text.split("  ").next().unwrap_or(text);
        if open {
            let last = joined.last_mut().expect("an open example");
            last.push(' ');
            last.push_str(text.trim_end_matches('\\'));
        } else if text.starts_with("ouro ") {
            joined.push(text.trim_end_matches('\\').to_string());
        }
        open = (open || text.starts_with("ouro ")) && text.ends_with('\\');
    }
    joined
        .iter()
        .map(|cmd| {
            let words = shlex::split(cmd).unwrap_or_else(|| panic!("unbalanced quotes: {cmd}"));
            words
                .into_iter()
                .skip(1)
                .take_while(|w| !matches!(w.as_str(), "#" | ">" | "|" | "&&" | ";"))
                .collect()
        })
        .collect()
}

#[test]
fn every_help_example_parses() {
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    let mut usage_errors = Vec::new();
    for path in command_paths() {
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        for example in examples(&help(&args)) {
            checked += 1;
            // From an empty directory an example fails on its inputs, or starts work
            // (`ouro run` alone runs the quickstart): a second's grace, then it is stopped.
            let mut child = Command::new(ouro_bin())
                .args(&example)
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let start = Instant::now();
            let code = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break status.code();
                }
                if start.elapsed() > Duration::from_secs(2) {
                    child.kill().unwrap();
                    child.wait().unwrap();
                    break None;
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            if code == Some(2) {
                let mut err = String::new();
                use std::io::Read;
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                usage_errors.push(format!("ouro {}\n{err}", example.join(" ")));
            }
        }
    }
    assert!(checked >= 30, "only {checked} examples found");
    assert!(
        usage_errors.is_empty(),
        "examples that are usage errors:\n{}",
        usage_errors.join("\n")
    );
}

#[test]
fn a_lost_line_continuation_is_caught() {
    // The joiner must see what a shell sees: a trailing backslash continues the line.
    let help = "Examples:\n  ouro lintseq --input a \\\n      --out b\n  ouro stats x  # a comment\n  ouro run    the quickstart\n";
    assert_eq!(
        examples(help),
        vec![
            vec!["lintseq", "--input", "a", "--out", "b"],
            vec!["stats", "x"],
            vec!["run"],
        ]
    );
}
