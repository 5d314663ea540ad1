//! LintSeq end to end: replay, lint cleanliness of every state, seeding,
//! deduplication and bad-input handling.

mod common;

use ouro_edits::input::{InputKind, JsonlFields};
use ouro_edits::lintseq::{run, sequence_seed, sequences_for_program, LintseqOptions};
use ouro_edits::replay::{apply_diff, replay, replay_target};
use ouro_edits::sampling::{diffs_of_states, sample_edit_path, states, SplitMix64};

fn bundled_programs(n: usize) -> Vec<String> {
    let problems = ouro_problems::generate(&ouro_problems::GenerateOptions {
        count: n,
        ..Default::default()
    })
    .expect("bundled problems");
    problems
        .into_iter()
        .filter_map(|p| p.reference_solution)
        .collect()
}

/// Checks every sequence of `program`; returns (sequences, edits).
fn check_program(program: &str, seeds: std::ops::Range<u64>) -> (usize, usize) {
    let target = replay_target(program);
    let mut edits = 0;
    for seed in seeds.clone() {
        let mut rng = SplitMix64::new(seed);
        let path = sample_edit_path(program, &mut rng, ouro_edits::lintseq::lint_lines)
            .expect("has candidates");
        let raw_states = states(program, &path);
        for s in &raw_states {
            assert!(
                ouro_python::is_clean(s) || s == program,
                "state not lint-clean: {:?}\n{s}",
                ouro_python::lint(s)
            );
        }
        let diffs = diffs_of_states(&raw_states);
        assert!(diffs.len() <= 513);
        let mut lines: Vec<String> = Vec::new();
        for (i, d) in diffs.iter().enumerate() {
            lines = apply_diff(&lines, d, i).expect("diff applies");
            let state = lines.join("\n");
            // The last state is the program itself, which may not be clean.
            assert!(
                i + 1 == diffs.len() || ouro_python::is_clean(&state),
                "replayed state {i} not clean: {:?}\n{state}",
                ouro_python::lint(&state)
            );
        }
        assert_eq!(lines.join("\n"), target, "replay must rebuild the program");
        edits += diffs.len();
    }
    (seeds.count(), edits)
}

#[test]
fn every_sequence_of_the_fixture_programs_replays_and_every_state_is_clean() {
    for p in common::PROGRAMS {
        assert!(
            ouro_python::is_clean(p),
            "fixture must start clean: {:?}",
            ouro_python::lint(p)
        );
        check_program(p, 0..20);
    }
}

#[test]
fn every_sequence_of_bundled_reference_solutions_replays_and_every_state_is_clean() {
    let programs = bundled_programs(150);
    assert!(programs.len() >= 100);
    let mut seqs = 0;
    for p in &programs {
        seqs += check_program(p, 0..5).0;
    }
    assert_eq!(seqs, programs.len() * 5);
}

#[test]
fn sampling_is_reproducible_per_program_and_seed() {
    let p = common::PROGRAMS[1];
    let a = sequences_for_program(p, "id", 3, 4, 10_000).unwrap();
    let b = sequences_for_program(p, "id", 3, 4, 10_000).unwrap();
    assert_eq!(a, b);
    let c = sequences_for_program(p, "id", 4, 4, 10_000).unwrap();
    assert_ne!(a.sequences, c.sequences);
    assert_eq!(a.sequences[0].0, sequence_seed("id", 3, 0));
}

#[test]
fn identical_sequences_are_kept_once() {
    let r = sequences_for_program("x = 1\n", "one-liner", 0, 5, 10_000).unwrap();
    assert_eq!(r.sequences.len(), 1);
    assert_eq!(r.duplicates, 4);
    assert_eq!(r.sequences[0].1, vec!["@@ -0,0 +1 @@\n+x = 1".to_string()]);
}

