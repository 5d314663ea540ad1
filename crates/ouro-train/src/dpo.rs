//! Direct preference optimisation with TRL 1.16's losses, one concatenated forward pass
//! for chosen and rejected, and cached graph-free reference log-probs.

use candle_core::{Device, Tensor};
use ouro_data::DpoRecord;
use std::path::{Path, PathBuf};

use crate::config::{DpoConfig, DpoLossType, RowFit, RowText};
use crate::engine::{
    self, micro_batch_indices, pad_rows, token_logprobs, MicroResult, TrainReport,
};
use crate::error::{Result, TrainError};
use crate::loss::{dpo_loss, sequence_logp, DpoLossParams, DpoMetrics};
use crate::model::TrainableLm;
use crate::tokenize::{self, DpoExample, PrepStats, Prepared, TextTokenizer};

/// Tokenizes pairs; span emphasis is read from `chosen_spans` / `rejected_spans`.
pub fn prepare(
    tok: &TextTokenizer,
    rows: &[DpoRecord],
    text: RowText,
    cfg: &DpoConfig,
) -> Result<(Vec<DpoExample>, PrepStats)> {
    let mut stats = PrepStats {
        rows: rows.len(),
        ..PrepStats::default()
    };
    // TRL takes them too; they carry no gradient (the loss is ln 2 whatever the model).
    let same = rows.iter().filter(|r| r.chosen == r.rejected).count();
    if same > 0 {
        tracing::warn!(
            "{same} of {} pairs have the same chosen and rejected text: they train nothing",
            rows.len()
        );
    }
    let mut out = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let prep = tokenize::dpo_pair(
            tok,
            &r.prompt,
            (&r.chosen, &r.chosen_spans),
            (&r.rejected, &r.rejected_spans),
            RowFit {
                text,
                ..cfg.row_fit()
            },
            i,
        )
        .map_err(|m| TrainError::Example {
            index: i,
            problem_id: r.problem_id.clone(),
            field: "prompt, chosen or rejected",
            message: m,
        })?;
        match prep {
            Prepared::Keep(ex, truncated) => {
                stats.truncated += truncated as usize;
                out.push(ex);
            }
            Prepared::TooLong => stats.dropped_too_long += 1,
            Prepared::NoLossTokens => stats.dropped_no_loss_tokens += 1,
        }
    }
    stats.kept = out.len();
    Ok((out, stats))
}

/// Per-completion-token reference log-probs of every pair (0 for a completion token at
/// position 0, which nothing predicts).
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceLogps {
    pub chosen: Vec<Vec<f32>>,
    pub rejected: Vec<Vec<f32>>,
}

/// The `[2N, len]` concatenated batch: chosen rows first, then rejected rows.
struct PairBatch {
    ids: Tensor,
    targets: Tensor,
}

fn pair_batch(
    examples: &[DpoExample],
    idx: &[usize],
    pad: u32,
    device: &Device,
) -> Result<PairBatch> {
    let seqs: Vec<Vec<u32>> = idx
        .iter()
        .map(|&i| [examples[i].prompt.as_slice(), examples[i].chosen.as_slice()].concat())
        .chain(idx.iter().map(|&i| {
            [
                examples[i].prompt.as_slice(),
                examples[i].rejected.as_slice(),
            ]
            .concat()
        }))
        .collect();
    let len = seqs.iter().map(|s| s.len()).max().unwrap_or(2).max(2) - 1;
    let inputs: Vec<&[u32]> = seqs.iter().map(|s| &s[..s.len() - 1]).collect();
    let targets: Vec<&[u32]> = seqs.iter().map(|s| &s[1..]).collect();
    Ok(PairBatch {
        ids: pad_rows(&inputs, len, pad, device)?,
        targets: pad_rows(&targets, len, pad, device)?,
    })
}

/// Completion token `k` sits at absolute position `p + k` and is predicted at row
/// position `p + k - 1`.
fn completion_logps(row: &[f32], prompt_len: usize, n: usize) -> Vec<f32> {
    (0..n)
        .map(|k| {
            if prompt_len + k == 0 {
                0.0
            } else {
                row[prompt_len + k - 1]
            }
        })
        .collect()
}

