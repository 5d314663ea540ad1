//! Supervised fine-tuning: completion-only or assistant-only loss, span weights,
//! optional packing; loss = weighted token sum / loss tokens of the whole optimiser step.

use ouro_data::{RepairRecord, SftRecord};
use std::path::Path;

use crate::config::{RowFit, RowText, SftConfig};
use crate::engine::{
    self, micro_batch_indices, pad_rows, token_logprobs, MicroResult, TrainReport,
};
use crate::error::{Result, TrainError};
use crate::loss::sft_loss;
use crate::model::TrainableLm;
use crate::tokenize::{self, PrepStats, Prepared, SftExample, TextTokenizer};

/// SFT input rows.
#[derive(Debug, Clone)]
pub enum SftRows {
    /// TRL prompt/completion, strings or a conversation rendered into them:
    /// completion-only loss (or full loss when `completion_only_loss = false`).
    PromptCompletion(Vec<SftRecord>),
    /// TRL conversational `messages`: assistant-only loss.
    Messages(Vec<RepairRecord>),
}

/// Tokenizes rows; too-long rows are truncated or dropped as configured and counted.
pub fn prepare(
    tok: &TextTokenizer,
    rows: &SftRows,
    text: RowText,
    cfg: &SftConfig,
) -> Result<(Vec<SftExample>, PrepStats)> {
    let mut stats = PrepStats::default();
    let mut out = Vec::new();
    let mut push = |r: std::result::Result<Prepared<SftExample>, String>,
                    i: usize,
                    problem_id: &str,
                    field: &'static str,
                    stats: &mut PrepStats|
     -> Result<()> {
        match r.map_err(|m| TrainError::Example {
            index: i,
            problem_id: problem_id.into(),
            field,
            message: m,
        })? {
            Prepared::Keep(ex, truncated) => {
                stats.truncated += truncated as usize;
                out.push(ex);
            }
            Prepared::TooLong => stats.dropped_too_long += 1,
            Prepared::NoLossTokens => stats.dropped_no_loss_tokens += 1,
        }
        Ok(())
    };
    match rows {
        SftRows::PromptCompletion(recs) => {
            stats.rows = recs.len();
            for (i, r) in recs.iter().enumerate() {
                let prep = tokenize::sft_prompt_completion(
                    tok,
                    &r.prompt,
                    (&r.completion, &r.weight_spans),
                    RowFit {
                        text,
                        ..cfg.row_fit()
                    },
                    i,
                );
                push(prep, i, &r.problem_id, "prompt or completion", &mut stats)?;
            }
        }
        SftRows::Messages(recs) => {
            stats.rows = recs.len();
            for (i, r) in recs.iter().enumerate() {
                if !r.messages.iter().any(|m| m.role == "assistant") {
                    return Err(TrainError::Example {
                        index: i,
                        problem_id: r.problem_id.clone(),
                        field: "messages",
                        message: format!(
                            "no assistant message to train on (roles: {})",
                            r.messages
                                .iter()
                                .map(|m| m.role.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    });
                }
                let prep = tokenize::sft_messages(
                    tok,
                    &r.messages,
                    cfg.assistant_turns,
                    cfg.max_length,
                    cfg.overflow,
                    i,
                );
                push(prep, i, &r.problem_id, "messages", &mut stats)?;
            }
        }
    }
    stats.kept = out.len();
    Ok((out, stats))
}

/// Greedy packing in order: examples are concatenated into rows of at most `max_length`
/// tokens. Each token keeps its own loss mask and weight, except an example's first
/// token, which is no label (it would be predicted from the example before it; TRL's
/// padding-free packing masks it too). Unlike TRL's, rows attend across example
/// boundaries and positions run on (no per-example attention or position reset).
pub fn pack(examples: &[SftExample], max_length: usize) -> Vec<SftExample> {
    let mut rows: Vec<SftExample> = Vec::new();
    let mut cur = SftExample {
        ids: vec![],
        mask: vec![],
        span_w: vec![],
        index: 0,
    };
    for ex in examples {
        if !cur.ids.is_empty() && cur.ids.len() + ex.ids.len() > max_length {
            rows.push(std::mem::replace(
                &mut cur,
                SftExample {
                    ids: vec![],
                    mask: vec![],
                    span_w: vec![],
                    index: rows.len() + 1,
                },
            ));
        }
        let first = cur.mask.len();
        cur.ids.extend_from_slice(&ex.ids);
        cur.mask.extend_from_slice(&ex.mask);
        cur.span_w.extend_from_slice(&ex.span_w);
        if let Some(m) = cur.mask.get_mut(first) {
            *m = false;
        }
    }
    if !cur.ids.is_empty() {
        rows.push(cur);
    }
    rows
}

/// Hash of prepared sequences (ids, loss mask, weights), in training order.
pub(crate) fn examples_hash<'a>(
    sequences: impl Iterator<Item = (&'a [u32], &'a [bool], &'a [f32])>,
) -> String {
    let mut h = blake3::Hasher::new();
    for (ids, mask, weights) in sequences {
        h.update(&(ids.len() as u64).to_le_bytes());
        let bytes: Vec<u8> = ids.iter().flat_map(|i| i.to_le_bytes()).collect();
        h.update(&bytes);
        let mask: Vec<u8> = mask.iter().map(|&m| m as u8).collect();
        h.update(&(mask.len() as u64).to_le_bytes());
        h.update(&mask);
        let w: Vec<u8> = weights.iter().flat_map(|w| w.to_le_bytes()).collect();
        h.update(&(weights.len() as u64).to_le_bytes());
        h.update(&w);
    }
    h.finalize().to_hex().to_string()
}

/// Hash of the settings that shape the loss curve (resume refuses a different one).
pub fn config_hash<T: serde::Serialize>(cfg: &T) -> String {
    let mut v = serde_json::to_value(cfg).expect("config serializes");
    if let Some(o) = v.get_mut("optim").and_then(|o| o.as_object_mut()) {
        o.remove("progress");
        o.remove("save_every");
        o.remove("save_every_s");
        o.remove("save_total_limit");
    }
    blake3::hash(v.to_string().as_bytes()).to_hex()[..16].to_string()
}

/// Per-position weights of a micro-batch row, aligned with targets `ids[1..]`.
fn row_weights(ex: &SftExample, len: usize, scale: f64) -> Vec<f32> {
    (0..len)
        .map(|t| match (ex.mask.get(t + 1), ex.span_w.get(t + 1)) {
            (Some(true), Some(&w)) => (1.0 + scale * (w as f64 - 1.0)) as f32,
            _ => 0.0,
        })
        .collect()
}

/// Forward + loss of one micro-batch `idx`: loss tokens are normalised by `num_items`,
/// the loss-token count of the whole optimiser step.
pub fn micro_batch(
    model: &dyn TrainableLm,
    examples: &[SftExample],
    idx: &[usize],
    pad_id: u32,
    scale: f64,
    num_items: f64,
    device: &candle_core::Device,
) -> Result<MicroResult> {
    let len = idx
        .iter()
        .map(|&i| examples[i].ids.len())
        .max()
        .unwrap_or(2)
        - 1;
    let inputs: Vec<&[u32]> = idx
        .iter()
        .map(|&i| &examples[i].ids[..examples[i].ids.len() - 1])
        .collect();
    let targets: Vec<&[u32]> = idx.iter().map(|&i| &examples[i].ids[1..]).collect();
    let weights: Vec<Vec<f32>> = idx
        .iter()
        .map(|&i| row_weights(&examples[i], len, scale))
        .collect();
    let tokens = weights.iter().flatten().filter(|&&w| w != 0.0).count() as u64;
    let ids = pad_rows(&inputs, len, pad_id, device)?;
    let tg = pad_rows(&targets, len, pad_id, device)?;
    let logps = token_logprobs(model, &ids, &tg)?;
    let l = sft_loss(&logps.host, &weights, num_items);
    Ok(MicroResult {
        gradient: logps.gradient(l.coef)?,
        loss: l.loss,
        tokens,
        dpo: None,
    })
}

/// Trains `model` on tokenized examples, writing checkpoints and metrics to `out`.
/// `stop_after` ends this invocation after that many total steps (for resumable jobs).
pub fn train_examples(
    model: &dyn TrainableLm,
    examples: &[SftExample],
    pad_id: u32,
    cfg: &SftConfig,
    out: &Path,
    stop_after: Option<u64>,
) -> Result<TrainReport> {
    if examples.is_empty() {
        return Err(TrainError::EmptyDataset {
            path: out.to_path_buf(),
            detail: "no examples after tokenization".into(),
        });
    }
    let packed;
    let examples = if cfg.packing {
        packed = pack(examples, cfg.max_length);
        &packed[..]
    } else {
        examples
    };
    let o = &cfg.optim;
    let (n, bs) = (examples.len(), o.batch_size.max(1));
    let total = engine::total_steps(o, n);
    let mut step_items: (u64, f64) = (u64::MAX, 0.0);
    let device = model.device().clone();
    let mut micro = |step: u64, j: usize| -> Result<MicroResult> {
        let ks = engine::step_micro_batches(o, n, step);
        if step_items.0 != step {
            let count: usize = ks
                .clone()
                .flat_map(|k| micro_batch_indices(n, bs, o.seed, k))
                .map(|i| examples[i].mask[1..].iter().filter(|&&m| m).count())
                .sum();
            step_items = (step, count.max(1) as f64);
        }
        let idx = micro_batch_indices(n, bs, o.seed, ks.start + j as u64);
        micro_batch(
            model,
            examples,
            &idx,
            pad_id,
            cfg.weights.scale_at(step),
            step_items.1,
            &device,
        )
    };
    let identity = crate::checkpoint::RunIdentity {
        config: config_hash(cfg),
        data: examples_hash(
            examples
                .iter()
                .map(|e| (&e.ids[..], &e.mask[..], &e.span_w[..])),
        ),
    };
    engine::run(
        model, o, &identity, out, n, total, stop_after, "sft", &mut micro,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packed_examples_first_token_is_no_label() {
        let ex = |ids: Vec<u32>| SftExample {
            mask: vec![true; ids.len()],
            span_w: vec![1.0; ids.len()],
            ids,
            index: 0,
        };
        let rows = pack(&[ex(vec![1, 2]), ex(vec![3, 4, 5]), ex(vec![6, 7])], 5);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].ids, vec![1, 2, 3, 4, 5]);
        // Token 3 would be predicted from example 1's last token.
        assert_eq!(rows[0].mask, vec![false, true, false, true, true]);
        assert_eq!(rows[1].ids, vec![6, 7]);
        assert_eq!(rows[1].mask, vec![false, true]);
    }
}
