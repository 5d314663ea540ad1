//! The bundled problem family: procedurally generated Python function
//! problems that let ouro run end to end offline.
//!
//! # What is generated
//!
//! [`generate`] turns a seed and a count into `ouro_data::Problem` records,
//! deterministically: the same options give byte-identical output, and a
//! smaller count gives a prefix of a larger one. Each problem is HumanEval
//! style: the prompt is a `def name(args):` line plus a docstring, the
//! completion is the function body, and prompt + completion is the program
//! (`reference_solution`). Tests are `def check(candidate):` scripts with one
//! `assert candidate(...) == ...` line per test and plain-literal arguments.
//! Expected values are computed in Rust (each family implements its
//! primitives' Python semantics), so generation needs no Python; the crate's
//! tests run every reference solution under python3 to prove the agreement.
//!
//! # Families
//!
//! - `compose` (the main family, the quickstart's): one-line compositions of
//!   up to two filters (`and`/`or`) x a map x one of eleven aggregates over a
//!   list of ints, e.g. `return sum(x * 2 for x in xs if x % 3 == 0 and x > 4)`.
//!   Each primitive has exactly one phrasing and one code form, so a small
//!   model can learn the text-to-code mapping from data.
//! - `strings`: pipelines of one to three string steps then a final step
//!   (`s = s.lower()`, `s = s[::-1]`, `return s.count('a')`).
//! - catalogue families (`dicts`, `recursion`, `tuples`, `indexing`,
//!   `formatting`, `math`, `sets`, `logic`): parameterised templates that add
//!   breadth of skills (see [`catalog`]).
//!
//! Difficulty is composition depth: `easy` (one component), `medium` (two),
//! `hard` (three or more: a conjunction plus a map, three string steps, ...).
//!
//! # Splits and the structural gap
//!
//! - `heldout`: problems in a structural gap that `train` and `test` never
//!   cover. In `compose`, these are two-filter compositions whose FIRST filter
//!   is "x is divisible by k", "x is less than k" or "x is odd"
//!   ([`compose::HELDOUT_LEAD_FILTERS`]). Those filters do appear in training,
//!   alone and as the second filter, but never in first position, so solving
//!   them requires recombining seen parts in an unseen arrangement (pairs of
//!   seen phrases alone are solved at once by a small model; this gap leaves
//!   headroom). In `strings`, pipelines of two or more steps whose first step
//!   is "reverse it" or "swap the case of every letter" are held out the same
//!   way. Catalogue families have no held-out part.
//! - `test`: about [`GenerateOptions::test_percent`] percent of the other
//!   problems, chosen by a hash of the prompt (independent of the seed), from
//!   the same distribution as `train`.
//! - `train`: the rest.
//!
//! # Test strength
//!
//! Filter tests are a few random cases. Audit tests target near misses: each
//! spec lists its mutants (a dropped condition, `>` vs `>=`, off-by-one
//! constants, `and` vs `or`, sorted vs unsorted, a dropped map, a changed
//! aggregate, a dropped or reordered string step, ...), and the generator
//! searches boundary-heavy inputs until each mutant is told apart. A problem
//! whose essential mutant (a dropped condition or step) cannot be told apart
//! is rejected, so a condition a spec's essential mutant drops is never
//! redundant. Others can be (audit 55: fizzbuzz with divisors 3 and 6 never says
//! "buzz"; `1 * f(n-1)`, `i ** 1`), and two problems can compute one function in
//! other words ("less than 8", "at most 7"), in different splits: deduplication
//! and splits go by prompt text. [`generate_detailed`]
//! also returns the mutant programs, which makes them usable as known-wrong
//! samples.

pub mod build;
pub mod catalog;
pub mod compose;
pub mod rng;
pub mod spec;
pub mod strings;
pub mod summary;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use ouro_data::shard::{ShardWriter, WriteOptions};
use ouro_data::{derive_seed, DataError, Problem};

pub use build::{Generated, Mutant};
pub use spec::Difficulty;
pub use summary::{summarize, Summary};

use crate::rng::Rng;
use crate::spec::Spec;

/// The `source` of every bundled problem.
pub const SOURCE: &str = "ouro-bundled";

