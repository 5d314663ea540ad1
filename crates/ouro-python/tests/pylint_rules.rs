//! Name-resolution cases checked against pylint 4.1.4 (`pylint --disable=C,R`,
//! the run the reference LintSeq uses): each expectation is what pylint
//! reported for the program. They pin down pylint's exemptions that a plain
//! flow analysis gets wrong in both directions (see `scope/guards.rs`).

fn codes(src: &str) -> Vec<(&'static str, u32)> {
    ouro_python::lint(src)
        .into_iter()
        .map(|m| (m.code, m.line))
        .collect()
}

/// `del` reads its names: pylint 4.1.5 reports E0602 for one not bound before it, even
/// when it is bound later (CPython raises NameError on import).
#[test]
fn del_of_a_name_not_yet_bound() {
    let src = "import os\ntmp = os.sep\ndel cache, tmp\n";
    assert_eq!(codes(src), vec![("E0602", 3)]);
    let src = "def f():\n    del y\n    y = 1\n";
    assert_eq!(codes(src), vec![("E0602", 2)]);
    let src = "x = 1\ndel x\nprint(x)\n";
    assert_eq!(codes(src), vec![]);
    let src = "d = {}\ndel (d[0], [d])\n";
    assert_eq!(codes(src), vec![]);
}

/// A class's name is bound only after its body runs: pylint 4.1.5 (as the reference
/// LintSeq runs it) reports E0602 for a use of it in a class attribute, a method's
/// annotation or a default that calls it, nested classes included, but not in a string
/// annotation or with `from __future__ import annotations`.
#[test]
fn a_class_named_in_its_own_body() {
    for (src, line) in [
        (
            "class Node:\n    def child(self) -> Node:\n        return Node()\n",
            2,
        ),
        (
            "class Node:\n    def child(self, other: Node):\n        return other\n",
            2,
        ),
        ("class Node:\n    x = Node\n", 2),
        ("class Node:\n    x: Node = None\n", 2),
        (
            "class Node:\n    def f(self) -> list[Node]:\n        pass\n",
            2,
        ),
        ("class Node:\n    def f(self, x=Node()):\n        pass\n", 2),
        (
            "class Node:\n    @staticmethod\n    def f() -> Node:\n        pass\n",
            3,
        ),
        (
            "class Outer:\n    class Node:\n        def f(self) -> Node:\n            pass\n",
            3,
        ),
        (
            "def g():\n    class Node:\n        def f(self) -> Node:\n            pass\n",
            3,
        ),
    ] {
        assert_eq!(codes(src), vec![("E0602", line)], "{src}");
    }
    let future = "from __future__ import annotations\n\n";
    for src in [
        format!("{future}class Node:\n    def child(self) -> Node:\n        return Node()\n"),
        "class Node:\n    def f(self) -> \"Node\":\n        return Node()\n".to_string(),
    ] {
        assert_eq!(codes(&src), vec![], "{src}");
    }
}

#[test]
fn for_loop_carried_self_reference() {
    let src = "def f(n):\n    for i in range(n):\n        ret = (2 * ret) % n\n    return ret\n";
    assert_eq!(codes(src), vec![]);
}

#[test]
fn while_loop_self_reference() {
    let src = "def f(x):\n    while x > 0:\n        ret = str(x) + ret\n        x -= 1\n";
    assert_eq!(codes(src), vec![("E0601", 3)]);
}

#[test]
fn aug_assign_in_for_defines() {
    let src = "def f(s):\n    for c in s:\n        if c:\n            d += 1\n        else:\n            d -= 1\n    return 0\n";
    assert_eq!(codes(src), vec![]);
}

#[test]
fn aug_assign_in_while_is_undefined() {
    let src = "def f(s):\n    while s:\n        d += 1\n";
    assert_eq!(codes(src), vec![("E0602", 3)]);
}

#[test]
fn only_first_use_is_checked() {
    let src = "def f(c):\n    if c:\n        x = 1\n        print(x)\n    print(x)\n";
    assert_eq!(codes(src), vec![]);
}

#[test]
fn if_body_assignment_exempts_uses_in_the_if() {
    let src = "def f(c):\n    while c:\n        if c:\n            print(x)\n            x = 1\n";
    assert_eq!(codes(src), vec![]);
}

