//! ouro's syntax-error detection and line choice against CPython's
//! `ast.parse` (what pylint's E0001 comes from), with LintSeq's "on line N"
//! mapping, on programs with random lines deleted. Needs `python3` (stdlib);
//! skipped with a message when it is absent.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use ouro_edits::sampling::SplitMix64;

const PY: &str = r#"
import ast, json, sys, warnings
warnings.simplefilter("ignore")
out = []
for src in json.load(sys.stdin):
    try:
        ast.parse(src)
        out.append(None)
    except SyntaxError as e:
        msg = e.msg or ""
        line = e.lineno or 1
        if "on line" in msg:
            line = int(msg[msg.rfind("on line") + 7:].split()[0].strip("()'\"."))
        out.append([line, msg])
json.dump(out, sys.stdout)
"#;

fn broken_variants(programs: &[String], per_program: usize) -> Vec<String> {
    let mut rng = SplitMix64::new(11);
    let mut out = Vec::new();
    for p in programs {
        let lines: Vec<&str> = p.split('\n').collect();
        for _ in 0..per_program {
            let drop = (rng.next_u64() % lines.len() as u64) as usize;
            let span = 1 + (rng.next_u64() % 3) as usize;
            let kept: Vec<&str> = lines
                .iter()
                .enumerate()
                .filter(|(i, _)| *i < drop || *i >= drop + span)
                .map(|(_, l)| *l)
                .collect();
            out.push(kept.join("\n"));
        }
    }
    out
}

#[test]
fn syntax_errors_and_their_lines_agree_with_cpython() {
    let mut programs: Vec<String> = common::PROGRAMS.iter().map(|s| s.to_string()).collect();
    let problems = ouro_problems::generate(&ouro_problems::GenerateOptions {
        count: 100,
        ..Default::default()
    })
    .unwrap();
    programs.extend(problems.into_iter().filter_map(|p| p.reference_solution));
    let variants = broken_variants(&programs, 12);
    let mut child = match Command::new("python3")
        .args(["-c", PY])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(_) => {
            eprintln!("python3 not found: skipping the CPython syntax comparison");
            return;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&serde_json::to_vec(&variants).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let cpython: Vec<Option<(u32, String)>> = serde_json::from_slice(&out.stdout).unwrap();
    let (mut validity_mismatch, mut broken, mut same_line) = (0, 0, 0);
    let mut examples = Vec::new();
    for (src, want) in variants.iter().zip(&cpython) {
        let ours = ouro_python::lint(src)
            .into_iter()
            .find(|m| m.code == "E0001");
        match (want, &ours) {
            (None, None) => {}
            (Some((line, msg)), Some(m)) => {
                broken += 1;
                if *line == m.line {
                    same_line += 1;
                } else if examples.len() < 8 {
                    examples.push(format!(
                        "cpython line {line} ({msg}) vs ouro line {} ({})\n{src}\n",
                        m.line, m.message
                    ));
                }
            }
            _ => {
                validity_mismatch += 1;
                if examples.len() < 8 {
                    examples.push(format!(
                        "validity: cpython {want:?} vs ouro {ours:?}\n{src}\n"
                    ));
                }
            }
        }
    }
    eprintln!(
        "{} variants: {} broken per CPython; validity mismatches {}; same error line {}/{}",
        variants.len(),
        broken,
        validity_mismatch,
        same_line,
        broken
    );
    for e in &examples {
        eprintln!("---\n{e}");
    }
    assert_eq!(
        validity_mismatch, 0,
        "ouro and CPython disagree on whether code parses"
    );
    assert!(
        same_line as f64 >= 0.9 * broken as f64,
        "only {same_line}/{broken} error lines agree"
    );
}
