//! The build stage end to end on hand-made shards (no executor needed):
//! problems + samples + executions → sft, dpo, repair configs and a card.

use ouro_data::shard::{read_dir, write_records};
use ouro_data::{
    DpoRecord, Execution, Judge, PairKind, Problem, RepairRecord, Sample, SftRecord, Suite, Tests,
    Verdict,
};
use ouro_rank::build::{
    build_dpo, build_mutants, build_repair, build_sft, BuildInputs, BuildOptions,
};
use ouro_rank::sft::Budget;

mod common;
use common::*;

#[test]
fn sft_selects_passing_deduplicated_samples_and_tops_up_references() {
    let f = fixture();
    let out = f.dir.path().join("out");
    let mut o = BuildOptions::default();
    o.sft.budget = Budget::Uniform { k: 4 };
    o.sft.reference_fraction = 0.5;
    let report = build_sft(&inputs(f.dir.path()), &o, &out).unwrap();
    let rows: Vec<SftRecord> = read_dir(out.join("sft")).unwrap();
    let samples: Vec<_> = rows.iter().filter(|r| r.origin == "sample").collect();
    // p-mixed: GOOD and SLOW (the commented copy of GOOD is an exact duplicate); p-all: GOOD.
    assert_eq!(samples.len(), 3, "{rows:#?}");
    assert!(samples
        .iter()
        .all(|r| r.completion != WRONG && r.completion != NEAR_MISS));
    let refs: Vec<_> = rows.iter().filter(|r| r.origin == "reference").collect();
    // 50% of 3 sample rows needs 3 references; p-none and p-empty (no sample rows) come
    // first, and p-mixed's reference is GOOD, a row it has already: 2 are available.
    assert_eq!(refs.len(), 2, "{refs:#?}");
    assert_eq!(refs[0].problem_id, "p-none");
    assert_eq!(report.selection["references_available"], 2);

    // A reference holding benchmark text is no row, attempted problem or not.
    let bench = f.dir.path().join("bench.parquet");
    write_records(&bench, &[problem("bench", Some(GOOD))]).unwrap();
    let mut with_bench = inputs(f.dir.path());
    with_bench.benchmarks = vec![bench];
    let out2 = f.dir.path().join("out-bench");
    build_sft(&with_bench, &o, &out2).unwrap();
    let rows2: Vec<SftRecord> = read_dir(out2.join("sft")).unwrap();
    assert!(rows2.iter().all(|r| r.origin != "reference"), "{rows2:#?}");

    // A reference is no row past its problem's cap.
    let mut capped = o.clone();
    capped.sft.max_per_problem = 1;
    let out3 = f.dir.path().join("out-cap");
    build_sft(&inputs(f.dir.path()), &capped, &out3).unwrap();
    let rows3: Vec<SftRecord> = read_dir(out3.join("sft")).unwrap();
    for pid in ["p-mixed", "p-none", "p-all", "p-empty"] {
        assert!(
            rows3.iter().filter(|r| r.problem_id == pid).count() <= 1,
            "{pid}"
        );
    }
    assert_eq!(report.pool["dedup"]["exact_duplicates"], 1);
    assert_eq!(report.pool["executions_of_unknown_samples"], 1);
    assert_eq!(report.pool["problems_without_passing_sample"], 1);
    assert_eq!(report.pool["problems_with_only_passing_samples"], 1);
    assert_eq!(report.pool["problems_without_samples"], 1);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.starts_with("1 executions refer to unknown samples")),
        "{:?}",
        report.warnings
    );
    // p-all has no failing sample to pair with, which SFT rows do not need.
    assert!(
        !report
            .warnings
            .iter()
            .any(|w| w.contains("correctness pairs")),
        "{:?}",
        report.warnings
    );
    // SLOW passed the filter but failed the audit: 1 of 2 audited.
    assert_eq!(report.metrics.false_positive_rate, Some(0.5));
    // B-STaR: p-mixed min(2,8)/8·2/5 = 0.1, p-none 0, p-all 1/8·1/1 = 0.125; p-empty has no attempts.
    let balance = report.metrics.bstar_balance.unwrap();
    assert!((balance - 0.225 / 3.0).abs() < 1e-12, "{balance}");
    // pass@1 is the mean pass fraction: (3/5 + 0 + 1) / 3.
    assert!((report.metrics.pass_at_k[0].1.unwrap() - 1.6 / 3.0).abs() < 1e-12);
    let card = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(card.contains("config_name: sft"));
    assert!(card.contains("false-positive rate"));
    assert!(card.contains("Input warnings"));
    // Whole programs repeat a code prompt; the card says how to train them.
    assert!(
        card.contains("`--completion-format code`: each completion")
            && card.contains("holds the prompt twice"),
        "{card}"
    );
}

