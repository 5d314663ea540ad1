//! Repair records (the `repair` config), in the style of LeTI, CYCLE and self-debug.
//!
//! Each record is a four-message conversation:
//! 1. user: the problem prompt;
//! 2. assistant: the failing program;
//! 3. user: the execution feedback (verdict, error kind, failed tests with
//!    input/expected output for stdin/stdout suites, and the stderr tail,
//!    which holds the traceback or the failed assert) and a request to fix it;
//! 4. assistant: the fixed program, the passing sample most similar to the
//!    failing one.

use ouro_data::{Message, RepairRecord, Tests};
use serde::{Deserialize, Serialize};

use crate::pool::{Candidate, Pool};
use crate::render::{similarity, CompletionFormat};

/// The default of [`RepairOptions::min_similarity`]. Measured on HumanEval
/// (`examples/repair_similarity.rs`): a canonical program against its
/// injected-error mutants has similarity ≥ 0.77 (p1; median 0.96), the same
/// prompt completed by another problem's body 0.29 (median; p95 0.48). At 0.5
/// every true fix is kept and 95.8% of unrelated programs are rejected.
pub const DEFAULT_MIN_SIMILARITY: f64 = 0.5;

/// Knobs of repair-record selection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepairOptions {
    pub max_per_problem: usize,
    /// Lines of stderr kept in the feedback.
    pub stderr_lines: usize,
    /// Fixes must be at least this similar (token Jaccard) to the failing code.
    pub min_similarity: f64,
}

impl Default for RepairOptions {
    fn default() -> Self {
        RepairOptions {
            max_per_problem: 4,
            stderr_lines: 20,
            min_similarity: DEFAULT_MIN_SIMILARITY,
        }
    }
}

/// Counts of repair selection.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RepairStats {
    pub records: usize,
    pub failing_without_fix: usize,
    pub fix_too_dissimilar: usize,
}

fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Human-readable execution feedback of a failing candidate.
pub fn feedback_text(problem: &ouro_data::Problem, bad: &Candidate) -> String {
    feedback_with_limit(problem, bad, 20)
}

fn feedback_with_limit(
    problem: &ouro_data::Problem,
    bad: &Candidate,
    stderr_lines: usize,
) -> String {
    let o = &bad.outcome;
    let mut s = format!("Verdict: {}", o.verdict.as_str());
    if let Some(k) = &o.error_kind {
        s.push_str(&format!(" ({k})"));
    }
    s.push('\n');
    // A program that does not compile ran no test, and the executor's stderr holds no
    // traceback of it: the parser's own message is the feedback a fix needs.
    let syntax = o.error_kind.as_deref() == Some("syntax");
    if syntax {
        if let Some(m) = ouro_python::lint::lint(&bad.code).into_iter().next() {
            s.push_str(&format!("SyntaxError on line {}: {}\n", m.line, m.message));
        }
    }
    let failed: Vec<usize> = o
        .tests_passed
        .iter()
        .enumerate()
        .filter(|(_, &p)| !p)
        .map(|(i, _)| i)
        .collect();
    if !o.tests_passed.is_empty() {
        s.push_str(&format!(
            "Passed {} of {} tests.\n",
            o.tests_passed.len() - failed.len(),
            o.tests_passed.len()
        ));
    }
    match (&problem.tests, failed.first().filter(|_| !syntax)) {
        (Tests::IoCases { cases }, Some(&first)) => {
            if let Some(case) = cases.get(first) {
                s.push_str(&format!(
                    "Failed test {}:\ninput:\n{}\nexpected output:\n{}\n",
                    first + 1,
                    case.input.trim_end(),
                    case.output.trim_end()
                ));
            }
        }
        // A wrong value judged in isolation leaves no traceback: without the assert it
        // failed, the feedback would say only how many tests passed.
        (Tests::AssertScript { script }, Some(&first)) => {
            let plan = ouro_python::testcompile::compile(script, &problem.entry_point);
            if let Some(step) = plan.steps.iter().find(|st| st.test == Some(first)) {
                if let Some(text) = script.get(step.span.clone()) {
                    s.push_str(&format!("Failed test {}:\n{}\n", first + 1, text.trim()));
                }
            }
        }
        _ => {}
    }
    let tail = tail_lines(o.stderr_tail.trim_end(), stderr_lines);
    if !tail.is_empty() {
        s.push_str(&format!("stderr:\n{tail}\n"));
    }
    s
}

/// The user turn asking for a fix.
pub fn repair_request(feedback: &str) -> String {
    format!("The program above fails its tests.\n{feedback}\nFix the program. Reply with the corrected program only.")
}

/// A single-turn prompt holding the problem, the failing code and the feedback (for repair pairs).
pub fn repair_prompt(prompt: &str, code: &str, feedback: &str) -> String {
    format!(
        "{prompt}\n\nA previous attempt:\n```python\n{}\n```\n{}",
        code.trim_end(),
        repair_request(feedback)
    )
}

/// Repair records of one pool.
pub fn repair_records(
    pool: &Pool,
    o: &RepairOptions,
    fmt: CompletionFormat,
    st: &mut RepairStats,
) -> Vec<RepairRecord> {
    let passing: Vec<&Candidate> = pool.passing().collect();
    let mut out = Vec::new();
    for bad in pool.failing() {
        if out.len() >= o.max_per_problem {
            break;
        }
        let best = passing
            .iter()
            .map(|c| (similarity(&bad.code, &c.code), *c))
            .max_by(|a, b| {
                a.0.total_cmp(&b.0)
                    .then(b.1.sample.sample_id.cmp(&a.1.sample.sample_id))
            });
        let Some((sim, fix)) = best else {
            st.failing_without_fix += 1;
            continue;
        };
        if sim < o.min_similarity {
            st.fix_too_dissimilar += 1;
            continue;
        }
        let feedback = feedback_with_limit(&pool.problem, bad, o.stderr_lines);
        // A chat turn holds the whole program: no prompt to continue.
        let fmt = match fmt {
            CompletionFormat::Continuation => CompletionFormat::Code,
            f => f,
        };
        let msg = |role: &str, content: String| Message {
            role: role.into(),
            content,
        };
        out.push(RepairRecord {
            messages: vec![
                msg("user", pool.problem.prompt.clone()),
                msg("assistant", fmt.render("", &bad.code)),
                msg("user", repair_request(&feedback)),
                msg("assistant", fmt.render("", &fix.code)),
            ],
            problem_id: pool.problem.problem_id.clone(),
            failing_sample_id: bad.sample.sample_id.clone(),
            fixed_sample_id: Some(fix.sample.sample_id.clone()),
            round: bad.sample.round,
        });
    }
    st.records += out.len();
    out
}
