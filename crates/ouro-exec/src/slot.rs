//! A slot: one sandbox with a warm Python fork server inside, built once and
//! reused for many samples (recycled every N).

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cgroup::{CgroupSupport, SlotCgroup};
use crate::protocol::{Hello, Request, Response};

/// The harness source, run with `python3 -c`: `isolate.py` (plain-data codec, spy
/// pass), then `confine.py` (sandbox set-up), then `harness.py`, which ends by calling
/// `main()`.
pub const HARNESS: &str = concat!(
    include_str!("isolate.py"),
    include_str!("confine.py"),
    include_str!("harness.py")
);

/// The sandbox primitives a slot is expected to reach when running as root;
/// anything missing from a slot's isolation is warned about.
pub const FULL_ISOLATION: &[&str] = &[
    "ipcns", "mntns", "netns", "pidns", "utsns", "proc", "tmpfs", "uid", "landlock", "seccomp",
    "cgroup",
];

/// `list` (comma-separated names of [`FULL_ISOLATION`], or `all`) as the primitives a run
/// insists on; an unknown name is an error listing the known ones.
pub fn parse_isolation(list: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let names: Vec<&str> = if name == "all" {
            FULL_ISOLATION.to_vec()
        } else if FULL_ISOLATION.contains(&name) {
            vec![name]
        } else {
            return Err(format!(
                "unknown isolation primitive '{name}' (expected all or any of {})",
                FULL_ISOLATION.join(", ")
            ));
        };
        for n in names {
            if !out.iter().any(|o| o == n) {
                out.push(n.to_string());
            }
        }
    }
    Ok(out)
}

/// The primitives of `required` that a slot's `achieved` isolation (as in
/// [`Slot::isolation`], e.g. `cgroup+landlock7+netns`) lacks.
pub fn missing_isolation<'r, S: AsRef<str>>(required: &'r [S], achieved: &str) -> Vec<&'r str> {
    required
        .iter()
        .map(AsRef::as_ref)
        .filter(|want| !achieved.split('+').any(|have| have.starts_with(want)))
        .collect()
}

/// How to build a slot.
#[derive(Debug, Clone)]
pub struct SlotSpec {
    pub index: usize,
    pub python: PathBuf,
    /// Host directory the slot's tmpfs is mounted on.
    pub workdir: PathBuf,
    pub tmpfs_mb: u64,
    /// Memory limit of the whole slot (server plus children).
    pub slot_memory_mb: u64,
    pub max_pids: u64,
    /// uid untrusted code runs as (distinct per slot).
    pub uid: u32,
    /// The C line counter the fork server loads before sandboxing itself.
    pub linecount: Option<PathBuf>,
    /// Whether children count `lines_executed` (ExecOptions::count_lines).
    pub count_lines: bool,
}

/// Why a slot could not answer.
#[derive(Debug, thiserror::Error)]
pub enum SlotError {
    #[error("slot {slot}: {message}")]
    Broken { slot: usize, message: String },
}

/// A running slot.
pub struct Slot {
    pub spec: SlotSpec,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    /// Isolation achieved, e.g. `ipcns+landlock7+mntns+...`.
    pub isolation: String,
    pub warnings: Vec<String>,
    pub served: u64,
    cgroup: Option<SlotCgroup>,
}

