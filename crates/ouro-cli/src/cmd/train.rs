//! `ouro train sft|dpo`: argument parsing only; the logic lives in `ouro_train::run`.

use std::path::PathBuf;

use anyhow::Context;

/// Which objective to train.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Objective {
    /// Supervised fine-tuning on `sft` (prompt/completion) or `repair` (messages) shards.
    Sft,
    /// Direct preference optimisation on `dpo` (prompt/chosen/rejected) shards.
    Dpo,
}

/// Fine-tune a Hugging Face model directory with SFT or DPO (TRL 1.16 semantics).
///
/// Writes `<out>/metrics.jsonl` (one line per step), `<out>/loss.svg`,
/// `<out>/checkpoint-NNNNNN/` (weights + optimizer state; a rerun with the same --out
/// resumes from the latest one) and the final HF model in `<out>/model/`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  ouro train sft --model models/tiny --data run/round-01/data/sft --out run/round-01/sft
  ouro train sft --model models/smollm2 --data ~/datasets/my-hub-dataset --subset python --split train --out runs/hub-sft
  ouro train sft --print-config > sft.toml     # every key with its default, to edit
  ouro train dpo --model run/round-01/sft --data run/round-01/data/dpo --out run/round-01/dpo \\
      --config dpo.toml   # e.g. beta = 0.1, loss_type = \"ipo\", [optim] lr = 5e-6")]
pub struct Args {
    /// What to train: `sft` (prompt/completion or messages shards) or `dpo` (prompt/chosen/rejected).
    #[arg(value_enum)]
    pub objective: Objective,
    /// HF model directory (config.json, model.safetensors, tokenizer.json), or an earlier
    /// `ouro train --out` directory (its final model, `<out>/model`).
    #[arg(long, required_unless_present = "print_config")]
    pub model: Option<PathBuf>,
    /// Data: ouro's shards, or TRL's formats as Parquet or JSONL (a file, a directory of
    /// shards, or a Hugging Face dataset directory). SFT: prompt + completion (strings or
    /// message lists), text, or messages; DPO: prompt + chosen + rejected, or chosen +
    /// rejected message lists with a shared prompt. Extra columns are ignored.
    #[arg(long, required_unless_present = "print_config")]
    pub data: Option<PathBuf>,
    /// Hub dataset directory: the config (`load_dataset(path, NAME)`), from the README's
    /// `configs`, or a subdirectory when it declares none [default: the default config].
    #[arg(long)]
    pub subset: Option<String>,
    /// Hub dataset directory: the split to train on, from the README's `data_files` or
    /// from file names (`train-00000-of-00001.parquet`, `test.jsonl`) [default: train].
    #[arg(long)]
    pub split: Option<String>,
    /// Output directory (created; reused for resume).
    #[arg(long, value_parser = super::out_dir, required_unless_present = "print_config")]
    pub out: Option<PathBuf>,
    /// TOML config; missing keys take defaults (`--help` lists every key).
    #[arg(long, long_help = config_help())]
    pub config: Option<PathBuf>,
    /// Device: `cpu`, `cuda` or `cuda:N` [default: cuda:0 in a CUDA build with a GPU, else cpu].
    #[arg(long)]
    pub device: Option<String>,
    /// Compute dtype: `f32`, `bf16` or `f16` [default: f32 on cpu, bf16 on cuda]; weights
    /// stay f32 master copies whatever it is.
    #[arg(long)]
    pub dtype: Option<String>,
    /// Gradient path: `auto` (the hand-written f32 CPU pass where it applies, the
    /// device-generic path elsewhere, LoRA included) or `generic` (the device-generic path
    /// everywhere: ops with CUDA kernels and a hand-written backward built from them).
    /// OURO_TRAIN_AUTOGRAD=1 sends either through candle's autograd instead.
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: Backend,
    /// Dtype of the final `<out>/model` weights [default: the input checkpoint's].
    #[arg(long)]
    pub save_dtype: Option<String>,
    /// Also write the curves for a tracker: `tensorboard` writes `<out>/runs/events.*`
    /// (train/loss, train/learning_rate, train/grad_norm, DPO's rewards/*), for
    /// `tensorboard --logdir <out>/runs`.
    #[arg(long, value_enum, default_value = "none")]
    pub report_to: ReportTo,
    /// Print a JSON summary on stdout (`schema_version`, the model's path, steps,
    /// losses, rows kept and dropped) instead of the model's path alone. With LoRA,
    /// `adapter` is the adapter directory, and `model` is null when `[lora] merge = false`
    /// (the plain output then prints the adapter's path).
    #[arg(long)]
    pub json: bool,
    /// Print the training config as TOML (the defaults, with --config's keys applied)
    /// and exit: a starting point for a config file.
    #[arg(long)]
    pub print_config: bool,
}

/// Where training curves go besides `metrics.jsonl` (TRL's `report_to`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportTo {
    None,
    /// TensorBoard event files under `OUT/runs/`.
    Tensorboard,
}

/// Which gradient path `ouro train` takes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Auto,
    Generic,
}

