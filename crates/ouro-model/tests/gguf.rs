//! GGUF import on synthetic files written with candle's GGUF writer, laid out
//! like llama.cpp's converter output (permuted q/k rows, GGUF tensor names).

use std::path::Path;

use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use ouro_model::{gguf, Config, ModelError};

fn config() -> Config {
    let mut c = Config::tiny();
    c.vocab_size = 0; // set from the tokenizer
    c.hidden_size = 64;
    c.intermediate_size = 128;
    c.num_attention_heads = 4;
    c.num_key_value_heads = Some(2);
    c.tie_word_embeddings = false;
    c
}

/// Vocabulary and merges of a small byte-level BPE, in GGUF metadata form.
fn vocab() -> (Vec<String>, Vec<String>, Vec<i32>) {
    let corpus: Vec<String> = (0..50)
        .map(|i| format!("def f{i}(x):\n    return x + {i}\n"))
        .collect();
    let tok = ouro_model::tokenizer::train_bpe(corpus, 300).unwrap();
    let json: serde_json::Value = serde_json::from_str(&tok.to_string(false).unwrap()).unwrap();
    let mut tokens = vec![String::new(); tok.get_vocab_size(true)];
    for (t, id) in tok.get_vocab(true) {
        tokens[id as usize] = t;
    }
    let merges = json["model"]["merges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| match m {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(a) => {
                format!("{} {}", a[0].as_str().unwrap(), a[1].as_str().unwrap())
            }
            _ => panic!("merge {m}"),
        })
        .collect();
    let types = tokens
        .iter()
        .map(|t| if t.starts_with("<|") { 3 } else { 1 })
        .collect();
    (tokens, merges, types)
}

fn permute_rows(t: &Tensor, n_heads: usize) -> Tensor {
    // llama.cpp's converter: HF row h*hd + s*hd/2 + i -> GGUF row h*hd + 2i + s
    let rows = t.dim(0).unwrap();
    let hd = rows / n_heads;
    let mut perm = vec![0u32; rows];
    for h in 0..n_heads {
        for i in 0..hd / 2 {
            for s in 0..2 {
                perm[h * hd + 2 * i + s] = (h * hd + s * hd / 2 + i) as u32;
            }
        }
    }
    t.index_select(&Tensor::new(perm.as_slice(), &Device::Cpu).unwrap(), 0)
        .unwrap()
}

fn gguf_name(hf: &str) -> String {
    let fixed = [
        ("model.embed_tokens.weight", "token_embd.weight"),
        ("model.norm.weight", "output_norm.weight"),
        ("lm_head.weight", "output.weight"),
    ];
    if let Some((_, g)) = fixed.iter().find(|(h, _)| *h == hf) {
        return g.to_string();
    }
    let rest = hf.strip_prefix("model.layers.").unwrap();
    let (l, tail) = rest.split_once('.').unwrap();
    let map = [
        ("input_layernorm.weight", "attn_norm.weight"),
        ("self_attn.q_proj.weight", "attn_q.weight"),
        ("self_attn.k_proj.weight", "attn_k.weight"),
        ("self_attn.v_proj.weight", "attn_v.weight"),
        ("self_attn.o_proj.weight", "attn_output.weight"),
        ("post_attention_layernorm.weight", "ffn_norm.weight"),
        ("mlp.gate_proj.weight", "ffn_gate.weight"),
        ("mlp.up_proj.weight", "ffn_up.weight"),
        ("mlp.down_proj.weight", "ffn_down.weight"),
    ];
    let g = map.iter().find(|(h, _)| *h == tail).unwrap().1;
    format!("blk.{l}.{g}")
}

/// Writes a GGUF for a random model; returns the HF tensors the import must reproduce.
fn write_gguf(path: &Path) -> (Config, std::collections::HashMap<String, Tensor>) {
    write_gguf_with(path, vec![], vec![])
}

