use super::*;

fn spy_source(plan: &TestPlan, step: usize) -> &str {
    match &plan.steps[step].mode {
        StepMode::Spy(s) => s,
        other => panic!("step {step} not compiled: {other:?}"),
    }
}

#[test]
fn humaneval_equality_asserts_compile_and_keep_argument_text() {
    let plan = compile(
        "METADATA = {}\n\ndef check(candidate):\n    assert candidate([1, 2], k=3) == [3]\n    assert [4] == candidate((1,))\n",
        "f",
    );
    assert_eq!(plan.check_param.as_deref(), Some("candidate"));
    assert_eq!(plan.tests(), 2);
    assert_eq!(plan.compiled_tests(), 2);
    assert_eq!(
        spy_source(&plan, 0),
        "if 1:\n    __ouro_case__(0, __ouro_args__([1, 2], k=3), ([3]))\n"
    );
    // Mirrored: the expected value is evaluated first, as Python would.
    assert_eq!(
        spy_source(&plan, 1),
        "if 1:\n    __ouro_case__(1, ([4]), __ouro_args__((1,)))\n"
    );
    assert_eq!(plan.atoms[0].check, CheckKind::Eq(0));
    assert_eq!(plan.atoms[1].check, CheckKind::Eq(0));
}

#[test]
fn truthiness_identity_and_tolerance_forms() {
    let script = "def check(c):\n    assert c(1)\n    assert not c(2)\n    assert c(3) is True\n    assert c(4) is False\n    assert c(5) is None\n    assert abs(c(6) - 0.5) < 1e-6\n    assert 1e-3 >= abs(2.0 - c(7))\n    assert math.isclose(c(8), 0.1, rel_tol=1e-4)\n    assert c(9) != 3 and set(c(10)) == {1}\n    assert round(c(11), 2) == 0.33\n    assert c(12) in [1, 2]\n";
    let plan = compile(script, "f");
    assert_eq!(plan.compiled_tests(), 11, "{plan:#?}");
    let checks: Vec<CheckKind> = plan.atoms.iter().map(|a| a.check).collect();
    use CheckKind::*;
    assert_eq!(
        checks,
        vec![
            Truthy,
            Falsy,
            IsTrue,
            IsFalse,
            IsNone,
            AbsTol {
                expected: 0,
                tol: 1,
                inclusive: false
            },
            AbsTol {
                expected: 1,
                tol: 0,
                inclusive: true
            },
            IsClose {
                expected: 0,
                rel_tol: Some(1),
                abs_tol: None
            },
            Ne(0),
            Eq(0),
            Eq(1),
            In(0),
        ]
    );
    assert_eq!(plan.atoms[9].wrappers, vec![Wrapper::Set]);
    assert_eq!(
        plan.atoms[10].wrappers,
        vec![Wrapper::Round { ndigits: Some(0) }]
    );
    assert!(spy_source(&plan, 8).contains("(__ouro_case__(8, "));
}

#[test]
fn loops_and_computed_arguments_compile() {
    let script = "def check(candidate):\n    import random\n    for _ in range(10):\n        x = random.randint(0, 9)\n        assert candidate(x, x + 1) == x + x + 1, 'msg'\n";
    let plan = compile(script, "add");
    assert_eq!(plan.steps[0].mode, StepMode::Run);
    assert!(spy_source(&plan, 1).contains("__ouro_case__(0, __ouro_args__(x, x + 1), (x + x + 1))"));
    assert!(spy_source(&plan, 1).starts_with("if 1:\n    for _ in range(10):\n"));
}

#[test]
fn results_flowing_into_other_code_are_not_compiled() {
    let script = "def check(candidate):\n    sol = candidate([1, 2])\n    assert poly([1, 2], sol) < 1e-4\n    assert candidate(1) == 2\n";
    let plan = compile(script, "find_zero");
    assert!(matches!(plan.steps[0].mode, StepMode::InProcess(_)));
    // The first step binds `sol`, which the spy pass cannot reproduce.
    assert!(matches!(plan.steps[2].mode, StepMode::InProcess(ref w) if w.contains("follows")));
    assert_eq!(plan.compiled_tests(), 0);
}

