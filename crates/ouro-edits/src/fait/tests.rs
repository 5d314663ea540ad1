use super::*;

#[test]
fn distance_is_zero_for_equal_and_one_for_disjoint_tokens() {
    assert_eq!(normalized_token_distance(&["a", "b"], &["a", "b"]), 0.0);
    assert_eq!(normalized_token_distance(&["a"], &["b"]), 1.0);
    assert!(
        (normalized_token_distance(&["a", "b", "c", "d"], &["a", "x", "c", "d"]) - 0.25).abs()
            < 1e-12
    );
}

#[test]
fn spans_mark_the_changed_token_and_its_line() {
    let good = "def f(x):\n    return x + 1\n";
    let bad = "def f(x):\n    return x - 1\n";
    let (tok, lines) = changed_spans(good, bad);
    let plus = good.find('+').unwrap();
    assert_eq!(tok, vec![(plus, plus + 1)]);
    assert_eq!(lines, vec![(10, 26)]);
    let spans = weight_spans(&tok, &lines, 2.0, 1.5, 3);
    assert_eq!(
        spans
            .iter()
            .map(|s| (s.start, s.end, s.weight))
            .collect::<Vec<_>>(),
        vec![
            (13, plus as u32 + 3, 1.5),
            (plus as u32 + 3, plus as u32 + 4, 2.0),
            (plus as u32 + 4, 29, 1.5)
        ]
    );
}

#[test]
fn code_is_found_in_the_answer_and_as_the_body_a_completion_continues() {
    let prompt = "def f(x):\n";
    let code = "def f(x):\n    return x + 1\n";
    // A draft in the reasoning is not what ran: the answer's copy is.
    let thought = format!("<think>\n{code}</think>\n```python\n{code}```");
    let at = find_code(&thought, code, prompt).unwrap() as usize;
    assert_eq!(&thought[at..at + code.len()], code);
    assert!(at > thought.find("</think>").unwrap());
    // A body-only completion (HumanEval style): the program is prompt + body.
    let body = "    return x + 1\n";
    assert_eq!(find_code(body, code, prompt), Some(-(prompt.len() as i64)));
    // Spans in the prompt's part are cut; the body's shift onto the completion.
    let (tok, lines) = changed_spans(code, "def f(x):\n    return x - 1\n");
    let spans = weight_spans(&tok, &lines, 2.0, 1.5, -(prompt.len() as i64));
    let plus = body.find('+').unwrap() as u32;
    assert!(
        spans.iter().any(|s| (s.start, s.end) == (plus, plus + 1)),
        "{spans:?}"
    );
    assert!(
        spans.iter().all(|s| s.end as usize <= body.len()),
        "{spans:?}"
    );
    assert_eq!(locate("no code here", code, prompt), None);
}

#[test]
fn a_program_is_found_where_its_last_line_ends_in_spaces_or_no_newline() {
    let prompt = "def f(x):\n";
    let code = "def f(x):\n    return x + 1\n";
    let (tok, lines) = changed_spans(code, "def f(x):\n    return x - 1\n");
    for completion in [
        "```python\ndef f(x):\n    return x + 1  \n```\n",
        "    return x + 1",
        "    return x + 1\t\n\nprint(f(1))",
    ] {
        let at = locate(completion, code, prompt).unwrap_or_else(|| panic!("{completion:?}"));
        let spans = at.spans(weight_spans(&tok, &lines, 2.0, 1.5, at.offset));
        let chars: Vec<char> = completion.chars().collect();
        let text = |w: f32| -> String {
            spans
                .iter()
                .filter(|s| s.weight == w)
                .flat_map(|s| chars[s.start as usize..s.end as usize].iter())
                .collect()
        };
        assert_eq!(text(2.0), "+", "{completion:?}");
        assert_eq!(text(1.5), "    return x  1", "{completion:?}");
    }
}

#[test]
fn a_completion_with_crlf_line_ends_gets_its_spans_on_its_own_characters() {
    let good = "def f(x):\n    y = 1\n    return x + y\n";
    let bad = "def f(x):\n    y = 1\n    return x - y\n";
    let completion = format!("Here:\r\n```python\r\n{}```", good.replace('\n', "\r\n"));
    let at = locate(&completion, good, "").unwrap();
    assert_eq!(at.carriage_returns.len(), 5);
    let (tok, lines) = changed_spans(good, bad);
    let spans = at.spans(weight_spans(&tok, &lines, 2.0, 1.5, at.offset));
    let chars: Vec<char> = completion.chars().collect();
    let text = |s: &WeightSpan| {
        chars[s.start as usize..s.end as usize]
            .iter()
            .collect::<String>()
    };
    let token = spans.iter().find(|s| s.weight == 2.0).unwrap();
    assert_eq!(text(token), "+");
    let line: String = spans.iter().map(text).collect();
    assert_eq!(line, "    return x + y", "{spans:?}");
}
