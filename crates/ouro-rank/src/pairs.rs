//! Preference pairs (the `dpo` config).
//!
//! Four kinds, recorded in `pair_kind`:
//! - **correctness**: chosen is a top-ranked passing sample; rejected is a
//!   failing one, the most similar to the chosen (hardest negative) or a
//!   seeded random one. Pass and fail come from the trusted (filter) tests;
//!   the ranker only orders samples within a label, so a failing group that
//!   outscores every passing one (CodeT, B4 on generated tests) never drops
//!   a pair: it is counted in `score_inversions`. Scores are the ranker's.
//! - **efficiency**: both pass the filter (trusted) tests; chosen's cost is
//!   lower by at least a relative margin and an absolute gap. The cost is
//!   [`EfficiencyMeasure::Lines`] by default: Python lines executed during
//!   the tests, which is the same on every run, so the pairs are too. Scores
//!   are the costs (lower is better). [`EfficiencyMeasure::CpuTime`] (median
//!   CPU milliseconds) is kept for comparison; it changes with machine load.
//! - **injected_error**: chosen is a passing sample, rejected a mutant of it
//!   (see [`crate::mutate`]) that *failed when executed*; both sides carry an
//!   emphasis span over the edited characters.
//! - **repair**: the prompt shows a failing attempt and its execution
//!   feedback; chosen is the most similar passing program (the fix), rejected
//!   is the failing attempt repeated unchanged.
//!
//! Knobs ([`PairOptions`]): maximum pairs per problem and kind, and, as
//! opt-in filters, a minimum score margin and dropping ties.

use std::collections::HashSet;

use ouro_data::{derive_seed, DpoRecord, PairKind, Sample, WeightSpan};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::mutate::{sample_mutants, Mutant};
use crate::pool::{Candidate, Pool, MUTANT_MODEL_PREFIX};
pub use crate::render::{similarity, CompletionFormat};
use crate::repair::{feedback_text, repair_prompt};
use ouro_python::lexer::normalise_code;

/// How the rejected side of a correctness pair is picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NegativeChoice {
    /// The failing sample most similar to the chosen one.
    Hardest,
    /// A seeded random failing sample.
    Random,
}

/// What an efficiency pair compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EfficiencyMeasure {
    /// Python lines executed while the tests ran: deterministic.
    Lines,
    /// Median CPU milliseconds over the runs: noise on a loaded machine, so
    /// datasets built from it differ between identical runs.
    CpuTime,
}

impl std::str::FromStr for EfficiencyMeasure {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "lines" => Ok(EfficiencyMeasure::Lines),
            "cpu_time" | "cpu-time" => Ok(EfficiencyMeasure::CpuTime),
            other => Err(format!(
                "unknown efficiency measure '{other}' (expected lines or cpu_time)"
            )),
        }
    }
}

/// Knobs of pair building.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairOptions {
    pub kinds: Vec<PairKind>,
    /// Per problem and per kind.
    pub max_pairs_per_problem: usize,
    /// When positive, correctness pairs need `chosen_score − rejected_score ≥ min_score_margin`.
    pub min_score_margin: f64,
    /// Drop correctness pairs whose scores are equal (off by default: labels decide).
    pub drop_ties: bool,
    pub negative: NegativeChoice,
    pub efficiency_measure: EfficiencyMeasure,
    /// Efficiency pairs need `rejected_cost ≥ chosen_cost · (1 + efficiency_margin)`.
    pub efficiency_margin: f64,
    /// ... and `rejected_ms − chosen_ms ≥ min_time_gap_ms` (CPU time)
    pub min_time_gap_ms: f64,
    /// ... or `rejected_lines − chosen_lines ≥ min_lines_gap` (lines).
    pub min_lines_gap: u64,
    /// Both sides of an efficiency pair need at least this many timing runs.
    pub min_timing_runs: usize,
    /// Mutants tried per passing solution.
    pub mutants_per_solution: usize,
    /// Passing solutions mutated per problem.
    pub solutions_mutated: usize,
    /// Loss weight of emphasis spans.
    pub emphasis_weight: f32,
    pub seed: u64,
    /// Warn when no mutant was executed. Only a caller who named `injected_error` asked for
    /// those pairs; the default kinds include it so that executed mutants are used when
    /// present, and a warning on every default build would teach users to skip warnings.
    #[serde(default)]
    pub injected_error_requested: bool,
}

