//! Pass matrices: one row per sample, one column per test.
//!
//! A matrix is built per problem from the filter-suite executions. When a
//! sample was executed several times (repeated timing runs, a re-run under
//! another executor version), a test counts as passed only if it passed in
//! every run: a flaky pass is not a pass. Sandbox errors are never labels
//! and are skipped.
//!
//! Model-generated tests (CodeT's "second kind of sample") are split out of
//! a completion by [`split_generated_tests`] and checked for syntax by
//! [`compile_check`]; running candidates against them is the executor's job,
//! and its results come back here through [`PassMatrix::from_rows`].

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};

use ouro_data::{Execution, Suite, Verdict};

/// The per-problem pass matrix `E[i][j]` = sample i passed test j.
#[derive(Debug, Clone, PartialEq)]
pub struct PassMatrix {
    pub problem_id: String,
    /// Row labels, in row order.
    pub sample_ids: Vec<String>,
    /// Number of columns; every row has exactly this many entries.
    pub n_tests: usize,
    pub rows: Vec<Vec<bool>>,
    /// Whether the whole suite passed (`Verdict::Pass` in every run), per row.
    pub suite_passed: Vec<bool>,
}

impl PassMatrix {
    /// A matrix from explicit rows; short rows are padded with failures.
    pub fn from_rows(problem_id: &str, sample_ids: Vec<String>, rows: Vec<Vec<bool>>) -> Self {
        let n_tests = rows.iter().map(Vec::len).max().unwrap_or(0);
        let rows: Vec<Vec<bool>> = rows
            .into_iter()
            .map(|mut r| {
                r.resize(n_tests, false);
                r
            })
            .collect();
        let suite_passed = rows
            .iter()
            .map(|r| n_tests > 0 && r.iter().all(|&b| b))
            .collect();
        PassMatrix {
            problem_id: problem_id.to_string(),
            sample_ids,
            n_tests,
            rows,
            suite_passed,
        }
    }

    pub fn n_samples(&self) -> usize {
        self.rows.len()
    }

    /// Number of tests each row passed.
    pub fn row_sums(&self) -> Vec<usize> {
        self.rows
            .iter()
            .map(|r| r.iter().filter(|&&b| b).count())
            .collect()
    }
}

/// What building matrices skipped, as counts.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct MatrixStats {
    pub executions_used: usize,
    pub sandbox_errors_skipped: usize,
    pub audit_executions: usize,
    /// Samples executed more than once (their tests are AND-ed).
    pub repeated_samples: usize,
    /// Runs of one sample whose per-test vectors disagreed (flaky tests).
    pub flaky_samples: usize,
}

/// Per-sample aggregate of its filter-suite runs.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleOutcome {
    pub tests_passed: Vec<bool>,
    /// Pass in every run.
    pub passed: bool,
    /// Verdict of the first non-pass run, or `Pass`.
    pub verdict: Verdict,
    /// Median CPU time over runs, in milliseconds.
    pub cpu_ms: f64,
    /// Python lines executed while the tests ran (deterministic cost); the
    /// largest over runs, `None` when any run did not report it.
    pub lines_executed: Option<u64>,
    pub runs: usize,
    /// `error_kind` and `stderr_tail` of the first non-pass run (feedback for repair).
    pub error_kind: Option<String>,
    pub stderr_tail: String,
}