#[test]
fn dpo_builds_correctness_efficiency_and_repair_pairs() {
    let f = fixture();
    let out = f.dir.path().join("out");
    let o = BuildOptions::default();
    let report = build_dpo(&inputs(f.dir.path()), &o, &out).unwrap();
    let rows: Vec<DpoRecord> = read_dir(out.join("dpo")).unwrap();
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.starts_with("1 problems have only passing samples (no correctness pairs)")),
        "{:?}",
        report.warnings
    );
    let kinds = |k: PairKind| rows.iter().filter(|r| r.pair_kind == k).collect::<Vec<_>>();
    let correctness = kinds(PairKind::Correctness);
    assert_eq!(correctness.len(), 2, "{rows:#?}");
    // Hardest negative first: the near miss is far more similar to GOOD than WRONG is.
    assert_eq!(correctness[0].rejected, NEAR_MISS);
    let eff = kinds(PairKind::Efficiency);
    assert_eq!(eff.len(), 1);
    assert_eq!(eff[0].chosen, GOOD);
    assert_eq!(
        eff[0].chosen_score,
        Some(120.0),
        "lines: largest of 100, 120, 110"
    );
    assert_eq!(eff[0].rejected_score, Some(4000.0));
    // The clock-based measure stays available, on the median CPU time.
    let mut by_time = BuildOptions::default();
    by_time.pairs.efficiency_measure = ouro_rank::pairs::EfficiencyMeasure::CpuTime;
    let out_time = f.dir.path().join("out-time");
    build_dpo(&inputs(f.dir.path()), &by_time, &out_time).unwrap();
    let rows_time: Vec<DpoRecord> = read_dir(out_time.join("dpo")).unwrap();
    let eff_time: Vec<_> = rows_time
        .iter()
        .filter(|r| r.pair_kind == PairKind::Efficiency)
        .collect();
    assert_eq!(eff_time.len(), 1);
    assert_eq!(eff_time[0].chosen_score, Some(11.0), "median of 10, 12, 11");
    assert_eq!(eff_time[0].rejected_score, Some(400.0));
    let rep = kinds(PairKind::Repair);
    assert!(!rep.is_empty());
    assert!(rep[0].prompt.contains("AssertionError"));
    // No mutant was executed, so no injected-error pair, and the report says why; only a
    // caller who named injected_error gets a warning.
    assert!(kinds(PairKind::InjectedError).is_empty());
    assert_eq!(report.selection["note"], "no executed mutants");
    let mutants_warning = |r: &ouro_rank::build::BuildReport| {
        r.warnings.iter().any(|w| w.contains("ouro build mutants"))
    };
    assert!(!mutants_warning(&report));
    let mut named = BuildOptions::default();
    named.pairs.injected_error_requested = true;
    let named_report = build_dpo(
        &inputs(f.dir.path()),
        &named,
        &f.dir.path().join("out-named"),
    )
    .unwrap();
    assert!(mutants_warning(&named_report));
}

