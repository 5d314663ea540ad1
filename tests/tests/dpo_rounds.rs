//! A round that trains a DPO step on pairs built from its own samples, through
//! the binary: the pairs exist, the chosen program of each (and the sample
//! behind each SFT row) ran the audit suite, the round's report, table and
//! final model say so, a resume that lost the audit runs it again to the
//! same figures, and `ouro report` shows the DPO column.
//!
//! The tiny iteration elsewhere never passes a test, so it builds no pairs;
//! this one trains round 0 long enough (1,000 references, 6 epochs: about 30 s
//! on 2 cores) that some pool samples pass and some fail.

use ouro_data::report::RunReport;
use ouro_data::DpoRecord;
use ouro_e2e::{ouro, stderr};

const PIPELINE: &str = r#"
out = "RUN"
[problems]
count = 1500
seed = 0
families = ["compose"]
targeted_filter = true
filter_tests = 12
[execute]
workers = 2
cpu_ms = 2000
[tokenizer]
vocab_size = 400
[model]
init = "small"
seed = 0
[seed_sft]
problems = 1000
[seed_sft.train]
max_length = 256
[seed_sft.train.optim]
lr = 3e-3
batch_size = 32
epochs = 6.0
schedule = "cosine"
warmup_steps = 10
progress = false
[iterate]
rounds = 1
samples_per_problem = 4
pool_problems = 60
datasets = ["sft", "dpo"]
pair_kinds = ["correctness"]
[iterate.sampling]
max_tokens = 64
[iterate.train]
max_length = 256
[iterate.train.optim]
lr = 1e-3
batch_size = 8
max_steps = 3
progress = false
[iterate.dpo]
max_length = 256
[iterate.dpo.optim]
lr = 1e-4
batch_size = 4
max_steps = 2
progress = false
[eval]
max_problems = 6
samples_per_problem = 2
k = [1, 2]
[eval.sampling]
max_tokens = 64
"#;

#[test]
fn dpo_rounds_audit_the_chosen_program_of_every_pair() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let path = dir.path().join("dpo.toml");
    std::fs::write(&path, PIPELINE.replace("RUN", &run.display().to_string())).unwrap();
    let p = path.display().to_string();
    let o = ouro(&["run", &p]);
    assert!(o.status.success(), "{}", stderr(&o));

    let pairs: Vec<DpoRecord> = ouro_data::shard::read_dir(run.join("round-01/dataset/dpo"))
        .unwrap_or_else(|e| panic!("round 1's dpo config: {e}\n{}", stderr(&o)));
    let chosen = pairs
        .iter()
        .filter(|r| r.chosen_sample_id.is_some())
        .count() as u64;
    assert!(
        chosen > 0,
        "round 1 built no pair from its samples, so nothing here is tested:\n{}",
        stderr(&o)
    );
    let first = RunReport::read(&run).unwrap();
    let r1 = &first.rounds[1];
    // The SFT rows' audit, which the tiny iteration (no passing sample) never exercises.
    let sft: Vec<ouro_data::SftRecord> =
        ouro_data::shard::read_dir(run.join("round-01/dataset/sft")).unwrap();
    let sampled = sft.iter().filter(|r| r.sample_id.is_some()).count() as u64;
    assert!(sampled > 0, "round 1 kept no sampled program");
    assert_eq!(r1.train_audited_rows, sampled, "audited SFT rows");
    assert!(r1
        .train_false_positive_rate
        .is_some_and(|v| (0.0..=1.0).contains(&v)));
    assert_eq!(r1.dpo_audited_pairs, chosen, "audited DPO pairs");
    let rate = r1.dpo_chosen_false_positive_rate.expect("a DPO audit rate");
    assert!((0.0..=1.0).contains(&rate), "{rate}");
    assert_eq!(first.rounds[0].dpo_chosen_false_positive_rate, None);
    assert!(r1.dpo_metrics.is_some(), "round 1 trained its DPO step");
    assert!(run
        .join("round-01/train-dpo/model/model.safetensors")
        .exists());

    // Each audited program is one of the pairs' chosen samples, judged by the
    // audit suite alone.
    let audited: Vec<ouro_data::Execution> =
        ouro_data::shard::read_dir(run.join("round-01/dpo-audit/executions")).unwrap();
    let ids: std::collections::HashSet<&str> = pairs
        .iter()
        .filter_map(|r| r.chosen_sample_id.as_deref())
        .collect();
    assert_eq!(audited.len(), ids.len());
    for e in &audited {
        assert_eq!(e.suite, ouro_data::Suite::Audit);
        assert!(ids.contains(e.sample_id.as_str()), "{}", e.sample_id);
    }
    let out = String::from_utf8_lossy(&o.stdout);
    let header = out.lines().find(|l| l.starts_with("round")).unwrap();
    assert!(header.contains("DPO FP"), "{out}");
    assert!(
        stderr(&o).contains("audited DPO pairs' chosen programs fail the audit tests"),
        "{}",
        stderr(&o)
    );

    // Lose the audit: the resume runs it again, to the same figures.
    std::fs::remove_dir_all(run.join("round-01/dpo-audit")).unwrap();
    let o = ouro(&["run", &p, "--resume"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let again = RunReport::read(&run).unwrap();
    assert_eq!(
        (
            again.rounds[1].dpo_chosen_false_positive_rate,
            again.rounds[1].dpo_audited_pairs
        ),
        (r1.dpo_chosen_false_positive_rate, r1.dpo_audited_pairs)
    );

    // The HTML report, rendered again by the command, has the column.
    let site = dir.path().join("site");
    let o = ouro(&[
        "report",
        &run.display().to_string(),
        "--out",
        &format!("{}/", site.display()),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let html = std::fs::read_to_string(site.join("report.html")).unwrap();
    assert!(
        html.contains("DPO chosen false pos."),
        "no DPO column in the report"
    );
}
