//! What a sample's process starts with. The fork server sets part of it before
//! forking (so the child writes no page for it); the child must still see exactly
//! this state, sample after sample.

mod common;

use common::*;
use ouro_exec::{Executor, Verdict};

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