#[test]
fn injected_error_pairs_use_only_executed_failing_mutants() {
    let f = fixture();
    let root = f.dir.path();
    let mut o = BuildOptions::default();
    o.pairs.kinds = vec![PairKind::InjectedError];
    o.pairs.max_pairs_per_problem = 10;
    let n = build_mutants(&inputs(root), &o, &root.join("mutants")).unwrap();
    assert!(n > 0);
    let mutants: Vec<Sample> = read_dir(root.join("mutants")).unwrap();
    // Stand-in for the executor: the first mutant survives (passes), the rest fail.
    let mut all_samples = f.samples.clone();
    all_samples.extend(mutants.iter().cloned());
    let mut execs: Vec<Execution> = read_dir(root.join("executions")).unwrap();
    for (i, m) in mutants.iter().enumerate() {
        execs.push(exec(m, Suite::Filter, &[true, i == 0], 5.0));
    }
    write_records(root.join("samples/part-00000.parquet"), &all_samples).unwrap();
    write_records(root.join("executions/part-00000.parquet"), &execs).unwrap();
    let out = root.join("out");
    let report = build_dpo(&inputs(root), &o, &out).unwrap();
    let rows: Vec<DpoRecord> = read_dir(out.join("dpo")).unwrap();
    assert_eq!(report.selection["mutants_survived"], 1);
    assert!(!rows.is_empty());
    for r in &rows {
        assert_eq!(r.pair_kind, PairKind::InjectedError);
        assert!(mutants
            .iter()
            .skip(1)
            .any(|m| m.code.as_deref() == Some(r.rejected.as_str())));
        let span = r.rejected_spans[0];
        let edited: String = r
            .rejected
            .chars()
            .skip(span.start as usize)
            .take((span.end - span.start) as usize)
            .collect();
        let orig: String = r
            .chosen
            .chars()
            .skip(r.chosen_spans[0].start as usize)
            .take((r.chosen_spans[0].end - r.chosen_spans[0].start) as usize)
            .collect();
        assert_ne!(edited, orig, "spans cover the edit: {r:#?}");
        assert!(span.weight > 1.0);
    }
    // With correctness pairs too, a pair both kinds make is written once: p-all's model
    // also wrote one of its failing mutants.
    let twin = mutants
        .iter()
        .skip(1)
        .find(|m| m.problem_id == "p-all")
        .expect("p-all has failing mutants");
    let own = sample("p-all", 5, twin.code.as_deref().unwrap());
    execs.push(exec(&own, Suite::Filter, &[true, false], 5.0));
    all_samples.push(own);
    write_records(root.join("samples/part-00000.parquet"), &all_samples).unwrap();
    write_records(root.join("executions/part-00000.parquet"), &execs).unwrap();
    let mut both = o.clone();
    both.pairs.kinds = vec![PairKind::Correctness, PairKind::InjectedError];
    let out_both = root.join("out-both");
    let report = build_dpo(&inputs(root), &both, &out_both).unwrap();
    let rows: Vec<DpoRecord> = read_dir(out_both.join("dpo")).unwrap();
    let mut texts: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| (r.prompt.as_str(), r.chosen.as_str(), r.rejected.as_str()))
        .collect();
    let n_rows = texts.len();
    texts.sort();
    texts.dedup();
    assert_eq!(texts.len(), n_rows, "{:?}", report.selection);
    assert!(
        report.selection["repeated_pairs"].as_u64().unwrap() >= 1,
        "{:?}",
        report.selection
    );
    // Mutants never become SFT candidates.
    let sft = build_sft(&inputs(root), &o, &out).unwrap();
    assert_eq!(sft.pool["mutant_samples"].as_u64(), Some(n as u64));
}