/// [`write_gguf`] with more metadata and tensors.
fn write_gguf_with(
    path: &Path,
    extra_md: Vec<(&str, Value)>,
    extra_tensors: Vec<(String, QTensor)>,
) -> (Config, std::collections::HashMap<String, Tensor>) {
    let (tokens, merges, types) = vocab();
    let mut cfg = config();
    cfg.vocab_size = tokens.len();
    let vm = ouro_model::init::init_varmap(&cfg, 4, DType::F32, &Device::Cpu).unwrap();
    let data = vm.data().lock().unwrap();
    let kinds = [
        GgmlDType::Q4_0,
        GgmlDType::Q4_1,
        GgmlDType::Q8_0,
        GgmlDType::F16,
        GgmlDType::F32,
    ];
    let mut qts = Vec::new();
    let mut expected = std::collections::HashMap::new();
    for (i, (name, _)) in cfg.parameter_shapes().iter().enumerate() {
        let t = data[name].as_tensor().clone();
        let kind = if t.rank() == 1 {
            GgmlDType::F32
        } else {
            kinds[i % kinds.len()]
        };
        let g = if name.ends_with("q_proj.weight") {
            permute_rows(&t, cfg.num_attention_heads)
        } else if name.ends_with("k_proj.weight") {
            permute_rows(&t, cfg.num_key_value_heads())
        } else {
            t.clone()
        };
        let q = QTensor::quantize(&g, kind).unwrap();
        // quantisation works on row blocks, so it commutes with the row permutation
        let back = QTensor::quantize(&t, kind)
            .unwrap()
            .dequantize(&Device::Cpu)
            .unwrap();
        expected.insert(name.clone(), back);
        qts.push((gguf_name(name), q));
    }
    let s = |x: &str| Value::String(x.into());
    let md: Vec<(&str, Value)> = vec![
        ("general.architecture", s("llama")),
        ("llama.context_length", Value::U32(256)),
        ("llama.embedding_length", Value::U32(64)),
        ("llama.feed_forward_length", Value::U32(128)),
        ("llama.block_count", Value::U32(2)),
        ("llama.attention.head_count", Value::U32(4)),
        ("llama.attention.head_count_kv", Value::U32(2)),
        ("llama.rope.freq_base", Value::F32(10000.0)),
        ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
        ("tokenizer.ggml.model", s("gpt2")),
        ("tokenizer.ggml.pre", s("smollm")),
        (
            "tokenizer.ggml.tokens",
            Value::Array(tokens.iter().map(|t| s(t)).collect()),
        ),
        (
            "tokenizer.ggml.merges",
            Value::Array(merges.iter().map(|t| s(t)).collect()),
        ),
        (
            "tokenizer.ggml.token_type",
            Value::Array(types.iter().map(|&t| Value::I32(t)).collect()),
        ),
        ("tokenizer.ggml.eos_token_id", Value::U32(0)),
        ("tokenizer.ggml.bos_token_id", Value::U32(0)),
    ];
    let mut md = md;
    md.extend(extra_md);
    qts.extend(extra_tensors);
    let md_refs: Vec<(&str, &Value)> = md.iter().map(|(k, v)| (*k, v)).collect();
    let t_refs: Vec<(&str, &QTensor)> = qts.iter().map(|(n, q)| (n.as_str(), q)).collect();
    let mut f = std::fs::File::create(path).unwrap();
    candle_core::quantized::gguf_file::write(&mut f, &md_refs, &t_refs).unwrap();
    (cfg, expected)
}

