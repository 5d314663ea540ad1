//! Output directories: a command never writes into one of its inputs, over a file, or
//! over a dataset or page another command made; each refusal names the flag or path
//! and leaves what was there as it was.

use ouro_e2e::{arg, failed, ouro, stderr};

#[test]
fn build_fait_and_lintseq_into_an_input_directory_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let problems = ouro_e2e::humaneval_mini_problems(&dir.path().join("problems"));
    let samples =
        ouro_e2e::humaneval0_samples(dir.path(), &problems, "samples", "    return a + b\n");
    let executions = dir.path().join("executions");
    ouro_e2e::execute_ok(&arg(&problems), &arg(&samples), &arg(&executions));
    let executions_arg = arg(&executions);
    let (problems_arg, samples_arg) = (arg(&problems), arg(&samples));
    let inputs = [
        "--problems",
        &problems_arg,
        "--samples",
        &samples_arg,
        "--executions",
        &executions_arg,
    ];
    for (input, what) in [(&samples, "samples"), (&executions, "executions")] {
        let before = ouro_e2e::files_under(input);
        let out = arg(input);
        for command in [&["build", "sft"][..], &["build", "dpo"], &["fait"]] {
            let mut args = command.to_vec();
            args.extend(inputs);
            args.extend(["--out", &out]);
            let err = failed(&args);
            assert!(
                err.contains(&format!("the output directory is the {what} input")),
                "{err}"
            );
        }
        let mut lintseq = vec!["lintseq", "--input", &out, "--out", &out];
        if what == "samples" {
            lintseq.extend(["--executions", &executions_arg]);
        }
        let err = failed(&lintseq);
        assert!(err.contains("the output directory is the"), "{err}");
        assert_eq!(ouro_e2e::files_under(input), before, "{what}");
    }
}

