//! The bodies of the data stages: what each one reads and writes, per shard.

use std::path::{Path, PathBuf};

use anyhow::Result;
use ouro_data::run::{part_path, StageStats};
use ouro_data::{shard, Problem, Sample, ShardSpec};
use ouro_import::sample::from_program;

use crate::config::{
    BuildStage, DatasetKind, DecontaminateStage, ExecuteStage, LintseqStage, ProblemsStage,
    SamplesStage,
};

fn generate_options(p: &ProblemsStage) -> ouro_problems::GenerateOptions {
    let mut o = ouro_problems::GenerateOptions {
        count: p.count,
        seed: p.seed,
        targeted_filter: p.targeted_filter,
        ..Default::default()
    };
    if let Some(n) = p.filter_tests {
        o.filter_tests = n;
    }
    if !p.families.is_empty() {
        o.families
            .retain(|(f, _)| p.families.iter().any(|n| n == f.name()));
    }
    o
}

/// Every problem of the run, generated or imported (deterministic in the config).
fn all_problems(p: &ProblemsStage) -> Result<Vec<Problem>> {
    Ok(match &p.import {
        Some(i) => {
            let format = i.format.parse().map_err(anyhow::Error::msg)?;
            ouro_import::import_problems(&i.path, format, &Default::default())?
        }
        None => ouro_problems::generate(&generate_options(p))?,
    })
}

/// Sharded, each shard writes only the problems it owns, to its own part.
///
/// Every shard computes the whole (deterministic) problem set in memory, but
/// no two processes ever write the same file: shard I writes
/// `part-I-of-N.parquet` through a temp file and a rename, so shards on a
/// shared filesystem need no lock, and once every shard is done the parts
/// together hold each problem exactly once. A shard's later stages only need
/// the problems it owns, which it wrote itself.
pub(crate) fn problems_stage(
    p: &ProblemsStage,
    dir: &Path,
    shard: ShardSpec,
) -> Result<StageStats> {
    let problems = all_problems(p)?;
    let mut stats = StageStats::default();
    if shard.count > 1 {
        let owned: Vec<Problem> = problems
            .into_iter()
            .filter(|q| shard.owns(&q.problem_id))
            .collect();
        shard::write_records(part_path(dir, shard), &owned)?;
        stats.add("problems", owned.len() as u64);
    } else if p.import.is_some() {
        shard::write_records(part_path(dir, shard), &problems)?;
        stats.add("problems", problems.len() as u64);
    } else {
        ouro_problems::write(dir, &problems)?;
        stats.add("problems", problems.len() as u64);
    }
    Ok(stats)
}

/// The problems `shard` owns, as its problems stage wrote them.
fn owned_problems(problems_dir: &Path, shard: ShardSpec) -> Result<Vec<Problem>> {
    Ok(if shard.count == 1 {
        shard::read_dir(problems_dir)?
    } else {
        shard::read_records(part_path(problems_dir, shard))?
    })
}

/// Sharded, a shard writes the samples of the problems it owns to its own part.
pub(crate) fn samples_stage(
    p: &ProblemsStage,
    s: &SamplesStage,
    problems_dir: &Path,
    dir: &Path,
    shard: ShardSpec,
) -> Result<StageStats> {
    if let Some(i) = &s.import {
        // The generations file covers every problem, so a shard matches it
        // against the whole set and keeps its own problems' samples.
        let problems: Vec<Problem> = if shard.count == 1 {
            shard::read_dir(problems_dir)?
        } else {
            all_problems(p)?
        };
        let opts = ouro_import::GenerationImport {
            format: i.format.parse().map_err(anyhow::Error::msg)?,
            model: i.model.clone(),
            ..Default::default()
        };
        let mut samples = ouro_import::import_generations(&i.path, &problems, &opts)?;
        samples.retain(|x| shard.owns(&x.problem_id));
        let mut stats = StageStats::default();
        stats.add("imported_samples", samples.len() as u64);
        stats.add(
            "no_code",
            samples.iter().filter(|s| s.code.is_none()).count() as u64,
        );
        shard::write_records(part_path(dir, shard), &samples)?;
        return Ok(stats);
    }
    if p.import.is_some() {
        // Imported problems have no generator mutants: their references are the samples.
        let problems = owned_problems(problems_dir, shard)?;
        let samples: Vec<Sample> = problems
            .iter()
            .filter_map(|p| {
                Some(from_program(
                    p,
                    0,
                    "reference",
                    p.reference_solution.as_ref()?,
                ))
            })
            .collect();
        let mut stats = StageStats::default();
        stats.add("reference_samples", samples.len() as u64);
        shard::write_records(part_path(dir, shard), &samples)?;
        return Ok(stats);
    }
    let generated = ouro_problems::generate_detailed(&generate_options(p))?;
    let mut samples = Vec::new();
    let mut stats = StageStats::default();
    for g in generated
        .iter()
        .filter(|g| shard.owns(&g.problem.problem_id))
    {
        if let Some(reference) = &g.problem.reference_solution {
            samples.push(from_program(&g.problem, 0, "reference", reference));
            stats.add("reference_samples", 1);
        }
        for (i, m) in g.mutants.iter().take(s.mutants_per_problem).enumerate() {
            samples.push(from_program(&g.problem, i as u32, "mutant", &m.program));
            stats.add("mutant_samples", 1);
        }
    }
    shard::write_records(part_path(dir, shard), &samples)?;
    Ok(stats)
}

