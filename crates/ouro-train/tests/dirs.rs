//! The directory entry points with the real `ouro_model` decoder: shards in, HF model out.
#![cfg(feature = "decoder")]

use candle_core::{DType, Device};
use ouro_data::{DpoRecord, PairKind, SftRecord};
use ouro_train::config::{DpoConfig, OptimConfig, SftConfig};
use ouro_train::tokenize::char_tokenizer;
use ouro_train::TrainError;
use std::path::Path;

fn model_dir(dir: &Path) {
    model_dir_short_by(dir, 0);
}

/// A model whose embedding holds `missing` fewer rows than its tokenizer has ids.
fn model_dir_short_by(dir: &Path, missing: usize) {
    let tok = char_tokenizer("abcdefghijklmnopqrstuvwxyz =()+:");
    let mut cfg = ouro_model::Config::tiny();
    cfg.vocab_size = tok.tokenizer.get_vocab_size(true) - missing;
    cfg.eos_token_id = Some(1.into());
    let vm = ouro_model::init::init_varmap(&cfg, 0, DType::F32, &Device::Cpu).unwrap();
    ouro_model::checkpoint::save(dir, &cfg, &vm, Some(&tok.tokenizer)).unwrap();
}

fn quick() -> OptimConfig {
    OptimConfig {
        lr: 1e-3,
        max_steps: 3,
        batch_size: 2,
        progress: false,
        ..OptimConfig::default()
    }
}

fn sft_rows() -> Vec<SftRecord> {
    (0..4)
        .map(|i| SftRecord {
            prompt: format!("def f{i}(x):"),
            completion: " return x+1".into(),
            problem_id: format!("p{i}"),
            sample_id: None,
            round: 0,
            origin: "reference".into(),
            score: None,
            weight_spans: vec![],
        })
        .collect()
}

/// [`sft_rows`] trained for a few steps on a model `missing` ids short of its tokenizer,
/// in `tmp`; the output directory is `tmp/out`.
fn train_sft_rows(
    tmp: &Path,
    missing: usize,
) -> Result<(ouro_train::TrainReport, ouro_train::tokenize::PrepStats), TrainError> {
    model_dir_short_by(&tmp.join("m"), missing);
    std::fs::create_dir_all(tmp.join("d")).unwrap();
    ouro_data::shard::write_records(tmp.join("d/part-00000.parquet"), &sft_rows()).unwrap();
    let cfg = SftConfig {
        optim: quick(),
        ..SftConfig::default()
    };
    ouro_train::run::train_sft(&cfg, &tmp.join("m"), &tmp.join("d"), &tmp.join("out"))
}

#[test]
fn sft_from_shards_writes_a_loadable_model_metrics_and_curve() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let (report, stats) = train_sft_rows(tmp.path(), 0).unwrap();
    assert_eq!((report.steps, stats.kept), (3, 4));
    assert!(report.final_loss.is_finite());
    assert!(out.join("loss.svg").exists() && out.join("metrics.jsonl").exists());
    ouro_model::checkpoint::load(out.join("model"), &Device::Cpu).unwrap();
}

#[test]
fn dpo_from_shards_runs_and_sft_on_dpo_shards_names_the_missing_column() {
    let tmp = tempfile::tempdir().unwrap();
    model_dir(&tmp.path().join("m"));
    std::fs::create_dir_all(tmp.path().join("d")).unwrap();
    let rows: Vec<DpoRecord> = (0..4)
        .map(|i| DpoRecord {
            prompt: format!("def f{i}(x):"),
            chosen: " return x+1".into(),
            rejected: " return x".into(),
            problem_id: format!("p{i}"),
            chosen_sample_id: None,
            rejected_sample_id: None,
            round: 0,
            pair_kind: PairKind::Correctness,
            chosen_score: None,
            rejected_score: None,
            chosen_spans: vec![],
            rejected_spans: vec![],
        })
        .collect();
    ouro_data::shard::write_records(tmp.path().join("d/part-00000.parquet"), &rows).unwrap();
    let cfg = DpoConfig {
        optim: quick(),
        ..DpoConfig::default()
    };
    let (report, _) = ouro_train::run::train_dpo(
        &cfg,
        &tmp.path().join("m"),
        &tmp.path().join("d"),
        &tmp.path().join("o"),
    )
    .unwrap();
    assert_eq!(report.steps, 3);
    assert!(report.last.unwrap().dpo.is_some());

    let err = ouro_train::run::train_sft(
        &SftConfig {
            optim: quick(),
            ..SftConfig::default()
        },
        &tmp.path().join("m"),
        &tmp.path().join("d"),
        &tmp.path().join("o2"),
    )
    .unwrap_err();
    assert!(matches!(err, TrainError::Data { .. }), "{err}");
    assert!(
        err.to_string().contains("not a SFT dataset: found columns")
            && err.to_string().contains("chosen")
            && err.to_string().contains("prompt + completion"),
        "{err}"
    );
    assert!(
        !tmp.path().join("o2").exists(),
        "no output for rejected input"
    );
}

#[test]
fn a_tokenizer_past_the_models_vocabulary_is_an_error_naming_the_row_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    // Ids 31..34 (`)`, `+`, `:`) have no embedding row.
    let err = train_sft_rows(tmp.path(), 3).unwrap_err();
    let out = tmp.path().join("out");
    assert!(matches!(err, TrainError::Data { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("d/part-00000.parquet: row 1 (problem p0)")
            && msg.contains("token id 31 (\")\")")
            && msg.contains("vocabulary size 31")
            && msg.contains("does not match the checkpoint"),
        "{msg}"
    );
    assert!(!out.join("model").exists(), "nothing trained");
}

/// TRL appends `tokenizer.eos_token`: `tokenizer_config.json`'s, which Llama 3.x Instruct
/// sets to `<|eot_id|>` while config.json's first id is `<|end_of_text|>`. The config's
/// id is only the fallback.
#[test]
fn completions_end_with_the_tokenizer_configs_eos_token() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    model_dir(&dir);
    let eos = |dir: &Path| {
        ouro_train::run::DecoderLm::load(dir, &Device::Cpu)
            .unwrap()
            .text_tokenizer()
            .unwrap()
            .eos_token
    };
    assert_eq!(eos(&dir).as_deref(), Some("<eos>"), "config.json's id 1");
    std::fs::write(
        dir.join("tokenizer_config.json"),
        r#"{"eos_token": {"content": "<unk>", "special": true}}"#,
    )
    .unwrap();
    assert_eq!(eos(&dir).as_deref(), Some("<unk>"));
    // Without an id in config.json, the tokenizer config's token is still appended.
    let config = dir.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    cfg.as_object_mut().unwrap().remove("eos_token_id");
    std::fs::write(&config, cfg.to_string()).unwrap();
    assert_eq!(eos(&dir).as_deref(), Some("<unk>"));
}