/// `--config`'s long help: every key with its default, for both objectives,
/// drawn from the config types themselves so it cannot drift from them.
fn config_help() -> String {
    let indent = |t: String| -> String {
        t.lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let sft = ouro_train::SftConfig::default()
        .to_toml()
        .unwrap_or_default();
    let dpo = ouro_train::DpoConfig::default()
        .to_toml()
        .unwrap_or_default();
    format!(
        "TOML config; missing keys take the defaults below, unknown keys are an error. \
         `--print-config` prints them as a file to edit.\n\n  sft:\n{}\n\n  dpo:\n{}",
        indent(sft),
        indent(dpo)
    )
}

enum Config {
    Sft(ouro_train::SftConfig),
    Dpo(ouro_train::DpoConfig),
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.print_config {
        let text = match args.objective {
            Objective::Sft => {
                load_config::<ouro_train::SftConfig>(args.config.as_deref())?.to_toml()
            }
            Objective::Dpo => {
                load_config::<ouro_train::DpoConfig>(args.config.as_deref())?.to_toml()
            }
        }
        .context("printing the config as TOML")?;
        print!("{text}");
        return Ok(());
    }
    // clap requires these unless --print-config was given.
    let (model, data_path, out) = match (&args.model, &args.data, &args.out) {
        (Some(m), Some(d), Some(o)) => (m, d, o),
        _ => anyhow::bail!("--model, --data and --out are required"),
    };
    // A bad config value stops the run before a model or a dataset is read.
    let config = match args.objective {
        Objective::Sft => Config::Sft(load_config(args.config.as_deref())?),
        Objective::Dpo => Config::Dpo(load_config(args.config.as_deref())?),
    };
    let place = ouro_model::Placement::resolve(args.device.as_deref(), args.dtype.as_deref())?;
    let save_dtype = args
        .save_dtype
        .as_deref()
        .map(ouro_model::device::parse_dtype)
        .transpose()
        .map_err(|e| anyhow::anyhow!("{}", e.0.replacen("--dtype", "--save-dtype", 1)))?;
    let dev = ouro_train::run::TrainDevice {
        place,
        generic: args.backend == Backend::Generic,
        save_dtype,
    };
    let data = ouro_train::hub::DataSource {
        path: data_path,
        subset: args.subset.as_deref(),
        split: args.split.as_deref(),
    };
    // Re-running the command of a killed run resumes it; say so before the work starts.
    if let Some(latest) = ouro_train::checkpoint::latest(out) {
        say!(
            "resuming from {} (the same command and config continue a killed run; a new --out starts afresh)",
            latest.display()
        );
    }
    let (report, stats) = match &config {
        Config::Sft(cfg) => ouro_train::run::train_sft_on(cfg, model, data, out, &dev),
        Config::Dpo(cfg) => ouro_train::run::train_dpo_on(cfg, model, data, out, &dev),
    }
    .with_context(|| format!("training into {}", out.display()))?;
    let lora = match &config {
        Config::Sft(c) => c.lora.as_ref(),
        Config::Dpo(c) => c.lora.as_ref(),
    };
    let adapter = lora.map(|_| out.join("adapter"));
    // `[lora] merge = false` writes the adapters alone: name what exists, not `out/model`.
    let merged = lora.is_none_or(|l| l.merge);
    let trained = if merged {
        out.join(ouro_model::files::TRAINED_MODEL_DIR)
    } else {
        out.join("adapter")
    };
    let resumed = report
        .resumed_from
        .map(|step| format!(", resumed at step {step}"))
        .unwrap_or_default();
    if report.resumed_from == Some(report.steps) {
        say!(
            "nothing left to train: the run in {} had finished its {} steps; {} -> {}",
            out.display(),
            report.steps,
            if merged { "model" } else { "adapter" },
            trained.display()
        );
    } else {
        say!(
            "trained {} steps (final loss {:.4}{resumed}); {} of {} rows kept, {} truncated, {} dropped too long, {} without loss tokens; {} -> {}",
            report.steps,
            report.final_loss,
            stats.kept,
            stats.rows,
            stats.truncated,
            stats.dropped_too_long,
            stats.dropped_no_loss_tokens,
            if merged { "model" } else { "adapter (not merged: [lora] merge = false)" },
            trained.display()
        );
    }
    let events = match args.report_to {
        ReportTo::Tensorboard => {
            let events = ouro_report::tensorboard::export_train(out)?;
            say!("tensorboard: {}", events.display());
            Some(events)
        }
        ReportTo::None => None,
    };
    if args.json {
        super::print_json(
            "train",
            serde_json::json!({
                "model": merged.then_some(&trained),
                "adapter": adapter,
                "report": report,
                "data": stats,
                "tensorboard": events,
            }),
        );
    } else {
        println!("{}", trained.display());
    }
    Ok(())
}

/// The config file's keys over the defaults (the defaults alone without a file), checked.
fn load_config<
    T: Default + ouro_train::CheckedConfig + serde::Serialize + for<'de> serde::Deserialize<'de>,
>(
    path: Option<&std::path::Path>,
) -> anyhow::Result<T> {
    let cfg = match path {
        Some(p) => ouro_train::config::load_toml(p)?,
        None => T::default(),
    };
    if let Err(message) = cfg.check("") {
        match path {
            Some(p) => anyhow::bail!("{}: invalid config: {message}", p.display()),
            None => anyhow::bail!("invalid config: {message}"),
        }
    }
    Ok(cfg)
}
