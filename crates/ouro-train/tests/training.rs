//! End-to-end behaviour of the trainer on a toy bigram model.

use candle_core::{Device, Tensor, Var};
use ouro_data::{DpoRecord, PairKind, SftRecord};
use ouro_train::config::{
    DpoConfig, DpoLossType, LrSchedule, OptimConfig, Overflow, RowText, SftConfig,
};
use ouro_train::model::{BigramLm, TrainableLm};
use ouro_train::tokenize::{char_tokenizer, TextTokenizer};
use ouro_train::{dpo, sft, TrainError};
use std::path::Path;

/// SFT rows of plain strings, tokenized.
fn prepare_plain(
    t: &TextTokenizer,
    rows: Vec<ouro_data::SftRecord>,
    cfg: &SftConfig,
) -> (
    Vec<ouro_train::tokenize::SftExample>,
    ouro_train::tokenize::PrepStats,
) {
    sft::prepare(
        t,
        &sft::SftRows::PromptCompletion(rows),
        RowText::Plain,
        cfg,
    )
    .unwrap()
}

fn tok() -> TextTokenizer {
    char_tokenizer("abcdefghijklmnopqrstuvwxyz")
}

fn sft_rec(prompt: &str, completion: &str) -> SftRecord {
    SftRecord {
        prompt: prompt.into(),
        completion: completion.into(),
        problem_id: format!("p-{prompt}"),
        sample_id: None,
        round: 0,
        origin: "reference".into(),
        score: None,
        weight_spans: vec![],
    }
}

fn dpo_rec(prompt: &str, chosen: &str, rejected: &str) -> DpoRecord {
    DpoRecord {
        prompt: prompt.into(),
        chosen: chosen.into(),
        rejected: rejected.into(),
        problem_id: format!("p-{prompt}"),
        chosen_sample_id: None,
        rejected_sample_id: None,
        round: 0,
        pair_kind: PairKind::Correctness,
        chosen_score: None,
        rejected_score: None,
        chosen_spans: vec![],
        rejected_spans: vec![],
    }
}

fn optim(steps: u64, lr: f64) -> OptimConfig {
    OptimConfig {
        lr,
        max_steps: steps,
        batch_size: 2,
        grad_accum: 2,
        warmup_steps: 2,
        schedule: LrSchedule::Cosine,
        weight_decay: 0.01,
        progress: false,
        ..OptimConfig::default()
    }
}

fn params(m: &BigramLm) -> Vec<Vec<f32>> {
    m.vars()
        .iter()
        .map(|(_, v)| v.as_tensor().flatten_all().unwrap().to_vec1().unwrap())
        .collect()
}

fn sft_data() -> Vec<SftRecord> {
    vec![
        sft_rec("a", "bc"),
        sft_rec("d", "ef"),
        sft_rec("g", "hi"),
        sft_rec("j", "kl"),
        sft_rec("m", "no"),
    ]
}

#[test]
fn resumed_run_equals_uninterrupted_run_bitwise() {
    let t = tok();
    let cfg = SftConfig {
        optim: optim(20, 0.05),
        max_length: 16,
        ..SftConfig::default()
    };
    let (ex, _) = prepare_plain(&t, sft_data(), &cfg);
    let dir = tempfile::tempdir().unwrap();

    let straight = BigramLm::new(30, 8, 1, &Device::Cpu).unwrap();
    let r =
        sft::train_examples(&straight, &ex, t.pad_id, &cfg, &dir.path().join("a"), None).unwrap();
    assert_eq!(r.steps, 20);

    let first = BigramLm::new(30, 8, 1, &Device::Cpu).unwrap();
    let r1 =
        sft::train_examples(&first, &ex, t.pad_id, &cfg, &dir.path().join("b"), Some(10)).unwrap();
    assert_eq!(r1.steps, 10);
    // A fresh process: new model with the initial weights, state comes from the checkpoint.
    let second = BigramLm::new(30, 8, 1, &Device::Cpu).unwrap();
    let r2 =
        sft::train_examples(&second, &ex, t.pad_id, &cfg, &dir.path().join("b"), None).unwrap();
    assert_eq!(r2.resumed_from, Some(10));
    assert_eq!(r2.steps, 20);
    assert_eq!(
        params(&straight),
        params(&second),
        "parameters differ after resume"
    );
    let a = std::fs::read_to_string(dir.path().join("a/metrics.jsonl")).unwrap();
    let b = std::fs::read_to_string(dir.path().join("b/metrics.jsonl")).unwrap();
    let losses = |s: &str| -> Vec<f64> {
        s.lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["loss"]
                    .as_f64()
                    .unwrap()
            })
            .collect()
    };
    assert_eq!(losses(&a), losses(&b));
    assert!(dir.path().join("a/loss.svg").exists());
    // Run again, finished: nothing is trained, and the summary is still the run's
    // (it had become a final loss of NaN and no last step).
    let again = BigramLm::new(30, 8, 1, &Device::Cpu).unwrap();
    let r3 = sft::train_examples(&again, &ex, t.pad_id, &cfg, &dir.path().join("b"), None).unwrap();
    assert_eq!((r3.resumed_from, r3.steps), (Some(20), 20));
    assert_eq!(r3.final_loss, r2.final_loss);
    assert_eq!(r3.last.map(|m| m.step), Some(20));
}

