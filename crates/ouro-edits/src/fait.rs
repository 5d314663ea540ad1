//! FAIT: weight spans over the segments where a correct program differs from
//! a similar incorrect one.
//!
//! For each passing sample (filter-suite verdict `pass`), the failing samples
//! of the same problem are compared with it by normalised token edit distance
//! (Levenshtein over ruff lexer tokens, divided by the longer token count).
//! The nearest one within `max_distance` is its contrast. The two programs
//! are diffed line by line (difflib); inside the changed line regions, their
//! tokens are diffed again. Changed tokens get `token_weight`, the rest of the
//! changed lines `line_weight` (and the rejected side `rejected_*`).
//!
//! Spans are char offsets into the sample's `completion` (the code is located
//! inside it); a sample whose code cannot be found in its completion gets no
//! spans and is counted. Output: `sft` rows for passing samples with spans and
//! `dpo` rows (`pair_kind = correctness`) with spans on both sides.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use ouro_data::shard::read_dir;
use ouro_data::{
    DpoRecord, Execution, PairKind, Problem, Sample, SftRecord, Suite, Verdict, WeightSpan,
};
use rayon::prelude::*;

use crate::difflib::{SequenceMatcher, Tag};
use crate::EditsError;

/// Settings of the FAIT stage.
#[derive(Debug, Clone, PartialEq)]
pub struct FaitOptions {
    /// Largest normalised token edit distance for a failing sample to be a contrast.
    pub max_distance: f64,
    /// Weight of changed tokens in the correct completion.
    pub token_weight: f32,
    /// Weight of the other characters of changed lines in the correct completion.
    pub line_weight: f32,
    /// Weight of changed tokens in the rejected completion.
    pub rejected_token_weight: f32,
    /// Weight of the other characters of changed lines in the rejected completion.
    pub rejected_line_weight: f32,
    pub progress: bool,
    /// Benchmark text no row may hold: a problem whose prompt, or a sample whose
    /// program, it rejects is left out (as `ouro build` leaves them out).
    pub exclude: Option<crate::Exclude>,
}

impl Default for FaitOptions {
    fn default() -> Self {
        FaitOptions {
            max_distance: 0.5,
            token_weight: 2.0,
            line_weight: 1.5,
            rejected_token_weight: 2.0,
            rejected_line_weight: 1.5,
            progress: true,
            exclude: None,
        }
    }
}

/// What a FAIT run did (written as `fait_report.json`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FaitStats {
    pub problems: u64,
    pub passing_samples: u64,
    pub failing_samples: u64,
    /// Passing samples that found a contrast within the threshold.
    pub pairs: u64,
    pub no_contrast: u64,
    /// Samples whose code was not found verbatim in their completion.
    pub code_not_in_completion: u64,
    pub mean_distance: f64,
    pub chosen_span_chars: u64,
    pub rejected_span_chars: u64,
    /// Passing samples whose program another passing sample of the problem already
    /// had: one row per program.
    #[serde(default)]
    pub duplicate_programs: u64,
    /// Samples left out because their problem's prompt or their program holds
    /// benchmark text ([`FaitOptions::exclude`]).
    #[serde(default)]
    pub decontaminated_samples: u64,
}

