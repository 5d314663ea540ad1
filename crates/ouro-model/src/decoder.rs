//! The decoder: a plain struct with `forward`, built from a [`Config`] and a
//! `VarBuilder` whose tensor names are Hugging Face's.
//!
//! Two paths share the layer code: the training forward over all positions
//! ([`Decoder::forward`], [`Decoder::token_logprobs`]) and the generation step
//! with a KV cache ([`Decoder::forward_step`]).

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::VarBuilder;

use std::sync::Arc;

use crate::config::Config;
use crate::decode_attention::{decode_attention, decode_rope};
use crate::fused::{causal_softmax, rope_heads, RopeTables};
pub use crate::kv_cache::KvCache;
use crate::kv_cache::LayerCache;
use crate::lora::{module_path as lora_module_path, LoraAdapters};
use crate::ops::{apply_rope, attention_bias, linear, rope_tables};

mod generic;
mod lin;
mod params;

use lin::{project, project_all, Lin};

/// Upper bound on `rows * vocab` elements of one logits chunk in [`Decoder::token_logprobs`].
const LOGPROB_CHUNK_ELEMS: usize = 1 << 22;

struct Attention {
    q: Lin,
    k: Lin,
    v: Lin,
    o: Lin,
    q_norm: Option<Tensor>,
    k_norm: Option<Tensor>,
}

struct Layer {
    input_norm: Tensor,
    attn: Attention,
    post_norm: Tensor,
    gate: Lin,
    up: Lin,
    down: Lin,
}

/// A Llama / Qwen2 / Qwen3 decoder-only transformer.
pub struct Decoder {
    cfg: Config,
    embed: Tensor,
    layers: Vec<Layer>,
    norm: Tensor,
    lm_head: Tensor,
    /// 8-bit copy of `lm_head` for sampling ([`Decoder::quantize_for_sampling`]).
    lm_head_q8: Option<Arc<crate::q8::Q8Matrix>>,
    inv_freq: Vec<f64>,
    dtype: DType,
    device: Device,
    has_lora: bool,
    fused_attention: bool,
    /// Device-generic compositions instead of the fused CPU kernels (`generic.rs`).
    generic_ops: bool,
}

fn get(vb: &VarBuilder, cfg_shapes: &[(String, Vec<usize>)], name: &str) -> Result<Tensor> {
    let shape = cfg_shapes
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, s)| s.clone())
        .ok_or_else(|| candle_core::Error::Msg(format!("internal: no shape for {name}")))?;
    vb.get(shape, name)
}

