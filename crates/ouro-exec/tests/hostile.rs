//! The hostile suite: programs that attack the sandbox or try to fake a pass.
//!
//! Each program is written so that a *successful* attack would earn a pass
//! (or leave a trace on the host); each must get the expected verdict, the
//! executor must stay alive, no process may survive its sample, and the
//! host's files must be intact.

mod common;

use common::*;
use ouro_exec::{Executor, Limits, Verdict};

const CHECK: &str =
    "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(2) == 3\n";
const SECRET_VAR: &str = "OURO_HOSTILE_SECRET_7f3a";

struct Case {
    name: &'static str,
    code: String,
    /// Acceptable verdicts (the first is the expected one).
    verdicts: &'static [Verdict],
    /// Expected error kind, when it matters.
    error_kind: Option<&'static str>,
}

fn case(
    name: &'static str,
    code: &str,
    verdicts: &'static [Verdict],
    error_kind: Option<&'static str>,
) -> Case {
    Case {
        name,
        code: code.to_string(),
        verdicts,
        error_kind,
    }
}

use Verdict::*;

const KILL_THE_PARENT: &str = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nos.kill(1, signal.SIGKILL)\ndef f(x):\n    return x + 1\n";

/// `signals_scoped`: a sample cannot signal its server, because it runs as another
/// uid (root) or in a Landlock domain that scopes signals (ABI 6, Linux 6.12).
fn hostile_cases(victim: &str, outside: &str, signals_scoped: bool) -> Vec<Case> {
    vec![
        case("control: correct program", "def f(x):\n    return x + 1\n", &[Pass], None),
        case("control: wrong program", "def f(x):\n    return x\n", &[Fail], Some("AssertionError")),
        // `cpu` on an idle machine; under heavy load the wall watchdog may fire first.
        case("infinite loop", "while True:\n    pass\n", &[Timeout], None),
        case("sleep", "import time\ntime.sleep(100)\n", &[Timeout], Some("wall")),
        case(
            "patched builtins choose the error kind",
            "import builtins\nclass M(type):\n    __name__ = property(lambda c: 'Chosen')\nclass E(Exception, metaclass=M):\n    pass\nbuiltins.str = lambda *a: 'Chosen'\nbuiltins.type = lambda *a: E\ndef f(x):\n    raise E()\n",
            &[Fail],
            Some("E"),
        ),
        // `cpu` on an idle machine (it passed before children's CPU counted); the wall
        // watchdog may fire first under load.
        case(
            "CPU burnt in a child, past the budget",
            "import os, time\nif os.fork() == 0:\n    t = time.process_time()\n    while time.process_time() - t < 1.2:\n        pass\n    os._exit(0)\nos.wait()\ndef f(x):\n    return x + 1\n",
            &[Timeout],
            None,
        ),
        case(
            "fork bomb",
            "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
            &[Timeout],
            None,
        ),
        case(
            "thread bomb",
            "import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(100,)).start()\n",
            &[Error, Oom, Timeout],
            None,
        ),
        case(
            "memory bomb",
            "x = []\nwhile True:\n    x.append(bytearray(10**7))\n",
            &[Oom],
            Some("memory"),
        ),
        case(
            "recursion depth",
            "def g(n):\n    return g(n + 1)\ng(0)\ndef f(x):\n    return x + 1\n",
            &[Error],
            Some("RecursionError"),
        ),
        case(
            "unbounded recursion with the limit raised",
            "import sys\nsys.setrecursionlimit(10**7)\ndef g(n):\n    return g(n + 1)\ng(0)\ndef f(x):\n    return x + 1\n",
            // CPython 3.11 keeps Python frames off the C stack, so this ends
            // in a memory or time limit rather than a segfault.
            &[Error, Oom, Timeout],
            None,
        ),
        case(
            "disk fill",
            "with open('big', 'wb') as fh:\n    while True:\n        fh.write(b'x' * (1 << 20))\n",
            &[Error],
            None,
        ),
        case(
            "fd exhaustion",
            "fs = [open('/dev/null') for _ in range(100000)]\ndef f(x):\n    return x + 1\n",
            &[Error],
            Some("OSError"),
        ),
        case("stdout flood", "while True:\n    print('x' * 1000)\n", &[OutputLimit], None),
        case(
            "write outside the working directory",
            &format!("open({outside:?}, 'w').write('pwned')\ndef f(x):\n    return x + 1\n"),
            &[Error],
            Some("PermissionError"),
        ),
        case(
            "delete outside the working directory",
            &format!("import os\nos.remove({victim:?})\ndef f(x):\n    return x + 1\n"),
            &[Error],
            None,
        ),
        case(
            "read /etc/shadow",
            "open('/etc/shadow').read()\ndef f(x):\n    return x + 1\n",
            &[Error],
            Some("PermissionError"),
        ),
        case(
            "read the parent's environment",
            &format!(
                "import os\nfound = {SECRET_VAR:?} in str(dict(os.environ))\nfor p in os.listdir('/proc'):\n    try:\n        found = found or {SECRET_VAR:?}.encode() in open('/proc/%s/environ' % p, 'rb').read()\n    except Exception:\n        pass\ndef f(x):\n    return x + 1 if found else 0\n"
            ),
            &[Fail],
            None,
        ),
        case(
            "TCP connect",
            "import socket\ns = socket.create_connection(('127.0.0.1', 22), timeout=1)\ndef f(x):\n    return x + 1\n",
            &[Error],
            Some("PermissionError"),
        ),
        case(
            "UDP send",
            "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.sendto(b'x', ('8.8.8.8', 53))\ndef f(x):\n    return x + 1\n",
            &[Error],
            Some("PermissionError"),
        ),
        case(
            "unix socket connect",
            "import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect('/run/systemd/private')\ndef f(x):\n    return x + 1\n",
            &[Error],
            Some("PermissionError"),
        ),
        case(
            "subprocess writes outside",
            &format!("import subprocess\nr = subprocess.run(['sh', '-c', 'echo pwned > {outside}'])\ndef f(x):\n    return x + 1 if r.returncode == 0 else 0\n"),
            &[Fail, Error],
            None,
        ),
        case(
            "setsid daemon outlives the sample",
            "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(60)\n    os._exit(0)\ndef f(x):\n    return x + 1\n",
            &[Pass],
            None,
        ),
        case(
            "kill(-1)",
            "import os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError:\n    pass\ndef f(x):\n    return x + 1\n",
            &[Pass, Error],
            None,
        ),
        // As root the child runs as another uid than its server, and from Landlock ABI 6 in
        // a domain that scopes its signals: the kill is refused. A caller without root on an
        // older kernel gives children its own uid, and the server, pid 1 of its pid
        // namespace with no signal handlers, ignores it. Either way it serves on.
        if signals_scoped {
            case(
                "kill the parent",
                KILL_THE_PARENT,
                &[Error],
                Some("PermissionError"),
            )
        } else {
            case("kill the parent (unscoped)", KILL_THE_PARENT, &[Pass], None)
        },
        // The slot's workdir holds every sample's directory: a file left in it would reach
        // the next sample, and a directory made under the next one's name would stop the
        // server making it. Only its own directory is writable.
        case(
            "leave a file for the next sample",
            "try:\n    open('../planted', 'w').close()\n    ok = True\nexcept OSError:\n    ok = False\ndef f(x):\n    return x + 1 if ok else 0\n",
            &[Fail],
            Some("AssertionError"),
        ),
        // The server's memory holds what the sample must not see (other samples' requests,
        // isolated judging's spy records); the sample may read its own, not its server's.
        case(
            "read the server's memory",
            "ok = False\ntry:\n    with open('/proc/%d/maps' % __import__('os').getppid()) as m:\n        start = next(int(l.split('-')[0], 16) for l in m if l.split()[1].startswith('rw'))\n    with open('/proc/%d/mem' % __import__('os').getppid(), 'rb') as f:\n        f.seek(start)\n        ok = len(f.read(16)) == 16\nexcept Exception:\n    pass\ndef f(x):\n    return x + 1 if ok else 0\n",
            &[Fail],
            Some("AssertionError"),
        ),
        case(
            "make the next sample's directory",
            "import os\nseq = int(os.path.basename(os.getcwd())[1:])\nmade = 0\nfor n in range(seq + 1, seq + 9):\n    try:\n        os.mkdir('../s%d' % n)\n        made += 1\n    except OSError:\n        pass\ndef f(x):\n    return x + 1 if made else 0\n",
            &[Fail],
            Some("AssertionError"),
        ),
        case(
            "ptrace the parent",
            "import ctypes, os\nlibc = ctypes.CDLL(None)\nif libc.ptrace(16, os.getppid(), 0, 0) == 0:\n    def f(x):\n        return x + 1\n",
            &[Error],
            Some("NameError"),
        ),
        case(
            "ignore SIGTERM",
            "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True:\n    pass\n",
            &[Timeout],
            None,
        ),
        case("ctypes segfault", "import ctypes\nctypes.string_at(0)\n", &[Error], Some("signal:11")),
        case(
            "monkeypatch AssertionError",
            "import builtins\nbuiltins.AssertionError = type('Nope', (Exception,), {})\nAssertionError = builtins.AssertionError\ndef f(x):\n    return 0\n",
            &[Fail],
            None,
        ),
        case(
            "monkeypatch builtins",
            "import builtins\nbuiltins.isinstance = lambda *a: True\nbuiltins.len = lambda *a: 0\nbuiltins.Exception = BaseException\ndef f(x):\n    return 0\n",
            &[Fail],
            None,
        ),
        case(
            "always-equal object",
            "class Eq:\n    def __eq__(self, other):\n        return True\ndef f(x):\n    return Eq()\n",
            // The tests compile, so the value is judged in the parent (see
            // tests/forgery.rs for the rest of the forgery suite).
            &[Fail],
            Some("not_plain_data"),
        ),
        case("sys.exit(0) before the asserts", "import sys\ndef f(x):\n    return 0\nsys.exit(0)\n", &[Error], Some("exited_early")),
        case("os._exit(0) before the asserts", "import os\ndef f(x):\n    return 0\nos._exit(0)\n", &[Error], Some("exited_early")),
        case(
            "SystemExit raised in finally",
            "def f(x):\n    return 0\ntry:\n    pass\nfinally:\n    raise SystemExit(0)\n",
            &[Error],
            Some("exited_early"),
        ),
        case(
            "sys.exit inside the candidate",
            "import sys\ndef f(x):\n    sys.exit(0)\n",
            &[Fail],
            Some("exited_early"),
        ),
        case(
            "exit from a finally inside the candidate",
            "import os\ndef f(x):\n    try:\n        return 0\n    finally:\n        os._exit(0)\n",
            &[Error],
            Some("exited_early"),
        ),
        case(
            "fake results without the nonce on every fd",
            "import os\nmsg = b'U\\nT 0 1 -\\nT 1 1 -\\nD 2\\n'\nfor fd in range(1024):\n    try:\n        os.write(fd, msg)\n        os.write(fd, b'x ' + msg.replace(b'\\n', b'\\nx '))\n    except OSError:\n        pass\nos._exit(0)\n",
            &[Error],
            Some("exited_early"),
        ),
        case(
            "legit memory use within budget",
            "x = bytearray(100 * 1024 * 1024)\ndef f(v):\n    return v + 1\n",
            &[Pass],
            None,
        ),
    ]
}

