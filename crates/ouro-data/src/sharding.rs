//! The shard contract: which part of the work this process owns.
//!
//! Work items are assigned to shards by a hash of their id, so assignment is
//! deterministic across machines and independent of input order. A run
//! records its shard count in its manifest and refuses to resume with a
//! different one, because that would reassign finished work.

use blake3::Hasher;

/// This process's slice of the work: shard `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShardSpec {
    pub index: u32,
    pub count: u32,
}

impl Default for ShardSpec {
    fn default() -> Self {
        ShardSpec { index: 0, count: 1 }
    }
}

/// Why a shard specification was rejected. The message names the flag or
/// environment variable it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShardSpecError(pub String);

impl ShardSpec {
    pub fn new(index: u32, count: u32) -> Result<Self, ShardSpecError> {
        if count == 0 {
            return Err(ShardSpecError("--num-shards must be at least 1".into()));
        }
        if index >= count {
            return Err(ShardSpecError(format!(
                "--shard {index} is out of range for --num-shards {count} (valid: 0..{})",
                count - 1
            )));
        }
        Ok(ShardSpec { index, count })
    }

    /// Resolves the shard from explicit flags, falling back to the
    /// environment of a Slurm job array (`SLURM_ARRAY_TASK_ID`,
    /// `SLURM_ARRAY_TASK_COUNT`) or a Kubernetes Indexed Job
    /// (`JOB_COMPLETION_INDEX`, with the count from `--num-shards`).
    pub fn resolve(
        shard: Option<u32>,
        num_shards: Option<u32>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ShardSpecError> {
        let parse = |name: &str| -> Result<Option<u32>, ShardSpecError> {
            match env(name) {
                None => Ok(None),
                Some(v) => v.trim().parse::<u32>().map(Some).map_err(|_| {
                    ShardSpecError(format!(
                        "environment variable {name}={v:?} is not a shard number"
                    ))
                }),
            }
        };
        // Each value with where it came from, so an error names what the user set.
        let index = match shard {
            Some(i) => Some((i, format!("--shard {i}"))),
            None => match parse("SLURM_ARRAY_TASK_ID")? {
                Some(i) => Some((i, format!("SLURM_ARRAY_TASK_ID={i}"))),
                None => {
                    parse("JOB_COMPLETION_INDEX")?.map(|i| (i, format!("JOB_COMPLETION_INDEX={i}")))
                }
            },
        };
        let count = match num_shards {
            Some(n) => Some((n, format!("--num-shards {n}"))),
            None => {
                parse("SLURM_ARRAY_TASK_COUNT")?.map(|n| (n, format!("SLURM_ARRAY_TASK_COUNT={n}")))
            }
        };
        match (index, count) {
            (None, None) => Ok(ShardSpec::default()),
            (Some((_, from)), None) => Err(ShardSpecError(format!(
                "a shard index was given ({from}) but no shard count: pass --num-shards N{}",
                if from.starts_with("--") {
                    ""
                } else {
                    ", or unset the variable for a run that is not one shard of many"
                }
            ))),
            (None, Some((1, _))) => Ok(ShardSpec::default()),
            (None, Some((_, from))) => Err(ShardSpecError(format!(
                "{from} needs a shard index: pass --shard I or set SLURM_ARRAY_TASK_ID / \
                 JOB_COMPLETION_INDEX"
            ))),
            (Some((i, from)), Some((n, count_from))) if i >= n && n > 0 => {
                Err(ShardSpecError(format!(
                    "shard index {i} (from {from}) is out of range for {n} shards (from \
                     {count_from}; valid: 0..{}){}",
                    n - 1,
                    if from.starts_with("SLURM") {
                        format!(": Slurm arrays for ouro are 0-based (--array=0-{})", n - 1)
                    } else {
                        String::new()
                    }
                )))
            }
            (Some((i, _)), Some((n, _))) => ShardSpec::new(i, n),
        }
    }

    /// Reads the process environment; see [`ShardSpec::resolve`].
    pub fn from_args_and_env(
        shard: Option<u32>,
        num_shards: Option<u32>,
    ) -> Result<Self, ShardSpecError> {
        Self::resolve(shard, num_shards, |k| std::env::var(k).ok())
    }

    /// The shard a work item belongs to.
    pub fn shard_of(count: u32, id: &str) -> u32 {
        let mut h = Hasher::new();
        h.update(b"ouro-shard\0");
        h.update(id.as_bytes());
        let v = u64::from_le_bytes(h.finalize().as_bytes()[..8].try_into().expect("8 bytes"));
        (v % count as u64) as u32
    }

    /// Whether this process owns the work item `id`.
    pub fn owns(&self, id: &str) -> bool {
        self.count == 1 || Self::shard_of(self.count, id) == self.index
    }

    /// `shard-00003-of-00008`, used in marker and part names.
    pub fn label(&self) -> String {
        format!("shard-{:05}-of-{:05}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn flags_win_over_environment() {
        let s = ShardSpec::resolve(Some(1), Some(4), env(&[("SLURM_ARRAY_TASK_ID", "3")])).unwrap();
        assert_eq!(s, ShardSpec { index: 1, count: 4 });
    }

    #[test]
    fn slurm_and_kubernetes_environments_are_read() {
        let s = ShardSpec::resolve(
            None,
            None,
            env(&[
                ("SLURM_ARRAY_TASK_ID", "2"),
                ("SLURM_ARRAY_TASK_COUNT", "5"),
            ]),
        )
        .unwrap();
        assert_eq!(s, ShardSpec { index: 2, count: 5 });
        let k = ShardSpec::resolve(None, Some(3), env(&[("JOB_COMPLETION_INDEX", "1")])).unwrap();
        assert_eq!(k, ShardSpec { index: 1, count: 3 });
    }

    #[test]
    fn bad_specs_are_rejected_with_the_source_named() {
        assert!(ShardSpec::resolve(Some(4), Some(4), env(&[]))
            .unwrap_err()
            .0
            .contains("out of range"));
        assert!(
            ShardSpec::resolve(None, None, env(&[("SLURM_ARRAY_TASK_ID", "x")]))
                .unwrap_err()
                .0
                .contains("SLURM_ARRAY_TASK_ID")
        );
        assert!(ShardSpec::resolve(Some(0), Some(0), env(&[])).is_err());
        assert!(ShardSpec::resolve(None, Some(2), env(&[])).is_err());
        // An index from the environment is named as the variable, not as a flag the
        // user never passed; a 1-based Slurm array is told arrays are 0-based.
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "4"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]);
        let err = ShardSpec::resolve(None, None, slurm).unwrap_err().0;
        assert!(
            err.contains("from SLURM_ARRAY_TASK_ID=4")
                && err.contains("from SLURM_ARRAY_TASK_COUNT=4")
                && err.contains("0-based")
                && !err.contains("--shard"),
            "{err}"
        );
        let pod = env(&[("JOB_COMPLETION_INDEX", "2")]);
        let err = ShardSpec::resolve(None, Some(2), &pod).unwrap_err().0;
        assert!(err.contains("from JOB_COMPLETION_INDEX=2"), "{err}");
        let err = ShardSpec::resolve(None, None, &pod).unwrap_err().0;
        assert!(
            err.contains("(JOB_COMPLETION_INDEX=2)") && err.contains("unset"),
            "{err}"
        );
    }

    #[test]
    fn assignment_is_deterministic_and_partitions_the_work() {
        let ids: Vec<String> = (0..1000).map(|i| format!("item-{i}")).collect();
        let mut owners = vec![0u32; ids.len()];
        for index in 0..4 {
            let spec = ShardSpec::new(index, 4).unwrap();
            for (i, id) in ids.iter().enumerate() {
                if spec.owns(id) {
                    owners[i] += 1;
                }
            }
        }
        assert!(
            owners.iter().all(|&n| n == 1),
            "every item has exactly one owner"
        );
        let per_shard: Vec<usize> = (0..4)
            .map(|s| {
                ids.iter()
                    .filter(|id| ShardSpec::shard_of(4, id) == s)
                    .count()
            })
            .collect();
        assert!(
            per_shard.iter().all(|&n| n > 150),
            "hash spreads work: {per_shard:?}"
        );
    }
}
