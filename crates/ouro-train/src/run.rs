//! Library entry points from directories: load an HF model dir and data shards, train,
//! write checkpoints, metrics, the loss curve and the final model into `out`.

use candle_core::{DType, Device, Var};
use ouro_model::checkpoint::{self as mck, Checkpoint};
use ouro_model::device::{dtype_name, Placement};
use ouro_model::lora::{LoraAdapters, LoraConfig};
use ouro_model::tensor_pass::TensorPass;
use ouro_model::train_pass::{GradSlots, TrainPass};
use ouro_model::Decoder;
use std::path::Path;

use crate::config::{CheckedConfig, DpoConfig, LoraSettings, SftConfig};
use crate::engine::TrainReport;
use crate::error::{Result, TrainError};
use crate::hub::DataSource;
use crate::model::TrainableLm;
use crate::tokenize::{PrepStats, TextTokenizer};

/// An `ouro_model` decoder as a [`TrainableLm`]: every weight trainable, or (after
/// [`DecoderLm::with_lora`]) only LoRA adapters over the frozen weights.
pub struct DecoderLm {
    pub ckpt: Checkpoint,
    device: Device,
    lora: Option<LoraAdapters>,
    /// Whether gradients may come from ouro_model's hand-written CPU train pass.
    hand_pass: bool,
    /// Whether gradients may come from ouro_model's device-generic hand-written pass
    /// (off: candle's autograd, the reference both passes are tested against).
    tensor_pass: bool,
    /// The dtype the forward computes in; when it differs from the vars' (f32 master
    /// weights), every forward casts them (see [`mck::compute_decoder`]).
    compute: DType,
    /// The dtype `config.json` of the loaded checkpoint names: the final model's default.
    stored: DType,
}

/// Where and how `ouro train` computes: device, compute dtype, which gradient path, and
/// the dtype the final model is written in.
#[derive(Debug, Clone)]
pub struct TrainDevice {
    pub place: Placement,
    /// The device-generic path (ops with CUDA kernels, gradients from the tensor pass)
    /// even where the hand-written CPU pass applies (`--backend generic`).
    pub generic: bool,
    /// `None`: the input checkpoint's dtype.
    pub save_dtype: Option<DType>,
}

impl TrainDevice {
    /// The build's default device (a GPU when there is one), fast path where it applies.
    pub fn auto() -> Self {
        TrainDevice {
            place: Placement::auto(),
            generic: false,
            save_dtype: None,
        }
    }

    /// f32 on the CPU.
    pub fn cpu() -> Self {
        TrainDevice {
            place: Placement::cpu(),
            generic: false,
            save_dtype: None,
        }
    }

    /// Whether gradients take candle's autograd (not the hand-written f32 CPU pass).
    pub fn uses_generic(&self) -> bool {
        self.generic || !self.place.device.is_cpu() || self.place.dtype != DType::F32
    }
}

/// `OURO_TRAIN_AUTOGRAD=1` sends every model through candle's autograd (to compare the
/// two paths, or to rule the hand-written one out).
fn hand_pass_default() -> bool {
    std::env::var_os("OURO_TRAIN_AUTOGRAD").is_none_or(|v| v != "1")
}

/// The decoder one forward runs.
enum Forward<'a> {
    Loaded(&'a Decoder),
    Cast(Box<Decoder>),
}

impl std::ops::Deref for Forward<'_> {
    type Target = Decoder;
    fn deref(&self) -> &Decoder {
        match self {
            Forward::Loaded(d) => d,
            Forward::Cast(d) => d,
        }
    }
}

