//! `ouro train` on data in TRL's formats, as other tools write it: a Parquet
//! file with only `prompt`/`completion` written by pyarrow, conversational
//! JSONL, and preference pairs with an implicit prompt.

use std::path::Path;

use ouro_e2e::{arg, interop_python, ouro, ouro_ok, stderr};

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
    let p = dir.join("train.toml");
    std::fs::write(
        &p,
        "max_length = 64\n[optim]\nbatch_size = 2\nmax_steps = 2\nprogress = false\n",
    )
    .unwrap();
    arg(&p)
}

fn shape(out: &Path) -> String {
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("train_report.json")).unwrap()).unwrap();
    report["data"]["kept"].to_string()
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
    ouro_ok(&[
        "train",
        "sft",
        "--model",
        &model,
        "--data",
        &arg(&conv),
        "--config",
        &cfg,
        "--out",
        &arg(&out),
    ]);
    assert_eq!(shape(&out), "2", "both conversations were kept");

    let pairs = dir.path().join("pairs.jsonl");
    std::fs::write(
        &pairs,
        "{\"chosen\": [{\"role\": \"user\", \"content\": \"add\"}, {\"role\": \"assistant\", \"content\": \"return a + b\"}], \
          \"rejected\": [{\"role\": \"user\", \"content\": \"add\"}, {\"role\": \"assistant\", \"content\": \"return a - b\"}]}\n",
    )
    .unwrap();
    let out = dir.path().join("dpo");
    ouro_ok(&[
        "train",
        "dpo",
        "--model",
        &model,
        "--data",
        &arg(&pairs),
        "--config",
        &cfg,
        "--out",
        &arg(&out),
    ]);
    assert_eq!(shape(&out), "1");

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
    ouro_ok(&[
        "train",
        "sft",
        "--model",
        &model,
        "--data",
        &arg(&file),
        "--config",
        &config(dir.path()),
        "--out",
        &arg(&out),
    ]);
    assert_eq!(shape(&out), "2");
    assert!(out.join("model/model.safetensors").exists());
}