/// Median of a non-empty list (mean of the two middle values for even lengths).
pub fn median(values: &mut [f64]) -> f64 {
    assert!(!values.is_empty(), "median of an empty list");
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Aggregates the runs of each sample against one suite.
///
/// The number of tests of a problem is the longest `tests_passed` seen for
/// it; runs that stopped early (a syntax error reports no tests) are padded
/// with failures. A suite with no per-test vector at all counts as one test
/// whose outcome is the verdict.
pub fn aggregate_outcomes(
    executions: &[Execution],
    suite: Suite,
    stats: &mut MatrixStats,
) -> HashMap<String, SampleOutcome> {
    let mut width: HashMap<&str, usize> = HashMap::new();
    let mut by_sample: HashMap<&str, Vec<&Execution>> = HashMap::new();
    for e in executions {
        if e.suite != suite {
            if e.suite == Suite::Audit {
                stats.audit_executions += 1;
            }
            continue;
        }
        if e.verdict == Verdict::SandboxError {
            stats.sandbox_errors_skipped += 1;
            continue;
        }
        stats.executions_used += 1;
        let w = width.entry(e.problem_id.as_str()).or_insert(0);
        *w = (*w).max(e.tests_passed.len());
        by_sample.entry(e.sample_id.as_str()).or_default().push(e);
    }
    let mut out = HashMap::with_capacity(by_sample.len());
    for (sid, runs) in by_sample {
        let n = width[runs[0].problem_id.as_str()];
        let vector = |e: &Execution| -> Vec<bool> {
            if n == 0 {
                vec![e.verdict == Verdict::Pass]
            } else {
                let mut v = e.tests_passed.clone();
                v.resize(n, false);
                v
            }
        };
        let first = vector(runs[0]);
        let mut tests = first.clone();
        let mut flaky = false;
        for e in &runs[1..] {
            let v = vector(e);
            if v != first {
                flaky = true;
            }
            for (t, b) in tests.iter_mut().zip(v) {
                *t &= b;
            }
        }
        if runs.len() > 1 {
            stats.repeated_samples += 1;
        }
        if flaky {
            stats.flaky_samples += 1;
        }
        let failing = runs.iter().find(|e| e.verdict != Verdict::Pass);
        let verdict = failing.map_or(Verdict::Pass, |e| e.verdict);
        let mut times: Vec<f64> = runs.iter().map(|e| e.cpu_ms).collect();
        out.insert(
            sid.to_string(),
            SampleOutcome {
                tests_passed: tests,
                passed: verdict == Verdict::Pass,
                verdict,
                cpu_ms: median(&mut times),
                // A directory executed both with and without `--no-line-count` holds
                // runs of either kind; the count is deterministic, so any counted run's
                // stands for the sample.
                lines_executed: runs.iter().filter_map(|e| e.lines_executed).max(),
                runs: runs.len(),
                error_kind: failing.and_then(|e| e.error_kind.clone()),
                stderr_tail: failing.map(|e| e.stderr_tail.clone()).unwrap_or_default(),
            },
        );
    }
    out
}

/// Builds one problem's matrix from aggregated outcomes, rows in the given sample order.
///
/// Samples without an outcome (never executed) get an all-fail row.
pub fn matrix_for_problem(
    problem_id: &str,
    sample_ids: &[String],
    outcomes: &HashMap<String, SampleOutcome>,
) -> PassMatrix {
    let rows: Vec<Vec<bool>> = sample_ids
        .iter()
        .map(|s| {
            outcomes
                .get(s)
                .map(|o| o.tests_passed.clone())
                .unwrap_or_default()
        })
        .collect();
    let mut m = PassMatrix::from_rows(problem_id, sample_ids.to_vec(), rows);
    m.suite_passed = sample_ids
        .iter()
        .map(|s| outcomes.get(s).map(|o| o.passed).unwrap_or(false))
        .collect();
    m
}

/// Splits a model-generated test completion into single assert statements, as CodeT does.
///
/// The text is split at the keyword `assert` (outside strings and comments); each piece is `assert` plus the
/// text up to the end of its logical line (brackets may span lines). Pieces
/// that fail the light syntax check are dropped; at most `limit` are kept.
pub fn split_generated_tests(completion: &str, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    if limit == 0 {
        return out;
    }
    // The keyword, not the word in a string or a comment (`assert up("assert me")`).
    let starts: Vec<usize> = ouro_python::lexer::tokenize(completion)
        .into_iter()
        .filter(|t| t.kind == ouro_python::lexer::TokKind::Name && t.text(completion) == "assert")
        .map(|t| t.start)
        .collect();
    for (k, &s) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(completion.len());
        let piece = logical_line(&completion[s..end]);
        if light_syntax_ok(&piece) && !out.contains(&piece) {
            out.push(piece);
            if out.len() >= limit {
                break;
            }
        }
    }
    out
}

