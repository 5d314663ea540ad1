//! Record structs: the rows of every shard ouro reads or writes.
//!
//! Each struct here has a fixed Arrow schema in [`crate::schema`]; the two are
//! kept in step by the round-trip tests in this crate. Field names are the
//! column names, so a user reading a shard with pandas sees these names.

use serde::{Deserialize, Serialize};

use crate::id::ContentHasher;

/// One programming problem: the input of sampling and execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// Stable id, unique within a problem set (e.g. `HumanEval/0`, `ouro/filter-map-sum/00017`).
    pub problem_id: String,
    /// Where the problem comes from: `humaneval`, `mbpp`, `apps`, `ouro-bundled`, ...
    pub source: String,
    /// The text shown to the model.
    pub prompt: String,
    /// Name of the function under test; empty for stdin/stdout problems.
    pub entry_point: String,
    /// Programming language; only `python` is executed today.
    pub language: String,
    /// Code the solution is expected to start from (a signature, imports). May be empty.
    pub starter_code: String,
    pub reference_solution: Option<String>,
    /// Tests used to filter samples (the "filter" suite).
    pub tests: Tests,
    /// Held-out tests used only to measure false positives (the "audit" suite).
    pub audit_tests: Option<Tests>,
    /// Free-form difficulty label, e.g. `easy`, `medium`, `hard`, `interview`.
    pub difficulty: Option<String>,
    pub tags: Vec<String>,
    /// `train`, `test`, `heldout`, ... Used by pipelines to pick problems.
    pub split: String,
}

/// A test suite: either a Python assert script or stdin/stdout cases.
///
/// An assert script is either HumanEval style (it defines `check(candidate)`,
/// which the executor calls with the entry point) or MBPP style (top-level
/// asserts that call the entry point by name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Tests {
    AssertScript { script: String },
    IoCases { cases: Vec<IoCase> },
}

/// One stdin/stdout test case; the output is compared by the trusted parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoCase {
    pub input: String,
    pub output: String,
}

/// What a sample records about how it was drawn (the `params` column): a
/// record of a request, not one. Imports leave unknown fields empty. The one
/// request type is `ouro_model::SamplingParams`; `ouro_sample` converts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RecordedSampling {
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub seed: Option<u64>,
    pub max_tokens: Option<u32>,
}

/// One model attempt at one problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Content id: see [`Sample::compute_id`].
    pub sample_id: String,
    pub problem_id: String,
    /// Expert-iteration round the sample was drawn in (0 for imports).
    pub round: u32,
    /// Position of this attempt among the attempts at the same problem and round.
    pub index: u32,
    pub model: String,
    pub params: RecordedSampling,
    /// The raw completion text, exactly as generated.
    pub completion: String,
    /// The program extracted from the completion; `None` when extraction failed.
    pub code: Option<String>,
    /// Why extraction failed, when `code` is `None`.
    pub extraction_error: Option<String>,
    /// `stop`, `length`, ... or `error` for a failed generation.
    pub finish_reason: Option<String>,
    /// Set when the generation itself failed (e.g. a batch line with a non-200 response).
    pub generation_error: Option<String>,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
    /// Summed log-probability of the completion tokens, when the backend reports it.
    pub logprob: Option<f64>,
}

impl Problem {
    /// What a verdict of `suite` is judged against, as a digest: the suite's
    /// tests, the entry point they call and the prompt (the tests run after it,
    /// and call helpers it defines, as HumanEval/38's `encode_cyclic`). `None`
    /// when the problem has no such suite. A verdict is reused only while this
    /// stays the same.
    pub fn tests_digest(&self, suite: Suite) -> Option<String> {
        let tests = match suite {
            Suite::Filter => &self.tests,
            Suite::Audit => self.audit_tests.as_ref()?,
        };
        let json = serde_json::to_string(tests).expect("tests serialise");
        Some(
            ContentHasher::new("tests")
                .field(&self.entry_point)
                .field(&self.prompt)
                .field(&json)
                .finish(),
        )
    }
}

