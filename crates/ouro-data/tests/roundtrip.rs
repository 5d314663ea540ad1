//! Every record type survives a write/read cycle through Parquet unchanged.

use ouro_data::shard::{read_records, write_records};
use ouro_data::*;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    // Includes empty strings, newlines, quotes and non-ASCII text.
    prop_oneof![
        Just(String::new()),
        "[a-z_]{1,12}",
        "\\PC{0,40}",
        "(def f\\(x\\):\n    return x \\+ 1\n){1,3}",
    ]
}

fn tests_strategy() -> impl Strategy<Value = Tests> {
    prop_oneof![
        text().prop_map(|script| Tests::AssertScript { script }),
        vec((text(), text()), 0..4).prop_map(|cases| Tests::IoCases {
            cases: cases
                .into_iter()
                .map(|(input, output)| IoCase { input, output })
                .collect()
        }),
    ]
}

fn spans() -> impl Strategy<Value = Vec<WeightSpan>> {
    vec((0u32..1000, 0u32..1000, -4.0f32..4.0), 0..4).prop_map(|v| {
        v.into_iter()
            .map(|(start, end, weight)| WeightSpan { start, end, weight })
            .collect()
    })
}

prop_compose! {
    fn problem()(problem_id in text(), source in text(), prompt in text(), entry_point in text(),
                 starter_code in text(), reference_solution in option::of(text()),
                 tests in tests_strategy(), audit_tests in option::of(tests_strategy()),
                 difficulty in option::of(text()), tags in vec(text(), 0..4), split in text())
        -> Problem {
        Problem { problem_id, source, prompt, entry_point, language: "python".into(), starter_code,
                  reference_solution, tests, audit_tests, difficulty, tags, split }
    }
}

prop_compose! {
    fn sample()(problem_id in text(), round in any::<u32>(), index in any::<u32>(), model in text(),
                temperature in option::of(0.0f64..2.0), top_p in option::of(0.0f64..1.0),
                seed in option::of(any::<u64>()), max_tokens in option::of(any::<u32>()),
                completion in text(), code in option::of(text()), extraction_error in option::of(text()),
                finish_reason in option::of(text()), generation_error in option::of(text()),
                prompt_tokens in option::of(any::<u32>()), completion_tokens in option::of(any::<u32>()),
                logprob in option::of(-1e6f64..0.0))
        -> Sample {
        let sample_id = Sample::compute_id(&problem_id, round, &model, index, &completion);
        Sample { sample_id, problem_id, round, index, model,
                 params: RecordedSampling { temperature, top_p, seed, max_tokens },
                 completion, code, extraction_error, finish_reason, generation_error,
                 prompt_tokens, completion_tokens, logprob }
    }
}

fn verdict() -> impl Strategy<Value = Verdict> {
    prop_oneof![
        Just(Verdict::Pass),
        Just(Verdict::Fail),
        Just(Verdict::Error),
        Just(Verdict::Timeout),
        Just(Verdict::Oom),
        Just(Verdict::OutputLimit),
        Just(Verdict::SandboxError),
    ]
}

prop_compose! {
    fn execution()(sample_id in text(), problem_id in text(), audit in any::<bool>(), verdict in verdict(),
                   tests_passed in vec(any::<bool>(), 0..8), error_kind in option::of(text()),
                   stderr_tail in text(), cpu_ms in 0.0f64..1e6, wall_ms in 0.0f64..1e6,
                   max_rss_kb in any::<u64>(), lines_executed in option::of(any::<u64>()), limits in (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()),
                   isolation in text(), judge in prop_oneof![Just(Judge::InProcess), Just(Judge::Isolated), Just(Judge::Mixed)],
                   tests_digest in option::of(text()))
        -> Execution {
        Execution { sample_id, problem_id, suite: if audit { Suite::Audit } else { Suite::Filter }, verdict,
                    tests_passed, error_kind, stderr_tail, cpu_ms, wall_ms, max_rss_kb, lines_executed,
                    executor_version: "ouro-exec 0.1.0".into(),
                    limits: Limits { cpu_ms: limits.0, wall_ms: limits.1, memory_mb: limits.2, output_bytes: limits.3 },
                    isolation, judge, tests_digest }
    }
}

fn pair_kind() -> impl Strategy<Value = PairKind> {
    prop_oneof![
        Just(PairKind::Correctness),
        Just(PairKind::Efficiency),
        Just(PairKind::InjectedError),
        Just(PairKind::Repair),
    ]
}