#[test]
fn sft_overfits_a_small_set_to_near_zero_loss() {
    let t = tok();
    let mut o = optim(150, 0.1);
    o.warmup_steps = 0;
    o.schedule = LrSchedule::Constant;
    o.max_grad_norm = 0.0;
    o.weight_decay = 0.0;
    let cfg = SftConfig {
        optim: o,
        max_length: 16,
        ..SftConfig::default()
    };
    let (ex, stats) = prepare_plain(&t, sft_data(), &cfg);
    assert_eq!(stats.kept, 5);
    let m = BigramLm::new(30, 16, 3, &Device::Cpu).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let r = sft::train_examples(&m, &ex, t.pad_id, &cfg, dir.path(), None).unwrap();
    assert!(r.final_loss < 0.02, "final loss {}", r.final_loss);
}

#[test]
fn dpo_learns_a_separable_preference_set() {
    let t = tok();
    let rows: Vec<DpoRecord> = ["a", "b", "c", "d", "e", "f", "g", "h"]
        .iter()
        .map(|p| dpo_rec(p, "xy", "zw"))
        .collect();
    for lt in [
        DpoLossType::Sigmoid,
        DpoLossType::Ipo,
        DpoLossType::Hinge,
        DpoLossType::Robust,
    ] {
        let mut o = optim(40, 0.05);
        o.batch_size = 8;
        o.grad_accum = 1;
        let cfg = DpoConfig {
            optim: o,
            loss_type: lt,
            label_smoothing: 0.1,
            rpo_alpha: Some(0.1),
            ..DpoConfig::default()
        };
        let (ex, _) = dpo::prepare(&t, &rows, RowText::Plain, &cfg).unwrap();
        let m = BigramLm::new(30, 8, 5, &Device::Cpu).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (refs, cache, hit) =
            dpo::cached_reference_logps(&m, &ex, t.pad_id, 4, dir.path()).unwrap();
        assert!(!hit);
        let (_, cache2, hit2) =
            dpo::cached_reference_logps(&m, &ex, t.pad_id, 4, dir.path()).unwrap();
        assert!(hit2 && cache == cache2);
        // A value changed under the file's old checksum is caught and recomputed.
        let mut map = candle_core::safetensors::load(&cache, &Device::Cpu).unwrap();
        let mut c: Vec<f32> = map["chosen"].to_vec1().unwrap();
        c[0] -= 1.0;
        let n = c.len();
        map.insert(
            "chosen".into(),
            Tensor::from_vec(c, n, &Device::Cpu).unwrap(),
        );
        candle_core::safetensors::save(&map, &cache).unwrap();
        let (again, _, hit3) =
            dpo::cached_reference_logps(&m, &ex, t.pad_id, 4, dir.path()).unwrap();
        assert!(!hit3 && again.chosen == refs.chosen);
        let r = dpo::train_examples(
            &m,
            &ex,
            &refs,
            t.pad_id,
            &cfg,
            &dir.path().join("out"),
            None,
        )
        .unwrap();
        let last = r.last.unwrap().dpo.unwrap();
        assert!(last.rewards_accuracies >= 0.95, "{lt:?}: {last:?}");
        assert!(last.rewards_margins > 0.0, "{lt:?}");
        let line = std::fs::read_to_string(&r.metrics).unwrap();
        assert!(line.contains("\"rewards/accuracies\"") && line.contains("\"logps/rejected\""));
    }
}

#[test]
fn empty_dataset_is_a_clear_error() {
    let t = tok();
    let cfg = SftConfig {
        optim: optim(2, 0.01),
        ..SftConfig::default()
    };
    let (ex, _) = prepare_plain(&t, vec![], &cfg);
    let m = BigramLm::new(30, 8, 1, &Device::Cpu).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = sft::train_examples(&m, &ex, t.pad_id, &cfg, dir.path(), None).unwrap_err();
    assert!(matches!(err, TrainError::EmptyDataset { .. }), "{err}");
}

#[test]
fn overlong_examples_are_truncated_or_dropped_and_counted() {
    let t = tok();
    let rows = vec![sft_rec("abcdefghij", "kl"), sft_rec("a", "b")];
    let mut cfg = SftConfig {
        max_length: 6,
        ..SftConfig::default()
    };
    let (ex, stats) = prepare_plain(&t, rows.clone(), &cfg);
    // Truncation removes every completion token of the first row: dropped as no-loss.
    assert_eq!(
        (stats.kept, stats.dropped_no_loss_tokens, ex.len()),
        (1, 1, 1)
    );
    cfg.overflow = Overflow::Drop;
    let (_, stats) = prepare_plain(&t, rows, &cfg);
    assert_eq!((stats.kept, stats.dropped_too_long), (1, 1));
    let rows = vec![sft_rec("ab", "cdefghij")];
    let cfg = SftConfig {
        max_length: 6,
        ..SftConfig::default()
    };
    let (ex, stats) = prepare_plain(&t, rows, &cfg);
    assert_eq!((stats.truncated, ex[0].ids.len()), (1, 6));
}

