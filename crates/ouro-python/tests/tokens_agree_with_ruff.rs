//! `tokens::tokenize` (the one lexer, f-strings split) gives the same token
//! texts as ruff's lexer on real code: every file of the Python standard
//! library found on this machine, and broken variants of them (cut at seven
//! points, one line deleted), since failing programs are often broken.
//! Known and accepted differences on broken code: ruff emits the whitespace
//! of a bad dedent or continuation as a token (compared without them here),
//! and a few garbage fragments (docstring prose lexed as code) split
//! differently; at most 1% of broken variants may differ.

use std::path::PathBuf;
use std::process::Command;

use ruff_python_ast::token::TokenKind;
use ruff_python_parser::parse_unchecked_source;
use ruff_text_size::Ranged;

fn ruff_texts(src: &str) -> Vec<&str> {
    let parsed = parse_unchecked_source(src, ruff_python_ast::PySourceType::Python);
    parsed
        .tokens()
        .iter()
        .filter(|t| {
            !matches!(
                t.kind(),
                TokenKind::Newline
                    | TokenKind::NonLogicalNewline
                    | TokenKind::Indent
                    | TokenKind::Dedent
                    | TokenKind::EndOfFile
            )
        })
        .map(|t| &src[t.start().to_usize()..t.end().to_usize()])
        .filter(|s| !s.trim().is_empty())
        .collect()
}

fn our_texts(src: &str) -> Vec<&str> {
    ouro_python::tokens::tokenize(src)
        .into_iter()
        .map(|t| t.text)
        .filter(|s| !s.trim().is_empty())
        .collect()
}

fn stdlib_files() -> Vec<PathBuf> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['stdlib'])",
        ])
        .output();
    let Some(out) = out.ok().filter(|o| o.status.success()) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs python3 for this test"
        );
        return Vec::new();
    };
    let root = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let mut files = Vec::new();
    for dir in [
        root.clone(),
        root.join("asyncio"),
        root.join("email"),
        root.join("json"),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "py") {
                files.push(e.path());
            }
        }
    }
    files.sort();
    assert!(
        files.len() >= 100,
        "only {} files under {}",
        files.len(),
        root.display()
    );
    files
}

#[test]
fn token_texts_match_ruff_on_the_standard_library() {
    let files = stdlib_files();
    let (mut valid_differ, mut broken, mut broken_differ) = (Vec::new(), 0usize, 0usize);
    for path in &files {
        let Ok(src) = std::fs::read_to_string(path) else {
            continue;
        };
        if ruff_texts(&src) != our_texts(&src) {
            valid_differ.push(path.display().to_string());
        }
        let lines: Vec<&str> = src.split('\n').collect();
        for k in 1..8 {
            let mut cut = src.len() * k / 8;
            while !src.is_char_boundary(cut) {
                cut += 1;
            }
            let dropped = lines.len() * k / 8;
            let without_line: Vec<&str> = lines
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != dropped)
                .map(|(_, l)| *l)
                .collect();
            for variant in [src[..cut].to_string(), without_line.join("\n")] {
                broken += 1;
                broken_differ += (ruff_texts(&variant) != our_texts(&variant)) as usize;
            }
        }
    }
    assert!(
        valid_differ.is_empty(),
        "tokens differ from ruff's in {valid_differ:?}"
    );
    assert!(
        broken_differ * 100 <= broken,
        "{broken_differ} of {broken} broken variants differ from ruff"
    );
}
