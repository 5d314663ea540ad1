//! Per-problem candidate pools: executed samples, scored, cleaned, best first.
//!
//! Building pools is where bad input is counted rather than crashed on:
//! executions of unknown samples, samples of unknown problems, samples
//! never executed, problems with no (or only) passing samples. Every count
//! lands in [`PoolStats`] and a readable line in `warnings`.

use std::collections::HashMap;

use ouro_data::{Execution, Problem, Sample, Suite, Verdict};
use rayon::prelude::*;
use serde::Serialize;

use crate::decontam::Decontaminator;
use crate::dedup::{dedup_labelled, DedupOptions, DedupStats};
use crate::matrix::{aggregate_outcomes, matrix_for_problem, MatrixStats, SampleOutcome};
use crate::metrics::FalsePositives;
use crate::rankers::Ranker;
use ouro_python::lexer::normalise_code;

/// Samples whose `model` starts with this are injected-error mutants made by
/// `pairs::mutant_samples`; they never enter the pools as candidates.
pub const MUTANT_MODEL_PREFIX: &str = "ouro-mutant/";

/// One executed sample with code.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub sample: Sample,
    pub code: String,
    pub passed: bool,
    pub score: f64,
    pub outcome: SampleOutcome,
}

/// The candidates of one problem, best first by ranker score.
#[derive(Debug, Clone)]
pub struct Pool {
    pub problem: Problem,
    pub candidates: Vec<Candidate>,
    /// Executed mutants of this problem: normalised code → passed the filter suite.
    pub mutant_verdicts: HashMap<String, bool>,
    /// Executed attempts (samples with or without code), for pass@k.
    pub attempts: usize,
    /// Attempts that passed, before dedup.
    pub passed_attempts: usize,
    /// Whether the problem's reference solution may be a training row: neither it
    /// nor the prompt holds benchmark text (checked whether or not the problem was
    /// attempted: a run's eval problems sit in the problem set without samples).
    pub reference_clean: bool,
}

impl Pool {
    pub fn passing(&self) -> impl Iterator<Item = &Candidate> {
        self.candidates.iter().filter(|c| c.passed)
    }
    pub fn failing(&self) -> impl Iterator<Item = &Candidate> {
        self.candidates.iter().filter(|c| !c.passed)
    }
}

/// How pools are built.
pub struct PoolOptions<'a> {
    pub ranker: Ranker,
    pub dedup: DedupOptions,
    /// Benchmarks to decontaminate against (`None`: no decontamination).
    pub decontaminator: Option<&'a Decontaminator>,
    /// Executions against model-generated tests (CodeT): when non-empty, the
    /// ranker scores this matrix instead of the filter-suite one. Pass/fail
    /// labels always come from the filter suite.
    pub ranking_executions: Vec<Execution>,
    /// The suite of `ranking_executions` the ranker scores.
    pub ranking_suite: Suite,
}

impl Default for PoolOptions<'_> {
    fn default() -> Self {
        PoolOptions {
            ranker: Ranker::default(),
            dedup: DedupOptions::default(),
            decontaminator: None,
            ranking_executions: Vec::new(),
            ranking_suite: Suite::Filter,
        }
    }
}

/// Counts of everything pool building saw, kept or dropped.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PoolStats {
    pub problems: usize,
    pub samples: usize,
    pub executions: usize,
    pub samples_of_unknown_problems: usize,
    pub executions_of_unknown_samples: usize,
    pub samples_without_code: usize,
    pub samples_not_executed: usize,
    pub mutant_samples: usize,
    pub problems_without_samples: usize,
    pub problems_without_passing_sample: usize,
    pub problems_with_only_passing_samples: usize,
    pub matrix: MatrixStats,
    pub dedup: DedupStats,
    pub decontaminated_samples: usize,
    pub decontaminated_problems: usize,
    /// Samples (and reference solutions) left out of continuation rows
    /// because they do not start with the prompt.
    pub not_continuations: usize,
    /// Problems whose iterative ranker (PageRank) stopped at its cap unconverged.
    pub ranker_not_converged: usize,
    pub false_positives: FalsePositives,
    /// `(attempts, passed)` per problem with at least one attempt.
    #[serde(skip)]
    pub per_problem_counts: Vec<(usize, usize)>,
    pub warnings: Vec<String>,
    /// Warnings that concern pairs only (DPO and repair builds add them to `warnings`;
    /// an SFT build has no pairs to miss).
    #[serde(skip)]
    pub pair_warnings: Vec<String>,
}

