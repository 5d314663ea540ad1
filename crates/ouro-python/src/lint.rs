//! An in-process stand-in for the pylint run LintSeq uses.
//!
//! The official LintSeq runs `pylint --disable=C,R` and treats every error,
//! fatal, `W0311` (bad-indentation) and `W0231` message as a reason to delete
//! the reported line. [`lint`] reports the messages that actually drive those
//! deletions, in pylint's codes and with pylint's line numbers:
//!
//! | code  | pylint name                      | how |
//! |-------|----------------------------------|-----|
//! | E0001 | syntax-error                     | first error CPython would raise; "expected an indented block after ... on line N" and "does not match opening parenthesis ... on line N" are reported on line N, as LintSeq maps them |
//! | E0602 | undefined-variable               | scope analysis in [`crate::scope`] |
//! | E0601 | used-before-assignment           | ordered walk of each scope |
//! | E0606 | possibly-used-before-assignment  | branch merging (if/elif/else, try/except, match) |
//! | E0103 | not-in-loop                      | `break`/`continue` outside a loop |
//! | W0311 | bad-indentation                  | statement indentation must be exactly 4 spaces per block level |
//! | E0104, E0105, E1142, E0117, E0001 | return/yield/await outside their function, nonlocal without binding, `try`/`else` without `except` | what the parser accepts and CPython's compiler refuses ([`crate::scope`]'s `placement`) |
//!
//! Name resolution follows pylint's rules rather than CPython's run-time
//! behaviour, including its exemptions (only the first use of a local name
//! in a scope is checked; a `for` that binds a name anywhere accepts uses of
//! it inside the loop; an `if` whose body assigns a name accepts uses inside
//! the `if`; unreachable code is checked); see [`crate::scope`]. Measured
//! against pylint 4.1.4 on 1,968 parseable random line deletions of
//! HumanEval programs (two seeds), the two agree on the clean/dirty verdict
//! of all but one (a nested `if` pylint resolves by inference; ouro is
//! stricter there), and on every reported line but four (all ouro E0606).
//! Known places where ouro is stricter than pylint: a use in an `except`
//! handler of a name the `else` clause binds (pylint calls them exclusive);
//! a name bound under an `if` with `break` used after its loop.
//!
//! Not covered (pylint messages that need type inference or imports, and that
//! LintSeq's line deletions practically never trigger): E0401 import-error,
//! E0611 no-name-in-module, E1101 no-member, E1120/E1121 call arity, E0102
//! function-redefined, W0231 super-init-not-called.
//!
//! As in pylint, a module with a syntax error reports only that error.

use ruff_python_ast::token::TokenKind;
use ruff_python_parser::{parse_module, ParseErrorType};
use ruff_text_size::{Ranged, TextSize};

use crate::diagnostics::LineIndex;
pub use crate::diagnostics::{LintMessage, Semantics};

/// Lints `source` and returns the messages that make LintSeq delete lines.
/// An empty result means the program is clean.
pub fn lint(source: &str) -> Vec<LintMessage> {
    lint_with(source, Semantics::Pylint)
}

/// [`lint`] under the given name-resolution rules.
pub fn lint_with(source: &str, semantics: Semantics) -> Vec<LintMessage> {
    let lines = LineIndex::new(source);
    let parsed = parse_module(source);
    let parsed = match parsed {
        Ok(p) => p,
        Err(_) => {
            let unchecked = ruff_python_parser::parse_unchecked_source(
                source,
                ruff_python_ast::PySourceType::Python,
            );
            return vec![syntax_error(source, &unchecked, &lines)];
        }
    };
    let mut out = Vec::new();
    bad_indentation(source, parsed.tokens(), &lines, &mut out);
    crate::scope::check_names(parsed.syntax(), &lines, semantics, &mut out);
    out.sort_by_key(|m| m.line);
    out
}

/// What an importer needs to know of a test script before any sample runs it.
#[derive(Debug, PartialEq)]
pub enum TestScript {
    /// It can fail a sample: an `assert` or a `raise` somewhere.
    Checks,
    /// It parses but asserts and raises nothing: every sample would pass it.
    ChecksNothing,
    /// It does not parse (the error CPython would report first): every sample would
    /// fail it for the script's fault.
    SyntaxError(LintMessage),
    /// It parses, but `check(candidate)`'s body returns or yields: ouro runs each
    /// statement of that body as a test on its own, where there is no function to
    /// leave, so every sample would be a sandbox error.
    CheckBodyLeaves(LintMessage),
}

