//! `ouro train` on data in TRL's formats, as other tools write it: a Parquet
//! file with only `prompt`/`completion` written by pyarrow, conversational
//! JSONL, and preference pairs with an implicit prompt.

use std::path::Path;

use ouro_e2e::{arg, interop_python, ouro, ouro_ok, stderr, tensorboard_scalars};

/// A tiny model with a tokenizer: round 0's init of the tiny test pipeline.
fn tiny_model(dir: &Path) -> String {
    let pipeline = dir.join("p.toml");
    std::fs::write(
        &pipeline,
        format!(
            "out = \"{}\"\n[problems]\ncount = 40\nfamilies = [\"compose\"]\n[tokenizer]\nvocab_size = 300\n\
             [model]\ninit = \"tiny\"\n[eval]\nmax_problems = 2\nsamples_per_problem = 1\nk = [1]\n\
             [eval.sampling]\nmax_tokens = 8\n",
            dir.join("run").display()
        ),
    )
    .unwrap();
    ouro_ok(&["run", &arg(&pipeline)]);
    arg(&dir.join("run/round-00/init/model"))
}

fn config(dir: &Path) -> String {
    config_named(dir, "train.toml", "")
}

/// A two-step training config with `extra` TOML appended, written to `dir/name`.
fn config_named(dir: &Path, name: &str, extra: &str) -> String {
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!(
            "max_length = 64\n[optim]\nbatch_size = 2\nmax_steps = 2\nprogress = false\n{extra}"
        ),
    )
    .unwrap();
    arg(&p)
}

/// The arguments of `ouro train KIND` of `model` on `data` with `cfg` into `out`, plus
/// `extra` flags.
fn train_args(
    kind: &str,
    model: &str,
    data: &Path,
    cfg: &str,
    out: &Path,
    extra: &[&str],
) -> Vec<String> {
    let mut args: Vec<String> = ["train", kind, "--model", model, "--data"]
        .map(String::from)
        .to_vec();
    args.extend([
        arg(data),
        "--config".into(),
        cfg.into(),
        "--out".into(),
        arg(out),
    ]);
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// [`train_args`] run through the binary, which must succeed.
fn train(kind: &str, model: &str, data: &Path, cfg: &str, out: &Path, extra: &[&str]) {
    let args = train_args(kind, model, data, cfg, out, extra);
    ouro_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
}

fn train_report(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("train_report.json")).unwrap()).unwrap()
}

/// `train_report.json`'s backend, optimiser placement and gradient path.
fn paths(out: &Path) -> [String; 3] {
    let r = train_report(out);
    ["backend", "optimizer", "gradients"].map(|k| r[k].as_str().unwrap_or("?").to_string())
}

fn shape(out: &Path) -> String {
    train_report(out)["data"]["kept"].to_string()
}

