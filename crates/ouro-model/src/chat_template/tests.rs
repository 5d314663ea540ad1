use super::*;
use json::python_float;

fn msg(role: &str, content: &str) -> Message {
    Message {
        role: role.into(),
        content: content.into(),
    }
}

fn chatml(system: Option<&str>) -> ChatTemplate {
    ChatTemplate::new(
        &crate::chat::chatml_template(system),
        "",
        "<|im_end|>",
        "test".into(),
    )
    .unwrap()
}

#[test]
fn the_chatml_template_renders_what_the_hand_written_chatml_renders() {
    let conv = [
        msg("user", "add two numbers"),
        msg("assistant", "def f(a, b):\n    return a + b"),
    ];
    for system in [None, Some(crate::chat::SMOLLM2_SYSTEM)] {
        let t = chatml(system);
        assert_eq!(
            t.render(&conv[..1], true).unwrap(),
            crate::chat::chatml(&conv[..1], system)
        );
    }
}

#[test]
fn assistant_ranges_cover_each_reply_and_what_ends_its_turn() {
    let t = chatml(None);
    let conv = [
        msg("user", "fix it"),
        msg("assistant", "broken()"),
        msg("user", "it fails"),
        msg("assistant", "fixed()"),
    ];
    let (text, ranges) = t.render_with_assistant_ranges(&conv).unwrap();
    let spans: Vec<&str> = ranges.iter().map(|&(a, b)| &text[a..b]).collect();
    // TRL trains all a turn adds, the newline after the end marker included.
    assert_eq!(spans, ["broken()<|im_end|>\n", "fixed()<|im_end|>\n"]);
}

#[test]
fn a_template_that_rewrites_earlier_turns_is_an_error_naming_the_turn() {
    // Drops every assistant turn but the last, as reasoning templates drop thoughts.
    let src = "{% for m in messages %}{% if m.role != 'assistant' or loop.last %}<{{ m.role }}>{{ m.content }}{% endif %}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}";
    let t = ChatTemplate::new(src, "", "", "tpl.jinja".into()).unwrap();
    let conv = [
        msg("user", "a"),
        msg("assistant", "b"),
        msg("user", "c"),
        msg("assistant", "d"),
    ];
    let err = t
        .render_with_assistant_ranges(&conv)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("tpl.jinja") && err.contains("assistant turn 1"),
        "{err}"
    );
}

#[test]
fn prompt_and_reply_split_like_trl() {
    let t = chatml(None);
    let (p, r) = t
        .render_prompt_and_reply(&[msg("user", "q")], &[msg("assistant", "a")])
        .unwrap();
    assert_eq!(p, "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n");
    assert_eq!(r, "a<|im_end|>\n");
}

#[test]
fn raise_exception_and_syntax_errors_name_the_file() {
    let t = ChatTemplate::new(
        "{% if messages[0].role != 'user' %}{{ raise_exception('first turn must be user') }}{% endif %}",
        "",
        "",
        "cfg.json".into(),
    )
    .unwrap();
    let err = t
        .render(&[msg("system", "s")], true)
        .unwrap_err()
        .to_string();
    // The messages are at fault, not the checkpoint's config.
    assert!(
        err.contains("the chat template in cfg.json could not render these messages")
            && err.contains("first turn must be user")
            && !err.contains("invalid config"),
        "{err}"
    );
    let err = ChatTemplate::new("{% for %}", "", "", "bad.jinja".into()).unwrap_err();
    assert!(
        err.to_string()
            .contains("bad.jinja: invalid config: chat_template"),
        "{err}"
    );
}

#[test]
fn tojson_prints_what_python_json_dumps_prints() {
    let t = ChatTemplate::new(
        "{{ messages[0] | tojson }}|{{ messages[0] | tojson(indent=2) }}|{{ messages[0] | tojson(sort_keys=true, separators=[',', ':']) }}",
        "",
        "",
        "t".into(),
    )
    .unwrap();
    let m = OrderedJson::parse(r#"{"z": [1, 2.0, "é<"], "a": {}}"#).unwrap();
    let out = t.render_json::<_, OrderedJson>(&[m], None, false).unwrap();
    assert_eq!(
        out,
        "{\"z\": [1, 2.0, \"é<\"], \"a\": {}}|{\n  \"z\": [\n    1,\n    2.0,\n    \"é<\"\n  ],\n  \"a\": {}\n}|{\"a\":{},\"z\":[1,2.0,\"é<\"]}"
    );
}

#[test]
fn python_string_methods_and_special_tokens_are_available() {
    let t = ChatTemplate::new(
        "{{ bos_token }}{% for m in messages %}{{ m.content.strip().upper() }}{% if m.content.startswith(' x') %}!{% endif %}{% endfor %}{{ eos_token }}",
        "<s>",
        "</s>",
        "t".into(),
    )
    .unwrap();
    assert_eq!(
        t.render(&[msg("user", " xy ")], false).unwrap(),
        "<s>XY!</s>"
    );
}

#[test]
fn templates_load_from_either_file_and_named_lists() {
    let dir = tempfile::tempdir().unwrap();
    assert!(ChatTemplate::from_model_dir(dir.path()).unwrap().is_none());
    let cfg = serde_json::json!({
        "eos_token": {"content": "</s>"},
        "chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D{{ eos_token }}"}],
    });
    std::fs::write(dir.path().join(TOKENIZER_CONFIG_FILE), cfg.to_string()).unwrap();
    let t = ChatTemplate::from_model_dir(dir.path()).unwrap().unwrap();
    assert_eq!(t.render(&[], false).unwrap(), "D</s>");
    std::fs::write(dir.path().join(CHAT_TEMPLATE_FILE), "J").unwrap();
    let t = ChatTemplate::from_model_dir(dir.path()).unwrap().unwrap();
    assert_eq!(t.render(&[], false).unwrap(), "J");
    std::fs::write(
        dir.path().join(TOKENIZER_CONFIG_FILE),
        "{\"chat_template\": 3}",
    )
    .unwrap();
    std::fs::remove_file(dir.path().join(CHAT_TEMPLATE_FILE)).unwrap();
    let err = ChatTemplate::from_model_dir(dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(TOKENIZER_CONFIG_FILE) && err.contains("chat_template"),
        "{err}"
    );
}