impl PoolStats {
    /// Moves the pair-only warnings into `warnings`: for builds that make pairs.
    pub(crate) fn warn_about_pairs(&mut self) {
        let pair_warnings = std::mem::take(&mut self.pair_warnings);
        self.warnings.extend(pair_warnings);
    }
}

fn warn_count(warnings: &mut Vec<String>, count: usize, what: &str, example: Option<&str>) {
    if count > 0 {
        let ex = example
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default();
        warnings.push(format!("{count} {what}{ex}"));
    }
}

/// One problem's pool before dedup, and what its cleaning removed.
struct Partial {
    pool: Pool,
    decontaminated: usize,
    problem_decontaminated: bool,
    converged: bool,
}

/// Scores, orders and decontaminates one problem's executed samples.
fn pool_for_problem(
    problem: &Problem,
    ss: &[&Sample],
    filter: &HashMap<String, SampleOutcome>,
    ranking: Option<&HashMap<String, SampleOutcome>>,
    o: &PoolOptions,
) -> Partial {
    let mut mutant_verdicts = HashMap::new();
    let mut executed: Vec<&Sample> = Vec::new();
    let mut attempts = 0;
    let mut passed_attempts = 0;
    for s in ss {
        let Some(out) = filter.get(&s.sample_id) else {
            continue;
        };
        if s.model.starts_with(MUTANT_MODEL_PREFIX) {
            if let Some(code) = &s.code {
                mutant_verdicts.insert(normalise_code(code), out.passed);
            }
            continue;
        }
        // A request the server failed (expired, HTTP 500) is no attempt of the model's:
        // counted, it would make a problem look hard and skew pass rates and budgets.
        if s.generation_error.is_some() {
            continue;
        }
        attempts += 1;
        passed_attempts += out.passed as usize;
        if s.code.is_some() {
            executed.push(s);
        }
    }
    // Deterministic row order regardless of input order.
    executed
        .sort_by(|a, b| (a.round, a.index, &a.sample_id).cmp(&(b.round, b.index, &b.sample_id)));
    let ids: Vec<String> = executed.iter().map(|s| s.sample_id.clone()).collect();
    let matrix = matrix_for_problem(&problem.problem_id, &ids, ranking.unwrap_or(filter));
    let (scores, converged) = o.ranker.score_checked(&matrix);
    let mut candidates: Vec<Candidate> = executed
        .iter()
        .zip(scores)
        .map(|(s, score)| Candidate {
            sample: (*s).clone(),
            code: s.code.clone().unwrap_or_default(),
            passed: filter[&s.sample_id].passed,
            score,
            outcome: filter[&s.sample_id].clone(),
        })
        .collect();
    candidates.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(b.passed.cmp(&a.passed))
            .then((a.sample.round, a.sample.index).cmp(&(b.sample.round, b.sample.index)))
            .then(a.sample.sample_id.cmp(&b.sample.sample_id))
    });
    let mut decontaminated = 0;
    let mut problem_decontaminated = false;
    let prompt_matches = o
        .decontaminator
        .is_some_and(|d| d.is_contaminated(&problem.prompt));
    // A problem nobody attempted has nothing to remove: the run's
    // own eval problems sit in the problem set without samples.
    if let Some(d) = o.decontaminator.filter(|_| attempts > 0) {
        if prompt_matches {
            problem_decontaminated = true;
            decontaminated = candidates.len();
            candidates.clear();
        } else {
            let before = candidates.len();
            candidates.retain(|c| !d.is_contaminated(&c.code));
            decontaminated = before - candidates.len();
        }
    }
    let reference_clean = !prompt_matches
        && !o.decontaminator.is_some_and(|d| {
            problem
                .reference_solution
                .as_deref()
                .is_some_and(|r| d.is_contaminated(r))
        });
    Partial {
        pool: Pool {
            problem: problem.clone(),
            candidates,
            mutant_verdicts,
            attempts,
            passed_attempts,
            reference_clean,
        },
        decontaminated,
        problem_decontaminated,
        converged,
    }
}

