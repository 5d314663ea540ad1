//! Pair and repair rules of the build stage, and the inputs it refuses: what a
//! correctness, repair or injected-error pair may hold, on hand-made shards.

use ouro_data::shard::{read_dir, write_records};
use ouro_data::{DpoRecord, Execution, PairKind, Problem, RepairRecord, Suite, Tests, Verdict};
use ouro_rank::build::{build_dpo, build_repair, build_sft, BuildOptions};

mod common;
use common::*;

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
