//! CPU against CUDA: the first SFT and DPO steps' losses (and the step after, so the
//! device optimiser is in the loop), f32 to 1e-4 and bf16 compute to 2e-2. Compiled only
//! with `--features cuda`; skips (with a note) where no GPU opens.
//! Run: `cargo test -p ouro-train --features cuda --test cuda`.
#![cfg(all(feature = "cuda", feature = "decoder"))]

mod common;

use candle_core::{DType, Device};
use common::{assert_losses as close, model};
use std::path::Path;

fn gpu() -> Option<Device> {
    // Opened as the commands open it, so parity covers that setting too.
    match ouro_model::device::open_cuda(0) {
        Ok(d) => Some(d),
        Err(e) => {
            eprintln!("skipping: no CUDA device 0 ({e})");
            None
        }
    }
}

fn sft_losses(m: &ouro_train::run::DecoderLm, out: &Path) -> Vec<f64> {
    common::sft_losses(m, out, 2)
}

fn dpo_losses(m: &ouro_train::run::DecoderLm, out: &Path) -> Vec<f64> {
    common::dpo_losses(m, out, 2)
}

#[test]
fn sft_steps_on_cuda_match_the_cpu() {
    let Some(gpu) = gpu() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cpu = sft_losses(&model(3, &Device::Cpu), &dir.path().join("cpu"));
    let f32 = sft_losses(&model(3, &gpu), &dir.path().join("cuda-f32"));
    close(&f32, &cpu, 1e-4, "sft cuda f32 vs cpu");
    let half = model(3, &gpu).with_compute_dtype(DType::BF16);
    let bf16 = sft_losses(&half, &dir.path().join("cuda-bf16"));
    close(&bf16, &cpu, 2e-2, "sft cuda bf16 vs cpu");
}

#[test]
fn dpo_steps_on_cuda_match_the_cpu() {
    let Some(gpu) = gpu() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cpu = dpo_losses(&model(5, &Device::Cpu), &dir.path().join("cpu"));
    let f32 = dpo_losses(&model(5, &gpu), &dir.path().join("cuda-f32"));
    close(&f32, &cpu, 1e-4, "dpo cuda f32 vs cpu");
    let half = model(5, &gpu).with_compute_dtype(DType::BF16);
    let bf16 = dpo_losses(&half, &dir.path().join("cuda-bf16"));
    close(&bf16, &cpu, 2e-2, "dpo cuda bf16 vs cpu");
}
