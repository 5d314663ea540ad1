//! Spy records taken from the source (`ExecOptions::literal_tests`) must be
//! the spy pass's own: the same compiled tests, case for case, for scripts
//! made of literals, and the real spy pass for everything else.

mod common;

use std::sync::Arc;

use ouro_data::Judge;
use ouro_data::{Problem, Suite};
use ouro_exec::Executor;

/// HumanEval scripts whose spy records come from the source (README).
const HUMANEVAL_LITERAL: usize = 155;

/// (script, whether the source alone decides it)
const SCRIPTS: &[(&str, bool)] = &[
    (
        "METADATA = {'author': 'x', 'n': (1, 2)}\n\n\ndef check(candidate):\n    \"\"\"Doc.\"\"\"\n    assert candidate(1, 2) == 3\n    assert candidate(-1, +2.5) == 1.5, 'message'\n    assert True, 'This prints if this assert fails'\n    assert candidate(x=[1, (2, 3)], y={'a': 1, 1: 2, True: 3, 1.0: 4}) == {'k': b'\\x00\\xff'}\n\ncheck(f)\n",
        true,
    ),
    (
        "def check(candidate):\n    assert candidate(1e16) == 1e-05\n    assert candidate(0.1) != -0.0\n    assert candidate(123456789.123456789) == 1e300\n    assert abs(candidate(2.0) - 0.5) < 1e-6\n    assert abs(0.25 - candidate(4.0)) <= 1e-9\n",
        true,
    ),
    (
        "def check(candidate):\n    assert candidate(1) == 1 and candidate(2) != 3 and candidate(3) in [1, 2, 3]\n    assert candidate(0) is None\n    assert not candidate(0)\n    assert candidate(5)\n    assert candidate(4) is True\n",
        true,
    ),
    (
        "def check(candidate):\n    assert candidate('h\\u00e9llo\\n\\t\"\\'') == '\u{fc}\u{20ac}\u{1f600}'\n    assert candidate(\"a\" \"b\") == '''x\ny'''\n    assert candidate(9223372036854775807) == -9223372036854775807\n",
        true,
    ),
    (
        "def check(candidate):\n    assert sorted(candidate([3, 1])) == [1, 3]\n    assert round(candidate(1.5), 2) == 1.5\n    assert tuple(candidate([1])) == (1,)\n",
        true,
    ),
    ("assert f([1, 2]) == 3\nassert f([]) == 0\n", true),
    (
        "def check(candidate):\n    assert candidate(2 * 2 * 2, 7 // -2, -7 % 3, 2 ** 10, -(3 - 5)) == (3 + 5 + 7, 3 * 5 * 7)\n    assert abs(candidate(1.0) - 2.0/3.0) < 1e-6\n    assert candidate(1 / 3, 10 / 4, 0.1 + 0.2, 3 * 0.1, 2 - 0.5, 9007199254740993 * 1) == 1.5 / 3\n    assert candidate('abc' + 'de', 'ab' * 3, 2 * 'x', 'y' * -1) == [1] + [2, 3]\n    assert candidate((1,) + (2,)) == ()\n",
        true,
    ),
    // From here on only the spy pass can tell.
    (
        "def check(candidate):\n    assert candidate(99999999999999999999) == 1\n",
        false,
    ),
    (
        "def check(candidate):\n    assert set(candidate([1])) == {1}\n",
        false,
    ),
    (
        "import math\n\ndef check(candidate):\n    assert math.isclose(candidate(1.0), 2.0)\n",
        false,
    ),
    (
        "def check(candidate):\n    assert candidate(1) == 1\n    assert False\n",
        false,
    ),
    (
        "def check(candidate):\n    assert candidate({(1, [2]): 3}) == 1\n",
        false,
    ),
    (
        "def check(candidate):\n    x = 2\n    assert candidate(x) == 4\n",
        false,
    ),
    (
        "def check(candidate):\n    for i in range(3):\n        assert candidate(i) == i\n",
        false,
    ),
    (
        "def check(candidate):\n    assert candidate(-True) == 1\n",
        false,
    ),
    (
        "def check(candidate):\n    assert candidate(1 / 0) == 1\n",
        false,
    ),
    (
        "def check(candidate):\n    assert candidate(True + 1) == 2\n",
        false,
    ),
    (
        "def check(candidate):\n    assert candidate(2 ** -1, 2.0 ** 0.5) == 1\n",
        false,
    ),
    (
        "def check(candidate):\n    assert candidate(9007199254740993 / 1) == 1\n",
        false,
    ),
    (
        "def check(candidate):\n    assert candidate(9223372036854775807 + 1) == 1\n",
        false,
    ),
    (
        "def check(candidate):\n    assert candidate(*[1, 2]) == 3\n",
        false,
    ),
    // A lone surrogate is a Python str the parser can only hold as U+FFFD.
    (
        "def check(candidate):\n    assert candidate('\\ud800') == 55296\n    assert candidate(55296) == '\\udfff'\n",
        false,
    ),
    (
        "def check(candidate):\n    assert candidate(1) == 1\n\ndef check(candidate):\n    assert candidate(2) == 2\n",
        false,
    ),
];

