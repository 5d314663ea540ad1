//! The `build` stage: problems + samples + executions → `sft`, `dpo`, `repair` configs.
//!
//! Each entry point reads its input shards, builds cleaned and ranked pools
//! ([`crate::pool`]), selects rows, writes `<out>/<config>/train-*.parquet`
//! and `<out>/<config>/_build_report.json`, and (re)writes the dataset card
//! `<out>/README.md` from every report found under `<out>`, so building
//! several configs into one directory yields one card listing all of them.
//! Every write is atomic; bad input is counted in the report, never fatal.

use std::path::Path;

use ouro_data::shard::{read_path, ShardWriter, WriteOptions};
use ouro_data::{
    DataError, DpoRecord, Execution, Problem, Record, RepairRecord, Sample, SftRecord,
};
use serde::Serialize;

use crate::decontam::Decontaminator;
use crate::metrics::{bstar_balance, mean_pass_at_k};
use crate::pairs::{mutant_samples, pairs_for_pool, EfficiencyMeasure, PairStats};
use crate::pool::{build_pools, Pool, PoolOptions, PoolStats};
use crate::render::CompletionFormat;
use crate::repair::{repair_records, RepairStats};
use crate::sft::{select_sft, SftStats};

/// Errors of the build stage; each names the path it is about.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = BuildError> = std::result::Result<T, E>;

pub use crate::options::{BuildInputs, BuildOptions, BuildReport, PassRateStats, RoundMetrics};

/// Inputs read into memory.
pub struct Loaded {
    pub problems: Vec<Problem>,
    pub samples: Vec<Sample>,
    pub executions: Vec<Execution>,
    /// Problems whose texts training data must not contain.
    pub benchmarks: Vec<Problem>,
    pub ranking_executions: Vec<Execution>,
    pub ranking_suite: ouro_data::Suite,
}

/// Reads all input shards.
pub fn load_inputs(inputs: &BuildInputs, out_dir: &Path) -> Result<Loaded> {
    ouro_data::fsutil::check_output_apart(out_dir, &inputs.named_paths())?;
    let fait = out_dir.join(ouro_data::hf::FAIT_REPORT);
    if fait.exists() {
        // The converse of `ouro fait` refusing a build's dataset.
        return Err(BuildError::Invalid(format!(
            "{}: holds the dataset `ouro fait` wrote ({}); a build would replace its sft config and card and leave its dpo config and report describing rows that are gone: choose another --out",
            out_dir.display(),
            fait.display()
        )));
    }
    let problems: Vec<Problem> = read_path(&inputs.problems)?;
    let mut samples: Vec<Sample> = Vec::new();
    // Where each sample came from: one read twice would count each attempt twice
    // (pass@k, pass rates, DART quotas), so it is an error naming both places.
    let mut seen: std::collections::HashMap<String, &Path> = Default::default();
    for path in std::iter::once(&inputs.samples).chain(&inputs.more_samples) {
        for s in read_path::<Sample>(path)? {
            if let Some(first) = seen.insert(s.sample_id.clone(), path) {
                return Err(BuildError::Invalid(format!(
                    "sample '{}' (problem '{}') is read twice, from {} and from {}: a sample \
                     counted twice would count its attempt twice",
                    s.sample_id,
                    s.problem_id,
                    first.display(),
                    path.display()
                )));
            }
            samples.push(s);
        }
    }
    let mut executions: Vec<Execution> = Vec::new();
    for path in std::iter::once(&inputs.executions).chain(&inputs.more_executions) {
        let read = read_path::<Execution>(path)?;
        check_costs(&read, path)?;
        executions.extend(read);
    }
    ouro_data::check_executions_match(&samples, &inputs.samples, &executions, &inputs.executions)
        .and_then(|()| {
            ouro_data::check_samples_match(&problems, &inputs.problems, &samples, &inputs.samples)
        })
        .and_then(|()| ouro_data::check_one_verdict_each(&executions, &inputs.executions))
        .and_then(|()| {
            ouro_data::check_tests_current(
                &problems,
                &inputs.problems,
                &executions,
                &inputs.executions,
            )
        })
        .map_err(BuildError::Invalid)?;
    let mut benchmarks = Vec::new();
    for p in inputs.eval_problems.iter().chain(&inputs.benchmarks) {
        benchmarks.extend(read_path::<Problem>(p)?);
    }
    let ranking_executions = match &inputs.ranking_executions {
        Some(p) => {
            let read: Vec<Execution> = read_path(p)?;
            check_costs(&read, p)?;
            // Of other samples, every score would be 0 and the ranking order nothing.
            ouro_data::check_executions_match(&samples, &inputs.samples, &read, p)
                .map_err(BuildError::Invalid)?;
            // Executions made without `--audit` hold no audit suite: every score would be 0.
            if !read.iter().any(|e| e.suite == inputs.ranking_suite) {
                return Err(BuildError::Invalid(format!(
                    "{} holds no execution of the {:?} suite the ranker is to score{}",
                    p.display(),
                    inputs.ranking_suite,
                    if inputs.ranking_suite == ouro_data::Suite::Audit {
                        " (run `ouro execute --audit`)"
                    } else {
                        ""
                    }
                )));
            }
            read
        }
        None => Vec::new(),
    };
    Ok(Loaded {
        problems,
        samples,
        executions,
        benchmarks,
        ranking_executions,
        ranking_suite: inputs.ranking_suite,
    })
}

