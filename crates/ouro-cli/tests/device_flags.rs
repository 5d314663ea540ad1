//! `--device` / `--dtype` on every command that loads a model: checked before any work,
//! `cpu` always accepted, `cuda` refused with a rebuild hint in a build without CUDA.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ouro(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ouro"))
        .args(args)
        .output()
        .expect("run ouro")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Each model-loading command with `--device DEV`, pointed at paths that do not exist.
fn commands(dev: &str) -> Vec<Vec<String>> {
    let m = "/nonexistent/model";
    let d = "/nonexistent/data";
    let o = "/nonexistent/out";
    [
        vec!["train", "sft", "--model", m, "--data", d, "--out", o],
        vec!["train", "dpo", "--model", m, "--data", d, "--out", o],
        vec!["sample", "--problems", d, "--model", m, "--out", o],
        vec!["serve", "--model", m, "--port", "0"],
        vec!["model", "generate", m, "--prompt", "x"],
    ]
    .into_iter()
    .map(|c| {
        let mut c: Vec<String> = c.into_iter().map(String::from).collect();
        c.extend(["--device".to_string(), dev.to_string()]);
        c
    })
    .collect()
}

fn run(args: &[String]) -> Output {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    ouro(&a)
}

#[cfg(not(feature = "cuda"))]
#[test]
fn device_cuda_without_the_feature_fails_at_once_with_a_rebuild_hint() {
    for c in commands("cuda") {
        let o = run(&c);
        assert!(!o.status.success(), "{c:?} succeeded");
        let e = stderr(&o);
        assert!(
            e.contains("--device cuda: this ouro was built without CUDA")
                && e.contains("cargo build --release -p ouro-cli --features cuda"),
            "{c:?}: {e}"
        );
        assert!(!e.contains("/nonexistent"), "{c:?} did work first: {e}");
    }
}

#[test]
fn bad_device_and_dtype_are_one_line_errors() {
    let o = ouro(&[
        "model", "generate", "/x", "--prompt", "x", "--device", "tpu",
    ]);
    assert!(stderr(&o).contains("--device tpu: expected cpu, cuda or cuda:N"));
    let o = ouro(&[
        "model", "generate", "/x", "--prompt", "x", "--dtype", "int8",
    ]);
    assert!(stderr(&o).contains("--dtype int8: expected f32, bf16 or f16"));
    let o = ouro(&[
        "train",
        "sft",
        "--model",
        "/x",
        "--data",
        "/x",
        "--out",
        "/x",
        "--save-dtype",
        "q4",
    ]);
    assert!(stderr(&o).contains("--save-dtype q4"), "{}", stderr(&o));
}

#[test]
fn device_cpu_is_accepted_by_every_command() {
    for c in commands("cpu") {
        let o = run(&c);
        // Past the flags: the error is the missing path, not the device.
        let e = stderr(&o);
        assert!(!o.status.success());
        assert!(!e.contains("--device"), "{c:?}: {e}");
        assert!(e.contains("/nonexistent"), "{c:?}: {e}");
    }
}

fn tiny_model(dir: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/bundled");
    let tok = dir.join("tokenizer.json");
    let model = dir.join("model");
    let o = ouro(&[
        "tokenizer",
        "train",
        "--problems",
        root.to_str().unwrap(),
        "--vocab-size",
        "300",
        "--out",
        tok.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = ouro(&[
        "model",
        "init",
        "--config",
        "tiny",
        "--tokenizer",
        tok.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    model
}

/// `ouro model generate --json` of 6 tokens from `model`, plus `extra` flags.
fn generate_json(model: &Path, extra: &[&str]) -> String {
    let mut a = vec![
        "model",
        "generate",
        model.to_str().unwrap(),
        "--prompt",
        "def f(x):",
        "--max-tokens",
        "6",
        "--ignore-eos",
        "--json",
    ];
    a.extend_from_slice(extra);
    let o = ouro(&a);
    assert!(o.status.success(), "{a:?}: {}", stderr(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn model_generate_on_cpu_matches_the_default_and_runs_in_bf16() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let gen = |extra: &[&str]| generate_json(&model, extra);
    // In a CUDA build the default may be the GPU, whose sampling is not bitwise the CPU's.
    if !cfg!(feature = "cuda") {
        assert_eq!(gen(&["--device", "cpu"]), gen(&[]));
    }
    let half = gen(&["--device", "cpu", "--dtype", "bf16"]);
    assert_eq!(half.lines().count(), 1, "{half}");
}

#[test]
fn sample_dtype_is_checked_first_and_q8_samples() {
    for c in commands("cpu").into_iter().filter(|c| c[0] != "train") {
        for (value, want) in [
            (
                &["--sample-dtype", "q4"][..],
                "--sample-dtype q4: expected f32 or q8",
            ),
            (
                &["--sample-dtype", "q8", "--dtype", "bf16"][..],
                "--sample-dtype q8: 8-bit sampling runs on the CPU in f32, not on cpu/bf16",
            ),
        ] {
            let mut c = c.clone();
            c.extend(value.iter().map(|s| s.to_string()));
            let o = run(&c);
            assert!(!o.status.success(), "{c:?} succeeded");
            let e = stderr(&o);
            assert!(e.contains(want), "{c:?}: {e}");
            assert!(!e.contains("/nonexistent"), "{c:?} did work first: {e}");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let line = generate_json(&model, &["--sample-dtype", "q8"]);
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(v["token_ids"].as_array().unwrap().len(), 6, "{line}");
}