/// The text up to the first newline outside brackets and strings.
fn logical_line(text: &str) -> String {
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q || c == '\n' {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            '#' => return text[..i].trim_end().to_string(),
            '\n' if depth <= 0 => return text[..i].trim_end().to_string(),
            _ => {}
        }
    }
    text.trim_end().to_string()
}

/// Cheap syntax screen: an expression after `assert`, balanced brackets, closed strings.
pub fn light_syntax_ok(stmt: &str) -> bool {
    let Some(rest) = stmt.strip_prefix("assert") else {
        return false;
    };
    if rest.trim().is_empty() || !rest.starts_with([' ', '(', '\t']) {
        return false;
    }
    let mut stack = Vec::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in rest.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '(' | '[' | '{' => stack.push(c),
            ')' | ']' | '}' => {
                let open = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if stack.pop() != Some(open) {
                    return false;
                }
            }
            _ => {}
        }
    }
    quote.is_none()
        && stack.is_empty()
        && !rest.trim_end().ends_with([',', '=', '+', '-', '*', '/'])
}

/// A copy of `problem` whose filter suite is the model-generated tests found in
/// `completions` (at most `per_sample_limit` from each, `max_tests` in all,
/// duplicates removed); `None` when no test survives.
///
/// Executing the candidates against this problem (an MBPP-style assert
/// script, one test per assert) yields the CodeT matrix "every candidate
/// against every generated test"; pass those executions to the build as
/// ranking executions.
pub fn generated_tests_problem(
    problem: &ouro_data::Problem,
    completions: &[&str],
    per_sample_limit: usize,
    max_tests: usize,
    keep: &dyn Fn(&str) -> bool,
) -> Option<ouro_data::Problem> {
    let mut tests: Vec<String> = Vec::new();
    for c in completions {
        for t in split_generated_tests(c, per_sample_limit) {
            if tests.len() >= max_tests {
                break;
            }
            if !tests.contains(&t) && keep(&t) {
                tests.push(t);
            }
        }
    }
    if tests.is_empty() {
        return None;
    }
    let mut p = problem.clone();
    p.tests = ouro_data::Tests::AssertScript {
        script: tests.join("\n") + "\n",
    };
    p.audit_tests = None;
    Some(p)
}

