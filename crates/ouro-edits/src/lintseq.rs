//! The LintSeq stage: programs in, `lintseq` config out.
//!
//! For each program, K edit paths are sampled (see [`crate::sampling`]) with
//! ouro's in-process linter, turned into diff sequences, verified by replay,
//! deduplicated, and written as [`LintseqRecord`]s whose `prompt` is the
//! instruction and whose `completion` is the `<|diff|>`-joined sequence, so
//! `prompt + completion` is the reference's training text.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ouro_data::{content_id, derive_seed, LintseqRecord};
use ouro_python::Semantics;
use rayon::prelude::*;

use crate::input::{
    detect_kind, read_programs, shard_dir, BadProgram, InputKind, JsonlFields, ProgramInput,
    Sources,
};
use crate::replay::{replay, replay_target};
use crate::sampling::{completion_text, diffs_of_states, sample_edit_path, states, SplitMix64};
use crate::EditsError;

/// Settings of a LintSeq run.
#[derive(Debug, Clone)]
pub struct LintseqOptions {
    /// Edit sequences sampled per program (before deduplication).
    pub sequences_per_program: usize,
    /// Global seed; each sequence's seed derives from it and the program id.
    pub seed: u64,
    /// Input kind; detected from the input when `None`.
    pub kind: Option<InputKind>,
    /// Problems directory giving instructions to samples inputs.
    pub problems: Option<PathBuf>,
    /// Executions of samples inputs: only samples that pass their filter suite are kept.
    pub executions: Option<PathBuf>,
    /// How to read JSONL inputs.
    pub jsonl: JsonlFields,
    /// Programs with more lines are skipped (and reported).
    pub max_lines: usize,
    /// Show a progress bar.
    pub progress: bool,
    /// Worker threads; rayon's global pool (all cores) when `None`.
    pub threads: Option<usize>,
    /// Intermediate states may not read a local before binding it (see
    /// [`Semantics::Strict`]); off by default, as in the reference.
    pub strict: bool,
    /// Benchmark text no row may hold: a program or instruction it rejects is left
    /// out (as `ouro build` leaves such rows out).
    pub exclude: Option<crate::Exclude>,
}

impl Default for LintseqOptions {
    fn default() -> Self {
        LintseqOptions {
            sequences_per_program: 5,
            seed: 0,
            kind: None,
            problems: None,
            executions: None,
            jsonl: JsonlFields::default(),
            max_lines: 10_000,
            progress: true,
            threads: None,
            strict: false,
            exclude: None,
        }
    }
}

/// What a run did. Written beside the output as `lintseq_report.json`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LintseqStats {
    pub input_records: u64,
    /// Samples left out because their executions show no filter-suite pass.
    #[serde(default)]
    pub not_passing: u64,
    /// Programs that produced at least one sequence.
    pub programs: u64,
    pub sequences: u64,
    /// Sampled sequences dropped because an identical one was kept.
    pub duplicates: u64,
    pub edits: u64,
    /// Diff lines (hunk headers included) over all edits.
    pub diff_lines: u64,
    pub mean_edits_per_sequence: f64,
    pub mean_diff_lines_per_edit: f64,
    /// Sequences whose replay did not rebuild the program (dropped; should be 0).
    pub replay_failures: u64,
    /// Linter calls made while sampling.
    pub lint_calls: u64,
    pub seconds: f64,
    pub sequences_per_second: f64,
    /// Every input that was skipped, with the reason.
    pub bad: Vec<BadProgram>,
    /// Inputs left out because their program or instruction holds benchmark text.
    #[serde(default)]
    pub decontaminated: u64,
}

/// The sequences of one program.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgramSequences {
    /// Each kept sequence: its seed and its diffs.
    pub sequences: Vec<(u64, Vec<String>)>,
    pub duplicates: u64,
    pub replay_failures: u64,
    pub lint_calls: u64,
}