/// Errors of generation and writing.
#[derive(Debug, thiserror::Error)]
pub enum ProblemsError {
    #[error("asked for {asked} problems, but the chosen families hold only {made} distinct ones")]
    Exhausted { asked: usize, made: usize },
    #[error("no family has a positive weight")]
    NoFamilies,
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: DataError },
    #[error(
        "{dir} holds {files}, which ouro did not write (its shards are part-*.parquet); every \
         *.parquet there would be read as problems: write to another directory or remove them"
    )]
    ForeignShards { dir: PathBuf, files: String },
    #[error("writing {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A problem family that [`generate`] can draw from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Compose,
    Strings,
    Dicts,
    Recursion,
    Tuples,
    Indexing,
    Formatting,
    Math,
    Sets,
    Logic,
}

impl Family {
    pub const ALL: [Family; 10] = [
        Family::Compose,
        Family::Strings,
        Family::Dicts,
        Family::Recursion,
        Family::Tuples,
        Family::Indexing,
        Family::Formatting,
        Family::Math,
        Family::Sets,
        Family::Logic,
    ];

    /// The family's name, as it appears in problem ids.
    pub fn name(self) -> &'static str {
        match self {
            Family::Compose => "compose",
            Family::Strings => "strings",
            Family::Dicts => "dicts",
            Family::Recursion => "recursion",
            Family::Tuples => "tuples",
            Family::Indexing => "indexing",
            Family::Formatting => "formatting",
            Family::Math => "math",
            Family::Sets => "sets",
            Family::Logic => "logic",
        }
    }

    fn sample(self, rng: &mut Rng) -> Box<dyn Spec> {
        match self {
            Family::Compose => Box::new(compose::Compose::sample(rng)),
            Family::Strings => Box::new(strings::Pipeline::sample(rng)),
            other => Box::new(catalog::sample(other.name(), rng)),
        }
    }
}

impl std::str::FromStr for Family {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Family::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Family::ALL.iter().map(|f| f.name()).collect();
                format!("unknown family '{s}': expected one of {}", names.join(", "))
            })
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub count: usize,
    pub seed: u64,
    /// Families and their relative weights. The default puts 55% on
    /// `compose` (the quickstart's family), 13% on `strings` and 4% on
    /// each catalogue family.
    pub families: Vec<(Family, u32)>,
    /// Number of random filter tests per problem.
    pub filter_tests: usize,
    /// Also add a filter test for every near-miss mutant the random ones let
    /// through. Off, the filter suite is plain random cases and the audit suite
    /// catches near misses it lets through (what the false-positive rate
    /// measures); on, training selection sees strong tests too, so expert
    /// iteration does not learn near misses.
    pub targeted_filter: bool,
    /// Share of non-heldout problems that go to the `test` split, in percent.
    pub test_percent: u32,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            count: 2000,
            seed: 0,
            families: Family::ALL
                .into_iter()
                .map(|f| {
                    let w = match f {
                        Family::Compose => 55,
                        Family::Strings => 13,
                        _ => 4,
                    };
                    (f, w)
                })
                .collect(),
            filter_tests: 4,
            targeted_filter: false,
            test_percent: 10,
        }
    }
}

/// The options of the committed sample under `data/bundled/` (150 problems, seed 0).
pub fn sample_options() -> GenerateOptions {
    GenerateOptions {
        count: 150,
        seed: 0,
        ..Default::default()
    }
}

/// Consecutive failed draws after which a family counts as exhausted.
const MAX_MISSES: usize = 300;

/// Generates `options.count` distinct problems. Deterministic in the options.
pub fn generate(options: &GenerateOptions) -> Result<Vec<Problem>, ProblemsError> {
    Ok(generate_detailed(options)?
        .into_iter()
        .map(|g| g.problem)
        .collect())
}

/// Like [`generate`], but also returns each problem's near-miss mutants and
/// whether its filter and audit suites tell each one apart.
pub fn generate_detailed(options: &GenerateOptions) -> Result<Vec<Generated>, ProblemsError> {
    let mut weights: Vec<u32> = options.families.iter().map(|&(_, w)| w).collect();
    let mut rng = Rng::new(options.seed);
    let mut seen_prompts: HashSet<String> = HashSet::new();
    let mut seen_ids: HashSet<String> = HashSet::new();
    // Not sized from `count` alone: a huge one aborted on the allocation before the
    // families could say how many distinct problems they hold.
    let mut out = Vec::with_capacity(options.count.min(1 << 16));
    while out.len() < options.count {
        if weights.iter().all(|&w| w == 0) {
            return Err(if options.families.iter().all(|&(_, w)| w == 0) {
                ProblemsError::NoFamilies
            } else {
                ProblemsError::Exhausted {
                    asked: options.count,
                    made: out.len(),
                }
            });
        }
        let fi = rng.weighted(&weights);
        let family = options.families[fi].0;
        let mut made = None;
        for _ in 0..MAX_MISSES {
            let spec = family.sample(&mut rng);
            let prompt = build::render(&*spec).prompt;
            if seen_prompts.contains(&prompt) {
                continue;
            }
            let split = split_of(&*spec, &prompt, options.test_percent);
            if let Some(g) = build::build(
                &*spec,
                options.seed,
                split,
                options.filter_tests,
                options.targeted_filter,
            ) {
                if !seen_ids.insert(g.problem.problem_id.clone()) {
                    continue;
                }
                seen_prompts.insert(prompt);
                made = Some(g);
                break;
            }
            // A degenerate spec stays out for good: remember its prompt.
            seen_prompts.insert(prompt);
        }
        match made {
            Some(g) => out.push(g),
            None => weights[fi] = 0,
        }
    }
    Ok(out)
}

