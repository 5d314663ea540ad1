//! GGUF import: a llama.cpp model file becomes a Hugging Face directory.
//!
//! - Tensors are dequantised to f32 (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and the K-quants
//!   candle can read); any other type is refused with an error naming the tensor.
//! - llama.cpp stores Llama q/k projection rows permuted for its interleaved
//!   RoPE; they are permuted back to the HF half-split layout.
//! - The tokenizer is rebuilt from `tokenizer.ggml.*` metadata as a byte-level BPE.

use std::collections::HashMap;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use crate::config::{Config, RopeScaling};
use crate::error::{ModelError, Result};
use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::{Device, Tensor};

mod tokenizer;
pub use tokenizer::tokenizer_from_gguf;

/// GGML type ids ouro dequantises.
const SUPPORTED_TYPES: &[u32] = &[0, 1, 2, 3, 6, 7, 8, 10, 11, 12, 13, 14, 30];

/// Name of a GGML tensor type id, for messages.
pub fn ggml_type_name(t: u32) -> String {
    let n = match t {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        6 => "Q5_0",
        7 => "Q5_1",
        8 => "Q8_0",
        9 => "Q8_1",
        10 => "Q2_K",
        11 => "Q3_K",
        12 => "Q4_K",
        13 => "Q5_K",
        14 => "Q6_K",
        15 => "Q8_K",
        16 => "IQ2_XXS",
        17 => "IQ2_XS",
        18 => "IQ3_XXS",
        19 => "IQ1_S",
        20 => "IQ4_NL",
        21 => "IQ3_S",
        22 => "IQ2_S",
        23 => "IQ4_XS",
        24 => "I8",
        25 => "I16",
        26 => "I32",
        27 => "I64",
        28 => "F64",
        29 => "IQ1_M",
        30 => "BF16",
        34 => "TQ1_0",
        35 => "TQ2_0",
        _ => return format!("type {t}"),
    };
    n.to_string()
}