impl Slot {
    /// Starts the slot and waits for its hello frame.
    pub fn start(spec: SlotSpec, cgroups: Option<&CgroupSupport>) -> Result<Slot, SlotError> {
        let index = spec.index;
        let broken = move |m: String| SlotError::Broken {
            slot: index,
            message: m,
        };
        let mut warnings = Vec::new();
        let cgroup = match cgroups {
            Some(cg) => {
                static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let name = format!("slot-{}-{}-{n}", std::process::id(), spec.index);
                match cg.create_slot(&name, spec.slot_memory_mb << 20, spec.max_pids) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        warnings.push(format!("cannot create cgroup for slot {}: {e}", spec.index));
                        None
                    }
                }
            }
            None => None,
        };
        std::fs::create_dir_all(&spec.workdir)
            .map_err(|e| broken(format!("{}: {e}", spec.workdir.display())))?;
        let config = serde_json::json!({
            "workdir": spec.workdir,
            "tmpfs_mb": spec.tmpfs_mb,
            "uid": spec.uid,
            "nproc": spec.max_pids,
            "linecount": spec.linecount,
            "count_lines": spec.count_lines,
            "cgroup_procs": cgroup.as_ref().map(|c| c.procs_files()).unwrap_or_default(),
            "cgroup_cpu_procs": cgroup.as_ref().and_then(|c| c.cpu_procs_file()),
        });
        let mut cmd = Command::new(&spec.python);
        cmd.args(["-s", "-S", "-P", "-c", HARNESS, &config.to_string()])
            .env_clear()
            .env("PYTHONHASHSEED", "0")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONIOENCODING", "utf-8")
            .env("LANG", "C.UTF-8")
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .current_dir("/")
            .process_group(0);
        let mut child = cmd
            .spawn()
            .map_err(|e| broken(format!("cannot start {}: {e}", spec.python.display())))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut slot = Slot {
            spec,
            child,
            stdin: Some(stdin),
            stdout,
            isolation: String::new(),
            warnings,
            served: 0,
            cgroup,
        };
        let hello: Hello = match slot.read_frame(Duration::from_secs(60)) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| broken(format!("bad hello: {e}")))?
            }
            Err(e) => {
                slot.kill();
                return Err(e);
            }
        };
        if let Some(why) = hello.refused {
            slot.kill();
            return Err(broken(why));
        }
        let mut iso = hello.isolation.clone();
        iso.sort();
        slot.isolation = iso.join("+");
        slot.warnings.extend(hello.warnings);
        for want in FULL_ISOLATION {
            if !hello.isolation.iter().any(|h| h.starts_with(want)) {
                slot.warnings
                    .push(format!("isolation primitive missing: {want}"));
            }
        }
        Ok(slot)
    }

    /// Runs one request. On error the slot is killed and must be replaced.
    pub fn run(&mut self, req: &Request) -> Result<Response, SlotError> {
        let body = serde_json::to_vec(req).expect("request serializes");
        let mut frame = (body.len() as u32).to_le_bytes().to_vec();
        frame.extend_from_slice(&body);
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(self.broken("slot is shut down".into()));
        };
        if let Err(e) = stdin.write_all(&frame).and_then(|_| stdin.flush()) {
            self.kill();
            return Err(self.broken(format!("write request: {e}")));
        }
        let runs = if req.kind == "io" {
            req.cases.len().max(1)
        } else {
            1
        } as u64;
        let budget = Duration::from_millis(runs * (req.limits.wall_ms + 2_000) + 10_000);
        let bytes = match self.read_frame(budget) {
            Ok(b) => b,
            Err(e) => {
                self.kill();
                return Err(e);
            }
        };
        self.served += 1;
        serde_json::from_slice(&bytes).map_err(|e| {
            self.kill();
            self.broken(format!("bad response: {e}"))
        })
    }

    /// OOM kills recorded by the slot's cgroup so far (0 without cgroups).
    pub fn oom_kills(&self) -> u64 {
        self.cgroup.as_ref().map(|c| c.oom_kills()).unwrap_or(0)
    }

    /// Times the slot's cgroup reached its memory limit so far (0 without cgroups).
    pub fn memory_limit_hits(&self) -> u64 {
        self.cgroup.as_ref().map(|c| c.limit_hits()).unwrap_or(0)
    }

    /// Pids currently in the slot's cgroup (the relay and the server when idle).
    pub fn cgroup_procs(&self) -> Option<Vec<i32>> {
        self.cgroup.as_ref().map(|c| c.procs())
    }

    /// Host pid of the slot's first process.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn broken(&self, message: String) -> SlotError {
        SlotError::Broken {
            slot: self.spec.index,
            message,
        }
    }

    fn read_frame(&mut self, budget: Duration) -> Result<Vec<u8>, SlotError> {
        let deadline = Instant::now() + budget;
        let mut head = [0u8; 4];
        self.read_exact_until(&mut head, deadline)?;
        let n = u32::from_le_bytes(head) as usize;
        if n > 512 << 20 {
            return Err(self.broken(format!("frame of {n} bytes")));
        }
        let mut body = vec![0u8; n];
        self.read_exact_until(&mut body, deadline)?;
        Ok(body)
    }

    fn read_exact_until(&mut self, buf: &mut [u8], deadline: Instant) -> Result<(), SlotError> {
        let fd = self.stdout.as_raw_fd();
        let mut got = 0;
        while got < buf.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.broken("harness did not answer in time".into()));
            }
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd for the duration of the call.
            let r =
                unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(i32::MAX as u128) as i32) };
            if r < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(self.broken(format!("poll: {e}")));
            }
            if r == 0 {
                continue;
            }
            match self.stdout.read(&mut buf[got..]) {
                Ok(0) => return Err(self.broken("harness exited".into())),
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.broken(format!("read: {e}"))),
            }
        }
        Ok(())
    }

    /// Kills the slot and everything in it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(cg) = &self.cgroup {
            cg.kill_all();
        }
    }
}