#[test]
fn execute_into_its_own_samples_directory_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let problems = ouro_e2e::humaneval_mini_problems(&dir.path().join("problems"));
    let samples =
        ouro_e2e::humaneval0_samples(dir.path(), &problems, "samples", "    return a + b\n");
    let before = ouro_e2e::files_under(&samples);
    // The same directory by another spelling.
    let out = samples.join("..").join("samples");
    let err = failed(&[
        "execute",
        "--problems",
        &arg(&problems),
        "--samples",
        &arg(&samples),
        "--out",
        &arg(&out),
    ]);
    assert!(
        err.contains("the output directory is the samples input"),
        "{err}"
    );
    assert_eq!(ouro_e2e::files_under(&samples), before);

    // Samples of one problem set against another's problems: an error, not "0 executions".
    let other = dir.path().join("other");
    ouro_e2e::ouro_ok(&[
        "problems",
        "generate",
        "--count",
        "2",
        "--out",
        &arg(&other),
    ]);
    let out = dir.path().join("executions");
    let err = failed(&[
        "execute",
        "--problems",
        &arg(&other),
        "--samples",
        &arg(&samples),
        "--out",
        &arg(&out),
    ]);
    assert!(
        err.contains("none of the 1 samples in") && err.contains("(the first names 'HumanEval/0')"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn an_out_that_is_a_file_is_a_usage_error_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("taken");
    std::fs::write(&file, "mine").unwrap();
    let f = file.to_str().unwrap();
    for args in [
        &["problems", "generate", "--count", "2", "--out", f][..],
        &["execute", "--samples", "s", "--out", f][..],
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
            f,
        ][..],
        &[
            "import",
            "problems",
            "--format",
            "humaneval",
            "x.jsonl",
            "--out",
            f,
        ][..],
    ] {
        let o = ouro(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("for '--out <OUT>': ")
                && stderr(&o).contains("exists and is not a directory"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");
}

#[test]
fn fait_and_build_refuse_each_others_datasets_and_leave_them_whole() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let problems = ouro_e2e::humaneval_mini_problems(&d.join("problems"));
    let samples = ouro_e2e::humaneval0_samples(d, &problems, "samples", "    return a + b\n");
    let executions = d.join("executions");
    let inputs = [
        "--problems".to_string(),
        arg(&problems),
        "--samples".to_string(),
        arg(&samples),
        "--executions".to_string(),
        arg(&executions),
    ];
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    ouro_e2e::ouro_ok(
        &[
            &["execute", "-q", "--workers", "1"],
            &inputs[..2],
            &inputs[2..4],
            &["--out", &arg(&executions)],
        ]
        .concat(),
    );
    let built = d.join("built");
    ouro_e2e::ouro_ok(&[&["build", "sft"], &inputs[..], &["--out", &arg(&built)]].concat());
    let before = std::fs::read_dir(built.join("sft")).unwrap().count();
    let err = failed(&[&["fait"], &inputs[..], &["--out", &arg(&built)]].concat());
    assert!(
        err.contains("holds the 'sft' config `ouro build` wrote")
            && err.contains("choose another --out"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(built.join("sft")).unwrap().count(),
        before
    );
    assert!(!built.join("fait_report.json").exists());
    // A FAIT dataset of its own is rewritten on a rerun.
    let fait = d.join("fait");
    for _ in 0..2 {
        ouro_e2e::ouro_ok(&[&["fait", "-q"], &inputs[..], &["--out", &arg(&fait)]].concat());
    }
    assert!(fait.join("fait_report.json").exists());
    // And the converse: a build would replace FAIT's sft config and card, and leave
    // its dpo config and report describing rows that are gone.
    let spans = std::fs::read_dir(fait.join("sft")).unwrap().count();
    let err = failed(&[&["build", "sft"], &inputs[..], &["--out", &arg(&fait)]].concat());
    assert!(
        err.contains("holds the dataset `ouro fait` wrote") && err.contains("choose another --out"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(fait.join("sft")).unwrap().count(), spans);
}

#[test]
fn report_refuses_an_out_that_is_not_a_page_and_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    let report_json = run.join("report.json");
    std::fs::write(&report_json, "{\"kept\": true}").unwrap();
    let err = failed(&["report", &arg(&run), "--out", &arg(&report_json)]);
    assert!(err.contains("give --out a path ending in .html"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&report_json).unwrap(),
        "{\"kept\": true}"
    );
    // A page path that exists as something other than a file is not replaced either.
    let fifo = dir.path().join("pipe.html");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let err = failed(&["report", &arg(&run), "--out", &arg(&fifo)]);
    assert!(err.contains("is not a regular file"), "{err}");
    assert!(!fifo.metadata().unwrap().is_file());
}

/// A config directory holding a Parquet file of its own would have every loader read it
/// with the new rows; `stats` reads the shards every other reader takes, not a hidden
/// temp file an interrupted write left.
#[test]
fn build_refuses_a_foreign_file_in_a_config_and_stats_skips_hidden_ones() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let problems = ouro_e2e::humaneval_mini_problems(&d.join("problems"));
    let samples = ouro_e2e::humaneval0_samples(d, &problems, "samples", "    return a + b\n");
    let executions = d.join("executions");
    ouro_e2e::execute_ok(&arg(&problems), &arg(&samples), &arg(&executions));
    let built = d.join("built");
    let build = |extra: &[&str]| {
        [
            &[
                "build",
                "sft",
                "--problems",
                &arg(&problems),
                "--samples",
                &arg(&samples),
                "--executions",
                &arg(&executions),
                "--out",
                &arg(&built),
            ][..],
            extra,
        ]
        .concat()
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<String>>()
    };
    let args = build(&[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ouro_e2e::ouro_ok(&args);
    let shard = built.join("sft/train-00000-of-00001.parquet");
    std::fs::copy(&shard, built.join("sft/old-export.parquet")).unwrap();
    let before = std::fs::read(&shard).unwrap();
    let err = failed(&args);
    assert!(
        err.contains("holds old-export.parquet, which is not a file of config 'sft'"),
        "{err}"
    );
    assert_eq!(std::fs::read(&shard).unwrap(), before);
    std::fs::remove_file(built.join("sft/old-export.parquet")).unwrap();
    // A left-over temp file of a killed write: its rows are not the dataset's.
    std::fs::copy(
        problems.join("part-00000-of-00001.parquet"),
        problems.join(".ouro-tmp-1-x-part-00000-of-00001.parquet"),
    )
    .unwrap();
    std::fs::copy(
        problems.join("part-00000-of-00001.parquet"),
        problems.join(".staged-part-00001-of-00002.parquet"),
    )
    .unwrap();
    let stats = ouro_e2e::ouro_ok(&["stats", "--json", &arg(&problems)]);
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    let rows = stats["datasets"][0][2].as_u64();
    let expected = ouro_data::shard::read_dir::<ouro_data::Problem>(&problems)
        .unwrap()
        .len() as u64;
    assert_eq!(rows, Some(expected), "{stats}");
    // n = 0 of the ngram rule is refused, as the pipeline key is.
    let args = build(&["--decontaminate", "ngram", "--decontam-ngram", "0"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ouro(&args);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(
        stderr(&out).contains("--decontam-ngram"),
        "{}",
        stderr(&out)
    );
}
