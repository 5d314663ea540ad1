//! The device-generic compositions (what a GPU and half precision run) against the fused
//! CPU kernels, on the CPU: same logits, log-probs and gradients in f32.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use ouro_model::{init::init_varmap, Config, Decoder};

fn pair() -> (candle_nn::VarMap, Decoder, Decoder) {
    let mut cfg = Config::tiny();
    cfg.vocab_size = 64;
    let dev = Device::Cpu;
    let vm = init_varmap(&cfg, 11, DType::F32, &dev).unwrap();
    let fused = Decoder::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
    let mut generic = Decoder::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
    generic.set_generic_ops(true);
    (vm, fused, generic)
}

fn ids() -> (Tensor, Tensor) {
    let v: Vec<u32> = (0..3 * 10).map(|i| (i * 37 % 61 + 2) as u32).collect();
    let ids = Tensor::from_vec(v, (3, 10), &Device::Cpu).unwrap();
    let tg = ids.roll(-1, 1).unwrap();
    (ids, tg)
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
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
fn generic_ops_give_the_fused_kernels_logits_logprobs_and_gradients() {
    let (vm, fused, generic) = pair();
    let (ids, tg) = ids();
    let d = max_diff(
        &fused.forward(&ids).unwrap(),
        &generic.forward(&ids).unwrap(),
    );
    assert!(d < 1e-5, "logits differ by {d}");
    let lf = fused.token_logprobs(&ids, &tg).unwrap();
    let lg = generic.token_logprobs(&ids, &tg).unwrap();
    assert!(max_diff(&lf, &lg) < 1e-5);
    let gf = lf.sum_all().unwrap().backward().unwrap();
    let gg = lg.sum_all().unwrap().backward().unwrap();
    for (name, var) in vm.data().lock().unwrap().iter() {
        let (a, b) = (gf.get(var.as_tensor()), gg.get(var.as_tensor()));
        let (a, b) = (a.expect(name), b.expect(name));
        let d = max_diff(a, b);
        assert!(d < 1e-4, "{name}: gradients differ by {d}");
    }
}

#[test]
fn bf16_log_probs_come_back_in_f32_near_the_f32_ones() {
    let (vm, fused, _) = pair();
    let (ids, tg) = ids();
    let half =
        ouro_model::checkpoint::compute_decoder(fused.config(), &vm, DType::BF16, &Device::Cpu)
            .unwrap();
    let lh = half.token_logprobs(&ids, &tg).unwrap();
    assert_eq!(lh.dtype(), DType::F32);
    let d = max_diff(&fused.token_logprobs(&ids, &tg).unwrap(), &lh);
    assert!(d < 0.1, "bf16 log-probs differ by {d}");
    // The cast is on the graph: gradients reach the f32 master vars.
    let g = lh.sum_all().unwrap().backward().unwrap();
    for (name, var) in vm.data().lock().unwrap().iter() {
        let gv = g.get(var.as_tensor()).expect(name);
        assert_eq!(gv.dtype(), DType::F32, "{name}");
    }
}

/// The generation step's device kernels (candle-nn's fused RMSNorm, softmax and rotary
/// embedding, plain attention), which a GPU runs, against the CPU's decode kernels:
/// a left-padded prompt, then single-token steps through the KV cache.
#[test]
fn generic_decode_kernels_give_the_cpu_decode_logits() {
    let (_, fused, generic) = pair();
    let dev = Device::Cpu;
    let run = |d: &Decoder| -> Vec<Tensor> {
        let mut cache = ouro_model::KvCache::new();
        let (b, t) = (2usize, 7usize);
        let prompt: Vec<u32> = (0..b * t).map(|i| (i * 13 % 59 + 3) as u32).collect();
        let prompt = Tensor::from_vec(prompt, (b, t), &dev).unwrap();
        // Row 0 is left-padded by two positions.
        let mut valid = vec![vec![true; t], vec![true; t]];
        valid[0][0] = false;
        valid[0][1] = false;
        let pos: Vec<Vec<u32>> = vec![
            (0..t as u32).map(|p| p.saturating_sub(2)).collect(),
            (0..t as u32).collect(),
        ];
        let mut out = vec![d.forward_step(&prompt, &pos, &valid, &mut cache).unwrap()];
        for step in 0..4u32 {
            let next = Tensor::from_vec(vec![3 + step, 9 + step], (b, 1), &dev).unwrap();
            valid.iter_mut().for_each(|r| r.push(true));
            let p = vec![vec![t as u32 - 2 + step], vec![t as u32 + step]];
            out.push(d.forward_step(&next, &p, &valid, &mut cache).unwrap());
        }
        out
    };
    for (i, (a, b)) in run(&fused).iter().zip(run(&generic)).enumerate() {
        let d = max_diff(a, &b);
        assert!(d < 1e-4, "step {i}: logits differ by {d}");
    }
}