#[test]
fn repair_records_hold_prompt_failing_code_feedback_and_fix() {
    let f = fixture();
    let out = f.dir.path().join("out");
    let mut o = BuildOptions::default();
    o.repair.min_similarity = 0.0;
    build_repair(&inputs(f.dir.path()), &o, &out).unwrap();
    let rows: Vec<RepairRecord> = read_dir(out.join("repair")).unwrap();
    assert_eq!(
        rows.len(),
        2,
        "one per failing sample of p-mixed; p-none has no fix"
    );
    // By default a fix must resemble the failing program: `return 2` is no
    // draft of GOOD, the near miss is.
    let strict = f.dir.path().join("strict");
    let report = build_repair(&inputs(f.dir.path()), &BuildOptions::default(), &strict).unwrap();
    let kept: Vec<RepairRecord> = read_dir(strict.join("repair")).unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].messages[1].content, NEAR_MISS);
    assert_eq!(report.selection["fix_too_dissimilar"], 1);
    let card = std::fs::read_to_string(strict.join("README.md")).unwrap();
    assert!(card.contains("fixes less similar than 0.5"), "{card}");
    // TRL's assistant-only loss would train the failing turn too: the card says so.
    assert!(
        card.contains("TRL's `assistant_only_loss = True` trains every assistant turn"),
        "{card}"
    );
    let r = rows
        .iter()
        .find(|r| r.messages[1].content == NEAR_MISS)
        .expect("near miss repaired");
    let roles: Vec<&str> = r.messages.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant"]);
    assert_eq!(r.messages[1].content, NEAR_MISS);
    assert!(r.messages[2]
        .content
        .contains("Verdict: fail (AssertionError)"));
    assert!(r.messages[2].content.contains("Passed 0 of 2 tests"));
    // The assert it failed first, as the official self-debug feedback shows it.
    assert!(
        r.messages[2]
            .content
            .contains("Failed test 1:\nassert f(1) == 2\n"),
        "{}",
        r.messages[2].content
    );
    // WRONG failed only the first test, so that one is named, not the second.
    let wrong = rows
        .iter()
        .find(|r| r.messages[1].content == WRONG)
        .expect("wrong repaired");
    assert!(
        wrong.messages[2]
            .content
            .contains("Passed 1 of 2 tests.\nFailed test 1:\nassert f(1) == 2\n"),
        "{}",
        wrong.messages[2].content
    );
    assert_eq!(r.messages[3].content, GOOD);
}

#[test]
fn decontamination_drops_problems_and_samples_that_overlap_the_eval_set() {
    let f = fixture();
    let root = f.dir.path();
    let mut eval = problem("eval-0", Some(SLOW));
    eval.prompt = "Write f for p-all.".into();
    write_records(root.join("eval.parquet"), &[eval]).unwrap();
    let mut inp = inputs(root);
    inp.eval_problems = Some(root.join("eval.parquet"));
    let mut o = BuildOptions::default();
    o.decontaminate.rule = ouro_rank::decontam::DecontamRule::Ngram;
    o.decontaminate.ngram = 8;
    let report = build_sft(&inp, &o, &root.join("out")).unwrap();
    assert_eq!(report.pool["decontaminated_problems"], 1);
    assert!(report.pool["decontaminated_samples"].as_u64().unwrap() >= 2);
    let rows: Vec<SftRecord> = read_dir(root.join("out/sft")).unwrap();
    assert!(rows
        .iter()
        .all(|r| r.problem_id != "p-all" && r.completion != SLOW));
}

#[test]
fn the_default_rule_drops_samples_holding_a_benchmark_solution_and_says_so_in_the_card() {
    let f = fixture();
    let root = f.dir.path();
    // A benchmark whose reference solution is SLOW, re-indented and upper-cased.
    let eval = problem("bench-0", Some(&SLOW.to_uppercase().replace("    ", "\t")));
    write_records(root.join("bench.parquet"), &[eval]).unwrap();
    let mut inp = inputs(root);
    inp.benchmarks = vec![root.join("bench.parquet")];
    let report = build_sft(&inp, &BuildOptions::default(), &root.join("out")).unwrap();
    assert_eq!(report.pool["decontaminated_problems"], 0);
    assert!(report.pool["decontaminated_samples"].as_u64().unwrap() >= 1);
    let rows: Vec<SftRecord> = read_dir(root.join("out/sft")).unwrap();
    assert!(rows.iter().all(|r| r.completion != SLOW));
    let card = std::fs::read_to_string(root.join("out/README.md")).unwrap();
    assert!(card.contains("humaneval (built in)"), "{card}");
    assert!(card.contains("bench.parquet"), "{card}");
    assert!(report
        .warnings
        .iter()
        .any(|w| w.starts_with("decontamination")));
}

