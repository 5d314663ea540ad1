//! Per-slot cgroups: memory and pids limits, OOM counting, kill-all, and an equal
//! CPU share.
//!
//! Probes cgroup v2 first (a unified hierarchy with the `memory` and `pids`
//! controllers enabled), then v1 (`memory` and `pids` hierarchies). Each
//! slot gets its own group under `ouro/`. Groups left behind by a killed
//! executor are removed at startup once they are empty.
//!
//! The `cpu` controller, where there is one, gives every slot the same weight
//! whatever number of processes it runs: without it a fork bomb's 64 processes took
//! 64 shares of the CPU against a neighbouring slot's one, and that slot's correct
//! sample was judged a timeout.

use std::fs;
use std::path::{Path, PathBuf};

const V1_ROOT: &str = "/sys/fs/cgroup";

/// Which cgroup hierarchy is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    V1,
    V2,
}

/// The cgroup setup a run can use, found by [`probe`].
#[derive(Debug, Clone)]
pub struct CgroupSupport {
    pub version: CgroupVersion,
    /// v1: the memory and pids hierarchy roots; v2: the unified root (twice).
    memory_root: PathBuf,
    pids_root: PathBuf,
    /// v1: the cpu hierarchy's root, where groups can be made in it (v2 enables the
    /// controller in the unified group, best effort).
    cpu_root: Option<PathBuf>,
}

/// Whether a group can be made under `dir`: a directory an earlier run as root made
/// exists for everyone, but only root can make groups in it.
fn can_create_under(dir: &Path) -> Result<(), String> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let probe = dir.join(format!("probe-{}-{n}", std::process::id()));
    fs::create_dir(&probe).map_err(|e| format!("{}: {e}", dir.display()))?;
    let _ = fs::remove_dir(&probe);
    Ok(())
}

/// Finds a usable cgroup hierarchy, or says why there is none.
pub fn probe() -> Result<CgroupSupport, String> {
    probe_at(Path::new(V1_ROOT))
}

fn probe_at(root: &Path) -> Result<CgroupSupport, String> {
    let v2 = match probe_v2(root) {
        Ok(Some(support)) => return Ok(support),
        Ok(None) => None,
        Err(why) => Some(why),
    };
    let mem = root.join("memory");
    let pids = root.join("pids");
    if mem.join("memory.limit_in_bytes").exists() && pids.join("pids.max").exists()
        || mem.join("tasks").exists() && pids.join("tasks").exists()
    {
        let (m, p) = (mem.join("ouro"), pids.join("ouro"));
        let created = fs::create_dir_all(&m)
            .and_then(|_| fs::create_dir_all(&p))
            .map_err(|e| e.to_string())
            .and_then(|_| can_create_under(&m))
            .and_then(|_| can_create_under(&p));
        return match created {
            Ok(()) => Ok(CgroupSupport {
                version: CgroupVersion::V1,
                memory_root: m,
                pids_root: p,
                cpu_root: v1_cpu_root(root),
            }),
            Err(e) => Err(format!(
                "cgroup v1 memory/pids hierarchies exist but cannot create groups in them ({e}; not root?)"
            )),
        };
    }
    Err(v2.unwrap_or_else(|| {
        "no cgroup v2 with memory+pids controllers and no cgroup v1 memory/pids hierarchies".into()
    }))
}

/// The unified hierarchy at `root`: `Ok(None)` when there is none with the memory and pids
/// controllers, `Err` saying why one that has them cannot give a slot its own group.
fn probe_v2(root: &Path) -> Result<Option<CgroupSupport>, String> {
    let Ok(ctrl) = fs::read_to_string(root.join("cgroup.controllers")) else {
        return Ok(None);
    };
    let has = |text: &str, c: &str| text.split_whitespace().any(|x| x == c);
    if !(has(&ctrl, "memory") && has(&ctrl, "pids")) {
        return Ok(None);
    }
    // A controller reaches `ouro/` only through every parent's subtree_control. systemd
    // enables memory and pids at the root; a bare hierarchy (a container's, or one
    // mounted by hand) may not, and the root cgroup may enable them with processes in it.
    let root_sub = root.join("cgroup.subtree_control");
    let enabled = fs::read_to_string(&root_sub).unwrap_or_default();
    if !(has(&enabled, "memory") && has(&enabled, "pids")) {
        fs::write(&root_sub, "+memory +pids").map_err(|e| {
            let busy = e.raw_os_error() == Some(libc::EBUSY);
            format!(
                "cgroup v2: cannot enable memory+pids for child groups of {} ({e}{})",
                root.display(),
                if busy {
                    ": the hierarchy's top group holds processes, as a container's does; \
                     move them into a child group first"
                } else {
                    "; not root?"
                }
            )
        })?;
    }
    let base = root.join("ouro");
    fs::create_dir_all(&base)
        .map_err(|e| e.to_string())
        .and_then(|_| can_create_under(&base))
        .map_err(|e| {
            format!(
                "cgroup v2: cannot create groups under {} ({e}; not root?)",
                base.display()
            )
        })?;
    // Controllers must be enabled for children of `ouro/` too. The cpu controller is
    // best effort (it needs every process of the root group in the root domain).
    let _ = fs::write(&root_sub, "+cpu");
    let _ = fs::write(base.join("cgroup.subtree_control"), "+memory +pids");
    let _ = fs::write(base.join("cgroup.subtree_control"), "+cpu");
    let sub = fs::read_to_string(base.join("cgroup.subtree_control")).unwrap_or_default();
    if !(has(&sub, "memory") && has(&sub, "pids")) {
        return Err(format!(
            "cgroup v2: memory+pids not enabled in {} (it holds processes?)",
            base.join("cgroup.subtree_control").display()
        ));
    }
    Ok(Some(CgroupSupport {
        version: CgroupVersion::V2,
        memory_root: base.clone(),
        pids_root: base,
        cpu_root: None,
    }))
}