/// Wraps a model and returns NaN log-probs from the `after`-th call on.
struct NanAfter {
    inner: BigramLm,
    calls: std::cell::Cell<usize>,
    after: usize,
}

impl TrainableLm for NanAfter {
    fn token_logprobs(&self, ids: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor> {
        self.calls.set(self.calls.get() + 1);
        let lp = self.inner.token_logprobs(ids, targets)?;
        if self.calls.get() > self.after {
            lp * f64::NAN
        } else {
            Ok(lp)
        }
    }
    fn vars(&self) -> Vec<(String, Var)> {
        self.inner.vars()
    }
    fn device(&self) -> &Device {
        self.inner.device()
    }
    fn save(&self, dir: &Path) -> ouro_train::Result<()> {
        self.inner.save(dir)
    }
}

#[test]
fn nan_loss_stops_training_naming_the_step_and_leaves_no_partial_checkpoint() {
    let t = tok();
    let mut o = optim(10, 0.01);
    o.save_every = 2;
    let cfg = SftConfig {
        optim: o,
        max_length: 16,
        ..SftConfig::default()
    };
    let (ex, _) = prepare_plain(&t, sft_data(), &cfg);
    let m = NanAfter {
        inner: BigramLm::new(30, 8, 1, &Device::Cpu).unwrap(),
        calls: 0.into(),
        after: 6,
    };
    let dir = tempfile::tempdir().unwrap();
    let err = sft::train_examples(&m, &ex, t.pad_id, &cfg, dir.path(), None).unwrap_err();
    // Batches of 2 make 3 micro-batches an epoch; with grad_accum 2 the steps take
    // 2, 1, 2, 1, ... of them (an epoch's last step no more than it has left), so
    // calls 7.. are NaN from step 5's first micro-batch.
    assert!(
        matches!(
            err,
            TrainError::NonFiniteLoss {
                step: 5,
                micro: 0,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("step 5"));
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec!["checkpoint-000002", "checkpoint-000004", "metrics.jsonl"]
    );
}

#[test]
fn save_total_limit_keeps_the_newest_checkpoints_and_a_resume_may_change_it() {
    let t = tok();
    let mut o = optim(5, 0.01);
    o.save_every = 1;
    o.save_total_limit = 2;
    let mut cfg = SftConfig {
        optim: o,
        max_length: 16,
        ..SftConfig::default()
    };
    let (ex, _) = prepare_plain(&t, sft_data(), &cfg);
    let dir = tempfile::tempdir().unwrap();
    let model = || BigramLm::new(30, 8, 1, &Device::Cpu).unwrap();
    let checkpoints = || {
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into())
            .filter(|n: &String| n.starts_with("checkpoint-"))
            .collect();
        names.sort();
        names
    };
    sft::train_examples(&model(), &ex, t.pad_id, &cfg, dir.path(), Some(3)).unwrap();
    assert_eq!(
        checkpoints(),
        vec!["checkpoint-000002", "checkpoint-000003"]
    );
    // Not a setting of the loss curve: the run resumes with another limit.
    cfg.optim.save_total_limit = 1;
    let r = sft::train_examples(&model(), &ex, t.pad_id, &cfg, dir.path(), None).unwrap();
    assert_eq!(r.resumed_from, Some(3));
    assert_eq!(checkpoints(), vec!["checkpoint-000005"]);
}

#[test]
fn a_resume_on_other_data_or_other_start_weights_is_refused() {
    let t = tok();
    let cfg = SftConfig {
        optim: optim(6, 0.05),
        max_length: 16,
        ..SftConfig::default()
    };
    let prep = |rows| prepare_plain(&t, rows, &cfg).0;
    let ex = prep(sft_data());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let model = || BigramLm::new(30, 8, 1, &Device::Cpu).unwrap();
    sft::train_examples(&model(), &ex, t.pad_id, &cfg, &out, Some(3)).unwrap();

    let mut other = sft_data();
    other[0] = sft_rec("a", "cb");
    let e = sft::train_examples(&model(), &prep(other), t.pad_id, &cfg, &out, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("was trained on other data") && e.contains("checkpoint-000003"),
        "{e}"
    );

    let elsewhere = BigramLm::new(30, 8, 2, &Device::Cpu).unwrap();
    let e = sft::train_examples(&elsewhere, &ex, t.pad_id, &cfg, &out, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("started from other weights than --model's"),
        "{e}"
    );

    // The same inputs resume.
    let r = sft::train_examples(&model(), &ex, t.pad_id, &cfg, &out, None).unwrap();
    assert_eq!((r.resumed_from, r.steps), (Some(3), 6));
}