#[test]
fn if_test_use_with_assignment_in_body() {
    let src = "def f(xs):\n    for x in xs:\n        if x > m:\n            m = x\n    return m\n";
    assert_eq!(codes(src), vec![]);
}

#[test]
fn else_branch_use_after_if_body_assignment() {
    let src = "def f(c):\n    if c:\n        x = 1\n    else:\n        print(x)\n";
    assert_eq!(codes(src), vec![]);
}

#[test]
fn nested_if_binding_is_uncertain_in_for() {
    let src = "def f(xs):\n    for k in xs:\n        if ret == 1:\n            if k:\n                ret = 2\n";
    assert_eq!(codes(src), vec![("E0606", 3)]);
}

#[test]
fn uncertain_if_before_use_in_for() {
    let src = "def f(xs):\n    for k in xs:\n        print(x)\n        if k:\n            x = 1\n";
    assert_eq!(codes(src), vec![("E0606", 3)]);
}

#[test]
fn if_else_binding_is_certain_in_for() {
    let src = "def f(xs):\n    for k in xs:\n        print(x)\n        if k:\n            x = 1\n        else:\n            x = 2\n";
    assert_eq!(codes(src), vec![]);
}

#[test]
fn break_makes_if_binding_certain() {
    let src = "def f(xs):\n    for k in xs:\n        print(x)\n        if k:\n            x = 1\n            break\n";
    assert_eq!(codes(src), vec![]);
}

#[test]
fn unreachable_code_is_checked() {
    let src = "def f(n):\n    if n < 2:\n        return False\n        if n % k == 0:\n            return False\n    return True\n";
    assert_eq!(codes(src), vec![("E0602", 4)]);
}

#[test]
fn break_outside_loop() {
    let src = "def f(n):\n    if n:\n        continue\n    for i in n:\n        break\n    else:\n        break\n";
    assert_eq!(codes(src), vec![("E0103", 3), ("E0103", 7)]);
}

#[test]
fn module_level_loop_gets_no_exemption() {
    let src = "for i in range(3):\n    total = total + i\n";
    assert_eq!(codes(src), vec![("E0601", 2)]);
}

fn strict_codes(src: &str) -> Vec<(&'static str, u32)> {
    ouro_python::lint_with(src, ouro_python::Semantics::Strict)
        .into_iter()
        .map(|m| (m.code, m.line))
        .collect()
}

/// Strict semantics drop pylint's exemptions: the loop-carried and
/// later-use cases above are errors, and plain programs stay clean.
#[test]
fn strict_semantics_check_every_use_without_the_loop_exemption() {
    let carried =
        "def f(n):\n    for i in range(n):\n        ret = (2 * ret) % n\n    return ret\n";
    assert_eq!(strict_codes(carried), vec![("E0601", 3)]);
    let aug = "def f(xs):\n    for x in xs:\n        total += x\n    return total\n";
    assert_eq!(codes(aug), vec![]);
    assert_eq!(strict_codes(aug), vec![("E0602", 3)]);
    let later = "def f(c):\n    if c:\n        x = 1\n        print(x)\n    print(x)\n";
    assert_eq!(strict_codes(later), vec![("E0606", 5)]);
    let clean =
        "def f(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total\n";
    assert_eq!(strict_codes(clean), vec![]);
}

#[test]
fn a_global_declaration_is_not_the_modules_binding() {
    // pylint 4.1.5: E0602 on `counter += 1` once the module's `counter = 0` is gone (a
    // LintSeq state kept it: the declaration counted as the binding); ouro names the
    // later read too. An assignment after the declaration binds the module's name
    // (pylint's W0601, a warning).
    let src =
        "def inc():\n    global counter\n    counter += 1\n    return counter\nprint(inc())\n";
    assert_eq!(codes(src), vec![("E0602", 3), ("E0602", 4)]);
    let bound = "def set_it():\n    global counter\n    counter = 1\nprint(counter)\n";
    assert_eq!(codes(bound), vec![]);
    let kept = format!("counter = 0\n{src}");
    assert_eq!(codes(&kept), vec![]);
}
