//! Benchmark of the build stage on synthetic data (run by `scripts/bench-build.sh`).
//!
//! Generates P problems × S samples with 10 filter tests each (a few program
//! templates with random constants, so exact and near duplicates occur, and
//! random pass patterns), writes them as shards, then times each phase in
//! memory (rank, dedup, pairs, SFT) and the full `build_sft`/`build_dpo`
//! through shards. Prints samples/s per phase.
//!
//! Usage: bench_build [PROBLEMS] [SAMPLES_PER_PROBLEM] [DIR] [--dump-matrices FILE N]

use std::time::Instant;

use ouro_data::shard::write_records;
use ouro_data::{
    Execution, Judge, Limits, Problem, RecordedSampling, Sample, Suite, Tests, Verdict,
};
use ouro_rank::build::{build_dpo, build_sft, BuildInputs, BuildOptions};
use ouro_rank::dedup::{dedup, DedupOptions};
use ouro_rank::matrix::PassMatrix;
use ouro_rank::pairs::{pairs_for_pool, CompletionFormat, PairOptions, PairStats};
use ouro_rank::pool::{build_pools, PoolOptions};
use ouro_rank::rankers::{PageRankOptions, Ranker, B4_ALPHA};
use ouro_rank::sft::{select_sft, SftOptions, SftStats};
use rand::{Rng, SeedableRng};

