//! The decoder's weights by name, for the two hand-written training passes, and its
//! projections by role.

use candle_core::{DType, Tensor};

use super::{Decoder, Layer, Lin};

/// `model.layers.{i}.self_attn.q_proj` and the like: the HF module path of a projection
/// by its short (PEFT target) name.
fn module_path(layer: usize, short: &str) -> String {
    crate::lora::module_path(layer, short).expect("one of lora::TARGETS")
}

impl Layer {
    /// The seven projections by their short names, in `lora::TARGETS` order.
    pub(super) fn projections(&self) -> [(&'static str, &Lin); 7] {
        let a = &self.attn;
        [
            ("q_proj", &a.q),
            ("k_proj", &a.k),
            ("v_proj", &a.v),
            ("o_proj", &a.o),
            ("gate_proj", &self.gate),
            ("up_proj", &self.up),
            ("down_proj", &self.down),
        ]
    }

    /// [`Layer::projections`], mutable.
    pub(super) fn projections_mut(&mut self) -> [(&'static str, &mut Lin); 7] {
        let a = &mut self.attn;
        [
            ("q_proj", &mut a.q),
            ("k_proj", &mut a.k),
            ("v_proj", &mut a.v),
            ("o_proj", &mut a.o),
            ("gate_proj", &mut self.gate),
            ("up_proj", &mut self.up),
            ("down_proj", &mut self.down),
        ]
    }
}

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
            for (short, lin) in l.projections() {
                if let Some((la, lb, scale)) = &lin.lora {
                    v.push((module_path(i, short), la.clone(), lb.clone(), *scale));
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
            for (short, lin) in l.projections() {
                let module = module_path(i, short);
                v.push((format!("{module}.weight"), lin.w.clone()));
                if let Some(b) = &lin.b {
                    v.push((format!("{module}.bias"), b.clone()));
                }
            }
        }
        v
    }
}
