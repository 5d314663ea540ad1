//! Hugging Face model directories: `config.json`, `model.safetensors` (HF
//! tensor names), `tokenizer.json`, `generation_config.json`.
//!
//! Loading maps the safetensors file and checks every tensor's presence and
//! shape before building anything; saving writes a temp directory beside the
//! target and renames it into place, so a crash never leaves a half-written
//! checkpoint.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use tokenizers::Tokenizer;

use crate::config::Config;
use crate::decoder::Decoder;
use crate::error::{ModelError, Result};

pub use crate::files::resolve_model_dir;
use crate::files::{
    CONFIG_FILE, GENERATION_CONFIG_FILE, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE,
    WEIGHTS_INDEX_FILE,
};

/// A loaded checkpoint. `varmap` owns the weights as trainable `Var`s and
/// `decoder` is built on them, so gradients of the decoder's outputs reach
/// `varmap.all_vars()`.
pub struct Checkpoint {
    pub dir: PathBuf,
    pub config: Config,
    pub varmap: VarMap,
    pub decoder: Decoder,
    /// `None` when the directory has no `tokenizer.json`.
    pub tokenizer: Option<Tokenizer>,
    /// The raw `generation_config.json`, if present.
    pub generation_config: Option<serde_json::Value>,
    /// The checkpoint's own chat template, kept by checkpoints saved from it.
    pub chat_template: Option<String>,
}

impl Checkpoint {
    /// The token ids that end generation: `config.json`'s `eos_token_id` and those
    /// `generation_config.json` lists (where transformers and vLLM read it, and where
    /// chat models often keep their end-of-turn token).
    pub fn eos_token_ids(&self) -> Vec<u32> {
        let mut ids = self.config.eos_token_ids();
        let listed = self
            .generation_config
            .as_ref()
            .and_then(|g| g.get("eos_token_id"))
            .map(crate::config::token_ids)
            .unwrap_or_default();
        for id in listed {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }
}

/// Loads an HF directory as f32 on `device`. See [`load_with_dtype`].
pub fn load(dir: impl AsRef<Path>, device: &Device) -> Result<Checkpoint> {
    load_with_dtype(dir, device, DType::F32)
}

/// Loads an HF directory on `place` for sampling, with 8-bit copies of the weights when
/// `weights` asks for them (see [`crate::Decoder::quantize_for_sampling`]).
pub fn load_for_sampling(
    dir: impl AsRef<Path>,
    (place, weights): (&crate::device::Placement, crate::device::SampleDtype),
) -> Result<Checkpoint> {
    let mut ck = load_with_dtype(dir, &place.device, place.dtype)?;
    if weights == crate::device::SampleDtype::Q8 {
        ck.decoder.quantize_for_sampling()?;
    }
    Ok(ck)
}

/// Loads an HF directory (or a training run's output, see [`resolve_model_dir`]),
/// converting weights to `dtype`.
pub fn load_with_dtype(dir: impl AsRef<Path>, device: &Device, dtype: DType) -> Result<Checkpoint> {
    let dir = &resolve_model_dir(dir.as_ref())?;
    if dir.is_file() {
        return Err(ModelError::NotADirectory { path: dir.into() });
    }
    if !dir.is_dir() {
        return Err(ModelError::MissingFile { path: dir.into() });
    }
    let config = Config::from_file(&dir.join(CONFIG_FILE))?;
    let tensors = read_weights(dir, &config, device, dtype)?;
    let varmap = varmap_from_tensors(tensors)?;
    let decoder = Decoder::new(&config, VarBuilder::from_varmap(&varmap, dtype, device))?;
    let tok_path = dir.join(TOKENIZER_FILE);
    let tokenizer = if tok_path.exists() {
        Some(load_tokenizer(&tok_path)?)
    } else {
        None
    };
    let gen_path = dir.join(GENERATION_CONFIG_FILE);
    let generation_config = if gen_path.exists() {
        let text = std::fs::read_to_string(&gen_path).map_err(|e| ModelError::io(&gen_path, e))?;
        Some(serde_json::from_str(&text).map_err(|e| ModelError::Json {
            path: gen_path.clone(),
            msg: e.to_string(),
        })?)
    } else {
        None
    };
    let chat_template = crate::chat_template::ChatTemplate::source_in_dir(dir)?;
    Ok(Checkpoint {
        dir: dir.into(),
        config,
        varmap,
        decoder,
        tokenizer,
        generation_config,
        chat_template,
    })
}

/// Reads a `tokenizer.json`.
pub fn load_tokenizer(path: &Path) -> Result<Tokenizer> {
    if !path.is_file() {
        return Err(ModelError::InvalidArgument(format!(
            "{}: no such tokenizer file (a tokenizer.json)",
            path.display()
        )));
    }
    Tokenizer::from_file(path).map_err(|e| ModelError::Tokenizer {
        path: path.into(),
        msg: e.to_string(),
    })
}

/// Wraps tensors as trainable variables.
pub fn varmap_from_tensors(tensors: HashMap<String, Tensor>) -> Result<VarMap> {
    let varmap = VarMap::new();
    {
        let mut data = varmap.data().lock().expect("varmap lock");
        for (name, t) in tensors {
            data.insert(name, Var::from_tensor(&t)?);
        }
    }
    Ok(varmap)
}

/// Maps the weights of `dir` (single `model.safetensors` or a sharded index)
/// and returns every parameter `cfg` needs, checked by name and shape, as
/// `dtype`. Extra tensors (e.g. a tied `lm_head.weight`) are ignored.
pub fn read_weights(
    dir: &Path,
    cfg: &Config,
    device: &Device,
    dtype: DType,
) -> Result<HashMap<String, Tensor>> {
    let single = dir.join(WEIGHTS_FILE);
    let index = dir.join(WEIGHTS_INDEX_FILE);
    let files: Vec<PathBuf> = if single.exists() {
        vec![single]
    } else if index.exists() {
        let text = std::fs::read_to_string(&index).map_err(|e| ModelError::io(&index, e))?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| ModelError::Json {
            path: index.clone(),
            msg: e.to_string(),
        })?;
        let mut names: Vec<String> = v["weight_map"]
            .as_object()
            .ok_or_else(|| ModelError::Json {
                path: index.clone(),
                msg: "no 'weight_map' object".into(),
            })?
            .values()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect();
        names.sort();
        names.dedup();
        names.into_iter().map(|n| dir.join(n)).collect()
    } else {
        return Err(ModelError::MissingFile { path: single });
    };
    let mut maps = Vec::new();
    for f in &files {
        let file = std::fs::File::open(f).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ModelError::MissingFile { path: f.clone() }
            } else {
                ModelError::io(f, e)
            }
        })?;
        // SAFETY: the file is opened read-only; like every mmap reader we assume
        // nobody truncates it while the checkpoint is being read.
        let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| ModelError::io(f, e))?;
        maps.push((f.clone(), mmap));
    }
    let mut parsed = Vec::new();
    for (f, m) in &maps {
        let st = safetensors::SafeTensors::deserialize(m).map_err(|e| ModelError::Corrupt {
            path: f.clone(),
            msg: format!("not a valid safetensors file: {e}"),
        })?;
        parsed.push((f, st));
    }
    let mut out = HashMap::new();
    for (name, shape) in cfg.parameter_shapes() {
        let found = parsed
            .iter()
            .find_map(|(f, st)| st.tensor(&name).ok().map(|v| (*f, v)));
        let (file, view) = match found {
            Some(x) => x,
            None => {
                return Err(ModelError::MissingTensor {
                    path: files[0].clone(),
                    tensor: name,
                })
            }
        };
        if view.shape() != shape.as_slice() {
            return Err(ModelError::Shape {
                path: file.clone(),
                tensor: name,
                expected: shape,
                found: view.shape().to_vec(),
            });
        }
        let t = candle_core::safetensors::Load::load(&view, device)
            .and_then(|t| t.to_dtype(dtype))
            .map_err(|e| ModelError::Tensor {
                path: file.clone(),
                tensor: name.clone(),
                msg: e.to_string(),
            })?;
        out.insert(name, t);
    }
    Ok(out)
}