#[test]
fn entry_point_used_for_the_expected_value_is_not_compiled() {
    let script = "def check(candidate):\n    assert tuple(candidate([1, 2, 3])) == tuple(sort_third([1, 2, 3]))\n    assert tuple(candidate([5, 6])) == tuple([5, 6])\n";
    let plan = compile(script, "sort_third");
    assert!(matches!(plan.steps[0].mode, StepMode::InProcess(_)));
    assert_eq!(plan.atoms.len(), 1);
    assert_eq!(plan.atoms[0].wrappers, vec![Wrapper::Tuple]);
    assert_eq!(plan.compiled_tests(), 1);
}

#[test]
fn mbpp_top_level_asserts_use_the_entry_point() {
    let script = "import math\nassert similar((3, 4), (4, 5)) == (4,)\nassert set(similar([1], [1])) == set([1])\n";
    let plan = compile(script, "similar");
    assert_eq!(plan.check_param, None);
    assert_eq!(plan.steps[0].mode, StepMode::Run);
    assert_eq!(plan.compiled_tests(), 2);
    assert_eq!(
        spy_source(&plan, 1),
        "__ouro_case__(0, __ouro_args__((3, 4), (4, 5)), ((4,)))\n"
    );
}

#[test]
fn guarded_or_rebinding_uses_are_not_compiled() {
    let plan = compile(
        "def check(c):\n    try:\n        assert c(1) == 2\n    except AssertionError:\n        pass\n",
        "f",
    );
    assert_eq!(plan.compiled_tests(), 0);
    let plan = compile("def check(c):\n    c = abs\n    assert c(-1) == 1\n", "f");
    assert_eq!(plan.compiled_tests(), 0);
    let plan = compile("f = abs\nassert f(-1) == 1\n", "f");
    assert_eq!(plan.compiled_tests(), 0);
}

#[test]
fn candidate_free_asserts_and_unparsable_scripts() {
    let plan = compile(
        "def check(c):\n    assert c(1) == 1\n    assert True, 'x'\n",
        "f",
    );
    assert_eq!(plan.compiled_tests(), 2);
    assert_eq!(spy_source(&plan, 1), "if 1:\n    assert True, 'x'\n");
    let plan = compile("def check(c):\n    assert c(1 ==\n", "f");
    assert!(plan.reason.is_some());
    assert_eq!(plan.tests(), 0);
}

#[test]
fn multiline_statements_keep_their_layout() {
    let script = "def check(candidate):\n    assert candidate(\n        '''a\nb''') == (\n  'x')\n";
    let plan = compile(script, "f");
    assert_eq!(
        spy_source(&plan, 0),
        "if 1:\n    __ouro_case__(0, __ouro_args__(\n        '''a\nb'''), ('x'))\n"
    );
}

#[test]
fn calls_in_an_assert_message_do_not_block_compilation() {
    let plan = compile(
        "def check(candidate):\n    assert candidate(1) == True, 'err: ' + str(candidate(1))\n",
        "f",
    );
    assert_eq!(plan.compiled_tests(), 1);
    assert_eq!(
        spy_source(&plan, 0),
        "if 1:\n    __ouro_case__(0, __ouro_args__(1), (True))\n"
    );
}

#[test]
fn redaction_removes_isolated_tests_and_keeps_numbering() {
    let script = "def check(c):\n    x = 1\n    assert c(x) == 41\n    for i in range(2):\n        assert c(i) == 42\n    assert poly(c(3)) == 43\n";
    let plan = compile(script, "f");
    assert_eq!(plan.compiled_tests(), 2);
    let red = plan.redact(script, &[0, 1]);
    assert_eq!(
        red,
        "def check(c):\n    x = 1\n    assert True\n    assert True\n    assert poly(c(3)) == 43\n"
    );
    assert_eq!(compile(&red, "f").tests(), 3);
}