/// Why a program gets no sequences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    Empty,
    TooLong(usize),
    Unparsable(String),
    /// A line break Python's `str.splitlines` (which LintSeq's diffs follow) splits
    /// on but the program does not (U+2028 in a string literal, a form feed): the
    /// rebuilt program would not be the program.
    OtherLineBreak(char),
    /// The program holds the `<|diff|>` separator, so its sequence could not be split back.
    HoldsSeparator,
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skip::Empty => write!(f, "empty program (no non-blank, non-comment line)"),
            Skip::TooLong(n) => write!(f, "program has {n} lines, over the limit"),
            Skip::Unparsable(m) => write!(f, "does not parse: {m}"),
            Skip::OtherLineBreak(c) => write!(
                f,
                "holds {c:?} (U+{:04X}), which LintSeq's line split would turn into a line break",
                *c as u32
            ),
            Skip::HoldsSeparator => write!(
                f,
                "holds the edit separator {DIFF_SEPARATOR:?}, so its sequence could not be split back"
            ),
        }
    }
}

/// What joins the diffs of a sequence (after a newline).
pub const DIFF_SEPARATOR: &str = "<|diff|>";

/// The seed of sequence `k` of the program with content id `program_id`.
pub fn sequence_seed(program_id: &str, global_seed: u64, k: usize) -> u64 {
    derive_seed(&format!("{program_id}/{k}"), global_seed)
}

/// Lint lines for LintSeq: the 1-based lines ouro's linter reports.
pub fn lint_lines(text: &str) -> Vec<u32> {
    lint_lines_with(text, Semantics::Pylint)
}

/// [`lint_lines`] under [`Semantics::Strict`]: no state reads a local
/// before binding it (pyflakes' undefined names and locals).
pub fn lint_lines_strict(text: &str) -> Vec<u32> {
    lint_lines_with(text, Semantics::Strict)
}

fn lint_lines_with(text: &str, semantics: Semantics) -> Vec<u32> {
    ouro_python::lint_with(text, semantics)
        .into_iter()
        .map(|m| m.line)
        .collect()
}

/// Samples, verifies and deduplicates `k` sequences for one program, under
/// the reference's (pylint's) rules.
pub fn sequences_for_program(
    program: &str,
    program_id: &str,
    global_seed: u64,
    k: usize,
    max_lines: usize,
) -> Result<ProgramSequences, Skip> {
    sequences_for_program_with(
        program,
        program_id,
        global_seed,
        k,
        max_lines,
        Semantics::Pylint,
    )
}

/// [`sequences_for_program`] with the linter's name rules chosen.
pub fn sequences_for_program_with(
    program: &str,
    program_id: &str,
    global_seed: u64,
    k: usize,
    max_lines: usize,
    semantics: Semantics,
) -> Result<ProgramSequences, Skip> {
    let n_lines = program.split('\n').count();
    if n_lines > max_lines {
        return Err(Skip::TooLong(n_lines));
    }
    if crate::difflib::py_strip(program).is_empty() {
        return Err(Skip::Empty);
    }
    if program.contains(DIFF_SEPARATOR) {
        return Err(Skip::HoldsSeparator);
    }
    if let Some(c) = program
        .chars()
        .find(|&c| crate::difflib::is_line_break(c) && !matches!(c, '\n' | '\r'))
    {
        return Err(Skip::OtherLineBreak(c));
    }
    if let Some(m) = ouro_python::lint(program)
        .into_iter()
        .find(|m| m.code == "E0001")
    {
        return Err(Skip::Unparsable(format!("line {}: {}", m.line, m.message)));
    }
    let target = replay_target(program);
    let mut out = ProgramSequences {
        // Duplicates are dropped: short programs have few distinct sequences.
        sequences: Vec::with_capacity(k.min(64)),
        duplicates: 0,
        replay_failures: 0,
        lint_calls: 0,
    };
    let mut seen: std::collections::HashSet<Vec<String>> = Default::default();
    for i in 0..k {
        let seed = sequence_seed(program_id, global_seed, i);
        let mut rng = SplitMix64::new(seed);
        let mut calls = 0u64;
        let path = sample_edit_path(program, &mut rng, |t| {
            calls += 1;
            lint_lines_with(t, semantics)
        });
        out.lint_calls += calls;
        let Some(path) = path else {
            return Err(Skip::Empty);
        };
        let diffs = diffs_of_states(&states(program, &path));
        if replay(&diffs).ok().as_deref() != Some(target.as_str()) {
            out.replay_failures += 1;
            continue;
        }
        if seen.insert(diffs.clone()) {
            out.sequences.push((seed, diffs));
        } else {
            out.duplicates += 1;
        }
    }
    Ok(out)
}

