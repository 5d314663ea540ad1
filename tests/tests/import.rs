//! `ouro import problems`: good inputs produce shards; each kind of bad input gets an
//! error naming file:line and field, a non-zero exit and no output shard.
//! Generations are `import_generations.rs`'s.

use std::path::Path;

use ouro_data::{shard, Problem, Tests};
use ouro_e2e::{ouro, stderr};

fn import_humaneval(out: &Path) {
    ouro_e2e::humaneval_mini_problems(out);
}

fn try_import_humaneval(out: &Path) -> std::process::Output {
    ouro(&[
        "import",
        "problems",
        "--format",
        "humaneval",
        &ouro_e2e::fixture("humaneval_mini.jsonl"),
        "--out",
        &out.display().to_string(),
    ])
}

#[test]
fn humaneval_problems_import_into_a_problems_shard() {
    let dir = tempfile::tempdir().unwrap();
    import_humaneval(dir.path());
    let problems: Vec<Problem> = shard::read_dir(dir.path()).unwrap();
    assert_eq!(problems.len(), 2);
    assert_eq!(problems[0].problem_id, "HumanEval/0");
    assert_eq!(problems[0].entry_point, "add");
    assert_eq!(
        problems[0].reference_solution.as_deref(),
        Some("def add(a, b):\n    \"\"\"Return a + b.\"\"\"\n    return a + b\n")
    );
    assert!(
        matches!(&problems[1].tests, Tests::AssertScript { script } if script.contains("def check(candidate)"))
    );
}

#[test]
fn an_import_refuses_a_directory_whose_other_shards_would_be_read_with_it() {
    let dir = tempfile::tempdir().unwrap();
    // A rerun replaces its own shard.
    import_humaneval(dir.path());
    import_humaneval(dir.path());
    // A whole two-part set another write left.
    for part in ["part-00000-of-00002.parquet", "part-00001-of-00002.parquet"] {
        std::fs::copy(
            dir.path().join("part-00000-of-00001.parquet"),
            dir.path().join(part),
        )
        .unwrap();
    }
    let o = try_import_humaneval(dir.path());
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("already holds part-00000-of-00002.parquet, part-00001-of-00002.parquet, which would be read together with part-00000-of-00001.parquet"),
        "{err}"
    );
}

/// Runs a problems import of `content` and checks the failure contract.
fn bad_problems(content: &[u8], format: &str, extra: &[&str], expect: &[&str], code: i32) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.jsonl");
    std::fs::write(&input, content).unwrap();
    let out = dir.path().join("out");
    let mut args = vec!["import", "problems", "--format", format];
    let input_s = input.display().to_string();
    let out_s = out.display().to_string();
    args.extend([input_s.as_str(), "--out", out_s.as_str()]);
    args.extend(extra);
    let o = ouro(&args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(code), "exit code; stderr: {err}");
    for e in expect {
        assert!(err.contains(e), "stderr should contain {e:?}: {err}");
    }
    assert!(
        !out.exists() || std::fs::read_dir(&out).unwrap().next().is_none(),
        "no output on failure"
    );
}

/// The problems `ouro import problems --format FORMAT` makes of one JSONL line.
fn imported(format: &str, line: &str) -> Vec<Problem> {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.jsonl");
    std::fs::write(&input, format!("{line}\n")).unwrap();
    let out = dir.path().join("out");
    ouro_e2e::ouro_ok(&[
        "import",
        "problems",
        "--format",
        format,
        &ouro_e2e::arg(&input),
        "--out",
        &ouro_e2e::arg(&out),
    ]);
    shard::read_dir(&out).unwrap()
}

/// A problem's assert script.
fn script(p: &Problem) -> &str {
    match &p.tests {
        Tests::AssertScript { script } => script,
        other => panic!("{other:?}"),
    }
}

const GOOD: &str = r#"{"task_id": "T/0", "prompt": "def f():\n", "canonical_solution": "    return 1\n", "test": "assert f() == 1", "entry_point": "f"}"#;

#[test]
fn truncated_json_names_the_line() {
    let content = format!("{GOOD}\n{}\n", &GOOD[..40]);
    bad_problems(
        content.as_bytes(),
        "humaneval",
        &[],
        &["input.jsonl:2:", "invalid JSON"],
        1,
    );
}

