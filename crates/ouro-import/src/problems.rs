//! Problem sets: HumanEval, MBPP, APPS, and plain JSONL with a field mapping.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use ouro_data::{IoCase, Problem, Tests};
use ouro_python::lint::TestScript;
use serde_json::Value;

use crate::jsonl::{kind, read_jsonl, Fields, ImportError, Result};
use crate::pyliteral::{self, Lit};

/// A supported problem-set format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemFormat {
    /// `task_id, prompt, canonical_solution, test, entry_point` (openai/human-eval).
    HumanEval,
    /// `task_id, text, code, test_list, test_setup_code, challenge_test_list` (the
    /// sanitized variant: `prompt` for `text`, and `test_imports`).
    Mbpp,
    /// `problem_id, question, solutions, input_output, difficulty, starter_code` (codeparrot/apps).
    Apps,
    /// Any JSONL; fields are taken through a [`FieldMap`].
    Jsonl,
}

impl std::str::FromStr for ProblemFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "humaneval" => Ok(Self::HumanEval),
            "mbpp" => Ok(Self::Mbpp),
            "apps" => Ok(Self::Apps),
            "jsonl" => Ok(Self::Jsonl),
            other => Err(format!(
                "unknown problem format '{other}': expected humaneval, mbpp, apps or jsonl"
            )),
        }
    }
}

/// Maps ouro's problem fields to the input's (dotted) field names, for `--format jsonl`.
#[derive(Debug, Clone, Default)]
pub struct FieldMap {
    map: BTreeMap<String, String>,
}

/// The problem fields a mapping may name.
pub const MAPPABLE_FIELDS: [&str; 11] = [
    "problem_id",
    "prompt",
    "entry_point",
    "starter_code",
    "reference_solution",
    "tests",
    "audit_tests",
    "difficulty",
    "tags",
    "split",
    "source",
];

impl FieldMap {
    /// Parses `ours=theirs` pairs; unknown names on the left are an error.
    pub fn parse(pairs: &[String]) -> Result<Self, String> {
        let mut map = BTreeMap::new();
        for pair in pairs {
            let (ours, theirs) = pair.split_once('=').ok_or_else(|| {
                format!("bad --map '{pair}': expected OURS=THEIRS, e.g. prompt=question")
            })?;
            if !MAPPABLE_FIELDS.contains(&ours) {
                return Err(format!(
                    "bad --map '{pair}': '{ours}' is not a problem field (one of: {})",
                    MAPPABLE_FIELDS.join(", ")
                ));
            }
            map.insert(ours.to_string(), theirs.to_string());
        }
        Ok(FieldMap { map })
    }

    /// The input field that holds `ours` (defaults to the same name).
    pub fn source<'a>(&'a self, ours: &'a str) -> &'a str {
        self.map.get(ours).map(String::as_str).unwrap_or(ours)
    }
}

/// Why `problem`'s entry point cannot be what its code defines, if it cannot:
/// the reference solution (or a prompt that is code) defines functions, but
/// not that one, so every sample would be extracted or judged against the
/// wrong name. APPS problems are not checked: a first solution may answer on
/// stdin while the tests call a function, or define the method inside `class
/// Solution`.
fn undefined_entry_point(problem: &Problem, format: ProblemFormat) -> Option<String> {
    let ep = problem.entry_point.trim();
    if ep.is_empty() || format == ProblemFormat::Apps {
        return None;
    }
    let assigns = |code: &str| {
        code.lines().any(|l| {
            l.strip_prefix(ep).is_some_and(|rest| {
                rest.trim_start().starts_with('=') && !rest.trim_start().starts_with("==")
            })
        })
    };
    let defined = |code: &str| ouro_python::extract::defines(code, ep) || assigns(code);
    let names = |code: &str| -> Vec<String> {
        code.lines()
            .filter_map(|l| {
                l.strip_prefix("def ")
                    .or_else(|| l.strip_prefix("async def "))
            })
            .filter_map(|r| r.split(|c: char| !(c.is_alphanumeric() || c == '_')).next())
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect()
    };
    let (code, what) = match problem.reference_solution.as_deref() {
        Some(r) if !r.trim().is_empty() => {
            (format!("{}\n{r}", problem.prompt), "the reference solution")
        }
        _ => (problem.prompt.clone(), "the prompt"),
    };
    let mut defs = names(&code);
    // The reference repeats the prompt's definitions.
    let mut seen = std::collections::HashSet::new();
    defs.retain(|d| seen.insert(d.clone()));
    if defs.is_empty() || defined(&code) {
        return None;
    }
    Some(format!(
        "'{ep}' is not defined by {what}, which defines {}: every sample would be judged against a \
         function it was not asked to write",
        defs.join(", ")
    ))
}