impl DecoderLm {
    /// Loads an HF directory (f32 weights) on `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        Self::load_as(dir, device, DType::F32)
    }

    /// Loads an HF directory with its vars in `dtype` on `device`.
    pub fn load_as(dir: &Path, device: &Device, dtype: DType) -> Result<Self> {
        let ckpt = mck::load_with_dtype(dir, device, dtype)
            .map_err(|e| TrainError::Model(format!("{}: {e}", dir.display())))?;
        Ok(Self::from_checkpoint(ckpt, device))
    }

    /// Wraps an already built checkpoint (e.g. from `ouro_model::init`).
    pub fn from_checkpoint(ckpt: Checkpoint, device: &Device) -> Self {
        let compute = ckpt.decoder.dtype();
        let stored = mck::stored_dtype(&ckpt.config);
        Self {
            ckpt,
            device: device.clone(),
            lora: None,
            hand_pass: hand_pass_default(),
            tensor_pass: hand_pass_default(),
            compute,
            stored,
        }
    }

    /// Computes the forward in `dtype` over the (f32) vars, which stay the master
    /// weights the optimiser updates; log-probs come back in f32.
    pub fn with_compute_dtype(mut self, dtype: DType) -> Self {
        self.compute = dtype;
        if dtype != self.ckpt.decoder.dtype() {
            self.hand_pass = false;
        }
        self
    }

    /// The dtype the forward computes in.
    pub fn compute_dtype(&self) -> DType {
        self.compute
    }

    /// Whether gradients may come from the hand-written CPU pass.
    pub fn uses_hand_pass(&self) -> bool {
        self.hand_pass
            && self.lora.is_none()
            && self.ckpt.decoder.dtype() == DType::F32
            && self.device.is_cpu()
    }

    /// The decoder a forward runs: the loaded one, or one casting the master weights.
    fn decoder(&self) -> candle_core::Result<Forward<'_>> {
        if self.compute == self.ckpt.decoder.dtype() || self.lora.is_some() {
            return Ok(Forward::Loaded(&self.ckpt.decoder));
        }
        let mut d = mck::compute_decoder(
            &self.ckpt.config,
            &self.ckpt.varmap,
            self.compute,
            &self.device,
        )
        .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        d.set_generic_ops(self.ckpt.decoder.generic_ops());
        Ok(Forward::Cast(Box::new(d)))
    }

    /// Device-generic ops and autograd everywhere (`--backend generic`): the path a GPU
    /// takes, run on whatever device the model is on.
    pub fn with_generic(mut self) -> Self {
        self.hand_pass = false;
        self.ckpt.decoder.set_generic_ops(true);
        self
    }

    /// Takes every gradient through candle's autograd instead of the decoder's
    /// hand-written passes (the reference both are tested against).
    pub fn with_autograd(mut self) -> Self {
        self.hand_pass = false;
        self.tensor_pass = false;
        self
    }

    /// Whether gradients come from the device-generic hand-written pass (everywhere the
    /// CPU pass does not apply, unless [`DecoderLm::with_autograd`]).
    pub fn uses_tensor_pass(&self) -> bool {
        self.tensor_pass && !self.uses_hand_pass()
    }

    /// Which code computes the gradients, as `train_report.json` names it.
    pub fn gradient_path(&self) -> &'static str {
        if self.uses_hand_pass() {
            "hand-written CPU pass"
        } else if self.uses_tensor_pass() {
            "hand-written tensor pass"
        } else {
            "autograd"
        }
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
        self.save_merged_as(dir, None)
    }

    /// [`DecoderLm::save_merged`] with the weights written in `dtype` (`None`: as held).
    pub fn save_merged_as(&self, dir: &Path, dtype: Option<DType>) -> Result<()> {
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
        mck::save_as(
            dir,
            &self.ckpt.config,
            varmap,
            self.ckpt.tokenizer.as_ref(),
            dtype,
            self.ckpt.chat_template.as_deref(),
        )
        .map_err(err)
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
        // TRL appends the tokenizer's `eos_token`, which can differ from config.json's
        // first id (Llama 3.x Instruct: `<|eot_id|>` against `<|end_of_text|>`); a
        // config.json without one still has it. The config's id is the fallback.
        let configured =
            ouro_model::chat_template::ChatTemplate::configured_eos_token(&self.ckpt.dir)
                .map_err(|e| TrainError::Model(e.to_string()))?
                .filter(|t| tok.token_to_id(t).is_some());
        let eos_token = configured.or_else(|| eos_id.and_then(|i| tok.id_to_token(i)));
        let eos_id = eos_id.or_else(|| eos_token.as_deref().and_then(|t| tok.token_to_id(t)));
        let chat = match &self.ckpt.chat_template {
            Some(_) => ouro_model::chat_template::ChatTemplate::from_model_dir(&self.ckpt.dir)
                .map_err(|e| TrainError::Model(e.to_string()))?,
            None => None,
        };
        let vocab = self.ckpt.config.vocab_size;
        let pad_id = eos_id.unwrap_or(0);
        if pad_id as usize >= vocab {
            return Err(TrainError::Model(format!(
                "{}: config.json's eos_token_id {pad_id} (the padding id) is out of range for \
                 vocab_size {vocab}",
                self.ckpt.dir.display()
            )));
        }
        Ok(TextTokenizer {
            tokenizer: tok,
            eos_token,
            pad_id,
            chat,
            vocab_size: Some(vocab),
        })
    }
}

