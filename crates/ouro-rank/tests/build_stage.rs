//! The build stage end to end on hand-made shards (no executor needed):
//! problems + samples + executions → sft, dpo, repair configs and a card.

use std::path::Path;

use ouro_data::shard::{read_dir, write_records};
use ouro_data::{
    DpoRecord, Execution, Judge, Limits, PairKind, Problem, RecordedSampling, RepairRecord, Sample,
    SftRecord, Suite, Tests, Verdict,
};
use ouro_rank::build::{
    build_dpo, build_mutants, build_repair, build_sft, BuildInputs, BuildOptions,
};
use ouro_rank::sft::Budget;

fn problem(id: &str, reference: Option<&str>) -> Problem {
    Problem {
        problem_id: id.into(),
        source: "test".into(),
        prompt: format!("Write f for {id}."),
        entry_point: "f".into(),
        language: "python".into(),
        starter_code: String::new(),
        reference_solution: reference.map(str::to_string),
        tests: Tests::AssertScript {
            script: "assert f(1) == 2\nassert f(2) == 3".into(),
        },
        audit_tests: None,
        difficulty: None,
        tags: vec![],
        split: "train".into(),
    }
}

fn sample(pid: &str, index: u32, code: &str) -> Sample {
    let completion = format!("Here you go:\n```python\n{code}```\n");
    Sample {
        sample_id: Sample::compute_id(pid, 1, "m", index, &completion),
        problem_id: pid.into(),
        round: 1,
        index,
        model: "m".into(),
        params: RecordedSampling::default(),
        completion,
        code: Some(code.into()),
        extraction_error: None,
        finish_reason: Some("stop".into()),
        generation_error: None,
        prompt_tokens: None,
        completion_tokens: None,
        logprob: None,
    }
}

fn exec(s: &Sample, suite: Suite, tests: &[bool], cpu_ms: f64) -> Execution {
    let pass = tests.iter().all(|&t| t);
    Execution {
        sample_id: s.sample_id.clone(),
        problem_id: s.problem_id.clone(),
        suite,
        verdict: if pass { Verdict::Pass } else { Verdict::Fail },
        tests_passed: tests.to_vec(),
        error_kind: (!pass).then(|| "AssertionError".to_string()),
        stderr_tail: if pass {
            String::new()
        } else {
            "Traceback...\nAssertionError: f(2) == 3".into()
        },
        cpu_ms,
        wall_ms: cpu_ms,
        max_rss_kb: 1000,
        lines_executed: Some((cpu_ms * 10.0).round() as u64),
        executor_version: "test".into(),
        limits: Limits::default(),
        isolation: "none".into(),
        judge: Judge::InProcess,
        tests_digest: None,
    }
}

const GOOD: &str = "def f(x):\n    if x > 0:\n        return x + 1\n    return 1 + x\n";
const SLOW: &str = "def f(x):\n    total = 0\n    for _ in range(1000000):\n        total += 0\n    return x + 1 + total\n";
const NEAR_MISS: &str = "def f(x):\n    if x > 0:\n        return x + 2\n    return 1 + x\n";
const WRONG: &str = "def f(x):\n    return 2\n";

struct Fixture {
    dir: tempfile::TempDir,
    samples: Vec<Sample>,
}

/// p-mixed: passing, slow passing, failing; p-none: only failing;
/// p-all: only passing; p-empty: nothing. Plus one execution of an unknown sample.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let problems = vec![
        problem("p-mixed", Some(GOOD)),
        problem("p-none", Some(GOOD)),
        problem("p-all", None),
        problem("p-empty", Some(GOOD)),
    ];
    let s = vec![
        sample("p-mixed", 0, GOOD),
        sample("p-mixed", 1, SLOW),
        sample("p-mixed", 2, NEAR_MISS),
        sample("p-mixed", 3, WRONG),
        sample(
            "p-mixed",
            4,
            &format!("{GOOD}# same program, other comment\n"),
        ),
        sample("p-none", 0, WRONG),
        sample("p-all", 0, GOOD),
    ];
    let mut e = vec![
        exec(&s[0], Suite::Filter, &[true, true], 10.0),
        exec(&s[0], Suite::Filter, &[true, true], 12.0),
        exec(&s[0], Suite::Filter, &[true, true], 11.0),
        exec(&s[1], Suite::Filter, &[true, true], 400.0),
        exec(&s[2], Suite::Filter, &[false, false], 10.0),
        exec(&s[3], Suite::Filter, &[false, true], 10.0),
        exec(&s[4], Suite::Filter, &[true, true], 10.0),
        exec(&s[5], Suite::Filter, &[false, false], 10.0),
        exec(&s[6], Suite::Filter, &[true, true], 10.0),
        exec(&s[0], Suite::Audit, &[true], 10.0),
        exec(&s[1], Suite::Audit, &[false], 10.0),
    ];
    let mut ghost = exec(&s[0], Suite::Filter, &[true, true], 1.0);
    ghost.sample_id = "no-such-sample".into();
    e.push(ghost);
    write_records(dir.path().join("problems.parquet"), &problems).unwrap();
    std::fs::create_dir_all(dir.path().join("samples")).unwrap();
    write_records(dir.path().join("samples/part-00000.parquet"), &s).unwrap();
    std::fs::create_dir_all(dir.path().join("executions")).unwrap();
    write_records(dir.path().join("executions/part-00000.parquet"), &e).unwrap();
    Fixture { dir, samples: s }
}

