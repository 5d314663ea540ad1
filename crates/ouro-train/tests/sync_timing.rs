//! `OURO_SYNC_TIMING` (set by `gpu_step`): every step's metrics split it into
//! forward, backward and optimiser phases that add up to the step, and the
//! losses are those of a run without it. Its own test binary, because the
//! switch is a process-wide environment variable.

mod common;

use candle_core::Device;

fn metrics(dir: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn synchronised_steps_report_their_phases() {
    let dev = Device::Cpu;
    let plain = tempfile::tempdir().unwrap();
    let plain_losses = common::sft_losses(&common::model(3, &dev), plain.path(), 3);
    assert!(metrics(plain.path())
        .iter()
        .all(|m| m.get("forward_s").is_none() && m.get("backward_s").is_none()));
    std::env::set_var("OURO_SYNC_TIMING", "1");
    for generic in [false, true] {
        let mut model = common::model(3, &dev);
        if generic {
            model = model.with_generic();
        }
        let out = tempfile::tempdir().unwrap();
        let losses = common::sft_losses(&model, out.path(), 3);
        if !generic {
            assert_eq!(losses, plain_losses);
        }
        for m in metrics(out.path()) {
            let f = |k: &str| m[k].as_f64().unwrap_or_else(|| panic!("{k}: {m}"));
            let phases = f("forward_s") + f("backward_s") + f("optim_s");
            assert!(phases > 0.0 && phases <= f("step_s") * 1.0001 + 1e-6, "{m}");
        }
    }
}
