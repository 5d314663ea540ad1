//! Turning a [`Spec`] into a `Problem` record: prompt, reference solution,
//! filter tests, and audit tests that target the spec's near-miss mutants.

use ouro_data::{content_id, derive_seed, Problem, Tests};

use crate::rng::Rng;
use crate::spec::{Purpose, Spec};
use ouro_python::value::Value;

/// How many random inputs to try per mutant before calling it equivalent.
const MUTANT_SEARCH: usize = 400;
/// Random probes used to reject problems whose answer never changes.
const PROBES: usize = 40;

/// A near-miss program and whether each suite tells it apart from the reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutant {
    /// What changed, e.g. ``drop condition `x > 4` ``.
    pub label: String,
    /// The whole mutant program (prompt + mutated body).
    pub program: String,
    /// True when some filter test fails the mutant.
    pub killed_by_filter: bool,
    /// True when some audit test fails the mutant. False only for mutants
    /// that are equivalent on every input the generator tried.
    pub killed_by_audit: bool,
}

/// A generated problem together with the mutants its audit suite targets.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    pub problem: Problem,
    pub mutants: Vec<Mutant>,
}

/// What the split of a problem depends on, decided before its tests are built.
pub(crate) struct Assembly {
    pub prompt: String,
    pub completion: String,
}

pub(crate) fn render(spec: &dyn Spec) -> Assembly {
    let prompt = format!(
        "def {}({}):\n    \"\"\"{}\n    \"\"\"\n",
        spec.entry(),
        spec.params(),
        spec.doc()
    );
    Assembly {
        prompt,
        completion: spec.body(),
    }
}

fn call_line(args: &[Value], expected: &Value) -> String {
    let args: Vec<String> = args.iter().map(Value::repr).collect();
    format!(
        "    assert candidate({}) == {}\n",
        args.join(", "),
        expected.repr()
    )
}

fn check_script(cases: &[(Vec<Value>, Value)]) -> String {
    let mut s = String::from("def check(candidate):\n");
    for (args, expected) in cases {
        s.push_str(&call_line(args, expected));
    }
    s
}

fn differs(a: &dyn Spec, b: &dyn Spec, args: &[Value]) -> bool {
    !a.eval(args).py_eq(&b.eval(args))
}

fn key_of(args: &[Value]) -> String {
    args.iter().map(Value::repr).collect::<Vec<_>>().join(", ")
}

/// Random filter cases in which no single expected value fills more than half
/// the suite. Plain random lists make `any(...)` almost always `True`, and a
/// suite of four `True`s passes `return True`: expert iteration would then
/// train on programs that ignore the task. Falls back to whatever random cases
/// remain when the answer is that lopsided.
fn balanced_cases(spec: &dyn Spec, rng: &mut Rng, n: usize) -> Vec<(Vec<Value>, Value)> {
    let cap = n.div_ceil(2).max(1);
    let mut cases: Vec<(Vec<Value>, Value)> = Vec::new();
    let mut spare: Vec<(Vec<Value>, Value)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut tries = 0;
    while cases.len() < n && tries < 50 * n {
        tries += 1;
        // Boundary-heavy draws help once plain ones keep giving the same answer.
        let purpose = if tries > 25 * n && tries % 2 == 0 {
            Purpose::Audit
        } else {
            Purpose::Filter
        };
        let args = spec.random_input(rng, purpose);
        if !seen.insert(key_of(&args)) {
            continue;
        }
        let expected = spec.eval(&args);
        let same = cases.iter().filter(|(_, e)| e.py_eq(&expected)).count();
        if same < cap {
            cases.push((args, expected));
        } else {
            spare.push((args, expected));
        }
    }
    let missing = n.saturating_sub(cases.len());
    cases.extend(spare.into_iter().take(missing));
    cases
}

/// A random input on which `mutant` and `spec` differ, if one turns up: the
/// attempts `plain` picks draw plain (filter-style) inputs, the others lean on
/// boundary values.
fn search_killer(
    spec: &dyn Spec,
    mutant: &dyn Spec,
    rng: &mut Rng,
    plain: fn(usize) -> bool,
) -> Option<Vec<Value>> {
    (0..MUTANT_SEARCH).find_map(|attempt| {
        let purpose = if plain(attempt) {
            Purpose::Filter
        } else {
            Purpose::Audit
        };
        let args = spec.random_input(rng, purpose);
        differs(spec, mutant, &args).then_some(args)
    })
}

