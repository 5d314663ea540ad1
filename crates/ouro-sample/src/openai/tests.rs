use super::*;

fn outcome(error: bool, cached: bool, unreachable: bool) -> Outcome {
    Outcome {
        raw: if error {
            Raw::failed("x".into())
        } else {
            Raw::default()
        },
        cached,
        requests: u32::from(!cached),
        unreachable,
    }
}

/// vLLM answers a prompt over the context with an instant 400: one problem's
/// eight rejections coming first stopped a run whose other problems were fine.
#[test]
fn one_problems_rejections_neither_stop_nor_fail_the_run() {
    let mut t = Tally::new(["a", "b", "c"].into_iter());
    for _ in 0..8 {
        t.add("a", &outcome(true, false, false));
    }
    assert!(!t.stops_early(24) && !t.run_failed());
    t.add("b", &outcome(true, false, false));
    assert!(t.stops_early(24) && t.run_failed());
    // A problem set of one: its failures are every request's.
    let mut one = Tally::new(["a"].into_iter());
    for _ in 0..8 {
        one.add("a", &outcome(true, false, false));
    }
    assert!(one.stops_early(8) && one.run_failed());
}

/// A cache replay is no reply from a server: a resumed run whose servers are down
/// wrote every missing sample as an error, and exited 0.
#[test]
fn cache_replays_do_not_count_as_servers_answering() {
    let mut t = Tally::new(["a", "b"].into_iter());
    t.add("a", &outcome(false, true, false));
    t.add("b", &outcome(true, false, true));
    assert!(t.run_failed());
    t.add("b", &outcome(false, false, false));
    assert!(!t.run_failed());
}

#[test]
fn base_urls_with_or_without_v1_are_the_same_root() {
    assert_eq!(base_url_root("http://h:8000").unwrap(), "http://h:8000");
    assert_eq!(base_url_root("http://h:8000/v1/").unwrap(), "http://h:8000");
    assert!(base_url_root("h:8000").is_err());
}

#[test]
fn retry_after_reads_seconds_and_http_dates() {
    assert_eq!(retry_after_s(" 4 "), Some(4.0));
    assert_eq!(retry_after_s("-1"), None);
    let later = std::time::SystemTime::now() + Duration::from_secs(30);
    let s = retry_after_s(&httpdate::fmt_http_date(later)).unwrap();
    assert!((28.0..=30.0).contains(&s), "{s}");
    assert_eq!(retry_after_s("Sun, 06 Nov 1994 08:49:37 GMT"), Some(0.0));
    assert_eq!(retry_after_s("soon"), None);
}

#[test]
fn backoff_doubles_with_jitter_and_honours_retry_after() {
    for attempt in 0..4 {
        let d = backoff(100, attempt, None).as_secs_f64() * 1000.0;
        let full = 100.0 * 2f64.powi(attempt as i32);
        assert!(d >= full / 2.0 && d < full, "attempt {attempt}: {d} ms");
    }
    assert!(backoff(100, 40, None) <= Duration::from_millis(30_000));
    assert_eq!(backoff(100, 0, Some(2.0)), Duration::from_secs(2));
    assert_eq!(
        backoff(100, 0, Some(1e9)),
        Duration::from_secs_f64(MAX_RETRY_AFTER_S)
    );
}

#[test]
fn server_error_messages_are_found_in_common_shapes() {
    assert_eq!(error_message(r#"{"error":{"message":"bad"}}"#), "bad");
    assert_eq!(error_message(r#"{"error":"tgi says"}"#), "tgi says");
    assert_eq!(error_message(r#"{"detail":"fastapi"}"#), "fastapi");
    assert_eq!(error_message("oops"), "oops");
    assert_eq!(error_message(""), "(empty body)");
}

#[test]
fn chat_reasoning_is_kept_in_a_think_block() {
    let v = json!({"choices":[{"message":{"content":"x = 1","reasoning_content":"hmm"},
        "finish_reason":"stop","logprobs":{"content":[{"logprob":-0.5},{"logprob":-0.25}]}}],
        "usage":{"prompt_tokens":3,"completion_tokens":2}});
    let raw = parse_response(&v, Endpoint::Chat).unwrap();
    assert_eq!(raw.completion, "<think>\nhmm\n</think>\nx = 1");
    assert_eq!(raw.logprob, Some(-0.75));
    assert_eq!(
        (raw.prompt_tokens, raw.completion_tokens),
        (Some(3), Some(2))
    );
    assert!(parse_response(&json!({"choices":[]}), Endpoint::Completions).is_err());
}

#[test]
fn replies_that_report_a_failure_are_failures_not_samples() {
    let parse = |v: Value| parse_response(&v, Endpoint::Completions).map_err(|e| e.to_string());
    let e = parse(json!({"choices":[{"text":"","finish_reason":"error"}]})).unwrap_err();
    assert!(e.contains("finish_reason 'error'"), "{e}");
    let e = parse(json!({"error":{"message":"overloaded"},"choices":[{"text":"x"}]})).unwrap_err();
    assert!(e.contains("overloaded"), "{e}");
    // `choices` is a list: an object keyed "0" is not one.
    assert!(parse(json!({"choices":{"0":{"text":"x"}}})).is_err());
    // A token count past u32 is not truncated into a wrong one.
    let raw =
        parse(json!({"choices":[{"text":"x"}],"usage":{"completion_tokens":1u64 << 40}})).unwrap();
    assert_eq!(raw.completion_tokens, None);
}

#[test]
fn the_choice_read_is_index_0_wherever_it_is_listed() {
    let v = json!({"choices":[{"index":1,"text":"wrong","finish_reason":"length"},
                              {"index":0,"text":"right","finish_reason":"stop"}]});
    let raw = parse_response(&v, Endpoint::Completions).unwrap();
    assert_eq!(
        (raw.completion.as_str(), raw.finish_reason.as_deref()),
        ("right", Some("stop"))
    );
}

/// A chat reply with no content is an empty answer only when nothing came instead.
#[test]
fn a_refusal_or_tool_calls_in_place_of_content_is_a_failure() {
    let chat = |m: Value| {
        parse_response(
            &json!({"choices":[{"index":0,"message":m,"finish_reason":"stop"}]}),
            Endpoint::Chat,
        )
        .map_err(|e| e.to_string())
    };
    let e = chat(json!({"role":"assistant","content":null,"refusal":"I can't help"})).unwrap_err();
    assert!(e.contains("the model refused: I can't help"), "{e}");
    let e = chat(json!({"role":"assistant","content":null,"tool_calls":[{"id":"1"}]})).unwrap_err();
    assert!(e.contains("tool calls"), "{e}");
    assert_eq!(
        chat(json!({"role":"assistant","content":null}))
            .unwrap()
            .completion,
        ""
    );
}
