use super::*;

fn jsonl(dir: &Path, name: &str, lines: &[&str]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    p
}

/// Prompt, completion and id of the first prompt-completion row.
#[derive(Debug, PartialEq)]
struct Plain(String, String, String);

impl From<(&str, &str, &str)> for Plain {
    fn from((p, c, id): (&str, &str, &str)) -> Self {
        Plain(p.into(), c.into(), id.into())
    }
}

fn first_plain(rows: SftRows) -> Plain {
    let SftRows::PromptCompletion(r) = rows else {
        panic!("not prompt-completion rows")
    };
    (
        r[0].prompt.as_str(),
        r[0].completion.as_str(),
        r[0].problem_id.as_str(),
    )
        .into()
}

#[test]
fn a_span_weight_that_is_not_finite_and_non_negative_names_its_row() {
    let dir = tempfile::tempdir().unwrap();
    let row = |w: f32| SftRecord {
        prompt: "p".into(),
        completion: "c".into(),
        problem_id: "x".into(),
        sample_id: Some("s".into()),
        round: 0,
        origin: "sample".into(),
        score: None,
        weight_spans: vec![ouro_data::WeightSpan {
            start: 0,
            end: 1,
            weight: w,
        }],
    };
    for (w, bad) in [
        (2.0, false),
        (f32::NAN, true),
        (-3.0, true),
        (f32::INFINITY, true),
    ] {
        let file = dir.path().join("part-00000.parquet");
        ouro_data::shard::write_records(&file, &[row(1.0), row(w)]).unwrap();
        let got = load_sft(&DataSource::from(dir.path()), None);
        match (bad, got) {
            (false, Ok(_)) => {}
            (true, Err(e)) => {
                let e = e.to_string();
                assert!(e.contains("row 2: weight span [0, 1) has weight"), "{e}");
            }
            (_, got) => panic!("weight {w}: {:?}", got.map(|l| l.shape)),
        }
    }
}

#[test]
fn sft_shapes_are_recognised() {
    let d = tempfile::tempdir().unwrap();
    let pc = jsonl(
        d.path(),
        "pc.jsonl",
        &[r#"{"prompt": "a", "completion": "b", "extra": 1}"#],
    );
    let Loaded { rows, shape, .. } = load_sft(&(&pc).into(), None).unwrap();
    assert_eq!(shape, "prompt-completion");
    assert_eq!(first_plain(rows), ("a", "b", "row-1").into());

    let text = jsonl(d.path(), "t.jsonl", &[r#"{"text": "hello", "id": 7}"#]);
    let rows = load_sft(&(&text).into(), None).unwrap().rows;
    assert_eq!(first_plain(rows), ("", "hello", "7").into());

    let conv = jsonl(
        d.path(),
        "c.jsonl",
        &[
            r#"{"prompt": [{"role": "user", "content": "q"}], "completion": [{"role": "assistant", "content": "a"}]}"#,
        ],
    );
    let Loaded {
        rows, shape, text, ..
    } = load_sft(&(&conv).into(), None).unwrap();
    assert_eq!(shape, "conversational prompt-completion");
    assert_eq!(text, RowText::Rendered);
    // As TRL splits it: the prompt with its generation header, then all the reply adds.
    let SftRows::PromptCompletion(r) = rows else {
        panic!()
    };
    assert_eq!(
        r[0].prompt,
        "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n"
    );
    assert_eq!(r[0].completion, "a<|im_end|>\n");
}

#[test]
fn unknown_shapes_and_bad_rows_name_what_was_found() {
    let d = tempfile::tempdir().unwrap();
    let p = jsonl(
        d.path(),
        "x.jsonl",
        &[r#"{"question": "a", "answer": "b"}"#],
    );
    let e = load_sft(&(&p).into(), None).unwrap_err().to_string();
    assert!(
        e.contains("found columns answer, question") && e.contains("prompt + completion"),
        "{e}"
    );
    let e = load_dpo(&(&p).into(), None).unwrap_err().to_string();
    assert!(
        e.contains("not a DPO dataset") && e.contains("chosen + rejected"),
        "{e}"
    );
    let p = jsonl(
        d.path(),
        "y.jsonl",
        &[
            r#"{"prompt": "a", "completion": "b"}"#,
            r#"{"prompt": "a", "completion": 3}"#,
        ],
    );
    let e = load_sft(&(&p).into(), None).unwrap_err().to_string();
    assert!(
        e.contains("y.jsonl") && e.contains("line 2") && e.contains("'completion'"),
        "{e}"
    );
    let p = jsonl(d.path(), "z.jsonl", &["{\"prompt\": \"a\",", ""]);
    let e = load_sft(&(&p).into(), None).unwrap_err().to_string();
    assert!(e.contains("z.jsonl: line 1: invalid JSON"), "{e}");
}

#[test]
fn json_arrays_and_gzipped_lines_keep_the_line_each_row_starts_on() {
    use std::io::Write;
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("a.json"),
        "[\n  {\"prompt\": \"p1\",\n   \"completion\": \"c1\"},\n  {\"prompt\": \"p2\", \"completion\": \"c2\"}\n]\n",
    )
    .unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b"\xef\xbb\xbf\n{\"prompt\": \"p3\", \"completion\": \"c3\"}\n")
        .unwrap();
    std::fs::write(d.path().join("b.jsonl.gz"), gz.finish().unwrap()).unwrap();
    let loaded = load_sft(&DataSource::from(d.path()), None).unwrap();
    let SftRows::PromptCompletion(rows) = &loaded.rows else {
        panic!("not prompt-completion rows")
    };
    let completions: Vec<&str> = rows.iter().map(|r| r.completion.as_str()).collect();
    assert_eq!(completions, ["c1", "c2", "c3"]);
    // An error found once rows are records still names the file and line.
    let at = |index| {
        loaded
            .origins
            .locate(TrainError::Example {
                index,
                problem_id: "x".into(),
                field: "completion",
                message: "too long".into(),
            })
            .to_string()
    };
    assert!(at(1).ends_with("a.json: line 4 (problem x): field 'completion': too long"));
    assert!(at(2).ends_with("b.jsonl.gz: line 2 (problem x): field 'completion': too long"));
}

#[test]
fn implicit_prompt_pairs_split_at_the_shared_messages() {
    let d = tempfile::tempdir().unwrap();
    let p = jsonl(
        d.path(),
        "p.jsonl",
        &[r#"{"chosen": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "good"}],
             "rejected": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "bad"}]}"#
            .replace('\n', " ")
            .as_str()],
    );
    let Loaded {
        rows: pairs, shape, ..
    } = load_dpo(&(&p).into(), None).unwrap();
    assert_eq!(shape, "conversational preference with implicit prompt");
    assert_eq!(
        pairs[0].prompt,
        "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n"
    );
    assert_eq!(pairs[0].chosen, "good<|im_end|>\n");
    assert_eq!(pairs[0].rejected, "bad<|im_end|>\n");

    let s = jsonl(
        d.path(),
        "s.jsonl",
        &[r#"{"prompt": "p", "chosen": "c", "rejected": "r"}"#],
    );
    let Loaded {
        rows: pairs, shape, ..
    } = load_dpo(&(&s).into(), None).unwrap();
    assert_eq!(shape, "preference (prompt, chosen, rejected)");
    assert_eq!(
        (pairs[0].prompt.as_str(), pairs[0].chosen.as_str()),
        ("p", "c")
    );
}

