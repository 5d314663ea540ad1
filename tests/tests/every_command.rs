//! Every subcommand of the built binary, once, on tiny inputs: a minimal
//! real invocation whose exit code and output are checked (the `--help` of
//! each is checked in `crates/ouro-cli/tests/cli.rs`), so
//! that no whole command can break unnoticed (`ouro tests compile` once
//! panicked on every call while its library was tested).

use std::path::Path;

use ouro_e2e::{arg as s, files_under, ouro_ok as ok, workspace};

fn has_parquet(dir: &Path) -> bool {
    files_under(dir)
        .iter()
        .any(|p| p.extension().is_some_and(|x| x == "parquet"))
}

/// A `--json` object, checked for its version and kind.
fn json(stdout: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("--json printed something else ({e}):\n{stdout}"));
    assert_eq!(v["schema_version"], 1, "{v}");
    v
}

fn has_model(dir: &Path) -> bool {
    files_under(dir)
        .iter()
        .any(|p| p.ends_with("model.safetensors"))
}

#[test]
fn every_subcommand_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // problems, import problems, tests compile
    let problems = d.join("problems");
    ok(&[
        "problems",
        "generate",
        "--count",
        "8",
        "--seed",
        "1",
        "--out",
        &s(&problems),
    ]);
    assert!(has_parquet(&problems));
    let he = d.join("he");
    let fixture = workspace().join("tests/fixtures/humaneval_mini.jsonl");
    ok(&[
        "import",
        "problems",
        "--format",
        "humaneval",
        &s(&fixture),
        "--out",
        &s(&he),
    ]);
    assert!(has_parquet(&he));
    let report = json(&ok(&[
        "tests",
        "compile",
        "--problems",
        &s(&problems),
        "--workers",
        "1",
        "--json",
    ]));
    assert_eq!(report["problems"], 8);
    // Stdin/stdout problems (APPS, with its integer problem_id) are counted apart: the
    // parent compares their output, so there is nothing to compile.
    let apps_line = serde_json::json!({
        "problem_id": 4000,
        "question": "Echo the line.",
        "solutions": serde_json::to_string(&["print(input())"]).unwrap(),
        "input_output": serde_json::json!({"inputs": ["7\n"], "outputs": ["7\n"]}).to_string(),
        "difficulty": "introductory",
        "starter_code": "",
    });
    let (apps_jsonl, apps) = (d.join("apps.jsonl"), d.join("apps"));
    std::fs::write(&apps_jsonl, format!("{apps_line}\n")).unwrap();
    ok(&[
        "import",
        "problems",
        "--format",
        "apps",
        &s(&apps_jsonl),
        "--out",
        &s(&apps),
    ]);
    let text = ok(&[
        "tests",
        "compile",
        "--problems",
        &s(&apps),
        "--workers",
        "1",
    ]);
    assert!(text.contains("stdin/stdout problems:        1"), "{text}");
    let report = json(&ok(&[
        "tests",
        "compile",
        "--problems",
        &s(&apps),
        "--json",
    ]));
    assert_eq!(
        (report["problems"].clone(), report["io_problems"].clone()),
        (0.into(), 1.into())
    );

    // run (datasets: samples, execute, build, lintseq), stats, launch
    let text = std::fs::read_to_string(workspace().join("pipelines/datasets.toml"))
        .unwrap()
        .replace("count = 2000", "count = 12")
        .replace("runs/datasets", &s(&d.join("run")));
    let pipeline = d.join("datasets.toml");
    std::fs::write(&pipeline, text).unwrap();
    let v = json(&ok(&["run", &s(&pipeline), "--json"]));
    assert_eq!(v["command"], "run");
    let stages: Vec<&str> = v["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["stage"].as_str().unwrap())
        .collect();
    assert!(
        stages.contains(&"execute") && stages.contains(&"build"),
        "{v}"
    );
    let round = d.join("run/round-00");
    for config in [
        "dataset/sft",
        "dataset/dpo",
        "dataset/repair",
        "lintseq/lintseq",
    ] {
        assert!(has_parquet(&round.join(config)), "{config}");
    }
    let stats = ok(&["stats", &s(&round)]);
    assert!(!stats.trim().is_empty());
    // Ties in the count tables are ordered by value, not by hash order.
    assert_eq!(ok(&["stats", &s(&round)]), stats);
    let slurm = ok(&["launch", "slurm", &s(&pipeline), "--num-shards", "2"]);
    assert!(
        slurm.contains("--array") || slurm.contains("SBATCH"),
        "{slurm}"
    );

    // execute, build, lintseq, fait, import generations: the run's inputs, by hand
    let (samples, executions) = (round.join("samples"), round.join("executions"));
    let execs = d.join("executions");
    let v = json(&ok(&[
        "execute",
        "-q",
        "--workers",
        "1",
        "--problems",
        &s(&round.join("problems")),
        "--samples",
        &s(&samples),
        "--out",
        &s(&execs),
        "--json",
    ]));
    assert!(has_parquet(&execs));
    assert_eq!(v["command"], "execute");
    let verdicts: u64 = v["verdicts"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(Some(verdicts), v["records"].as_u64(), "{v}");
    let built = d.join("built");
    ok(&[
        "build",
        "sft",
        "--problems",
        &s(&round.join("problems")),
        "--samples",
        &s(&samples),
        "--executions",
        &s(&executions),
        "--out",
        &s(&built),
    ]);
    assert!(has_parquet(&built.join("sft")));
    // The injected-error flow `ouro build --help` teaches: mutants, executed, then given to
    // `build dpo` beside the samples with a second --samples and --executions.
    let (mutants, mutant_execs) = (d.join("mutants"), d.join("mutant-executions"));
    let problems_dir = s(&round.join("problems"));
    let inputs = [
        "--problems",
        problems_dir.as_str(),
        "--samples",
        &s(&samples),
        "--executions",
        &s(&executions),
    ];
    ok(&[&["build", "mutants"], &inputs[..], &["--out", &s(&mutants)]].concat());
    ok(&[
        "execute",
        "-q",
        "--workers",
        "1",
        "--problems",
        &problems_dir,
        "--samples",
        &s(&mutants),
        "--out",
        &s(&mutant_execs),
    ]);
    // Unexecuted mutants warn only a user who named injected_error: the default kinds
    // include it, and a warning on every default build would be noise.
    let dpo_stderr = |extra: &[&str], out: &str| {
        let o = ouro_e2e::ouro(&[&["build", "dpo"], &inputs[..], extra, &["--out", out]].concat());
        assert!(o.status.success(), "{}", ouro_e2e::stderr(&o));
        ouro_e2e::stderr(&o)
    };
    let named = ["--pair-kinds", "correctness,injected_error"];
    let err = dpo_stderr(&[], &s(&d.join("dpo-default")));
    assert!(!err.contains("none was executed"), "{err}");
    let err = dpo_stderr(&named, &s(&d.join("dpo-named")));
    assert!(err.contains("none was executed"), "{err}");
    let with_mutants = d.join("with-mutants");
    let more = ["--samples", &s(&mutants), "--executions", &s(&mutant_execs)];
    let err = dpo_stderr(&[&named[..], &more[..]].concat(), &s(&with_mutants));
    assert!(!err.contains("none was executed"), "{err}");
    let pairs: Vec<ouro_data::DpoRecord> =
        ouro_data::shard::read_dir(with_mutants.join("dpo")).unwrap();
    assert!(
        pairs
            .iter()
            .any(|p| p.pair_kind == ouro_data::PairKind::InjectedError),
        "no injected_error pair from the executed mutants"
    );
    // The cleaning and ranking flags: another benchmark, global dedup, a
    // ranker on a named suite, opt-in ties, a repair similarity floor.
    let cleaned = d.join("cleaned");
    for target in ["dpo", "repair"] {
        ok(&[
            "build",
            target,
            "--problems",
            &s(&round.join("problems")),
            "--samples",
            &s(&samples),
            "--executions",
            &s(&executions),
            "--out",
            &s(&cleaned),
            "--benchmark",
            &s(&he),
            "--builtin-benchmarks",
            "none",
            "--decontaminate",
            "ngram",
            "--dedup-scope",
            "global",
            "--ranker",
            "codet",
            "--ranking-executions",
            &s(&executions),
            "--ranking-suite",
            "filter",
            "--drop-ties",
            "--min-similarity",
            "0.3",
        ]);
    }
    let card = std::fs::read_to_string(cleaned.join("README.md")).unwrap();
    assert!(card.contains("global (across problems)"), "{card}");
    assert!(card.contains("fixes less similar than 0.3"), "{card}");
    // LintSeq sequences written into that dataset join its card, so `--subset lintseq` finds them.
    ok(&[
        "lintseq",
        "-q",
        "--input",
        &s(&built.join("sft")),
        "--out",
        &s(&cleaned),
        "-k",
        "1",
    ]);
    let card = std::fs::read_to_string(cleaned.join("README.md")).unwrap();
    assert!(
        card.contains("config_name: lintseq") && card.contains("config_name: dpo"),
        "{card}"
    );
    assert!(card.contains("fixes less similar than 0.3"), "{card}");
    let lintseq = d.join("lintseq");
    ok(&[
        "lintseq",
        "-q",
        "--input",
        &s(&problems),
        "--out",
        &s(&lintseq),
        "--sequences-per-program",
        "1",
        "--seed",
        "0",
    ]);
    assert!(has_parquet(&lintseq));
    // The paper's setting from what `ouro build sft` wrote (its dataset directory), and
    // the round's samples kept to those that pass.
    let from_sft = d.join("lintseq-sft");
    let said = ok(&[
        "lintseq",
        "--no-progress",
        "--input",
        &s(&built),
        "--out",
        &s(&from_sft),
    ]);
    assert!(has_parquet(&from_sft), "{said}");
    let passing = d.join("lintseq-passing");
    let said = ok(&[
        "lintseq",
        "--no-progress",
        "--input",
        &s(&samples),
        "--executions",
        &s(&executions),
        "--problems",
        &s(&round.join("problems")),
        "--out",
        &s(&passing),
    ]);
    assert!(said.contains("left out as not passing"), "{said}");
    let fait = d.join("fait");
    ok(&[
        "fait",
        "-q",
        "--executions",
        &s(&executions),
        "--samples",
        &s(&samples),
        "--problems",
        &s(&round.join("problems")),
        "--out",
        &s(&fait),
    ]);
    assert!(d.join("fait").exists());
    let gens = d.join("gens.jsonl");
    std::fs::write(
        &gens,
        "{\"task_id\": \"HumanEval/0\", \"completion\": \"    return a + b\\n\"}\n",
    )
    .unwrap();
    let imported = d.join("imported");
    let v = json(&ok(&[
        "import",
        "generations",
        "--format",
        "human-eval",
        &s(&gens),
        "--problems",
        &s(&he),
        "--out",
        &s(&imported),
        "--json",
    ]));
    assert!(has_parquet(&imported));
    assert_eq!(
        (v["samples"].as_u64(), v["without_code"].as_u64()),
        (Some(1), Some(0))
    );

    // tokenizer, model init / generate, sample, train sft and dpo
    let tok = d.join("tokenizer.json");
    ok(&[
        "tokenizer",
        "train",
        "--problems",
        &s(&problems),
        "--vocab-size",
        "300",
        "--out",
        &s(&tok),
    ]);
    // More tokens than the problems' merges can give: said, not silently fewer.
    let big = ouro_e2e::ouro(&[
        "tokenizer",
        "train",
        "--problems",
        &s(&problems),
        "--vocab-size",
        "50000",
        "--out",
        &s(&d.join("big.json")),
    ]);
    assert!(big.status.success(), "{}", ouro_e2e::stderr(&big));
    assert!(
        ouro_e2e::stderr(&big).contains("--vocab-size 50000: the problems gave only"),
        "{}",
        ouro_e2e::stderr(&big)
    );
    let model = d.join("model");
    ok(&[
        "model",
        "init",
        "--config",
        "tiny",
        "--tokenizer",
        &s(&tok),
        "--out",
        &s(&model),
    ]);
    ok(&[
        "model",
        "generate",
        &s(&model),
        "--prompt",
        "def f(x):",
        // transformers' name for it, an alias of --max-tokens
        "--max-new-tokens",
        "4",
    ]);
    let messages = d.join("messages.json");
    std::fs::write(&messages, r#"[{"role": "user", "content": "hi"}]"#).unwrap();
    let rendered = ok(&[
        "model",
        "chat-template",
        "--model",
        &s(&model),
        "--messages",
        &s(&messages),
        "--add-generation-prompt",
    ]);
    assert_eq!(
        rendered,
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    );
    std::fs::write(&messages, r#"[{"content": "hi"}]"#).unwrap();
    let o = ouro_e2e::ouro(&[
        "model",
        "chat-template",
        &s(&model),
        "--messages",
        &s(&messages),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let e = ouro_e2e::stderr(&o);
    assert!(
        e.contains("messages.json") && e.contains("messages[0]") && e.contains("'role'"),
        "{e}"
    );
    let sampled = d.join("sampled");
    let o = ouro_e2e::ouro(&[
        "sample",
        "--problems",
        &s(&problems),
        "--model",
        &s(&model),
        "-n",
        "1",
        "--max-tokens",
        "8",
        "--first-index",
        "5",
        "--out",
        &s(&sampled),
        "--json",
    ]);
    let e = ouro_e2e::stderr(&o);
    assert!(o.status.success(), "{e}");
    assert!(
        e.contains("(model ") && e.contains("s, token choice "),
        "{e}"
    );
    let v = json(&String::from_utf8_lossy(&o.stdout));
    assert!(has_parquet(&sampled));
    assert_eq!(v["counts"]["samples_out"].as_u64(), Some(8), "{v}");
    // Where a local sampling run's time went: the model, and the host's token choice.
    for phase in ["generate_model", "generate_token_choice"] {
        let secs = v["seconds"][phase].as_f64();
        assert!(secs.is_some_and(|x| x > 0.0), "{phase}: {v}");
    }
    let drawn: Vec<ouro_data::Sample> = ouro_data::shard::read_dir(&sampled).unwrap();
    assert!(
        drawn.iter().all(|x| x.index == 5),
        "attempts start at --first-index"
    );
    // --print-config: every key with its default, and a file it wrote reads back the same.
    let defaults = ok(&["train", "dpo", "--print-config"]);
    let parsed: toml::Value = toml::from_str(&defaults).unwrap();
    assert_eq!(parsed["beta"].as_float(), Some(0.1), "{defaults}");
    let printed = d.join("dpo-defaults.toml");
    std::fs::write(&printed, &defaults).unwrap();
    assert_eq!(
        ok(&["train", "dpo", "--print-config", "--config", &s(&printed)]),
        defaults
    );
    // The optional keys that are off show as comments; uncommented, they are on.
    let on = defaults.replace("# rpo_alpha", "rpo_alpha");
    assert_ne!(on, defaults, "{defaults}");
    std::fs::write(&printed, &on).unwrap();
    let on = ok(&["train", "dpo", "--print-config", "--config", &s(&printed)]);
    assert!(on.contains("\nrpo_alpha = 1.0\n"), "{on}");
    // A partial [optim] keeps DPO's own defaults (lr 1e-6), not the shared optimiser's.
    std::fs::write(&printed, "[optim]\nmax_steps = 3\n").unwrap();
    let partial: toml::Value = toml::from_str(&ok(&[
        "train",
        "dpo",
        "--print-config",
        "--config",
        &s(&printed),
    ]))
    .unwrap();
    assert_eq!(partial["optim"]["lr"], parsed["optim"]["lr"], "{partial}");
    assert_eq!(
        partial["optim"]["max_steps"].as_integer(),
        Some(3),
        "{partial}"
    );
    served_model_answers_ouro_sample(&model, &problems, d);
    let cfg = d.join("train.toml");
    std::fs::write(&cfg, "[optim]\nmax_steps = 1\nbatch_size = 2\n").unwrap();
    let sft = d.join("sft");
    let v = json(&ok(&[
        "train",
        "sft",
        "--model",
        &s(&model),
        "--data",
        &s(&round.join("dataset/sft")),
        "--config",
        &s(&cfg),
        "--out",
        &s(&sft),
        "--json",
    ]));
    assert!(has_model(&sft), "{:?}", files_under(&sft));
    assert_eq!(v["report"]["steps"].as_u64(), Some(1), "{v}");
    assert!(
        v["report"]["final_loss"].is_f64(),
        "losses are JSON numbers: {v}"
    );
    assert_eq!(
        v["model"].as_str().map(std::path::PathBuf::from),
        Some(sft.join("model"))
    );
    train_resumes_and_says_so(&model, &round.join("dataset/sft"), d);
    let dpo = d.join("dpo");
    ok(&[
        "train",
        "dpo",
        // The SFT run's --out, as people chain them: its final model is loaded.
        "--model",
        &s(&sft),
        "--data",
        &s(&round.join("dataset/dpo")),
        "--config",
        &s(&cfg),
        "--out",
        &s(&dpo),
    ]);
    assert!(has_model(&dpo), "{:?}", files_under(&dpo));
}

/// A training run killed after a checkpoint resumes from it when its command is run
/// again, and says so; run once more, it has nothing left to do and says that.
fn train_resumes_and_says_so(model: &Path, data: &Path, d: &Path) {
    let (cfg, out) = (d.join("resume.toml"), d.join("resumed"));
    std::fs::write(
        &cfg,
        "[optim]\nmax_steps = 3\nbatch_size = 2\nsave_every = 1\n",
    )
    .unwrap();
    let args = [
        "train",
        "sft",
        "--model",
        &s(model),
        "--data",
        &s(data),
        "--config",
        &s(&cfg),
        "--out",
        &s(&out),
    ];
    ok(&args);
    // As if killed after step 1: no final model, no later checkpoint.
    for gone in ["model", "checkpoint-000002", "checkpoint-000003"] {
        std::fs::remove_dir_all(out.join(gone)).unwrap();
    }
    let o = ouro_e2e::ouro(&args);
    let said = ouro_e2e::stderr(&o);
    assert!(o.status.success(), "{said}");
    assert!(
        said.contains("resuming from") && said.contains("checkpoint-000001"),
        "{said}"
    );
    assert!(
        said.contains("trained 3 steps") && said.contains("resumed at step 1"),
        "{said}"
    );
    assert!(has_model(&out));
    let said = ouro_e2e::stderr(&ouro_e2e::ouro(&args));
    assert!(said.contains("nothing left to train"), "{said}");
}

/// `ouro serve` on a free port, and `ouro sample` against it, plain and chat:
/// the server's and the client's flags agree (`--served-model-name`), and without
/// the flag the client takes the one model the server lists.
fn served_model_answers_ouro_sample(model: &Path, problems: &Path, d: &Path) {
    use std::io::{BufRead, BufReader};
    let mut server = std::process::Command::new(ouro_e2e::ouro_bin())
        .args([
            "serve",
            "--model",
            &s(model),
            "--port",
            "0",
            "--served-model-name",
            "tiny",
            // Scoring in several chunks between decode steps, through the binary's flag.
            "--chunk-tokens",
            "4",
        ])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("ouro serve exited before it said where it serves")
            .unwrap();
        if let Some(rest) = line.split(" at ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    eprintln!("ouro serve at {url}");
    for (name, chat) in [("served", false), ("served-chat", true)] {
        let out = d.join(name);
        let (problems, out) = (s(problems), s(&out));
        let mut args = vec![
            "sample",
            "--problems",
            &problems,
            "--base-url",
            &url,
            "-n",
            "1",
            "--max-tokens",
            "4",
            "--limit",
            "2",
            "--out",
            &out,
            "--json",
        ];
        if chat {
            // Without --served-model-name: the one model the server lists.
            args.push("--chat");
        } else {
            args.extend(["--served-model-name", "tiny"]);
        }
        let v = json(&ok(&args));
        let samples: Vec<ouro_data::Sample> = ouro_data::shard::read_dir(&out).unwrap();
        assert!(
            samples.iter().all(|x| x.model == "tiny"),
            "{name}: {samples:?}"
        );
        assert_eq!(v["counts"]["samples_out"].as_u64(), Some(2), "{name}: {v}");
        assert_eq!(
            v["counts"]["generation_errors"].as_u64().unwrap_or(0),
            0,
            "{name}: {v}"
        );
    }
    streamed_chat_reads_in_python(&url);
    server.kill().unwrap();
    server.wait().unwrap();
}

/// A streamed chat answer read by Python's own HTTP client (chunked body, server-sent
/// events): its deltas join to the text the same request answers unstreamed. Then an
/// echo request scores its prompt, as log-likelihood clients ask, whole and streamed.
fn streamed_chat_reads_in_python(url: &str) {
    let script = r#"
import json, sys, urllib.request
def post(body):
    req = urllib.request.Request(sys.argv[1].removesuffix("/v1") + "/v1/chat/completions", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    return urllib.request.urlopen(req, timeout=60)
body = {"model": "tiny", "messages": [{"role": "user", "content": "Write add(a, b)."}],
        "max_tokens": 16, "seed": 4, "n": 2}
whole = json.load(post(body))
events = [l[len(b"data: "):].strip() for l in post(dict(body, stream=True)) if l.startswith(b"data: ")]
assert events[-1] == b"[DONE]", events[-3:]
text = {}
for e in events[:-1]:
    for c in json.loads(e)["choices"]:
        text[c["index"]] = text.get(c["index"], "") + (c["delta"].get("content") or "")
want = {c["index"]: c["message"]["content"] for c in whole["choices"]}
assert text == want, (text, want)
def complete(body):
    req = urllib.request.Request(sys.argv[1].removesuffix("/v1") + "/v1/completions",
                                 json.dumps(body).encode(), {"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=60))
# A log-likelihood request as lm-evaluation-harness sends it: the prompt scored, one token sampled.
scored = complete({"model": "tiny", "prompt": "def add(a, b):", "max_tokens": 1, "temperature": 0,
                   "logprobs": 1, "echo": True, "seed": 1})["choices"][0]
lps = scored["logprobs"]["token_logprobs"]
assert scored["text"].startswith("def add(a, b):"), scored
assert lps[0] is None and all(x < 0 for x in lps[1:]), lps
# Streamed, the prompt (scored) is the first chunk, and the chunks join to the whole answer.
body = {"model": "tiny", "prompt": ["def add(a, b):", "def sub(a, b):"], "max_tokens": 3,
        "temperature": 0, "logprobs": 1, "echo": True, "seed": 1, "stream": True}
req = urllib.request.Request(sys.argv[1].removesuffix("/v1") + "/v1/completions",
                             json.dumps(body).encode(), {"Content-Type": "application/json"})
chunks = [json.loads(l[len(b"data: "):]) for l in urllib.request.urlopen(req, timeout=60)
          if l.startswith(b"data: ") and not l.startswith(b"data: [DONE]")]
whole = complete(dict(body, stream=False))["choices"]
for c in whole:
    mine = [x for k in chunks for x in k["choices"] if x["index"] == c["index"]]
    assert mine[0]["text"] == body["prompt"][c["index"]], mine[0]
    assert "".join(x["text"] for x in mine) == c["text"], (mine, c)
    tokens = [t for x in mine for t in (x["logprobs"] or {}).get("tokens", [])]
    assert tokens == c["logprobs"]["tokens"], (tokens, c["logprobs"]["tokens"])
print(len(events))
"#;
    let python = ouro_e2e::interop_python().unwrap_or_else(|| "python3".into());
    let out = std::process::Command::new(python)
        .args(["-c", script, url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", ouro_e2e::stderr(&out));
}