impl Default for PairOptions {
    fn default() -> Self {
        PairOptions {
            kinds: vec![
                PairKind::Correctness,
                PairKind::Efficiency,
                PairKind::InjectedError,
                PairKind::Repair,
            ],
            max_pairs_per_problem: 4,
            min_score_margin: 0.0,
            drop_ties: false,
            negative: NegativeChoice::Hardest,
            efficiency_measure: EfficiencyMeasure::Lines,
            efficiency_margin: 0.2,
            min_time_gap_ms: 1.0,
            min_lines_gap: 10,
            min_timing_runs: 1,
            mutants_per_solution: 6,
            solutions_mutated: 2,
            emphasis_weight: 2.0,
            seed: 0,
            injected_error_requested: false,
        }
    }
}

/// What pair building produced and skipped.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PairStats {
    pub correctness: usize,
    pub efficiency: usize,
    pub injected_error: usize,
    pub repair: usize,
    pub dropped_ties: usize,
    pub dropped_margin: usize,
    /// Correctness pairs whose failing side scored at least as high as the passing one.
    pub score_inversions: usize,
    pub efficiency_too_close: usize,
    /// Passing samples without a cost: no `lines_executed` (lines), or
    /// fewer timing runs than asked (CPU time).
    pub efficiency_unmeasured: usize,
    pub mutants_tried: usize,
    pub mutants_not_executed: usize,
    pub mutants_survived: usize,
    /// Failing mutants left out of continuation pairs: they changed the prompt's part.
    pub mutants_not_continuations: usize,
    /// Failing samples without a repair pair: no passing program was `--min-similarity`
    /// like them.
    pub repair_fix_too_dissimilar: usize,
    /// Pairs one kind made again after another (left out).
    pub repeated_pairs: usize,
}

/// `span` moved by `off` chars, clipped at 0; `None` when nothing of it is left.
fn shifted(span: (u32, u32), off: i64, weight: f32) -> Option<WeightSpan> {
    let start = (i64::from(span.0) + off).max(0);
    let end = (i64::from(span.1) + off).max(0);
    (end > start).then_some(WeightSpan {
        start: start as u32,
        end: end as u32,
        weight,
    })
}

fn record(
    pool: &Pool,
    prompt: String,
    kind: PairKind,
    fmt: CompletionFormat,
    chosen: (&str, Option<&Sample>, Option<f64>),
    rejected: (&str, Option<&Sample>, Option<f64>),
) -> DpoRecord {
    DpoRecord {
        chosen: fmt.render(&prompt, chosen.0),
        rejected: fmt.render(&prompt, rejected.0),
        prompt,
        problem_id: pool.problem.problem_id.clone(),
        chosen_sample_id: chosen.1.map(|s| s.sample_id.clone()),
        rejected_sample_id: rejected.1.map(|s| s.sample_id.clone()),
        round: chosen.1.or(rejected.1).map_or(0, |s| s.round),
        pair_kind: kind,
        chosen_score: chosen.2,
        rejected_score: rejected.2,
        chosen_spans: Vec::new(),
        rejected_spans: Vec::new(),
    }
}