fn roundtrip<T: Record + PartialEq + std::fmt::Debug>(rows: &[T]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("part-00000.parquet");
    assert_eq!(write_records(&path, rows).unwrap(), rows.len() as u64);
    let back: Vec<T> = read_records(&path).unwrap();
    assert_eq!(back, rows);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn problems_roundtrip(rows in vec(problem(), 0..6)) { roundtrip(&rows) }

    #[test]
    fn samples_roundtrip(rows in vec(sample(), 0..6)) { roundtrip(&rows) }

    #[test]
    fn executions_roundtrip(rows in vec(execution(), 0..6)) { roundtrip(&rows) }

    #[test]
    fn sft_roundtrip(rows in vec((text(), text(), option::of(text()), any::<u32>(), option::of(-10.0f64..10.0), spans()), 0..6)) {
        let rows: Vec<SftRecord> = rows.into_iter().map(|(prompt, completion, sample_id, round, score, weight_spans)| SftRecord {
            problem_id: prompt.clone(), prompt, completion, sample_id, round, origin: "sample".into(), score, weight_spans,
        }).collect();
        roundtrip(&rows)
    }

    #[test]
    fn dpo_roundtrip(rows in vec((text(), text(), text(), option::of(text()), pair_kind(), spans(), spans()), 0..6)) {
        let rows: Vec<DpoRecord> = rows.into_iter().map(|(prompt, chosen, rejected, sid, pair_kind, cs, rs)| DpoRecord {
            problem_id: "p".into(), prompt, chosen, rejected, chosen_sample_id: sid.clone(), rejected_sample_id: sid,
            round: 3, pair_kind, chosen_score: Some(1.0), rejected_score: None, chosen_spans: cs, rejected_spans: rs,
        }).collect();
        roundtrip(&rows)
    }

    #[test]
    fn lintseq_roundtrip(rows in vec((text(), text(), option::of(text()), any::<u64>(), any::<u32>()), 0..6)) {
        let rows: Vec<LintseqRecord> = rows.into_iter().map(|(prompt, completion, problem_id, seed, num_edits)| LintseqRecord {
            program_id: content_id("program", &completion), prompt, completion, problem_id, seed, num_edits,
        }).collect();
        roundtrip(&rows)
    }

    #[test]
    fn repair_roundtrip(rows in vec((vec((text(), text()), 0..4), text(), option::of(text())), 0..6)) {
        let rows: Vec<RepairRecord> = rows.into_iter().map(|(msgs, failing, fixed)| RepairRecord {
            messages: msgs.into_iter().map(|(role, content)| Message { role, content }).collect(),
            problem_id: "p".into(), failing_sample_id: failing, fixed_sample_id: fixed, round: 0,
        }).collect();
        roundtrip(&rows)
    }
}

#[test]
fn many_rows_span_several_batches_and_keep_order() {
    let rows: Vec<LintseqRecord> = (0..20_000u64)
        .map(|i| LintseqRecord {
            prompt: format!("p{i}"),
            completion: "x".repeat((i % 50) as usize),
            program_id: i.to_string(),
            problem_id: if i % 3 == 0 {
                None
            } else {
                Some(i.to_string())
            },
            seed: i,
            num_edits: (i % 7) as u32,
        })
        .collect();
    roundtrip(&rows);
}

#[test]
fn a_directory_whose_shards_repeat_a_problem_id_is_an_error_naming_both() {
    let problem = |id: &str, prompt: &str| Problem {
        problem_id: id.into(),
        source: "t".into(),
        prompt: prompt.into(),
        entry_point: "f".into(),
        language: "python".into(),
        starter_code: String::new(),
        reference_solution: None,
        tests: Tests::AssertScript {
            script: "assert f() == 1".into(),
        },
        audit_tests: None,
        difficulty: None,
        tags: Vec::new(),
        split: "test".into(),
    };
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
    write_records(&a, &[problem("p/0", "x"), problem("p/1", "y")]).unwrap();
    write_records(&b, &[problem("p/2", "z")]).unwrap();
    assert_eq!(shard::read_dir::<Problem>(dir.path()).unwrap().len(), 3);
    write_records(&b, &[problem("p/1", "other tests")]).unwrap();
    let e = shard::read_dir::<Problem>(dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("b.parquet") && e.contains("id 'p/1' is also in") && e.contains("a.parquet"),
        "{e}"
    );
}

#[test]
fn a_value_past_the_dictionary_limit_leaves_no_empty_data_page() {
    // A string of 1 MiB or more overflows the dictionary at a content-defined chunk
    // boundary; parquet 60.1 then wrote a data page of zero values there, and pyarrow
    // read the column as 0 rows (or failed) while this crate's reader still coped.
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let row = |i: u64, completion: String| LintseqRecord {
        prompt: format!("p{i}"),
        completion,
        program_id: i.to_string(),
        problem_id: None,
        seed: i,
        num_edits: 1,
    };
    let rows = vec![
        row(0, "hmm ".repeat(262_144 + 25)),
        row(1, "short".into()),
        row(2, "hmm ".repeat(262_144 + 25)),
        row(3, "x = 1\n".into()),
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("part-00000.parquet");
    write_records(&path, &rows).unwrap();
    let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
    for g in 0..reader.num_row_groups() {
        let group = reader.get_row_group(g).unwrap();
        for c in 0..group.num_columns() {
            let mut pages = group.get_column_page_reader(c).unwrap();
            while let Some(page) = pages.get_next_page().unwrap() {
                let data = !matches!(page, parquet::column::page::Page::DictionaryPage { .. });
                assert!(
                    !data || page.num_values() > 0,
                    "column {c} of row group {g} has an empty data page"
                );
            }
        }
    }
    let back: Vec<LintseqRecord> = read_records(&path).unwrap();
    assert_eq!(back, rows);
}