/// Reference pass over all pairs with no autograd graph.
pub fn reference_logps(
    model: &dyn TrainableLm,
    examples: &[DpoExample],
    pad: u32,
    batch: usize,
) -> Result<ReferenceLogps> {
    let mut out = ReferenceLogps {
        chosen: Vec::new(),
        rejected: Vec::new(),
    };
    let device = model.device().clone();
    for chunk in (0..examples.len()).collect::<Vec<_>>().chunks(batch.max(1)) {
        let b = pair_batch(examples, chunk, pad, &device)?;
        let lp: Vec<Vec<f32>> = model
            .reference_logprobs(&b.ids, &b.targets)?
            .to_dtype(candle_core::DType::F32)?
            .to_vec2()?;
        for (r, &i) in chunk.iter().enumerate() {
            let e = &examples[i];
            out.chosen
                .push(completion_logps(&lp[r], e.prompt.len(), e.chosen.len()));
            out.rejected.push(completion_logps(
                &lp[chunk.len() + r],
                e.prompt.len(),
                e.rejected.len(),
            ));
        }
    }
    Ok(out)
}

/// Cache key: hash of the reference weights and of every pair's token ids.
pub fn reference_key(model: &dyn TrainableLm, examples: &[DpoExample]) -> Result<String> {
    let mut h = blake3::Hasher::new();
    for (name, v) in model.reference_vars() {
        h.update(name.as_bytes());
        let data: Vec<f32> = v
            .as_tensor()
            .flatten_all()?
            .to_dtype(candle_core::DType::F32)?
            .to_vec1()?;
        for x in data {
            h.update(&x.to_le_bytes());
        }
    }
    for e in examples {
        for part in [&e.prompt, &e.chosen, &e.rejected] {
            h.update(&(part.len() as u64).to_le_bytes());
            for t in part.iter() {
                h.update(&t.to_le_bytes());
            }
        }
    }
    Ok(h.finalize().to_hex()[..24].to_string())
}

/// A hash of cached reference log-probs: the cache outlives the run that wrote it, and
/// a changed value would shift every DPO margin silently.
fn checksum(chosen: &[f32], rejected: &[f32]) -> Vec<u8> {
    let mut h = blake3::Hasher::new();
    for x in chosen.iter().chain(rejected) {
        h.update(&x.to_le_bytes());
    }
    h.update(&(chosen.len() as u64).to_le_bytes());
    h.finalize().as_bytes().to_vec()
}

/// Loads cached reference log-probs from `cache_dir` (when their checksum holds) or
/// computes and stores them.
pub fn cached_reference_logps(
    model: &dyn TrainableLm,
    examples: &[DpoExample],
    pad: u32,
    batch: usize,
    cache_dir: &Path,
) -> Result<(ReferenceLogps, PathBuf, bool)> {
    let key = reference_key(model, examples)?;
    let path = cache_dir.join(format!("ref-logps-{key}.safetensors"));
    let unflatten = |flat: Vec<f32>, lens: Vec<usize>| -> Vec<Vec<f32>> {
        let mut at = 0;
        lens.into_iter()
            .map(|n| {
                at += n;
                flat[at - n..at].to_vec()
            })
            .collect()
    };
    if let Ok(map) = candle_core::safetensors::load(&path, &Device::Cpu) {
        if let (Some(c), Some(r), Some(sum)) =
            (map.get("chosen"), map.get("rejected"), map.get("checksum"))
        {
            let c: Vec<f32> = c.to_vec1()?;
            let r: Vec<f32> = r.to_vec1()?;
            let lc: Vec<usize> = examples.iter().map(|e| e.chosen.len()).collect();
            let lr: Vec<usize> = examples.iter().map(|e| e.rejected.len()).collect();
            let intact = sum.to_vec1::<u8>()? == checksum(&c, &r);
            if !intact {
                tracing::warn!(
                    "{}: reference log-probs do not match their checksum; recomputing them",
                    path.display()
                );
            }
            if intact && c.len() == lc.iter().sum::<usize>() && r.len() == lr.iter().sum::<usize>()
            {
                return Ok((
                    ReferenceLogps {
                        chosen: unflatten(c, lc),
                        rejected: unflatten(r, lr),
                    },
                    path,
                    true,
                ));
            }
        }
    }
    let refs = reference_logps(model, examples, pad, batch)?;
    std::fs::create_dir_all(cache_dir).map_err(|e| TrainError::io(cache_dir, e))?;
    let flat = |v: &Vec<Vec<f32>>| -> Result<Tensor> {
        let f: Vec<f32> = v.iter().flatten().copied().collect();
        let n = f.len();
        Ok(Tensor::from_vec(f, n, &Device::Cpu)?)
    };
    let (c, r) = (flat(&refs.chosen)?, flat(&refs.rejected)?);
    let sum = checksum(&c.to_vec1()?, &r.to_vec1()?);
    let map = std::collections::HashMap::from([
        ("chosen".to_string(), c),
        ("rejected".to_string(), r),
        (
            "checksum".to_string(),
            Tensor::from_vec(sum.clone(), sum.len(), &Device::Cpu)?,
        ),
    ]);
    let tmp = path.with_extension("tmp");
    candle_core::safetensors::save(&map, &tmp)?;
    std::fs::rename(&tmp, &path).map_err(|e| TrainError::io(&path, e))?;
    Ok((refs, path, false))
}