/// The v1 cpu hierarchy's `ouro/`, where groups can be made in it.
fn v1_cpu_root(root: &Path) -> Option<PathBuf> {
    let cpu = root.join("cpu");
    if !cpu.join("cpu.shares").exists() {
        return None;
    }
    let dir = cpu.join("ouro");
    match fs::create_dir_all(&dir)
        .map_err(|e| e.to_string())
        .and_then(|_| can_create_under(&dir))
    {
        Ok(()) => Some(dir),
        Err(e) => {
            tracing::debug!("no cpu cgroup per slot: {e}");
            None
        }
    }
}

impl CgroupSupport {
    /// Removes empty groups left behind by executors that were killed
    /// (groups are named `slot-<executor pid>-...`; live executors' groups stay).
    pub fn remove_stale(&self) {
        for root in [&self.memory_root, &self.pids_root]
            .into_iter()
            .chain(&self.cpu_root)
        {
            if let Ok(rd) = fs::read_dir(root) {
                for e in rd.flatten() {
                    let p = e.path();
                    let name = e.file_name().to_string_lossy().to_string();
                    let owner_alive = name
                        .strip_prefix("slot-")
                        .and_then(|r| r.split('-').next())
                        .and_then(|pid| pid.parse::<u32>().ok())
                        .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
                    if p.is_dir() && !owner_alive && procs_of(&p).is_empty() {
                        let _ = fs::remove_dir(&p);
                    }
                }
            }
        }
    }

    /// Creates the groups of one slot with the given limits.
    pub fn create_slot(
        &self,
        name: &str,
        memory_bytes: u64,
        max_pids: u64,
    ) -> Result<SlotCgroup, String> {
        let mem = self.memory_root.join(name);
        let pids = self.pids_root.join(name);
        let mk = |p: &Path| fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()));
        mk(&mem)?;
        if pids != mem {
            mk(&pids)?;
        }
        let w =
            |p: PathBuf, v: String| fs::write(&p, v).map_err(|e| format!("{}: {e}", p.display()));
        match self.version {
            CgroupVersion::V1 => {
                w(mem.join("memory.limit_in_bytes"), memory_bytes.to_string())?;
                // Best effort: swap accounting is often disabled.
                let _ = fs::write(
                    mem.join("memory.memsw.limit_in_bytes"),
                    memory_bytes.to_string(),
                );
                w(pids.join("pids.max"), max_pids.to_string())?;
            }
            CgroupVersion::V2 => {
                w(mem.join("memory.max"), memory_bytes.to_string())?;
                let _ = fs::write(mem.join("memory.swap.max"), "0");
                w(mem.join("pids.max"), max_pids.to_string())?;
            }
        }
        // The default weight is every slot's: equal shares are the point.
        let cpu =
            self.cpu_root.as_ref().map(|root| root.join(name)).filter(
                |dir| match fs::create_dir_all(dir) {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::debug!("no cpu group {}: {e}", dir.display());
                        false
                    }
                },
            );
        Ok(SlotCgroup {
            version: self.version,
            memory: mem,
            pids,
            cpu,
        })
    }
}

/// The groups of one slot. Dropping it kills what is left and removes them.
#[derive(Debug)]
pub struct SlotCgroup {
    version: CgroupVersion,
    memory: PathBuf,
    pids: PathBuf,
    cpu: Option<PathBuf>,
}