/// Dedups every pool's candidates in one pass (items keep their problem as
/// their group, so the scope decides whether pools see each other).
fn dedup_pools(pools: &mut [Pool], o: &DedupOptions) -> DedupStats {
    let mut items: Vec<(&str, &str)> = Vec::new();
    let mut passing = Vec::new();
    for p in pools.iter() {
        for c in &p.candidates {
            items.push((p.problem.problem_id.as_str(), c.code.as_str()));
            passing.push(c.passed);
        }
    }
    let (keep, stats) = dedup_labelled(&items, &passing, o);
    let mut k = 0;
    for p in pools.iter_mut() {
        let n = p.candidates.len();
        let flags = &keep[k..k + n];
        let mut it = flags.iter();
        p.candidates
            .retain(|_| *it.next().expect("one flag per candidate"));
        k += n;
    }
    stats
}

/// The first example behind each warning count, so a warning can name one.
#[derive(Default)]
struct FirstExamples {
    unknown_exec: Option<String>,
    unknown_problem: Option<String>,
    unexecuted: Option<String>,
    empty: Option<String>,
    no_pass: Option<String>,
    all_pass: Option<String>,
    unconverged: Option<String>,
}

/// Groups samples and executions by problem, scores them and cleans them.
pub fn build_pools(
    problems: &[Problem],
    samples: &[Sample],
    executions: &[Execution],
    o: &PoolOptions,
) -> (Vec<Pool>, PoolStats) {
    let mut st = PoolStats {
        problems: problems.len(),
        samples: samples.len(),
        executions: executions.len(),
        ..Default::default()
    };
    let mut first = FirstExamples::default();
    let problem_index: HashMap<&str, usize> = problems
        .iter()
        .enumerate()
        .map(|(i, p)| (p.problem_id.as_str(), i))
        .collect();
    let sample_ids: HashMap<&str, &Sample> =
        samples.iter().map(|s| (s.sample_id.as_str(), s)).collect();

    let known_execs: Vec<Execution> = executions
        .iter()
        .filter(|e| {
            let known = sample_ids.contains_key(e.sample_id.as_str());
            if !known {
                st.executions_of_unknown_samples += 1;
                first
                    .unknown_exec
                    .get_or_insert_with(|| format!("sample_id={}", e.sample_id));
            }
            known
        })
        .cloned()
        .collect();
    let filter = aggregate_outcomes(&known_execs, Suite::Filter, &mut st.matrix);
    let ranking = (!o.ranking_executions.is_empty()).then(|| {
        aggregate_outcomes(
            &o.ranking_executions,
            o.ranking_suite,
            &mut MatrixStats::default(),
        )
    });
    let mut audit_stats = MatrixStats::default();
    let audit = aggregate_outcomes(&known_execs, Suite::Audit, &mut audit_stats);

    let mut by_problem: Vec<Vec<&Sample>> = vec![Vec::new(); problems.len()];
    for s in samples {
        match problem_index.get(s.problem_id.as_str()) {
            Some(&i) => by_problem[i].push(s),
            None => {
                st.samples_of_unknown_problems += 1;
                first
                    .unknown_problem
                    .get_or_insert_with(|| format!("problem_id={}", s.problem_id));
            }
        }
        if !filter.contains_key(&s.sample_id) {
            st.samples_not_executed += 1;
            first
                .unexecuted
                .get_or_insert_with(|| format!("sample_id={}", s.sample_id));
        }
        if s.code.is_none() {
            st.samples_without_code += 1;
        }
        if s.model.starts_with(MUTANT_MODEL_PREFIX) {
            st.mutant_samples += 1;
        }
    }

    let ranking = ranking.as_ref();
    let partials: Vec<Partial> = problems
        .par_iter()
        .zip(by_problem.par_iter())
        .map(|(problem, ss)| pool_for_problem(problem, ss, &filter, ranking, o))
        .collect();
    let mut pools: Vec<Pool> = partials
        .into_iter()
        .map(|p| tally(&mut st, &mut first, &audit, p))
        .collect();
    st.dedup = dedup_pools(&mut pools, &o.dedup);
    warn_all(&mut st, &first);
    (pools, st)
}