/// Levenshtein distance over token texts, normalised by the longer length.
pub fn normalized_token_distance(a: &[&str], b: &[&str]) -> f64 {
    let (n, m) = (a.len(), b.len());
    if n.max(m) == 0 {
        return 0.0;
    }
    let mut prev: Vec<usize> = (0..=m).collect();
    let mut cur = vec![0; m + 1];
    for i in 1..=n {
        cur[0] = i;
        for j in 1..=m {
            let sub = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[m] as f64 / n.max(m) as f64
}

/// Char ranges of each line of `s` (without the line break).
fn line_char_ranges(s: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    for c in s.chars() {
        if c == '\n' {
            out.push((start, pos));
            start = pos + 1;
        }
        pos += 1;
    }
    out.push((start, pos));
    out
}

/// Char spans `[start, end)`.
pub type Spans = Vec<(usize, usize)>;

/// Char spans of `code` that differ from `other`, split into
/// (changed tokens, changed lines) for the `code` side.
pub fn changed_spans(code: &str, other: &str) -> (Spans, Spans) {
    let code_lines: Vec<&str> = code.split('\n').collect();
    let other_lines: Vec<&str> = other.split('\n').collect();
    let ranges = line_char_ranges(code);
    let other_ranges = line_char_ranges(other);
    let sm = SequenceMatcher::new(&code_lines, &other_lines);
    let code_tokens = ouro_python::tokens::tokenize(code);
    let other_tokens = ouro_python::tokens::tokenize(other);
    let mut token_spans = Vec::new();
    let mut line_spans = Vec::new();
    for (tag, i1, i2, j1, j2) in sm.opcodes() {
        if tag == Tag::Equal {
            continue;
        }
        if i1 < i2 {
            line_spans.push((ranges[i1].0, ranges[i2 - 1].1));
        }
        let (cs, ce) = if i1 < i2 {
            (ranges[i1].0, ranges[i2 - 1].1)
        } else {
            (0, 0)
        };
        let (os, oe) = if j1 < j2 {
            (other_ranges[j1].0, other_ranges[j2 - 1].1)
        } else {
            (0, 0)
        };
        let a: Vec<&ouro_python::tokens::Token> = code_tokens
            .iter()
            .filter(|t| t.start >= cs && t.end <= ce)
            .collect();
        let b: Vec<&ouro_python::tokens::Token> = other_tokens
            .iter()
            .filter(|t| t.start >= os && t.end <= oe)
            .collect();
        let at: Vec<&str> = a.iter().map(|t| t.text).collect();
        let bt: Vec<&str> = b.iter().map(|t| t.text).collect();
        let tsm = SequenceMatcher::new(&at, &bt);
        for (ttag, ti1, ti2, _, _) in tsm.opcodes() {
            if ttag != Tag::Equal && ti1 < ti2 {
                token_spans.push((a[ti1].start, a[ti2 - 1].end));
            }
        }
    }
    (token_spans, line_spans)
}

/// Builds non-overlapping, sorted weight spans: tokens take `token_weight`,
/// the rest of changed lines `line_weight`; everything is shifted by `offset`
/// and what falls before char 0 (in a prompt the completion does not repeat) is cut.
pub fn weight_spans(
    tokens: &[(usize, usize)],
    lines: &[(usize, usize)],
    token_weight: f32,
    line_weight: f32,
    offset: i64,
) -> Vec<WeightSpan> {
    let mut out = Vec::new();
    for &(ls, le) in lines {
        let mut pos = ls;
        for &(ts, te) in tokens.iter().filter(|(ts, te)| *ts >= ls && *te <= le) {
            if ts > pos {
                out.push((pos, ts, line_weight));
            }
            out.push((ts.max(pos), te, token_weight));
            pos = pos.max(te);
        }
        if le > pos {
            out.push((pos, le, line_weight));
        }
    }
    out.retain(|(s, e, _)| e > s);
    out.sort_by_key(|s| s.0);
    out.into_iter()
        .filter_map(|(s, e, w)| {
            let (s, e) = ((s as i64 + offset).max(0), (e as i64 + offset).max(0));
            (e > s).then_some(WeightSpan {
                start: s as u32,
                end: e as u32,
                weight: w,
            })
        })
        .collect()
}

/// Where char 0 of `code` lands in `completion` (negative: before it, as for a
/// program that is the prompt plus a body-only completion), if the code, or its
/// part after `prompt`, occurs in the completion's answer (after any `</think>`:
/// a draft in the reasoning is not what was executed).
///
/// Extraction ends every program in one `\n` after trimming its end, so a
/// completion whose last line ends in spaces, or that stops without a newline,
/// holds the program only up to that trim; spans never cover the trimmed
/// whitespace (a line's span stops before its newline), so the trimmed match
/// places them all.
fn find_code(completion: &str, code: &str, prompt: &str) -> Option<i64> {
    find_exact(completion, code, prompt).or_else(|| {
        let trimmed = code.trim_end();
        (trimmed.len() < code.len())
            .then(|| find_exact(completion, trimmed, prompt))
            .flatten()
    })
}

fn find_exact(completion: &str, code: &str, prompt: &str) -> Option<i64> {
    let start = ouro_python::extract::answer_start(completion);
    let chars_before = |b: usize| completion[..start + b].chars().count() as i64;
    let answer = &completion[start..];
    if let Some(b) = answer.find(code) {
        return Some(chars_before(b));
    }
    let body = code.strip_prefix(prompt).filter(|b| !b.trim().is_empty())?;
    answer
        .find(body)
        .map(|b| chars_before(b) - prompt.chars().count() as i64)
}

/// Where a program lies in a completion: the shift of its char 0 and, for a
/// completion with CRLF line ends where the program (as extracted) has LF, where
/// each dropped `\r` stood, counted in the completion without them.
#[derive(Debug, PartialEq)]
struct Placement {
    offset: i64,
    carriage_returns: Vec<i64>,
}

impl Placement {
    /// The spans of `weight_spans`, on the completion as it is.
    fn spans(&self, spans: Vec<WeightSpan>) -> Vec<WeightSpan> {
        let original = |p: u32| {
            let p = i64::from(p);
            (p + self.carriage_returns.partition_point(|&q| q < p) as i64) as u32
        };
        spans
            .into_iter()
            .map(|s| WeightSpan {
                start: original(s.start),
                end: original(s.end),
                weight: s.weight,
            })
            .collect()
    }
}

fn locate(completion: &str, code: &str, prompt: &str) -> Option<Placement> {
    if let Some(offset) = find_code(completion, code, prompt) {
        return Some(Placement {
            offset,
            carriage_returns: Vec::new(),
        });
    }
    if !completion.contains("\r\n") || code.contains('\r') {
        return None;
    }
    let mut carriage_returns = Vec::new();
    let mut chars = completion.chars().peekable();
    let mut kept = 0i64;
    while let Some(c) = chars.next() {
        if c == '\r' && chars.peek() == Some(&'\n') {
            carriage_returns.push(kept);
            continue;
        }
        kept += 1;
    }
    let offset = find_code(&completion.replace("\r\n", "\n"), code, prompt)?;
    Some(Placement {
        offset,
        carriage_returns,
    })
}

struct Pairing {
    sft: SftRecord,
    dpo: Option<DpoRecord>,
    distance: Option<f64>,
    unlocated: u64,
}

/// The tokens the distance counts: indentation too, so that a failure whose
/// only difference is a statement's level (an early `return` inside its loop)
/// is a contrast, not the same program.
fn code_tokens(s: &Sample) -> Vec<&str> {
    ouro_python::lexer::layout_tokens(s.code.as_deref().unwrap_or_default())
}

/// The failing program closest to `pass` by normalised token distance, within
/// `max_distance`; ties go to the smaller sample id, so the choice is deterministic.
fn nearest_failure<'a>(
    pass: &Sample,
    fails: &[&'a Sample],
    fail_tokens: &HashMap<&str, Vec<&str>>,
    max_distance: f64,
) -> Option<(f64, &'a Sample)> {
    let toks = code_tokens(pass);
    let mut best: Option<(f64, &Sample)> = None;
    for f in fails.iter() {
        let d = normalized_token_distance(&toks, &fail_tokens[f.sample_id.as_str()]);
        // The same tokens judged both ways is a flaky program, not a contrast: a pair
        // of it would have chosen == rejected and no span.
        if d > 0.0
            && d <= max_distance
            && best.is_none_or(|(bd, bs)| d < bd || (d == bd && f.sample_id < bs.sample_id))
        {
            best = Some((d, f));
        }
    }
    best
}

/// The SFT row of a passing program, and with its nearest failure a DPO pair;
/// both carry the spans where the two programs differ.
fn pairing(
    p: &Sample,
    best: Option<(f64, &Sample)>,
    prompt: &str,
    options: &FaitOptions,
) -> Pairing {
    let code = p.code.as_deref().unwrap_or_default();
    let mut sft = SftRecord {
        prompt: prompt.to_string(),
        completion: p.completion.clone(),
        problem_id: p.problem_id.clone(),
        sample_id: Some(p.sample_id.clone()),
        round: p.round,
        origin: "sample".into(),
        score: None,
        weight_spans: Vec::new(),
    };
    let Some((d, f)) = best else {
        return Pairing {
            sft,
            dpo: None,
            distance: None,
            unlocated: 0,
        };
    };
    let fcode = f.code.as_deref().unwrap_or_default();
    let (ct, cl) = changed_spans(code, fcode);
    let (rt, rl) = changed_spans(fcode, code);
    let chosen = locate(&p.completion, code, prompt).map(|at| {
        at.spans(weight_spans(
            &ct,
            &cl,
            options.token_weight,
            options.line_weight,
            at.offset,
        ))
    });
    let rejected = locate(&f.completion, fcode, prompt).map(|at| {
        at.spans(weight_spans(
            &rt,
            &rl,
            options.rejected_token_weight,
            options.rejected_line_weight,
            at.offset,
        ))
    });
    let unlocated = u64::from(chosen.is_none()) + u64::from(rejected.is_none());
    sft.weight_spans = chosen.clone().unwrap_or_default();
    Pairing {
        sft,
        dpo: Some(DpoRecord {
            prompt: prompt.to_string(),
            chosen: p.completion.clone(),
            rejected: f.completion.clone(),
            problem_id: p.problem_id.clone(),
            chosen_sample_id: Some(p.sample_id.clone()),
            rejected_sample_id: Some(f.sample_id.clone()),
            round: p.round,
            pair_kind: PairKind::Correctness,
            chosen_score: None,
            rejected_score: None,
            chosen_spans: chosen.unwrap_or_default(),
            rejected_spans: rejected.unwrap_or_default(),
        }),
        distance: Some(d),
        unlocated,
    }
}

/// Pairs and spans for in-memory records (the core of [`run`]).
pub fn build(
    problems: &[Problem],
    samples: &[Sample],
    executions: &[Execution],
    options: &FaitOptions,
) -> (Vec<SftRecord>, Vec<DpoRecord>, FaitStats) {
    let prompts: HashMap<&str, &str> = problems
        .iter()
        .map(|p| (p.problem_id.as_str(), p.prompt.as_str()))
        .collect();
    let mut verdicts: HashMap<&str, Verdict> = HashMap::new();
    for e in executions.iter().filter(|e| e.suite == Suite::Filter) {
        verdicts.insert(e.sample_id.as_str(), e.verdict);
    }
    let mut by_problem: HashMap<&str, (Vec<&Sample>, Vec<&Sample>)> = HashMap::new();
    let mut decontaminated = 0u64;
    // A problem's prompt is checked once, not once per sample of it.
    let excluded_problems: HashSet<&str> = match &options.exclude {
        Some(x) => samples
            .iter()
            .map(|s| s.problem_id.as_str())
            .collect::<HashSet<_>>()
            .into_iter()
            .filter(|id| prompts.get(id).is_some_and(|p| x.rejects(p)))
            .collect(),
        None => HashSet::new(),
    };
    let contaminated = |s: &Sample| {
        options.exclude.as_ref().is_some_and(|x| {
            excluded_problems.contains(s.problem_id.as_str())
                || x.rejects(s.code.as_deref().unwrap_or_default())
        })
    };
    for s in samples.iter().filter(|s| s.code.is_some()) {
        if contaminated(s) {
            decontaminated += 1;
            continue;
        }
        match verdicts.get(s.sample_id.as_str()) {
            Some(Verdict::Pass) => by_problem
                .entry(s.problem_id.as_str())
                .or_default()
                .0
                .push(s),
            Some(Verdict::SandboxError) | None => {}
            Some(_) => by_problem
                .entry(s.problem_id.as_str())
                .or_default()
                .1
                .push(s),
        }
    }
    let mut stats = FaitStats {
        problems: by_problem.len() as u64,
        decontaminated_samples: decontaminated,
        ..Default::default()
    };
    let mut work: Vec<(&Sample, &[&Sample])> = Vec::new();
    for (pass, _) in by_problem.values_mut() {
        pass.sort_by(|a, b| a.sample_id.cmp(&b.sample_id));
    }
    for (pass, fail) in by_problem.values() {
        stats.passing_samples += pass.len() as u64;
        stats.failing_samples += fail.len() as u64;
        let mut programs = HashSet::new();
        for p in pass.iter() {
            if programs.insert(p.code.as_deref()) {
                work.push((p, fail.as_slice()));
            } else {
                stats.duplicate_programs += 1;
            }
        }
    }
    work.sort_by(|a, b| a.0.sample_id.cmp(&b.0.sample_id));
    // Each failing program is compared with every passing one of its problem:
    // tokenize it once, not once per comparison.
    let fail_tokens: HashMap<&str, Vec<&str>> = by_problem
        .values()
        .flat_map(|(_, fail)| fail.iter())
        .map(|f| (f.sample_id.as_str(), code_tokens(f)))
        .collect();
    let pb = ouro_data::progress::bar(work.len() as u64, options.progress, "fait", "programs");
    let results: Vec<Pairing> = work
        .par_iter()
        .map(|(p, fails)| {
            let best = nearest_failure(p, fails, &fail_tokens, options.max_distance);
            let prompt = prompts
                .get(p.problem_id.as_str())
                .copied()
                .unwrap_or_default();
            let out = pairing(p, best, prompt, options);
            pb.inc(1);
            out
        })
        .collect();
    pb.finish_and_clear();
    let mut sft = Vec::new();
    let mut dpo = Vec::new();
    let mut dist_sum = 0.0;
    for r in results {
        stats.code_not_in_completion += r.unlocated;
        match r.distance {
            Some(d) => {
                stats.pairs += 1;
                dist_sum += d;
            }
            None => stats.no_contrast += 1,
        }
        if let Some(d) = r.dpo {
            stats.chosen_span_chars += d
                .chosen_spans
                .iter()
                .map(|s| (s.end - s.start) as u64)
                .sum::<u64>();
            stats.rejected_span_chars += d
                .rejected_spans
                .iter()
                .map(|s| (s.end - s.start) as u64)
                .sum::<u64>();
            dpo.push(d);
        }
        sft.push(r.sft);
    }
    stats.mean_distance = if stats.pairs > 0 {
        dist_sum / stats.pairs as f64
    } else {
        0.0
    };
    (sft, dpo, stats)
}

/// Runs the stage: reads the three shard directories and writes the `sft`
/// and `dpo` configs under `out`, plus `out/fait_report.json`.
pub fn run(
    executions: &Path,
    samples: &Path,
    problems: &Path,
    out: &Path,
    options: &FaitOptions,
) -> Result<FaitStats, EditsError> {
    ouro_data::fsutil::check_output_apart(
        out,
        &[
            (executions, "executions"),
            (samples, "samples"),
            (problems, "problems"),
        ],
    )?;
    let executions_path = executions;
    let executions: Vec<Execution> = read_dir(executions_path)?;
    let samples_path = samples;
    let samples: Vec<Sample> = read_dir(samples_path)?;
    ouro_data::check_executions_match(&samples, samples_path, &executions, executions_path)
        .and_then(|()| ouro_data::check_one_verdict_each(&executions, executions_path))
        .map_err(EditsError::Input)?;
    let problems_path = problems;
    let problems: Vec<Problem> = read_dir(problems_path)?;
    // Samples of another problem set would get empty prompts, silently.
    ouro_data::check_samples_match(&problems, problems_path, &samples, samples_path)
        .and_then(|()| {
            ouro_data::check_tests_current(&problems, problems_path, &executions, executions_path)
        })
        .map_err(EditsError::Input)?;
    refuse_build_dataset(out)?;
    let (sft, dpo, stats) = build(&problems, &samples, &executions, options);
    if stats.code_not_in_completion > 0 {
        // Their rows are written, but without spans they train as plain rows.
        tracing::warn!(
            "{} completions do not hold their program as it was executed (neither whole nor as \
             the body after the prompt), so their FAIT rows have no weight spans",
            stats.code_not_in_completion
        );
    }
    // Both configs and the report are written aside and moved in together: a kill
    // midway left one config of this run beside the other and the report of the last.
    let staging = ouro_data::fsutil::staging_dir(out)?;
    ouro_data::hf::write_config(&staging, "sft", &sft)?;
    ouro_data::hf::write_config(&staging, "dpo", &dpo)?;
    ouro_data::fsutil::atomic_write_json(staging.join(ouro_data::hf::FAIT_REPORT), &stats)?;
    ouro_data::fsutil::move_in(&staging, out)?;
    crate::card::write_fait_card(
        out,
        options,
        [
            ("executions", executions_path),
            ("samples", samples_path),
            ("problems", problems_path),
        ],
    )?;
    Ok(stats)
}

/// FAIT's configs are named `sft` and `dpo`, as `ouro build`'s are: writing into a build's
/// dataset would silently replace its rows and leave its `_build_report.json` describing data
/// that is gone. A FAIT dataset of its own (a rerun) is replaced as usual.
fn refuse_build_dataset(out: &Path) -> Result<(), EditsError> {
    for config in ["sft", "dpo"] {
        if let Some(report) = ouro_data::hf::config_report(&out.join(config)) {
            return Err(EditsError::Input(format!(
                "{}: holds the '{config}' config `ouro build` wrote ({}); FAIT writes configs \
                 named sft and dpo and would replace it: choose another --out",
                out.display(),
                report.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
