//! `ouro import generations`: raw generations (OpenAI/vLLM batch, human-eval,
//! plain JSONL) become samples; each kind of bad input gets an error naming
//! file:line and field, a non-zero exit and no output shard.

use ouro_data::{shard, Sample};
use ouro_e2e::{fixture, humaneval_mini_problems as import_humaneval, ouro, stderr};

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
        stderr(&o)
            .contains("(2 failed generations and 0 more without extractable code: 2 without code)"),
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
fn a_number_where_the_completion_belongs_is_an_error() {
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
}

#[test]
fn a_failed_request_of_several_choices_takes_its_own_place() {
    // n = 2, request #1 expired: it stands at 2 (its first place), not at 1, which
    // is request #0's second choice.
    let two = r#"{"custom_id": "HumanEval/0#0", "response": {"status_code": 200, "body": {"model": "m", "choices": [{"text": "    return a + b"}, {"text": "    return a - b"}]}}}"#;
    let expired = r#"{"custom_id": "HumanEval/0#1", "response": null, "error": {"code": "batch_expired", "message": "expired"}}"#;
    let s = good_generations(&format!("{two}\n{expired}\n"), "openai-batch", &[]);
    assert_eq!(s.iter().map(|s| s.index).collect::<Vec<_>>(), [0, 1, 2]);
    assert!(s[2]
        .generation_error
        .as_deref()
        .unwrap()
        .contains("expired"));
}

#[test]
fn a_batch_request_read_twice_is_an_error_whatever_its_id_form() {
    for id in ["HumanEval/0", "HumanEval/0#0"] {
        let line = batch(id, "    return a + b");
        bad_generations(
            &format!("{line}\n{line}\n"),
            "openai-batch",
            &["gens.jsonl:2:", "custom_id", "seen twice (first on line 1)"],
        );
    }
}