/// Loss, metrics and d loss / d token-logp for one concatenated micro-batch of `n` pairs.
/// `lp` holds `[2n][len]` policy token log-probs; rows `0..n` chosen, `n..2n` rejected.
pub struct DpoBatchLoss {
    pub loss: f64,
    pub coef: Vec<Vec<f32>>,
    pub metrics: DpoMetrics,
    pub tokens: u64,
}

/// TRL 1.16 DPO loss of a batch (mean over pairs, plus `rpo_alpha` x chosen NLL), divided
/// by `grad_accum`. `scale` is the span-weight scale of this step.
pub fn batch_loss(
    cfg: &DpoConfig,
    examples: &[DpoExample],
    idx: &[usize],
    refs: &ReferenceLogps,
    lp: &[Vec<f32>],
    scale: f64,
    grad_accum: usize,
) -> DpoBatchLoss {
    let n = idx.len();
    // Every row of the micro-batch is padded to one length.
    let len = lp.first().map_or(0, Vec::len);
    let eff = |w: f32| (1.0 + scale * (w as f64 - 1.0)) as f32;
    // Per row: weight at each row position (0 outside the completion).
    let mut wrows = vec![vec![0f32; len]; 2 * n];
    let (mut pc, mut pr, mut rc, mut rr, mut nc, mut nr) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for (r, &i) in idx.iter().enumerate() {
        let e = &examples[i];
        let p = e.prompt.len();
        for (side, comp, w, refl) in [
            (0, &e.chosen, &e.chosen_w, &refs.chosen[i]),
            (1, &e.rejected, &e.rejected_w, &refs.rejected[i]),
        ] {
            let row = side * n + r;
            let mut ref_seq = 0.0f64;
            for k in 0..comp.len() {
                if p + k == 0 {
                    continue;
                }
                let we = eff(w[k]);
                wrows[row][p + k - 1] = we;
                ref_seq += we as f64 * refl[k] as f64;
            }
            let seq = sequence_logp(&lp[row], &wrows[row]);
            if side == 0 {
                pc.push(seq);
                rc.push(ref_seq);
                nc.push(comp.len() as f64);
            } else {
                pr.push(seq);
                rr.push(ref_seq);
                nr.push(comp.len() as f64);
            }
        }
    }
    let params = DpoLossParams {
        beta: cfg.beta,
        loss_type: cfg.loss_type,
        label_smoothing: cfg.label_smoothing,
    };
    let l = dpo_loss(&params, &pc, &pr, &rc, &rr, &nc, &nr);
    let ga = grad_accum.max(1) as f64;
    let mut loss = l.losses.iter().sum::<f64>() / n as f64;
    let mut coef: Vec<Vec<f32>> = wrows
        .iter()
        .enumerate()
        .map(|(row, w)| {
            let d = if row < n {
                l.dchosen[row]
            } else {
                l.drejected[row - n]
            } / n as f64
                / ga;
            w.iter().map(|&w| (d * w as f64) as f32).collect()
        })
        .collect();
    if let Some(alpha) = cfg.rpo_alpha {
        // TRL "sft" loss term: mean -logp over all chosen completion tokens of the batch.
        let mask =
            |row: usize, t: usize| wrows[row][t] != 0.0 || chosen_label(examples, idx, row, t);
        let count: usize = (0..n)
            .map(|row| (0..len).filter(|&t| mask(row, t)).count())
            .sum();
        let count = count.max(1) as f64;
        let mut nll = 0.0;
        for row in 0..n {
            for t in 0..len {
                if mask(row, t) {
                    nll -= lp[row][t] as f64;
                    coef[row][t] += (-alpha / count / ga) as f32;
                }
            }
        }
        loss += alpha * nll / count;
    }
    let tokens = (nc.iter().sum::<f64>() + nr.iter().sum::<f64>()) as u64;
    DpoBatchLoss {
        loss: loss / ga,
        coef,
        metrics: DpoMetrics::from_pairs(&l, &pc, &pr),
        tokens,
    }
}