/// Every split the generator assigns: `train`, `test` (a random share of
/// the seen structures) and `heldout` (structures never seen in training).
pub const SPLITS: [&str; 3] = ["train", "test", "heldout"];

fn split_of(spec: &dyn Spec, prompt: &str, test_percent: u32) -> &'static str {
    if spec.structurally_heldout() {
        SPLITS[2]
    } else if derive_seed(prompt, 0x5_9117) % 100 < test_percent as u64 {
        SPLITS[1]
    } else {
        SPLITS[0]
    }
}

/// Groups problems by their `split`, keeping the order within each split.
pub fn partition_by_split(problems: Vec<Problem>) -> BTreeMap<String, Vec<Problem>> {
    let mut out: BTreeMap<String, Vec<Problem>> = BTreeMap::new();
    for p in problems {
        out.entry(p.split.clone()).or_default().push(p);
    }
    out
}

/// Problems per shard written by [`write`].
pub const ROWS_PER_SHARD: usize = 10_000;

/// Writes problems as `dir/part-IIIII-of-NNNNN.parquet` shards of at most
/// [`ROWS_PER_SHARD`] rows, creating `dir` if needed. The new parts are written
/// under hidden names and replace every part of an earlier write at the end
/// ([`ouro_data::shard::publish`]), so the directory never reads back as a mix of
/// the two. Returns the shard paths.
pub fn write(dir: impl AsRef<Path>, problems: &[Problem]) -> Result<Vec<PathBuf>, ProblemsError> {
    let dir = dir.as_ref();
    if dir.is_dir() {
        let foreign = ouro_data::shard::foreign_shards(dir, "part-").map_err(|source| {
            ProblemsError::Write {
                path: dir.to_path_buf(),
                source,
            }
        })?;
        if !foreign.is_empty() {
            return Err(ProblemsError::ForeignShards {
                dir: dir.to_path_buf(),
                files: foreign.join(", "),
            });
        }
    }
    std::fs::create_dir_all(dir).map_err(|source| ProblemsError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let chunks: Vec<&[Problem]> = if problems.is_empty() {
        vec![&[]]
    } else {
        problems.chunks(ROWS_PER_SHARD).collect()
    };
    let n = chunks.len();
    ouro_data::shard::remove_staged(dir).map_err(|source| ProblemsError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut staged = Vec::new();
    for (i, chunk) in chunks.into_iter().enumerate() {
        let name = ouro_data::shard::part_name(i, n);
        let path = dir.join(ouro_data::shard::staged_name(&name));
        let write = || -> Result<u64, DataError> {
            let mut w = ShardWriter::<Problem>::create(&path, WriteOptions::default())?;
            w.write_all(chunk)?;
            w.finish()
        };
        write().map_err(|source| ProblemsError::Write {
            path: dir.join(&name),
            source,
        })?;
        staged.push((path, name));
    }
    // Written apart first: a rewrite with another part count had left the old
    // parts beside the new ones while it wrote, and after a crash.
    ouro_data::shard::publish(dir, &staged, |name| name.starts_with("part-")).map_err(|source| {
        ProblemsError::Write {
            path: dir.to_path_buf(),
            source,
        }
    })
}

/// Writes problems as JSON lines (one `Problem` per line), atomically.
pub fn write_jsonl(path: impl AsRef<Path>, problems: &[Problem]) -> Result<(), ProblemsError> {
    let path = path.as_ref();
    let mut text = String::new();
    for p in problems {
        text.push_str(&serde_json::to_string(p).expect("Problem serialises"));
        text.push('\n');
    }
    ouro_data::fsutil::atomic_write(path, text.as_bytes()).map_err(|source| ProblemsError::Write {
        path: path.to_path_buf(),
        source,
    })
}