impl Sample {
    /// The content id of a sample: a hash of what identifies the attempt.
    ///
    /// Two attempts with the same problem, round, model, index and completion
    /// are the same sample, so re-running an import never duplicates rows.
    pub fn compute_id(
        problem_id: &str,
        round: u32,
        model: &str,
        index: u32,
        completion: &str,
    ) -> String {
        let mut h = ContentHasher::new("sample");
        h.field(problem_id)
            .field(&round.to_string())
            .field(model)
            .field(&index.to_string())
            .field(completion);
        h.finish()
    }
}

/// Which test suite an execution ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Suite {
    Filter,
    Audit,
}

/// The outcome of running one sample against one suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    Error,
    Timeout,
    Oom,
    OutputLimit,
    /// The sandbox itself failed; never used as a training label.
    SandboxError,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
            Verdict::Timeout => "timeout",
            Verdict::Oom => "oom",
            Verdict::OutputLimit => "output_limit",
            Verdict::SandboxError => "sandbox_error",
        }
    }
}

/// How a test outcome was decided: inside the untrusted interpreter, or by
/// comparing returned plain values in the trusted parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Judge {
    #[default]
    InProcess,
    Isolated,
    /// Some tests were judged in isolation, the rest in process.
    Mixed,
}

/// Resource limits an execution ran under. Part of the execution key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Limits {
    pub cpu_ms: u64,
    pub wall_ms: u64,
    /// Address-space budget above the interpreter's size at fork time.
    pub memory_mb: u64,
    pub output_bytes: u64,
}

impl Limits {
    /// The CPU limit when none is given: the one default for `ouro execute`,
    /// pipelines' `[execute] cpu_ms` and the rounds' evaluation.
    pub const DEFAULT_CPU_MS: u64 = 3_000;
    /// The wall-clock watchdog when none is given.
    pub const DEFAULT_WALL_MS: u64 = 10_000;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu_ms: Limits::DEFAULT_CPU_MS,
            wall_ms: Limits::DEFAULT_WALL_MS,
            memory_mb: 512,
            output_bytes: 1 << 20,
        }
    }
}

/// The result of running one sample against one suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    pub sample_id: String,
    pub problem_id: String,
    pub suite: Suite,
    pub verdict: Verdict,
    /// One entry per test, in suite order.
    pub tests_passed: Vec<bool>,
    /// Detail for non-pass verdicts: `syntax`, an exception type name,
    /// `exited_early`, `signal:9`, `cpu`, `wall`, ...
    pub error_kind: Option<String>,
    /// The last 2 KiB of stderr: what the program wrote, then, for an exception
    /// the harness caught, a short traceback (the first failing test, the
    /// sample's own lines, the exception and its message).
    pub stderr_tail: String,
    pub cpu_ms: f64,
    pub wall_ms: f64,
    pub max_rss_kb: u64,
    /// Deterministic cost: Python lines the solution executed while its
    /// tests ran, capped at 1,000,000. Unlike `cpu_ms`, the same program and
    /// tests give the same count on any machine under any load. `None` when
    /// the run did not report it (it died, or replaced the harness's tracer)
    /// and in shards written before it existed.
    pub lines_executed: Option<u64>,
    pub executor_version: String,
    pub limits: Limits,
    /// The isolation level achieved, e.g. `ns+landlock+seccomp+cgroup1`.
    pub isolation: String,
    pub judge: Judge,
    /// [`Problem::tests_digest`] of the tests this verdict was judged against, so
    /// that tests changed under the same problem id are judged again. `None` in
    /// shards written before it existed.
    #[serde(default)]
    pub tests_digest: Option<String>,
}

impl Execution {
    /// The durability key: a finished key is never executed again.
    pub fn key(&self) -> String {
        execution_key(
            &self.sample_id,
            self.suite,
            &self.limits,
            &self.executor_version,
            self.tests_digest.as_deref(),
        )
    }
}

