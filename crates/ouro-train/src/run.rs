//! Library entry points from directories: load an HF model dir and data shards, train,
//! write checkpoints, metrics, the loss curve and the final model into `out`.

use candle_core::{Device, Var};
use ouro_data::{DpoRecord, RepairRecord, SftRecord};
use ouro_model::checkpoint::{self as mck, Checkpoint};
use ouro_model::lora::{LoraAdapters, LoraConfig};
use ouro_model::train_pass::{GradSlots, TrainPass};
use std::path::Path;

use crate::config::{DpoConfig, LoraSettings, SftConfig};
use crate::engine::TrainReport;
use crate::error::{Result, TrainError};
use crate::model::TrainableLm;
use crate::sft::SftRows;
use crate::tokenize::{PrepStats, TextTokenizer};

/// An `ouro_model` decoder as a [`TrainableLm`]: every weight trainable, or (after
/// [`DecoderLm::with_lora`]) only LoRA adapters over the frozen weights.
pub struct DecoderLm {
    pub ckpt: Checkpoint,
    device: Device,
    lora: Option<LoraAdapters>,
    /// Whether gradients may come from ouro_model's hand-written train pass.
    hand_pass: bool,
}

/// `OURO_TRAIN_AUTOGRAD=1` sends every model through candle's autograd (to compare the
/// two paths, or to rule the hand-written one out).
fn hand_pass_default() -> bool {
    std::env::var_os("OURO_TRAIN_AUTOGRAD").is_none_or(|v| v != "1")
}

impl DecoderLm {
    /// Loads an HF directory (f32 weights) on `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let ckpt = mck::load(dir, device)
            .map_err(|e| TrainError::Model(format!("{}: {e}", dir.display())))?;
        Ok(Self {
            ckpt,
            device: device.clone(),
            lora: None,
            hand_pass: hand_pass_default(),
        })
    }

    /// Wraps an already built checkpoint (e.g. from `ouro_model::init`).
    pub fn from_checkpoint(ckpt: Checkpoint, device: &Device) -> Self {
        Self {
            ckpt,
            device: device.clone(),
            lora: None,
            hand_pass: hand_pass_default(),
        }
    }

    /// Takes every gradient through candle's autograd instead of the decoder's
    /// hand-written train pass (the reference the pass is tested against).
    pub fn with_autograd(mut self) -> Self {
        self.hand_pass = false;
        self
    }

    /// Freezes the model and attaches fresh LoRA adapters (`B = 0`, so the model's
    /// outputs are unchanged until the first update). From then on [`TrainableLm::vars`]
    /// are the adapters (PEFT names) and the DPO reference is the base with adapters off.
    pub fn with_lora(mut self, s: &LoraSettings) -> Result<Self> {
        let cfg = LoraConfig {
            r: s.r,
            lora_alpha: s.lora_alpha,
            lora_dropout: s.lora_dropout,
            target_modules: s.target_modules.clone(),
        };
        let dtype = self.ckpt.decoder.dtype();
        let adapters = LoraAdapters::init(&self.ckpt.config, &cfg, s.seed, dtype, &self.device)
            .map_err(|e| TrainError::Model(format!("lora: {e}")))?;
        self.ckpt.decoder.attach_lora(&adapters)?;
        self.lora = Some(adapters);
        Ok(self)
    }

    pub fn lora(&self) -> Option<&LoraAdapters> {
        self.lora.as_ref()
    }

    fn base_vars(&self) -> Vec<(String, Var)> {
        let data = self.ckpt.varmap.data().lock().expect("varmap lock");
        let mut v: Vec<(String, Var)> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Writes the adapters folded into the base weights as a full HF checkpoint at `dir`
    /// (replaced atomically). Without adapters this is the plain model.
    pub fn save_merged(&self, dir: &Path) -> Result<()> {
        let err = |e: ouro_model::ModelError| {
            TrainError::Model(format!("saving merged model {}: {e}", dir.display()))
        };
        let merged;
        let varmap = match &self.lora {
            Some(a) => {
                merged = a.merged(&self.ckpt.varmap).map_err(err)?;
                &merged
            }
            None => &self.ckpt.varmap,
        };
        mck::save(dir, &self.ckpt.config, varmap, self.ckpt.tokenizer.as_ref()).map_err(err)
    }

    /// The tokenizer of the checkpoint, with its EOS token as TRL appends it.
    pub fn text_tokenizer(&self) -> Result<TextTokenizer> {
        let tok = self.ckpt.tokenizer.clone().ok_or_else(|| {
            TrainError::Model(format!(
                "{}: no tokenizer.json in the model directory",
                self.ckpt.dir.display()
            ))
        })?;
        let eos_id = self.ckpt.config.eos_token_ids().first().copied();
        let eos_token = eos_id.and_then(|i| tok.id_to_token(i));
        Ok(TextTokenizer {
            tokenizer: tok,
            eos_token,
            pad_id: eos_id.unwrap_or(0),
        })
    }
}

