//! What a sample's process starts with. The fork server sets part of it before
//! forking (so the child writes no page for it); the child must still see exactly
//! this state, sample after sample.

mod common;

use common::*;
use ouro_exec::{ExecOptions, Executor, JudgeMode, Verdict};

const PROBE: &str = r#"
import os, sys, tempfile, resource
cwd = os.getcwd()
checks = {
    "env keys": sorted(os.environ) == ["HOME", "LANG", "PATH", "TMPDIR"],
    "PATH": os.environ["PATH"] == "/usr/bin:/bin",
    "LANG": os.environ["LANG"] == "C.UTF-8",
    "HOME is the sample dir": os.environ["HOME"] == cwd,
    "TMPDIR is the sample dir": os.environ["TMPDIR"] == cwd,
    "tempfile uses it": tempfile.gettempdir() == cwd,
    "argv": sys.argv == ["solution.py"],
    "recursion limit": sys.getrecursionlimit() == 1000,
    # The address-space limit is the size at fork plus memory_mb (256 MiB).
    "RLIMIT_AS": 256 << 20 < resource.getrlimit(resource.RLIMIT_AS)[0] < (256 << 20) + (2 << 30),
}
bad = [k for k, ok in checks.items() if not ok]
print("ok" if not bad else "bad: %s" % bad)
# Leave state behind: the next sample must not see it.
os.environ["LEFT_BEHIND"] = "1"
sys.argv.append("x")
"#;

#[test]
fn every_sample_starts_with_the_sandbox_environment() {
    let exec = Executor::new(&options(1)).expect("executor starts");
    let problem = io_problem("state/io", &[("", "ok\n")]);
    // One worker: every sample goes through the same fork server, after the one
    // before it has left its state behind.
    let jobs = (0..4).map(|i| job(&problem, PROBE, i)).collect();
    for r in exec.run_batch(jobs) {
        assert_eq!(r.verdict, Verdict::Pass, "stdout/stderr: {}", r.stderr_tail);
    }
}

/// `random` is seeded from the sample's id, after the fork: the module reseeds itself
/// from the OS in every forked child, so a seed set before the fork would be lost.
#[test]
fn a_samples_random_numbers_depend_on_its_id_alone() {
    let exec = Executor::new(&options(1)).expect("executor starts");
    let problem = io_problem("state/random", &[("", "")]);
    let code = "import random, sys\nsys.stderr.write('draw=%r' % random.random())\n";
    let draw = |index: u32| {
        let r = exec.run_batch(vec![job(&problem, code, index)]).remove(0);
        let tail = r.stderr_tail;
        assert!(tail.contains("draw="), "{tail}");
        tail
    };
    let first = draw(0);
    assert_eq!(first, draw(0), "the same sample drew different numbers");
    assert_ne!(first, draw(1), "another sample drew the same numbers");
}

/// `queue` and `threading` are left out of the fork server's pre-imports (threading's
/// at-fork hook costs every child); a sample that uses them imports them itself.
#[test]
fn modules_the_server_does_not_preimport_still_import() {
    let exec = Executor::new(&options(1)).expect("executor starts");
    let problem = io_problem("state/queue", &[("", "3\n")]);
    let code = "import queue, threading\nq = queue.Queue()\nt = threading.Thread(target=lambda: q.put(3))\nt.start(); t.join()\nprint(q.get())\n";
    let r = exec.run_batch(vec![job(&problem, code, 0)]).remove(0);
    assert_eq!(r.verdict, Verdict::Pass, "{}", r.stderr_tail);
}

