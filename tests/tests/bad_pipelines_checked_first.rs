//! A pipeline's bad values are errors naming the key before any stage runs,
//! and nothing is written (so the fixed file runs without `--resume`).

use std::path::Path;

use ouro_e2e::{ouro, ouro_bin, stderr, workspace};

fn quickstart_with(dir: &Path, edit: impl Fn(String) -> String) -> String {
    let text = std::fs::read_to_string(workspace().join("pipelines/quickstart.toml")).unwrap();
    let out = dir.join("run");
    let text = edit(text.replace("runs/quickstart", &out.display().to_string()));
    let path = dir.join("p.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn rejected(edit: impl Fn(String) -> String, expect: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let p = quickstart_with(dir.path(), edit);
    // A watchdog, not a timing check: if validation regressed, the run
    // would train for minutes before failing somewhere else.
    let mut child = std::process::Command::new(ouro_bin())
        .args(["run", &p])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..1200 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    if child.try_wait().unwrap().is_none() {
        child.kill().unwrap();
        panic!("`ouro run` started working instead of rejecting the file");
    }
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    for e in expect {
        assert!(err.contains(e), "stderr should contain {e:?}: {err}");
    }
    assert!(
        !dir.path().join("run").exists(),
        "nothing is written: {err}"
    );
}

/// Replaces the first `key = ...` line under `[section]`, or appends one.
fn set(text: String, section: &str, key: &str, value: &str) -> String {
    let header = format!("[{section}]");
    let start = text.find(&header).unwrap_or_else(|| panic!("no {header}"));
    let body_start = start + header.len();
    let body_end = text[body_start..]
        .find("\n[")
        .map_or(text.len(), |i| body_start + i);
    let body = &text[body_start..body_end];
    let line = format!("{key} = {value}");
    let new_body = match body
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{key} ")))
    {
        Some(old) => body.replacen(old, &line, 1),
        None => format!("\n{line}{body}"),
    };
    format!("{}{}{}", &text[..body_start], new_body, &text[body_end..])
}

#[test]
fn missing_model_path_names_the_key() {
    rejected(
        |t| t.replace("init = \"small\"", "path = \"/nonexistent/model\""),
        &["key 'model.path'", "/nonexistent/model"],
    );
}

#[test]
fn negative_temperature_is_rejected() {
    rejected(
        |t| set(t, "iterate.sampling", "temperature", "-0.5"),
        &["key 'iterate.sampling.temperature'", "-0.5", ">= 0"],
    );
}

#[test]
fn unknown_pool_split_lists_the_splits() {
    rejected(
        |t| set(t, "iterate", "pool_split", "\"tset\""),
        &["key 'iterate.pool_split'", "'tset'", "train, test, heldout"],
    );
}

#[test]
fn pass_at_k_above_the_samples_is_rejected() {
    rejected(
        |t| set(t, "eval", "k", "[1, 99]"),
        &["key 'eval.k'", "pass@99"],
    );
}

#[test]
fn zero_problems_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p");
    let o = ouro(&[
        "problems",
        "generate",
        "--count",
        "0",
        "--out",
        &out.display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--count"), "{}", stderr(&o));
    assert!(!out.exists());
}

#[test]
fn bad_model_device_and_dtype_name_the_key() {
    rejected(
        |t| set(t, "model", "device", "\"tpu\""),
        &["key 'model.device'", "expected cpu, cuda or cuda:N"],
    );
    rejected(
        |t| set(t, "model", "dtype", "\"f8\""),
        &["key 'model.dtype'", "expected f32, bf16 or f16"],
    );
    // The e2e binary is the CPU build: asking it for a GPU is an error, not a silent CPU run.
    rejected(
        |t| set(t, "model", "device", "\"cuda:3\""),
        &["key 'model.device'", "CUDA"],
    );
    rejected(
        |t| set(t, "model", "sample_dtype", "\"q4\""),
        &["key 'model.sample_dtype'", "expected f32 or q8"],
    );
    rejected(
        |t| {
            set(
                set(t, "model", "sample_dtype", "\"q8\""),
                "model",
                "dtype",
                "\"bf16\"",
            )
        },
        &["key 'model.sample_dtype'", "CPU in f32"],
    );
}

#[test]
fn bad_decontamination_keys_are_named() {
    rejected(
        |t| format!("{t}\n[decontaminate]\nbenchmarks = [\"mbpp\"]\n"),
        &[
            "key 'decontaminate.benchmarks'",
            "unknown built-in benchmark 'mbpp'",
        ],
    );
    rejected(
        |t| format!("{t}\n[decontaminate]\nrule = \"fuzzy\"\n"),
        &["key 'decontaminate.rule'", "substring or ngram"],
    );
    rejected(
        |t| {
            format!("{t}\n[decontaminate]\nfiles = [{{ format = \"mbpp\", path = \"/nonexistent/mbpp.jsonl\" }}]\n")
        },
        &[
            "key 'decontaminate.files[0].path'",
            "/nonexistent/mbpp.jsonl",
        ],
    );
}

#[test]
fn unknown_isolation_primitive_names_the_key() {
    rejected(
        |t| set(t, "execute", "require_isolation", "[\"netns\", \"vm\"]"),
        &[
            "key 'execute.require_isolation'",
            "'vm'",
            "ipcns, mntns, netns",
        ],
    );
}

#[test]
fn a_python_the_sandbox_cannot_use_names_the_key() {
    rejected(
        |t| set(t, "execute", "python", "\"/nonexistent/python3\""),
        &["key 'execute.python'", "/nonexistent/python3"],
    );
}

#[test]
fn training_values_out_of_range_name_the_key() {
    rejected(
        |t| set(t, "iterate.train.optim", "batch_size", "0"),
        &["key 'iterate.train.optim.batch_size' = 0 must be at least 1"],
    );
    rejected(
        |t| set(t, "seed_sft.train.optim", "lr", "-1.0"),
        &["key 'seed_sft.train.optim.lr' = -1 must be a finite number > 0"],
    );
    rejected(
        |t| set(t, "seed_sft.train", "max_length", "0"),
        &["key 'seed_sft.train.max_length' = 0 must be at least 2"],
    );
}

/// Every program would time out: a run of zeros exit 0, like a model that never learns.
#[test]
fn a_zero_cpu_limit_is_rejected() {
    rejected(
        |t| set(t, "execute", "cpu_ms", "0"),
        &["key 'execute.cpu_ms' must be at least 1"],
    );
}

/// Found only when round 0 initialised the model, these had left a run directory that
/// refused the corrected file with --resume and without.
#[test]
fn an_unknown_model_preset_and_a_vocabulary_too_small_are_rejected() {
    rejected(
        |t| t.replace("init = \"small\"", "init = \"huge\""),
        &["key 'model.init'", "'huge': not a preset (tiny, small)"],
    );
    rejected(
        |t| set(t, "tokenizer", "vocab_size", "5"),
        &["key 'tokenizer.vocab_size'", "below the 259"],
    );
}

/// A value only the problems can refute stops the run after they are written; the
/// fixed file then needs a new directory, and the rerun says so (it said "pass
/// --resume", which refuses another configuration).
#[test]
fn a_rerun_after_a_late_bad_value_says_to_start_over() {
    let dir = tempfile::tempdir().unwrap();
    let p = quickstart_with(dir.path(), |t| set(t, "seed_sft", "problems", "100000"));
    let o = ouro(&["run", "-q", &p]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("key 'seed_sft.problems' = 100000"),
        "{}",
        stderr(&o)
    );
    let p = quickstart_with(dir.path(), |t| set(t, "seed_sft", "problems", "10"));
    for args in [&["run", "-q", &p][..], &["run", "-q", "--resume", &p][..]] {
        let o = ouro(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("seed_sft.problems: 100000 -> 10"),
            "{args:?}: {}",
            stderr(&o)
        );
        assert!(stderr(&o).contains("remove"), "{args:?}: {}", stderr(&o));
    }
}

/// A bad line in an import file is found only when the run reads it, after the run
/// directory exists; the run wrote nothing else, so the fixed file starts it again
/// (both `--resume` and a plain rerun had been refused, stranding it).
#[test]
fn a_run_stopped_on_a_bad_input_line_starts_again_once_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let line = r#"{"task_id": "t/0", "prompt": "def f(x):\n", "entry_point": "f", "canonical_solution": "    return x\n", "test": "def check(candidate):\n    assert candidate(1) == 1\n"}"#;
    let input = d.join("in.jsonl");
    std::fs::write(&input, format!("{line}\n{{\"task_id\": broken\n")).unwrap();
    let pipeline = d.join("p.toml");
    std::fs::write(
        &pipeline,
        format!(
            "out = {:?}\n[problems]\nimport = {{ format = \"humaneval\", path = {:?} }}\n",
            d.join("run").display().to_string(),
            input.display().to_string()
        ),
    )
    .unwrap();
    let p = pipeline.display().to_string();
    let o = ouro(&["run", &p]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("in.jsonl:2"), "{}", stderr(&o));
    std::fs::write(&input, format!("{line}\n")).unwrap();
    let o = ouro(&["run", &p]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Now it holds a stage's output: a plain rerun is refused as before.
    let o = ouro(&["run", &p]);
    assert!(stderr(&o).contains("already holds a run"), "{}", stderr(&o));
}

/// pipelines/datasets.toml writing into `dir/run`: (pipeline path, run directory).
fn datasets_in(dir: &Path) -> (String, std::path::PathBuf) {
    let text = std::fs::read_to_string(workspace().join("pipelines/datasets.toml")).unwrap();
    let out = dir.join("run");
    let text = text.replacen(
        "out = ",
        &format!("out = {:?}\n# ", out.display().to_string()),
        1,
    );
    let p = dir.join("p.toml");
    std::fs::write(&p, text).unwrap();
    (p.display().to_string(), out)
}

/// `--report-to tensorboard` on a pipeline that trains nothing is refused before a
/// stage runs: after the run, a finished run exited 1 and its rerun was refused.
#[test]
fn report_to_tensorboard_without_rounds_is_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let (p, out) = datasets_in(dir.path());
    let o = ouro(&["run", "--report-to", "tensorboard", &p]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("has no rounds"), "{}", stderr(&o));
    assert!(!out.exists(), "nothing ran");
}

/// A merge runs build and lintseq as the whole run does: while a plain `ouro run` holds
/// the directory, `--merge` is refused (both had built the same stage at once).
#[test]
fn a_merge_is_refused_while_a_run_holds_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (p, out) = datasets_in(dir.path());
    let o = ouro(&["run", "-q", &p]);
    assert!(o.status.success(), "{}", stderr(&o));
    let _held = ouro_data::fsutil::try_lock(&out, ".ouro-run.lock")
        .unwrap()
        .unwrap();
    let o = ouro(&["run", &p, "--merge", "--resume"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is being written by another `ouro run`"),
        "{}",
        stderr(&o)
    );
}