#[test]
fn generated_tests_become_a_problem_set_and_their_matrix_drives_the_ranking() {
    let f = fixture();
    let root = f.dir.path();
    let p = problem("p-mixed", None);
    let test_sample = |i: u32, text: &str| {
        let mut s = sample("p-mixed", 100 + i, "x = 1\n");
        s.completion = text.into();
        s
    };
    let tests = vec![
        test_sample(0, "Tests:\nassert f(1) == 2\nassert f(3) == 4\nassert f(\n"),
        test_sample(1, "assert f(1) == 2\nassert f(5) == 6 and\n"),
    ];
    write_records(root.join("tests.parquet"), &tests).unwrap();
    write_records(root.join("p.parquet"), &[p]).unwrap();
    let python = std::process::Command::new("python3")
        .arg("-c")
        .arg("pass")
        .status()
        .is_ok_and(|s| s.success());
    let rep = ouro_rank::build::build_generated_tests(
        &root.join("p.parquet"),
        &root.join("tests.parquet"),
        &root.join("gen"),
        5,
        50,
        python.then_some("python3"),
    )
    .unwrap();
    let gen: Vec<Problem> = read_dir(root.join("gen")).unwrap();
    assert_eq!(rep.problems_with_tests, 1);
    // `assert f(` is unbalanced and dropped by the light check; `... and` only by compile().
    let want = if python {
        "assert f(1) == 2\nassert f(3) == 4\n"
    } else {
        "assert f(1) == 2\nassert f(3) == 4\nassert f(5) == 6 and\n"
    };
    assert_eq!(
        gen[0].tests,
        Tests::AssertScript {
            script: want.into()
        }
    );

    // Ranking executions where the slow program wins every generated test and
    // the fast one fails some: the slow one becomes the top SFT row.
    let ranking = vec![
        exec(&f.samples[0], Suite::Filter, &[true, false], 1.0),
        exec(&f.samples[1], Suite::Filter, &[true, true], 1.0),
    ];
    write_records(root.join("ranking.parquet"), &ranking).unwrap();
    let mut inp = inputs(root);
    inp.ranking_executions = Some(root.join("ranking.parquet"));
    let mut o = BuildOptions::default();
    o.sft.budget = Budget::Uniform { k: 1 };
    build_sft(&inp, &o, &root.join("out")).unwrap();
    let rows: Vec<SftRecord> = read_dir(root.join("out/sft")).unwrap();
    let mixed: Vec<_> = rows.iter().filter(|r| r.problem_id == "p-mixed").collect();
    assert_eq!(mixed.len(), 1);
    assert_eq!(mixed[0].completion, SLOW);
}

#[test]
fn require_isolated_leaves_out_problems_with_a_pass_judged_in_process() {
    let problems = vec![
        problem("iso", None),
        problem("inproc", None),
        problem("failing", None),
    ];
    let a = sample("iso", 0, "def f():\n    return 1\n");
    let b = sample("inproc", 0, "def f():\n    return 1\n");
    let c = sample("failing", 0, "def f():\n    return 1\n");
    let mut e1 = exec(&a, Suite::Filter, &[true], 1.0);
    e1.judge = Judge::Isolated;
    let e2 = exec(&b, Suite::Filter, &[true], 1.0);
    // A failure judged in process cannot have been forged into a pass.
    let e3 = exec(&c, Suite::Filter, &[false], 1.0);
    assert_eq!(e2.verdict, Verdict::Pass);
    let (kept, left_out) = ouro_rank::build::isolated_problems(&problems, &[e1, e2, e3]);
    let ids: Vec<&str> = kept.iter().map(|p| p.problem_id.as_str()).collect();
    assert_eq!((ids, left_out), (vec!["iso", "failing"], 1));
}

