//! The generation contract: determinism, uniqueness, coverage, and the
//! structural gap of the held-out split.

use std::collections::{BTreeSet, HashSet};

use ouro_data::{Problem, Tests};
use ouro_problems::{
    generate, partition_by_split, summarize, write, write_jsonl, Family, GenerateOptions,
};

fn opts(count: usize, seed: u64) -> GenerateOptions {
    GenerateOptions {
        count,
        seed,
        ..Default::default()
    }
}

fn jsonl(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| serde_json::to_string(p).unwrap() + "\n")
        .collect()
}

#[test]
fn same_seed_and_count_give_byte_identical_problems() {
    let a = generate(&opts(300, 5)).unwrap();
    let b = generate(&opts(300, 5)).unwrap();
    assert_eq!(jsonl(&a), jsonl(&b));
    let c = generate(&opts(300, 6)).unwrap();
    assert_ne!(jsonl(&a), jsonl(&c));
}

#[test]
fn a_smaller_count_is_a_prefix_of_a_larger_one() {
    let small = generate(&opts(120, 3)).unwrap();
    let large = generate(&opts(600, 3)).unwrap();
    assert_eq!(small[..], large[..120]);
}

#[test]
fn two_thousand_problems_are_distinct_and_cover_twenty_tags_and_three_levels() {
    let problems = generate(&opts(2000, 0)).unwrap();
    assert_eq!(problems.len(), 2000);
    let ids: HashSet<&str> = problems.iter().map(|p| p.problem_id.as_str()).collect();
    let prompts: HashSet<&str> = problems.iter().map(|p| p.prompt.as_str()).collect();
    let solutions: HashSet<&str> = problems
        .iter()
        .map(|p| p.reference_solution.as_deref().unwrap())
        .collect();
    let bodies: HashSet<&str> = problems
        .iter()
        .map(|p| &p.reference_solution.as_deref().unwrap()[p.prompt.len()..])
        .collect();
    assert_eq!(ids.len(), 2000, "duplicate problem ids");
    assert_eq!(prompts.len(), 2000, "duplicate prompts");
    assert_eq!(solutions.len(), 2000, "duplicate solutions");
    // Bodies alone may coincide only where the entry name differs (recursive templates never do).
    assert!(bodies.len() > 1950, "only {} distinct bodies", bodies.len());

    let s = summarize(&problems);
    assert!(
        s.by_tag.len() >= 20,
        "only {} tags: {:?}",
        s.by_tag.len(),
        s.by_tag.keys()
    );
    for level in ["easy", "medium", "hard"] {
        assert!(
            s.by_difficulty[level] >= 200,
            "{level}: {:?}",
            s.by_difficulty
        );
    }
    for split in ["train", "test", "heldout"] {
        assert!(s.by_split[split] >= 100, "{split}: {:?}", s.by_split);
    }
    for p in &problems {
        assert_eq!(p.source, "ouro-bundled");
        assert_eq!(p.language, "python");
        assert!(p.problem_id.starts_with("ouro/"), "{}", p.problem_id);
        assert!(
            p.prompt.starts_with(&format!("def {}(", p.entry_point)),
            "{}",
            p.prompt
        );
        assert!(p
            .reference_solution
            .as_deref()
            .unwrap()
            .starts_with(&p.prompt));
        for t in [&p.tests, p.audit_tests.as_ref().unwrap()] {
            let Tests::AssertScript { script } = t else {
                panic!("assert script")
            };
            let mut lines = script.lines();
            assert_eq!(lines.next(), Some("def check(candidate):"));
            let asserts: Vec<&str> = lines.collect();
            assert!(asserts.len() >= 3, "{}: {script}", p.problem_id);
            assert!(
                asserts
                    .iter()
                    .all(|l| l.starts_with("    assert candidate(")),
                "{script}"
            );
        }
    }
}

#[test]
fn the_compose_family_alone_yields_thousands_of_distinct_problems() {
    let problems = generate(&GenerateOptions {
        count: 3000,
        seed: 1,
        families: vec![(Family::Compose, 1)],
        ..Default::default()
    })
    .unwrap();
    let bodies: HashSet<&str> = problems
        .iter()
        .map(|p| &p.reference_solution.as_deref().unwrap()[p.prompt.len()..])
        .collect();
    assert_eq!(bodies.len(), 3000);
    // One-line solutions: the shape a tiny model can learn.
    assert!(bodies
        .iter()
        .all(|b| b.lines().count() == 1 && b.starts_with("    return ")));
}