/// Correctness pairs of one pool.
pub fn correctness_pairs(
    pool: &Pool,
    o: &PairOptions,
    fmt: CompletionFormat,
    st: &mut PairStats,
) -> Vec<DpoRecord> {
    let passing: Vec<&Candidate> = pool.passing().collect();
    let mut failing: Vec<&Candidate> = pool.failing().collect();
    let mut out = Vec::new();
    if passing.is_empty() || failing.is_empty() {
        return out;
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(derive_seed(&pool.problem.problem_id, o.seed));
    failing.shuffle(&mut rng);
    let mut round = 0;
    // A passing program no failing one is far enough below (--min-score-margin,
    // --drop-ties) is passed over; the others still pair.
    let mut exhausted = vec![false; passing.len()];
    while out.len() < o.max_pairs_per_problem
        && !failing.is_empty()
        && exhausted.iter().any(|&e| !e)
    {
        let at = round % passing.len();
        round += 1;
        if exhausted[at] {
            continue;
        }
        let chosen = passing[at];
        // Candidates ordered by preference; the first acceptable one is used.
        let mut order: Vec<usize> = (0..failing.len()).collect();
        if o.negative == NegativeChoice::Hardest {
            let sims: Vec<f64> = failing
                .iter()
                .map(|f| similarity(&chosen.code, &f.code))
                .collect();
            order.sort_by(|&a, &b| sims[b].total_cmp(&sims[a]).then(a.cmp(&b)));
        }
        let mut used = None;
        for i in order {
            let rej = failing[i];
            if chosen.score == rej.score && o.drop_ties {
                st.dropped_ties += 1;
                continue;
            }
            if o.min_score_margin > 0.0 && chosen.score - rej.score < o.min_score_margin {
                st.dropped_margin += 1;
                continue;
            }
            used = Some(i);
            break;
        }
        let Some(i) = used else {
            exhausted[at] = true;
            continue;
        };
        let rej = failing.remove(i);
        st.score_inversions += (rej.score >= chosen.score) as usize;
        out.push(record(
            pool,
            pool.problem.prompt.clone(),
            PairKind::Correctness,
            fmt,
            (&chosen.code, Some(&chosen.sample), Some(chosen.score)),
            (&rej.code, Some(&rej.sample), Some(rej.score)),
        ));
    }
    out
}

/// Efficiency pairs of one pool: cheapest against costliest, inwards.
pub fn efficiency_pairs(
    pool: &Pool,
    o: &PairOptions,
    fmt: CompletionFormat,
    st: &mut PairStats,
) -> Vec<DpoRecord> {
    let cost = |c: &Candidate| -> Option<f64> {
        match o.efficiency_measure {
            EfficiencyMeasure::Lines => c.outcome.lines_executed.map(|n| n as f64),
            EfficiencyMeasure::CpuTime => {
                (c.outcome.runs >= o.min_timing_runs.max(1)).then_some(c.outcome.cpu_ms)
            }
        }
    };
    let min_gap = match o.efficiency_measure {
        EfficiencyMeasure::Lines => o.min_lines_gap as f64,
        EfficiencyMeasure::CpuTime => o.min_time_gap_ms,
    };
    let mut measured: Vec<(f64, &Candidate)> = Vec::new();
    for c in pool.passing() {
        match cost(c) {
            Some(v) => measured.push((v, c)),
            None => st.efficiency_unmeasured += 1,
        }
    }
    measured.sort_by(|(a, ca), (b, cb)| {
        a.total_cmp(b)
            .then(ca.sample.sample_id.cmp(&cb.sample.sample_id))
    });
    let mut out = Vec::new();
    let (mut lo, mut hi) = (0usize, measured.len());
    while lo + 1 < hi && out.len() < o.max_pairs_per_problem {
        let ((f, cheap), (s, dear)) = (measured[lo], measured[hi - 1]);
        if s < f * (1.0 + o.efficiency_margin) || s - f < min_gap {
            st.efficiency_too_close += 1;
            break;
        }
        out.push(record(
            pool,
            pool.problem.prompt.clone(),
            PairKind::Efficiency,
            fmt,
            (&cheap.code, Some(&cheap.sample), Some(f)),
            (&dear.code, Some(&dear.sample), Some(s)),
        ));
        lo += 1;
        hi -= 1;
    }
    out
}

/// The mutants tried for a pool, each with its parent: deterministic in the seed.
pub fn pool_mutants<'p>(pool: &'p Pool, o: &PairOptions) -> Vec<(&'p Candidate, Mutant)> {
    let mut out = Vec::new();
    for c in pool.passing().take(o.solutions_mutated) {
        for m in sample_mutants(
            &c.code,
            o.mutants_per_solution,
            derive_seed(&c.sample.sample_id, o.seed),
        ) {
            out.push((c, m));
        }
    }
    out
}