/// Costs are compared to order efficiency pairs: a NaN one would sort as the costliest
/// and make the efficient program the rejected side.
fn check_costs(executions: &[Execution], path: &Path) -> Result<()> {
    for e in executions {
        for (field, v) in [("cpu_ms", e.cpu_ms), ("wall_ms", e.wall_ms)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(BuildError::Invalid(format!(
                    "{}: the execution of sample '{}' ({:?} suite) has {field} = {v}; costs \
                     must be finite and >= 0",
                    path.display(),
                    e.sample_id,
                    e.suite
                )));
            }
        }
    }
    Ok(())
}

/// Builds pools from loaded inputs with the build's options.
pub fn pools_from(loaded: &Loaded, o: &BuildOptions) -> Result<(Vec<Pool>, PoolStats)> {
    let decontaminator =
        Decontaminator::new(&loaded.benchmarks, &o.decontaminate).map_err(BuildError::Invalid)?;
    let (problems, left_out) = if o.require_isolated {
        isolated_problems(&loaded.problems, &loaded.executions)
    } else {
        (loaded.problems.clone(), 0)
    };
    let (pools, mut st) = build_pools(
        &problems,
        &loaded.samples,
        &loaded.executions,
        &PoolOptions {
            ranker: o.ranker,
            dedup: o.dedup.clone(),
            decontaminator: decontaminator.as_ref(),
            ranking_executions: loaded.ranking_executions.clone(),
            ranking_suite: loaded.ranking_suite,
        },
    );
    if left_out > 0 {
        st.warnings.push(format!(
            "{left_out} problems left out: a filter-suite pass was not judged in isolation (require_isolated)"
        ));
    }
    if st.decontaminated_problems > 0 || st.decontaminated_samples > 0 {
        let all = st.decontaminated_problems == problems.len();
        st.warnings.push(format!(
            "decontamination ({}) removed {} samples of {} problems{}",
            o.decontaminate.label(),
            st.decontaminated_samples,
            st.decontaminated_problems,
            if all {
                ": every problem matched a benchmark; if you train on a benchmark on purpose, leave it out of the benchmarks (`--builtin-benchmarks none` without `--benchmark`/`--eval-problems`; in a pipeline, `benchmarks = []` under [decontaminate])"
            } else {
                ""
            }
        ));
    }
    Ok((pools, st))
}

/// The pools whose programs can be written as `fmt`: for continuations,
/// without the candidates and reference solutions that do not start with the
/// prompt (counted and warned about in `st`). Other formats fit every program.
pub fn fitting<'p>(
    pools: &'p [Pool],
    fmt: CompletionFormat,
    st: &mut PoolStats,
) -> std::borrow::Cow<'p, [Pool]> {
    let fits = |p: &Pool, code: &str| fmt.fits(&p.problem.prompt, code);
    let unfit = |p: &Pool| {
        p.candidates.iter().any(|c| !fits(p, &c.code))
            || p.problem
                .reference_solution
                .as_deref()
                .is_some_and(|r| !fits(p, r))
    };
    if !pools.iter().any(unfit) {
        return std::borrow::Cow::Borrowed(pools);
    }
    let mut first: Option<String> = None;
    let mut left_out = 0;
    let kept = pools
        .iter()
        .map(|p| {
            let mut p = p.clone();
            let before = p.candidates.len();
            p.candidates.retain(|c| {
                let keep = fmt.fits(&p.problem.prompt, &c.code);
                if !keep && first.is_none() {
                    first = Some(c.sample.sample_id.clone());
                }
                keep
            });
            left_out += before - p.candidates.len();
            if p.problem
                .reference_solution
                .as_deref()
                .is_some_and(|r| !fits(&p, r))
            {
                first.get_or_insert_with(|| {
                    format!("the reference solution of {}", p.problem.problem_id)
                });
                p.problem.reference_solution = None;
                left_out += 1;
            }
            p
        })
        .collect();
    st.not_continuations += left_out;
    st.warnings.push(format!(
        "{left_out} programs do not start with their problem's prompt, so they cannot be written as its continuation and were left out (first: {}); build with --completion-format code to keep whole programs",
        first.unwrap_or_default()
    ));
    std::borrow::Cow::Owned(kept)
}