/// Writes an HF directory atomically: `config.json`, `model.safetensors`
/// (every parameter of `config` taken from `varmap`, f32 or whatever dtype
/// the vars have), `generation_config.json`, and `tokenizer.json` when given.
/// An existing `dir` is replaced as a whole.
pub fn save(
    dir: impl AsRef<Path>,
    config: &Config,
    varmap: &VarMap,
    tokenizer: Option<&Tokenizer>,
) -> Result<()> {
    save_as(dir, config, varmap, tokenizer, None, None)
}

/// [`save`] with every weight converted to `dtype` (`None`: as the vars hold them), so
/// f32 master weights can be written as the bf16 checkpoint they came from.
/// `chat_template` (the source checkpoint's) is kept in `tokenizer_config.json`.
pub fn save_as(
    dir: impl AsRef<Path>,
    config: &Config,
    varmap: &VarMap,
    tokenizer: Option<&Tokenizer>,
    dtype: Option<DType>,
    chat_template: Option<&str>,
) -> Result<()> {
    let data = varmap.data().lock().expect("varmap lock");
    let mut tensors: Vec<(String, Tensor)> = Vec::new();
    for (name, shape) in config.parameter_shapes() {
        let var = data.get(&name).ok_or_else(|| ModelError::MissingTensor {
            path: PathBuf::from("<varmap>"),
            tensor: name.clone(),
        })?;
        let t = var.as_tensor();
        if t.dims() != shape.as_slice() {
            return Err(ModelError::Shape {
                path: PathBuf::from("<varmap>"),
                tensor: name,
                expected: shape,
                found: t.dims().to_vec(),
            });
        }
        let t = match dtype {
            Some(d) => t.to_dtype(d)?,
            None => t.clone(),
        };
        tensors.push((name, t.to_device(&Device::Cpu)?.contiguous()?));
    }
    drop(data);
    let named: Vec<(&str, &Tensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    save_tensors(dir.as_ref(), config, &named, tokenizer, chat_template)
}

/// Like [`save_as`] for tensors not held in a `VarMap` (GGUF import, conversions).
pub fn save_tensors(
    dir: &Path,
    config: &Config,
    tensors: &[(&str, &Tensor)],
    tokenizer: Option<&Tokenizer>,
    chat_template: Option<&str>,
) -> Result<()> {
    let mut config = config.clone();
    if let Some((_, t)) = tensors.first() {
        config.torch_dtype = Some(
            match t.dtype() {
                DType::F16 => "float16",
                DType::BF16 => "bfloat16",
                DType::F64 => "float64",
                _ => "float32",
            }
            .into(),
        );
    }
    refuse_to_replace(dir)?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| ModelError::io(&parent, e))?;
    let name = dir
        .file_name()
        .ok_or_else(|| {
            ModelError::InvalidArgument(format!("{}: not a directory name", dir.display()))
        })?
        .to_string_lossy()
        .to_string();
    let stamp = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    let tmp = parent.join(format!(".{name}.tmp-{stamp}"));
    let result = (|| -> Result<()> {
        std::fs::create_dir(&tmp).map_err(|e| ModelError::io(&tmp, e))?;
        write_file(&tmp.join(CONFIG_FILE), config.to_json().as_bytes())?;
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), "pt".to_string());
        let st_path = tmp.join(WEIGHTS_FILE);
        safetensors::serialize_to_file(tensors.iter().map(|(n, t)| (*n, *t)), Some(meta), &st_path)
            .map_err(|e| ModelError::Tensor {
                path: st_path.clone(),
                tensor: String::new(),
                msg: e.to_string(),
            })?;
        crate::files::permissions_of(&tmp.join(CONFIG_FILE), &st_path)?;
        write_file(
            &tmp.join(GENERATION_CONFIG_FILE),
            serde_json::to_string_pretty(&generation_config(&config))
                .expect("json")
                .as_bytes(),
        )?;
        if let Some(tok) = tokenizer {
            let p = tmp.join(TOKENIZER_FILE);
            tok.save(&p, false).map_err(|e| ModelError::Tokenizer {
                path: p.clone(),
                msg: e.to_string(),
            })?;
            write_file(
                &tmp.join(TOKENIZER_CONFIG_FILE),
                serde_json::to_string_pretty(&crate::chat::tokenizer_config(
                    tok,
                    &config,
                    chat_template,
                ))
                .expect("json")
                .as_bytes(),
            )?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if dir.exists() {
        let old = parent.join(format!(".{name}.old-{stamp}"));
        std::fs::rename(dir, &old).map_err(|e| ModelError::io(dir, e))?;
        std::fs::rename(&tmp, dir).map_err(|e| ModelError::io(dir, e))?;
        let _ = std::fs::remove_dir_all(&old);
    } else {
        std::fs::rename(&tmp, dir).map_err(|e| ModelError::io(dir, e))?;
    }
    Ok(())
}

/// A save replaces `dir` as a whole, which is right for a model directory and wrong for
/// anything else a mistyped path may name (a dataset, a file).
fn refuse_to_replace(dir: &Path) -> Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return Ok(());
    };
    let empty = || std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none());
    if meta.is_dir() && (dir.join(CONFIG_FILE).is_file() || empty()) {
        return Ok(());
    }
    Err(ModelError::InvalidArgument(format!(
        "{} exists and is not a model directory (no {CONFIG_FILE}); a model replaces only a \
         model directory or an empty one: choose another path, or remove it first",
        dir.display()
    )))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| ModelError::io(path, e))
}

