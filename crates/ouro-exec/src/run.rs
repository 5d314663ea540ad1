//! `execute`: problems and samples shards in, execution shards out, resumable.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use ouro_data::shard::read_path;
use ouro_data::{execution_key, Problem, Sample, Suite, Verdict};

use crate::executor::{not_run, Executor, Job};
use crate::journal::Journal;
use crate::{executor_version_for, ExecError, ExecOptions};

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
    /// How the pairs executed now were judged (`isolated`, `mixed`, `in_process`).
    pub judges: BTreeMap<String, usize>,
    /// Records in the output shards.
    pub records: usize,
    /// Verdict counts over every record in the output shards (the pairs
    /// resumed from an earlier run included).
    pub verdicts_on_disk: BTreeMap<String, usize>,
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
    ouro_data::fsutil::check_output_apart(
        out_dir,
        &[(samples_dir, "samples"), (problems_dir, "problems")],
    )?;
    let problems: HashMap<String, Arc<Problem>> = read_path::<Problem>(problems_dir)?
        .into_iter()
        .map(|p| (p.problem_id.clone(), Arc::new(p)))
        .collect();
    // Once per problem and suite, not once per sample: every key needs one.
    let digests: HashMap<(&str, u8), Option<String>> = problems
        .values()
        .flat_map(|p| {
            [Suite::Filter, Suite::Audit]
                .map(|suite| ((p.problem_id.as_str(), suite as u8), p.tests_digest(suite)))
        })
        .collect();
    let samples = read_path::<Sample>(samples_dir)?;
    let over_cap = outputs_past_the_cap(problems.values(), opts.limits.output_bytes);
    if let Some(first) = samples.first() {
        if samples
            .iter()
            .all(|s| !problems.contains_key(&s.problem_id))
        {
            return Err(ExecError::Invalid(format!(
                "none of the {} samples in {} names a problem in {} (the first names '{}'): \
                 were they drawn from another problem set?",
                samples.len(),
                samples_dir.display(),
                problems_dir.display(),
                first.problem_id
            )));
        }
    }
    let mut journal = Journal::open(out_dir)?;
    // Verdicts of samples outside this set would be kept beside this run's, and every
    // count read from the directory (stats, pass rates, the run's own summary) would mix
    // two sample sets.
    let ids: HashSet<&str> = samples.iter().map(|s| s.sample_id.as_str()).collect();
    let (other, first) = journal.samples_not(|id| ids.contains(id));
    if other > 0 {
        return Err(ExecError::Invalid(format!(
            "{} already holds verdicts of {other} samples that are not in {} (the first: {}): \
             executions of another sample set. Use another --out, or remove {} to judge these \
             samples alone",
            out_dir.display(),
            samples_dir.display(),
            first
                .iter()
                .map(|id| format!("'{id}'"))
                .collect::<Vec<_>>()
                .join(", "),
            out_dir.display()
        )));
    }
    let version = executor_version_for(opts);
    let mut stats = ExecStats::default();
    if let Some(w) = over_cap {
        tracing::warn!("{w}");
        stats.warnings.push(w);
    }
    let mut jobs = Vec::new();
    let mut queued = HashSet::new();
    // This run's key of each (sample, suite) it judges: a verdict on disk for the same
    // pair under other limits, other tests or another executor version is stale, and is replaced
    // rather than kept beside the new one (one sample would then both pass and fail).
    // Keyed by sample id, one key per suite, so compaction looks records up by reference.
    let mut current: HashMap<String, [Option<String>; 2]> = HashMap::new();
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
            let key = execution_key(
                &sample.sample_id,
                suite,
                &opts.limits,
                &version,
                digests[&(problem.problem_id.as_str(), suite as u8)].as_deref(),
            );
            if !queued.insert(key.clone()) {
                continue;
            }
            current.entry(sample.sample_id.clone()).or_default()[suite as usize] =
                Some(key.clone());
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
        // A slot costs a Python start-up and a sandbox: no more of them than samples.
        let opts = &ExecOptions {
            workers: opts.slots().min(to_run.len()),
            ..opts.clone()
        };
        let exec = Executor::new(opts)?;
        stats.warnings.extend(exec.warnings().iter().cloned());
        let bar =
            ouro_data::progress::bar(to_run.len() as u64, opts.progress, "execute", "samples");
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
            let judge = serde_json::to_value(rec.judge)
                .ok()
                .and_then(|j| j.as_str().map(str::to_string))
                .unwrap_or_default();
            *stats.judges.entry(judge).or_default() += 1;
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
    let (on_disk, replaced) = journal.compact(|rec| {
        current
            .get(rec.sample_id.as_str())
            .and_then(|keys| keys[rec.suite as usize].as_ref())
            .is_none_or(|key| *key == rec.key())
    })?;
    if replaced > 0 {
        let w = format!(
            "replaced {replaced} verdicts in {} judged under other limits, other tests or \
             another executor version",
            out_dir.display()
        );
        tracing::warn!("{w}");
        stats.warnings.push(w);
    }
    stats.verdicts_on_disk = on_disk;
    stats.records = stats.verdicts_on_disk.values().sum();
    stats.wall_s = t0.elapsed().as_secs_f64();
    Ok(stats)
}