/// Reads `path` in `format` and returns the problems, checked for duplicate ids.
pub fn import_problems(path: &Path, format: ProblemFormat, map: &FieldMap) -> Result<Vec<Problem>> {
    let lines = read_jsonl(path)?;
    // A --map to a field no line has is a typo: optional fields (audit tests, the
    // reference, the entry point) would otherwise come out empty without a word.
    if format == ProblemFormat::Jsonl {
        for (ours, theirs) in &map.map {
            if !lines
                .iter()
                .any(|l| Fields::new(path, l).get(theirs).is_some())
            {
                return Err(ImportError::File {
                    path: path.to_path_buf(),
                    message: format!("--map {ours}={theirs}: no line has a field '{theirs}'"),
                });
            }
        }
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut problems = Vec::with_capacity(lines.len());
    let (mut checks_nothing, mut first_checks_nothing) = (0usize, None::<String>);
    for line in &lines {
        let f = Fields::new(path, line);
        let problem = match format {
            ProblemFormat::HumanEval => humaneval(&f)?,
            ProblemFormat::Mbpp => mbpp(&f)?,
            ProblemFormat::Apps => apps(&f)?,
            ProblemFormat::Jsonl => mapped(&f, map)?,
        };
        let field = |ours: &'static str| match format {
            ProblemFormat::Jsonl => map.source(ours),
            ProblemFormat::HumanEval | ProblemFormat::Mbpp if ours == "problem_id" => "task_id",
            _ => ours,
        };
        if problem.problem_id.trim().is_empty() {
            return Err(f.error(field("problem_id"), "empty id"));
        }
        // A `check(candidate)` is called with the entry point: without one every sample,
        // the reference too, would fail with a NameError.
        let calls_check = |t: &Tests| matches!(t, Tests::AssertScript { script } if script.contains("def check("));
        if problem.entry_point.trim().is_empty()
            && (calls_check(&problem.tests)
                || problem.audit_tests.as_ref().is_some_and(calls_check))
        {
            return Err(f.error(
                field("entry_point"),
                "missing or empty, but the tests define check(candidate), which is called with \
                 the function it names (with --format jsonl: --map entry_point=FIELD)",
            ));
        }
        if let Some(why) = undefined_entry_point(&problem, format) {
            return Err(f.error(field("entry_point"), why));
        }
        let tests_field = match format {
            ProblemFormat::Jsonl => map.source("tests"),
            ProblemFormat::HumanEval => "test",
            ProblemFormat::Mbpp => "test_list",
            ProblemFormat::Apps => "input_output",
        };
        for tests in std::iter::once(&problem.tests).chain(&problem.audit_tests) {
            match tests {
                Tests::AssertScript { script } => match ouro_python::lint::test_script(script) {
                    TestScript::Checks => {}
                    TestScript::ChecksNothing => {
                        checks_nothing += 1;
                        first_checks_nothing.get_or_insert_with(|| problem.problem_id.clone());
                    }
                    TestScript::CheckBodyLeaves(m) => {
                        return Err(f.error(
                            tests_field,
                            format!("the test script's line {}: {}", m.line, m.message),
                        ))
                    }
                    TestScript::SyntaxError(m) => {
                        return Err(f.error(
                            tests_field,
                            format!(
                                "the test script does not parse (its line {}: {}): every sample \
                                 would fail it",
                                m.line, m.message
                            ),
                        ))
                    }
                },
                Tests::IoCases { cases } if cases.is_empty() => {
                    return Err(f.error(tests_field, "no {input, output} cases"))
                }
                Tests::IoCases { .. } => {}
            }
        }
        if let Some(first) = seen.insert(problem.problem_id.clone(), line.number) {
            return Err(f.error(
                field("problem_id"),
                format!(
                    "duplicate id '{}' (first seen on line {first})",
                    problem.problem_id
                ),
            ));
        }
        problems.push(problem);
    }
    if let Some(first) = first_checks_nothing {
        tracing::warn!(
            "{}: {checks_nothing} problem(s) have tests with no assert or raise, which every \
             sample passes (first: {first})",
            path.display()
        );
    }
    Ok(problems)
}