impl TrainableLm for DecoderLm {
    fn token_logprobs(
        &self,
        ids: &candle_core::Tensor,
        targets: &candle_core::Tensor,
    ) -> candle_core::Result<candle_core::Tensor> {
        self.ckpt.decoder.token_logprobs(ids, targets)
    }

    fn train_pass(
        &self,
        ids: &candle_core::Tensor,
        targets: &candle_core::Tensor,
    ) -> candle_core::Result<Option<TrainPass>> {
        // Adapters train through autograd.
        if self.lora.is_some() || !self.hand_pass {
            return Ok(None);
        }
        TrainPass::forward(&self.ckpt.decoder, ids, targets)
    }

    fn train_pass_backward(
        &self,
        pass: TrainPass,
        coef: &[f32],
        grads: &mut GradSlots,
    ) -> candle_core::Result<()> {
        pass.backward(&self.ckpt.decoder, coef, grads)
    }

    fn reference_logprobs(
        &self,
        ids: &candle_core::Tensor,
        targets: &candle_core::Tensor,
    ) -> candle_core::Result<candle_core::Tensor> {
        // The train pass's forward alone (no LoRA here, so the base model is the model).
        if self.lora.is_none() && self.hand_pass {
            if let Some(pass) = TrainPass::forward(&self.ckpt.decoder, ids, targets)? {
                let (b, t) = pass.dims();
                return candle_core::Tensor::from_slice(pass.logprobs(), (b, t), &self.device);
            }
        }
        Ok(self
            .ckpt
            .decoder
            .token_logprobs_base(ids, targets, None)?
            .detach())
    }

    fn vars(&self) -> Vec<(String, Var)> {
        match &self.lora {
            Some(a) => a.vars(),
            None => self.base_vars(),
        }
    }

    fn reference_vars(&self) -> Vec<(String, Var)> {
        self.base_vars()
    }

    fn weights_file(&self) -> &'static str {
        match &self.lora {
            Some(_) => ouro_model::lora::ADAPTER_WEIGHTS_FILE,
            None => mck::WEIGHTS_FILE,
        }
    }

    fn device(&self) -> &Device {
        &self.device
    }

    fn save(&self, dir: &Path) -> Result<()> {
        if let Some(a) = &self.lora {
            std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
            return a
                .save(dir, &self.ckpt.dir.to_string_lossy())
                .map_err(|e| TrainError::Model(format!("saving adapters {}: {e}", dir.display())));
        }
        mck::save(
            dir,
            &self.ckpt.config,
            &self.ckpt.varmap,
            self.ckpt.tokenizer.as_ref(),
        )
        .map_err(|e| TrainError::Model(format!("saving {}: {e}", dir.display())))
    }
}

/// Column names of the first shard under `data` (a shard file or a directory of them).
fn columns(data: &Path) -> Result<Vec<String>> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let first = if data.is_file() {
        data.to_path_buf()
    } else {
        let shards = ouro_data::shard::list_shards(data).map_err(|e| TrainError::Data {
            path: data.into(),
            message: e.to_string(),
        })?;
        shards
            .into_iter()
            .next()
            .ok_or_else(|| TrainError::EmptyDataset {
                path: data.into(),
                detail: "no *.parquet shards".into(),
            })?
    };
    let f = std::fs::File::open(&first).map_err(|e| TrainError::io(&first, e))?;
    let r = SerializedFileReader::new(f).map_err(|e| TrainError::Data {
        path: first.clone(),
        message: e.to_string(),
    })?;
    let schema = r.metadata().file_metadata().schema_descr();
    Ok(schema
        .root_schema()
        .get_fields()
        .iter()
        .map(|f| f.name().to_string())
        .collect())
}

fn require(data: &Path, cols: &[String], needed: &[&str]) -> Result<()> {
    for n in needed {
        if !cols.iter().any(|c| c == n) {
            return Err(TrainError::Data {
                path: data.into(),
                message: format!("missing column '{n}' (found: {})", cols.join(", ")),
            });
        }
    }
    Ok(())
}