/// Name, dims and raw GGML type of every tensor, read straight from the header
/// so that unknown types can be reported by tensor name.
pub fn scan_tensor_types(path: &Path) -> Result<Vec<(String, Vec<u64>, u32)>> {
    let corrupt = |msg: String| ModelError::Corrupt {
        path: path.into(),
        msg,
    };
    // Not MissingFile: that one describes a model directory, and this is a GGUF file.
    let f = std::fs::File::open(path).map_err(|e| ModelError::io(path, e))?;
    let file_len = f.metadata().map_err(|e| ModelError::io(path, e))?.len();
    let mut r = std::io::BufReader::new(f);
    let mut b4 = [0u8; 4];
    let mut b8 = [0u8; 8];
    let mut rd4 = |r: &mut std::io::BufReader<std::fs::File>| -> Result<u32> {
        r.read_exact(&mut b4)
            .map_err(|e| corrupt(format!("truncated header: {e}")))?;
        Ok(u32::from_le_bytes(b4))
    };
    let rd8 = |r: &mut std::io::BufReader<std::fs::File>, b8: &mut [u8; 8]| -> Result<u64> {
        r.read_exact(b8)
            .map_err(|e| corrupt(format!("truncated header: {e}")))?;
        Ok(u64::from_le_bytes(*b8))
    };
    let magic = rd4(&mut r)?;
    if magic != u32::from_le_bytes(*b"GGUF") {
        return Err(corrupt("not a GGUF file (bad magic)".into()));
    }
    let version = rd4(&mut r)?;
    if !(2..=3).contains(&version) {
        return Err(corrupt(format!(
            "GGUF version {version} is not supported (2 or 3)"
        )));
    }
    let n_tensors = rd8(&mut r, &mut b8)?;
    let n_kv = rd8(&mut r, &mut b8)?;
    if n_tensors > 1 << 24 || n_kv > 1 << 24 {
        return Err(corrupt("implausible tensor or metadata count".into()));
    }
    fn skip(r: &mut impl Read, n: u64) -> std::io::Result<()> {
        std::io::copy(&mut r.take(n), &mut std::io::sink()).and_then(|c| {
            if c == n {
                Ok(())
            } else {
                Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "truncated",
                ))
            }
        })
    }
    fn skip_value(r: &mut impl Read, ty: u32, depth: usize) -> std::io::Result<()> {
        let mut b = [0u8; 8];
        match ty {
            0 | 1 | 7 => skip(r, 1),
            2 | 3 => skip(r, 2),
            4..=6 => skip(r, 4),
            10..=12 => skip(r, 8),
            8 => {
                r.read_exact(&mut b)?;
                skip(r, u64::from_le_bytes(b))
            }
            9 if depth < 4 => {
                let mut t = [0u8; 4];
                r.read_exact(&mut t)?;
                r.read_exact(&mut b)?;
                let et = u32::from_le_bytes(t);
                for _ in 0..u64::from_le_bytes(b) {
                    skip_value(r, et, depth + 1)?;
                }
                Ok(())
            }
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("bad value type {ty}"),
            )),
        }
    }
    for _ in 0..n_kv {
        let klen = rd8(&mut r, &mut b8)?;
        skip(&mut r, klen).map_err(|e| corrupt(format!("metadata: {e}")))?;
        let ty = rd4(&mut r)?;
        skip_value(&mut r, ty, 0).map_err(|e| corrupt(format!("metadata: {e}")))?;
    }
    let mut out = Vec::new();
    for _ in 0..n_tensors {
        let nlen = rd8(&mut r, &mut b8)?;
        if nlen > 4096 {
            return Err(corrupt("implausible tensor name length".into()));
        }
        let mut name = vec![0u8; nlen as usize];
        r.read_exact(&mut name)
            .map_err(|e| corrupt(format!("tensor table: {e}")))?;
        let name = String::from_utf8_lossy(&name).to_string();
        let nd = rd4(&mut r)?;
        if nd > 8 {
            return Err(corrupt(format!("tensor '{name}': {nd} dimensions")));
        }
        let mut dims = Vec::new();
        for _ in 0..nd {
            dims.push(rd8(&mut r, &mut b8)?);
        }
        // candle multiplies dims unchecked and builds a slice even for zero elements, so
        // a crafted header would overflow or reach undefined behaviour inside it. No GGML
        // type stores an element in under one bit, which bounds the count by the file.
        let elements = dims.iter().try_fold(1u64, |n, &d| n.checked_mul(d));
        match elements {
            Some(0) => return Err(corrupt(format!("tensor '{name}' has a zero dimension {dims:?}"))),
            Some(n) if n <= file_len.saturating_mul(8) => {}
            _ => {
                return Err(corrupt(format!(
                    "tensor '{name}' has dimensions {dims:?}, more elements than a file of {file_len} bytes holds"
                )))
            }
        }
        let ty = rd4(&mut r)?;
        let _offset = rd8(&mut r, &mut b8)?;
        out.push((name, dims, ty));
    }
    Ok(out)
}

fn meta<'a>(c: &'a Content, key: &str) -> Option<&'a Value> {
    c.metadata.get(key)
}

fn meta_u64(c: &Content, key: &str) -> Option<u64> {
    meta(c, key).and_then(|v| match v {
        Value::U8(x) => Some(*x as u64),
        Value::U16(x) => Some(*x as u64),
        Value::U32(x) => Some(*x as u64),
        Value::U64(x) => Some(*x),
        Value::I32(x) => Some(*x as u64),
        Value::I64(x) => Some(*x as u64),
        _ => None,
    })
}

fn meta_f64(c: &Content, key: &str) -> Option<f64> {
    meta(c, key).and_then(|v| match v {
        Value::F32(x) => Some(*x as f64),
        Value::F64(x) => Some(*x),
        _ => None,
    })
}

fn meta_str<'a>(c: &'a Content, key: &str) -> Option<&'a str> {
    meta(c, key)
        .and_then(|v| v.to_string().ok())
        .map(|s| s.as_str())
}

