//! `ouro import`: good inputs produce shards; each kind of bad input gets an
//! error naming file:line and field, a non-zero exit and no output shard.

use std::path::Path;

use ouro_data::{shard, Problem, Sample, Tests};
use ouro_e2e::{ouro, stderr, workspace};

fn fixture(name: &str) -> String {
    workspace()
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

fn import_humaneval(out: &Path) {
    let o = try_import_humaneval(out);
    assert!(o.status.success(), "{}", stderr(&o));
}

fn try_import_humaneval(out: &Path) -> std::process::Output {
    ouro(&[
        "import",
        "problems",
        "--format",
        "humaneval",
        &fixture("humaneval_mini.jsonl"),
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
    let other = dir.path().join("part-00001-of-00002.parquet");
    std::fs::copy(dir.path().join("part-00000-of-00001.parquet"), &other).unwrap();
    let o = try_import_humaneval(dir.path());
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("already holds part-00001-of-00002.parquet, which would be read together with part-00000-of-00001.parquet"),
        "{err}"
    );
}

#[test]
fn batch_output_failures_are_recorded_not_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let problems = dir.path().join("problems");
    import_humaneval(&problems);
    let out = dir.path().join("samples");
    let o = ouro(&[
        "import",
        "generations",
        "--format",
        "openai-batch",
        &fixture("batch_output.jsonl"),
        "--problems",
        &problems.display().to_string(),
        "--out",
        &out.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let samples: Vec<Sample> = shard::read_dir(&out).unwrap();
    assert_eq!(samples.len(), 5, "every line becomes a sample");
    // A failed generation is counted once, as failed, not again as "without code".
    assert!(
        stderr(&o).contains("(2 failed generations, 0 without extractable code)"),
        "{}",
        stderr(&o)
    );
    let chat = &samples[0];
    assert_eq!(
        chat.code.as_deref(),
        Some("def add(a, b):\n    return a + b\n")
    );
    assert_eq!(
        (chat.prompt_tokens, chat.completion_tokens),
        (Some(20), Some(12))
    );
    let continuation = &samples[1];
    assert!(continuation
        .code
        .as_deref()
        .unwrap()
        .starts_with("def add(a, b):\n    \"\"\"Return a + b.\"\"\"\n    return a - b"));
    assert_eq!(continuation.finish_reason.as_deref(), Some("length"));
    let http_500 = &samples[2];
    assert_eq!(http_500.finish_reason.as_deref(), Some("error"));
    assert!(http_500
        .generation_error
        .as_deref()
        .unwrap()
        .contains("500: overloaded"));
    assert!(samples[3]
        .generation_error
        .as_deref()
        .unwrap()
        .contains("timed out"));
    let reasoning = &samples[4];
    assert!(reasoning.completion.starts_with("<think>\nI could write"));
    assert_eq!(
        reasoning.code.as_deref(),
        Some("def double(xs):\n    return [x * 2 for x in xs]\n"),
        "code comes from the answer, not the reasoning"
    );
    // Importing again yields the same ids: re-runs never duplicate.
    let again = dir.path().join("again");
    let o = ouro(&[
        "import",
        "generations",
        "--format",
        "vllm",
        &fixture("batch_output.jsonl"),
        "--problems",
        &problems.display().to_string(),
        "--out",
        &again.display().to_string(),
    ]);
    assert!(o.status.success());
    let ids: Vec<String> = shard::read_dir::<Sample>(&again)
        .unwrap()
        .into_iter()
        .map(|s| s.sample_id)
        .collect();
    assert_eq!(
        ids,
        samples
            .iter()
            .map(|s| s.sample_id.clone())
            .collect::<Vec<_>>()
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
        &[
            "--map",
            "problem_id=id",
            "--map",
            "prompt=q",
            "--map",
            "tests=cases",
        ],
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

/// Runs a generations import of `content` against the mini HumanEval problems.
fn bad_generations(content: &str, format: &str, expect: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let problems = dir.path().join("problems");
    import_humaneval(&problems);
    let input = dir.path().join("gens.jsonl");
    std::fs::write(&input, content).unwrap();
    let out = dir.path().join("out");
    let o = ouro(&[
        "import",
        "generations",
        "--format",
        format,
        &input.display().to_string(),
        "--problems",
        &problems.display().to_string(),
        "--out",
        &out.display().to_string(),
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    for e in expect {
        assert!(err.contains(e), "stderr should contain {e:?}: {err}");
    }
    assert!(!out.exists(), "no output on failure");
}

#[test]
fn batch_line_with_malformed_body_names_the_field() {
    let line = r#"{"custom_id": "HumanEval/0", "response": {"status_code": 200, "body": {"choices": {"text": "x"}}}}"#;
    bad_generations(
        line,
        "openai-batch",
        &["gens.jsonl:1:", "field 'response.body.choices'"],
    );
}

#[test]
fn generation_for_an_unknown_problem_is_rejected() {
    bad_generations(
        r#"{"problem_id": "HumanEval/99", "completion": "x"}"#,
        "jsonl",
        &["gens.jsonl:1:", "unknown problem 'HumanEval/99'"],
    );
}

#[test]
fn an_index_or_token_count_past_u32_is_an_error_not_a_wrapped_value() {
    bad_generations(
        r#"{"problem_id": "HumanEval/0", "index": 4294967297, "completion": "    return 1"}"#,
        "jsonl",
        &[
            "gens.jsonl:1:",
            "field 'index': 4294967297 is larger than 4294967295",
        ],
    );
    bad_generations(
        r#"{"problem_id": "HumanEval/0", "max_tokens": 4294967296, "completion": "    return 1"}"#,
        "jsonl",
        &["field 'max_tokens': 4294967296 is larger than 4294967295"],
    );
}

#[test]
fn duplicate_generation_index_is_rejected() {
    let line = r#"{"problem_id": "HumanEval/0", "index": 0, "completion": "    return 1"}"#;
    bad_generations(
        &format!("{line}\n{line}\n"),
        "jsonl",
        &["gens.jsonl:2:", "duplicate generation HumanEval/0#0"],
    );
}

#[test]
fn missing_problems_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("g.jsonl");
    std::fs::write(&input, "{}").unwrap();
    let o = ouro(&[
        "import",
        "generations",
        "--format",
        "jsonl",
        &input.display().to_string(),
        "--problems",
        "/nonexistent/problems",
        "--out",
        &dir.path().join("o").display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("/nonexistent/problems"),
        "{}",
        stderr(&o)
    );
}

/// Imports `content` as generations with extra flags; returns the samples.
fn good_generations(content: &str, format: &str, extra: &[&str]) -> Vec<Sample> {
    let dir = tempfile::tempdir().unwrap();
    let problems = dir.path().join("problems");
    import_humaneval(&problems);
    let input = dir.path().join("gens.jsonl");
    std::fs::write(&input, content).unwrap();
    let map = dir.path().join("map.jsonl");
    std::fs::write(
        &map,
        "{\"custom_id\": \"req-17\", \"problem_id\": \"HumanEval/1\"}\n\
         {\"custom_id\": \"req-18\", \"problem_id\": \"HumanEval/0\"}\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let (input, problems, out_s, map) = (
        input.display().to_string(),
        problems.display().to_string(),
        out.display().to_string(),
        map.display().to_string(),
    );
    let mut args: Vec<&str> = vec![
        "import",
        "generations",
        "--format",
        format,
        &input,
        "--problems",
        &problems,
        "--out",
        &out_s,
    ];
    for e in extra {
        args.push(if *e == "MAP" { map.as_str() } else { e });
    }
    let o = ouro(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut samples: Vec<Sample> = shard::read_dir(&out).unwrap();
    samples.sort_by_key(|s| (s.problem_id.clone(), s.index));
    samples
}

fn batch(custom_id: &str, text: &str) -> String {
    format!(
        r#"{{"custom_id": "{custom_id}", "response": {{"status_code": 200, "body": {{"model": "m", "choices": [{{"text": "{text}"}}]}}}}}}"#
    )
}

#[test]
fn free_form_custom_ids_import_by_default_pattern_and_map() {
    // PROBLEM_ID#<anything>: a non-numeric suffix takes the next free index.
    let content = [
        batch("HumanEval/0#bad1", "    return a + b"),
        batch("HumanEval/0#bad2", "    return a - b"),
    ]
    .join("\n");
    let s = good_generations(&content, "openai-batch", &[]);
    assert_eq!(
        s.iter()
            .map(|s| (s.problem_id.as_str(), s.index))
            .collect::<Vec<_>>(),
        [("HumanEval/0", 0), ("HumanEval/0", 1)]
    );
    let content = [
        batch("HumanEval/1-s3", "    return 1"),
        batch("HumanEval/0-s0", "    return a + b"),
    ]
    .join("\n");
    let s = good_generations(
        &content,
        "openai-batch",
        &[
            "--id-pattern",
            r"^(?P<problem_id>HumanEval/\d+)-s(?P<index>\d+)$",
        ],
    );
    assert_eq!(
        s.iter()
            .map(|s| (s.problem_id.as_str(), s.index))
            .collect::<Vec<_>>(),
        [("HumanEval/0", 0), ("HumanEval/1", 3)]
    );
    let content = [
        batch("req-17", "    return 1"),
        batch("req-18", "    return a + b"),
    ]
    .join("\n");
    let s = good_generations(&content, "openai-batch", &["--id-map", "MAP"]);
    assert_eq!(
        s.iter().map(|s| s.problem_id.as_str()).collect::<Vec<_>>(),
        ["HumanEval/0", "HumanEval/1"]
    );
}

#[test]
fn human_eval_samples_import_without_naming_the_id_field() {
    let content = "{\"task_id\": \"HumanEval/0\", \"completion\": \"    return a + b\\n\"}\n\
                   {\"task_id\": \"HumanEval/0\", \"completion\": \"    return b + a\\n\"}\n";
    for format in ["human-eval", "jsonl"] {
        let s = good_generations(content, format, &[]);
        assert_eq!(s.len(), 2, "{format}");
        assert!(s
            .iter()
            .all(|s| s.problem_id == "HumanEval/0" && s.code.is_some()));
    }
}

#[test]
fn ids_outside_the_pattern_or_map_name_line_and_id() {
    bad_generations(
        &batch("req-17", "x"),
        "openai-batch",
        &[
            "gens.jsonl:1:",
            "field 'custom_id'",
            "unknown problem 'req-17'",
            "--id-pattern",
        ],
    );
}

#[test]
fn an_output_directory_holding_another_kind_of_shard_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let problems = dir.path().join("problems");
    import_humaneval(&problems);
    let before = std::fs::read(problems.join("part-00000-of-00001.parquet")).unwrap();
    let gens = dir.path().join("gens.jsonl");
    std::fs::write(
        &gens,
        "{\"task_id\": \"HumanEval/0\", \"completion\": \"    return a + b\\n\"}\n",
    )
    .unwrap();
    // `--out` naming the problems directory by mistake.
    let p = problems.display().to_string();
    let o = ouro(&[
        "import",
        "generations",
        "--format",
        "human-eval",
        &gens.display().to_string(),
        "--problems",
        &p,
        "--out",
        &p,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("which is not a samples shard (no column 'sample_id')"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read(problems.join("part-00000-of-00001.parquet")).unwrap(),
        before,
        "the problems shard is untouched"
    );
    // And problems generated into it replace problems, as documented.
    let o = ouro(&["problems", "generate", "--count", "2", "--out", &p]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn numbered_requests_of_several_choices_take_consecutive_indices() {
    // `n = 2` per request, numbered #0 and #1: samples 0, 1 and 2, 3 (not 0, 1 and 1, 2).
    let two = |custom_id: &str| {
        format!(
            r#"{{"custom_id": "{custom_id}", "response": {{"status_code": 200, "body": {{"model": "m", "choices": [{{"text": "    return a + b"}}, {{"text": "    return a - b"}}]}}}}}}"#
        )
    };
    let content = [two("HumanEval/0#0"), two("HumanEval/0#1")].join("\n");
    let s = good_generations(&content, "openai-batch", &[]);
    assert_eq!(s.iter().map(|s| s.index).collect::<Vec<_>>(), [0, 1, 2, 3]);
    // A number that would place its choices past u32 is an error, not a panic or a
    // wrapped index that collides with another sample.
    bad_generations(
        &two("HumanEval/0#2147483648"),
        "openai-batch",
        &[
            "gens.jsonl:1:",
            "'HumanEval/0#2147483648' places its 2 choice(s) past sample 4294967295",
        ],
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
    // A completion column holding 42 is a wrong column, not the program `42`.
    bad_generations(
        r#"{"problem_id": "HumanEval/0", "completion": 42}"#,
        "jsonl",
        &[
            "gens.jsonl:1:",
            "field 'completion'",
            "expected a string, found a number",
        ],
    );
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
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("mbpp.jsonl");
    std::fs::write(
        &input,
        r#"{"task_id": 11, "text": "Write f.", "code": "def f():\n    return 1\n", "test_list": ["assert f() == 1"], "test_setup_code": "", "challenge_test_list": []}"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = ouro(&[
        "import",
        "problems",
        "--format",
        "mbpp",
        &input.display().to_string(),
        "--out",
        &out.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let problems: Vec<Problem> = shard::read_dir(&out).unwrap();
    assert_eq!(problems[0].problem_id, "mbpp/11");
}

#[test]
fn apps_call_tests_keep_big_integers_and_key_order_as_python_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    // Written by hand: serde_json would turn the big integer into a float.
    let io = r#"{"fn_name": "sq", "inputs": [[123456789012345678901, {"b": 1, "a": 2}]], "outputs": [[15241578753238836750190519987501905210201]]}"#;
    let line = serde_json::json!({
        "problem_id": 1, "question": "Square it.", "solutions": "[]", "input_output": io,
    });
    let input = dir.path().join("apps.jsonl");
    std::fs::write(&input, format!("{line}\n")).unwrap();
    let out = dir.path().join("apps");
    ouro_e2e::ouro_ok(&[
        "import",
        "problems",
        "--format",
        "apps",
        &ouro_e2e::arg(&input),
        "--out",
        &ouro_e2e::arg(&out),
    ]);
    let problems: Vec<Problem> = shard::read_dir(&out).unwrap();
    let Tests::AssertScript { script } = &problems[0].tests else {
        panic!("{:?}", problems[0].tests)
    };
    assert_eq!(
        script,
        "assert sq(123456789012345678901, {\"b\": 1, \"a\": 2}) == 15241578753238836750190519987501905210201\n"
    );
}