/// Classifies a test script (see [`TestScript`]).
pub fn test_script(source: &str) -> TestScript {
    match parse_module(source) {
        Ok(parsed) => {
            if let Some(at) = check_body_leaves(parsed.syntax()) {
                return TestScript::CheckBodyLeaves(LintMessage {
                    code: "E0104",
                    line: LineIndex::new(source).line_of(at),
                    message: "check(candidate) returns or yields here; ouro runs each statement \
                              of its body as a test on its own, with no function to leave: \
                              move the early exit into an `if`"
                        .into(),
                });
            }
            let checks = parsed
                .tokens()
                .iter()
                .any(|t| matches!(t.kind(), TokenKind::Assert | TokenKind::Raise));
            if checks {
                TestScript::Checks
            } else {
                TestScript::ChecksNothing
            }
        }
        Err(_) => match lint(source).into_iter().next() {
            Some(m) => TestScript::SyntaxError(m),
            None => TestScript::Checks,
        },
    }
}

/// Where the body of a module-level `def check(x)` returns or yields outside any
/// function or class of its own, if it does.
fn check_body_leaves(module: &ruff_python_ast::ModModule) -> Option<TextSize> {
    use ruff_python_ast::visitor::{self, Visitor};
    use ruff_python_ast::{Expr, Stmt};
    struct Leaves(Option<TextSize>);
    impl<'a> Visitor<'a> for Leaves {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            match stmt {
                Stmt::FunctionDef(_) | Stmt::ClassDef(_) => {}
                Stmt::Return(r) => {
                    self.0.get_or_insert(r.range.start());
                }
                _ => visitor::walk_stmt(self, stmt),
            }
        }
        fn visit_expr(&mut self, expr: &'a Expr) {
            match expr {
                Expr::Lambda(_) => {}
                Expr::Yield(_) | Expr::YieldFrom(_) => {
                    self.0.get_or_insert(expr.range().start());
                }
                _ => visitor::walk_expr(self, expr),
            }
        }
    }
    let check = module.body.iter().rev().find_map(|s| match s {
        Stmt::FunctionDef(f) if f.name.as_str() == "check" && f.parameters.args.len() == 1 => {
            Some(f)
        }
        _ => None,
    })?;
    let mut leaves = Leaves(None);
    for stmt in &check.body {
        leaves.visit_stmt(stmt);
    }
    leaves.0
}

/// True when [`lint`] reports nothing.
pub fn is_clean(source: &str) -> bool {
    lint(source).is_empty()
}

fn bracket_pair(open: TokenKind) -> TokenKind {
    match open {
        TokenKind::Lpar => TokenKind::Rpar,
        TokenKind::Lsqb => TokenKind::Rsqb,
        _ => TokenKind::Rbrace,
    }
}

/// Picks the error CPython would raise first, with LintSeq's line mapping.
///
/// CPython's tokenizer errors (unterminated strings, unmatched or mismatched
/// brackets, inconsistent dedents) win over parser errors anywhere in the
/// file, because CPython tokenizes the rest of the source before reporting a
/// parser error. Among parser errors the earliest wins.
fn syntax_error(
    source: &str,
    parsed: &ruff_python_parser::Parsed<ruff_python_ast::ModModule>,
    lines: &LineIndex,
) -> LintMessage {
    let mut tokenizer_error: Option<(TextSize, u32, String)> = None;
    let mut consider = |at: TextSize, line: u32, msg: String| {
        if tokenizer_error.as_ref().is_none_or(|(a, _, _)| at < *a) {
            tokenizer_error = Some((at, line, msg));
        }
    };
    for e in parsed.errors() {
        if let ParseErrorType::Lexical(l) = &e.error {
            if !matches!(l, ruff_python_parser::LexicalErrorType::Eof) {
                consider(
                    e.location.start(),
                    lines.line_of(e.location.start()),
                    e.error.to_string(),
                );
            }
        }
    }
    // Brackets, matched as CPython's tokenizer does (ignoring newlines).
    let mut stack: Vec<(TokenKind, TextSize)> = Vec::new();
    for tok in parsed.tokens().iter() {
        match tok.kind() {
            TokenKind::Lpar | TokenKind::Lsqb | TokenKind::Lbrace => {
                stack.push((tok.kind(), tok.start()))
            }
            TokenKind::Rpar | TokenKind::Rsqb | TokenKind::Rbrace => match stack.pop() {
                None => {
                    consider(
                        tok.start(),
                        lines.line_of(tok.start()),
                        "unmatched closing bracket".into(),
                    );
                    break;
                }
                Some((open, at)) if bracket_pair(open) != tok.kind() => {
                    consider(
                        tok.start(),
                        lines.line_of(at),
                        "closing bracket does not match opening bracket".into(),
                    );
                    break;
                }
                Some(_) => {}
            },
            _ => {}
        }
    }
    if let Some((_, line, message)) = tokenizer_error {
        return LintMessage {
            code: "E0001",
            line,
            message,
        };
    }
    let first = parsed
        .errors()
        .iter()
        .min_by_key(|e| e.location.start())
        .expect("syntax_error called on a module with errors");
    let message = first.error.to_string();
    let mut line = lines.line_of(first.location.start());
    if message.starts_with("Expected an indented block") {
        line = header_line(parsed, first.location.start(), lines);
    } else if let Some(&(_, open_at)) = stack.last() {
        // A parser error while a bracket is still open: CPython reports
        // "'(' was never closed" at the innermost open bracket when it runs
        // into the end of the file.
        let trimmed_end = source.trim_end().len() as u32;
        if u32::from(first.location.start()) >= trimmed_end {
            line = lines.line_of(open_at);
        }
    }
    let line = line.min(lines.count()).max(1);
    LintMessage {
        code: "E0001",
        line,
        message,
    }
}

