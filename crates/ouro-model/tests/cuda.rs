//! CPU against CUDA on a tiny random model: training logits and log-probs, and the
//! KV-cache decode path. Compiled only with `--features cuda`; skips (with a note)
//! where no GPU opens. Run: `cargo test -p ouro-model --features cuda --test cuda`.
#![cfg(feature = "cuda")]

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use ouro_model::{init::init_varmap, Config, Decoder, KvCache};

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

fn config() -> Config {
    let mut c = Config::tiny();
    c.vocab_size = 64;
    c
}

fn decoder(cfg: &Config, dev: &Device, dtype: DType) -> Decoder {
    // Weights are drawn on the host from the seed, so both devices hold the same ones.
    let vm = init_varmap(cfg, 7, DType::F32, &Device::Cpu).unwrap();
    let tensors = vm
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    Decoder::new(cfg, VarBuilder::from_tensors(tensors, dtype, dev)).unwrap()
}

fn ids(dev: &Device) -> Tensor {
    let v: Vec<u32> = (0..2 * 12).map(|i| (i * 37 % 61 + 2) as u32).collect();
    Tensor::from_vec(v, (2, 12), dev).unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    let a = a
        .to_dtype(DType::F32)
        .unwrap()
        .to_device(&Device::Cpu)
        .unwrap();
    let b = b
        .to_dtype(DType::F32)
        .unwrap()
        .to_device(&Device::Cpu)
        .unwrap();
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar()
        .unwrap()
}

#[test]
fn f32_logits_and_logprobs_match_the_cpu() {
    let Some(gpu) = gpu() else { return };
    let cfg = config();
    let (c, g) = (
        decoder(&cfg, &Device::Cpu, DType::F32),
        decoder(&cfg, &gpu, DType::F32),
    );
    let d = max_diff(
        &c.forward(&ids(&Device::Cpu)).unwrap(),
        &g.forward(&ids(&gpu)).unwrap(),
    );
    assert!(d < 1e-4, "logits differ by {d}");
    let tc = ids(&Device::Cpu).roll(-1, 1).unwrap();
    let tg = ids(&gpu).roll(-1, 1).unwrap();
    let lc = c.token_logprobs(&ids(&Device::Cpu), &tc).unwrap();
    let lg = g.token_logprobs(&ids(&gpu), &tg).unwrap();
    let d = max_diff(&lc, &lg);
    assert!(d < 1e-4, "log-probs differ by {d}");
    let lh = decoder(&cfg, &gpu, DType::BF16)
        .token_logprobs(&ids(&gpu), &tg)
        .unwrap();
    assert_eq!(lh.dtype(), DType::F32, "half log-probs come back in f32");
    let d = max_diff(&lc, &lh);
    // bf16 keeps 8 mantissa bits: log-probs near -4 move by a few hundredths.
    assert!(d < 0.2, "bf16 log-probs differ by {d}");
}

/// The tensor pass (the GPU's gradients) on CUDA against the same pass on the CPU, which
/// `tests/tensor_pass.rs` checks against autograd: log-probs and every weight's gradient.
#[test]
fn tensor_pass_matches_the_cpu() {
    use ouro_model::tensor_pass::TensorPass;
    let Some(gpu) = gpu() else { return };
    let cfg = config();
    let run = |dev: &Device| {
        let dec = decoder(&cfg, dev, DType::F32);
        let (ids, tg) = (ids(dev), ids(dev).roll(-1, 1).unwrap());
        let pass = TensorPass::forward(&dec, &ids, &tg).unwrap();
        let lp = pass.logprobs().clone();
        let coef =
            ((lp.ones_like().unwrap() * 0.5).unwrap() - lp.affine(0.01, 0.0).unwrap()).unwrap();
        let grads: std::collections::BTreeMap<String, Tensor> =
            pass.backward(&coef).unwrap().into_iter().collect();
        (lp, grads)
    };
    let ((lc, gc), (lg, gg)) = (run(&Device::Cpu), run(&gpu));
    let d = max_diff(&lc, &lg);
    assert!(d < 1e-4, "log-probs differ by {d}");
    assert_eq!(gc.len(), gg.len());
    for (name, c) in &gc {
        let scale = max_diff(c, &c.zeros_like().unwrap()).max(1e-6);
        let d = max_diff(c, &gg[name]) / scale;
        assert!(d < 1e-3, "{name}: gradients differ by {d} of their largest");
    }
}

#[test]
fn kv_cache_decode_matches_the_cpu() {
    let Some(gpu) = gpu() else { return };
    let cfg = config();
    let run = |dev: &Device| -> Vec<Tensor> {
        let d = decoder(&cfg, dev, DType::F32);
        let mut cache = KvCache::new();
        let prompt = ids(dev);
        let (b, t) = prompt.dims2().unwrap();
        let pos: Vec<Vec<u32>> = (0..b).map(|_| (0..t as u32).collect()).collect();
        let mut valid: Vec<Vec<bool>> = vec![vec![true; t]; b];
        let mut out = vec![d.forward_step(&prompt, &pos, &valid, &mut cache).unwrap()];
        for step in 0..4u32 {
            let next = Tensor::from_vec(vec![3 + step, 5 + step], (b, 1), dev).unwrap();
            valid.iter_mut().for_each(|r| r.push(true));
            let p: Vec<Vec<u32>> = (0..b).map(|_| vec![t as u32 + step]).collect();
            out.push(d.forward_step(&next, &p, &valid, &mut cache).unwrap());
        }
        out
    };
    for (i, (c, g)) in run(&Device::Cpu).iter().zip(run(&gpu)).enumerate() {
        let d = max_diff(c, &g);
        assert!(d < 1e-4, "step {i}: logits differ by {d}");
    }
}