/// Coverage of isolated judging over a problem set (`ouro tests compile`).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CompileReport {
    /// Problems with an assert script in the filter suite.
    pub problems: usize,
    /// Problems whose every test is judged in isolation.
    pub problems_isolated: usize,
    /// Problems with some tests isolated and some in process.
    pub problems_mixed: usize,
    /// Assert statements, and those inside tests judged in isolation.
    pub asserts: usize,
    pub asserts_isolated: usize,
    /// Tests (top-level statements with an assert), and those isolated.
    pub tests: usize,
    pub tests_isolated: usize,
    /// Calls of the function under test the isolated tests make.
    pub cases: usize,
    /// Problems not fully isolated: (problem id, first reason).
    pub not_isolated: Vec<(String, String)>,
    /// Problems tested by stdin/stdout cases. Not counted in `problems`: their outputs are
    /// compared by the trusted parent already, so there is nothing to compile.
    pub io_problems: usize,
}

impl CompileReport {
    pub fn problem_share(&self) -> f64 {
        self.problems_isolated as f64 / self.problems.max(1) as f64
    }

    pub fn assert_share(&self) -> f64 {
        self.asserts_isolated as f64 / self.asserts.max(1) as f64
    }
}

/// Compiles the filter tests of every problem in `problems_dir` (the spy
/// passes run in sandbox slots) and reports how much is judged in isolation.
pub fn compile_report(problems_dir: &Path, opts: &ExecOptions) -> Result<CompileReport, ExecError> {
    let (problems, io): (Vec<Problem>, Vec<Problem>) = read_path::<Problem>(problems_dir)?
        .into_iter()
        .partition(|p| matches!(p.tests, ouro_data::Tests::AssertScript { .. }));
    let problems: Vec<Arc<Problem>> = problems.into_iter().map(Arc::new).collect();
    let mut report = CompileReport {
        problems: problems.len(),
        io_problems: io.len(),
        ..CompileReport::default()
    };
    if problems.is_empty() {
        return Ok(report);
    }
    let exec = Executor::new(opts)?;
    let ids: Vec<String> = problems.iter().map(|p| p.problem_id.clone()).collect();
    for (id, c) in ids
        .into_iter()
        .zip(exec.compile_tests(problems, Suite::Filter))
    {
        let Some(c) = c else { continue };
        report.asserts += c.asserts;
        report.asserts_isolated += c.asserts_isolated;
        report.tests += c.ntests;
        report.tests_isolated += c.isolated.iter().filter(|&&i| i).count();
        report.cases += c.cases.len();
        match c.judge() {
            ouro_data::Judge::Isolated => report.problems_isolated += 1,
            ouro_data::Judge::Mixed => report.problems_mixed += 1,
            ouro_data::Judge::InProcess => {}
        }
        if c.judge() != ouro_data::Judge::Isolated {
            let why = match (c.reasons.first(), c.ntests) {
                (Some((_, w)), 0) => w.clone(),
                (Some((t, w)), _) => format!("test {t}: {w}"),
                (None, _) => "no tests".into(),
            };
            report.not_isolated.push((id, why));
        }
    }
    Ok(report)
}

/// A warning naming the problems whose expected stdout is longer than the output cap:
/// every sample fails them with `output_limit`, its reference solution too.
fn outputs_past_the_cap<'a>(
    problems: impl Iterator<Item = &'a Arc<Problem>>,
    cap: u64,
) -> Option<String> {
    let mut over: Vec<(&str, usize)> = problems
        .filter_map(|p| {
            let longest = [Some(&p.tests), p.audit_tests.as_ref()]
                .into_iter()
                .flatten()
                .filter_map(|t| match t {
                    ouro_data::Tests::IoCases { cases } => {
                        cases.iter().map(|c| c.output.len()).max()
                    }
                    ouro_data::Tests::AssertScript { .. } => None,
                })
                .max()?;
            (longest as u64 > cap).then_some((p.problem_id.as_str(), longest))
        })
        .collect();
    over.sort();
    let (first, bytes) = over.first()?;
    Some(format!(
        "{} problem(s) expect more output than the {cap}-byte output cap, so every sample \
         fails them with output_limit ({first} expects {bytes} bytes); raise \
         `ouro execute --output-bytes`",
        over.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::outputs_past_the_cap;
    use ouro_data::{IoCase, Problem, Tests};
    use std::sync::Arc;

    fn io(id: &str, output_bytes: usize) -> Arc<Problem> {
        Arc::new(Problem {
            problem_id: id.into(),
            source: "test".into(),
            prompt: String::new(),
            entry_point: String::new(),
            language: "python".into(),
            starter_code: String::new(),
            reference_solution: None,
            tests: Tests::IoCases {
                cases: vec![IoCase {
                    input: String::new(),
                    output: "1\n".repeat(output_bytes / 2),
                }],
            },
            audit_tests: None,
            difficulty: None,
            tags: vec![],
            split: "test".into(),
        })
    }

    #[test]
    fn problems_that_cannot_be_passed_under_the_output_cap_are_named() {
        let problems = [io("small", 100), io("big-b", 4000), io("big-a", 3000)];
        let w = outputs_past_the_cap(problems.iter(), 2048).unwrap();
        assert!(
            w.starts_with("2 problem(s) expect more output than the 2048-byte output cap")
                && w.contains("(big-a expects 3000 bytes)"),
            "{w}"
        );
        assert_eq!(outputs_past_the_cap(problems.iter(), 4000), None);
    }
}