/// The first line of the logical line (clause header) whose `Newline` token
/// precedes `at`.
fn header_line(
    parsed: &ruff_python_parser::Parsed<ruff_python_ast::ModModule>,
    at: TextSize,
    lines: &LineIndex,
) -> u32 {
    let tokens = parsed.tokens();
    let newline_idx = tokens
        .iter()
        .rposition(|t| t.kind() == TokenKind::Newline && t.start() <= at);
    let Some(nl) = newline_idx else {
        return lines.line_of(at);
    };
    let mut start = None;
    for t in tokens[..nl].iter().rev() {
        match t.kind() {
            TokenKind::Newline | TokenKind::Indent | TokenKind::Dedent => break,
            TokenKind::Comment | TokenKind::NonLogicalNewline => {}
            _ => start = Some(t.start()),
        }
    }
    lines.line_of(start.unwrap_or(at))
}

/// pylint's bad-indentation: the indentation of each logical line must be
/// exactly four spaces per block level.
fn bad_indentation(
    source: &str,
    tokens: &ruff_python_ast::token::Tokens,
    lines: &LineIndex,
    out: &mut Vec<LintMessage>,
) {
    let mut depth: usize = 0;
    let mut at_line_start = true;
    for tok in tokens.iter() {
        match tok.kind() {
            TokenKind::Indent => depth += 1,
            TokenKind::Dedent => depth = depth.saturating_sub(1),
            TokenKind::Newline => at_line_start = true,
            TokenKind::NonLogicalNewline | TokenKind::Comment | TokenKind::EndOfFile => {}
            _ => {
                if at_line_start {
                    at_line_start = false;
                    let line = lines.line_of(tok.start());
                    let ls = lines.line_start(line);
                    let indent = &source[ls..u32::from(tok.start()) as usize];
                    let expected = depth * 4;
                    if indent.len() != expected || indent.bytes().any(|b| b != b' ') {
                        out.push(LintMessage {
                            code: "W0311",
                            line,
                            message: format!(
                                "Bad indentation. Found {} spaces, expected {}",
                                indent.chars().count(),
                                expected
                            ),
                        });
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(src: &str) -> Vec<(&'static str, u32)> {
        lint(src).into_iter().map(|m| (m.code, m.line)).collect()
    }

    #[test]
    fn a_check_body_that_returns_is_named() {
        let script = "def check(candidate):\n    assert candidate(1) == 1\n    if True:\n        return\n    assert candidate(2) == 0\n";
        let TestScript::CheckBodyLeaves(m) = test_script(script) else {
            panic!("{:?}", test_script(script))
        };
        assert_eq!(m.line, 4);
        // Returns of its own helpers, lambdas and comprehensions are fine.
        let fine = "def check(candidate):\n    def helper(x):\n        return x\n    f = lambda: 1\n    assert candidate(helper(1)) == f()\n";
        assert_eq!(test_script(fine), TestScript::Checks);
    }

    #[test]
    fn clean_function_has_no_messages() {
        let src = "import math\n\ndef f(xs, k=2):\n    total = 0\n    for x in xs:\n        total += math.sqrt(x) * k\n    return [y for y in xs if y > total]\n";
        assert_eq!(codes(src), vec![]);
    }

    #[test]
    fn empty_block_is_reported_on_its_header_line() {
        let src = "def f(x):\n    if x:\n    return 1\n";
        assert_eq!(codes(src), vec![("E0001", 2)]);
        let src = "def f(x):\n    for i in range(\n            x):\n";
        assert_eq!(codes(src), vec![("E0001", 2)]);
    }

    #[test]
    fn unterminated_docstring_wins_over_earlier_parser_errors() {
        let src = "def f(x):\n    Some text here\n    \"\"\"\n    return x\n";
        assert_eq!(codes(src), vec![("E0001", 3)]);
    }

    #[test]
    fn unexpected_indent_is_reported_on_the_indented_line() {
        assert_eq!(codes("x = 1\n    y = 2\n"), vec![("E0001", 2)]);
    }

    #[test]
    fn augmented_assignment_of_unbound_local_is_undefined() {
        assert_eq!(
            codes("def f():\n    x += 1\n    return x\n"),
            vec![("E0602", 2)]
        );
    }

    #[test]
    fn augmented_assignment_defines_the_name_only_in_a_for_loop() {
        // pylint 4.1.4: a `for` binding the name anywhere exempts uses in it.
        let src = "def f(s):\n    for c in s:\n        if c:\n            d += 1\n        else:\n            d -= 1\n    return 0\n";
        assert_eq!(codes(src), vec![]);
        let src = "def f(s):\n    while s:\n        d += 1\n";
        assert_eq!(codes(src), vec![("E0602", 3)]);
    }

    #[test]
    fn use_before_later_assignment_is_e0601() {
        assert_eq!(
            codes("def f():\n    x = x + 1\n    return x\n"),
            vec![("E0601", 2)]
        );
        assert_eq!(codes("print(y)\ny = 1\n"), vec![("E0601", 1)]);
    }

    #[test]
    fn branch_only_binding_is_possibly_unbound() {
        assert_eq!(
            codes("def f(n):\n    if n:\n        a = 1\n    return a\n"),
            vec![("E0606", 4)]
        );
        assert_eq!(
            codes("def f(n):\n    if n:\n        a = 1\n    else:\n        a = 2\n    return a\n"),
            vec![]
        );
        assert_eq!(
            codes(
                "def f(n):\n    if n:\n        a = 1\n    else:\n        return 0\n    return a\n"
            ),
            vec![]
        );
    }

    #[test]
    fn loop_carried_use_is_accepted() {
        let src = "def f(n):\n    for i in range(n):\n        if i > 0:\n            print(prev)\n        prev = i\n";
        assert_eq!(codes(src), vec![]);
    }

    #[test]
    fn class_scope_is_invisible_to_methods_and_comprehension_scope_is_private() {
        let src = "def f(n):\n    return [q for q in range(n) if q] + [w]\nclass A:\n    k = 1\n    def m(self):\n        return k\n";
        assert_eq!(codes(src), vec![("E0602", 2), ("E0602", 6)]);
        assert_eq!(
            codes("xs = [i for i in range(3)]\nprint(i)\n"),
            vec![("E0602", 2)]
        );
    }

    #[test]
    fn scoping_constructs_bind_names() {
        let src = "\
import os.path
from typing import List as L
G = 1
def outer(a, *args, b=G, **kw):
    def inner():
        nonlocal a
        a = 2
        return a + later
    later = 3
    if (m := len(args)) > 1:
        print(m)
    try:
        pass
    except ValueError as e:
        print(e)
    with open(os.path.join('x')) as fh:
        print(fh, kw, b)
    match a:
        case [x, *rest]:
            print(x, rest)
        case {'k': v, **others}:
            print(v, others)
    return inner, L, (lambda q: q + a)(1)
def g():
    global H
    H = 1
print(H, __name__)
";
        assert_eq!(codes(src), vec![]);
    }

    #[test]
    fn star_import_disables_undefined_names() {
        assert_eq!(
            codes("from math import *\nprint(sqrt(2), whatever)\n"),
            vec![]
        );
        assert_eq!(codes("print(whatever)\n"), vec![("E0602", 1)]);
    }

    #[test]
    fn bad_indentation_is_w0311_per_statement() {
        let src = "def f():\n  x = 1\n  if x:\n     return 2\n  return x\n";
        assert_eq!(
            codes(src),
            vec![("W0311", 2), ("W0311", 3), ("W0311", 4), ("W0311", 5)]
        );
    }
}