#[test]
fn bad_programs_are_reported_by_id_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let huge: String = (0..10_001).map(|i| format!("x{i} = {i}\n")).collect();
    let mut bytes = Vec::new();
    let row = |id: &str, code: &str| serde_json::json!({"id": id, "code": code}).to_string() + "\n";
    bytes.extend(row("good", "def f(a):\n    return a + 1\n").as_bytes());
    bytes.extend(row("broken", "def f(:\n    return 1\n").as_bytes());
    bytes.extend(row("empty", "\n  \n# only a comment\n").as_bytes());
    bytes.extend(b"{\"id\": \"latin1\", \"code\": \"x = '\xe9'\"}\n");
    bytes.extend(row("huge", &huge).as_bytes());
    bytes.extend(row("good2", "import os\nprint(os.sep)\n").as_bytes());
    std::fs::write(&input, bytes).unwrap();
    let out = dir.path().join("out");
    let options = LintseqOptions {
        sequences_per_program: 3,
        seed: 1,
        kind: Some(InputKind::Jsonl),
        jsonl: JsonlFields {
            program: vec!["code".into()],
            instruction: None,
            id: Some("id".into()),
        },
        progress: false,
        ..Default::default()
    };
    let stats = run(&input, &out, &options).unwrap();
    let mut bad: Vec<(String, String)> = stats
        .bad
        .iter()
        .map(|b| (b.id.clone(), b.reason.clone()))
        .collect();
    bad.sort();
    assert_eq!(bad.len(), 4, "{bad:?}");
    assert_eq!(bad[0].0, "broken");
    assert!(bad[0].1.contains("does not parse"));
    assert_eq!(bad[1].0, "empty");
    assert_eq!(bad[2].0, "huge");
    assert!(
        bad[2].1.contains("10002 lines") || bad[2].1.contains("10001 lines"),
        "{}",
        bad[2].1
    );
    assert_eq!(bad[3].0, "in.jsonl:4");
    assert!(bad[3].1.contains("UTF-8"));
    assert_eq!(stats.programs, 2);
    let rows: Vec<ouro_data::LintseqRecord> =
        ouro_data::shard::read_dir(out.join("lintseq")).unwrap();
    assert_eq!(rows.len() as u64, stats.sequences);
    for r in &rows {
        let diffs: Vec<String> = r
            .completion
            .split("\n<|diff|>")
            .filter(|d| !d.is_empty())
            .map(str::to_string)
            .collect();
        assert_eq!(diffs.len() as u32, r.num_edits);
        let program = replay(&diffs).unwrap();
        assert_eq!(
            r.program_id,
            ouro_data::content_id("program", &(program.clone() + "\n"))
        );
    }
    // The report lists every skipped program by id, with its reason.
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("lintseq_report.json")).unwrap()).unwrap();
    let mut listed: Vec<&str> = report["bad"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    listed.sort();
    assert_eq!(listed, ["broken", "empty", "huge", "in.jsonl:4"]);
}

