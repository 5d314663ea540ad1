//! Uid blocks: every executor on a host runs its slots under uids that no other
//! executor holds. `RLIMIT_NPROC` counts all of a uid's processes, across pid
//! namespaces, so executors sharing uids (`ouro run --seeds N --jobs J`, shards on
//! one host, two users) let one's sample holding its 64 processes fail another's
//! correct threaded sample with "can't start new thread".
//!
//! A block is held by an exclusive `flock` on a lock file per 256 uids, released when
//! the executor (and so the file) goes, even by SIGKILL.

use std::fs::File;
use std::path::{Path, PathBuf};

const BLOCK: u32 = 256;
/// Blocks tried before giving up: 256 executors at once on one host.
const TRIES: u32 = 256;

/// Uids `base..base + count` held for this executor's lifetime.
pub(crate) struct UidBlock {
    pub base: u32,
    /// Empty when no lock file could be written (then the block is `from`, unshared
    /// only by luck, and a warning says so).
    _locks: Vec<File>,
}

/// Where the lock files live: shared by every process on the host, where the host has
/// such a place.
fn lock_dir() -> PathBuf {
    let run_lock = Path::new("/run/lock");
    if run_lock.is_dir() {
        run_lock.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

fn try_lock(dir: &Path, first_uid: u32) -> std::io::Result<Option<File>> {
    ouro_data::fsutil::try_lock(dir, &format!("ouro-uids-{first_uid}.lock"))
}

/// Claims the first free run of blocks from `from` on that holds `count` uids.
pub(crate) fn claim(from: u32, count: u32) -> Result<UidBlock, String> {
    claim_in(&lock_dir(), from, count)
}

fn claim_in(dir: &Path, from: u32, count: u32) -> Result<UidBlock, String> {
    let need = count.div_ceil(BLOCK).max(1);
    'next: for k in 0..TRIES {
        let mut locks = Vec::new();
        for b in k..k + need {
            match try_lock(dir, from + b * BLOCK) {
                Ok(Some(f)) => locks.push(f),
                Ok(None) => continue 'next,
                Err(e) => {
                    tracing::warn!(
                        "cannot lock a uid block in {} ({e}): sandbox uids from {from} \
                         may be shared with another executor on this host",
                        dir.display()
                    );
                    return Ok(UidBlock {
                        base: from,
                        _locks: Vec::new(),
                    });
                }
            }
        }
        return Ok(UidBlock {
            base: from + k * BLOCK,
            _locks: locks,
        });
    }
    Err(format!(
        "no free block of {count} sandbox uids from {from}: {TRIES} blocks are held by other \
         executors (lock files {}/ouro-uids-*.lock)",
        dir.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::claim_in;

    #[test]
    fn executors_get_disjoint_blocks_and_free_them_when_they_go() {
        let d = tempfile::tempdir().unwrap();
        let a = claim_in(d.path(), 61000, 8).unwrap();
        let b = claim_in(d.path(), 61000, 300).unwrap();
        let c = claim_in(d.path(), 61000, 8).unwrap();
        assert_eq!((a.base, b.base, c.base), (61000, 61256, 61768));
        drop(b);
        assert_eq!(
            claim_soon(d.path(), 61256),
            61256,
            "a released block is claimed again"
        );
        drop(a);
        assert_eq!(claim_soon(d.path(), 61000), 61000);
    }

    /// The base the next claim gets, waiting up to 2 s for `want`: a child another test
    /// forks holds a copy of a dropped lock's descriptor until it execs (O_CLOEXEC
    /// closes it only then), so a release can take a moment to show.
    fn claim_soon(dir: &std::path::Path, want: u32) -> u32 {
        let mut got = 0;
        for _ in 0..200 {
            let c = claim_in(dir, 61000, 8).unwrap();
            got = c.base;
            if got == want {
                break;
            }
            drop(c);
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        got
    }
}
