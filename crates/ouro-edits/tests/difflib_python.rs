//! ouro's difflib port against CPython's difflib, on generated inputs with
//! many repeated lines and on inputs long enough to trigger autojunk.
//! Needs `python3` (stdlib only); skipped with a message when it is absent.

use std::io::Write;
use std::process::{Command, Stdio};

use ouro_edits::difflib::unified_diff_n0;
use ouro_edits::sampling::SplitMix64;

const PY: &str = r#"
import sys, json, difflib
pairs = json.load(sys.stdin)
out = []
for a, b in pairs:
    d = list(difflib.unified_diff(a.strip().splitlines(), b.strip().splitlines(), n=0, fromfile="file1", tofile="file2", lineterm=""))
    out.append("\n".join(d[2:]))
json.dump(out, sys.stdout)
"#;

fn python_diffs(pairs: &[(String, String)]) -> Option<Vec<String>> {
    let mut child = match Command::new("python3")
        .args(["-c", PY])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(_) => {
            eprintln!("python3 not found: skipping the CPython difflib comparison");
            return None;
        }
    };
    let input = serde_json::to_vec(pairs).unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

fn random_text(rng: &mut SplitMix64, lines: usize, alphabet: usize) -> String {
    let mut s = String::new();
    for i in 0..lines {
        if i > 0 {
            s.push('\n');
        }
        let k = (rng.next_u64() % alphabet as u64) as usize;
        match k {
            0 => {}
            1 => s.push_str("    "),
            2 => s.push_str("    return x"),
            3 => s.push_str("\treturn None\r"),
            _ => s.push_str(&format!("line {k}")),
        }
    }
    s
}

/// Derives `b` from `a` by deleting, inserting and duplicating lines.
fn mutate(rng: &mut SplitMix64, a: &str, alphabet: usize) -> String {
    let mut out = Vec::new();
    for line in a.split('\n') {
        match rng.next_u64() % 6 {
            0 => {}
            1 => {
                out.push(line.to_string());
                out.push(line.to_string());
            }
            2 => {
                out.push(format!("line {}", rng.next_u64() % alphabet as u64));
                out.push(line.to_string());
            }
            _ => out.push(line.to_string()),
        }
    }
    out.join("\n")
}

#[test]
fn unified_diff_matches_cpython_on_repetitive_and_long_inputs() {
    let mut rng = SplitMix64::new(7);
    let mut pairs = Vec::new();
    for case in 0..400 {
        let (lines, alphabet) = match case % 4 {
            0 => (5, 3),
            1 => (30, 6),
            2 => (60, 40),
            _ => (260, 8), // >= 200 lines: the popular-line heuristic applies
        };
        let a = random_text(&mut rng, lines, alphabet);
        let b = if case % 5 == 0 {
            random_text(&mut rng, lines, alphabet)
        } else {
            mutate(&mut rng, &a, alphabet)
        };
        pairs.push((a.clone(), b.clone()));
        pairs.push((b, a));
    }
    pairs.push((String::new(), "x\ny".into()));
    pairs.push(("x\ny".into(), String::new()));
    pairs.push(("  a\u{2028}b\x0cc  ".into(), "a\nb\nc\nd".into()));
    let Some(expected) = python_diffs(&pairs) else {
        return;
    };
    let mut mismatches = 0;
    for ((a, b), want) in pairs.iter().zip(&expected) {
        let got = unified_diff_n0(a, b);
        if &got != want {
            mismatches += 1;
            if mismatches < 3 {
                eprintln!("a={a:?}\nb={b:?}\nouro={got:?}\npython={want:?}");
            }
        }
    }
    assert_eq!(
        mismatches,
        0,
        "{mismatches} of {} diffs differ from CPython",
        pairs.len()
    );
}