/// Builds the problem, or `None` when the spec is degenerate: its answer is
/// the same on every probe, or an essential mutant (a dropped condition, a
/// step with no effect) cannot be told apart from it.
pub(crate) fn build(
    spec: &dyn Spec,
    seed: u64,
    split: &str,
    filter_tests: usize,
    targeted_filter: bool,
) -> Option<Generated> {
    let Assembly { prompt, completion } = render(spec);
    let mut rng = Rng::new(derive_seed(&prompt, seed));

    // Degenerate: a constant answer makes every test trivially passable.
    let first = spec.eval(&spec.random_input(&mut rng, Purpose::Filter));
    let varies = (0..PROBES).any(|_| {
        let args = spec.random_input(&mut rng, Purpose::Filter);
        !spec.eval(&args).py_eq(&first)
    });
    if !varies {
        return None;
    }

    let mut filter_cases = balanced_cases(spec, &mut rng, filter_tests);

    let mut audit_inputs: Vec<Vec<Value>> = spec.edge_inputs();
    let mut mutants = Vec::new();
    for m in spec.mutants() {
        let mut killed = audit_inputs.iter().any(|a| differs(spec, &*m.spec, a));
        if !killed {
            if let Some(args) = search_killer(spec, &*m.spec, &mut rng, |a| a % 4 == 3) {
                audit_inputs.push(args);
                killed = true;
            }
        }
        if !killed && m.essential {
            return None;
        }
        let mut killed_by_filter = filter_cases.iter().any(|(a, _)| differs(spec, &*m.spec, a));
        if targeted_filter && killed && !killed_by_filter {
            // Edge inputs first (some mutants differ only on `[]`), then fresh
            // random ones rather than the audit's, so the audit stays an
            // independent check; only for rare inputs share one of the audit's.
            let killer = spec
                .edge_inputs()
                .into_iter()
                .find(|a| differs(spec, &*m.spec, a))
                .or_else(|| search_killer(spec, &*m.spec, &mut rng, |a| a % 2 == 0))
                .or_else(|| {
                    audit_inputs
                        .iter()
                        .find(|a| differs(spec, &*m.spec, a))
                        .cloned()
                });
            if let Some(args) = killer {
                let expected = spec.eval(&args);
                filter_cases.push((args, expected));
                killed_by_filter = true;
            }
        }
        mutants.push(Mutant {
            label: m.label,
            program: format!("{prompt}{}", m.spec.body()),
            killed_by_filter,
            killed_by_audit: killed,
        });
    }
    // Plain random cases on top of the targeted ones, so that every audit
    // suite is at least as large as the filter suite plus two.
    let mut seen = std::collections::HashSet::new();
    audit_inputs.retain(|a| seen.insert(key_of(a)));
    let want = filter_tests + 2;
    let mut tries = 0;
    while audit_inputs.len() < want && tries < 100 * want {
        tries += 1;
        let args = spec.random_input(&mut rng, Purpose::Audit);
        if seen.insert(key_of(&args)) {
            audit_inputs.push(args);
        }
    }
    let audit_cases: Vec<(Vec<Value>, Value)> = audit_inputs
        .into_iter()
        .map(|a| {
            let expected = spec.eval(&a);
            (a, expected)
        })
        .collect();

    let family = spec.family();
    let id = content_id("ouro-problem", &prompt);
    let problem = Problem {
        problem_id: format!("ouro/{family}/{}", &id[..12]),
        source: crate::SOURCE.to_string(),
        prompt: prompt.clone(),
        entry_point: spec.entry(),
        language: "python".to_string(),
        starter_code: prompt.clone(),
        reference_solution: Some(format!("{prompt}{completion}")),
        tests: Tests::AssertScript {
            script: check_script(&filter_cases),
        },
        audit_tests: Some(Tests::AssertScript {
            script: check_script(&audit_cases),
        }),
        difficulty: Some(spec.difficulty().as_str().to_string()),
        tags: {
            let mut tags: Vec<String> = spec.tags().into_iter().map(str::to_string).collect();
            tags.sort();
            tags.dedup();
            tags
        },
        split: split.to_string(),
    };
    Some(Generated { problem, mutants })
}