/// Where a shard's executor keeps its journal. The executor owns its output
/// directory (it compacts and prunes every part there), so shards cannot
/// share one: each executes into its own, then publishes one part.
pub(crate) fn execute_work_dir(executions_dir: &Path, shard: ShardSpec) -> PathBuf {
    executions_dir.join("_work").join(shard.label())
}

/// Sharded, a shard executes only its own samples part and publishes
/// `part-I-of-N.parquet` of executions once its journal is complete.
/// `count_lines`: whether the build reads `lines_executed`
/// ([`crate::config::DatasetKind::read_line_counts`]).
pub(crate) fn execute_stage(
    e: &ExecuteStage,
    count_lines: bool,
    problems: &Path,
    samples: &Path,
    out: &Path,
    shard: ShardSpec,
) -> Result<StageStats> {
    let mut suites = vec![ouro_data::Suite::Filter];
    if e.audit {
        suites.push(ouro_data::Suite::Audit);
    }
    let opts = exec_options(Some(e), suites, count_lines);
    let result = if shard.count == 1 {
        ouro_exec::execute(problems, samples, out, &opts)?
    } else {
        let work = execute_work_dir(out, shard);
        let result = ouro_exec::execute(
            &part_path(problems, shard),
            &part_path(samples, shard),
            &work,
            &opts,
        )?;
        let mut records: Vec<ouro_data::Execution> = Vec::with_capacity(result.records);
        for part in shard::list_shards(&work)? {
            records.extend(shard::read_records::<ouro_data::Execution>(&part)?);
        }
        shard::write_records(part_path(out, shard), &records)?;
        result
    };
    let mut stats = exec_stats(&result);
    stats.drop_item("unknown_problem", result.unknown_problem as u64);
    Ok(stats)
}

/// The executor options of an `[execute]` section (its defaults when the
/// pipeline has none), running `suites`.
pub(crate) fn exec_options(
    e: Option<&ExecuteStage>,
    suites: Vec<ouro_data::Suite>,
    count_lines: bool,
) -> ouro_exec::ExecOptions {
    let mut opts = ouro_exec::ExecOptions {
        workers: e.map_or(0, |e| e.workers),
        progress: true,
        suites,
        count_lines,
        ..Default::default()
    };
    opts.limits.cpu_ms = e.map_or(crate::config::DEFAULT_CPU_MS, |e| e.cpu_ms);
    if let Some(e) = e {
        opts.python = e.python.clone();
        opts.require_isolation = e.require_isolation.clone();
    }
    opts
}

/// An execute stage's marker counts: the records and their verdicts, all that is on
/// disk, so a resumed stage's summary covers the rows judged before the stop too (the
/// verdicts of this run alone read `executions=464 verdict_error=298 verdict_fail=10`).
pub(crate) fn exec_stats(r: &ouro_exec::ExecStats) -> StageStats {
    let mut s = StageStats::default();
    s.add("executions", r.records as u64);
    for (verdict, n) in &r.verdicts_on_disk {
        s.add(&format!("verdict_{verdict}"), *n as u64);
    }
    s
}

/// The benchmarks `[decontaminate]` names, for a build: its files and (when
/// `eval` is on) the run's evaluation problems, imported and written to one
/// problem shard in `dir` (rewritten each time: it is deterministic), and
/// the rank crate's options.
pub(crate) fn decontamination(
    d: &DecontaminateStage,
    eval: &[Problem],
    dir: &Path,
) -> Result<(Vec<PathBuf>, ouro_rank::decontam::DecontamOptions)> {
    let options = d.options().map_err(anyhow::Error::msg)?;
    let mut problems: Vec<Problem> = if d.eval { eval.to_vec() } else { Vec::new() };
    for f in &d.files {
        let format = f.format.parse().map_err(anyhow::Error::msg)?;
        problems.extend(ouro_import::import_problems(
            &f.path,
            format,
            &Default::default(),
        )?);
    }
    if problems.is_empty() {
        return Ok((Vec::new(), options));
    }
    let path = dir.join("benchmarks.parquet");
    shard::write_records(&path, &problems)?;
    Ok((vec![path], options))
}