/// Counts one problem's pool into the stats (problem-level outcomes, decontamination,
/// false positives among its passing candidates) and hands the pool on.
fn tally(
    st: &mut PoolStats,
    first: &mut FirstExamples,
    audit: &HashMap<String, SampleOutcome>,
    p: Partial,
) -> Pool {
    if !p.converged {
        st.ranker_not_converged += 1;
        first
            .unconverged
            .get_or_insert_with(|| p.pool.problem.problem_id.clone());
    }
    st.decontaminated_samples += p.decontaminated;
    st.decontaminated_problems += p.problem_decontaminated as usize;
    let pool = p.pool;
    let pid = &pool.problem.problem_id;
    if pool.attempts == 0 {
        st.problems_without_samples += 1;
        first.empty.get_or_insert_with(|| pid.clone());
    } else {
        st.per_problem_counts
            .push((pool.attempts, pool.passed_attempts));
        if pool.passed_attempts == 0 {
            st.problems_without_passing_sample += 1;
            first.no_pass.get_or_insert_with(|| pid.clone());
        } else if pool.passed_attempts == pool.attempts {
            st.problems_with_only_passing_samples += 1;
            first.all_pass.get_or_insert_with(|| pid.clone());
        }
    }
    for c in pool.passing() {
        match audit.get(&c.sample.sample_id) {
            Some(a) => {
                st.false_positives.audited += 1;
                st.false_positives.failed_audit += (a.verdict != Verdict::Pass) as usize;
            }
            None => st.false_positives.unaudited += 1,
        }
    }
    pool
}

/// One warning line per non-zero count, naming its first example.
fn warn_all(st: &mut PoolStats, first: &FirstExamples) {
    warn_count(
        &mut st.pair_warnings,
        st.problems_with_only_passing_samples,
        "problems have only passing samples (no correctness pairs)",
        first.all_pass.as_deref(),
    );
    let lines: [(usize, &str, Option<&str>); 7] = [
        (
            st.executions_of_unknown_samples,
            "executions refer to unknown samples and were ignored",
            first.unknown_exec.as_deref(),
        ),
        (
            st.samples_of_unknown_problems,
            "samples refer to unknown problems and were ignored",
            first.unknown_problem.as_deref(),
        ),
        (
            st.samples_not_executed,
            "samples have no filter-suite execution and were left out",
            first.unexecuted.as_deref(),
        ),
        (
            st.problems_without_samples,
            "problems have no executed sample",
            first.empty.as_deref(),
        ),
        (
            st.problems_without_passing_sample,
            "problems have no passing sample (no SFT rows or pairs from samples)",
            first.no_pass.as_deref(),
        ),
        (
            st.ranker_not_converged,
            "problems were ranked by an unconverged PageRank (raise the iteration cap)",
            first.unconverged.as_deref(),
        ),
        (
            st.matrix.sandbox_errors_skipped,
            "sandbox-error executions were skipped (never a label)",
            None,
        ),
    ];
    for (n, what, example) in lines {
        warn_count(&mut st.warnings, n, what, example);
    }
}