fn read<T: ouro_data::Record>(data: &Path) -> Result<Vec<T>> {
    ouro_data::shard::read_path::<T>(data).map_err(|e| TrainError::Data {
        path: data.into(),
        message: e.to_string(),
    })
}

fn write_json(path: &Path, v: &impl serde::Serialize) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(v).expect("serializes");
    ouro_data::fsutil::atomic_write(path, &bytes).map_err(|e| TrainError::Data {
        path: path.into(),
        message: e.to_string(),
    })
}

/// Final outputs: `out/model` (HF checkpoint; with LoRA the merged one, when
/// `merge`), `out/adapter` (PEFT adapters, LoRA only) and `train_report.json`.
fn finish(
    model: &DecoderLm,
    merge: bool,
    out: &Path,
    report: &TrainReport,
    stats: &PrepStats,
) -> Result<()> {
    if model.lora.is_some() {
        let tmp = out.join(".adapter.tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
        }
        model.save(&tmp)?;
        let dst = out.join("adapter");
        if dst.exists() {
            std::fs::remove_dir_all(&dst).map_err(|e| TrainError::io(&dst, e))?;
        }
        std::fs::rename(&tmp, &dst).map_err(|e| TrainError::io(&dst, e))?;
        if merge {
            model.save_merged(&out.join("model"))?;
        }
    } else {
        model.save(&out.join("model"))?;
    }
    write_json(
        &out.join("train_report.json"),
        &serde_json::json!({ "report": report, "data": stats }),
    )
}

fn load_model(dir: &Path, lora: Option<&LoraSettings>) -> Result<DecoderLm> {
    let model = DecoderLm::load(dir, &Device::Cpu)?;
    match lora {
        Some(s) => model.with_lora(s),
        None => Ok(model),
    }
}

fn merge(lora: &Option<LoraSettings>) -> bool {
    lora.as_ref().is_none_or(|l| l.merge)
}

/// SFT from an HF model dir and `sft` (prompt/completion) or `repair` (messages) shards.
pub fn train_sft(
    cfg: &SftConfig,
    model_dir: &Path,
    data: &Path,
    out: &Path,
) -> Result<(TrainReport, PrepStats)> {
    let cols = columns(data)?;
    let rows = if cols.iter().any(|c| c == "messages") {
        SftRows::Messages(read::<RepairRecord>(data)?)
    } else {
        require(data, &cols, &["prompt", "completion"])?;
        SftRows::PromptCompletion(read::<SftRecord>(data)?)
    };
    let model = load_model(model_dir, cfg.lora.as_ref())?;
    let tok = model.text_tokenizer()?;
    let (examples, stats) = crate::sft::prepare(&tok, &rows, cfg)?;
    if examples.is_empty() {
        return Err(TrainError::EmptyDataset {
            path: data.into(),
            detail: format!("{stats:?}"),
        });
    }
    let report = crate::sft::train_examples(&model, &examples, tok.pad_id, cfg, out, None)?;
    finish(&model, merge(&cfg.lora), out, &report, &stats)?;
    Ok((report, stats))
}

/// DPO from an HF model dir and `dpo` shards; the reference is the initial model (with
/// LoRA: the frozen base, adapters bypassed), and its log-probs are cached in `out/cache/`.
pub fn train_dpo(
    cfg: &DpoConfig,
    model_dir: &Path,
    data: &Path,
    out: &Path,
) -> Result<(TrainReport, PrepStats)> {
    let cols = columns(data)?;
    require(data, &cols, &["prompt", "chosen", "rejected"])?;
    let rows = read::<DpoRecord>(data)?;
    let model = load_model(model_dir, cfg.lora.as_ref())?;
    let tok = model.text_tokenizer()?;
    let (examples, stats) = crate::dpo::prepare(&tok, &rows, cfg)?;
    if examples.is_empty() {
        return Err(TrainError::EmptyDataset {
            path: data.into(),
            detail: format!("{stats:?}"),
        });
    }
    // The reference is the model as loaded, before any resumed checkpoint is applied.
    let (refs, _, _) = crate::dpo::cached_reference_logps(
        &model,
        &examples,
        tok.pad_id,
        cfg.optim.batch_size,
        &out.join("cache"),
    )?;
    let report = crate::dpo::train_examples(&model, &examples, &refs, tok.pad_id, cfg, out, None)?;
    finish(&model, merge(&cfg.lora), out, &report, &stats)?;
    Ok((report, stats))
}