fn humaneval(f: &Fields) -> Result<Problem> {
    let prompt = f.string("prompt")?;
    let solution = f.opt_string("canonical_solution")?;
    Ok(Problem {
        problem_id: f.label("task_id")?,
        source: "humaneval".into(),
        entry_point: f.string("entry_point")?,
        language: "python".into(),
        starter_code: prompt.clone(),
        reference_solution: solution.map(|s| format!("{prompt}{s}")),
        tests: Tests::AssertScript {
            script: f.string("test")?,
        },
        audit_tests: None,
        difficulty: None,
        tags: Vec::new(),
        split: "test".into(),
        prompt,
    })
}

/// The first function defined in `code` that the tests call (by its whole name:
/// a helper `gcd` is not the `get_gcd` they call).
fn mbpp_entry_point(code: &str, tests: &[String]) -> Option<String> {
    let calls = |test: &str, name: &str| {
        test.match_indices(&format!("{name}(")).any(|(i, _)| {
            !test[..i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
        })
    };
    code.lines()
        .filter_map(|l| l.strip_prefix("def "))
        .map(|rest| rest.split('(').next().unwrap_or("").trim().to_string())
        .find(|name| !name.is_empty() && tests.iter().any(|t| calls(t, name)))
}

/// The split the MBPP paper gives a task by its id: 1-10 were its few-shot prompts,
/// 11-510 the test set, 511-600 validation and 601-974 training.
fn mbpp_split(task_id: &str) -> &'static str {
    match task_id.parse::<u32>() {
        Ok(1..=10) => "prompt",
        Ok(511..=600) => "validation",
        Ok(601..=974) => "train",
        _ => "test",
    }
}

fn mbpp(f: &Fields) -> Result<Problem> {
    // The original names the task `text`, the sanitized variant `prompt`.
    let text = match f.get("text") {
        Some(_) => f.string("text")?,
        None => f.string("prompt")?,
    };
    let code = f.string("code")?;
    let tests = f.string_list("test_list")?;
    if tests.is_empty() {
        return Err(f.error("test_list", "no tests"));
    }
    let entry_point = mbpp_entry_point(&code, &tests).ok_or_else(|| {
        f.error(
            "code",
            "no function defined in 'code' is called by 'test_list'",
        )
    })?;
    // The sanitized variant names its tests' imports in `test_imports` (a list), the
    // original in `test_setup_code`: both run before the asserts.
    let mut setup = f.string_list("test_imports")?.join("\n");
    if let Some(code) = f.opt_string("test_setup_code")? {
        setup = format!("{setup}\n{code}");
    }
    let script = |asserts: &[String]| {
        let mut s = setup.trim().to_string();
        for a in asserts {
            if !s.is_empty() {
                s.push('\n');
            }
            s.push_str(a.trim());
        }
        s.push('\n');
        s
    };
    let challenge = f.string_list("challenge_test_list")?;
    // The MBPP paper's prompt: the task plus the tests the code must pass.
    let prompt = format!(
        "You are an expert Python programmer, and here is your task: {text} Your code should pass these tests:\n\n{}\n",
        tests.join("\n")
    );
    let task_id = f.label("task_id")?;
    Ok(Problem {
        split: mbpp_split(&task_id).into(),
        problem_id: format!("mbpp/{task_id}"),
        source: "mbpp".into(),
        prompt,
        entry_point,
        language: "python".into(),
        starter_code: String::new(),
        reference_solution: Some(code),
        tests: Tests::AssertScript {
            script: script(&tests),
        },
        audit_tests: (!challenge.is_empty()).then(|| Tests::AssertScript {
            script: script(&challenge),
        }),
        difficulty: None,
        tags: Vec::new(),
    })
}

