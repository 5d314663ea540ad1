//! The sandbox on machines that give less than root on a full Linux: `--check-sandbox`
//! says what a run gets, `--require-isolation` stops a run that would get less before it
//! executes anything, root without CAP_SYS_ADMIN (a container's) and a user without root
//! run samples in a user namespace, and without root or user namespaces the executor
//! refuses to start.
//!
//! Stand-ins make such machines here: `tests/fixtures/deny_unshare.py` runs ouro with
//! unshare(2) failing (a container that forbids namespaces; x86_64 only), and `setpriv`
//! runs it without CAP_SYS_ADMIN or as `nobody`. They need root; without it (or without
//! `setpriv`, or a python3 outside root's home for `nobody`) a test says so on stderr and
//! checks what it can.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ouro_e2e::{arg, ouro, ouro_bin, ouro_ok, stderr, workspace};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `nobody`, by `setpriv`, for a command.
fn nobody(cmd: &mut Command) -> &mut Command {
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
}

/// A Python interpreter `nobody` can run, when this machine has one.
fn python_for_nobody() -> Option<PathBuf> {
    ["/usr/bin/python3", "/usr/local/bin/python3"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| {
            nobody(&mut Command::new("setpriv"))
                .arg(p)
                .args(["-c", "pass"])
                .status()
                .is_ok_and(|s| s.success())
        })
}

/// `d/<name>`: samples of one `completion` of HumanEval/0 (`add(a, b)`), readable by anyone.
fn import_samples(d: &Path, problems: &Path, name: &str, completion: &str) -> PathBuf {
    let out = ouro_e2e::humaneval0_samples(d, problems, name, completion);
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o777)).unwrap();
    out
}

/// Problems and one correct sample, readable by anyone, and a copy of the binary.
struct Inputs {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    bin: PathBuf,
    problems: PathBuf,
    samples: PathBuf,
}

fn inputs() -> Inputs {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let problems = ouro_e2e::humaneval_mini_problems(&d.join("problems"));
    let samples = import_samples(&d, &problems, "samples", "    return a + b\n");
    let bin = d.join("ouro");
    std::fs::copy(ouro_bin(), &bin).unwrap();
    for p in [&d, &problems, &samples] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    Inputs {
        _dir: dir,
        dir: d,
        bin,
        problems,
        samples,
    }
}

impl Inputs {
    /// `ouro execute` of the sample into `out`, with `extra` flags, through `wrap`.
    fn execute(&self, wrap: &mut Command, out: &str, extra: &[&str]) -> Output {
        self.execute_samples(wrap, &self.samples, out, extra)
    }

    fn execute_samples(
        &self,
        wrap: &mut Command,
        samples: &Path,
        out: &str,
        extra: &[&str],
    ) -> Output {
        wrap.arg(&self.bin)
            .args(["execute", "--workers", "1", "--problems"])
            .arg(&self.problems)
            .arg("--samples")
            .arg(samples)
            .arg("--out")
            .arg(self.dir.join(out))
            .args(extra)
            .output()
            .expect("run ouro")
    }

    fn parquet_in(&self, out: &str) -> bool {
        ouro_e2e::files_under(&self.dir.join(out))
            .iter()
            .any(|f| f.extension().is_some_and(|x| x == "parquet"))
    }

    /// True when a run into `out` left no file at all: no shard, and no
    /// journal a later run would have to make sense of.
    fn nothing_in(&self, out: &str) -> bool {
        ouro_e2e::files_under(&self.dir.join(out)).is_empty()
    }
}

/// python3 running the fixture that makes unshare(2) fail, then the command after it.
fn deny_unshare(python: &Path) -> Command {
    let mut c = Command::new(python);
    c.arg(workspace().join("tests/fixtures/deny_unshare.py"));
    c
}