#[test]
fn problems_and_samples_shards_are_detected_by_their_columns() {
    let dir = tempfile::tempdir().unwrap();
    let problems = ouro_problems::generate(&ouro_problems::GenerateOptions {
        count: 6,
        ..Default::default()
    })
    .unwrap();
    let pdir = dir.path().join("problems");
    std::fs::create_dir_all(&pdir).unwrap();
    ouro_data::shard::write_records(pdir.join("part-00000.parquet"), &problems).unwrap();
    let out = dir.path().join("out");
    let opts = LintseqOptions {
        sequences_per_program: 2,
        progress: false,
        ..Default::default()
    };
    let stats = run(&pdir, &out, &opts).unwrap();
    assert_eq!(stats.bad, vec![]);
    assert_eq!(stats.programs, 6);
    let rows: Vec<ouro_data::LintseqRecord> =
        ouro_data::shard::read_dir(out.join("lintseq")).unwrap();
    assert!(rows
        .iter()
        .all(|r| r.problem_id.is_some() && !r.prompt.is_empty()));
    assert_eq!(
        ouro_edits::input::detect_kind(&pdir).unwrap(),
        InputKind::Problems
    );

    let samples: Vec<ouro_data::Sample> = problems
        .iter()
        .enumerate()
        .map(|(i, p)| ouro_data::Sample {
            sample_id: format!("s{i}"),
            problem_id: p.problem_id.clone(),
            round: 0,
            index: 0,
            model: "m".into(),
            params: Default::default(),
            completion: p.reference_solution.clone().unwrap(),
            code: if i == 0 {
                None
            } else {
                p.reference_solution.clone()
            },
            extraction_error: None,
            finish_reason: None,
            generation_error: None,
            prompt_tokens: None,
            completion_tokens: None,
            logprob: None,
        })
        .collect();
    let sdir = dir.path().join("samples");
    std::fs::create_dir_all(&sdir).unwrap();
    ouro_data::shard::write_records(sdir.join("part-00000.parquet"), &samples).unwrap();
    assert_eq!(
        ouro_edits::input::detect_kind(&sdir).unwrap(),
        InputKind::Samples
    );
    let stats = run(
        &sdir,
        &dir.path().join("out2"),
        &LintseqOptions {
            problems: Some(pdir),
            ..opts
        },
    )
    .unwrap();
    assert_eq!(stats.programs, 5);
    assert_eq!(stats.bad.len(), 1);
    assert_eq!(stats.bad[0].id, "s0");
}

// Opt-in (needs the data from scripts/fetch-humaneval.sh or OURO_HUMANEVAL):
//   cargo test -p ouro-edits --release --test lintseq_sequences -- --ignored humaneval --nocapture
#[test]
#[ignore]
fn humaneval_statistics_match_the_reference_within_20_percent() {
    let Some(programs) = common::humaneval_programs() else {
        eprintln!(
            "HumanEval not found (set OURO_HUMANEVAL or run scripts/fetch-humaneval.sh): skipping"
        );
        return;
    };
    assert_eq!(programs.len(), 164);
    let (mut seqs, mut edits, mut lines) = (0usize, 0usize, 0usize);
    for (id, p) in &programs {
        let program_id = ouro_data::content_id("program", p);
        let r = sequences_for_program(p, &program_id, 1, 5, 10_000)
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(r.replay_failures, 0, "{id}");
        // Statistics over all 5 samples per program, as the reference counts them.
        let target = replay_target(p);
        for k in 0..5 {
            let mut rng = SplitMix64::new(ouro_edits::lintseq::sequence_seed(&program_id, 1, k));
            let path = sample_edit_path(p, &mut rng, ouro_edits::lintseq::lint_lines).unwrap();
            let diffs = diffs_of_states(&states(p, &path));
            assert_eq!(replay(&diffs).unwrap(), target, "{id}");
            seqs += 1;
            edits += diffs.len();
            lines += diffs.iter().map(|d| d.split('\n').count()).sum::<usize>();
        }
        check_program(p, 100..105);
    }
    let edits_per_seq = edits as f64 / seqs as f64;
    let lines_per_edit = lines as f64 / edits as f64;
    eprintln!("HumanEval: {seqs} sequences, {edits_per_seq:.2} edits/sequence (reference 5.70), {lines_per_edit:.2} diff lines/edit (reference 4.57)");
    assert!((edits_per_seq / 5.70 - 1.0).abs() <= 0.2, "{edits_per_seq}");
    assert!(
        (lines_per_edit / 4.57 - 1.0).abs() <= 0.2,
        "{lines_per_edit}"
    );
}

#[test]
fn programs_the_diffs_could_not_rebuild_are_skipped_with_the_reason() {
    // U+2028 inside a string literal: splitlines would break the literal in two.
    let e = sequences_for_program("def f():\n    return 'a\u{2028}b'\n", "p", 0, 2, 100)
        .unwrap_err()
        .to_string();
    assert!(e.contains("U+2028"), "{e}");
    let e = sequences_for_program("SEP = '<|diff|>'\nx = SEP\n", "p", 0, 2, 100)
        .unwrap_err()
        .to_string();
    assert!(e.contains("holds the edit separator"), "{e}");
}