fn inputs(root: &Path) -> BuildInputs {
    BuildInputs {
        problems: root.join("problems.parquet"),
        samples: root.join("samples"),
        executions: root.join("executions"),
        more_samples: Vec::new(),
        more_executions: Vec::new(),
        eval_problems: None,
        benchmarks: Vec::new(),
        ranking_executions: None,
        ranking_suite: ouro_data::Suite::Filter,
    }
}

/// `problems.parquet`, `samples/` and `executions/` under `root`, as [`inputs`] reads them.
fn write_inputs(root: &Path, problems: &[Problem], samples: &[Sample], executions: &[Execution]) {
    write_records(root.join("problems.parquet"), problems).unwrap();
    std::fs::create_dir_all(root.join("samples")).unwrap();
    write_records(root.join("samples/part-00000.parquet"), samples).unwrap();
    std::fs::create_dir_all(root.join("executions")).unwrap();
    write_records(root.join("executions/part-00000.parquet"), executions).unwrap();
}

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

/// A one-token failing variant of a passing program is the hardest negative, not a near
/// duplicate of it: near-dedup removed it, and with it the correctness pair, the repair
/// pair and the repair record. A repair pair's fix must resemble the attempt, as a
/// repair record's must.
#[test]
fn a_near_miss_failure_is_kept_as_a_negative_and_a_repair_fix_must_resemble_it() {
    let long: String = (0..14)
        .map(|i| format!("    total = total + values[{i}] * {i}\n"))
        .collect();
    let pass = format!("def f(values):\n    total = 0\n{long}    return total\n");
    let near = pass.replace("values[3] * 3", "values[3] / 3");
    let unrelated = "import functools\ndef f(values):\n    return functools.reduce(lambda a, b: a * b, values, 7)\n";
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let s = vec![
        sample("p", 0, &pass),
        sample("p", 1, &near),
        sample("q", 0, "def f(x):\n    return max(x)\n"),
        sample("q", 1, unrelated),
    ];
    let e = vec![
        exec(&s[0], Suite::Filter, &[true, true], 10.0),
        exec(&s[1], Suite::Filter, &[true, false], 10.0),
        exec(&s[2], Suite::Filter, &[true, true], 10.0),
        exec(&s[3], Suite::Filter, &[false, false], 10.0),
    ];
    write_inputs(root, &[problem("p", None), problem("q", None)], &s, &e);
    let mut o = BuildOptions::default();
    o.pairs.kinds = vec![PairKind::Correctness, PairKind::Repair];
    let report = build_dpo(&inputs(root), &o, &root.join("dpo-out")).unwrap();
    let rows: Vec<DpoRecord> = read_dir(root.join("dpo-out/dpo")).unwrap();
    let kinds = |pid: &str| -> Vec<PairKind> {
        rows.iter()
            .filter(|r| r.problem_id == pid)
            .map(|r| r.pair_kind)
            .collect()
    };
    assert_eq!(
        kinds("p"),
        vec![PairKind::Correctness, PairKind::Repair],
        "{:?}",
        report.pool
    );
    assert!(rows
        .iter()
        .any(|r| r.problem_id == "p" && r.rejected.contains("values[3] / 3")));
    // q's only passing program is no fix of its failure: a correctness pair, no repair pair.
    assert_eq!(kinds("q"), vec![PairKind::Correctness]);
    assert_eq!(report.selection["repair_fix_too_dissimilar"], 1);
    build_repair(
        &inputs(root),
        &BuildOptions::default(),
        &root.join("repair-out"),
    )
    .unwrap();
    let records: Vec<RepairRecord> = read_dir(root.join("repair-out/repair")).unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
}