fn io_cases() -> Vec<(&'static str, &'static str, Verdict)> {
    vec![
        ("a, b = map(int, input().split())\nprint(a + b)\n", "correct io", Pass),
        (
            "class Eq:\n    def __eq__(self, o):\n        return True\n    def __str__(self):\n        return 'whatever'\nprint(Eq())\n",
            "always-equal object against a stdout test",
            Fail,
        ),
        ("import sys\na, b = map(int, input().split())\nprint(a + b)\nsys.exit(0)\n", "sys.exit(0) after a correct answer", Pass),
        ("import sys\nsys.exit(0)\n", "sys.exit(0) before answering", Fail),
        ("import os\nos._exit(0)\n", "os._exit(0) before answering", Fail),
        (
            "import os\na, b = map(int, input().split())\nprint(a + b, flush=True)\nos._exit(0)\n",
            "os._exit(0) after a flushed answer",
            Pass,
        ),
        ("import os\nos._exit(3)\n", "os._exit(3)", Error),
        ("print(1/0)\n", "exception", Error),
    ]
}

/// The two tests that load the machine run one at a time: the hostile batch beside the
/// fork bomb would take CPU from the sample whose share is under test.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn a_fork_bomb_does_not_starve_the_slot_beside_it() {
    // Each slot has an equal CPU share whatever it runs: before, the bomb's processes
    // took nearly all of it, and the correct sample got 67 ms of CPU in 10 s.
    let _alone = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let mut opts = options(2);
    opts.limits.wall_ms = 6_000;
    let exec = Executor::new(&opts).expect("executor starts");
    let problem = assert_problem("hostile/starve", "f", "assert f(1) == 2\n");
    let bomb =
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n";
    let busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.2:\n    pass\ndef f(x):\n    return x + 1\n";
    let results = exec.run_batch(vec![job(&problem, bomb, 0), job(&problem, busy, 1)]);
    assert_eq!(results[0].verdict, Timeout, "{:?}", results[0]);
    assert_eq!(results[1].verdict, Pass, "{:?}", results[1]);
}