/// An error when `executions` (read from `executions_path`) judge none of `samples` (from
/// `samples_path`): inputs from two different runs, which would build an empty dataset
/// with no other sign of the mix-up.
pub fn check_executions_match(
    samples: &[Sample],
    samples_path: &std::path::Path,
    executions: &[Execution],
    executions_path: &std::path::Path,
) -> std::result::Result<(), String> {
    let (Some(first), false) = (executions.first(), samples.is_empty()) else {
        return Ok(());
    };
    let ids: std::collections::HashSet<&str> =
        samples.iter().map(|s| s.sample_id.as_str()).collect();
    if executions
        .iter()
        .any(|e| ids.contains(e.sample_id.as_str()))
    {
        return Ok(());
    }
    Err(format!(
        "none of the {} executions in {} is of a sample in {} (the first judges sample '{}' of \
         problem '{}'): were they run on other samples?",
        executions.len(),
        executions_path.display(),
        samples_path.display(),
        first.sample_id,
        first.problem_id
    ))
}

/// That some of `samples` are of a problem in `problems`: a build over samples of
/// another problem set (a wrong `--problems`) would otherwise write an empty dataset.
pub fn check_samples_match(
    problems: &[Problem],
    problems_path: &std::path::Path,
    samples: &[Sample],
    samples_path: &std::path::Path,
) -> std::result::Result<(), String> {
    let Some(first) = samples.first() else {
        return Ok(());
    };
    let ids: std::collections::HashSet<&str> =
        problems.iter().map(|p| p.problem_id.as_str()).collect();
    if samples.iter().any(|s| ids.contains(s.problem_id.as_str())) {
        return Ok(());
    }
    Err(format!(
        "none of the {} samples in {} is of a problem in {} (the first is of problem '{}'): \
         were they drawn from another problem set?",
        samples.len(),
        samples_path.display(),
        problems_path.display(),
        first.problem_id
    ))
}

/// That `executions` hold one verdict per sample and suite: two (judged under other
/// limits, say) would count a sample twice and leave which one wins to chance.
pub fn check_one_verdict_each(
    executions: &[Execution],
    executions_path: &std::path::Path,
) -> std::result::Result<(), String> {
    let mut seen: std::collections::HashMap<(&str, Suite), &Execution> = Default::default();
    for e in executions {
        let Some(first) = seen.insert((e.sample_id.as_str(), e.suite), e) else {
            continue;
        };
        // The same judgement twice (a sample listed twice) is harmless.
        if first.key() != e.key() {
            return Err(format!(
                "{} holds two verdicts of sample '{}' ({:?} suite: {} and {}, judged under other \
                 limits or another executor version); run `ouro execute` into it again, which \
                 keeps the current ones",
                executions_path.display(),
                e.sample_id,
                e.suite,
                first.verdict.as_str(),
                e.verdict.as_str()
            ));
        }
    }
    Ok(())
}

/// That every execution was judged against the tests its problem has now
/// (`tests_digest`; executions written before it was recorded pass unchecked):
/// a verdict on changed tests labels a program by tests it never ran.
pub fn check_tests_current(
    problems: &[Problem],
    problems_path: &std::path::Path,
    executions: &[Execution],
    executions_path: &std::path::Path,
) -> std::result::Result<(), String> {
    let by_id: std::collections::HashMap<&str, &Problem> = problems
        .iter()
        .map(|p| (p.problem_id.as_str(), p))
        .collect();
    for e in executions {
        let (Some(digest), Some(p)) = (&e.tests_digest, by_id.get(e.problem_id.as_str())) else {
            continue;
        };
        if p.tests_digest(e.suite).as_deref() != Some(digest.as_str()) {
            return Err(format!(
                "{}: sample '{}' was judged against other {:?} tests than problem '{}' has in {}                  (its tests changed since): run `ouro execute` again, which judges it anew",
                executions_path.display(),
                e.sample_id,
                e.suite,
                e.problem_id,
                problems_path.display()
            ));
        }
    }
    Ok(())
}

