//! The orphan check that `interrupt.rs` relies on can fail: a child that
//! leaves a process running is caught. Its own test binary, because the
//! orphan it makes on purpose would fail any check running beside it.

use ouro_e2e::{adopt_orphans, adopted_orphans};

#[test]
fn a_process_left_behind_is_seen() {
    adopt_orphans();
    assert!(adopted_orphans().is_empty(), "{:?}", adopted_orphans());
    let status = std::process::Command::new("sh")
        .args(["-c", "sleep 30 & exit 0"])
        .status()
        .unwrap();
    assert!(status.success());
    // The orphan may still be between fork and exec (an empty or `sh` command line) when
    // `sh` has exited: wait, boundedly, for it to become `sleep 30`.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut left = adopted_orphans();
    while !left.iter().any(|p| p.contains("sleep 30")) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
        left = adopted_orphans();
    }
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].contains("sleep 30"), "{left:?}");
    let pid: i32 = left[0].split(':').next().unwrap().parse().unwrap();
    // SAFETY: kill(2) on the process this test just made.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}