/// The benchmark text LintSeq and FAIT rows must not hold, by `ouro build`'s rule
/// and benchmarks (`benchmarks`: problem shards; the options' built-in sets).
pub fn benchmark_exclusion(
    benchmarks: &[PathBuf],
    options: &ouro_rank::decontam::DecontamOptions,
) -> Result<Option<ouro_edits::Exclude>> {
    let mut problems = Vec::new();
    for b in benchmarks {
        problems.extend(shard::read_path::<Problem>(b)?);
    }
    let d =
        ouro_rank::decontam::Decontaminator::new(&problems, options).map_err(anyhow::Error::msg)?;
    Ok(d.map(|d| ouro_edits::Exclude::new(move |text| d.is_contaminated(text))))
}

pub(crate) fn build_stage(
    b: &BuildStage,
    d: &DecontaminateStage,
    problems: &Path,
    samples: &Path,
    executions: &Path,
    out: &Path,
) -> Result<StageStats> {
    let (benchmarks, decontaminate) = decontamination(d, &[], out.parent().unwrap_or(out))?;
    let inputs = ouro_rank::build::BuildInputs {
        problems: problems.to_path_buf(),
        samples: samples.to_path_buf(),
        executions: executions.to_path_buf(),
        more_samples: Vec::new(),
        more_executions: Vec::new(),
        eval_problems: None,
        benchmarks,
        ranking_executions: None,
        ranking_suite: ouro_data::Suite::Filter,
    };
    let opts = ouro_rank::build::BuildOptions {
        decontaminate,
        ..Default::default()
    };
    build_datasets(&b.configs, &inputs, &opts, out)
}

/// Builds each ranked dataset of `kinds` (sft, dpo, repair; the edit
/// datasets are skipped) into `out`; stats count `<kind>_rows`.
pub(crate) fn build_datasets(
    kinds: &[DatasetKind],
    inputs: &ouro_rank::build::BuildInputs,
    opts: &ouro_rank::build::BuildOptions,
    out: &Path,
) -> Result<StageStats> {
    // Configs are built in a hidden sibling and moved in once all are there: built in
    // place, a kill left a dataset whose card listed the configs done so far, which
    // `load_dataset` read as whole.
    let staging = ouro_data::fsutil::staging_dir(out)?;
    let mut stats = StageStats::default();
    for &kind in kinds {
        let report = match kind {
            DatasetKind::Sft => ouro_rank::build::build_sft(inputs, opts, &staging)?,
            DatasetKind::Dpo => ouro_rank::build::build_dpo(inputs, opts, &staging)?,
            DatasetKind::Repair => ouro_rank::build::build_repair(inputs, opts, &staging)?,
            DatasetKind::Lintseq | DatasetKind::Fait => continue,
        };
        stats.add(&format!("{kind}_rows"), report.rows as u64);
        let removed = report.pool["decontaminated_samples"].as_u64().unwrap_or(0);
        if kind == DatasetKind::Sft && removed > 0 {
            stats.drop_item("decontaminated_samples", removed);
        }
    }
    if staging.exists() {
        ouro_data::fsutil::move_in(&staging, out)?;
    }
    Ok(stats)
}

pub(crate) fn lintseq_stage(
    l: &LintseqStage,
    d: &DecontaminateStage,
    problems: &Path,
    out: &Path,
) -> Result<StageStats> {
    let (benchmarks, decontaminate) = decontamination(d, &[], out.parent().unwrap_or(out))?;
    let opts = ouro_edits::lintseq::LintseqOptions {
        sequences_per_program: l.sequences_per_program,
        seed: l.seed,
        strict: l.strict,
        exclude: benchmark_exclusion(&benchmarks, &decontaminate)?,
        ..Default::default()
    };
    let result = ouro_edits::lintseq::run(problems, out, &opts)?;
    let mut stats = StageStats::default();
    let json = serde_json::to_value(&result)?;
    if let Some(map) = json.as_object() {
        for (k, v) in map {
            if let Some(n) = v.as_u64() {
                stats.add(k, n);
            }
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_execute_stages_counts_cover_what_is_on_disk() {
        // A resumed stage judged 2 of its 5 rows now; its summary is of all 5.
        let r = ouro_exec::ExecStats {
            records: 5,
            verdicts: [("fail".to_string(), 2)].into(),
            verdicts_on_disk: [("pass".to_string(), 3), ("fail".to_string(), 2)].into(),
            ..Default::default()
        };
        let s = super::exec_stats(&r);
        assert_eq!(s.counts["executions"], 5);
        assert_eq!((s.counts["verdict_pass"], s.counts["verdict_fail"]), (3, 2));
    }
}