#[test]
fn import_dequantises_unpermutes_and_writes_a_loadable_hf_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("m.gguf");
    let (cfg, expected) = write_gguf(&file);
    let out = tmp.path().join("hf");
    let summary = gguf::import_gguf(&file, &out).unwrap();
    let types: std::collections::BTreeSet<_> = summary
        .tensor_types
        .iter()
        .map(|(_, t)| t.as_str())
        .collect();
    for t in ["Q4_0", "Q4_1", "Q8_0", "F16", "F32"] {
        assert!(types.contains(t), "fixture lacks {t}: {types:?}");
    }
    let ck = ouro_model::checkpoint::load(&out, &Device::Cpu).unwrap();
    assert_eq!(ck.config.vocab_size, cfg.vocab_size);
    assert!(!ck.config.tie_word_embeddings);
    let data = ck.varmap.data().lock().unwrap();
    for (name, want) in &expected {
        let got = data[name].as_tensor();
        let diff = (got - want)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(diff, 0.0, "{name}");
    }
    // tokenizer: text round-trips, specials are single tokens
    let tok = ck.tokenizer.as_ref().unwrap();
    let text = "def f7(x):\n    return x + 7\n";
    let ids = tok.encode(text, false).unwrap();
    assert_eq!(tok.decode(ids.get_ids(), false).unwrap(), text);
    let im = tok.encode("<|im_start|>user", false).unwrap();
    assert_eq!(im.get_ids()[0], tok.token_to_id("<|im_start|>").unwrap());
    assert!(out.join("tokenizer_config.json").exists());
}

/// Where `tensor`'s entry in the header goes on after its name (at its dimension count).
fn after_name(b: &[u8], tensor: &str) -> usize {
    let pat = tensor.as_bytes();
    b.windows(pat.len()).position(|w| w == pat).unwrap() + pat.len()
}

fn patch_tensor_type(file: &Path, tensor: &str, ty: u32) {
    let mut b = std::fs::read(file).unwrap();
    let pos = after_name(&b, tensor);
    let nd = u32::from_le_bytes(b[pos..pos + 4].try_into().unwrap()) as usize;
    let tpos = pos + 4 + 8 * nd;
    b[tpos..tpos + 4].copy_from_slice(&ty.to_le_bytes());
    std::fs::write(file, b).unwrap();
}

#[test]
fn unsupported_quantisation_is_an_error_naming_file_and_tensor() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("m.gguf");
    write_gguf(&file);
    patch_tensor_type(&file, "blk.1.ffn_up.weight", 16); // IQ2_XXS
    let e = gguf::import_gguf(&file, &tmp.path().join("hf"))
        .err()
        .unwrap();
    let msg = e.to_string();
    assert!(
        matches!(e, ModelError::UnsupportedQuantisation { .. }),
        "{msg}"
    );
    assert!(
        msg.contains("m.gguf") && msg.contains("blk.1.ffn_up.weight") && msg.contains("IQ2_XXS"),
        "{msg}"
    );
    assert!(!tmp.path().join("hf").exists());
}

#[test]
fn truncated_or_foreign_gguf_is_an_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("m.gguf");
    write_gguf(&file);
    let b = std::fs::read(&file).unwrap();
    std::fs::write(&file, &b[..b.len() / 3]).unwrap();
    let e = gguf::import_gguf(&file, &tmp.path().join("hf"))
        .err()
        .unwrap();
    assert!(e.to_string().contains("m.gguf"), "{e}");
    let junk = tmp.path().join("junk.gguf");
    std::fs::write(&junk, b"not a gguf at all").unwrap();
    let e = gguf::import_gguf(&junk, &tmp.path().join("hf"))
        .err()
        .unwrap();
    assert!(
        matches!(e, ModelError::Corrupt { .. }) && e.to_string().contains("junk.gguf"),
        "{e}"
    );
}

/// Overwrites the u32 value of metadata key `key` (GGUF layout: key, type id, value).
fn patch_u32_metadata(file: &Path, key: &str, value: u32) {
    let mut b = std::fs::read(file).unwrap();
    let pat = key.as_bytes();
    let pos = b.windows(pat.len()).position(|w| w == pat).unwrap() + pat.len();
    assert_eq!(u32::from_le_bytes(b[pos..pos + 4].try_into().unwrap()), 4); // GGUF u32
    b[pos + 4..pos + 8].copy_from_slice(&value.to_le_bytes());
    std::fs::write(file, b).unwrap();
}