/// The first condition of a two-condition compose prompt, if it has two.
fn leading_condition(prompt: &str) -> Option<&str> {
    let doc = prompt.lines().nth(1)?;
    let rest = doc
        .split_once(" where ")
        .or_else(|| doc.split_once(" such that "))?
        .1;
    let rest = rest.split(", ").next()?.trim_end_matches('.');
    let (first, _) = rest
        .split_once(" and ")
        .or_else(|| rest.split_once(" or "))?;
    Some(first)
}

fn second_conditions(prompt: &str) -> Option<&str> {
    let doc = prompt.lines().nth(1)?;
    let rest = doc
        .split_once(" where ")
        .or_else(|| doc.split_once(" such that "))?
        .1;
    let rest = rest.split(", ").next()?.trim_end_matches('.');
    Some(
        rest.split_once(" and ")
            .or_else(|| rest.split_once(" or "))?
            .1,
    )
}

const HELD_OUT_LEADS: [&str; 3] = ["x is divisible by", "x is less than", "x is odd"];

#[test]
fn heldout_compositions_lead_with_a_filter_never_seen_first_in_training() {
    let problems = generate(&opts(2000, 0)).unwrap();
    let compose: Vec<&Problem> = problems
        .iter()
        .filter(|p| p.problem_id.starts_with("ouro/compose/"))
        .collect();
    let is_held_lead = |c: &str| HELD_OUT_LEADS.iter().any(|h| c.starts_with(h));
    let mut seen_second = BTreeSet::new();
    let mut seen_alone = BTreeSet::new();
    for p in &compose {
        let lead = leading_condition(&p.prompt);
        match p.split.as_str() {
            "heldout" => {
                let lead =
                    lead.unwrap_or_else(|| panic!("heldout without two conditions: {}", p.prompt));
                assert!(is_held_lead(lead), "{}", p.prompt);
                assert_eq!(p.difficulty.as_deref(), Some("hard"));
            }
            _ => {
                if let Some(lead) = lead {
                    assert!(
                        !is_held_lead(lead),
                        "{} problem leads with a held-out filter: {}",
                        p.split,
                        p.prompt
                    );
                }
                if p.split == "train" {
                    let doc = p.prompt.lines().nth(1).unwrap();
                    for h in HELD_OUT_LEADS {
                        if second_conditions(&p.prompt).is_some_and(|c| c.starts_with(h)) {
                            seen_second.insert(h);
                        } else if lead.is_none() && doc.contains(h) {
                            seen_alone.insert(h);
                        }
                    }
                }
            }
        }
    }
    // The gap is about position only: each held-out lead is trained on alone and second.
    assert_eq!(seen_second.len(), 3, "{seen_second:?}");
    assert_eq!(seen_alone.len(), 3, "{seen_alone:?}");
    let held = compose.iter().filter(|p| p.split == "heldout").count();
    assert!(held >= 100, "only {held} held-out compose problems");
}

#[test]
fn heldout_string_pipelines_start_with_a_step_never_first_in_training() {
    let problems = generate(&opts(2000, 0)).unwrap();
    let first_step = |p: &Problem| {
        let body = &p.reference_solution.as_deref().unwrap()[p.prompt.len()..];
        let steps = body.lines().filter(|l| l.starts_with("    s = ")).count();
        (steps, body.lines().next().unwrap().to_string())
    };
    let held_lead = |l: &str| l == "    s = s[::-1]" || l == "    s = s.swapcase()";
    let mut n_held = 0;
    for p in problems
        .iter()
        .filter(|p| p.problem_id.starts_with("ouro/strings/"))
    {
        let (steps, first) = first_step(p);
        if p.split == "heldout" {
            n_held += 1;
            assert!(steps >= 2 && held_lead(&first), "{}", p.prompt);
        } else {
            assert!(steps < 2 || !held_lead(&first), "{}", p.prompt);
        }
    }
    assert!(n_held >= 10, "only {n_held} held-out string problems");
}