/// Injected-error pairs of one pool, using the executed mutants in `pool.mutant_verdicts`.
pub fn injected_error_pairs(
    pool: &Pool,
    o: &PairOptions,
    fmt: CompletionFormat,
    st: &mut PairStats,
) -> Vec<DpoRecord> {
    let mut out = Vec::new();
    for (parent, m) in pool_mutants(pool, o) {
        if out.len() >= o.max_pairs_per_problem {
            break;
        }
        st.mutants_tried += 1;
        match pool.mutant_verdicts.get(&normalise_code(&m.code)) {
            None => st.mutants_not_executed += 1,
            Some(true) => st.mutants_survived += 1,
            // A mutant of the signature (a renamed parameter) no longer continues the
            // prompt: as a continuation it would be the whole program after it.
            Some(false) if !fmt.fits(&pool.problem.prompt, &m.code) => {
                st.mutants_not_continuations += 1
            }
            Some(false) => {
                let mut r = record(
                    pool,
                    pool.problem.prompt.clone(),
                    PairKind::InjectedError,
                    fmt,
                    (&parent.code, Some(&parent.sample), Some(parent.score)),
                    (&m.code, None, None),
                );
                r.rejected_sample_id = Some(mutant_sample(parent, &m).sample_id);
                let prompt = &pool.problem.prompt;
                let w = o.emphasis_weight;
                r.chosen_spans = shifted(m.original_span, fmt.offset(prompt, &parent.code), w)
                    .into_iter()
                    .collect();
                r.rejected_spans = shifted(m.mutant_span, fmt.offset(prompt, &m.code), w)
                    .into_iter()
                    .collect();
                out.push(r);
            }
        }
    }
    out
}

/// The sample a mutant is executed as: model `ouro-mutant/<kind>`, same problem and round.
pub fn mutant_sample(parent: &Candidate, m: &Mutant) -> Sample {
    let model = format!("{MUTANT_MODEL_PREFIX}{}", m.kind.as_str());
    let index = parent.sample.index;
    let mut s = parent.sample.clone();
    s.sample_id = Sample::compute_id(&s.problem_id, s.round, &model, index, &m.code);
    s.model = model;
    s.completion = m.code.clone();
    s.code = Some(m.code.clone());
    s.extraction_error = None;
    s.logprob = None;
    s.completion_tokens = None;
    s
}

/// Mutant samples of all pools, to be executed before `build dpo` uses them.
pub fn mutant_samples(pools: &[Pool], o: &PairOptions) -> Vec<Sample> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for p in pools {
        for (parent, m) in pool_mutants(p, o) {
            let s = mutant_sample(parent, &m);
            if seen.insert(s.sample_id.clone()) {
                out.push(s);
            }
        }
    }
    out
}