#[test]
fn the_rendered_prompt_and_reply_are_the_sft_chatml() {
    let m = |role: &str, content: &str| Message {
        role: role.into(),
        content: content.into(),
    };
    let conv = [m("system", "s"), m("user", "q"), m("assistant", "a")];
    let (full, _) = crate::tokenize::chatml_with_assistant_ranges(&conv);
    let joined = chatml_prompt(&conv[..2]) + &chatml_reply(&conv[2..]);
    assert_eq!(joined, full);
}

#[test]
fn tool_calls_and_tool_results_are_named_as_unsupported() {
    let d = tempfile::tempdir().unwrap();
    let call = r#"{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": null, "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {}}}]}, {"role": "tool", "content": "1"}, {"role": "assistant", "content": "done"}]}"#;
    let p = jsonl(d.path(), "tools.jsonl", &[call]);
    let e = load_sft(&(&p).into(), None).unwrap_err().to_string();
    assert!(
        e.contains("tools.jsonl: line 1")
            && e.contains(
                "message 1 is a tool call (tool_calls): training on tool calls is not supported"
            ),
        "{e}"
    );
    let result = r#"{"messages": [{"role": "user", "content": "hi"}, {"role": "tool", "content": "1"}, {"role": "assistant", "content": "done"}]}"#;
    let p = jsonl(d.path(), "results.jsonl", &[result]);
    let e = load_sft(&(&p).into(), None).unwrap_err().to_string();
    assert!(
        e.contains("message 1 is a tool result (role 'tool')"),
        "{e}"
    );
    // Tools offered to the template, or template arguments, per row: refused, not
    // silently rendered without them.
    for (field, value) in [
        (
            "tools",
            r#"[{"type": "function", "function": {"name": "f"}}]"#,
        ),
        ("chat_template_kwargs", r#"{"enable_thinking": false}"#),
    ] {
        let row = format!(
            r#"{{"messages": [{{"role": "user", "content": "hi"}}, {{"role": "assistant", "content": "yo"}}], "{field}": {value}}}"#
        );
        let p = jsonl(d.path(), "kwargs.jsonl", &[&row]);
        let e = load_sft(&(&p).into(), None).unwrap_err().to_string();
        assert!(
            e.contains(&format!("kwargs.jsonl: line 1: field '{field}'"))
                && e.contains("not supported in training yet"),
            "{e}"
        );
    }
    // A null tool_calls (as Parquet writers fill the key in) is a plain turn.
    let plain = r#"{"messages": [{"role": "user", "content": "hi", "tool_calls": null}, {"role": "assistant", "content": "yo", "tool_calls": null}]}"#;
    let p = jsonl(d.path(), "plain.jsonl", &[plain]);
    load_sft(&(&p).into(), None).unwrap();
}
