//! Acceptance: bundled problems → synthetic samples → execute → build every
//! config → (with `OURO_PYTHON`) `datasets.load_dataset("parquet", ...)`.
//!
//! Samples are synthesised from the reference solutions (bare and inside
//! chat answers with prose and code fences), from the problem generator's
//! near-miss mutants, and from prose-only answers with no code. They run in
//! the real sandboxed executor. The `datasets` check needs `OURO_PYTHON`
//! (a Python with `datasets` and `pyarrow`, e.g. CI's `.venv/bin/python`);
//! without it that part is skipped with a message.

use std::path::Path;
use std::process::Command;

use ouro_data::shard::{read_dir, write_records};
use ouro_data::{DpoRecord, PairKind, Problem, RecordedSampling, Sample, Suite};
use ouro_exec::{execute, ExecOptions};
use ouro_problems::{generate_detailed, GenerateOptions};
use ouro_rank::build::{
    build_dpo, build_mutants, build_repair, build_sft, BuildInputs, BuildOptions,
};

fn sample(p: &Problem, index: u32, completion: String) -> Sample {
    let (code, extraction_error) =
        match ouro_python::extract::extract_code(&completion, &p.prompt, &p.entry_point) {
            Ok(c) => (Some(c), None),
            Err(e) => (None, Some(e.to_string())),
        };
    Sample {
        sample_id: Sample::compute_id(&p.problem_id, 1, "synthetic", index, &completion),
        problem_id: p.problem_id.clone(),
        round: 1,
        index,
        model: "synthetic".into(),
        params: RecordedSampling::default(),
        completion,
        code,
        extraction_error,
        finish_reason: Some("stop".into()),
        generation_error: None,
        prompt_tokens: None,
        completion_tokens: None,
        logprob: None,
    }
}

fn run_exec(root: &Path, samples: &Path) -> Result<(), String> {
    let opts = ExecOptions {
        workers: 2,
        suites: vec![Suite::Filter, Suite::Audit],
        ..Default::default()
    };
    execute(
        &root.join("problems"),
        samples,
        &root.join("executions"),
        &opts,
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
}

#[test]
fn bundled_problems_become_loadable_sft_dpo_and_repair_configs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let generated = generate_detailed(&GenerateOptions {
        count: 10,
        seed: 3,
        ..Default::default()
    })
    .unwrap();
    let problems: Vec<Problem> = generated.iter().map(|g| g.problem.clone()).collect();
    std::fs::create_dir_all(root.join("problems")).unwrap();
    write_records(root.join("problems/part-00000.parquet"), &problems).unwrap();

    let mut samples = Vec::new();
    for g in &generated {
        let p = &g.problem;
        let reference = p
            .reference_solution
            .clone()
            .expect("bundled problems have references");
        samples.push(sample(p, 0, reference.clone()));
        samples.push(sample(
            p,
            1,
            format!("Sure! Here is a solution.\n\n```python\n{reference}\n```\n\nIt handles the empty list too."),
        ));
        for (i, m) in g.mutants.iter().take(3).enumerate() {
            samples.push(sample(
                p,
                2 + i as u32,
                format!("Let me think.\n```python\n{}\n```\nDone.", m.program),
            ));
        }
        samples.push(sample(
            p,
            9,
            "I would loop over the list and add things up.".into(),
        ));
    }
    std::fs::create_dir_all(root.join("samples")).unwrap();
    write_records(root.join("samples/part-00000.parquet"), &samples).unwrap();

    if let Err(e) = run_exec(root, &root.join("samples")) {
        eprintln!("skipping end-to-end test: the executor could not run here: {e}");
        return;
    }

    let inputs = BuildInputs {
        problems: root.join("problems"),
        samples: root.join("samples"),
        executions: root.join("executions"),
        more_samples: Vec::new(),
        more_executions: Vec::new(),
        eval_problems: None,
        benchmarks: Vec::new(),
        ranking_executions: None,
        ranking_suite: ouro_data::Suite::Filter,
    };
    let mut o = BuildOptions::default();
    o.sft.reference_fraction = 0.2;
    o.pairs.max_pairs_per_problem = 3;

    // Mutants of passing samples go through the executor like any sample.
    let n = build_mutants(&inputs, &o, &root.join("mutants")).unwrap();
    assert!(n > 0);
    std::fs::copy(
        root.join("mutants").join(ouro_data::shard::part_name(0, 1)),
        root.join("samples/part-00001.parquet"),
    )
    .unwrap();
    run_exec(root, &root.join("samples")).unwrap();

    let out = root.join("dataset");
    let sft = build_sft(&inputs, &o, &out).unwrap();
    let dpo = build_dpo(&inputs, &o, &out).unwrap();
    let repair = build_repair(&inputs, &o, &out).unwrap();
    assert!(
        sft.rows > 0 && dpo.rows > 0 && repair.rows > 0,
        "{sft:?}\n{dpo:?}\n{repair:?}"
    );
    assert_eq!(
        sft.pool["samples_without_code"].as_u64(),
        Some(problems.len() as u64)
    );
    let pairs: Vec<DpoRecord> = read_dir(out.join("dpo")).unwrap();
    for kind in [
        PairKind::Correctness,
        PairKind::InjectedError,
        PairKind::Repair,
    ] {
        assert!(
            pairs.iter().any(|p| p.pair_kind == kind),
            "no {kind:?} pair: {:?}",
            dpo.selection
        );
    }
    let card = std::fs::read_to_string(out.join("README.md")).unwrap();
    for c in ["sft", "dpo", "repair"] {
        assert!(card.contains(&format!("config_name: {c}")), "{card}");
    }

    let Ok(python) = std::env::var("OURO_PYTHON") else {
        eprintln!("OURO_PYTHON unset: skipping the datasets.load_dataset check");
        return;
    };
    let script = r#"
import sys, datasets
root = sys.argv[1]
want = {
    "sft": {"prompt": "string", "completion": "string"},
    "dpo": {"prompt": "string", "chosen": "string", "rejected": "string", "pair_kind": "string"},
}
for config, cols in want.items():
    ds = datasets.load_dataset("parquet", data_files=f"{root}/{config}/train-*.parquet", split="train")
    for c, t in cols.items():
        assert ds.features[c].dtype == t, (config, c, ds.features[c])
    assert len(ds) > 0
rep = datasets.load_dataset("parquet", data_files=f"{root}/repair/train-*.parquet", split="train")
msgs = rep.features["messages"]
inner = msgs.feature if hasattr(msgs, "feature") else msgs[0]
assert inner["role"].dtype == "string" and inner["content"].dtype == "string", msgs
assert [m["role"] for m in rep[0]["messages"]] == ["user", "assistant", "user", "assistant"]
for config in ("sft", "dpo", "repair"):
    ds = datasets.load_dataset(root, config, split="train")
    assert len(ds) > 0
print("datasets OK")
"#;
    let outp = Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(&out)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "OURO_PYTHON={python} does not run ({e}); tests run in {}, so give an \
                 absolute path",
                env!("CARGO_MANIFEST_DIR")
            )
        });
    assert!(
        outp.status.success(),
        "datasets check failed:\n{}\n{}",
        String::from_utf8_lossy(&outp.stdout),
        String::from_utf8_lossy(&outp.stderr)
    );
}