#[test]
fn floats_print_as_python_repr() {
    let cases = [
        (2.0, "2.0"),
        (0.1, "0.1"),
        (-1.5, "-1.5"),
        (1e-7, "1e-07"),
        (1.5e-7, "1.5e-07"),
        (1e16, "1e+16"),
        (123456.789, "123456.789"),
        (0.0001, "0.0001"),
    ];
    for (x, want) in cases {
        assert_eq!(python_float(x), want, "{x}");
    }
}

/// As `apply_chat_template` hands messages over: null keys dropped (an OpenAI tool
/// call's `content: null` rendered as `None`), reasoning under the names templates read.
#[test]
fn template_messages_drop_null_keys_and_alias_reasoning_as_transformers_does() {
    use super::json::OrderedJson;
    let m = |text: &str| OrderedJson::parse(text).unwrap().as_template_message();
    // Llama 3's way of printing a turn: an absent content prints nothing, a null one "None".
    let tmpl = ChatTemplate::new(
        "{% for m in messages %}[{{ m['role'] }}]{{ m['content'] | trim }}{% endfor %}",
        "",
        "",
        "test".into(),
    )
    .unwrap();
    let call = m(r#"{"role": "assistant", "content": null, "tool_calls": null}"#);
    assert_eq!(call, m(r#"{"role": "assistant"}"#));
    let user = m(r#"{"role": "user", "content": "hi"}"#);
    let text = tmpl
        .render_json::<OrderedJson, OrderedJson>(&[user, call], None, false)
        .unwrap();
    assert_eq!(text, "[user]hi[assistant]");
    // {"thinking": r, **message, "reasoning_content": r}, in that key order.
    assert_eq!(
        m(r#"{"role": "assistant", "reasoning": "r", "content": "a"}"#),
        m(
            r#"{"thinking": "r", "role": "assistant", "reasoning": "r", "content": "a", "reasoning_content": "r"}"#
        )
    );
    assert_eq!(
        m(r#"{"role": "assistant", "reasoning_content": "r", "content": "a"}"#),
        m(r#"{"thinking": "r", "role": "assistant", "reasoning_content": "r", "content": "a"}"#)
    );
}

/// transformers hands a template every special token the tokenizer names; only BOS
/// and EOS came through, so `unk_token` and `pad_token` printed nothing.
#[test]
fn a_template_sees_the_tokenizers_other_special_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = serde_json::json!({
        "bos_token": "<s>", "unk_token": "<unk>", "pad_token": {"content": "<pad>"},
        "chat_template": "{{ bos_token }}{{ unk_token }}{{ pad_token }}[{{ sep_token }}]",
    });
    std::fs::write(dir.path().join(TOKENIZER_CONFIG_FILE), cfg.to_string()).unwrap();
    let t = ChatTemplate::from_model_dir(dir.path()).unwrap().unwrap();
    assert_eq!(t.render(&[], false).unwrap(), "<s><unk><pad>[]");
    assert_eq!(t.clone().render(&[], false).unwrap(), "<s><unk><pad>[]");
}

/// `str.title()` as Python has it (what transformers renders): a word starts after any
/// character without case, not only after whitespace.
#[test]
fn title_starts_a_word_after_any_uncased_character() {
    let t = ChatTemplate::new(
        "{% for m in messages %}{{ m['role'].title() }}: {{ m['content'].title() }}{% endfor %}",
        "",
        "",
        "test".into(),
    )
    .unwrap();
    let out = t
        .render(&[msg("user", "o'neil-smith uses x2y and &amp; ÉTÉ")], false)
        .unwrap();
    assert_eq!(out, "User: O'Neil-Smith Uses X2Y And &Amp; Été");
}