/// 101 nested lists: past the spy encoder's depth limit, so "too large" there.
fn too_deep() -> String {
    format!(
        "def check(candidate):\n    assert candidate(1) == {}1{}\n",
        "[".repeat(101),
        "]".repeat(101)
    )
}

fn problem(i: usize, script: &str) -> Arc<Problem> {
    let mut p = common::assert_problem(&format!("lit/{i}"), "f", script);
    Arc::make_mut(&mut p).prompt = "def f(*a, **k):\n    \"\"\"Doc.\"\"\"\n".into();
    p
}

/// HumanEval's own scripts where a checkout fetched them
/// (`scripts/fetch-humaneval.sh`); else the two-problem fixture.
fn humaneval() -> Vec<Arc<Problem>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let full = root.join("scripts/.cache/HumanEval.jsonl");
    let path = if full.exists() {
        full
    } else {
        root.join("tests/fixtures/humaneval_mini.jsonl")
    };
    std::fs::read_to_string(&path)
        .expect("HumanEval file")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json line");
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            let mut p = common::assert_problem(&s("task_id"), &s("entry_point"), &s("test"));
            Arc::make_mut(&mut p).prompt = s("prompt");
            p
        })
        .collect()
}

#[test]
fn literal_spy_records_are_the_spy_passes_own() {
    let mut problems: Vec<Arc<Problem>> = SCRIPTS
        .iter()
        .enumerate()
        .map(|(i, (s, _))| problem(i, s))
        .collect();
    problems.push(problem(SCRIPTS.len(), &too_deep()));
    let battery = problems.len();
    problems.extend(humaneval());
    let compile = |literal: bool| {
        let mut opts = common::options(2);
        opts.literal_tests = literal;
        Executor::new(&opts)
            .expect("executor starts")
            .compile_tests(problems.clone(), Suite::Filter)
    };
    let (spied, literal) = (compile(false), compile(true));
    let mut from_source = 0;
    for (i, p) in problems.iter().enumerate() {
        let script = match &p.tests {
            ouro_data::Tests::AssertScript { script } => script,
            _ => unreachable!(),
        };
        let plan = ouro_python::testcompile::compile(script, &p.entry_point);
        let expect = SCRIPTS.get(i).map(|(_, lit)| *lit).unwrap_or(false);
        if i < battery {
            assert_eq!(
                plan.literal_spy.is_some(),
                expect,
                "{}: {script}",
                p.problem_id
            );
        }
        from_source += plan.literal_spy.is_some() as usize;
        assert_eq!(literal[i], spied[i], "{}: {script}", p.problem_id);
    }
    // The battery's literal scripts are judged in isolation, not merely alike.
    for (i, (_, lit)) in SCRIPTS.iter().enumerate() {
        if *lit {
            let c = literal[i].as_ref().expect("compiled");
            assert_eq!(c.judge(), Judge::Isolated, "{i}: {:?}", c.reasons);
        }
    }
    let battery_literal = SCRIPTS.iter().filter(|s| s.1).count();
    assert!(from_source >= battery_literal + 2);
    if problems.len() - battery == 164 {
        // The README's figure, on the full HumanEval.
        assert_eq!(from_source - battery_literal, HUMANEVAL_LITERAL);
    }
}