/// The problems none of whose filter-suite passes was judged in process
/// (wholly or in part), and how many were left out.
pub fn isolated_problems(problems: &[Problem], executions: &[Execution]) -> (Vec<Problem>, usize) {
    let untrusted: std::collections::HashSet<&str> = executions
        .iter()
        .filter(|e| {
            e.suite == ouro_data::Suite::Filter
                && e.verdict == ouro_data::Verdict::Pass
                && e.judge != ouro_data::Judge::Isolated
        })
        .map(|e| e.problem_id.as_str())
        .collect();
    let kept: Vec<Problem> = problems
        .iter()
        .filter(|p| !untrusted.contains(p.problem_id.as_str()))
        .cloned()
        .collect();
    let left_out = problems.len() - kept.len();
    (kept, left_out)
}

fn round_metrics(st: &PoolStats, pass_k: &[usize], balance: Option<f64>) -> RoundMetrics {
    let mut rates: Vec<f64> = st
        .per_problem_counts
        .iter()
        .map(|&(n, c)| c as f64 / n as f64)
        .collect();
    let pass_rate = if rates.is_empty() {
        PassRateStats::default()
    } else {
        let mean = rates.iter().sum::<f64>() / rates.len() as f64;
        let median = crate::matrix::median(&mut rates);
        PassRateStats {
            problems: rates.len(),
            mean,
            median,
            min: rates[0],
            max: rates[rates.len() - 1],
        }
    };
    RoundMetrics {
        pass_at_k: mean_pass_at_k(&st.per_problem_counts, pass_k),
        pass_rate,
        false_positive_rate: st.false_positives.rate(),
        bstar_balance: balance,
    }
}

/// B-STaR balance over problems with attempts: c = correct unique
/// (deduplicated) samples, n = samples drawn. `None` without attempts.
pub fn pool_balance(pools: &[Pool]) -> Option<f64> {
    let per: Vec<(usize, usize)> = pools
        .iter()
        .filter(|p| p.attempts > 0)
        .map(|p| (p.passing().count(), p.attempts))
        .collect();
    (!per.is_empty()).then(|| bstar_balance(&per))
}

/// Writes rows as config `config` of the dataset at `root` (Hugging Face layout).
pub fn write_config<T: Record>(
    root: &Path,
    config: &str,
    rows: &[T],
    rows_per_shard: usize,
) -> Result<Vec<String>> {
    Ok(
        ouro_data::hf::write_config_sharded(root, config, rows, rows_per_shard.max(1) as u64)?
            .files,
    )
}

fn versions() -> serde_json::Value {
    serde_json::json!({ "ouro-rank": env!("CARGO_PKG_VERSION") })
}

/// What every config's build shares: its inputs, options, output root and start time.
/// [`Build::finish`] writes the config's rows and its `_build_report.json`.
struct Build<'a> {
    inputs: &'a BuildInputs,
    options: &'a BuildOptions,
    out_dir: &'a Path,
    started: std::time::Instant,
}

impl<'a> Build<'a> {
    fn start(inputs: &'a BuildInputs, options: &'a BuildOptions, out_dir: &'a Path) -> Self {
        Build {
            inputs,
            options,
            out_dir,
            started: std::time::Instant::now(),
        }
    }

    /// Writes `rows` as config `config`, then its report: the pool's metrics and
    /// warnings and `selection` (the config's own counts).
    fn finish<T: Record>(
        &self,
        config: &str,
        rows: &[T],
        (pools, pool): (&[Pool], &PoolStats),
        selection: serde_json::Value,
    ) -> Result<BuildReport> {
        let o = self.options;
        let files = write_config(self.out_dir, config, rows, o.rows_per_shard)?;
        let report = BuildReport {
            config: config.into(),
            rows: rows.len(),
            files,
            pool: serde_json::to_value(pool).expect("stats serialise"),
            selection,
            metrics: round_metrics(pool, &o.pass_k, pool_balance(pools)),
            warnings: pool.warnings.clone(),
            inputs: self.inputs.clone(),
            options: o.clone(),
            versions: versions(),
            seconds: self.started.elapsed().as_secs_f64(),
        };
        let dir = self.out_dir.join(config);
        let legacy = dir.join("build_report.json");
        if legacy.is_file() {
            // A rebuild of a dataset written before the report's rename: one report only.
            std::fs::remove_file(&legacy).map_err(|e| DataError::io(&legacy, e))?;
        }
        let path = dir.join(ouro_data::hf::CONFIG_REPORT);
        ouro_data::fsutil::atomic_write_json(&path, &report)?;
        crate::card::write_card(self.out_dir)?;
        Ok(report)
    }
}