#[test]
fn test_scripts_that_cannot_run_or_cannot_fail_are_caught() {
    // One that does not parse would fail every sample for its own fault: an error.
    let broken = GOOD.replace("assert f() == 1", "def check(candidate:\\n    assert");
    bad_problems(
        format!("{GOOD}\n{broken}\n").as_bytes(),
        "humaneval",
        &[],
        &[
            "input.jsonl:2:",
            "field 'test'",
            "the test script does not parse (its line 1:",
        ],
        1,
    );
    // Stdin/stdout problems need a case.
    bad_problems(
        br#"{"problem_id": "io/0", "prompt": "read two ints", "tests": []}"#,
        "jsonl",
        &[],
        &[
            "input.jsonl:1:",
            "field 'tests'",
            "no {input, output} cases",
        ],
        1,
    );
    // One that asserts nothing passes every sample: imported, with a warning.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("vacuous.jsonl");
    let vacuous = GOOD
        .replace("T/0", "T/1")
        .replace("assert f() == 1", "def check(candidate):\\n    pass\\n");
    std::fs::write(&input, format!("{GOOD}\n{vacuous}\n")).unwrap();
    let out = dir.path().join("out");
    let o = ouro(&[
        "import",
        "problems",
        "--format",
        "humaneval",
        &input.display().to_string(),
        "--out",
        &out.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("1 problem(s) have tests with no assert or raise, which every sample passes (first: T/1)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn wrong_type_names_the_field() {
    let content = GOOD.replace("\"entry_point\": \"f\"", "\"entry_point\": [1]");
    bad_problems(
        content.as_bytes(),
        "humaneval",
        &[],
        &["input.jsonl:1:", "field 'entry_point'", "expected a string"],
        1,
    );
}

#[test]
fn missing_field_names_the_field() {
    let content = GOOD.replace(", \"test\": \"assert f() == 1\"", "");
    bad_problems(
        content.as_bytes(),
        "humaneval",
        &[],
        &["input.jsonl:1:", "field 'test': missing"],
        1,
    );
}

#[test]
fn invalid_utf8_names_the_line() {
    let mut content = format!("{GOOD}\n").into_bytes();
    content.extend_from_slice(b"{\"task_id\": \"\xff\xfe\"}\n");
    bad_problems(
        &content,
        "humaneval",
        &[],
        &["input.jsonl:2:", "invalid UTF-8"],
        1,
    );
}

#[test]
fn empty_file_is_an_error() {
    bad_problems(b"\n\n", "humaneval", &[], &["input.jsonl", "empty file"], 1);
}

#[test]
fn an_empty_id_or_a_missing_entry_point_the_tests_call_names_the_field() {
    let content = GOOD.replace("\"task_id\": \"T/0\"", "\"task_id\": \" \"");
    bad_problems(
        content.as_bytes(),
        "humaneval",
        &[],
        &["input.jsonl:1:", "field 'task_id': empty id"],
        1,
    );
    let check = GOOD.replace(
        "\"test\": \"assert f() == 1\"",
        "\"test\": \"def check(candidate):\\n    assert candidate() == 1\\n\"",
    );
    bad_problems(
        check
            .replace("\"entry_point\": \"f\"", "\"entry_point\": \"\"")
            .as_bytes(),
        "humaneval",
        &[],
        &[
            "input.jsonl:1:",
            "field 'entry_point': missing or empty, but the tests define check(candidate)",
        ],
        1,
    );
    // An entry point the code never defines: every sample would be judged on the wrong name.
    bad_problems(
        GOOD.replace("\"entry_point\": \"f\"", "\"entry_point\": \"g\"")
            .as_bytes(),
        "humaneval",
        &[],
        &[
            "input.jsonl:1:",
            "field 'entry_point': 'g' is not defined by the reference solution, which defines f",
        ],
        1,
    );
    // With --format jsonl, a file whose entry point is under another name says how to map it.
    let renamed = check
        .replace("\"task_id\"", "\"problem_id\"")
        .replace("\"test\"", "\"tests\"")
        .replace("\"entry_point\"", "\"fn\"");
    bad_problems(
        renamed.as_bytes(),
        "jsonl",
        &[],
        &["field 'entry_point'", "--map entry_point=FIELD"],
        1,
    );
}

#[test]
fn duplicate_ids_name_both_lines() {
    let content = format!("{GOOD}\n{GOOD}\n");
    bad_problems(
        content.as_bytes(),
        "humaneval",
        &[],
        &["input.jsonl:2:", "duplicate id 'T/0'", "line 1"],
        1,
    );
}

#[test]
fn unknown_format_is_a_usage_error() {
    bad_problems(
        GOOD.as_bytes(),
        "codeforces",
        &[],
        &["unknown problem format 'codeforces'"],
        2,
    );
}

#[test]
fn bad_field_mapping_is_rejected() {
    bad_problems(
        GOOD.as_bytes(),
        "jsonl",
        &["--map", "colour=red"],
        &["'colour' is not a problem field"],
        1,
    );
}

/// `--map`s for lines of `{"id", "q", "cases"}`.
const MAP_ID_Q_CASES: [&str; 6] = [
    "--map",
    "problem_id=id",
    "--map",
    "prompt=q",
    "--map",
    "tests=cases",
];

/// A mapped optional field no line has would come out empty without a word.
#[test]
fn a_map_to_a_field_no_line_has_is_rejected() {
    let line = r#"{"id": "x", "q": "read n", "cases": [{"input": "1", "output": "1"}]}"#;
    bad_problems(
        line.as_bytes(),
        "jsonl",
        &[&MAP_ID_Q_CASES[..], &["--map", "audit_tests=hiden_tests"]].concat(),
        &["input.jsonl: --map audit_tests=hiden_tests: no line has a field 'hiden_tests'"],
        1,
    );
}

/// Each statement of check()'s body runs as a test on its own: a `return` there would
/// make every sample a sandbox error.
#[test]
fn a_check_body_that_returns_is_rejected_at_import() {
    let line = r#"{"task_id": "T/0", "prompt": "def f():\n", "canonical_solution": "    return 1\n", "test": "def check(candidate):\n    assert candidate() == 1\n    return\n", "entry_point": "f"}"#;
    bad_problems(
        line.as_bytes(),
        "humaneval",
        &[],
        &[
            "input.jsonl:1:",
            "field 'test'",
            "line 3: check(candidate) returns or yields here",
        ],
        1,
    );
}

#[test]
fn non_object_line_is_rejected() {
    bad_problems(
        b"[1, 2, 3]\n",
        "humaneval",
        &[],
        &["input.jsonl:1:", "expected a JSON object"],
        1,
    );
}

#[test]
fn mapped_jsonl_checks_nested_test_cases() {
    let line = r#"{"id": "x", "q": "read n", "cases": [{"input": "1"}]}"#;
    bad_problems(
        line.as_bytes(),
        "jsonl",
        &MAP_ID_Q_CASES,
        &["input.jsonl:1:", "field 'cases[0].output'"],
        1,
    );
}

#[test]
fn problems_generate_jsonl_imports_back_as_they_were() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("p.jsonl");
    ouro_e2e::ouro_ok(&[
        "problems",
        "generate",
        "--count",
        "3",
        "--out",
        &dir.path().join("p").display().to_string(),
        "--jsonl",
        &jsonl.display().to_string(),
    ]);
    let out = dir.path().join("back");
    ouro_e2e::ouro_ok(&[
        "import",
        "problems",
        "--format",
        "jsonl",
        &jsonl.display().to_string(),
        "--out",
        &out.display().to_string(),
    ]);
    let (a, b): (Vec<ouro_data::Problem>, Vec<ouro_data::Problem>) = (
        ouro_data::shard::read_dir(dir.path().join("p")).unwrap(),
        ouro_data::shard::read_dir(&out).unwrap(),
    );
    let tests = |v: &[ouro_data::Problem]| v.iter().map(|p| p.tests.clone()).collect::<Vec<_>>();
    assert_eq!(tests(&a), tests(&b));
    bad_problems(
        br#"{"problem_id": "x", "prompt": "p", "tests": {"kind": "nope"}}"#,
        "jsonl",
        &[],
        &[
            "input.jsonl:1:",
            "field 'tests'",
            "an object here must be ouro's",
        ],
        1,
    );
}

#[test]
fn unreadable_path_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.jsonl");
    let o = ouro(&[
        "import",
        "problems",
        "--format",
        "humaneval",
        &missing.display().to_string(),
        "--out",
        &dir.path().join("o").display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("nope.jsonl: cannot open"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_byte_order_mark_is_not_json_and_map_is_for_jsonl_only() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bom.jsonl");
    std::fs::write(&input, format!("\u{feff}{GOOD}\n")).unwrap();
    let out = dir.path().join("out");
    let (i, o) = (input.display().to_string(), out.display().to_string());
    let r = ouro(&[
        "import",
        "problems",
        "--format",
        "humaneval",
        &i,
        "--out",
        &o,
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    bad_problems(
        GOOD.as_bytes(),
        "humaneval",
        &["--map", "prompt=text"],
        &["--map renames the fields of --format jsonl; humaneval files have fixed fields"],
        1,
    );
}

#[test]
fn a_number_where_text_belongs_is_an_error_but_numeric_ids_are_ids() {
    // (A number as a completion: `import_generations.rs`.)
    bad_problems(
        GOOD.replace("\"assert f() == 1\"", "7").as_bytes(),
        "humaneval",
        &[],
        &[
            "input.jsonl:1:",
            "field 'test'",
            "expected a string, found a number",
        ],
        1,
    );
    // MBPP writes task_id as an int: it stays an id.
    let problems = imported(
        "mbpp",
        r#"{"task_id": 11, "text": "Write f.", "code": "def f():\n    return 1\n", "test_list": ["assert f() == 1"], "test_setup_code": "", "challenge_test_list": []}"#,
    );
    assert_eq!(problems[0].problem_id, "mbpp/11");

    // The sanitized variant: `prompt` for `text`, and the tests' imports in `test_imports`.
    let problems = imported(
        "mbpp",
        r#"{"task_id": 17, "prompt": "Area.", "code": "def circle_area(r):\n  return 3.1415*r*r", "test_imports": ["import math"], "test_list": ["assert math.isclose(circle_area(10) / 100, 3.1415, rel_tol=0.001)"]}"#,
    );
    let script = script(&problems[0]);
    assert!(
        script.starts_with("import math\nassert math.isclose("),
        "{script}"
    );
}

#[test]
fn apps_call_tests_keep_big_integers_and_key_order_as_python_reads_them() {
    // Written by hand: serde_json would turn the big integer into a float.
    let io = r#"{"fn_name": "sq", "inputs": [[123456789012345678901, {"b": 1, "a": 2}]], "outputs": [[15241578753238836750190519987501905210201]]}"#;
    let line = serde_json::json!({
        "problem_id": 1, "question": "Square it.", "solutions": "[]", "input_output": io,
    });
    let problems = imported("apps", &line.to_string());
    let script = script(&problems[0]);
    // Every return value APPS' harness accepts: the wrapped output, as a tuple, and
    // the output itself.
    assert_eq!(
        script,
        "assert sq(123456789012345678901, {\"b\": 1, \"a\": 2}) in [[15241578753238836750190519987501905210201], \
         (15241578753238836750190519987501905210201,), 15241578753238836750190519987501905210201]\n"
    );
}

/// APPS calls `fn_name` whenever the key holds a name, and reads stdin when it is null
/// or absent: an empty name made every program pass (`assert (1) == 1`), and a number
/// turned the problem into a stdin one.
#[test]
fn an_apps_fn_name_that_names_no_function_is_an_error() {
    let line = |fn_name: &str| {
        let io = format!(r#"{{"fn_name": {fn_name}, "inputs": ["1\n"], "outputs": ["1\n"]}}"#);
        serde_json::json!({"problem_id": 1, "question": "Echo.", "input_output": io}).to_string()
    };
    for (fn_name, found) in [(r#""""#, r#""""#), ("5", "5")] {
        bad_problems(
            line(fn_name).as_bytes(),
            "apps",
            &[],
            &[
                "input.jsonl:1:",
                &format!("field 'input_output.fn_name': expected a function name, found {found}"),
            ],
            1,
        );
    }
    let problems = imported("apps", &line("null"));
    assert!(matches!(problems[0].tests, Tests::IoCases { .. }));
}

/// LeetCode-style APPS problems name a method of `class Solution`, which the official
/// harness calls on an instance: every sample was an error ("does not define the entry
/// point") before.
#[test]
fn apps_class_solution_problems_call_the_method_on_an_instance() {
    let line = serde_json::json!({
        "problem_id": 4, "question": "Add.", "input_output": r#"{"fn_name": "addTwo", "inputs": [[1, 2]], "outputs": [3]}"#,
        "starter_code": "class Solution:\n    def addTwo(self, a: int, b: int) -> int:\n        ",
    });
    let problems = imported("apps", &line.to_string());
    assert_eq!(problems[0].entry_point, "Solution");
    assert_eq!(
        script(&problems[0]),
        "assert Solution().addTwo(1, 2) == 3\n"
    );
}

/// MBPP splits by task id as its paper does (an imported full file was all `test`,
/// training tasks evaluated), `--split` names any format's; the entry point is the
/// function the tests call by its whole name, not a helper whose name ends it.
#[test]
fn mbpp_splits_by_task_id_and_its_entry_point_is_the_called_function() {
    let row = |id: u32| {
        serde_json::json!({"task_id": id, "text": "Gcd.",
            "code": "def gcd(a, b):\n    return a if b == 0 else gcd(b, a % b)\ndef get_gcd(xs):\n    return gcd(xs[0], xs[1])\n",
            "test_list": ["assert get_gcd([4, 6]) == 2"], "test_setup_code": "", "challenge_test_list": []})
        .to_string()
    };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("mbpp.jsonl");
    let lines: Vec<String> = [3, 11, 520, 700].into_iter().map(row).collect();
    std::fs::write(&input, lines.join("\n")).unwrap();
    let out = dir.path().join("out");
    let (input_s, out_s) = (ouro_e2e::arg(&input), ouro_e2e::arg(&out));
    let args = |extra: &[&'static str]| {
        let mut a: Vec<&str> = vec!["import", "problems", "--format", "mbpp"];
        a.extend_from_slice(extra);
        a.extend([input_s.as_str(), "--out", out_s.as_str()]);
        a
    };
    ouro_e2e::ouro_ok(&args(&[]));
    let problems: Vec<Problem> = shard::read_dir(&out).unwrap();
    let splits: Vec<&str> = problems.iter().map(|p| p.split.as_str()).collect();
    assert_eq!(splits, ["prompt", "test", "validation", "train"]);
    assert!(problems.iter().all(|p| p.entry_point == "get_gcd"));
    ouro_e2e::ouro_ok(&args(&["--split", "heldout"]));
    let problems: Vec<Problem> = shard::read_dir(&out).unwrap();
    assert!(problems.iter().all(|p| p.split == "heldout"));
}

/// The APPS paper's prompt: the model is told the starter code (the name to define)
/// and whether to read stdin; it was the bare question.
#[test]
fn apps_prompts_carry_the_starter_code_and_the_call_format() {
    let line = serde_json::json!({
        "problem_id": 4, "question": "Add two numbers.", "input_output": r#"{"fn_name": "add_two", "inputs": [[1, 2]], "outputs": [3]}"#,
        "starter_code": "def add_two(a, b):\n\t",
    });
    let p = &imported("apps", &line.to_string())[0];
    assert_eq!(
        p.prompt,
        "\nQUESTION:\nAdd two numbers.\ndef add_two(a, b):\n\t\nUse Call-Based format\nANSWER:\n"
    );
    let io = serde_json::json!({"problem_id": 5, "question": "Echo.", "input_output": r#"{"inputs": ["1\n"], "outputs": ["1\n"]}"#});
    let p = &imported("apps", &io.to_string())[0];
    assert!(
        p.prompt
            .ends_with("Echo.\nUse Standard Input format\nANSWER:\n"),
        "{}",
        p.prompt
    );
}