impl SlotCgroup {
    /// The `cgroup.procs` files the slot's first process must join.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        let mut v = vec![self.memory.join("cgroup.procs")];
        if self.pids != self.memory {
            v.push(self.pids.join("cgroup.procs"));
        }
        v
    }

    /// The slot's cpu group's `cgroup.procs`, joined best effort (an equal CPU share
    /// is fairness between slots, not a limit the sample runs under).
    pub fn cpu_procs_file(&self) -> Option<PathBuf> {
        self.cpu.as_ref().map(|c| c.join("cgroup.procs"))
    }

    /// How many times the kernel OOM-killed a process in this group so far.
    pub fn oom_kills(&self) -> u64 {
        let from_file = match self.version {
            CgroupVersion::V1 => self.counter("memory.oom_control", "oom_kill"),
            CgroupVersion::V2 => self.counter("memory.events", "oom_kill"),
        };
        if from_file > 0 || self.version == CgroupVersion::V2 {
            return from_file;
        }
        // Old v1 kernels have no oom_kill counter: hitting the limit is the best sign.
        self.limit_hits()
    }

    /// How many times the group's memory use reached its limit so far (each time the
    /// kernel reclaimed, or OOM-killed when it could not).
    pub fn limit_hits(&self) -> u64 {
        match self.version {
            CgroupVersion::V1 => fs::read_to_string(self.memory.join("memory.failcnt"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0),
            CgroupVersion::V2 => self.counter("memory.events", "max"),
        }
    }

    /// The value of `key` in a flat-keyed cgroup file (`key value` lines), 0 when absent.
    fn counter(&self, file: &str, key: &str) -> u64 {
        let text = fs::read_to_string(self.memory.join(file)).unwrap_or_default();
        text.lines()
            .find_map(|l| {
                let mut it = l.split_whitespace();
                (it.next() == Some(key)).then(|| it.next().and_then(|v| v.parse().ok()))?
            })
            .unwrap_or(0)
    }

    /// Processes currently in the slot.
    pub fn procs(&self) -> Vec<i32> {
        procs_of(&self.memory)
    }

    /// Kills every process in the slot.
    pub fn kill_all(&self) {
        if self.version == CgroupVersion::V2
            && fs::write(self.memory.join("cgroup.kill"), "1").is_ok()
        {
            return;
        }
        for _ in 0..8 {
            let procs = self.procs();
            if procs.is_empty() {
                return;
            }
            for p in procs {
                // SAFETY: plain kill(2) on a pid read from the slot's own cgroup.
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

impl Drop for SlotCgroup {
    fn drop(&mut self) {
        self.kill_all();
        for _ in 0..50 {
            let a = fs::remove_dir(&self.memory).is_ok() || !self.memory.exists();
            let b = self.pids == self.memory
                || fs::remove_dir(&self.pids).is_ok()
                || !self.pids.exists();
            if a && b {
                if let Some(cpu) = &self.cpu {
                    let _ = fs::remove_dir(cpu);
                }
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

fn procs_of(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory tree laid out like /sys/fs/cgroup (plain files: no kernel behind them).
    fn tree(files: &[(&str, &str)], dirs: &[&str]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for dir in dirs {
            fs::create_dir_all(d.path().join(dir)).unwrap();
        }
        for (f, text) in files {
            let p = d.path().join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
        d
    }

    #[test]
    fn v1_hierarchies_give_groups_under_each() {
        let d = tree(
            &[
                ("memory/memory.limit_in_bytes", "0"),
                ("pids/pids.max", "max"),
            ],
            &[],
        );
        let s = probe_at(d.path()).unwrap();
        assert_eq!(s.version, CgroupVersion::V1);
        assert_eq!(s.memory_root, d.path().join("memory/ouro"));
        assert_eq!(s.pids_root, d.path().join("pids/ouro"));
    }

    #[test]
    fn a_unified_hierarchy_says_why_it_cannot_be_used() {
        // Without the pids controller it is not a candidate, and nothing else is there.
        let d = tree(&[("cgroup.controllers", "cpu memory io")], &[]);
        let e = probe_at(d.path()).unwrap_err();
        assert!(e.starts_with("no cgroup v2 with memory+pids"), "{e}");
        // With both, a top group that will not pass them down is named as the reason
        // (here its subtree_control cannot be written at all).
        let d = tree(
            &[("cgroup.controllers", "cpu memory pids")],
            &["cgroup.subtree_control"],
        );
        let e = probe_at(d.path()).unwrap_err();
        assert!(
            e.starts_with("cgroup v2: cannot enable memory+pids for child groups of"),
            "{e}"
        );
        // A v1 hierarchy beside it is still used.
        let d = tree(
            &[
                ("cgroup.controllers", "cpu memory pids"),
                ("memory/memory.limit_in_bytes", "0"),
                ("pids/pids.max", "max"),
            ],
            &["cgroup.subtree_control"],
        );
        assert_eq!(probe_at(d.path()).unwrap().version, CgroupVersion::V1);
    }

    #[test]
    fn limit_hits_and_oom_kills_read_each_version() {
        let d = tempfile::tempdir().unwrap();
        let w = |f: &str, text: &str| fs::write(d.path().join(f), text).unwrap();
        w("memory.events", "low 0\nhigh 0\nmax 7\noom 2\noom_kill 1\n");
        w("memory.failcnt", "5\n");
        w(
            "memory.oom_control",
            "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
        );
        let read = |version| {
            let g = SlotCgroup {
                version,
                memory: d.path().to_path_buf(),
                pids: d.path().to_path_buf(),
                cpu: None,
            };
            let counts = (g.limit_hits(), g.oom_kills());
            // Dropping would try to kill and remove a real group.
            std::mem::forget(g);
            counts
        };
        assert_eq!(read(CgroupVersion::V2), (7, 1));
        assert_eq!(read(CgroupVersion::V1), (5, 3));
        // A v1 kernel without the oom_kill counter: hitting the limit is the sign.
        w("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n");
        assert_eq!(read(CgroupVersion::V1), (5, 5));
    }
}