/// Checks, with one `python3` process for the whole batch, which snippets
/// pass Python's own `compile()`. Nothing is executed.
pub fn compile_check(python: &str, snippets: &[String]) -> std::io::Result<Vec<bool>> {
    const SCRIPT: &str = r#"
import sys, json
snips = json.load(sys.stdin)
out = []
for s in snips:
    try:
        compile(s, "<generated-test>", "exec")
        out.append(True)
    except (SyntaxError, ValueError):
        out.append(False)
json.dump(out, sys.stdout)
"#;
    let mut child = Command::new(python)
        .arg("-c")
        .arg(SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let input = serde_json::to_vec(snippets).map_err(std::io::Error::other)?;
    {
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin.write_all(&input)?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!(
            "{python} compile check failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    serde_json::from_slice(&out.stdout).map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ouro_data::{Judge, Limits};

    pub(crate) fn exec(
        sid: &str,
        pid: &str,
        verdict: Verdict,
        tests: &[bool],
        cpu: f64,
    ) -> Execution {
        Execution {
            sample_id: sid.into(),
            problem_id: pid.into(),
            suite: Suite::Filter,
            verdict,
            tests_passed: tests.to_vec(),
            error_kind: None,
            stderr_tail: String::new(),
            cpu_ms: cpu,
            wall_ms: cpu,
            max_rss_kb: 0,
            lines_executed: Some((cpu * 100.0) as u64),
            executor_version: "t".into(),
            limits: Limits::default(),
            isolation: String::new(),
            judge: Judge::InProcess,
            tests_digest: None,
        }
    }

    #[test]
    fn repeated_runs_and_their_tests_and_their_median_time() {
        let ex = vec![
            exec("a", "p", Verdict::Pass, &[true, true], 10.0),
            exec("a", "p", Verdict::Fail, &[true, false], 30.0),
            exec("a", "p", Verdict::Pass, &[true, true], 20.0),
            exec("b", "p", Verdict::Error, &[], 1.0),
            exec("c", "p", Verdict::SandboxError, &[], 1.0),
        ];
        let mut st = MatrixStats::default();
        let o = aggregate_outcomes(&ex, Suite::Filter, &mut st);
        assert_eq!(o["a"].tests_passed, vec![true, false]);
        assert!(!o["a"].passed);
        assert_eq!(o["a"].cpu_ms, 20.0);
        assert_eq!(o["b"].tests_passed, vec![false, false]);
        assert!(!o.contains_key("c"));
        assert_eq!(st.sandbox_errors_skipped, 1);
        assert_eq!(st.flaky_samples, 1);
        let m = matrix_for_problem("p", &["a".into(), "b".into(), "z".into()], &o);
        assert_eq!(m.n_tests, 2);
        assert_eq!(m.rows[2], vec![false, false]);
    }

    #[test]
    fn a_run_without_line_counts_does_not_hide_a_counted_one() {
        let mut uncounted = exec("a", "p", Verdict::Pass, &[true], 10.0);
        uncounted.lines_executed = None;
        let ex = vec![
            uncounted.clone(),
            exec("a", "p", Verdict::Pass, &[true], 10.0),
        ];
        let o = aggregate_outcomes(&ex, Suite::Filter, &mut MatrixStats::default());
        assert_eq!(o["a"].lines_executed, Some(1000));
        let o = aggregate_outcomes(&[uncounted], Suite::Filter, &mut MatrixStats::default());
        assert_eq!(o["a"].lines_executed, None);
    }

    #[test]
    fn generated_tests_split_on_assert_and_drop_broken_pieces() {
        let text = "Here are tests:\nassert f(1) == 2\nassert f(\n  2) == 3  # two lines\nassert f(3 ==\nreassert = 1\nassert f(1) == 2\nassert g([1, 2]) == 'a'";
        let t = split_generated_tests(text, 10);
        assert_eq!(
            t,
            vec![
                "assert f(1) == 2",
                "assert f(\n  2) == 3",
                "assert g([1, 2]) == 'a'"
            ]
        );
        assert_eq!(split_generated_tests(text, 1).len(), 1);
        assert!(split_generated_tests(text, 0).is_empty());
        // The keyword, not the word inside a string; prose with an apostrophe is no string.
        let text =
            "Here's what I'd test:\nassert up(\"assert me\") == \"ASSERT ME\"\nassert up('') == ''";
        assert_eq!(
            split_generated_tests(text, 10),
            vec![
                "assert up(\"assert me\") == \"ASSERT ME\"",
                "assert up('') == ''"
            ]
        );
    }

    #[test]
    fn python_compile_check_agrees_on_syntax() {
        let snippets = vec!["assert f(1) == 2".to_string(), "assert (".to_string()];
        let have_python = Command::new("python3")
            .arg("-c")
            .arg("pass")
            .status()
            .is_ok_and(|s| s.success());
        if !have_python {
            eprintln!("skipping: python3 unavailable");
            return;
        }
        assert_eq!(
            compile_check("python3", &snippets).unwrap(),
            vec![true, false]
        );
    }
}