#[test]
fn shards_round_trip_and_splits_partition_the_set() {
    let problems = generate(&opts(150, 2)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let shards = write(dir.path(), &problems).unwrap();
    assert_eq!(shards.len(), 1);
    assert!(shards[0].ends_with("part-00000-of-00001.parquet"));
    // A second, smaller write replaces the first completely.
    std::fs::write(dir.path().join("part-00001-of-00002.parquet"), b"stale").unwrap();
    write(dir.path(), &problems[..10]).unwrap();
    let back: Vec<Problem> = ouro_data::shard::read_dir(dir.path()).unwrap();
    assert_eq!(back, problems[..10]);
    write(dir.path(), &problems).unwrap();
    let back: Vec<Problem> = ouro_data::shard::read_dir(dir.path()).unwrap();
    assert_eq!(back, problems);
    // A Parquet file ouro did not write would be read back as problems: refused, and
    // nothing is written or removed.
    let mine = dir.path().join("mine.parquet");
    std::fs::write(&mine, b"user data").unwrap();
    let err = write(dir.path(), &problems[..10]).unwrap_err().to_string();
    assert!(
        err.contains("holds mine.parquet, which ouro did not write"),
        "{err}"
    );
    assert!(mine.exists());
    std::fs::remove_file(&mine).unwrap();
    let back: Vec<Problem> = ouro_data::shard::read_dir(dir.path()).unwrap();
    assert_eq!(back, problems);

    let jl = dir.path().join("problems.jsonl");
    write_jsonl(&jl, &problems).unwrap();
    let text = std::fs::read_to_string(&jl).unwrap();
    let parsed: Vec<Problem> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(parsed, problems);

    let parts = partition_by_split(problems.clone());
    assert_eq!(parts.values().map(Vec::len).sum::<usize>(), problems.len());
    assert!(parts.iter().all(|(k, v)| v.iter().all(|p| &p.split == k)));
}

#[test]
fn an_exhausted_family_is_an_error_not_a_hang() {
    let err = generate(&GenerateOptions {
        count: 5000,
        seed: 0,
        families: vec![(Family::Math, 1)],
        ..Default::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("distinct"), "{err}");
    assert!(generate(&GenerateOptions {
        families: vec![(Family::Compose, 0)],
        ..opts(10, 0)
    })
    .is_err());
}

/// The committed sample is the generator's output: if this fails after a
/// deliberate generator change, regenerate it with
/// `cargo run --example write_sample -- data/bundled`.
#[test]
fn committed_sample_matches_the_generator() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/bundled");
    let expected = generate(&ouro_problems::sample_options()).unwrap();
    let text =
        std::fs::read_to_string(root.join("problems.jsonl")).expect("data/bundled/problems.jsonl");
    assert!(
        text == jsonl(&expected),
        "data/bundled/problems.jsonl is stale"
    );
    let shards: Vec<Problem> = ouro_data::shard::read_dir(&root).unwrap();
    assert_eq!(shards, expected);
}

fn filter_lines(p: &Problem) -> Vec<String> {
    match &p.tests {
        Tests::AssertScript { script } => script
            .lines()
            .filter(|l| l.trim_start().starts_with("assert"))
            .map(str::to_string)
            .collect(),
        other => panic!("unexpected tests {other:?}"),
    }
}

/// Plain random lists make `any(...)` almost always `True`; a suite of only
/// `True`s would pass `return True`.
#[test]
fn boolean_filter_suites_expect_both_answers() {
    let problems = generate(&GenerateOptions {
        families: vec![(Family::Compose, 1)],
        ..opts(600, 2)
    })
    .unwrap();
    let (mut boolean, mut one_sided) = (0, 0);
    for p in &problems {
        let lines = filter_lines(p);
        let t = lines.iter().filter(|l| l.ends_with("== True")).count();
        let f = lines.iter().filter(|l| l.ends_with("== False")).count();
        if t + f == lines.len() && !lines.is_empty() {
            boolean += 1;
            if t == 0 || f == 0 {
                one_sided += 1;
            }
        }
    }
    assert!(boolean > 50, "only {boolean} boolean problems");
    // Only answers so lopsided that 200 random draws never flip them stay one-sided.
    assert!(
        one_sided * 20 < boolean,
        "{one_sided} of {boolean} boolean suites expect a single answer"
    );
}

#[test]
fn targeted_filter_suites_catch_every_mutant_the_audit_catches() {
    let plain = opts(300, 4);
    let targeted = GenerateOptions {
        targeted_filter: true,
        ..opts(300, 4)
    };
    let (a, b) = (
        ouro_problems::generate_detailed(&plain).unwrap(),
        ouro_problems::generate_detailed(&targeted).unwrap(),
    );
    // Same problems and splits: only the tests differ.
    assert_eq!(
        a.iter()
            .map(|g| (&g.problem.prompt, &g.problem.split))
            .collect::<Vec<_>>(),
        b.iter()
            .map(|g| (&g.problem.prompt, &g.problem.split))
            .collect::<Vec<_>>()
    );
    let missed = |gs: &[ouro_problems::Generated]| {
        gs.iter()
            .flat_map(|g| &g.mutants)
            .filter(|m| m.killed_by_audit && !m.killed_by_filter)
            .count()
    };
    assert!(missed(&a) > 20, "plain filter suites miss near misses");
    assert_eq!(missed(&b), 0);
}