#[test]
fn a_failing_group_that_outranks_every_pass_never_drops_a_correctness_pair() {
    let f = fixture();
    let root = f.dir.path();
    // On the generated tests the two failing programs agree and win; the
    // passing ones fail them. Labels still come from the filter suite.
    let ranking = vec![
        exec(&f.samples[0], Suite::Filter, &[false, false, false], 1.0),
        exec(&f.samples[1], Suite::Filter, &[false, false, false], 1.0),
        exec(&f.samples[2], Suite::Filter, &[true, true, true], 1.0),
        exec(&f.samples[3], Suite::Filter, &[true, true, true], 1.0),
    ];
    write_records(root.join("ranking.parquet"), &ranking).unwrap();
    let mut inp = inputs(root);
    inp.ranking_executions = Some(root.join("ranking.parquet"));
    for ranker in ["codet", "b4", "pagerank", "pass_rate"] {
        let mut o = BuildOptions {
            ranker: ouro_rank::rankers::Ranker::parse(ranker).unwrap(),
            ..BuildOptions::default()
        };
        o.pairs.kinds = vec![PairKind::Correctness];
        let out = root.join(format!("out-{ranker}"));
        let report = build_dpo(&inp, &o, &out).unwrap();
        let rows: Vec<DpoRecord> = read_dir(out.join("dpo")).unwrap();
        assert!(
            rows.iter().any(|r| r.problem_id == "p-mixed"),
            "{ranker}: {:?}",
            report.selection
        );
        assert!(
            report.selection["score_inversions"].as_u64().unwrap() >= 1,
            "{ranker}"
        );
        assert_eq!(report.pool["ranker_not_converged"], 0, "{ranker}");
    }
}

#[test]
fn continuation_rows_leave_out_programs_that_do_not_start_with_the_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    const PROMPT: &str = "def f(x):\n";
    let mut p = problem("p", Some("def f(x):\n    return x + 1\n"));
    p.prompt = PROMPT.into();
    let mut q = problem("q", Some("import math\n\ndef f(x):\n    return x + 1\n"));
    q.prompt = PROMPT.into();
    let continued = sample("p", 0, &format!("{PROMPT}    return x + 1\n"));
    let rewritten = sample("p", 1, "import math\n\ndef f(x):\n    return 1 + x\n");
    let wrong = sample("p", 2, &format!("{PROMPT}    return 2\n"));
    let wrong_whole = sample(
        "p",
        3,
        "def g(x):\n    return 2\n\ndef f(x):\n    return g(x)\n",
    );
    let s = vec![continued, rewritten, wrong, wrong_whole];
    let e = vec![
        exec(&s[0], Suite::Filter, &[true, true], 1.0),
        exec(&s[1], Suite::Filter, &[true, true], 1.0),
        exec(&s[2], Suite::Filter, &[false, true], 1.0),
        exec(&s[3], Suite::Filter, &[false, true], 1.0),
    ];
    write_inputs(root, &[p, q], &s, &e);

    let mut o = BuildOptions {
        completion_format: ouro_rank::pairs::CompletionFormat::Continuation,
        ..BuildOptions::default()
    };
    o.sft.reference_fraction = 0.5;
    let out = root.join("out");
    let report = build_sft(&inputs(root), &o, &out).unwrap();
    let rows: Vec<SftRecord> = read_dir(out.join("sft")).unwrap();
    // The rewritten pass and q's reference (which opens with an import) would
    // be written whole after the prompt: a second signature. p's reference is the
    // program of its one row, so no second row.
    let completions: Vec<&str> = rows.iter().map(|r| r.completion.as_str()).collect();
    assert_eq!(completions, vec!["    return x + 1\n"], "{rows:#?}");
    assert_eq!(report.pool["not_continuations"], 3, "{:?}", report.pool);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("cannot be written as its continuation")),
        "{:?}",
        report.warnings
    );

    o.pairs.kinds = vec![PairKind::Correctness];
    let report = build_dpo(&inputs(root), &o, &out).unwrap();
    let pairs: Vec<DpoRecord> = read_dir(out.join("dpo")).unwrap();
    assert_eq!(pairs.len(), 1, "{pairs:#?}");
    assert_eq!(
        (pairs[0].chosen.as_str(), pairs[0].rejected.as_str()),
        ("    return x + 1\n", "    return 2\n")
    );
    assert_eq!(report.pool["not_continuations"], 3);
}