/// Key of an execution, computable before it runs.
pub fn execution_key(
    sample_id: &str,
    suite: Suite,
    limits: &Limits,
    executor_version: &str,
    tests_digest: Option<&str>,
) -> String {
    let mut h = ContentHasher::new("execution");
    h.field(sample_id)
        .field(match suite {
            Suite::Filter => "filter",
            Suite::Audit => "audit",
        })
        .field(&format!(
            "{}/{}/{}/{}",
            limits.cpu_ms, limits.wall_ms, limits.memory_mb, limits.output_bytes
        ))
        .field(executor_version);
    // Keys of records written before the digest existed stay as they were.
    if let Some(d) = tests_digest {
        h.field(d);
    }
    h.finish()
}

/// Loss emphasis over a character range `[start, end)` of a completion.
///
/// Spans are tokenizer-free; the trainer maps them to tokens through the
/// tokenizer's offsets. Offsets count Unicode scalar values (chars), not bytes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WeightSpan {
    pub start: u32,
    pub end: u32,
    pub weight: f32,
}

/// A row of the `sft` config (TRL prompt/completion format).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SftRecord {
    pub prompt: String,
    pub completion: String,
    pub problem_id: String,
    /// `None` for reference solutions.
    pub sample_id: Option<String>,
    pub round: u32,
    /// `sample` or `reference`.
    pub origin: String,
    pub score: Option<f64>,
    pub weight_spans: Vec<WeightSpan>,
}

/// What a preference pair contrasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PairKind {
    Correctness,
    Efficiency,
    InjectedError,
    Repair,
}

/// A row of the `dpo` config (TRL prompt/chosen/rejected format).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DpoRecord {
    pub prompt: String,
    pub chosen: String,
    pub rejected: String,
    pub problem_id: String,
    pub chosen_sample_id: Option<String>,
    pub rejected_sample_id: Option<String>,
    pub round: u32,
    pub pair_kind: PairKind,
    pub chosen_score: Option<f64>,
    pub rejected_score: Option<f64>,
    pub chosen_spans: Vec<WeightSpan>,
    pub rejected_spans: Vec<WeightSpan>,
}

/// A row of the `lintseq` config: the completion is the `<|diff|>`-joined edit sequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LintseqRecord {
    pub prompt: String,
    pub completion: String,
    /// Content id of the program the sequence rebuilds.
    pub program_id: String,
    pub problem_id: Option<String>,
    pub seed: u64,
    pub num_edits: u32,
}

/// A chat message, as in TRL's conversational format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

/// A row of the `repair` config: prompt, failing code, feedback, fixed code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepairRecord {
    pub messages: Vec<Message>,
    pub problem_id: String,
    pub failing_sample_id: String,
    pub fixed_sample_id: Option<String>,
    pub round: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A verdict is reused only while what it was judged against is the same: the
    /// tests, the entry point, and the prompt the tests run after.
    #[test]
    fn the_tests_digest_follows_tests_entry_point_and_prompt() {
        let p: Problem = serde_json::from_value(serde_json::json!({
            "problem_id": "p", "source": "t", "prompt": "def encode(s):\n    return s\n",
            "entry_point": "decode", "language": "python", "starter_code": "",
            "reference_solution": null,
            "tests": {"kind": "assert_script", "script": "assert decode(encode('a')) == 'a'"},
            "audit_tests": null, "difficulty": null, "tags": [], "split": "train"
        }))
        .unwrap();
        let d = |p: &Problem| p.tests_digest(Suite::Filter).unwrap();
        let mut other = p.clone();
        other.split = "test".into();
        assert_eq!(d(&p), d(&other), "the split is not judged against");
        for change in [
            |q: &mut Problem| q.prompt.push('x'),
            |q: &mut Problem| q.entry_point.push('x'),
            |q: &mut Problem| {
                q.tests = Tests::AssertScript {
                    script: "assert True".into(),
                }
            },
        ] {
            let mut q = p.clone();
            change(&mut q);
            assert_ne!(d(&p), d(&q));
        }
        assert_eq!(p.tests_digest(Suite::Audit), None);
    }
}