/// APPS stores `solutions` and `input_output` as JSON text inside the JSON.
fn embedded_json(f: &Fields, field: &str) -> Result<Option<Value>> {
    match f.get(field) {
        None => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => serde_json::from_str(s)
            .map(Some)
            .map_err(|e| f.error(field, format!("invalid embedded JSON: {e}"))),
        Some(v @ (Value::Object(_) | Value::Array(_))) => Ok(Some(v.clone())),
        Some(other) => Err(f.error(field, format!("expected JSON text, found {}", kind(other)))),
    }
}

fn apps(f: &Fields) -> Result<Problem> {
    // Read as Python reads it: big integers and key order kept (see `pyliteral`).
    let io = match f.get("input_output") {
        None => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(v @ (Value::Object(_) | Value::Array(_))) => Some(v.to_string()),
        Some(other) => {
            return Err(f.error(
                "input_output",
                format!("expected JSON text, found {}", kind(other)),
            ))
        }
    }
    .ok_or_else(|| f.error("input_output", "missing"))?;
    let io = pyliteral::parse(&io)
        .map_err(|e| f.error("input_output", format!("invalid embedded JSON: {e}")))?;
    let list = |field: &'static str| match io.get(field) {
        Some(Lit::List(items)) => Ok(items),
        _ => Err(f.error(&format!("input_output.{field}"), "missing or not a list")),
    };
    let (inputs, outputs) = (list("inputs")?, list("outputs")?);
    if inputs.len() != outputs.len() {
        return Err(f.error(
            "input_output",
            format!("{} inputs but {} outputs", inputs.len(), outputs.len()),
        ));
    }
    // The official harness calls the solution's `fn_name` when the key is there at all,
    // and reads stdin otherwise: a name that cannot be called is a broken problem, not
    // a stdin one (and an empty name made every program pass).
    let fn_name = match io.get("fn_name") {
        None => None,
        Some(Lit::Atom(a)) if a == "None" => None,
        Some(name) => match name.as_str() {
            Some(n) if is_identifier(&n) => Some(n),
            _ => {
                return Err(f.error(
                    "input_output.fn_name",
                    format!("expected a function name, found {}", name.python()),
                ))
            }
        },
    };
    let starter_code = f.opt_string("starter_code")?.unwrap_or_default();
    // LeetCode-style problems name a method of `class Solution`, which the official
    // harness calls on an instance; the class is then what a sample must define.
    let class_based = fn_name.is_some() && starter_code.contains("class Solution");
    let tests = match &fn_name {
        // Call-based problems: each case is a call with positional arguments.
        Some(name) => {
            let name = if class_based {
                format!("Solution().{name}")
            } else {
                name.clone()
            };
            let mut script = String::new();
            for (input, output) in inputs.iter().zip(outputs) {
                let args = match input {
                    Lit::List(a) => {
                        // The harness turns a first argument that is a dict into one
                        // with integer keys (JSON forced them to strings).
                        let mut a = a.clone();
                        if let Some(int_keyed) = a.first().and_then(Lit::int_keyed) {
                            a[0] = int_keyed;
                        }
                        a.iter().map(Lit::python).collect::<Vec<_>>().join(", ")
                    }
                    other => other.python(),
                };
                let accepted = apps_accepted(output);
                if accepted.len() == 1 {
                    script.push_str(&format!("assert {name}({args}) == {}\n", accepted[0]));
                } else {
                    script.push_str(&format!(
                        "assert {name}({args}) in [{}]\n",
                        accepted.join(", ")
                    ));
                }
            }
            Tests::AssertScript { script }
        }
        None => {
            let text = |v: &Lit, field: &str| -> Result<String> {
                match v {
                    Lit::List(lines) => Ok(lines
                        .iter()
                        .map(|l| l.as_str().unwrap_or_else(|| l.python()))
                        .collect::<Vec<_>>()
                        .join("\n")),
                    other => other
                        .as_str()
                        .ok_or_else(|| f.error(field, "expected a string or a list of lines")),
                }
            };
            let mut cases = Vec::with_capacity(inputs.len());
            for (input, output) in inputs.iter().zip(outputs) {
                cases.push(IoCase {
                    input: text(input, "input_output.inputs")?,
                    output: text(output, "input_output.outputs")?,
                });
            }
            Tests::IoCases { cases }
        }
    };
    let solutions = embedded_json(f, "solutions")?;
    let reference_solution = solutions
        .as_ref()
        .and_then(|s| s.get(0))
        .and_then(Value::as_str)
        .map(str::to_string);
    // The APPS paper's prompt (its `generate_gpt_codes.py`): the question, the
    // starter code, and whether the answer reads stdin or is called.
    let mut prompt = format!("\nQUESTION:\n{}", f.string("question")?);
    if !starter_code.is_empty() {
        prompt.push('\n');
        prompt.push_str(&starter_code);
    }
    prompt.push_str(match fn_name {
        Some(_) => "\nUse Call-Based format",
        None => "\nUse Standard Input format",
    });
    prompt.push_str("\nANSWER:\n");
    Ok(Problem {
        problem_id: format!("apps/{}", f.label("problem_id")?),
        source: "apps".into(),
        prompt,
        entry_point: if class_based {
            "Solution".into()
        } else {
            fn_name.unwrap_or_default()
        },
        language: "python".into(),
        starter_code,
        reference_solution,
        tests,
        audit_tests: None,
        difficulty: f.opt_label("difficulty")?,
        tags: Vec::new(),
        split: "test".into(),
    })
}