/// One program's sequences, with its duplicate and replay-failure counts.
type SequencesOf = (Vec<LintseqRecord>, u64, u64);

/// Generates records for already-loaded programs (in parallel).
pub fn generate(
    programs: &[ProgramInput],
    options: &LintseqOptions,
) -> (Vec<LintseqRecord>, LintseqStats) {
    if let Some(t) = options.threads {
        if let Ok(pool) = rayon::ThreadPoolBuilder::new()
            .num_threads(t.max(1))
            .build()
        {
            let no_threads = LintseqOptions {
                threads: None,
                ..options.clone()
            };
            return pool.install(|| generate(programs, &no_threads));
        }
    }
    let all = programs.len();
    let kept: Vec<ProgramInput>;
    let programs = match &options.exclude {
        Some(x) => {
            kept = programs
                .iter()
                .filter(|p| {
                    !(x.rejects(&p.instruction)
                        || p.program.as_deref().is_some_and(|c| x.rejects(c)))
                })
                .cloned()
                .collect();
            &kept[..]
        }
        None => programs,
    };
    let start = Instant::now();
    let pb = ouro_data::progress::bar(
        programs.len() as u64,
        options.progress,
        "lintseq",
        "programs",
    );
    let lint_calls = AtomicU64::new(0);
    let results: Vec<Result<SequencesOf, BadProgram>> = programs
        .par_iter()
        .map(|p| {
            let res = match &p.program {
                None => Err(BadProgram {
                    id: p.source_id.clone(),
                    reason: "no program (reference_solution/code is null)".into(),
                }),
                Some(program) => {
                    let program_id = content_id("program", program);
                    match sequences_for_program_with(
                        program,
                        &program_id,
                        options.seed,
                        options.sequences_per_program,
                        options.max_lines,
                        if options.strict {
                            Semantics::Strict
                        } else {
                            Semantics::Pylint
                        },
                    ) {
                        Err(skip) => Err(BadProgram {
                            id: p.source_id.clone(),
                            reason: skip.to_string(),
                        }),
                        Ok(seqs) => {
                            lint_calls.fetch_add(seqs.lint_calls, Ordering::Relaxed);
                            let records = seqs
                                .sequences
                                .into_iter()
                                .map(|(seed, diffs)| LintseqRecord {
                                    prompt: p.instruction.clone(),
                                    completion: completion_text(&diffs),
                                    program_id: program_id.clone(),
                                    problem_id: p.problem_id.clone(),
                                    seed,
                                    num_edits: diffs.len() as u32,
                                })
                                .collect();
                            Ok((records, seqs.duplicates, seqs.replay_failures))
                        }
                    }
                }
            };
            pb.inc(1);
            res
        })
        .collect();
    pb.finish_and_clear();
    let mut stats = LintseqStats {
        input_records: all as u64,
        decontaminated: (all - programs.len()) as u64,
        ..Default::default()
    };
    if programs.is_empty() && all > 0 {
        tracing::warn!(
            "every one of the {all} programs held benchmark text and was left out; if you \
             train on a benchmark on purpose, give --builtin-benchmarks none"
        );
    }
    let mut records = Vec::new();
    // The same program in several rows (passing samples often repeat) draws the same
    // seeds, so its sequences would be written once per row.
    let mut seen: std::collections::HashSet<(String, String)> = Default::default();
    for r in results {
        match r {
            Err(bad) => stats.bad.push(bad),
            Ok((recs, dups, fails)) => {
                stats.duplicates += dups;
                stats.replay_failures += fails;
                let before = recs.len();
                let recs: Vec<LintseqRecord> = recs
                    .into_iter()
                    .filter(|r| seen.insert((r.prompt.clone(), r.completion.clone())))
                    .collect();
                stats.duplicates += (before - recs.len()) as u64;
                if !recs.is_empty() {
                    stats.programs += 1;
                }
                for rec in &recs {
                    stats.edits += rec.num_edits as u64;
                    stats.diff_lines += count_diff_lines(&rec.completion);
                }
                records.extend(recs);
            }
        }
    }
    stats.sequences = records.len() as u64;
    stats.lint_calls = lint_calls.into_inner();
    stats.mean_edits_per_sequence = ratio(stats.edits, stats.sequences);
    stats.mean_diff_lines_per_edit = ratio(stats.diff_lines, stats.edits);
    stats.seconds = start.elapsed().as_secs_f64();
    stats.sequences_per_second = stats.sequences as f64 / stats.seconds.max(1e-9);
    (records, stats)
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Diff lines in a completion: every line of every edit, hunk headers included.
fn count_diff_lines(completion: &str) -> u64 {
    completion
        .split("\n<|diff|>")
        .filter(|e| !e.is_empty())
        .map(|e| e.split('\n').count() as u64)
        .sum()
}

/// Runs the stage: reads `input`, writes the `lintseq` config under `out`
/// (`out/lintseq/train-*.parquet`) and `out/lintseq_report.json`.
pub fn run(input: &Path, out: &Path, options: &LintseqOptions) -> Result<LintseqStats, EditsError> {
    let input = &shard_dir(input)?;
    let mut inputs = vec![(input.as_path(), "input")];
    inputs.extend(options.problems.as_deref().map(|p| (p, "problems")));
    inputs.extend(options.executions.as_deref().map(|p| (p, "executions")));
    ouro_data::fsutil::check_output_apart(out, &inputs)?;
    let kind = match options.kind {
        Some(k) => k,
        None => detect_kind(input)?,
    };
    let file = input.is_file();
    if file != (kind == InputKind::Jsonl) {
        return Err(EditsError::Input(if file {
            format!(
                "{}: --kind {} reads a directory of shards, and this is a file (a JSONL file \
                 is --kind jsonl)",
                input.display(),
                format!("{kind:?}").to_lowercase()
            )
        } else {
            format!(
                "{}: --kind jsonl reads a JSONL file, and this is a directory",
                input.display()
            )
        }));
    }
    let mut bad = Vec::new();
    let sources = Sources {
        problems: options.problems.as_deref(),
        executions: options.executions.as_deref(),
    };
    let (programs, not_passing) = read_programs(input, kind, sources, &options.jsonl, &mut bad)?;
    let (records, mut stats) = generate(&programs, options);
    stats.not_passing = not_passing;
    stats.input_records += bad.len() as u64 + not_passing;
    bad.append(&mut stats.bad);
    stats.bad = bad;
    // Every program skipped is a mistaken input, not an empty dataset to write.
    if let (true, Some(first)) = (records.is_empty(), stats.bad.first()) {
        let hint = if kind == InputKind::Sft {
            " (an SFT set built with --completion-format fenced or continuation holds no whole \
             programs: build it with --completion-format code for LintSeq)"
        } else {
            ""
        };
        return Err(EditsError::Input(format!(
            "{}: every one of its {} programs was skipped{hint}; the first, {}: {}",
            input.display(),
            stats.bad.len(),
            first.id,
            first.reason
        )));
    }
    // The config and its report are written aside and moved in together: a kill
    // midway left this run's rows beside the last run's report.
    let staging = ouro_data::fsutil::staging_dir(out)?;
    ouro_data::hf::write_config(&staging, "lintseq", &records)?;
    ouro_data::fsutil::atomic_write_json(staging.join("lintseq_report.json"), &stats)?;
    ouro_data::fsutil::move_in(&staging, out)?;
    crate::card::write_lintseq_card(out, options, input)?;
    Ok(stats)
}