/// A verdict on tests the problem no longer has labels a program by tests it never ran
/// ("Passed 2 of 4" for a problem with 3): the build names it and stops.
#[test]
fn executions_judged_against_changed_tests_are_refused() {
    let f = fixture();
    let root = f.dir.path();
    let problems: Vec<Problem> =
        ouro_data::shard::read_path(root.join("problems.parquet")).unwrap();
    let mixed = problems.iter().find(|p| p.problem_id == "p-mixed").unwrap();
    let mut e: Vec<Execution> = read_dir(root.join("executions")).unwrap();
    e.retain(|x| x.sample_id != "no-such-sample");
    for x in e.iter_mut() {
        let p = problems
            .iter()
            .find(|p| p.problem_id == x.problem_id)
            .unwrap();
        x.tests_digest = p.tests_digest(x.suite);
    }
    write_records(root.join("executions/part-00000.parquet"), &e).unwrap();
    build_sft(&inputs(root), &BuildOptions::default(), &root.join("ok")).unwrap();
    let mut changed = mixed.clone();
    changed.tests = Tests::AssertScript {
        script: "assert f(1) == 3".into(),
    };
    let others: Vec<Problem> = problems
        .iter()
        .map(|p| {
            if p.problem_id == "p-mixed" {
                changed.clone()
            } else {
                p.clone()
            }
        })
        .collect();
    write_records(root.join("problems.parquet"), &others).unwrap();
    let err = build_sft(&inputs(root), &BuildOptions::default(), &root.join("stale"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("judged against other Filter tests than problem 'p-mixed'"),
        "{err}"
    );
}

/// With --min-score-margin, a passing program no failing one is far enough below is
/// passed over; pairing stopped at it, and the others' pairs were lost.
#[test]
fn a_passing_program_without_a_negative_past_the_margin_does_not_end_the_pairing() {
    let f = fixture();
    let root = f.dir.path();
    // Pass rates on generated tests: GOOD 1.0, SLOW 1/3; NEAR_MISS 1/3, WRONG 0.
    let ranking = vec![
        exec(&f.samples[0], Suite::Filter, &[true, true, true], 1.0),
        exec(&f.samples[1], Suite::Filter, &[true, false, false], 1.0),
        exec(&f.samples[2], Suite::Filter, &[true, false, false], 1.0),
        exec(&f.samples[3], Suite::Filter, &[false, false, false], 1.0),
    ];
    write_records(root.join("ranking.parquet"), &ranking).unwrap();
    let mut inp = inputs(root);
    inp.ranking_executions = Some(root.join("ranking.parquet"));
    let mut o = BuildOptions {
        ranker: ouro_rank::rankers::Ranker::parse("pass_rate").unwrap(),
        ..BuildOptions::default()
    };
    o.pairs.kinds = vec![PairKind::Correctness];
    o.pairs.min_score_margin = 0.5;
    build_dpo(&inp, &o, &root.join("out")).unwrap();
    let rows: Vec<DpoRecord> = read_dir(root.join("out/dpo")).unwrap();
    let mixed: Vec<&DpoRecord> = rows.iter().filter(|r| r.problem_id == "p-mixed").collect();
    assert_eq!(mixed.len(), 2, "{mixed:#?}");
    assert!(mixed
        .iter()
        .all(|r| r.chosen.contains("return x + 1\n    return 1 + x")));
}

/// Ranking on a suite the ranking executions do not hold scored every sample 0.
#[test]
fn ranking_on_a_suite_never_executed_is_an_error() {
    let f = fixture();
    let root = f.dir.path();
    let ranking = vec![exec(&f.samples[0], Suite::Filter, &[true], 1.0)];
    write_records(root.join("ranking.parquet"), &ranking).unwrap();
    let mut inp = inputs(root);
    inp.ranking_executions = Some(root.join("ranking.parquet"));
    inp.ranking_suite = Suite::Audit;
    let err = build_dpo(&inp, &BuildOptions::default(), &root.join("out"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no execution of the Audit suite") && err.contains("--audit"),
        "{err}"
    );
}

/// A program that does not compile ran no test: its feedback is the parser's message,
/// not "Failed test 1" and an empty stderr.
#[test]
fn repair_feedback_of_a_syntax_error_is_the_parsers_message() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let broken = "def f(x):\n    return x +\n";
    let s = vec![sample("p", 0, GOOD), sample("p", 1, broken)];
    let mut bad = exec(&s[1], Suite::Filter, &[false, false], 1.0);
    bad.verdict = Verdict::Error;
    bad.error_kind = Some("syntax".into());
    bad.stderr_tail = String::new();
    let e = vec![exec(&s[0], Suite::Filter, &[true, true], 1.0), bad];
    write_inputs(root, &[problem("p", None)], &s, &e);
    let mut o = BuildOptions::default();
    o.repair.min_similarity = 0.0;
    build_repair(&inputs(root), &o, &root.join("out")).unwrap();
    let rows: Vec<RepairRecord> = read_dir(root.join("out/repair")).unwrap();
    let feedback = &rows[0].messages.iter().rev().nth(1).unwrap().content;
    assert!(feedback.contains("SyntaxError on line 2"), "{feedback}");
    assert!(!feedback.contains("Failed test"), "{feedback}");
}