#[test]
fn named_id_and_instruction_fields_are_read_or_refused_never_guessed() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("mbpp.jsonl");
    std::fs::write(
        &input,
        "{\"task_id\": 11, \"text\": \"Write f.\", \"code\": \"def f(a):\\n    return a + 1\\n\"}\n\
         {\"task_id\": 12, \"text\": [\"Write\", \"g.\"], \"code\": \"def g(b):\\n    return b\\n\"}\n",
    )
    .unwrap();
    let options = |instruction: &str| LintseqOptions {
        sequences_per_program: 1,
        kind: Some(InputKind::Jsonl),
        jsonl: JsonlFields {
            program: vec!["code".into()],
            instruction: Some(instruction.into()),
            id: Some("task_id".into()),
        },
        progress: false,
        ..Default::default()
    };
    // MBPP's integer ids are ids; a list where the instruction should be is an error.
    let e = run(&input, &dir.path().join("a"), &options("text")).unwrap_err();
    assert!(
        e.to_string()
            .contains("mbpp.jsonl:2: field 'text': expected a string, found an array"),
        "{e}"
    );
    let e = run(&input, &dir.path().join("b"), &options("txet")).unwrap_err();
    assert!(
        e.to_string()
            .contains("mbpp.jsonl:1: field 'txet': missing"),
        "{e}"
    );
    std::fs::write(
        &input,
        "{\"task_id\": 11, \"text\": \"Write f.\", \"code\": \"def f(a):\\n    return a + 1\\n\"}\n",
    )
    .unwrap();
    let out = dir.path().join("c");
    run(&input, &out, &options("text")).unwrap();
    let rows: Vec<ouro_data::LintseqRecord> =
        ouro_data::shard::read_dir(out.join("lintseq")).unwrap();
    assert_eq!(rows[0].problem_id.as_deref(), Some("11"));
    assert_eq!(rows[0].prompt, "Write f.");
}

#[test]
fn a_program_repeated_across_rows_is_sequenced_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let row = serde_json::json!({"id": "HumanEval/0", "q": "Sum xs.",
        "code": "def f(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total\n"});
    std::fs::write(&input, format!("{row}\n{row}\n{row}\n")).unwrap();
    let out = dir.path().join("out");
    let stats = run(
        &input,
        &out,
        &LintseqOptions {
            sequences_per_program: 3,
            kind: Some(InputKind::Jsonl),
            jsonl: JsonlFields {
                program: vec!["code".into()],
                instruction: Some("q".into()),
                id: Some("id".into()),
            },
            progress: false,
            ..Default::default()
        },
    )
    .unwrap();
    let rows: Vec<ouro_data::LintseqRecord> =
        ouro_data::shard::read_dir(out.join("lintseq")).unwrap();
    assert_eq!(rows.len(), 3);
    assert!(stats.duplicates >= 6, "{stats:?}");
}

#[test]
fn programs_holding_benchmark_text_are_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let row = |id: &str, code: &str| serde_json::json!({"id": id, "code": code}).to_string();
    std::fs::write(
        &input,
        format!(
            "{}\n{}\n",
            row("kept", "def f(a):\n    return a + 1\n"),
            row("benchmark", "def has_close_elements(xs):\n    return xs\n")
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let stats = run(
        &input,
        &out,
        &LintseqOptions {
            kind: Some(InputKind::Jsonl),
            jsonl: JsonlFields {
                program: vec!["code".into()],
                instruction: None,
                id: Some("id".into()),
            },
            exclude: Some(ouro_edits::Exclude::new(|t| {
                t.contains("has_close_elements")
            })),
            progress: false,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!((stats.decontaminated, stats.programs), (1, 1));
}
