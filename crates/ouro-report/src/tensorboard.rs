//! TensorBoard event files, for users who watch runs there (`--report-to
//! tensorboard`, as TRL's `report_to`).
//!
//! An event file is a TFRecord stream of `Event` protocol buffers: each record
//! is its length (u64, little-endian), a masked CRC-32C of the length, the
//! bytes, and a masked CRC-32C of the bytes. The first event carries
//! `file_version = "brain.Event:2"`; the others a step, a wall time and a
//! `Summary` of scalar values. The few proto fields this needs are encoded by
//! hand rather than pulling in a protobuf toolchain.
//!
//! Files are written whole from what a run has on disk (`metrics.jsonl`,
//! `report.json`), so a resumed run rewrites them rather than appending twice.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// One scalar point.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    pub tag: String,
    pub step: i64,
    pub value: f32,
}

/// The directory event files go to, under a training or run directory (TRL
/// writes `output_dir/runs/...` too).
pub const EVENTS_DIR: &str = "runs";

/// Writes `scalars` as the only event file in `dir` (earlier ouro event files
/// there are replaced). Returns its path.
pub fn write_scalars(dir: &Path, scalars: &[Scalar]) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let mut bytes = Vec::new();
    record(&mut bytes, &event(now, 0, Some("brain.Event:2"), None));
    for s in scalars {
        record(&mut bytes, &event(now, s.step, None, Some(s)));
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with("events.out.tfevents.") && name.ends_with(".ouro") {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    let path = dir.join(format!(
        "events.out.tfevents.{}.{}.ouro",
        now as u64,
        std::process::id()
    ));
    let tmp = dir.join(format!(".events-{}.tmp", std::process::id()));
    std::fs::write(&tmp, &bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Scalars of a trainer's `metrics.jsonl`: every numeric field of each step as
/// `train/<field>` (`lr` as `train/learning_rate`, TRL's name), at `step + offset`.
pub fn train_scalars(metrics: &Path, offset: i64) -> Result<Vec<Scalar>> {
    let text = std::fs::read_to_string(metrics)
        .with_context(|| format!("reading {}", metrics.display()))?;
    let mut out = Vec::new();
    for line in text.lines() {
        // A torn last line of a killed run is skipped, as the HTML report does.
        let Ok(serde_json::Value::Object(m)) = serde_json::from_str(line) else {
            continue;
        };
        let Some(step) = m.get("step").and_then(|s| s.as_i64()) else {
            continue;
        };
        for (k, v) in &m {
            let Some(x) = v.as_f64() else { continue };
            if k == "step" {
                continue;
            }
            let name = if k == "lr" {
                "learning_rate"
            } else {
                k.as_str()
            };
            out.push(Scalar {
                tag: format!("train/{name}"),
                step: step + offset,
                value: x as f32,
            });
        }
    }
    Ok(out)
}

/// `ouro train --report-to tensorboard`: `OUT/metrics.jsonl` into `OUT/runs/`.
pub fn export_train(out: &Path) -> Result<PathBuf> {
    let scalars = train_scalars(&out.join("metrics.jsonl"), 0)?;
    write_scalars(&out.join(EVENTS_DIR), &scalars)
}

/// `ouro run --report-to tensorboard`: per round (the step), `eval/pass@k`,
/// `eval/false_positive_rate`, `data/train_false_positive_rate`,
/// `data/dpo_chosen_false_positive_rate` (rounds with a DPO step) and
/// `data/<config>_rows` from `report.json`, the
/// control arm's `control/pass@k`, and every round's training steps as
/// `train/*` (SFT) and `train_dpo/*` on one step axis across rounds.
pub fn export_run(run_dir: &Path) -> Result<PathBuf> {
    let path = run_dir.join("report.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let report: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    let mut out = Vec::new();
    let rounds = report["rounds"].as_array().cloned().unwrap_or_default();
    for r in &rounds {
        let Some(round) = r["round"].as_i64() else {
            continue;
        };
        let mut push = |tag: String, v: &serde_json::Value| {
            if let Some(x) = v.as_f64() {
                out.push(Scalar {
                    tag,
                    step: round,
                    value: x as f32,
                });
            }
        };
        if let Some(ks) = r["pass_at_k"].as_object() {
            for (k, v) in ks {
                push(format!("eval/{k}"), v);
            }
        }
        push("eval/false_positive_rate".into(), &r["false_positive_rate"]);
        push(
            "data/train_false_positive_rate".into(),
            &r["train_false_positive_rate"],
        );
        push(
            "data/dpo_chosen_false_positive_rate".into(),
            &r["dpo_chosen_false_positive_rate"],
        );
        if let Some(counts) = r["data_counts"].as_object() {
            for (k, v) in counts {
                push(format!("data/{k}_rows"), v);
            }
        }
    }
    for r in report["control"].as_array().into_iter().flatten() {
        let Some(round) = r["round"].as_i64() else {
            continue;
        };
        for (k, v) in r["pass_at_k"].as_object().into_iter().flatten() {
            if let Some(x) = v.as_f64() {
                out.push(Scalar {
                    tag: format!("control/{k}"),
                    step: round,
                    value: x as f32,
                });
            }
        }
    }
    // Training steps continue across rounds, so the curves join up.
    for (key, prefix) in [("sft_metrics", "train/"), ("dpo_metrics", "train_dpo/")] {
        let mut offset = 0;
        for r in &rounds {
            let Some(file) = r[key]
                .as_str()
                .and_then(|rel| crate::metrics::in_run(run_dir, rel))
            else {
                continue;
            };
            if !file.exists() {
                continue;
            }
            let steps = train_scalars(&file, offset)?;
            offset = steps.iter().map(|s| s.step).max().unwrap_or(offset);
            out.extend(steps.into_iter().map(|mut s| {
                s.tag = s.tag.replacen("train/", prefix, 1);
                s
            }));
        }
    }
    write_scalars(&run_dir.join(EVENTS_DIR), &out)
}

fn record(out: &mut Vec<u8>, data: &[u8]) {
    let len = (data.len() as u64).to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
}

/// `Event { wall_time = 1; step = 2; file_version = 3; summary = 5 }`, with
/// `Summary { repeated Value value = 1 }` and `Value { tag = 1; simple_value = 2 }`.
fn event(
    wall_time: f64,
    step: i64,
    file_version: Option<&str>,
    scalar: Option<&Scalar>,
) -> Vec<u8> {
    let mut e = Vec::new();
    e.push(1 << 3 | 1); // field 1, 64-bit
    e.extend_from_slice(&wall_time.to_le_bytes());
    if step != 0 {
        e.push(2 << 3); // field 2, varint
        varint(&mut e, step as u64);
    }
    if let Some(v) = file_version {
        bytes_field(&mut e, 3, v.as_bytes());
    }
    if let Some(s) = scalar {
        let mut value = Vec::new();
        bytes_field(&mut value, 1, s.tag.as_bytes());
        value.push(2 << 3 | 5); // field 2, 32-bit
        value.extend_from_slice(&s.value.to_le_bytes());
        let mut summary = Vec::new();
        bytes_field(&mut summary, 1, &value);
        bytes_field(&mut e, 5, &summary);
    }
    e
}

fn bytes_field(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    varint(out, field << 3 | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn varint(out: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        out.push((x as u8) | 0x80);
        x >>= 7;
    }
    out.push(x as u8);
}

/// TFRecord's masked CRC-32C.
fn masked_crc(data: &[u8]) -> u32 {
    let c = crc32c(data);
    (c.rotate_right(15)).wrapping_add(0xa282_ead8)
}

/// CRC-32C (Castagnoli), bit-reflected, as TFRecord checks it.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_its_check_value() {
        // The standard check value of CRC-32C over "123456789".
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn varints_encode_as_protobuf_does() {
        let mut v = Vec::new();
        varint(&mut v, 300);
        assert_eq!(v, [0xac, 0x02]);
    }

    #[test]
    fn metrics_lines_become_train_scalars() {
        let d = tempfile::tempdir().unwrap();
        let m = d.path().join("metrics.jsonl");
        std::fs::write(
            &m,
            "{\"step\": 1, \"loss\": 2.5, \"lr\": 0.001}\n{\"step\": 2, \"loss\": 2.0, \"lr\": 0.0005}\n{\"step\": 3, \"lo",
        )
        .unwrap();
        let s = train_scalars(&m, 10).unwrap();
        assert_eq!(s.len(), 4, "the torn line is skipped");
        assert!(s.contains(&Scalar {
            tag: "train/learning_rate".into(),
            step: 12,
            value: 0.0005
        }));
        let f = write_scalars(&d.path().join("runs"), &s).unwrap();
        let again = write_scalars(&d.path().join("runs"), &s).unwrap();
        let files: Vec<_> = std::fs::read_dir(d.path().join("runs")).unwrap().collect();
        assert_eq!(files.len(), 1, "a rewrite replaces the earlier file");
        assert!(again.exists() && (f == again || !f.exists()));
    }
}