/// The return values APPS' harness (`testing_util.run_test`) accepts for an expected
/// `output`, as Python literals: the output itself or, for a non-empty list, its first
/// element; a tuple where that is a list (the harness lists a returned tuple), a list
/// of tuples where it is a list of lists; integer keys where JSON forced a dict's to
/// strings.
fn apps_accepted(output: &Lit) -> Vec<String> {
    let output = match output {
        Lit::Object(_) => Lit::List(vec![output.int_keyed().unwrap_or_else(|| output.clone())]),
        Lit::List(items) => match items.first().and_then(Lit::int_keyed) {
            Some(first) => Lit::List(vec![first]),
            None => output.clone(),
        },
        other => other.clone(),
    };
    // A value, and the same value as a returned tuple the harness lists; a list of
    // lists also as the list (or tuple) of tuples it compares row by row.
    fn accept(l: &Lit, out: &mut Vec<String>) {
        out.push(l.python());
        if let Lit::List(rows) = l {
            out.push(l.python_tuple());
            if !rows.is_empty() && rows.iter().all(|r| matches!(r, Lit::List(_))) {
                let rows: Vec<String> = rows.iter().map(Lit::python_tuple).collect();
                out.push(format!("[{}]", rows.join(", ")));
                out.push(match rows.as_slice() {
                    [one] => format!("({one},)"),
                    _ => format!("({})", rows.join(", ")),
                });
            }
        }
    }
    let mut out = Vec::new();
    match &output {
        Lit::List(items) if !items.is_empty() => {
            out.push(output.python());
            out.push(output.python_tuple());
            accept(&items[0], &mut out);
        }
        other => accept(other, &mut out),
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|l| seen.insert(l.clone()));
    out
}