fn generation_config(cfg: &Config) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    if let Some(b) = &cfg.bos_token_id {
        m.insert("bos_token_id".into(), b.clone());
    }
    if let Some(e) = &cfg.eos_token_id {
        m.insert("eos_token_id".into(), e.clone());
    }
    m.insert("transformers_version".into(), "4.46.0".into());
    serde_json::Value::Object(m)
}

/// A decoder computing in `dtype` over the vars of `varmap` (f32 master weights): each
/// weight is cast when the decoder is built, and the cast is on the autograd graph, so
/// gradients land on the f32 vars. Build one per forward; it holds no state.
pub fn compute_decoder(
    config: &Config,
    varmap: &VarMap,
    dtype: DType,
    device: &Device,
) -> Result<Decoder> {
    let data = varmap.data().lock().expect("varmap lock");
    let tensors: HashMap<String, Tensor> = data
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    drop(data);
    Ok(Decoder::new(
        config,
        VarBuilder::from_tensors(tensors, dtype, device),
    )?)
}

/// The dtype a checkpoint's `config.json` says its weights are stored in (f32 when unsaid).
pub fn stored_dtype(config: &Config) -> DType {
    match config.torch_dtype.as_deref() {
        Some("bfloat16") => DType::BF16,
        Some("float16") => DType::F16,
        Some("float64") => DType::F64,
        _ => DType::F32,
    }
}
