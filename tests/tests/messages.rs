//! Error messages a new user meets first: each names the path or flag that
//! failed, once, and exits non-zero.

use std::path::Path;

use ouro_e2e::{arg, failed, interop_python, ouro, stderr};

#[test]
fn an_os_error_is_said_once_with_its_path() {
    let err = failed(&["report", "/nonexistent-run"]);
    assert!(err.contains("/nonexistent-run/report.json"), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

#[test]
fn execute_names_the_first_missing_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let err = failed(&[
        "execute",
        "--problems",
        "/nonexistent-a",
        "--samples",
        "/nonexistent-b",
        "--out",
        out.to_str().unwrap(),
    ]);
    let first = err.lines().next().unwrap_or_default();
    assert!(first.contains("--problems /nonexistent-a"), "{err}");
    assert!(!out.exists());
}

#[test]
fn stats_on_shards_it_does_not_know_is_an_error() {
    let Some(python) = interop_python() else {
        eprintln!("skipping: set OURO_PYTHON or create .venv (see .ci/run)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let shards = dir.path().join("mystery");
    std::fs::create_dir_all(&shards).unwrap();
    let st = std::process::Command::new(python)
        .args([
            "-c",
            "import sys, pyarrow as pa, pyarrow.parquet as pq; \
             pq.write_table(pa.table({'foo': [1, 2]}), sys.argv[1])",
        ])
        .arg(shards.join("part-0.parquet"))
        .status()
        .unwrap();
    assert!(st.success());
    let err = failed(&["stats", shards.to_str().unwrap()]);
    assert!(err.contains("no ouro dataset found"), "{err}");
    assert!(err.contains("mystery (columns: foo)"), "{err}");
    // Beside a dataset it knows, an unknown one is listed, not an error.
    let problems = dir.path().join("problems");
    let o = ouro(&[
        "problems",
        "generate",
        "--count",
        "3",
        "--out",
        problems.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = ouro(&["stats", dir.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(Path::new(&problems).exists());
}

#[test]
fn stats_reads_one_shard_file_and_counts_a_dataset_named_twice_once() {
    let dir = tempfile::tempdir().unwrap();
    let problems = dir.path().join("problems");
    let p = problems.to_str().unwrap();
    let o = ouro(&["problems", "generate", "--count", "3", "--out", p]);
    assert!(o.status.success(), "{}", stderr(&o));
    let shard = problems.join("part-00000-of-00001.parquet");
    let o = ouro(&["stats", "--json", shard.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["datasets"].as_array().unwrap().len(), 1, "{v}");
    let d = dir.path().to_str().unwrap();
    let o = ouro(&["stats", "--json", d, p]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["datasets"].as_array().unwrap().len(), 1, "{v}");
    // A directory and one of its own shards: the dataset once.
    let o = ouro(&["stats", "--json", p, shard.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["datasets"].as_array().unwrap().len(), 1, "{v}");
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "hello").unwrap();
    let err = failed(&["stats", text.to_str().unwrap()]);
    assert!(err.contains("notes.txt: not a Parquet file"), "{err}");
}

#[test]
fn a_training_config_value_out_of_range_names_the_file_and_key_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    let out = dir.path().join("out");
    for (text, want) in [
        (
            "[optim]\nlr = -1.0\n",
            "key 'optim.lr' = -1 must be a finite number > 0",
        ),
        (
            "[optim]\ngrad_accum = 0\n",
            "key 'optim.grad_accum' = 0 must be at least 1",
        ),
        (
            "[optim]\nepochs = 0.0\n",
            "keys 'optim.max_steps' and 'optim.epochs' are both 0",
        ),
        // Found once the adapters were built, after the data and the model had loaded.
        (
            "[lora]\nlora_dropout = 0.1\n",
            "key 'lora.lora_dropout' = 0.1 must be 0",
        ),
        (
            "[lora]\ntarget_modules = [\"qproj\"]\n",
            "key 'lora.target_modules': unknown module 'qproj'",
        ),
    ] {
        std::fs::write(&config, text).unwrap();
        // The model and data do not exist: the config is refused before they are read.
        let err = failed(&[
            "train",
            "sft",
            "--model",
            "/nonexistent-model",
            "--data",
            "/nonexistent-data",
            "--out",
            &arg(&out),
            "--config",
            &arg(&config),
        ]);
        assert!(
            err.contains(&format!("{}: invalid config: {want}", config.display())),
            "{err}"
        );
        assert!(!out.exists());
    }
}

#[test]
fn numbers_outside_their_range_are_usage_errors() {
    // Not a number, but the same kind of mistake: `ouro sample` with no source at all.
    let o = ouro(&["sample", "--problems", "p", "--out", "o"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("<--model <MODEL>|--base-url <URL>>"),
        "{}",
        stderr(&o)
    );
    for args in [
        &[
            "fait",
            "--executions",
            "e",
            "--samples",
            "s",
            "--problems",
            "p",
            "--out",
            "o",
            "--token-weight",
            "nan",
        ][..],
        &[
            "fait",
            "--executions",
            "e",
            "--samples",
            "s",
            "--problems",
            "p",
            "--out",
            "o",
            "--line-weight=-3",
        ],
        &[
            "problems",
            "generate",
            "--count",
            "3",
            "--filter-tests",
            "0",
            "--out",
            "o",
        ],
        &[
            "model",
            "generate",
            "--model",
            "m",
            "--prompt",
            "x",
            "--temperature=-1",
        ],
        &[
            "model", "generate", "--model", "m", "--prompt", "x", "--top-p", "2",
        ],
        &[
            "execute",
            "--problems",
            "p",
            "--samples",
            "s",
            "--out",
            "o",
            "--memory-mb",
            "0",
        ],
        &["lintseq", "--input", "i", "--out", "o", "-k", "0"],
        // A typo of a million sequences per program allocated (and aborted) or ran for ever.
        &[
            "lintseq",
            "--input",
            "i",
            "--out",
            "o",
            "-k",
            "1000000000000",
        ],
        &[
            "fait",
            "--executions",
            "e",
            "--samples",
            "s",
            "--problems",
            "p",
            "--out",
            "o",
            "--max-distance",
            "0",
        ],
        &[
            "import", "problems", "--format", "mbpp", "f", "--out", "o", "--split", "",
        ],
        &["serve", "--model", "m", "--max-batch", "0"],
        &["serve", "--model", "m", "--chunk-tokens", "0"],
        // An empty stop string would end every completion at once.
        &[
            "sample",
            "--problems",
            "p",
            "--out",
            "o",
            "--base-url",
            "http://127.0.0.1:9",
            "--stop",
            "",
        ],
        &[
            "model", "generate", "--model", "m", "--prompt", "x", "--stop", "",
        ],
        &[
            "build",
            "sft",
            "--problems",
            "p",
            "--samples",
            "s",
            "--executions",
            "e",
            "--out",
            "o",
            "--budget",
            "uniform:0",
        ],
        &[
            "build",
            "dpo",
            "--problems",
            "p",
            "--samples",
            "s",
            "--executions",
            "e",
            "--out",
            "o",
            "--ranker",
            "nope",
        ],
    ] {
        let o = ouro(args);
        let code = o.status.code();
        assert!(
            code == Some(2) || (code == Some(1) && stderr(&o).contains("uniform:0")),
            "ouro {}: {code:?} {}",
            args.join(" "),
            stderr(&o)
        );
    }
}

#[test]
fn a_launcher_for_a_pipeline_that_cannot_be_sharded_is_refused() {
    let quickstart = ouro_e2e::workspace().join("pipelines/quickstart.toml");
    let err = failed(&["launch", "slurm", &arg(&quickstart), "--num-shards", "4"]);
    assert!(
        err.contains("this pipeline trains a model ([model])") && err.contains("cannot be sharded"),
        "{err}"
    );
    // A typo is found here, not by every array task on the cluster.
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "[problems]\ncount = 3\nmutant_per_problem = 1\n").unwrap();
    let err = failed(&["launch", "slurm", &arg(&typo), "--num-shards", "4"]);
    assert!(
        err.contains("typo.toml") && err.contains("mutant_per_problem"),
        "{err}"
    );
}

/// A missing import file was found mid-run, after the run directory was made, which
/// then neither a fresh run (another configuration) nor --resume would take.
#[test]
fn a_missing_import_file_is_named_by_its_key_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let p = dir.path().join("p.toml");
    std::fs::write(
        &p,
        format!(
            "out = \"{}\"\n[problems.import]\nformat = \"humaneval\"\npath = \"nope/he.jsonl\"\n",
            out.display()
        ),
    )
    .unwrap();
    let err = failed(&["run", &arg(&p)]);
    assert!(
        err.contains("key 'problems.import.path': nope/he.jsonl does not exist"),
        "{err}"
    );
    assert!(!out.exists());
}

/// `dir/problems` (two generated problems) and a BPE tokenizer trained on them.
fn problems_and_tokenizer(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let problems = dir.join("problems");
    ouro_e2e::ouro_ok(&[
        "problems",
        "generate",
        "--count",
        "2",
        "--out",
        &arg(&problems),
    ]);
    let tokenizer = dir.join("tok.json");
    ouro_e2e::ouro_ok(&[
        "tokenizer",
        "train",
        "--problems",
        &arg(&problems),
        "--vocab-size",
        "300",
        "--out",
        &arg(&tokenizer),
    ]);
    (problems, tokenizer)
}

/// `ouro model init` of a tiny model into `out`.
fn model_init(tokenizer: &Path, out: &Path) -> std::process::Output {
    let (tokenizer, out) = (arg(tokenizer), arg(out));
    ouro(&[
        "model",
        "init",
        "--config",
        "tiny",
        "--tokenizer",
        &tokenizer,
        "--out",
        &out,
    ])
}

/// Values at the edge of their type, through the binary: a seed at u64::MAX with several
/// samples (seeds wrap), a vocabulary size past the cap, and a training `--out` inside
/// its own `--model`.
#[test]
fn extreme_seeds_vocabulary_sizes_and_outputs_inside_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let (problems, tokenizer) = problems_and_tokenizer(dir.path());
    let model = dir.path().join("model");
    let o = model_init(&tokenizer, &model);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = ouro_e2e::ouro_ok(&[
        "model",
        "generate",
        "--model",
        &arg(&model),
        "--prompt",
        "def",
        "--seed",
        "18446744073709551615",
        "-n",
        "2",
        "--max-tokens",
        "2",
    ]);
    assert!(!out.is_empty());
    let err = failed(&[
        "tokenizer",
        "train",
        "--problems",
        &arg(&problems),
        "--vocab-size",
        "4294967296",
        "--out",
        &arg(&dir.path().join("big.json")),
    ]);
    assert!(
        err.contains("vocab size 4294967296 is above the 1048576 supported"),
        "{err}"
    );
    assert!(!dir.path().join("big.json").exists());
    let data = dir.path().join("d.jsonl");
    std::fs::write(&data, "{\"prompt\": \"a\", \"completion\": \"b\"}\n").unwrap();
    let inside = model.join("run");
    let err = failed(&[
        "train",
        "sft",
        "--model",
        &arg(&model),
        "--data",
        &arg(&data),
        "--out",
        &arg(&inside),
    ]);
    assert!(err.contains("--out") && err.contains("inside"), "{err}");
    assert!(!inside.exists(), "a refused run creates nothing");
}

#[test]
fn a_model_is_not_saved_over_a_directory_that_is_not_a_model() {
    let dir = tempfile::tempdir().unwrap();
    let (problems, tokenizer) = problems_and_tokenizer(dir.path());
    let before = ouro_e2e::files_under(&problems);
    // A directory of something else is refused; a file is a usage error (exit 2).
    for (out, code, says) in [
        (&problems, 1, "exists and is not a model directory"),
        (&tokenizer, 2, "exists and is not a directory"),
    ] {
        let o = model_init(&tokenizer, out);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(code), "{err}");
        assert!(err.contains(says), "{err}");
    }
    assert_eq!(ouro_e2e::files_under(&problems), before);
    assert!(tokenizer.is_file());
    // A model directory is replaced, as the help says.
    let model = dir.path().join("model");
    for _ in 0..2 {
        let o = model_init(&tokenizer, &model);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    // The weights as readable as the rest of the checkpoint (safetensors writes 0600).
    use std::os::unix::fs::PermissionsExt;
    let mode = |f: &str| {
        std::fs::metadata(model.join(f))
            .unwrap()
            .permissions()
            .mode()
    };
    assert_eq!(mode("model.safetensors"), mode("config.json"));
}

#[test]
fn lintseq_jsonl_that_is_broken_or_read_with_the_wrong_fields_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let out = dir.path().join("out");
    for (text, extra, want) in [
        ("{\"code\": \"x = 1\\n\"}\n{\"code\": \n", &[][..], "in.jsonl:2: invalid JSON: EOF while parsing"),
        ("{\"code\": \"x = 1\\n\"}\n[1]\n", &[][..], "in.jsonl:2: expected a JSON object, found an array"),
        ("\n\n", &[][..], "the file has no JSON lines"),
        (
            "{\"code\": \"x = 1\\n\"}\n{\"code\": 42}\n",
            &[][..],
            "in.jsonl:2: field 'code': expected a string (the program), found a number",
        ),
        (
            "{\"code\": \"x = 1\\n\"}\n",
            &["--program-fields", "nope"][..],
            "no line holds a program (fields [\"nope\"]); the first: in.jsonl:1: field 'nope' missing",
        ),
    ] {
        std::fs::write(&input, text).unwrap();
        let (input_s, out_s) = (arg(&input), arg(&out));
        let args = [&["lintseq", "--input", &input_s, "--out", &out_s][..], extra].concat();
        let err = failed(&args);
        assert!(err.contains(want), "{err}");
        assert!(!out.exists());
    }
    // A byte-order mark and Windows line ends, as editors write them, are read.
    std::fs::write(&input, "\u{feff}{\"code\": \"x = 1\\n\"}\r\n").unwrap();
    ouro_e2e::ouro_ok(&["lintseq", "--input", &arg(&input), "--out", &arg(&out)]);
    // Gzipped, as the other JSON readers take it.
    let gz = dir.path().join("in.jsonl.gz");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut encoder, b"{\"code\": \"x = 1\\ny = x\\n\"}\n").unwrap();
    std::fs::write(&gz, encoder.finish().unwrap()).unwrap();
    let said = ouro_e2e::ouro_ok(&["lintseq", "--input", &arg(&gz), "--out", &arg(&out)]);
    assert!(said.contains("lintseq: 1 programs"), "{said}");
    // -q hides the summary too, as the help says.
    let said = ouro_e2e::ouro_ok(&["-q", "lintseq", "--input", &arg(&gz), "--out", &arg(&out)]);
    assert_eq!(said, "");
    // A file read as shards was "Not a directory (os error 20)".
    let err = failed(&[
        "lintseq",
        "--input",
        &arg(&gz),
        "--kind",
        "problems",
        "--out",
        &arg(&out),
    ]);
    assert!(
        err.contains("--kind problems reads a directory of shards"),
        "{err}"
    );
}

#[test]
fn executions_of_other_samples_are_an_error_in_build_and_fait() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let problems = ouro_e2e::humaneval_mini_problems(&d.join("problems"));
    // Two sample sets of the same problem, different programs (so different ids).
    let mut sets = Vec::new();
    for (name, body) in [("a", "return a + b"), ("b", "return b + a")] {
        let samples = ouro_e2e::humaneval0_samples(
            d,
            &problems,
            &format!("samples-{name}"),
            &format!("    {body}\n"),
        );
        let executions = d.join(format!("executions-{name}"));
        ouro_e2e::execute_ok(&arg(&problems), &arg(&samples), &arg(&executions));
        sets.push((samples, executions));
    }
    let (samples_a, _) = &sets[0];
    let (_, executions_b) = &sets[1];
    let out = d.join("out");
    let common = [
        "--problems".to_string(),
        arg(&problems),
        "--samples".to_string(),
        arg(samples_a),
        "--executions".to_string(),
        arg(executions_b),
        "--out".to_string(),
        arg(&out),
    ];
    for head in [&["build", "sft"][..], &["fait"][..]] {
        let args: Vec<&str> = head
            .iter()
            .copied()
            .chain(common.iter().map(String::as_str))
            .collect();
        let err = failed(&args);
        assert!(
            err.contains("none of the 1 executions in")
                && err.contains("were they run on other samples?"),
            "{err}"
        );
        assert!(!out.exists());
    }
    // Samples of another problem set (a wrong --problems) are an error, not an empty set.
    let other = d.join("other-problems");
    ouro_e2e::ouro_ok(&[
        "problems",
        "generate",
        "--count",
        "2",
        "--out",
        &arg(&other),
    ]);
    let (samples_b, executions_b) = &sets[1];
    let err = failed(&[
        "build",
        "sft",
        "--problems",
        &arg(&other),
        "--samples",
        &arg(samples_b),
        "--executions",
        &arg(executions_b),
        "--out",
        &arg(&out),
    ]);
    assert!(
        err.contains("none of the 1 samples in") && err.contains("drawn from another problem set"),
        "{err}"
    );
    // Executions judged twice under other limits hold two verdicts per sample: refused.
    let (samples_a, executions_a) = &sets[0];
    let twice = d.join("twice");
    std::fs::create_dir_all(&twice).unwrap();
    let mut recs: Vec<ouro_data::Execution> = ouro_data::shard::read_dir(executions_a).unwrap();
    let mut other_limits = recs[0].clone();
    other_limits.limits.wall_ms += 1;
    other_limits.verdict = ouro_data::Verdict::Timeout;
    recs.push(other_limits);
    ouro_data::shard::write_records(twice.join("part-00000-of-00001.parquet"), &recs).unwrap();
    for head in [&["build", "sft"][..], &["fait"][..]] {
        let tail = [
            "--problems".to_string(),
            arg(&problems),
            "--samples".to_string(),
            arg(samples_a),
            "--executions".to_string(),
            arg(&twice),
            "--out".to_string(),
            arg(&out),
        ];
        let args: Vec<&str> = head
            .iter()
            .copied()
            .chain(tail.iter().map(String::as_str))
            .collect();
        let err = failed(&args);
        assert!(
            err.contains("holds two verdicts of sample") && err.contains("pass and timeout"),
            "{head:?}: {err}"
        );
        assert!(!out.exists());
    }
}

#[test]
fn a_conversation_without_an_assistant_turn_names_its_file_line_and_roles() {
    let dir = tempfile::tempdir().unwrap();
    let (_, tokenizer) = problems_and_tokenizer(dir.path());
    let model = dir.path().join("model");
    let o = model_init(&tokenizer, &model);
    assert!(o.status.success(), "{}", stderr(&o));
    let data = dir.path().join("chat.jsonl");
    std::fs::write(
        &data,
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"x = 1\"}]}\n\n\
         {\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"wizard\", \"content\": \"x = 1\"}]}\n",
    )
    .unwrap();
    let err = failed(&[
        "train",
        "sft",
        "--model",
        &arg(&model),
        "--data",
        &arg(&data),
        "--out",
        &arg(&dir.path().join("out")),
    ]);
    assert!(
        err.contains("chat.jsonl: line 3 (problem row-2): field 'messages': no assistant message to train on (roles: user, wizard)"),
        "{err}"
    );
}

#[test]
fn stats_on_a_corrupt_shard_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let shards = dir.path().join("data");
    std::fs::create_dir_all(&shards).unwrap();
    std::fs::write(shards.join("part-0.parquet"), b"PAR1 truncated").unwrap();
    let err = failed(&["stats", &arg(&shards)]);
    assert!(
        err.contains("part-0.parquet: not a readable Parquet file"),
        "{err}"
    );
}

#[test]
fn sampling_without_a_model_name_from_a_server_that_does_not_answer_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (problems, _) = problems_and_tokenizer(dir.path());
    let out = dir.path().join("samples");
    let err = failed(&[
        "sample",
        "--problems",
        &arg(&problems),
        "--base-url",
        "http://127.0.0.1:9",
        "--out",
        &arg(&out),
    ]);
    assert!(
        err.contains("GET http://127.0.0.1:9/v1/models") && err.contains("check --base-url"),
        "{err}"
    );
    assert!(!out.exists());
}

/// `ouro stats ... | head` closing the pipe ended in a panic and a backtrace (exit 101);
/// it ends as `cat` does, by SIGPIPE, with nothing on stderr.
#[test]
fn a_closed_stdout_ends_a_printing_command_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let mut child = std::process::Command::new(ouro_e2e::ouro_bin())
        .args(["stats", &arg(&ouro_e2e::workspace().join("data/bundled"))])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success() || o.status.signal() == Some(libc_sigpipe()),
        "{:?}: {}",
        o.status,
        stderr(&o)
    );
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
}

fn libc_sigpipe() -> i32 {
    13
}
