#![allow(dead_code)]
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use ouro_model::{init::init_varmap, Config, Decoder};

/// A config that switches on every optional tensor: q/k/v bias, q/k norm,
/// untied head, GQA.
pub fn full_featured_config() -> Config {
    let mut c = Config::tiny();
    c.model_type = "qwen3".into();
    c.architectures = vec!["Qwen3ForCausalLM".into()];
    c.vocab_size = 37;
    c.hidden_size = 16;
    c.intermediate_size = 24;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
    c.num_key_value_heads = Some(2);
    c.head_dim = Some(6);
    c.attention_bias = Some(true);
    c.tie_word_embeddings = false;
    c
}

pub fn build(cfg: &Config, seed: u64, dtype: DType) -> (VarMap, Decoder) {
    let dev = Device::Cpu;
    let vm = init_varmap(cfg, seed, dtype, &dev).unwrap();
    // Make norms and biases non-trivial so their gradients are exercised generically.
    {
        let data = vm.data().lock().unwrap();
        for (name, var) in data.iter() {
            if name.contains("norm") || name.ends_with(".bias") {
                let t = var.as_tensor();
                let noise = normal(t.shape(), 0.0, 0.1, name_salt(seed, name))
                    .to_dtype(dtype)
                    .unwrap();
                var.set(&(t + noise).unwrap()).unwrap();
            }
        }
    }
    let d = Decoder::new(cfg, VarBuilder::from_varmap(&vm, dtype, &dev)).unwrap();
    (vm, d)
}

/// Normal noise that is the same on every run for the same `salt`.
pub fn normal<S: Into<candle_core::Shape>>(shape: S, mean: f64, sd: f64, salt: u64) -> Tensor {
    ouro_model::init::seeded_normal(shape, (mean, sd), salt, &Device::Cpu).unwrap()
}

/// A salt for `normal` from a weight's name: a `VarMap`'s iteration order changes from
/// run to run, so a counter over it would not do.
pub fn name_salt(seed: u64, name: &str) -> u64 {
    name.bytes()
        .fold(seed, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01B3))
}

pub fn ids(b: usize, t: usize, vocab: usize, salt: u32) -> Tensor {
    let v: Vec<u32> = (0..b * t)
        .map(|i| (i as u32 * 7919 + salt * 104729) % vocab as u32)
        .collect();
    Tensor::from_vec(v, (b, t), &Device::Cpu).unwrap()
}

/// Decoders both hand-written passes cover, each switching on different features.
pub fn pass_configs() -> Vec<(&'static str, Config)> {
    let tiny = Config::tiny();
    let mut qwen2 = full_featured_config();
    qwen2.model_type = "qwen2".into();
    qwen2.architectures = vec!["Qwen2ForCausalLM".into()];
    qwen2.use_qk_norm = None;
    let mut llama_bias = Config::tiny();
    llama_bias.attention_bias = Some(true);
    llama_bias.tie_word_embeddings = false;
    llama_bias.rope_interleaved = Some(true);
    llama_bias.num_key_value_heads = Some(4);
    vec![
        ("tiny (tied, GQA)", tiny),
        ("qwen2 (qkv bias, untied, GQA, head_dim 6)", qwen2),
        ("llama (o bias, interleaved rope, MHA)", llama_bias),
    ]
}

/// Per-token loss coefficients with zeros among them (masked positions).
pub fn coef(b: usize, t: usize) -> Vec<f32> {
    (0..b * t)
        .map(|i| {
            if i % 5 == 3 {
                0.0
            } else {
                0.3 + (i % 7) as f32 * 0.1 - 0.25
            }
        })
        .collect()
}

/// Largest difference relative to `b`'s largest magnitude; infinite if `a` has a non-finite value.
pub fn max_rel(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    // f32::max ignores NaN, so an unwritten (NaN) buffer must fail explicitly.
    if a.iter().any(|x| !x.is_finite()) {
        return f32::INFINITY;
    }
    let scale = b.iter().fold(1e-6f32, |m, x| m.max(x.abs()));
    a.iter()
        .zip(b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
        / scale
}