/// Builds the `sft` config.
pub fn build_sft(inputs: &BuildInputs, o: &BuildOptions, out_dir: &Path) -> Result<BuildReport> {
    let build = Build::start(inputs, o, out_dir);
    let loaded = load_inputs(inputs, out_dir)?;
    let (pools, mut pst) = pools_from(&loaded, o)?;
    let mut st = SftStats::default();
    let fit = fitting(&pools, o.completion_format, &mut pst);
    let rows: Vec<SftRecord> = select_sft(&fit, &o.sft, o.completion_format, &mut st);
    let sel = serde_json::to_value(&st).expect("stats serialise");
    build.finish("sft", &rows, (&pools, &pst), sel)
}

/// Builds the `dpo` config.
pub fn build_dpo(inputs: &BuildInputs, o: &BuildOptions, out_dir: &Path) -> Result<BuildReport> {
    let build = Build::start(inputs, o, out_dir);
    let loaded = load_inputs(inputs, out_dir)?;
    let (pools, mut pst) = pools_from(&loaded, o)?;
    pst.warn_about_pairs();
    let fit = fitting(&pools, o.completion_format, &mut pst);
    let per_pool: Vec<(Vec<DpoRecord>, PairStats)> = {
        use rayon::prelude::*;
        fit.par_iter()
            .map(|p| {
                let mut st = PairStats::default();
                let rows = pairs_for_pool(
                    p,
                    &o.pairs,
                    o.repair.min_similarity,
                    o.completion_format,
                    &mut st,
                );
                (rows, st)
            })
            .collect()
    };
    let mut st = PairStats::default();
    let mut rows = Vec::new();
    for (r, s) in per_pool {
        rows.extend(r);
        add_pair_stats(&mut st, &s);
    }
    let mut sel = serde_json::to_value(&st).expect("stats serialise");
    if st.mutants_tried > 0 && st.mutants_not_executed == st.mutants_tried {
        if o.pairs.injected_error_requested {
            pst.warnings.push(format!(
                "{} mutants were generated but none was executed: run `ouro build mutants`, execute its samples, and add them with a second --samples and --executions to get injected_error pairs",
                st.mutants_tried
            ));
        }
        sel["note"] = serde_json::json!("no executed mutants");
    }
    if o.pairs.efficiency_measure == EfficiencyMeasure::Lines
        && st.efficiency == 0
        && st.efficiency_too_close == 0
        && st.efficiency_unmeasured > 0
    {
        pst.warnings.push(format!(
            "{} passing samples have no lines_executed, so no efficiency pairs were made: execute without --no-line-count (or use --efficiency-measure cpu_time)",
            st.efficiency_unmeasured
        ));
    }
    build.finish("dpo", &rows, (&pools, &pst), sel)
}

fn add_pair_stats(a: &mut PairStats, b: &PairStats) {
    a.correctness += b.correctness;
    a.efficiency += b.efficiency;
    a.injected_error += b.injected_error;
    a.repair += b.repair;
    a.dropped_ties += b.dropped_ties;
    a.dropped_margin += b.dropped_margin;
    a.score_inversions += b.score_inversions;
    a.efficiency_too_close += b.efficiency_too_close;
    a.efficiency_unmeasured += b.efficiency_unmeasured;
    a.mutants_tried += b.mutants_tried;
    a.mutants_not_executed += b.mutants_not_executed;
    a.mutants_survived += b.mutants_survived;
    a.mutants_not_continuations += b.mutants_not_continuations;
    a.repair_fix_too_dissimilar += b.repair_fix_too_dissimilar;
    a.repeated_pairs += b.repeated_pairs;
}

/// Builds the `repair` config.
pub fn build_repair(inputs: &BuildInputs, o: &BuildOptions, out_dir: &Path) -> Result<BuildReport> {
    let build = Build::start(inputs, o, out_dir);
    let loaded = load_inputs(inputs, out_dir)?;
    let (pools, mut pst) = pools_from(&loaded, o)?;
    pst.warn_about_pairs();
    let mut st = RepairStats::default();
    let mut rows: Vec<RepairRecord> = Vec::new();
    for p in &pools {
        rows.extend(repair_records(p, &o.repair, o.completion_format, &mut st));
    }
    let sel = serde_json::to_value(&st).expect("stats serialise");
    build.finish("repair", &rows, (&pools, &pst), sel)
}