#[test]
fn trl_shaped_jsonl_trains_sft_and_dpo() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let cfg = config(dir.path());
    let conv = dir.path().join("conv.jsonl");
    std::fs::write(
        &conv,
        "{\"messages\": [{\"role\": \"user\", \"content\": \"add\"}, {\"role\": \"assistant\", \"content\": \"return a + b\"}]}\n\
         {\"messages\": [{\"role\": \"user\", \"content\": \"sub\"}, {\"role\": \"assistant\", \"content\": \"return a - b\"}]}\n",
    )
    .unwrap();
    let out = dir.path().join("sft");
    train(
        "sft",
        &model,
        &conv,
        &cfg,
        &out,
        &["--report-to", "tensorboard"],
    );
    assert_eq!(shape(&out), "2", "both conversations were kept");
    // The CPU's fast path keeps AdamW's moments in the fused host kernel.
    assert_eq!(paths(&out), ["fast", "host", "hand-written CPU pass"]);
    if let Some(scalars) = tensorboard_scalars(&out.join("runs")) {
        // TRL's names, one point per optimiser step (max_steps = 2).
        for tag in ["train/loss", "train/learning_rate", "train/grad_norm"] {
            let points = scalars[tag]
                .as_array()
                .unwrap_or_else(|| panic!("{tag}: {scalars}"));
            assert_eq!(points.len(), 2, "{tag}");
        }
    }

    let pairs = dir.path().join("pairs.jsonl");
    std::fs::write(
        &pairs,
        "{\"chosen\": [{\"role\": \"user\", \"content\": \"add\"}, {\"role\": \"assistant\", \"content\": \"return a + b\"}], \
          \"rejected\": [{\"role\": \"user\", \"content\": \"add\"}, {\"role\": \"assistant\", \"content\": \"return a - b\"}]}\n",
    )
    .unwrap();
    let out = dir.path().join("dpo");
    train("dpo", &model, &pairs, &cfg, &out, &["--backend", "generic"]);
    assert_eq!(shape(&out), "1");
    // The generic path is the GPU's: the optimiser's state stays on the device and the
    // gradients come from the tensor pass.
    assert_eq!(
        paths(&out),
        ["generic", "device", "hand-written tensor pass"]
    );

    // LoRA adapters train through the tensor pass on the CPU as well.
    let lora_cfg = config_named(dir.path(), "lora.toml", "[lora]\nr = 4\n");
    let out = dir.path().join("lora");
    train("sft", &model, &conv, &lora_cfg, &out, &[]);
    assert_eq!(paths(&out)[2], "hand-written tensor pass");
    assert!(out.join("adapter/adapter_model.safetensors").exists());
    // LoRA DPO: its reference log-probs come from the same pass with the adapters bypassed.
    let out = dir.path().join("lora-dpo");
    train("dpo", &model, &pairs, &lora_cfg, &out, &[]);
    assert_eq!(paths(&out)[2], "hand-written tensor pass");
    assert!(out.join("adapter/adapter_model.safetensors").exists());
    let loss = train_report(&out)["report"]["final_loss"].as_f64();
    assert!(loss.is_some_and(f64::is_finite), "{loss:?}");
    // Unmerged adapters: the summary names the adapter, not an `out/model` never written.
    let unmerged = config_named(
        dir.path(),
        "unmerged.toml",
        "[lora]\nr = 4\nmerge = false\n",
    );
    let out = dir.path().join("lora-unmerged");
    let args = train_args("sft", &model, &conv, &unmerged, &out, &["--json"]);
    let v: serde_json::Value = serde_json::from_str(&ouro_ok(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    ))
    .unwrap();
    assert!(v["model"].is_null(), "{v}");
    assert_eq!(
        v["adapter"].as_str(),
        Some(arg(&out.join("adapter")).as_str()),
        "{v}"
    );
    assert!(out.join("adapter/adapter_model.safetensors").exists() && !out.join("model").exists());

    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"question\": \"q\", \"answer\": \"a\"}\n").unwrap();
    let o = ouro(&[
        "train",
        "sft",
        "--model",
        &model,
        "--data",
        &arg(&bad),
        "--out",
        &arg(&dir.path().join("x")),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("found columns answer, question") && e.contains("accepted shapes"),
        "{e}"
    );
}