impl TrainableLm for DecoderLm {
    /// On a GPU, and under `--backend generic` so that the CPU tests the GPU's optimiser.
    fn optimizer_on_device(&self) -> bool {
        !self.device.is_cpu() || self.ckpt.decoder.generic_ops()
    }

    fn token_logprobs(
        &self,
        ids: &candle_core::Tensor,
        targets: &candle_core::Tensor,
    ) -> candle_core::Result<candle_core::Tensor> {
        // The losses are formed in f32 whatever the compute dtype.
        self.decoder()?
            .token_logprobs(ids, targets)?
            .to_dtype(DType::F32)
    }

    fn train_pass(
        &self,
        ids: &candle_core::Tensor,
        targets: &candle_core::Tensor,
    ) -> candle_core::Result<Option<TrainPass>> {
        // Adapters train through the tensor pass.
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

    fn tensor_pass(
        &self,
        ids: &candle_core::Tensor,
        targets: &candle_core::Tensor,
    ) -> candle_core::Result<Option<TensorPass>> {
        if !self.uses_tensor_pass() {
            return Ok(None);
        }
        TensorPass::forward(&*self.decoder()?, ids, targets).map(Some)
    }

    fn tensor_pass_backward(
        &self,
        pass: TensorPass,
        coef: &candle_core::Tensor,
    ) -> candle_core::Result<candle_core::backprop::GradStore> {
        let vars: std::collections::HashMap<String, Var> = self.vars().into_iter().collect();
        let mut store = candle_core::backprop::GradStore::default();
        for (name, grad) in pass.backward(coef)? {
            let var = vars.get(&name).ok_or_else(|| {
                candle_core::Error::Msg(format!("tensor pass: gradient for unknown weight {name}"))
            })?;
            store.insert(var.as_tensor(), grad);
        }
        Ok(store)
    }

    fn reference_logprobs(
        &self,
        ids: &candle_core::Tensor,
        targets: &candle_core::Tensor,
    ) -> candle_core::Result<candle_core::Tensor> {
        // A hand-written pass's forward alone: fewer kernels than the graph-recording
        // forward, and no graph kept. The CPU pass knows no LoRA (there the base model is
        // the model); the tensor pass bypasses the adapters itself.
        if self.lora.is_none() && self.hand_pass {
            if let Some(pass) = TrainPass::forward(&self.ckpt.decoder, ids, targets)? {
                let (b, t) = pass.dims();
                return candle_core::Tensor::from_slice(pass.logprobs(), (b, t), &self.device);
            }
        }
        if self.uses_tensor_pass() {
            return TensorPass::base_logprobs(&*self.decoder()?, ids, targets);
        }
        Ok(self
            .decoder()?
            .token_logprobs_base(ids, targets, None)?
            .to_dtype(DType::F32)?
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
            None => ouro_model::files::WEIGHTS_FILE,
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
    dev: &TrainDevice,
) -> Result<()> {
    let save_dtype = dev.save_dtype.unwrap_or(model.stored);
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
            model.save_merged_as(
                &out.join(ouro_model::files::TRAINED_MODEL_DIR),
                Some(save_dtype),
            )?;
        }
    } else {
        model.save_merged_as(
            &out.join(ouro_model::files::TRAINED_MODEL_DIR),
            Some(save_dtype),
        )?;
    }
    let c = compute(model);
    write_json(
        &out.join("train_report.json"),
        &serde_json::json!({
            "report": report,
            "data": stats,
            "device": c["device"],
            "dtype": c["dtype"],
            "backend": c["backend"],
            "gradients": model.gradient_path(),
            "save_dtype": dtype_name(save_dtype),
            "optimizer": if model.optimizer_on_device() { "device" } else { "host" },
        }),
    )
}

/// The device, dtype and backend a model trains with, as the report and the
/// resume check name them.
fn compute(model: &DecoderLm) -> serde_json::Value {
    serde_json::json!({
        "device": ouro_model::device::device_name(&model.device),
        "dtype": dtype_name(model.compute),
        "backend": if model.uses_hand_pass() { "fast" } else { "generic" },
    })
}

/// Where a run records the device, dtype and gradient path it trains with.
const COMPUTE_FILE: &str = "train_compute.json";

/// A resumed run continues on the device, dtype and path it started with: bf16
/// steps after f32 ones made a model neither run describes, and the report named
/// one of them for all. A run with no checkpoint yet starts afresh.
fn check_compute(out: &Path, model: &DecoderLm) -> Result<()> {
    let now = compute(model);
    let path = out.join(COMPUTE_FILE);
    if let Some(latest) = crate::checkpoint::latest(out) {
        let started: Option<serde_json::Value> = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        if let Some(started) = started.filter(|s| *s != now) {
            let name = |v: &serde_json::Value| {
                format!("{}, {}, {} backend", v["device"], v["dtype"], v["backend"])
                    .replace('"', "")
            };
            return Err(TrainError::Checkpoint {
                path: latest,
                message: format!(
                    "the run started on {} and would go on on {}; resume with the same \
                     --device, --dtype and --backend, or use a new --out dir",
                    name(&started),
                    name(&now)
                ),
            });
        }
    }
    write_json(&path, &now)
}

fn load_model(dir: &Path, lora: Option<&LoraSettings>, dev: &TrainDevice) -> Result<DecoderLm> {
    let (device, dtype) = (&dev.place.device, dev.place.dtype);
    let model = match lora {
        // Adapters train in the compute dtype over a frozen base held in it: the base
        // never changes, so it needs no f32 master copy.
        Some(s) => DecoderLm::load_as(dir, device, dtype)?.with_lora(s)?,
        None => DecoderLm::load(dir, device)?.with_compute_dtype(dtype),
    };
    // OURO_TRAIN_AUTOGRAD=1 also switches the tensor pass off (`hand_pass_default`).
    let model = if dev.generic || !hand_pass_default() {
        model.with_generic()
    } else {
        model
    };
    ouro_data::status::say(format_args!(
        "ouro train: device {}, dtype {}, {} path, gradients from the {}",
        ouro_model::device::device_name(device),
        dtype_name(dtype),
        if model.uses_hand_pass() {
            "fast"
        } else {
            "generic"
        },
        model.gradient_path()
    ));
    Ok(model)
}

fn merge(lora: &Option<LoraSettings>) -> bool {
    lora.as_ref().is_none_or(|l| l.merge)
}

/// `--model` as given, or the final model of the training run it names.
fn resolve_model_dir(dir: &Path) -> Result<std::path::PathBuf> {
    mck::resolve_model_dir(dir).map_err(|e| TrainError::Model(e.to_string()))
}

/// SFT from an HF model dir and `sft` (prompt/completion) or `repair` (messages) shards.
pub fn train_sft(
    cfg: &SftConfig,
    model_dir: &Path,
    data: &Path,
    out: &Path,
) -> Result<(TrainReport, PrepStats)> {
    train_sft_on(cfg, model_dir, data, out, &TrainDevice::auto())
}

/// [`train_sft`] on the device, dtype and path `dev` names.
pub fn train_sft_on<'d>(
    cfg: &SftConfig,
    model_dir: &Path,
    data: impl Into<DataSource<'d>>,
    out: &Path,
    dev: &TrainDevice,
) -> Result<(TrainReport, PrepStats)> {
    cfg.check("").map_err(TrainError::InvalidConfig)?;
    let model_dir = &resolve_model_dir(model_dir)?;
    let src = data.into();
    let data = src.path;
    crate::out_dir::check_apart(out, model_dir, data)?;
    let chat = ouro_model::chat_template::ChatTemplate::from_model_dir(model_dir)
        .map_err(|e| TrainError::Model(e.to_string()))?;
    let loaded = crate::formats::load_sft(&src, chat.as_ref())?;
    tracing::info!("{}: read as {}", data.display(), loaded.shape);
    let model = load_model(model_dir, cfg.lora.as_ref(), dev)?;
    let tok = model.text_tokenizer()?;
    let (examples, stats) = crate::sft::prepare(&tok, &loaded.rows, loaded.text, cfg)
        .map_err(|e| loaded.origins.locate(e))?;
    if examples.is_empty() {
        return Err(TrainError::EmptyDataset {
            path: data.into(),
            detail: stats.to_string(),
        });
    }
    let _lock = crate::out_dir::lock(out)?;
    check_compute(out, &model)?;
    let report = crate::sft::train_examples(&model, &examples, tok.pad_id, cfg, out, None)?;
    finish(&model, merge(&cfg.lora), out, &report, &stats, dev)?;
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
    train_dpo_on(cfg, model_dir, data, out, &TrainDevice::auto())
}

