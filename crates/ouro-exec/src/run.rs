//! `execute`: problems and samples shards in, execution shards out, resumable.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use ouro_data::shard::read_path;
use ouro_data::{execution_key, Problem, Sample, Suite, Verdict};

use crate::executor::{not_run, Executor, Job};
use crate::journal::Journal;
use crate::{executor_version, ExecError, ExecOptions};

/// What a run did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ExecStats {
    /// (sample, suite) pairs asked for.
    pub jobs: usize,
    /// Pairs already recorded by an earlier (interrupted) run and skipped.
    pub resumed: usize,
    /// Pairs executed (or recorded without execution, e.g. `no_code`) now.
    pub executed: usize,
    /// Samples whose problem is not in the problems directory (not recorded).
    pub unknown_problem: usize,
    /// Verdict counts over the pairs executed now.
    pub verdicts: BTreeMap<String, usize>,
    /// Records in the output shards.
    pub records: usize,
    /// Distinct isolation levels reached by the slots.
    pub isolation: Vec<String>,
    pub warnings: Vec<String>,
    /// Sum of per-sample CPU time, in ms, over the pairs executed now.
    pub cpu_ms: f64,
    pub wall_s: f64,
}

/// Runs every sample in `samples_dir` against its problem from
/// `problems_dir` and writes `part-*.parquet` of `Execution` to `out_dir`.
///
/// Verdicts are appended to a journal in `out_dir` as they finish; calling
/// again after a crash skips every (sample, suite, limits, executor version)
/// already recorded and ends with the same shards as an uninterrupted run.
/// Samples without code get `Error`/`no_code` without being run.
pub fn execute(
    problems_dir: &Path,
    samples_dir: &Path,
    out_dir: &Path,
    opts: &ExecOptions,
) -> Result<ExecStats, ExecError> {
    let t0 = Instant::now();
    let problems: HashMap<String, Arc<Problem>> = read_path::<Problem>(problems_dir)?
        .into_iter()
        .map(|p| (p.problem_id.clone(), Arc::new(p)))
        .collect();
    let samples = read_path::<Sample>(samples_dir)?;
    let mut journal = Journal::open(out_dir)?;
    let version = executor_version();
    let mut stats = ExecStats::default();
    let mut jobs = Vec::new();
    let mut queued = HashSet::new();
    for sample in samples {
        let sample = Arc::new(sample);
        let Some(problem) = problems.get(&sample.problem_id) else {
            stats.unknown_problem += 1;
            continue;
        };
        for &suite in &opts.suites {
            if suite == Suite::Audit && problem.audit_tests.is_none() {
                continue;
            }
            let key = execution_key(&sample.sample_id, suite, &opts.limits, &version);
            if !queued.insert(key.clone()) {
                continue;
            }
            stats.jobs += 1;
            if journal.is_done(&key) {
                stats.resumed += 1;
                continue;
            }
            jobs.push(Job {
                problem: Arc::clone(problem),
                sample: Arc::clone(&sample),
                suite,
            });
        }
    }
    if stats.unknown_problem > 0 {
        let w = format!(
            "{} samples name a problem not in {}",
            stats.unknown_problem,
            problems_dir.display()
        );
        tracing::warn!("{w}");
        stats.warnings.push(w);
    }
    // Samples without code are recorded without starting any sandbox.
    let (to_run, no_code): (Vec<Job>, Vec<Job>) =
        jobs.into_iter().partition(|j| j.sample.code.is_some());
    for job in &no_code {
        let rec = not_run(job, opts, "no_code", "none");
        journal.append(&rec)?;
        stats.executed += 1;
        *stats
            .verdicts
            .entry(rec.verdict.as_str().to_string())
            .or_default() += 1;
    }
    if !to_run.is_empty() {
        let exec = Executor::new(opts)?;
        stats.warnings.extend(exec.warnings().iter().cloned());
        let bar = if opts.progress {
            let bar = ProgressBar::new(to_run.len() as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:40}] {pos}/{len} {per_sec} {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar
        } else {
            ProgressBar::hidden()
        };
        let mut passes = 0usize;
        let mut done = 0usize;
        let mut write_error = None;
        exec.run_all(to_run, |rec| {
            if write_error.is_some() {
                return;
            }
            done += 1;
            passes += (rec.verdict == Verdict::Pass) as usize;
            stats.cpu_ms += rec.cpu_ms;
            *stats
                .verdicts
                .entry(rec.verdict.as_str().to_string())
                .or_default() += 1;
            if let Err(e) = journal.append(&rec) {
                write_error = Some(e);
            }
            bar.inc(1);
            bar.set_message(format!("pass {:.1}%", 100.0 * passes as f64 / done as f64));
        });
        bar.finish_and_clear();
        stats.executed += done;
        if let Some(e) = write_error {
            return Err(e);
        }
        let mut iso = exec.isolation();
        iso.sort();
        iso.dedup();
        stats.isolation = iso;
    }
    stats.records = journal.compact()?;
    stats.wall_s = t0.elapsed().as_secs_f64();
    Ok(stats)
}