#[test]
fn requests_the_server_failed_are_not_attempts() {
    // p-all passes 1 of 1; three expired requests beside it must not make it 1 of 4
    // (pass@1, DART's failure rate and B-STaR all read attempts).
    let f = fixture();
    let mut samples = f.samples.clone();
    let mut execs: Vec<Execution> = read_dir(f.dir.path().join("executions")).unwrap();
    for i in 1..4 {
        let mut s = sample("p-all", i, "");
        s.code = None;
        s.completion = String::new();
        s.sample_id = format!("expired-{i}");
        s.finish_reason = Some("error".into());
        s.generation_error = Some("batch error: expired".into());
        let mut e = exec(&s, Suite::Filter, &[false, false], 0.0);
        e.verdict = Verdict::Error;
        e.error_kind = Some("no_code".into());
        execs.push(e);
        samples.push(s);
    }
    write_records(f.dir.path().join("samples/part-00000.parquet"), &samples).unwrap();
    write_records(f.dir.path().join("executions/part-00000.parquet"), &execs).unwrap();
    let out = f.dir.path().join("out");
    let report = build_sft(&inputs(f.dir.path()), &BuildOptions::default(), &out).unwrap();
    assert!((report.metrics.pass_at_k[0].1.unwrap() - 1.6 / 3.0).abs() < 1e-12);
}

/// Inputs that would skew the data silently: the same samples read twice (each attempt
/// counted twice), a NaN cost (sorted as the costliest, so the efficient program
/// rejected), ranking executions of other samples (every score 0).
#[test]
fn inputs_that_would_skew_the_data_are_errors() {
    let f = fixture();
    let root = f.dir.path();
    let o = BuildOptions::default();
    let err = |inputs: &BuildInputs, out: &str| {
        build_sft(inputs, &o, &root.join(out))
            .unwrap_err()
            .to_string()
    };
    let mut twice = inputs(root);
    twice.more_samples = vec![root.join("samples")];
    let e = err(&twice, "o1");
    assert!(e.contains("is read twice"), "{e}");

    let mut e_nan: Vec<Execution> = read_dir(root.join("executions")).unwrap();
    e_nan[0].cpu_ms = f64::NAN;
    std::fs::create_dir_all(root.join("nan")).unwrap();
    write_records(root.join("nan/part-00000.parquet"), &e_nan).unwrap();
    let mut nan = inputs(root);
    nan.executions = root.join("nan");
    let e = err(&nan, "o2");
    assert!(e.contains("cpu_ms = NaN"), "{e}");

    let mut other: Vec<Execution> = read_dir(root.join("executions")).unwrap();
    for x in &mut other {
        x.sample_id = format!("other-{}", x.sample_id);
    }
    std::fs::create_dir_all(root.join("other")).unwrap();
    write_records(root.join("other/part-00000.parquet"), &other).unwrap();
    let mut ranking = inputs(root);
    ranking.ranking_executions = Some(root.join("other"));
    let e = err(&ranking, "o3");
    assert!(e.contains("were they run on other samples"), "{e}");
}