#[test]
fn check_sandbox_reports_the_isolation_a_run_gets() {
    let out = ouro_ok(&["execute", "--check-sandbox", "--workers", "1", "--json"]);
    let v: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(v["slots"], 1, "{v}");
    let iso = v["isolation"][0].as_str().unwrap();
    assert!(iso.contains("seccomp") && iso.contains("landlock"), "{v}");
    if is_root() {
        assert_eq!(v["missing"], serde_json::json!([]), "{v}");
        let o = ouro(&[
            "execute",
            "--check-sandbox",
            "--workers",
            "1",
            "--require-isolation",
            "all",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("required, and in place: ipcns"),
            "{}",
            stderr(&o)
        );
    }
    let o = ouro(&[
        "execute",
        "--check-sandbox",
        "--require-isolation",
        "netns,network",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown isolation primitive 'network'"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn without_namespaces_a_required_one_stops_the_run_before_it_executes() {
    if !is_root() || std::env::consts::ARCH != "x86_64" {
        eprintln!("skipped: needs root on x86_64");
        return;
    }
    let i = inputs();
    let python = PathBuf::from("python3");
    let o = i.execute(
        &mut deny_unshare(&python),
        "refused",
        &["--require-isolation", "seccomp,netns"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("lacks required isolation: netns (nothing was executed)")
            && e.contains("unshare(netns) failed"),
        "{e}"
    );
    assert!(i.nothing_in("refused"));
    // Not required, the same machine runs it with what it has, and says what is missing.
    let o = i.execute(&mut deny_unshare(&python), "ran", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("1 passing in all") && e.contains("isolation primitive missing: netns"),
        "{e}"
    );
    assert!(i.parquet_in("ran"));

    // A pipeline's `[execute]` keys reach its execute stage; resumed where it may run, it does.
    let run = i.dir.join("run");
    let pipeline = i.dir.join("p.toml");
    std::fs::write(
        &pipeline,
        format!(
            "out = {:?}\n[problems]\ncount = 3\nseed = 0\n[samples]\nmutants_per_problem = 1\n\
             [execute]\nworkers = 1\npython = \"python3\"\nrequire_isolation = [\"netns\"]\n",
            run.display().to_string()
        ),
    )
    .unwrap();
    let o = deny_unshare(&python)
        .arg(ouro_bin())
        .args(["run", &arg(&pipeline)])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "stage 'execute': sandbox: this machine's sandbox lacks required isolation: netns"
        ),
        "{}",
        stderr(&o)
    );
    let o = ouro(&["run", &arg(&pipeline), "--resume"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn root_without_cap_sys_admin_gets_every_namespace_through_a_user_namespace() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    // A container's root: no CAP_SYS_ADMIN, so no namespace of its own making.
    let mut no_sys_admin = Command::new("setpriv");
    no_sys_admin.args(["--bounding-set", "-sys_admin", "--inh-caps", "-sys_admin"]);
    let i = inputs();
    let o = i.execute(&mut no_sys_admin, "ran", &["--require-isolation", "all"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("1 passing in all") && e.contains("+userns+") && e.contains("+uid+"),
        "{e}"
    );
}

#[test]
fn a_user_without_root_runs_samples_in_a_user_namespace_or_not_at_all() {
    let python = match (is_root(), python_for_nobody()) {
        (true, Some(p)) => p,
        _ => {
            eprintln!("skipped: needs root, setpriv and a python3 that nobody can run");
            return;
        }
    };
    let i = inputs();
    let py = ["--python", &arg(&python)];
    let o = i.execute(nobody(&mut Command::new("setpriv")), "ran", &py);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("1 passing in all") && e.contains("no sandbox uid (not root)"),
        "{e}"
    );
    // Said once, and without colour codes in a pipe.
    assert_eq!(e.matches("no sandbox uid (not root)").count(), 1, "{e}");
    assert!(!e.contains('\x1b'), "{e}");
    // Its samples share the caller's uid with their server and with each other: a sample
    // that could write beside its own directory, or signal its server, would pass.
    let attack = import_samples(
        &i.dir,
        &i.problems,
        "attack",
        "    return a + b if _won() else None\n\n\nimport os\n\n\ndef _won():\n    \
         try:\n        open('../planted', 'w').close()\n        return True\n    \
         except OSError:\n        pass\n    try:\n        os.kill(os.getppid(), 0)\n        \
         return True\n    except OSError:\n        return False\n",
    );
    let o = i.execute_samples(
        nobody(&mut Command::new("setpriv")),
        &attack,
        "attacked",
        &py,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let landlock6 = stderr(&o)
        .split(|c: char| c == '+' || c.is_whitespace())
        .any(|w| {
            w.strip_prefix("landlock")
                .and_then(|n| n.parse::<u32>().ok())
                >= Some(6)
        });
    if landlock6 {
        assert!(stderr(&o).contains("0 passing in all"), "{}", stderr(&o));
    } else {
        eprintln!(
            "skipped the attack's verdict: Landlock ABI 6 (Linux 6.12) is needed to scope signals"
        );
    }
    // A user cannot create a cgroup: requiring one stops the run, saying why.
    let required = [&py[..], &["--require-isolation", "netns,cgroup"]].concat();
    let o = i.execute(nobody(&mut Command::new("setpriv")), "no-cgroup", &required);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("lacks required isolation: cgroup") && e.contains("cannot create groups"),
        "{e}"
    );
    assert!(i.nothing_in("no-cgroup"));
    // Without a user namespace either, the slot refuses to start.
    if std::env::consts::ARCH == "x86_64" {
        let mut cmd = Command::new("setpriv");
        nobody(&mut cmd)
            .arg(&python)
            .arg(workspace().join("tests/fixtures/deny_unshare.py"));
        let o = i.execute(&mut cmd, "refused", &py);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let e = stderr(&o);
        assert!(
            e.contains("cannot sandbox samples: not running as root, and no user namespace")
                && e.contains("unshare(user) failed"),
            "{e}"
        );
        assert!(i.nothing_in("refused"));
    }
}