/// Whether row position `t` of chosen row `row` predicts a completion token (weights may
/// be 0 there, which still counts as a token for the NLL term).
fn chosen_label(examples: &[DpoExample], idx: &[usize], row: usize, t: usize) -> bool {
    let e = &examples[idx[row]];
    t + 1 >= e.prompt.len() && t + 1 < e.prompt.len() + e.chosen.len() && t + 1 > 0
}

/// Concatenated forward pass (chosen rows, then rejected rows) and loss of micro-batch `idx`.
#[allow(clippy::too_many_arguments)]
pub fn micro_batch(
    model: &dyn TrainableLm,
    cfg: &DpoConfig,
    examples: &[DpoExample],
    idx: &[usize],
    refs: &ReferenceLogps,
    pad_id: u32,
    scale: f64,
    grad_accum: usize,
    device: &Device,
) -> Result<MicroResult> {
    let b = pair_batch(examples, idx, pad_id, device)?;
    let logps = token_logprobs(model, &b.ids, &b.targets)?;
    let bl = batch_loss(cfg, examples, idx, refs, &logps.host, scale, grad_accum);
    Ok(MicroResult {
        gradient: logps.gradient(bl.coef)?,
        loss: bl.loss,
        tokens: bl.tokens,
        dpo: Some(bl.metrics),
    })
}

/// Trains `model` with DPO on tokenized pairs against `refs`.
pub fn train_examples(
    model: &dyn TrainableLm,
    examples: &[DpoExample],
    refs: &ReferenceLogps,
    pad_id: u32,
    cfg: &DpoConfig,
    out: &Path,
    stop_after: Option<u64>,
) -> Result<TrainReport> {
    if examples.is_empty() {
        return Err(TrainError::EmptyDataset {
            path: out.to_path_buf(),
            detail: "no pairs after tokenization".into(),
        });
    }
    if cfg.loss_type != DpoLossType::Robust && cfg.label_smoothing > 0.0 {
        // TRL 1.x reads it for robust DPO only (0.x smoothed the sigmoid loss too).
        tracing::warn!(
            "label_smoothing = {} changes nothing with loss_type = {:?}: only \"robust\" reads it",
            cfg.label_smoothing,
            cfg.loss_type
        );
    }
    if cfg.loss_type == DpoLossType::Robust && cfg.label_smoothing >= 0.5 {
        return Err(TrainError::Config {
            path: out.to_path_buf(),
            message: "robust DPO needs label_smoothing < 0.5".into(),
        });
    }
    let o = &cfg.optim;
    let (n, bs) = (examples.len(), o.batch_size.max(1));
    let total = engine::total_steps(o, n);
    let device = model.device().clone();
    let mut micro = |step: u64, j: usize| -> Result<MicroResult> {
        let ks = engine::step_micro_batches(o, n, step);
        // The mean over the step's micro-batches, as many as it has.
        let ga = (ks.end - ks.start) as usize;
        let idx = micro_batch_indices(n, bs, o.seed, ks.start + j as u64);
        micro_batch(
            model,
            cfg,
            examples,
            &idx,
            refs,
            pad_id,
            cfg.weights.scale_at(step),
            ga,
            &device,
        )
    };
    // Prompt, chosen and rejected of each pair, each with its weights (no loss mask).
    let sequences = examples.iter().flat_map(|e| {
        [
            (&e.prompt[..], &[][..], &[][..]),
            (&e.chosen[..], &[][..], &e.chosen_w[..]),
            (&e.rejected[..], &[][..], &e.rejected_w[..]),
        ]
    });
    let identity = crate::checkpoint::RunIdentity {
        config: crate::sft::config_hash(cfg),
        data: crate::sft::examples_hash(sequences),
    };
    engine::run(
        model, o, &identity, out, n, total, stop_after, "dpo", &mut micro,
    )
}