#[test]
fn gguf_tensor_shape_disagreeing_with_metadata_is_an_error_naming_file_and_tensor() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("m.gguf");
    write_gguf(&file);
    patch_u32_metadata(&file, "llama.feed_forward_length", 96);
    let e = gguf::import_gguf(&file, &tmp.path().join("hf"))
        .err()
        .unwrap();
    let msg = e.to_string();
    assert!(matches!(e, ModelError::Shape { .. }), "{msg}");
    assert!(
        msg.contains("m.gguf") && msg.contains("blk.0.ffn_gate.weight") && msg.contains("96"),
        "{msg}"
    );
    assert!(!tmp.path().join("hf").exists());
}

#[test]
fn missing_gguf_is_an_error_naming_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let e = gguf::import_gguf(&tmp.path().join("absent.gguf"), &tmp.path().join("hf"))
        .err()
        .unwrap();
    // An I/O error naming the file: MissingFile's text describes a model directory.
    assert!(matches!(e, ModelError::Io { .. }), "{e}");
    assert!(e.to_string().contains("absent.gguf"), "{e}");
    assert!(!e.to_string().contains("model directory"), "{e}");
}

#[test]
fn unknown_gguf_architecture_error_names_file_and_architecture() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("odd.gguf");
    write_gguf(&file);
    let mut b = std::fs::read(&file).unwrap();
    let pos = b.windows(5).position(|w| w == b"llama").unwrap();
    b[pos..pos + 5].copy_from_slice(b"mamba");
    std::fs::write(&file, b).unwrap();
    let e = gguf::import_gguf(&file, &tmp.path().join("hf"))
        .err()
        .unwrap();
    let msg = e.to_string();
    assert!(matches!(e, ModelError::UnknownArchitecture { .. }), "{msg}");
    assert!(msg.contains("odd.gguf") && msg.contains("'mamba'"), "{msg}");
}

#[test]
fn unsupported_tokenizer_model_is_an_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("m.gguf");
    write_gguf(&file);
    let mut b = std::fs::read(&file).unwrap();
    // "tokenizer.ggml.model" = "gpt2" -> "xxx2" (same length, unknown model)
    let key = b"tokenizer.ggml.model";
    let pos = b.windows(key.len()).position(|w| w == key).unwrap() + key.len() + 4 + 8;
    assert_eq!(&b[pos..pos + 4], b"gpt2");
    b[pos..pos + 4].copy_from_slice(b"xxx2");
    std::fs::write(&file, b).unwrap();
    let e = gguf::import_gguf(&file, &tmp.path().join("hf"))
        .err()
        .unwrap();
    let msg = e.to_string();
    assert!(matches!(e, ModelError::Tokenizer { .. }), "{msg}");
    assert!(msg.contains("m.gguf") && msg.contains("xxx2"), "{msg}");
}

/// Sets the first dimension of `tensor` in the header.
fn patch_first_dim(file: &Path, tensor: &str, dim: u64) {
    let mut b = std::fs::read(file).unwrap();
    let pos = after_name(&b, tensor);
    b[pos + 4..pos + 12].copy_from_slice(&dim.to_le_bytes());
    std::fs::write(file, b).unwrap();
}