impl Decoder {
    /// Builds the decoder from `vb`, which must hold every tensor of
    /// [`Config::parameter_shapes`] (a `VarMap`-backed builder creates them,
    /// which is how training gets its variables).
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Decoder> {
        cfg.validate(std::path::Path::new("<config>"))
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        let shapes = cfg.parameter_shapes();
        let g = |n: &str| get(&vb, &shapes, n);
        let opt = |n: String, on: bool| -> Result<Option<Tensor>> {
            if on {
                Ok(Some(get(&vb, &shapes, &n)?))
            } else {
                Ok(None)
            }
        };
        let embed = g("model.embed_tokens.weight")?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let p = format!("model.layers.{i}");
            let a = format!("{p}.self_attn");
            let proj = |name: &str, bias: bool| -> Result<Lin> {
                Ok(Lin::new(
                    g(&format!("{a}.{name}.weight"))?,
                    opt(format!("{a}.{name}.bias"), bias)?,
                ))
            };
            let attn = Attention {
                q: proj("q_proj", cfg.qkv_bias())?,
                k: proj("k_proj", cfg.qkv_bias())?,
                v: proj("v_proj", cfg.qkv_bias())?,
                o: proj("o_proj", cfg.o_bias())?,
                q_norm: opt(format!("{a}.q_norm.weight"), cfg.qk_norm())?,
                k_norm: opt(format!("{a}.k_norm.weight"), cfg.qk_norm())?,
            };
            layers.push(Layer {
                input_norm: g(&format!("{p}.input_layernorm.weight"))?,
                attn,
                post_norm: g(&format!("{p}.post_attention_layernorm.weight"))?,
                gate: Lin::new(g(&format!("{p}.mlp.gate_proj.weight"))?, None),
                up: Lin::new(g(&format!("{p}.mlp.up_proj.weight"))?, None),
                down: Lin::new(g(&format!("{p}.mlp.down_proj.weight"))?, None),
            });
        }
        let norm = g("model.norm.weight")?;
        let lm_head = if cfg.tie_word_embeddings {
            embed.clone()
        } else {
            g("lm_head.weight")?
        };
        Ok(Decoder {
            cfg: cfg.clone(),
            inv_freq: cfg.inv_freq(),
            dtype: embed.dtype(),
            device: embed.device().clone(),
            embed,
            layers,
            norm,
            lm_head,
            lm_head_q8: None,
            has_lora: false,
            fused_attention: true,
            generic_ops: false,
        })
    }

    /// Adds LoRA adapters to the projections they target and freezes every base weight
    /// (gradients reach only the adapters from then on). Every layer must have an
    /// adapter for every target module of `adapters.config`.
    pub fn attach_lora(&mut self, adapters: &LoraAdapters) -> Result<()> {
        let scale = adapters.config.scale();
        self.embed = self.embed.detach();
        self.norm = self.norm.detach();
        self.lm_head = self.lm_head.detach();
        self.lm_head_q8 = None;
        for (i, l) in self.layers.iter_mut().enumerate() {
            l.input_norm = l.input_norm.detach();
            l.post_norm = l.post_norm.detach();
            l.attn.q_norm = l.attn.q_norm.as_ref().map(|w| w.detach());
            l.attn.k_norm = l.attn.k_norm.as_ref().map(|w| w.detach());
            for (short, lin) in l.projections_mut() {
                lin.freeze();
                lin.lora = None;
                if !adapters.config.target_modules.iter().any(|t| t == short) {
                    continue;
                }
                let module = lora_module_path(i, short).expect("known module");
                let (la, lb) = adapters.pair(&module).ok_or_else(|| {
                    candle_core::Error::Msg(format!("lora adapters have no {module}"))
                })?;
                lin.lora = Some((la, lb, scale));
            }
        }
        self.has_lora = true;
        Ok(())
    }

    /// Gives every projection and the LM head an 8-bit (Q8_0) copy that the generation
    /// step uses instead of the f32 weights: about a quarter of the bytes per token.
    /// A copy of the weights as they are now, for a decoder that only samples: later
    /// updates to the weights do not reach it. Only f32 weights on the CPU whose
    /// input width is a multiple of 32 are quantized; returns how many were.
    pub fn quantize_for_sampling(&mut self) -> Result<usize> {
        let mut n = 0;
        let mut quantize = |w: &Tensor| -> Result<Option<Arc<crate::q8::Q8Matrix>>> {
            let q = crate::q8::Q8Matrix::from_tensor(w)?.map(Arc::new);
            n += q.is_some() as usize;
            Ok(q)
        };
        self.lm_head_q8 = quantize(&self.lm_head)?;
        for l in &mut self.layers {
            for (_, lin) in l.projections_mut() {
                lin.q8 = quantize(&lin.w)?;
            }
        }
        Ok(n)
    }

    pub(crate) fn inv_freq(&self) -> &[f64] {
        &self.inv_freq
    }

    /// Whether [`Decoder::attach_lora`] was called.
    pub fn has_lora(&self) -> bool {
        self.has_lora
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Training forward: `input_ids [B, T] u32` -> logits `[B, T, V]` for every position.
    pub fn forward(&self, input_ids: &Tensor) -> Result<Tensor> {
        self.forward_masked(input_ids, None)
    }

    /// Like [`Decoder::forward`] for padded batches. `attention_mask [B, T]`
    /// (u32/u8/f32, 1 = token, 0 = padding) hides padding keys. Positions are
    /// `0..T` for every row, so pad on the right: the causal mask already keeps
    /// real tokens from seeing right padding, and outputs at padding positions
    /// are meaningless.
    pub fn forward_masked(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        let h = self.hidden_states(input_ids, attention_mask)?;
        linear(&h, &self.lm_head, None)
    }

    /// Final hidden states `[B, T, hidden]` (after the last RMSNorm).
    pub fn hidden_states(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        self.hidden(input_ids, attention_mask, true)
    }

    /// Uses the fused CPU attention kernels in training forwards (`true`, the default) or
    /// the composition of plain candle ops (the reference the fused path is tested against).
    pub fn set_fused_attention(&mut self, on: bool) {
        self.fused_attention = on;
    }

    fn hidden(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        adapters: bool,
    ) -> Result<Tensor> {
        let (b, t) = input_ids.dims2()?;
        let key_valid = match attention_mask {
            Some(m) => Some(mask_rows(m, b, t)?),
            None => None,
        };
        let fused = self.fused_attention
            && self.device.is_cpu()
            && matches!(self.dtype, DType::F32 | DType::F64);
        let kind = if fused {
            PassKind::Fused {
                rope: RopeTables::new(&self.inv_freq, t, self.cfg.interleaved_rope()),
                key_valid: key_valid.map(Arc::new),
            }
        } else {
            let positions: Vec<u32> = (0..t as u32).collect();
            let (cos, sin) = rope_tables(&self.inv_freq, &positions, self.dtype, &self.device)?;
            let bias = attention_bias(t, 0, key_valid.as_deref(), self.dtype, &self.device)?;
            PassKind::Plain {
                cos,
                sin,
                bias: Some(bias),
            }
        };
        let pass = Pass {
            adapters,
            no_grad: false,
            kind,
        };
        let mut x = self.embed_ids(input_ids)?;
        for layer in &self.layers {
            x = self.layer_forward(layer, &x, &pass, None)?;
        }
        self.rms(&x, &self.norm, self.cfg.rms_norm_eps)
    }

    fn embed_ids(&self, ids: &Tensor) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        self.embed
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((b, t, self.cfg.hidden_size))
    }

    /// Per-token log-probabilities `log p(targets[b,t] | input_ids[b, ..=t])`,
    /// `[B, T]`, differentiable. The vocabulary projection and log-softmax run in
    /// row chunks of at most ~4M logits, so the forward never holds `[B, T, V]`
    /// at once. Every target must be a valid token id; mask unwanted positions
    /// afterwards (e.g. use 0 as a placeholder target and multiply by a mask).
    pub fn token_logprobs(&self, input_ids: &Tensor, targets: &Tensor) -> Result<Tensor> {
        self.token_logprobs_masked(input_ids, targets, None)
    }

    /// [`Decoder::token_logprobs`] with a right-padding `attention_mask [B, T]`.
    pub fn token_logprobs_masked(
        &self,
        input_ids: &Tensor,
        targets: &Tensor,
        attention_mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        self.logprobs(input_ids, targets, attention_mask, true)
    }

    /// [`Decoder::token_logprobs_masked`] of the base model: LoRA adapters bypassed (the
    /// same as `token_logprobs_masked` when none are attached). This is DPO's reference.
    pub fn token_logprobs_base(
        &self,
        input_ids: &Tensor,
        targets: &Tensor,
        attention_mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        self.logprobs(input_ids, targets, attention_mask, false)
    }

    fn logprobs(
        &self,
        input_ids: &Tensor,
        targets: &Tensor,
        attention_mask: Option<&Tensor>,
        adapters: bool,
    ) -> Result<Tensor> {
        let (b, t) = input_ids.dims2()?;
        let h = self.hidden(input_ids, attention_mask, adapters)?;
        let n = b * t;
        let h = h.reshape((n, self.cfg.hidden_size))?;
        let targets = targets.flatten_all()?.to_dtype(DType::U32)?;
        if targets.dim(0)? != n {
            candle_core::bail!(
                "token_logprobs: targets {:?} do not match input_ids {:?}",
                targets.shape(),
                input_ids.shape()
            );
        }
        self.head_logprobs(&h, &targets, LOGPROB_CHUNK_ELEMS)?
            .reshape((b, t))
    }

    /// Generation step. `input_ids [B, T]` are the new tokens, `positions [B][T]`
    /// their RoPE positions, `key_valid [B][past + T]` which cached+new keys are
    /// real tokens (left padding is false). Appends to `cache` and returns the
    /// logits of the last new position of each row, `[B, V]`.
    pub fn forward_step(
        &self,
        input_ids: &Tensor,
        positions: &[Vec<u32>],
        key_valid: &[Vec<bool>],
        cache: &mut KvCache,
    ) -> Result<Tensor> {
        let (b, t) = input_ids.dims2()?;
        let past = cache.len();
        if cache.layers.is_empty() {
            cache.layers = (0..self.layers.len()).map(|_| None).collect();
        }
        let flat: Vec<u32> = positions.iter().flat_map(|p| p.iter().copied()).collect();
        if flat.len() != b * t || key_valid.len() != b {
            candle_core::bail!(
                "forward_step: positions/key_valid do not match input_ids {:?}",
                input_ids.shape()
            );
        }
        let (cos, sin) = rope_tables(&self.inv_freq, &flat, self.dtype, &self.device)?;
        let half = self.inv_freq.len();
        let cos = cos.reshape((b, 1, t, half))?;
        let sin = sin.reshape((b, 1, t, half))?;
        let all_valid = key_valid.iter().all(|r| r.iter().all(|&v| v));
        let bias = if all_valid && t == 1 {
            None
        } else {
            Some(attention_bias(
                t,
                past,
                Some(key_valid),
                self.dtype,
                &self.device,
            )?)
        };
        let pass = Pass {
            adapters: true,
            no_grad: true,
            kind: PassKind::Plain { cos, sin, bias },
        };
        // Weights that are training vars make every op record its inputs for backprop,
        // which would keep each layer's activations alive until the logits are dropped
        // (3 GB for a batch-16 SmolLM2 prefill). Nothing here is differentiated: each
        // layer's output is cut from the graph so the layer's temporaries are freed.
        let mut x = self.embed_ids(input_ids)?.detach();
        for (i, layer) in self.layers.iter().enumerate() {
            x = self
                .layer_forward(layer, &x, &pass, Some(&mut cache.layers[i]))?
                .detach();
        }
        let last = x.narrow(1, t - 1, 1)?;
        let last = self.rms_in(&last, &self.norm, self.cfg.rms_norm_eps, &pass)?;
        Ok(
            project(&last, &self.lm_head, None, self.lm_head_q8.as_deref(), true)?
                .squeeze(1)?
                .detach(),
        )
    }

    fn layer_forward(
        &self,
        l: &Layer,
        x: &Tensor,
        pass: &Pass,
        cache: Option<&mut Option<LayerCache>>,
    ) -> Result<Tensor> {
        let eps = self.cfg.rms_norm_eps;
        let h = self.rms_in(x, &l.input_norm, eps, pass)?;
        let a = self.attention(&l.attn, &h, pass, cache)?;
        let x = (x + a)?;
        let h = self.rms_in(&x, &l.post_norm, eps, pass)?;
        let [g, u] = project_all(&h, [&l.gate, &l.up], pass)?;
        let m = self.glu(&g, &u)?;
        let m = l.down.forward(&m, pass)?;
        x + m
    }

    fn attention(
        &self,
        a: &Attention,
        x: &Tensor,
        pass: &Pass,
        cache: Option<&mut Option<LayerCache>>,
    ) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let nh = self.cfg.num_attention_heads;
        let nkv = self.cfg.num_key_value_heads();
        let hd = self.cfg.head_dim();
        let eps = self.cfg.rms_norm_eps;
        let [q, k, v] = project_all(x, [&a.q, &a.k, &a.v], pass)?;
        let q = q.reshape((b, t, nh, hd))?;
        let k = k.reshape((b, t, nkv, hd))?;
        let v = v.reshape((b, t, nkv, hd))?;
        let q = match &a.q_norm {
            Some(w) => self.rms(&q, w, eps)?,
            None => q,
        };
        let k = match &a.k_norm {
            Some(w) => self.rms(&k, w, eps)?,
            None => k,
        };
        let rep = nh / nkv;
        let scale = 1.0 / (hd as f64).sqrt();
        let v = v.transpose(1, 2)?.contiguous()?;
        // Grouped-query attention without copying k/v: the `rep` query heads that
        // share a kv head are stacked along the sequence axis.
        let o = match &pass.kind {
            PassKind::Fused { rope, key_valid } => {
                let q = rope_heads(&q, rope)?.reshape((b, nkv, rep * t, hd))?;
                let k = rope_heads(&k, rope)?;
                let scores = q.matmul(&k.t()?)?.reshape((b, nh, t, t))?;
                let p = causal_softmax(&scores, scale, key_valid.clone())?;
                p.reshape((b, nkv, rep * t, t))?.matmul(&v)?
            }
            PassKind::Plain { cos, sin, bias } => {
                let interleaved = self.cfg.interleaved_rope();
                let rope = |x: &Tensor| -> Result<Tensor> {
                    if let Some(y) = self.rope_no_grad(x, cos, sin, pass)? {
                        return Ok(y);
                    }
                    if pass.no_grad {
                        if let Some(y) = decode_rope(x, cos, sin, interleaved)? {
                            return Ok(y);
                        }
                    }
                    apply_rope(&x.transpose(1, 2)?.contiguous()?, cos, sin, interleaved)
                };
                let (q, k) = (rope(&q)?, rope(&k)?);
                let (k, v) = match cache {
                    Some(slot) => LayerCache::append(slot, &k, &v)?,
                    None => (k, v),
                };
                if pass.no_grad && !self.generic_ops {
                    if let Some(o) = decode_attention(&q, &k, &v, bias.as_ref(), scale)? {
                        return a
                            .o
                            .forward(&o.transpose(1, 2)?.reshape((b, t, nh * hd))?, pass);
                    }
                }
                let tk = k.dim(2)?;
                let q = q.reshape((b, nkv, rep * t, hd))?;
                let scores = (matmul_view(&q, &k.t()?)? * scale)?.reshape((b, nh, t, tk))?;
                let scores = match bias {
                    Some(bias) => scores.broadcast_add(bias)?,
                    None => scores,
                };
                let p = self
                    .softmax_in(&scores, pass)?
                    .reshape((b, nkv, rep * t, tk))?;
                matmul_view(&p, &v)?
            }
        };
        let o = o.reshape((b, nh, t, hd))?;
        let o = o.transpose(1, 2)?.reshape((b, t, nh * hd))?;
        a.o.forward(&o, pass)
    }
}