#[test]
fn hostile_programs_get_the_right_verdicts_and_leave_nothing_behind() {
    let _alone = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: set before any slot starts; tests in this binary do not read it concurrently.
    std::env::set_var(SECRET_VAR, "1");
    let host_tmp = tempfile::tempdir().unwrap();
    let victim = host_tmp.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    let outside = host_tmp.path().join("pwned.txt");
    let mut opts = options(2);
    opts.limits = Limits {
        cpu_ms: 1_000,
        wall_ms: 2_000,
        memory_mb: 256,
        output_bytes: 1 << 20,
    };
    let exec = Executor::new(&opts).expect("executor starts");
    let problem = assert_problem("hostile/assert", "f", CHECK);
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let cases = hostile_cases(
        victim.to_str().unwrap(),
        outside.to_str().unwrap(),
        root || landlock_abi(&exec.isolation()[0]) >= 6,
    );
    let jobs = cases
        .iter()
        .enumerate()
        .map(|(i, c)| job(&problem, &c.code, i as u32))
        .collect();
    let results = exec.run_batch(jobs);
    let mut failures = Vec::new();
    for (c, r) in cases.iter().zip(&results) {
        let kind_ok = c
            .error_kind
            .is_none_or(|k| r.error_kind.as_deref() == Some(k));
        if !c.verdicts.contains(&r.verdict) || !kind_ok {
            failures.push(format!(
                "{}: got {:?}/{:?} ({} ms CPU, {} ms wall, {} KB peak), want {:?}/{:?}; stderr: {}",
                c.name,
                r.verdict,
                r.error_kind,
                r.cpu_ms,
                r.wall_ms,
                r.max_rss_kb,
                c.verdicts,
                c.error_kind,
                r.stderr_tail
                    .chars()
                    .rev()
                    .take(300)
                    .collect::<String>()
                    .chars()
                    .rev()
                    .collect::<String>()
            ));
        }
        assert!(!r.isolation.is_empty(), "{}: isolation recorded", c.name);
    }
    let io = io_problem("hostile/io", &[("1 2\n", "3\n"), ("5 7\n", "12\n")]);
    let io_list = io_cases();
    let io_jobs = io_list
        .iter()
        .enumerate()
        .map(|(i, (code, _, _))| job(&io, code, i as u32))
        .collect();
    for ((_, name, want), r) in io_list.iter().zip(exec.run_batch(io_jobs)) {
        if r.verdict != *want {
            failures.push(format!(
                "{name}: got {:?}/{:?}, want {want:?}",
                r.verdict, r.error_kind
            ));
        }
    }
    // The executor is still alive and serving on every slot.
    let after = exec.run_batch(
        (0..4)
            .map(|i| job(&problem, "def f(x):\n    return x + 1\n", 100 + i))
            .collect(),
    );
    for r in &after {
        assert_eq!(
            r.verdict, Pass,
            "executor still serves correct programs: {r:?}"
        );
    }
    let leftovers = processes_with_uids(exec.sandbox_uids());
    assert!(
        leftovers.is_empty(),
        "processes survived their samples: {leftovers:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "precious",
        "host file intact"
    );
    assert!(!outside.exists(), "nothing written outside the sandbox");
    assert!(
        failures.is_empty(),
        "wrong verdicts:\n{}",
        failures.join("\n")
    );
    assert!(cases.len() >= 25);
}

/// The Landlock ABI in an isolation string (`...+landlock6+...`), 0 without Landlock.
fn landlock_abi(isolation: &str) -> u32 {
    isolation
        .split('+')
        .find_map(|level| level.strip_prefix("landlock")?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn isolation_is_recorded_and_complete_when_root() {
    let exec = Executor::new(&options(1)).expect("executor starts");
    let iso = exec.isolation();
    assert_eq!(iso.len(), 1);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        for want in [
            "pidns", "netns", "mntns", "ipcns", "utsns", "tmpfs", "uid", "landlock", "seccomp",
        ] {
            assert!(iso[0].contains(want), "isolation {:?} lacks {want}", iso[0]);
        }
    } else {
        assert!(
            !exec.warnings().is_empty(),
            "degraded isolation is warned about"
        );
    }
}
