//! The decoder's weights by name, for the two hand-written training passes.

use candle_core::{DType, Tensor};

use super::Decoder;
use crate::lora::module_path as lora_module_path;

impl Decoder {
    /// Every weight by its HF name, for [`crate::train_pass`]; `None` where that pass does
    /// not apply (LoRA adapters attached, q/k norms, or not f32 on CPU).
    pub(crate) fn dense_params(&self) -> Option<Vec<(String, Tensor)>> {
        if self.has_lora || self.dtype != DType::F32 || !self.device.is_cpu() || self.cfg.qk_norm()
        {
            return None;
        }
        Some(self.generic_params())
    }

    /// The LoRA adapters attached to the projections, `(module path, A, B, scale)` in
    /// layer order (empty without adapters), for [`crate::tensor_pass`].
    pub(crate) fn adapter_pairs(&self) -> Vec<(String, Tensor, Tensor, f64)> {
        let mut v = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            let a = &l.attn;
            for (short, lin) in [
                ("q_proj", &a.q),
                ("k_proj", &a.k),
                ("v_proj", &a.v),
                ("o_proj", &a.o),
                ("gate_proj", &l.gate),
                ("up_proj", &l.up),
                ("down_proj", &l.down),
            ] {
                if let Some((la, lb, scale)) = &lin.lora {
                    let module = lora_module_path(i, short).expect("known module");
                    v.push((module, la.clone(), lb.clone(), *scale));
                }
            }
        }
        v
    }

    /// Every base weight by its HF name, for [`crate::tensor_pass`] (frozen ones included
    /// when adapters are attached).
    pub(crate) fn generic_params(&self) -> Vec<(String, Tensor)> {
        let mut v = vec![
            ("model.embed_tokens.weight".to_string(), self.embed.clone()),
            ("model.norm.weight".to_string(), self.norm.clone()),
        ];
        if !self.cfg.tie_word_embeddings {
            v.push(("lm_head.weight".into(), self.lm_head.clone()));
        }
        for (i, l) in self.layers.iter().enumerate() {
            let p = format!("model.layers.{i}");
            v.push((format!("{p}.input_layernorm.weight"), l.input_norm.clone()));
            v.push((
                format!("{p}.post_attention_layernorm.weight"),
                l.post_norm.clone(),
            ));
            for (name, w) in [("q_norm", &l.attn.q_norm), ("k_norm", &l.attn.k_norm)] {
                if let Some(w) = w {
                    v.push((format!("{p}.self_attn.{name}.weight"), w.clone()));
                }
            }
            for (name, lin) in [
                ("self_attn.q_proj", &l.attn.q),
                ("self_attn.k_proj", &l.attn.k),
                ("self_attn.v_proj", &l.attn.v),
                ("self_attn.o_proj", &l.attn.o),
                ("mlp.gate_proj", &l.gate),
                ("mlp.up_proj", &l.up),
                ("mlp.down_proj", &l.down),
            ] {
                v.push((format!("{p}.{name}.weight"), lin.w.clone()));
                if let Some(b) = &lin.b {
                    v.push((format!("{p}.{name}.bias"), b.clone()));
                }
            }
        }
        v
    }
}