/// Writes the injected-error mutant samples of every pool to `<out_dir>/part-00000-of-00001.parquet`.
///
/// Execute them (filter suite) and pass them to `build dpo` together with
/// the original samples: only mutants that fail become rejected sides.
pub fn build_mutants(inputs: &BuildInputs, o: &BuildOptions, out_dir: &Path) -> Result<usize> {
    let loaded = load_inputs(inputs, out_dir)?;
    let (pools, st) = pools_from(&loaded, o)?;
    // Said as `build sft`/`dpo` say them: a decontamination that removed every
    // problem leaves no mutant, and no other word would say why.
    for w in &st.warnings {
        tracing::warn!("{w}");
    }
    let samples = mutant_samples(&pools, &o.pairs);
    std::fs::create_dir_all(out_dir).map_err(|e| DataError::io(out_dir, e))?;
    let mut w = ShardWriter::<Sample>::create(
        out_dir.join(ouro_data::shard::part_name(0, 1)),
        WriteOptions::default(),
    )?;
    w.write_all(&samples)?;
    w.finish()?;
    Ok(samples.len())
}

/// Counts of [`build_generated_tests`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct GeneratedTestsReport {
    pub test_samples: usize,
    pub problems_with_tests: usize,
    pub problems_without_tests: usize,
    pub tests: usize,
    /// Pieces dropped by Python's `compile()` (0 when no interpreter was given).
    pub rejected_by_compile: usize,
}

/// Writes a problem set whose filter suites are the model-generated tests in
/// `test_samples` (CodeT): split on `assert`, keep pieces that compile (with
/// `python`, one batch), at most `per_sample_limit` per sample and
/// `max_tests` per problem. Execute the candidate samples against
/// `<out_dir>/part-00000-of-00001.parquet` and pass the result as `ranking_executions`.
pub fn build_generated_tests(
    problems: &Path,
    test_samples: &Path,
    out_dir: &Path,
    per_sample_limit: usize,
    max_tests: usize,
    python: Option<&str>,
) -> Result<GeneratedTestsReport> {
    let problems: Vec<Problem> = read_path(problems)?;
    let samples: Vec<Sample> = read_path(test_samples)?;
    let mut rep = GeneratedTestsReport {
        test_samples: samples.len(),
        ..Default::default()
    };
    let mut pieces: Vec<String> = samples
        .iter()
        .flat_map(|s| crate::matrix::split_generated_tests(&s.completion, per_sample_limit))
        .collect();
    pieces.sort();
    pieces.dedup();
    let compiles: std::collections::HashSet<String> = match python {
        Some(py) => {
            let ok = crate::matrix::compile_check(py, &pieces).map_err(|e| {
                BuildError::Invalid(format!("{py}: compile check of generated tests: {e}"))
            })?;
            rep.rejected_by_compile = ok.iter().filter(|&&b| !b).count();
            pieces
                .into_iter()
                .zip(ok)
                .filter(|(_, b)| *b)
                .map(|(p, _)| p)
                .collect()
        }
        None => pieces.into_iter().collect(),
    };
    let mut by_problem: std::collections::HashMap<&str, Vec<&str>> = Default::default();
    for s in &samples {
        by_problem
            .entry(s.problem_id.as_str())
            .or_default()
            .push(s.completion.as_str());
    }
    let mut out = Vec::new();
    for p in &problems {
        let completions = by_problem
            .get(p.problem_id.as_str())
            .cloned()
            .unwrap_or_default();
        match crate::matrix::generated_tests_problem(
            p,
            &completions,
            per_sample_limit,
            max_tests,
            &|t| compiles.contains(t),
        ) {
            Some(g) => {
                if let ouro_data::Tests::AssertScript { script } = &g.tests {
                    rep.tests += script.lines().filter(|l| l.starts_with("assert")).count();
                }
                rep.problems_with_tests += 1;
                out.push(g);
            }
            None => rep.problems_without_tests += 1,
        }
    }
    std::fs::create_dir_all(out_dir).map_err(|e| DataError::io(out_dir, e))?;
    let mut w = ShardWriter::<Problem>::create(
        out_dir.join(ouro_data::shard::part_name(0, 1)),
        WriteOptions::default(),
    )?;
    w.write_all(&out)?;
    w.finish()?;
    Ok(rep)
}