/// What every layer of one forward shares.
struct Pass {
    /// Whether LoRA adapters contribute (false: the frozen base model).
    adapters: bool,
    /// No gradient will be taken (the generation step), so kernels without a backward
    /// may run.
    no_grad: bool,
    kind: PassKind,
}

enum PassKind {
    /// Training forward on CPU: fused RoPE and masked softmax, positions `0..T`.
    Fused {
        rope: RopeTables,
        key_valid: Option<Arc<Vec<Vec<bool>>>>,
    },
    /// Plain candle ops (any device, the KV-cache path): rotary tables per position and
    /// an additive mask.
    Plain {
        cos: Tensor,
        sin: Tensor,
        bias: Option<Tensor>,
    },
}

/// `a.matmul(b)` where `b` may be a view of the KV cache, whose batch stride is the
/// cache's capacity rather than its length. candle's CPU and CUDA gemms both take such
/// uniform batch strides (copying the whole cache twice per layer per generated token
/// would cost more than the step's attention); should a backend refuse the view, it is
/// copied once and the product retried, which fails again on any other error.
fn matmul_view(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    a.matmul(b).or_else(|_| a.matmul(&b.contiguous()?))
}

/// Reads a `[B, T]` attention mask into per-row validity.
fn mask_rows(m: &Tensor, b: usize, t: usize) -> Result<Vec<Vec<bool>>> {
    let (mb, mt) = m.dims2()?;
    if (mb, mt) != (b, t) {
        candle_core::bail!(
            "attention_mask {:?} does not match input_ids [{b}, {t}]",
            m.shape()
        );
    }
    let v = m.to_dtype(DType::F32)?.to_vec2::<f32>()?;
    Ok(v.into_iter()
        .map(|r| r.into_iter().map(|x| x != 0.0).collect())
        .collect())
}