/// The HF config described by a GGUF's metadata.
pub fn config_from_gguf(c: &Content, path: &Path, tie: bool, vocab: usize) -> Result<Config> {
    let arch = meta_str(c, "general.architecture")
        .unwrap_or("")
        .to_string();
    let (model_type, hf_arch) = match arch.as_str() {
        "llama" => ("llama", "LlamaForCausalLM"),
        "qwen2" => ("qwen2", "Qwen2ForCausalLM"),
        "qwen3" => ("qwen3", "Qwen3ForCausalLM"),
        _ => {
            return Err(ModelError::UnknownArchitecture {
                path: path.into(),
                arch,
            })
        }
    };
    let need = |k: &str| -> Result<u64> {
        meta_u64(c, &format!("{arch}.{k}")).ok_or_else(|| ModelError::Config {
            path: path.into(),
            msg: format!("missing metadata '{arch}.{k}'"),
        })
    };
    let hidden = need("embedding_length")? as usize;
    let heads = need("attention.head_count")? as usize;
    if heads == 0 {
        return Err(ModelError::Config {
            path: path.into(),
            msg: format!("metadata '{arch}.attention.head_count' is 0"),
        });
    }
    let mut cfg = Config::tiny();
    cfg.architectures = vec![hf_arch.into()];
    cfg.model_type = model_type.into();
    cfg.vocab_size = meta_u64(c, &format!("{arch}.vocab_size"))
        .map(|v| v as usize)
        .unwrap_or(vocab);
    cfg.hidden_size = hidden;
    cfg.intermediate_size = need("feed_forward_length")? as usize;
    cfg.num_hidden_layers = need("block_count")? as usize;
    cfg.num_attention_heads = heads;
    cfg.num_key_value_heads = Some(
        meta_u64(c, &format!("{arch}.attention.head_count_kv")).unwrap_or(heads as u64) as usize,
    );
    let key_len = meta_u64(c, &format!("{arch}.attention.key_length")).map(|v| v as usize);
    cfg.head_dim = key_len.filter(|&k| k != hidden / heads);
    cfg.rms_norm_eps =
        meta_f64(c, &format!("{arch}.attention.layer_norm_rms_epsilon")).unwrap_or(1e-5);
    cfg.rope_theta = meta_f64(c, &format!("{arch}.rope.freq_base")).unwrap_or(10_000.0);
    cfg.max_position_embeddings =
        meta_u64(c, &format!("{arch}.context_length")).unwrap_or(2048) as usize;
    cfg.tie_word_embeddings = tie;
    cfg.attention_bias = if model_type == "llama" {
        Some(false)
    } else {
        None
    };
    cfg.torch_dtype = Some("float32".into());
    cfg.bos_token_id = meta_u64(c, "tokenizer.ggml.bos_token_id").map(|v| v.into());
    cfg.eos_token_id = meta_u64(c, "tokenizer.ggml.eos_token_id").map(|v| v.into());
    cfg.validate(path)?;
    Ok(cfg)
}