#[test]
fn id_less_tools_match_problems_by_the_prompt_their_text_holds() {
    // OpenRLHF's batch_inference with --apply_chat_template writes the templated
    // prompt as `input`; open-instruct's rejection sampling keeps only `messages`.
    let prompt = std::fs::read_to_string(fixture("humaneval_mini.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(prompt.lines().next().unwrap()).unwrap();
    let (id, prompt) = (
        first["task_id"].as_str().unwrap(),
        first["prompt"].as_str().unwrap(),
    );
    let templated = format!("<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n");
    let rlhf = serde_json::json!({"input": templated, "output": "    return a + b\n"});
    let s = good_generations(&format!("{rlhf}\n"), "openrlhf", &[]);
    assert_eq!(s[0].problem_id, id);
    let instruct = serde_json::json!({"messages": [
        {"role": "user", "content": format!("Complete this function:\n{prompt}")},
        {"role": "assistant", "content": "    return a + b\n"}]});
    let s = good_generations(&format!("{instruct}\n"), "open-instruct", &[]);
    assert_eq!(s[0].problem_id, id);
    // A dataset's own `id` (tulu's) that names no problem leaves the prompt to match.
    let tulu = serde_json::json!({"id": "ai2-adapt-dev/x-1", "messages": instruct["messages"]});
    let s = good_generations(&format!("{tulu}\n"), "open-instruct", &[]);
    assert_eq!(s[0].problem_id, id);
    // An id matched by prompt is a problem's: --id-pattern is for ids a line writes.
    let s = good_generations(
        &format!("{rlhf}\n"),
        "openrlhf",
        &["--id-pattern", "^x(.*)$"],
    );
    assert_eq!(s[0].problem_id, id);
    // vLLM's run_batch writes a failed request's error as a plain string.
    let failed = serde_json::json!({"id": "b", "custom_id": id, "response": null, "error": "Input too long"});
    let s = good_generations(&format!("{failed}\n"), "vllm", &[]);
    assert_eq!(
        s[0].generation_error.as_deref(),
        Some("batch error: Input too long")
    );
    let nowhere = serde_json::json!({"input": "write a web server", "output": "x"});
    bad_generations(
        &format!("{nowhere}\n"),
        "openrlhf",
        &["gens.jsonl:1:", "field 'input'", "neither is nor contains"],
    );
}

#[test]
fn a_failed_request_takes_its_own_problems_number_of_choices() {
    // HumanEval/0's requests asked for 2 choices, HumanEval/1's for 1: a failed
    // HumanEval/1#1 is sample 1 of its problem, not 2.
    let two = r#"{"custom_id": "HumanEval/0#0", "response": {"status_code": 200, "body": {"model": "m", "choices": [{"text": "    return a + b"}, {"text": "    return a - b"}]}}}"#;
    let one = |k: u32| {
        format!(
            r#"{{"custom_id": "HumanEval/1#{k}", "response": {{"status_code": 200, "body": {{"model": "m", "choices": [{{"text": "    return [2 * x for x in xs]"}}]}}}}}}"#
        )
    };
    let failed = r#"{"custom_id": "HumanEval/1#1", "response": null, "error": {"code": "batch_expired", "message": "expired"}}"#;
    let s = good_generations(
        &format!("{two}\n{}\n{failed}\n{}\n", one(0), one(2)),
        "openai-batch",
        &[],
    );
    let placed: Vec<(String, u32)> = s.iter().map(|s| (s.problem_id.clone(), s.index)).collect();
    assert_eq!(
        placed,
        [
            ("HumanEval/0".to_string(), 0),
            ("HumanEval/0".to_string(), 1),
            ("HumanEval/1".to_string(), 0),
            ("HumanEval/1".to_string(), 1),
            ("HumanEval/1".to_string(), 2),
        ]
    );
}

#[test]
fn refusals_and_tool_calls_are_kept_as_the_completion() {
    let line = |id: &str, message: &str| {
        format!(
            r#"{{"custom_id": "{id}", "response": {{"status_code": 200, "body": {{"model": "m", "choices": [{{"message": {message}, "finish_reason": "stop"}}]}}}}}}"#
        )
    };
    let refusal = line(
        "HumanEval/0#0",
        r#"{"role": "assistant", "content": null, "refusal": "I cannot help with that."}"#,
    );
    let tool = line(
        "HumanEval/0#1",
        r#"{"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "run", "arguments": "{\"code\": \"x\"}"}}]}"#,
    );
    let s = good_generations(&format!("{refusal}\n{tool}\n"), "openai-batch", &[]);
    assert_eq!(s[0].completion, "I cannot help with that.");
    assert!(
        s[1].completion.contains("\"name\":\"run\""),
        "{:?}",
        s[1].completion
    );
    assert!(s.iter().all(|s| s.code.is_none()));
}

/// A batch sent to `/v1/responses`: each body is a Response object, not choices.
#[test]
fn responses_api_batch_output_imports() {
    let response = |id: &str, body: &str| {
        format!(r#"{{"custom_id": "{id}", "response": {{"status_code": 200, "body": {body}}}}}"#)
    };
    let lines = [
        response(
            "HumanEval/0#0",
            r#"{"object": "response", "status": "completed", "model": "gpt-x",
                "output": [{"type": "reasoning", "summary": [{"type": "summary_text", "text": "add them"}]},
                           {"type": "message", "role": "assistant", "content": [
                               {"type": "output_text", "text": "```python\ndef add(a, b):\n"},
                               {"type": "output_text", "text": "    return a + b\n```"}]}],
                "usage": {"input_tokens": 36, "output_tokens": 20}}"#,
        ),
        response(
            "HumanEval/0#1",
            r#"{"object": "response", "status": "incomplete", "model": "gpt-x",
                "incomplete_details": {"reason": "max_output_tokens"},
                "output": [{"type": "message", "content": [{"type": "output_text", "text": "def add("}]}]}"#,
        ),
        response(
            "HumanEval/0#2",
            r#"{"object": "response", "status": "failed", "error": {"code": "server_error", "message": "boom"}, "output": []}"#,
        ),
    ]
    .map(|l| l.replace('\n', " "));
    let s = good_generations(&(lines.join("\n") + "\n"), "openai-batch", &[]);
    assert_eq!(s.len(), 3);
    assert_eq!(s[0].model, "gpt-x");
    assert!(
        s[0].completion
            .starts_with("<think>\nadd them\n</think>\n```python"),
        "{:?}",
        s[0].completion
    );
    assert_eq!(
        s[0].code.as_deref(),
        Some("def add(a, b):\n    return a + b\n")
    );
    assert_eq!(
        (s[0].prompt_tokens, s[0].completion_tokens),
        (Some(36), Some(20))
    );
    assert_eq!(s[1].finish_reason.as_deref(), Some("length"));
    assert!(
        s[2].generation_error.as_deref().unwrap().contains("boom"),
        "{:?}",
        s[2]
    );
}

/// Other harnesses write MBPP's ids bare or as `Mbpp/11`: the error names ouro's form.
#[test]
fn a_bare_mbpp_id_is_told_the_form_ouro_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let mbpp = dir.path().join("mbpp.jsonl");
    std::fs::write(
        &mbpp,
        r#"{"task_id": 11, "text": "Add.", "code": "def add(a, b):\n    return a + b\n", "test_list": ["assert add(1, 2) == 3"], "test_setup_code": "", "challenge_test_list": []}"#,
    )
    .unwrap();
    let problems = dir.path().join("problems");
    ouro_e2e::ouro_ok(&[
        "import",
        "problems",
        "--format",
        "mbpp",
        &mbpp.display().to_string(),
        "--out",
        &problems.display().to_string(),
    ]);
    let gens = dir.path().join("gens.jsonl");
    std::fs::write(&gens, "{\"task_id\": \"Mbpp/11\", \"completion\": \"x\"}\n").unwrap();
    let o = ouro(&[
        "import",
        "generations",
        "--format",
        "human-eval",
        &gens.display().to_string(),
        "--problems",
        &problems.display().to_string(),
        "--out",
        &dir.path().join("out").display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("ouro names MBPP's problems 'mbpp/11'"),
        "{}",
        stderr(&o)
    );
}