/// A failure the harness catches leaves a short traceback in stderr: the failing
/// test (its line, when the script runs in the sample's process), the sample's own
/// line, the exception. Repair feedback quotes it.
#[test]
fn a_failing_sample_leaves_the_failing_test_and_its_own_line_in_stderr() {
    let code = "def f(xs):\n    first = xs[0]\n    return first\n";
    let script = "def check(candidate):\n    assert candidate([1]) == 1\n    assert candidate([]) == 0\n    assert candidate([]) == 0\n";
    let own_line =
        "File \"<solution>\", line 2\n    first = xs[0]\nIndexError: list index out of range";
    let in_process = ExecOptions {
        judge: JudgeMode::InProcess,
        ..options(1)
    };
    for (opts, head) in [
        // Literal calls: judged in isolation, the script withheld from the sample's process.
        (options(1), "Traceback (test 2 raised):\n"),
        // The script runs in the sample's process: the failing statement is quoted.
        (
            in_process,
            "Traceback (test 2 failed):\n  File \"<tests>\", line 3\n    assert candidate([]) == 0\n",
        ),
    ] {
        let exec = Executor::new(&opts).expect("executor starts");
        let r = run_one(&exec, &assert_problem("state/trace", "f", script), code);
        assert_eq!(r.verdict, Verdict::Fail);
        for want in [head, own_line] {
            assert!(r.stderr_tail.contains(want), "{want:?} not in:\n{}", r.stderr_tail);
        }
        // Only the first failure is told.
        assert_eq!(r.stderr_tail.matches("Traceback").count(), 1, "{}", r.stderr_tail);
    }

    let exec = Executor::new(&options(1)).expect("executor starts");
    let io = io_problem("state/trace-io", &[("", "1\n")]);
    let r = run_one(&exec, &io, "x = {}\nprint(x['k'])\n");
    assert!(
        r.stderr_tail
            .contains("line 2\n    print(x['k'])\nKeyError: 'k'"),
        "{}",
        r.stderr_tail
    );
}

#[test]
fn samples_import_what_the_interpreter_has_installed() {
    // A venv made by hand (what `python -m venv` writes, less pip): samples run under
    // its interpreter import its site-packages. The fork server's `-S` left them off
    // the path, so `import numpy` failed under a venv that had numpy.
    let real = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys; print(sys.executable); print('%d.%d' % sys.version_info[:2])",
        ])
        .output()
        .expect("python3 runs");
    let out = String::from_utf8(real.stdout).unwrap();
    let mut lines = out.lines();
    let (exe, version) = (lines.next().unwrap(), lines.next().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("venv");
    let site = venv.join(format!("lib/python{version}/site-packages"));
    std::fs::create_dir_all(&site).unwrap();
    std::fs::create_dir_all(venv.join("bin")).unwrap();
    let home = std::path::Path::new(exe).parent().unwrap();
    std::fs::write(
        venv.join("pyvenv.cfg"),
        format!(
            "home = {}\ninclude-system-site-packages = false\nversion = {version}\n",
            home.display()
        ),
    )
    .unwrap();
    std::os::unix::fs::symlink(exe, venv.join("bin/python3")).unwrap();
    std::fs::write(site.join("ouro_probe_pkg.py"), "ANSWER = 41\n").unwrap();
    // The sandbox uid reads the venv from inside a root-only temp dir.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();

    let mut opts = options(1);
    opts.python = venv.join("bin/python3");
    let exec = Executor::new(&opts).expect("executor starts");
    let problem = assert_problem("child/site", "f", "assert f(1) == 42\n");
    let code = "import ouro_probe_pkg\ndef f(x):\n    return ouro_probe_pkg.ANSWER + x\n";
    let r = run_one(&exec, &problem, code);
    assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
}

#[test]
fn multiprocessing_pools_and_queues_work_and_leave_nothing_for_the_next_sample() {
    // Their semaphores live in /dev/shm: each slot mounts its own, and the server
    // empties it after every sample, as it removes the sample's directory.
    let exec = Executor::new(&options(1)).expect("executor starts");
    let problem = io_problem("child/mp", &[("", "[1, 4, 9]\n3 []\n")]);
    let code = "import multiprocessing as mp, os\n\
def sq(x):\n    return x * x\n\
if __name__ == '__main__':\n    with mp.Pool(2) as p:\n        print(p.map(sq, [1, 2, 3]))\n    \
q = mp.Queue()\n    w = mp.Process(target=q.put, args=(3,))\n    w.start()\n    got = q.get(timeout=5)\n    w.join()\n    \
leftover = sorted(n for n in os.listdir('/dev/shm') if not n.startswith('sem.mp-'))\n    \
print(got, leftover)\n    open('/dev/shm/left-behind', 'w').write('x')\n";
    let jobs = (0..2).map(|i| job(&problem, code, i)).collect();
    for r in exec.run_batch(jobs) {
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    }
}