/// [`train_dpo`] on the device, dtype and path `dev` names.
pub fn train_dpo_on<'d>(
    cfg: &DpoConfig,
    model_dir: &Path,
    data: impl Into<DataSource<'d>>,
    out: &Path,
    dev: &TrainDevice,
) -> Result<(TrainReport, PrepStats)> {
    cfg.check("").map_err(TrainError::InvalidConfig)?;
    let model_dir = &resolve_model_dir(model_dir)?;
    let src = data.into();
    let data = src.path;
    crate::out_dir::check_apart(out, model_dir, data)?;
    let chat = ouro_model::chat_template::ChatTemplate::from_model_dir(model_dir)
        .map_err(|e| TrainError::Model(e.to_string()))?;
    let loaded = crate::formats::load_dpo(&src, chat.as_ref())?;
    tracing::info!("{}: read as {}", data.display(), loaded.shape);
    let model = load_model(model_dir, cfg.lora.as_ref(), dev)?;
    let tok = model.text_tokenizer()?;
    let (examples, stats) = crate::dpo::prepare(&tok, &loaded.rows, loaded.text, cfg)
        .map_err(|e| loaded.origins.locate(e))?;
    if examples.is_empty() {
        return Err(TrainError::EmptyDataset {
            path: data.into(),
            detail: stats.to_string(),
        });
    }
    let _lock = crate::out_dir::lock(out)?;
    check_compute(out, &model)?;
    // The reference is the model as loaded, before any resumed checkpoint is applied.
    let (refs, _, _) = crate::dpo::cached_reference_logps(
        &model,
        &examples,
        tok.pad_id,
        cfg.optim.batch_size,
        &out.join("cache"),
    )?;
    let report = crate::dpo::train_examples(&model, &examples, &refs, tok.pad_id, cfg, out, None)?;
    finish(&model, merge(&cfg.lora), out, &report, &stats, dev)?;
    Ok((report, stats))
}