/// A Python identifier (ASCII; APPS names are).
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Tests given either as an assert script (string) or as `[{input, output}]` cases.
fn mapped_tests(f: &Fields, field: &str) -> Result<Option<Tests>> {
    match f.get(field) {
        None => Ok(None),
        Some(Value::String(script)) => Ok(Some(Tests::AssertScript {
            script: script.clone(),
        })),
        Some(Value::Array(items)) => {
            let mut cases = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let get = |k: &str| {
                    item.get(k)
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .ok_or_else(|| {
                            f.error(&format!("{field}[{i}].{k}"), "missing or not a string")
                        })
                };
                cases.push(IoCase {
                    input: get("input")?,
                    output: get("output")?,
                });
            }
            Ok(Some(Tests::IoCases { cases }))
        }
        // ouro's own form, as `ouro problems generate --jsonl` writes it.
        Some(obj @ Value::Object(_)) => serde_json::from_value::<Tests>(obj.clone())
            .map(Some)
            .map_err(|e| {
                f.error(
                    field,
                    format!(
                        "an object here must be ouro's {{\"kind\": \"assert_script\", \"script\"}} \
                         or {{\"kind\": \"io_cases\", \"cases\"}}: {e}"
                    ),
                )
            }),
        Some(other) => Err(f.error(
            field,
            format!(
                "expected an assert script (string), a list of {{input, output}} cases or ouro's \
                 {{kind, ...}} object, found {}",
                kind(other)
            ),
        )),
    }
}

fn mapped(f: &Fields, map: &FieldMap) -> Result<Problem> {
    let field = |ours: &'static str| map.source(ours);
    let prompt = f.string(field("prompt"))?;
    let tests =
        mapped_tests(f, field("tests"))?.ok_or_else(|| f.error(field("tests"), "missing"))?;
    Ok(Problem {
        problem_id: f.label(field("problem_id"))?,
        source: f
            .opt_string(field("source"))?
            .unwrap_or_else(|| "jsonl".into()),
        entry_point: f.opt_string(field("entry_point"))?.unwrap_or_default(),
        language: "python".into(),
        starter_code: f.opt_string(field("starter_code"))?.unwrap_or_default(),
        reference_solution: f.opt_string(field("reference_solution"))?,
        tests,
        audit_tests: mapped_tests(f, field("audit_tests"))?,
        difficulty: f.opt_label(field("difficulty"))?,
        tags: f.string_list(field("tags"))?,
        split: f
            .opt_string(field("split"))?
            .unwrap_or_else(|| "train".into()),
        prompt,
    })
}

#[cfg(test)]
mod tests {
    use super::apps_accepted;
    use crate::pyliteral::parse;

    /// What `testing_util.run_test` accepts, transcribed: a returned tuple is listed,
    /// a non-empty list output also matches its first element, a list of tuples its
    /// first element's rows, and dict keys JSON forced to strings are integers again.
    #[test]
    fn apps_accepts_what_its_harness_accepts() {
        let accepted = |json: &str| apps_accepted(&parse(json).unwrap());
        assert_eq!(accepted("[2]"), ["[2]", "(2,)", "2"]);
        assert_eq!(
            accepted("[[1, 3]]"),
            ["[[1, 3]]", "([1, 3],)", "[1, 3]", "(1, 3)"]
        );
        assert!(accepted("[[[0, 1]]]").contains(&"[(0, 1)]".to_string()));
        assert_eq!(
            accepted(r#"[{"97": 2}]"#),
            ["[{97: 2}]", "({97: 2},)", "{97: 2}"]
        );
        assert_eq!(accepted(r#"[{"a": 2}]"#)[2], r#"{"a": 2}"#);
        assert_eq!(accepted("7"), ["7"]);
        assert_eq!(accepted("[]"), ["[]", "()"]);
    }
}