#[test]
fn a_pyarrow_parquet_with_only_prompt_and_completion_trains() {
    let Some(python) = interop_python() else {
        eprintln!("skipping: set OURO_PYTHON or create .venv (see .ci/run)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let file = dir.path().join("data.parquet");
    let status = std::process::Command::new(python)
        .args([
            "-c",
            "import sys, pyarrow as pa, pyarrow.parquet as pq; \
             pq.write_table(pa.table({'prompt': ['def f(x):\\n', 'def g(x):\\n'], \
             'completion': ['    return x\\n', '    return -x\\n']}), sys.argv[1])",
            &arg(&file),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let out = dir.path().join("out");
    train("sft", &model, &file, &config(dir.path()), &out, &[]);
    assert_eq!(shape(&out), "2");
    assert!(out.join("model/model.safetensors").exists());
}

/// What pandas and pyarrow write as they are: `Categorical` (dictionary-encoded)
/// strings, and a message key typed `null` because no row sets it.
#[test]
fn categorical_strings_and_null_typed_message_keys_train() {
    let Some(python) = interop_python() else {
        eprintln!("skipping: set OURO_PYTHON or create .venv (see .ci/run)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let (categorical, messages) = (
        dir.path().join("cat.parquet"),
        dir.path().join("msg.parquet"),
    );
    let status = std::process::Command::new(python)
        .args([
            "-c",
            "import sys, pyarrow as pa, pyarrow.parquet as pq; \
             pq.write_table(pa.table({'prompt': pa.array(['def f(x):\\n', 'def f(x):\\n']).dictionary_encode(), \
             'completion': ['    return x\\n', '    return -x\\n']}), sys.argv[1]); \
             m = [[{'role': 'user', 'content': 'hi', 'name': None}, {'role': 'assistant', 'content': 'yo', 'name': None}]] * 2; \
             pq.write_table(pa.table({'messages': m}), sys.argv[2])",
            &arg(&categorical),
            &arg(&messages),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    for (name, file) in [("cat", &categorical), ("msg", &messages)] {
        let out = dir.path().join(name);
        train("sft", &model, file, &config(dir.path()), &out, &[]);
        assert_eq!(shape(&out), "2", "{name}");
    }
}

/// A Hub dataset directory as `huggingface-cli download --repo-type dataset`
/// leaves it: a card whose `configs` name the files of each subset and split.
#[test]
fn a_hub_dataset_directory_trains_on_the_chosen_subset_and_split() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let cfg = config(dir.path());
    let hub = dir.path().join("hub");
    for sub in ["python/train", "python/test", "prose"] {
        std::fs::create_dir_all(hub.join(sub)).unwrap();
    }
    std::fs::write(
        hub.join("README.md"),
        "---\nconfigs:\n- config_name: python\n  data_files:\n  - split: train\n    path: python/train/*.jsonl\n  \
         - split: test\n    path: python/test/*.jsonl\n- config_name: prose\n  data_files: prose/*.jsonl\n---\n# Dataset\n",
    )
    .unwrap();
    let row = |p: &str, c: &str| format!("{{\"prompt\": \"{p}\", \"completion\": \"{c}\"}}\n");
    std::fs::write(
        hub.join("python/train/a.jsonl"),
        row("def f(x):", " return x") + &row("def g(x):", " return -x") + &row("def h():", " pass"),
    )
    .unwrap();
    // Any other split or subset would fail: its rows have no accepted shape.
    std::fs::write(hub.join("python/test/a.jsonl"), "{\"question\": \"q\"}\n").unwrap();
    std::fs::write(hub.join("prose/a.jsonl"), "{\"question\": \"q\"}\n").unwrap();
    let train = |extra: &[&str], out: &str| {
        let out = dir.path().join(out);
        let args = train_args("sft", &model, &hub, &cfg, &out, extra);
        (
            ouro(&args.iter().map(String::as_str).collect::<Vec<_>>()),
            out,
        )
    };
    let (o, out) = train(&["--subset", "python", "--split", "train"], "sft");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(shape(&out), "3", "the three rows of python/train");
    let (o, _) = train(&["--subset", "python"], "sft-default-split");
    assert!(
        o.status.success(),
        "train is the default split: {}",
        stderr(&o)
    );
    // Two configs, neither the default: the user must choose, and is told how.
    let (o, _) = train(&[], "none");
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("--subset") && e.contains("python, prose"), "{e}");
    let (o, _) = train(&["--subset", "python", "--split", "valid"], "bad-split");
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("--split valid") && e.contains("train, test"),
        "{e}"
    );
}
