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
                let noise = Tensor::randn(0.0, 0.1, t.shape(), &dev)
                    .unwrap()
                    .to_dtype(dtype)
                    .unwrap();
                var.set(&(t + noise).unwrap()).unwrap();
            }
        }
    }
    let d = Decoder::new(cfg, VarBuilder::from_varmap(&vm, dtype, &dev)).unwrap();
    (vm, d)
}

pub fn ids(b: usize, t: usize, vocab: usize, salt: u32) -> Tensor {
    let v: Vec<u32> = (0..b * t)
        .map(|i| (i as u32 * 7919 + salt * 104729) % vocab as u32)
        .collect();
    Tensor::from_vec(v, (b, t), &Device::Cpu).unwrap()
}