impl Slot {
    /// Asks the fork server to exit (end of input) and waits briefly, so that
    /// its CPU time is accounted to this process; kills it if it lingers.
    fn shut_down(&mut self) {
        // Closing our end of its stdin makes the server's read loop return.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                _ => break,
            }
        }
        self.kill();
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.shut_down();
        let _ = std::fs::remove_dir(&self.spec.workdir);
    }
}

/// Resolves the interpreter to run (a pyenv shim or a venv link becomes the
/// real executable), so that the sandbox can expose exactly its prefix.
pub fn resolve_python(python: &Path) -> Result<PathBuf, String> {
    let out = Command::new(python)
        .args([
            "-I",
            "-S",
            "-c",
            "import sys; print(sys.executable); print('%d.%d.%d' % sys.version_info[:3])",
        ])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines().map(str::trim);
    let (exe, version) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
    if exe.is_empty() {
        return Err(format!("{} reports no sys.executable", python.display()));
    }
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if (major, minor) < MIN_PYTHON {
        return Err(format!(
            "{} is Python {version}; the sandbox needs Python {}.{} or newer (its slots run \
             `python -P`, which keeps the working directory off sys.path). Name a newer \
             interpreter with --python (in a pipeline, [execute] python)",
            python.display(),
            MIN_PYTHON.0,
            MIN_PYTHON.1
        ));
    }
    Ok(PathBuf::from(exe))
}

/// The oldest Python the slots run (`-P` is 3.11's).
const MIN_PYTHON: (u32, u32) = (3, 11);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isolation_lists_parse_all_and_names_and_reject_unknown_ones() {
        assert_eq!(parse_isolation("all").unwrap().len(), FULL_ISOLATION.len());
        assert_eq!(
            parse_isolation(" netns, seccomp,netns ,").unwrap(),
            vec!["netns", "seccomp"]
        );
        assert!(parse_isolation("").unwrap().is_empty());
        let e = parse_isolation("netns,network").unwrap_err();
        assert!(
            e.contains("'network'") && e.contains("landlock") && e.contains("all"),
            "{e}"
        );
    }

    #[test]
    fn an_interpreter_older_than_3_11_is_named_with_its_version() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("python3.10");
        std::fs::write(&fake, "#!/bin/sh\necho /usr/bin/python3.10\necho 3.10.13\n").unwrap();
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        // A thread of another test that forks while a script is open for writing holds
        // it busy until that child execs: retry the brief ETXTBSY window.
        let resolve = |p: &Path| {
            let mut r = resolve_python(p);
            for _ in 0..1000 {
                match &r {
                    Err(e) if e.contains("Text file busy") => std::thread::yield_now(),
                    _ => break,
                }
                r = resolve_python(p);
            }
            r
        };
        let e = resolve(&fake).unwrap_err();
        assert!(
            e.contains("is Python 3.10.13")
                && e.contains("3.11 or newer")
                && e.contains("--python"),
            "{e}"
        );
        let ok = dir.path().join("python3.12");
        std::fs::write(&ok, "#!/bin/sh\necho /usr/bin/python3.12\necho 3.12.1\n").unwrap();
        std::fs::set_permissions(&ok, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        assert_eq!(
            resolve_python(&ok).unwrap(),
            PathBuf::from("/usr/bin/python3.12")
        );
    }

    #[test]
    fn missing_isolation_matches_primitives_by_prefix() {
        let want = parse_isolation("landlock,netns,cgroup").unwrap();
        // Landlock is reported with its ABI version.
        assert!(missing_isolation(&want, "cgroup+landlock7+netns").is_empty());
        assert_eq!(
            missing_isolation(&want, "landlock3+mntns"),
            vec!["netns", "cgroup"]
        );
        assert_eq!(missing_isolation(&want, "").len(), 3);
        assert!(missing_isolation::<String>(&[], "").is_empty());
        assert_eq!(
            missing_isolation(FULL_ISOLATION, "cgroup"),
            &FULL_ISOLATION[..10]
        );
    }
}