#[test]
fn crafted_tensor_dimensions_are_an_error_not_a_panic() {
    // Zero (candle would build a slice from a dangling pointer), an element count that
    // overflows u64, and one larger than the file can hold.
    for (dim, expect) in [
        (0, "has a zero dimension"),
        (1 << 62, "more elements than a file of"),
        (1 << 30, "more elements than a file of"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("m.gguf");
        write_gguf(&file);
        patch_first_dim(&file, "token_embd.weight", dim);
        let e = gguf::import_gguf(&file, &tmp.path().join("hf"))
            .err()
            .unwrap();
        let msg = e.to_string();
        assert!(matches!(e, ModelError::Corrupt { .. }), "{msg}");
        assert!(
            msg.contains("token_embd.weight") && msg.contains(expect),
            "{dim}: {msg}"
        );
        assert!(!tmp.path().join("hf").exists());
    }
}

/// llama.cpp keeps a linear rope factor as metadata and Llama 3's scaling as a
/// `rope_freqs` tensor of per-frequency divisors: both were dropped (a WARN line),
/// and Llama 3.1/3.2 imports ran without their scaling.
#[test]
fn rope_scaling_is_imported_or_refused_never_dropped() {
    use ouro_model::config::RopeScaling;
    let tmp = tempfile::tempdir().unwrap();
    let import = |name: &str, md: Vec<(&str, Value)>, tensors: Vec<(String, QTensor)>| {
        let file = tmp.path().join(format!("{name}.gguf"));
        write_gguf_with(&file, md, tensors);
        gguf::import_gguf(&file, &tmp.path().join(name)).map(|s| s.config.rope_scaling)
    };
    let linear = import(
        "linear",
        vec![
            ("llama.rope.scaling.type", Value::String("linear".into())),
            ("llama.rope.scaling.factor", Value::F32(4.0)),
        ],
        vec![],
    )
    .unwrap()
    .unwrap();
    assert_eq!((linear.rope_type.as_str(), linear.factor), ("linear", 4.0));

    let llama3 = RopeScaling {
        rope_type: "llama3".into(),
        factor: 8.0,
        low_freq_factor: Some(1.0),
        high_freq_factor: Some(4.0),
        original_max_position_embeddings: Some(8192),
    };
    let divisors = |scaling: &RopeScaling| {
        let mut cfg = config();
        let plain = cfg.inv_freq();
        cfg.rope_scaling = Some(scaling.clone());
        let d: Vec<f32> = plain
            .iter()
            .zip(cfg.inv_freq())
            .map(|(p, f)| (p / f) as f32)
            .collect();
        let t = Tensor::new(d.as_slice(), &Device::Cpu).unwrap();
        vec![(
            "rope_freqs.weight".to_string(),
            QTensor::quantize(&t, GgmlDType::F32).unwrap(),
        )]
    };
    let got = import("llama3", vec![], divisors(&llama3)).unwrap();
    assert_eq!(got, Some(llama3.clone()));

    let odd = RopeScaling {
        factor: 0.25,
        ..llama3
    };
    let err = import("odd", vec![], divisors(&odd))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("odd.gguf") && err.contains("rope_freqs.weight"),
        "{err}"
    );
    let err = import(
        "yarn",
        vec![("llama.rope.scaling.type", Value::String("yarn".into()))],
        vec![],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("rope scaling 'yarn' is not supported"),
        "{err}"
    );
}

/// `add_bos_token` was ignored, so plain prompts reached Llama 3 imports without
/// `<|begin_of_text|>`; an unknown pre-tokenizer fell back to GPT-2's split.
#[test]
fn the_tokenizer_adds_bos_where_the_gguf_says_and_refuses_an_unknown_split() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("bos.gguf");
    write_gguf_with(
        &file,
        vec![("tokenizer.ggml.add_bos_token", Value::Bool(true))],
        vec![],
    );
    let out = tmp.path().join("bos");
    gguf::import_gguf(&file, &out).unwrap();
    let ck = ouro_model::checkpoint::load(&out, &Device::Cpu).unwrap();
    let tok = ck.tokenizer.as_ref().unwrap();
    let with = tok.encode("x = 1", true).unwrap();
    let without = tok.encode("x = 1", false).unwrap();
    assert_eq!(with.get_ids()[0], 0, "{:?}", with.get_ids());
    assert_eq!(&with.get_ids()[1..], without.get_ids());

    let file = tmp.path().join("pre.gguf");
    write_gguf_with(
        &file,
        vec![("tokenizer.ggml.pre", Value::String("tekken".into()))],
        vec![],
    );
    let err = gguf::import_gguf(&file, &tmp.path().join("pre"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("pre.gguf") && err.contains("'tekken' is not supported"),
        "{err}"
    );
}