/// GGUF tensor name -> HF tensor name.
pub fn hf_name(gguf: &str) -> Option<String> {
    let fixed = match gguf {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(f) = fixed {
        return Some(f.to_string());
    }
    let rest = gguf.strip_prefix("blk.")?;
    let (layer, tail) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (part, kind) = tail.rsplit_once('.')?;
    let hf = match part {
        "attn_norm" => "input_layernorm",
        "attn_q" => "self_attn.q_proj",
        "attn_k" => "self_attn.k_proj",
        "attn_v" => "self_attn.v_proj",
        "attn_output" => "self_attn.o_proj",
        "attn_q_norm" => "self_attn.q_norm",
        "attn_k_norm" => "self_attn.k_norm",
        "ffn_norm" => "post_attention_layernorm",
        "ffn_gate" => "mlp.gate_proj",
        "ffn_up" => "mlp.up_proj",
        "ffn_down" => "mlp.down_proj",
        _ => return None,
    };
    Some(format!("model.layers.{layer}.{hf}.{kind}"))
}

/// Undoes llama.cpp's q/k row permutation: GGUF row `h*hd + 2i + s` holds HF row `h*hd + s*hd/2 + i`.
pub fn unpermute_rows(t: &Tensor, n_heads: usize) -> candle_core::Result<Tensor> {
    let rows = t.dim(0)?;
    let hd = rows / n_heads;
    let mut perm = vec![0u32; rows];
    for h in 0..n_heads {
        for s in 0..2 {
            for i in 0..hd / 2 {
                perm[h * hd + s * hd / 2 + i] = (h * hd + 2 * i + s) as u32;
            }
        }
    }
    let idx = Tensor::from_vec(perm, rows, t.device())?;
    t.index_select(&idx, 0)
}

/// What [`import_gguf`] wrote.
#[derive(Debug, Clone)]
pub struct ImportSummary {
    pub out_dir: PathBuf,
    pub config: Config,
    /// GGUF tensor name and GGML type of every imported tensor.
    pub tensor_types: Vec<(String, String)>,
}

/// Reads a GGUF file and writes an HF directory (f32 safetensors, config,
/// tokenizer, tokenizer_config with the GGUF's chat template, else ChatML when the
/// vocabulary has it).
pub fn import_gguf(path: &Path, out_dir: &Path) -> Result<ImportSummary> {
    let scanned = scan_tensor_types(path)?;
    for (name, _, ty) in &scanned {
        if !SUPPORTED_TYPES.contains(ty) {
            return Err(ModelError::UnsupportedQuantisation {
                path: path.into(),
                tensor: name.clone(),
                dtype: ggml_type_name(*ty),
            });
        }
    }
    let mut f = std::fs::File::open(path).map_err(|e| ModelError::io(path, e))?;
    let content = Content::read(&mut f).map_err(|e| ModelError::Corrupt {
        path: path.into(),
        msg: e.to_string(),
    })?;
    let tok = tokenizer_from_gguf(&content, path)?;
    let tie = !content.tensor_infos.contains_key("output.weight");
    let mut cfg = config_from_gguf(&content, path, tie, tok.get_vocab_size(true))?;
    cfg.rope_scaling = rope_scaling(&content, &mut f, path, &cfg)?;
    let shapes: HashMap<String, Vec<usize>> = cfg.parameter_shapes().into_iter().collect();
    let mut tensors: Vec<(String, Tensor)> = Vec::new();
    let mut types = Vec::new();
    for (name, _, ty) in &scanned {
        if name == ROPE_FREQS {
            continue;
        }
        let Some(hf) = hf_name(name) else {
            tracing::warn!(
                "{}: skipping tensor '{name}' (not part of the decoder)",
                path.display()
            );
            continue;
        };
        if tie && hf == "lm_head.weight" {
            continue;
        }
        let t = read_tensor(&content, &mut f, path, name)?;
        let t = if cfg.model_type == "llama" && hf.ends_with("q_proj.weight") {
            unpermute_rows(&t, cfg.num_attention_heads)?
        } else if cfg.model_type == "llama" && hf.ends_with("k_proj.weight") {
            unpermute_rows(&t, cfg.num_key_value_heads())?
        } else {
            t
        };
        let expected = shapes.get(&hf).ok_or_else(|| ModelError::Tensor {
            path: path.into(),
            tensor: name.clone(),
            msg: format!("maps to '{hf}', which this config has no use for"),
        })?;
        if t.dims() != expected.as_slice() {
            return Err(ModelError::Shape {
                path: path.into(),
                tensor: name.clone(),
                expected: expected.clone(),
                found: t.dims().to_vec(),
            });
        }
        types.push((name.clone(), ggml_type_name(*ty)));
        tensors.push((hf, t));
    }
    for n in shapes.keys() {
        if !tensors.iter().any(|(h, _)| h == n) {
            return Err(ModelError::MissingTensor {
                path: path.into(),
                tensor: n.clone(),
            });
        }
    }
    let named: Vec<(&str, &Tensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    // The GGUF's own chat template, when the converter kept it.
    let chat_template = match meta(&content, "tokenizer.chat_template") {
        Some(Value::String(s)) => Some(s.as_str()),
        _ => None,
    };
    crate::checkpoint::save_tensors(out_dir, &cfg, &named, Some(&tok), chat_template)?;
    Ok(ImportSummary {
        out_dir: out_dir.into(),
        config: cfg,
        tensor_types: types,
    })
}

/// Where llama.cpp keeps Llama 3's rope scaling: a divisor per frequency.
const ROPE_FREQS: &str = "rope_freqs.weight";

/// The GGUF's rope scaling as `config.json` states it: the linear factor of
/// `{arch}.rope.scaling`, or the Llama 3 scaling (3.1, 3.2) behind a `rope_freqs`
/// tensor. llama.cpp keeps that one's divisors, not its parameters: they are the
/// parameters of the common values whose divisors they are, or the import is an
/// error, as is a scaling this model does not run (YaRN), rather than a model that
/// silently runs without it.
fn rope_scaling<R: Read + Seek>(
    c: &Content,
    r: &mut R,
    path: &Path,
    cfg: &Config,
) -> Result<Option<RopeScaling>> {
    let arch = cfg.model_type.as_str();
    let bad = |msg: String| ModelError::Config {
        path: path.into(),
        msg,
    };
    let kind = meta_str(c, &format!("{arch}.rope.scaling.type")).unwrap_or("none");
    let freqs = c.tensor_infos.contains_key(ROPE_FREQS);
    match (kind, freqs) {
        ("none", false) => Ok(None),
        ("linear", false) => {
            let factor = meta_f64(c, &format!("{arch}.rope.scaling.factor"))
                .filter(|f| f.is_finite() && *f > 0.0)
                .ok_or_else(|| bad(format!("'{arch}.rope.scaling.type' is linear with no positive '{arch}.rope.scaling.factor'")))?;
            Ok(Some(RopeScaling {
                rope_type: "linear".into(),
                factor,
                low_freq_factor: None,
                high_freq_factor: None,
                original_max_position_embeddings: None,
            }))
        }
        ("none", true) => {
            let divisors: Vec<f64> = read_tensor(c, r, path, ROPE_FREQS)?
                .flatten_all()
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(|e| bad(format!("tensor '{ROPE_FREQS}': {e}")))?
                .into_iter()
                .map(f64::from)
                .collect();
            llama3_scaling(cfg, &divisors).map(Some).ok_or_else(|| {
                bad(format!(
                    "tensor '{ROPE_FREQS}' scales the rope frequencies in a way no Llama 3 rope_scaling (factor, low_freq_factor, high_freq_factor, original_max_position_embeddings) reproduces; import the Hugging Face checkpoint instead"
                ))
            })
        }
        (kind, _) => Err(bad(format!(
            "rope scaling '{kind}'{} is not supported (linear, or Llama 3's rope_freqs)",
            if freqs {
                " with a rope_freqs tensor"
            } else {
                ""
            }
        ))),
    }
}

/// The Llama 3 rope scaling whose per-frequency divisors (`inv_freq` before over
/// after) are `divisors`, from the values Llama 3.1 and 3.2 and their derivatives use.
fn llama3_scaling(cfg: &Config, divisors: &[f64]) -> Option<RopeScaling> {
    let factor = divisors.iter().copied().fold(f64::NAN, f64::max);
    if !(factor.is_finite() && factor >= 1.0) {
        return None;
    }
    let mut base = cfg.clone();
    base.rope_scaling = None;
    let plain = base.inv_freq();
    if plain.len() != divisors.len() {
        return None;
    }
    for old in [8192usize, 4096, 16384, 32768, 2048, 131072] {
        for low in [1.0, 0.5, 2.0] {
            for high in [4.0, 2.0, 8.0] {
                let s = RopeScaling {
                    rope_type: "llama3".into(),
                    factor,
                    low_freq_factor: Some(low),
                    high_freq_factor: Some(high),
                    original_max_position_embeddings: Some(old),
                };
                base.rope_scaling = Some(s.clone());
                let fits = plain
                    .iter()
                    .zip(base.inv_freq())
                    .zip(divisors)
                    .all(|((p, f), d)| ((p / f) - d).abs() <= 1e-4 * d.abs().max(1.0));
                if fits {
                    return Some(s);
                }
            }
        }
    }
    None
}

fn read_tensor<R: Read + Seek>(c: &Content, r: &mut R, path: &Path, name: &str) -> Result<Tensor> {
    let q = c
        .tensor(r, name, &Device::Cpu)
        .map_err(|e| ModelError::Tensor {
            path: path.into(),
            tensor: name.into(),
            msg: e.to_string(),
        })?;
    q.dequantize(&Device::Cpu)
        .and_then(|t| t.to_dtype(candle_core::DType::F32))
        .map_err(|e| ModelError::Tensor {
            path: path.into(),
            tensor: name.into(),
            msg: format!("dequantise: {e}"),
        })
}