const TEMPLATES: [&str; 6] = [
    "def f(xs):\n    total = 0\n    for x in xs:\n        if x > {a}:\n            total += x * {b}\n    return total\n",
    "def f(xs):\n    return sum(x * {b} for x in xs if x > {a})\n",
    "def f(xs):\n    out = []\n    for i, x in enumerate(xs):\n        if i % {a} == 0 and x < {b}:\n            out.append(x + i)\n    return len(out)\n",
    "def f(xs):\n    best = None\n    for x in xs:\n        if best is None or x > best + {a}:\n            best = x\n    return best if best is not None else {b}\n",
    "def f(xs):\n    seen = set()\n    count = 0\n    for x in xs:\n        if x in seen:\n            count += {a}\n        seen.add(x)\n    return count - {b}\n",
    "def f(xs):\n    xs = sorted(xs)\n    lo, hi = 0, len(xs) - 1\n    while lo < hi:\n        if xs[lo] + xs[hi] == {a}:\n            return {b}\n        lo += 1\n    return -1\n",
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let problems_n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let per: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(50);
    let dir = args
        .get(3)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("ouro-bench-build"));
    let n_tests = 10;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);

    let t = Instant::now();
    let mut problems = Vec::with_capacity(problems_n);
    let mut samples = Vec::with_capacity(problems_n * per);
    let mut execs = Vec::with_capacity(problems_n * per);
    for p in 0..problems_n {
        let pid = format!("bench/{p:05}");
        let tpl = TEMPLATES[p % TEMPLATES.len()];
        problems.push(Problem {
            problem_id: pid.clone(),
            source: "bench".into(),
            prompt: format!("Problem {p}: write f(xs) for variant {}.", p % 97),
            entry_point: "f".into(),
            language: "python".into(),
            starter_code: String::new(),
            reference_solution: Some(tpl.replace("{a}", "1").replace("{b}", "2")),
            tests: Tests::AssertScript {
                script: String::new(),
            },
            audit_tests: None,
            difficulty: None,
            tags: vec![],
            split: "train".into(),
        });
        let difficulty: f64 = rng.gen_range(0.05..0.95);
        let correct: Vec<bool> = (0..n_tests).map(|_| true).collect();
        for i in 0..per {
            let a = rng.gen_range(0..6);
            let b = rng.gen_range(0..6);
            let mut code = TEMPLATES[(p + (i % 3)) % TEMPLATES.len()]
                .replace("{a}", &a.to_string())
                .replace("{b}", &b.to_string());
            if i % 5 == 0 {
                code.push_str("# checked\n");
            }
            let completion = format!("```python\n{code}```");
            let sid = Sample::compute_id(&pid, 1, "bench", i as u32, &completion);
            let pass = rng.gen_bool(1.0 - difficulty);
            let tests: Vec<bool> = if pass {
                correct.clone()
            } else {
                (0..n_tests).map(|_| rng.gen_bool(0.5)).collect()
            };
            let all = tests.iter().all(|&x| x);
            samples.push(Sample {
                sample_id: sid.clone(),
                problem_id: pid.clone(),
                round: 1,
                index: i as u32,
                model: "bench".into(),
                params: RecordedSampling::default(),
                completion,
                code: Some(code),
                extraction_error: None,
                finish_reason: Some("stop".into()),
                generation_error: None,
                prompt_tokens: None,
                completion_tokens: None,
                logprob: None,
            });
            execs.push(Execution {
                sample_id: sid,
                problem_id: pid.clone(),
                suite: Suite::Filter,
                verdict: if all { Verdict::Pass } else { Verdict::Fail },
                tests_passed: tests,
                error_kind: None,
                stderr_tail: String::new(),
                cpu_ms: rng.gen_range(5.0..200.0),
                wall_ms: 0.0,
                max_rss_kb: 0,
                lines_executed: Some(rng.gen_range(50..2000)),
                executor_version: "bench".into(),
                limits: Limits::default(),
                isolation: String::new(),
                judge: Judge::InProcess,
                tests_digest: None,
            });
        }
    }
    let n = samples.len();
    println!(
        "generated {} problems, {n} samples, {n_tests} tests each in {:.2} s",
        problems_n,
        t.elapsed().as_secs_f64()
    );

    let rate = |label: &str, secs: f64| {
        println!(
            "{label:<40} {secs:>8.3} s  {:>12.0} samples/s",
            n as f64 / secs
        )
    };

    // Rankers alone, on the per-problem matrices.
    let mut matrices = Vec::with_capacity(problems_n);
    for (p, chunk) in execs.chunks(per).enumerate() {
        let rows = chunk.iter().map(|e| e.tests_passed.clone()).collect();
        matrices.push(PassMatrix::from_rows(
            &problems[p].problem_id,
            chunk.iter().map(|e| e.sample_id.clone()).collect(),
            rows,
        ));
    }
    if let Some(pos) = args.iter().position(|a| a == "--dump-matrices") {
        let file = &args[pos + 1];
        let k: usize = args
            .get(pos + 2)
            .and_then(|s| s.parse().ok())
            .unwrap_or(200);
        let dump: Vec<Vec<Vec<u8>>> = matrices
            .iter()
            .take(k)
            .map(|m| {
                m.rows
                    .iter()
                    .map(|r| r.iter().map(|&b| b as u8).collect())
                    .collect()
            })
            .collect();
        std::fs::write(file, serde_json::to_string(&dump).unwrap()).unwrap();
        let t = Instant::now();
        for m in matrices.iter().take(k) {
            std::hint::black_box(ouro_rank::rankers::b4(m, B4_ALPHA, 1e4));
        }
        println!(
            "RUST_B4_SECONDS {:.6} on {k} matrices",
            t.elapsed().as_secs_f64()
        );
        let t = Instant::now();
        for m in matrices.iter().take(k) {
            std::hint::black_box(ouro_rank::rankers::codet(m));
        }
        println!(
            "RUST_CODET_SECONDS {:.6} on {k} matrices",
            t.elapsed().as_secs_f64()
        );
    }
    for r in [
        Ranker::PassRate,
        Ranker::Codet,
        Ranker::PageRank(PageRankOptions::default()),
        Ranker::B4 {
            alpha: B4_ALPHA,
            beta0: 1e4,
        },
    ] {
        let t = Instant::now();
        let total: f64 = matrices
            .iter()
            .map(|m| r.score(m).iter().sum::<f64>())
            .sum();
        std::hint::black_box(total);
        rate(&format!("rank {}", r.label()), t.elapsed().as_secs_f64());
    }

    // Dedup alone.
    let items: Vec<(&str, &str)> = samples
        .iter()
        .map(|s| (s.problem_id.as_str(), s.code.as_deref().unwrap()))
        .collect();
    let t = Instant::now();
    let (_, dst) = dedup(&items, &DedupOptions::default());
    rate(
        "dedup (exact + MinHash 250 perms)",
        t.elapsed().as_secs_f64(),
    );
    println!(
        "  exact duplicates {}, near duplicates {}, kept {} (LSH {} bands x {} rows)",
        dst.exact_duplicates, dst.near_duplicates, dst.kept, dst.lsh_bands, dst.lsh_rows
    );

    // Pools (matrix + rank + dedup), then pairs and SFT.
    let t = Instant::now();
    let (pools, pst) = build_pools(
        &problems,
        &samples,
        &execs,
        &PoolOptions {
            ranker: Ranker::Codet,
            ..Default::default()
        },
    );
    rate("pools (matrix + codet + dedup)", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let mut pst2 = PairStats::default();
    let pairs: usize = pools
        .iter()
        .map(|p| {
            pairs_for_pool(
                p,
                &PairOptions::default(),
                ouro_rank::repair::DEFAULT_MIN_SIMILARITY,
                CompletionFormat::Code,
                &mut pst2,
            )
            .len()
        })
        .sum();
    rate("pairs (all kinds)", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let mut sst = SftStats::default();
    let sft = select_sft(
        &pools,
        &SftOptions::default(),
        CompletionFormat::Code,
        &mut sst,
    )
    .len();
    rate("sft selection", t.elapsed().as_secs_f64());
    println!(
        "  pairs {pairs}, sft rows {sft}, problems without passing sample {}",
        pst.problems_without_passing_sample
    );

    // Full stage through shards.
    std::fs::create_dir_all(dir.join("samples")).unwrap();
    std::fs::create_dir_all(dir.join("executions")).unwrap();
    let t = Instant::now();
    write_records(dir.join("problems.parquet"), &problems).unwrap();
    write_records(dir.join("samples/part-00000.parquet"), &samples).unwrap();
    write_records(dir.join("executions/part-00000.parquet"), &execs).unwrap();
    println!("wrote input shards in {:.2} s", t.elapsed().as_secs_f64());
    let inputs = BuildInputs {
        problems: dir.join("problems.parquet"),
        samples: dir.join("samples"),
        executions: dir.join("executions"),
        more_samples: Vec::new(),
        more_executions: Vec::new(),
        eval_problems: None,
        benchmarks: Vec::new(),
        ranking_executions: None,
        ranking_suite: ouro_data::Suite::Filter,
    };
    let o = BuildOptions {
        ranker: Ranker::Codet,
        ..Default::default()
    };
    let t = Instant::now();
    let r = build_sft(&inputs, &o, &dir.join("out")).unwrap();
    rate(
        &format!("build_sft end to end ({} rows)", r.rows),
        t.elapsed().as_secs_f64(),
    );
    let t = Instant::now();
    let r = build_dpo(&inputs, &o, &dir.join("out")).unwrap();
    rate(
        &format!("build_dpo end to end ({} rows)", r.rows),
        t.elapsed().as_secs_f64(),
    );
}