/// Repair-derived pairs: prompt with a failing attempt and its feedback; chosen is the fix,
/// the passing program most like the attempt, and at least `min_similarity` like it, as a
/// repair record's fix is (an unrelated program taught as a fix teaches no repair).
pub fn repair_pairs(
    pool: &Pool,
    o: &PairOptions,
    min_similarity: f64,
    fmt: CompletionFormat,
    st: &mut PairStats,
) -> Vec<DpoRecord> {
    let passing: Vec<&Candidate> = pool.passing().collect();
    let mut out = Vec::new();
    if passing.is_empty() {
        return out;
    }
    for bad in pool.failing().take(o.max_pairs_per_problem) {
        let (sim, fix) = passing
            .iter()
            .map(|p| (similarity(&bad.code, &p.code), p))
            .max_by(|(sa, a), (sb, b)| {
                sa.total_cmp(sb)
                    .then(b.sample.sample_id.cmp(&a.sample.sample_id))
            })
            .expect("non-empty");
        if sim < min_similarity {
            st.repair_fix_too_dissimilar += 1;
            continue;
        }
        // A line break after the request: a plain prompt-completion row is trained as
        // prompt + completion, and "...program only.def f(" is no text to learn.
        let prompt = repair_prompt(
            &pool.problem.prompt,
            &bad.code,
            &feedback_text(&pool.problem, bad),
        ) + "\n";
        // The repair prompt ends in an instruction, not the signature: a program
        // cannot continue it, so continuation pairs hold the whole program, as repair
        // records do.
        let fmt = match fmt {
            CompletionFormat::Continuation => CompletionFormat::Code,
            f => f,
        };
        out.push(record(
            pool,
            prompt,
            PairKind::Repair,
            fmt,
            (&fix.code, Some(&fix.sample), Some(fix.score)),
            (&bad.code, Some(&bad.sample), Some(bad.score)),
        ));
    }
    out
}

/// All pairs of one pool, kinds in the order of `o.kinds`; a pair another kind already
/// made (a sample's failure that is also one of the mutants) is written once, under
/// the first kind, so that DPO does not weigh it twice.
pub fn pairs_for_pool(
    pool: &Pool,
    o: &PairOptions,
    repair_min_similarity: f64,
    fmt: CompletionFormat,
    st: &mut PairStats,
) -> Vec<DpoRecord> {
    let mut out: Vec<DpoRecord> = Vec::new();
    for kind in &o.kinds {
        let rows = match kind {
            PairKind::Correctness => correctness_pairs(pool, o, fmt, st),
            PairKind::Efficiency => efficiency_pairs(pool, o, fmt, st),
            PairKind::InjectedError => injected_error_pairs(pool, o, fmt, st),
            PairKind::Repair => repair_pairs(pool, o, repair_min_similarity, fmt, st),
        };
        for r in rows {
            // A pool's pairs are few (max_pairs_per_problem per kind): a scan, no copies.
            let repeated = out
                .iter()
                .any(|w| w.prompt == r.prompt && w.chosen == r.chosen && w.rejected == r.rejected);
            if !repeated {
                *match kind {
                    PairKind::Correctness => &mut st.correctness,
                    PairKind::Efficiency => &mut st.efficiency,
                    PairKind::InjectedError => &mut st.injected_error,
                    PairKind::Repair => &mut st.repair,
                } += 1;
                out.push(r);
            } else {
                st.repeated_pairs += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROMPT: &str = "def f(xs):\n    \"\"\"Sum.\"\"\"\n";

    #[test]
    fn continuation_is_what_follows_the_prompt() {
        let code = format!("{PROMPT}    return sum(xs)\n");
        let c = CompletionFormat::Continuation;
        assert_eq!(c.render(PROMPT, &code), "    return sum(xs)\n");
        // A program that rewrote the prompt is kept whole.
        assert_eq!(c.render(PROMPT, "def g(): pass\n"), "def g(): pass\n");
        assert_eq!(CompletionFormat::Code.render(PROMPT, &code), code);
    }

    #[test]
    fn spans_follow_the_cut() {
        let code = format!("{PROMPT}    return sum(xs)\n");
        let off = CompletionFormat::Continuation.offset(PROMPT, &code);
        let n = PROMPT.chars().count() as u32;
        // `sum` in the code -> in the continuation.
        let s = shifted((n + 11, n + 14), off, 2.0).unwrap();
        assert_eq!(
            &CompletionFormat::Continuation.render(PROMPT, &code)[s.start as usize..s.end as usize],
            "sum"
        );
        // Inside the prompt: nothing left to weight.
        assert!(shifted((0, 5), off, 2.0).is_none());
        let fenced = CompletionFormat::Fenced.offset(PROMPT, &code);
        assert_eq!(
            shifted((1, 3), fenced, 1.0).unwrap().start,
            1 + fenced as u32
        );
    }
}
