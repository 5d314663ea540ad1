//! Runs HumanEval canonical solutions through `ouro_exec::execute` and prints
//! one JSON line of figures (used by `scripts/bench-exec.sh`).
//!
//! Usage: humaneval JSONL REPS OUT_DIR [WORKERS] [auto|inprocess]
//! With `OURO_BENCH_PYTHON_TRACER=1` set, `lines_executed` is counted by the Python
//! tracer instead of the C one (to compare their cost; the counts are the same).

use std::path::Path;
use std::time::Instant;

use ouro_data::shard::write_records;
use ouro_data::{Problem, RecordedSampling, Sample, Tests};
use ouro_exec::{execute, ExecOptions, JudgeMode};

fn cpu_s(who: i32) -> f64 {
    // SAFETY: getrusage fills the zeroed struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// Reads HumanEval.jsonl into problems and `reps` samples per problem
/// (the canonical solution appended to the prompt).
pub fn load(path: &Path, reps: u32) -> (Vec<Problem>, Vec<Sample>) {
    let text = std::fs::read_to_string(path).expect("read HumanEval.jsonl");
    let mut problems = Vec::new();
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("json line");
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        let id = s("task_id");
        let code = format!("{}{}", s("prompt"), s("canonical_solution"));
        for rep in 0..reps {
            samples.push(Sample {
                sample_id: Sample::compute_id(&id, 0, "canonical", rep, &code),
                problem_id: id.clone(),
                round: 0,
                index: rep,
                model: "canonical".into(),
                params: RecordedSampling::default(),
                completion: s("canonical_solution"),
                code: Some(code.clone()),
                extraction_error: None,
                finish_reason: None,
                generation_error: None,
                prompt_tokens: None,
                completion_tokens: None,
                logprob: None,
            });
        }
        problems.push(Problem {
            problem_id: id,
            source: "humaneval".into(),
            prompt: s("prompt"),
            entry_point: s("entry_point"),
            language: "python".into(),
            starter_code: String::new(),
            reference_solution: Some(s("canonical_solution")),
            tests: Tests::AssertScript { script: s("test") },
            audit_tests: None,
            difficulty: None,
            tags: vec![],
            split: "test".into(),
        });
    }
    (problems, samples)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: humaneval JSONL REPS OUT_DIR [WORKERS] [auto|inprocess]");
        std::process::exit(2);
    }
    let reps: u32 = args[2].parse().expect("REPS");
    let out = Path::new(&args[3]);
    let workers: usize = args
        .get(4)
        .map(|w| w.parse().expect("WORKERS"))
        .unwrap_or(0);
    let (problems, samples) = load(Path::new(&args[1]), reps);
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out.join("problems")).unwrap();
    std::fs::create_dir_all(out.join("samples")).unwrap();
    write_records(out.join("problems/part-00000.parquet"), &problems).unwrap();
    write_records(out.join("samples/part-00000.parquet"), &samples).unwrap();
    let judge = match args.get(5).map(String::as_str) {
        None | Some("auto") => JudgeMode::Auto,
        Some("inprocess") => JudgeMode::InProcess,
        Some(other) => panic!("judge mode {other:?}: expected auto or inprocess"),
    };
    let opts = ExecOptions {
        workers,
        progress: false,
        judge,
        native_line_counter: std::env::var_os("OURO_BENCH_PYTHON_TRACER").is_none(),
        count_lines: std::env::var("OURO_BENCH_COUNT_LINES").as_deref() != Ok("0"),
        ..ExecOptions::default()
    };
    let (c0, k0) = (cpu_s(libc::RUSAGE_SELF), cpu_s(libc::RUSAGE_CHILDREN));
    let t0 = Instant::now();
    let stats = execute(
        &out.join("problems"),
        &out.join("samples"),
        &out.join("executions"),
        &opts,
    )
    .unwrap();
    let wall = t0.elapsed().as_secs_f64();
    let own = cpu_s(libc::RUSAGE_SELF) - c0;
    let cpu = own + cpu_s(libc::RUSAGE_CHILDREN) - k0;
    let n = samples.len() as f64;
    println!(
        "{}",
        serde_json::json!({
            "samples": samples.len(),
            "wall_s": wall,
            "samples_per_s": n / wall,
            "cpu_ms_per_sample": cpu * 1000.0 / n,
            "sandbox_cpu_ms_per_sample": stats.cpu_ms / n,
            // The executor process itself (scheduling, JSON, journal, Parquet).
            "executor_cpu_ms_per_sample": own * 1000.0 / n,
            "verdicts": stats.verdicts,
            "judges": stats.judges,
            "isolation": stats.isolation,
        })
    );
}
