//! What a round trains on: rows in the prompt format the round samples with,
//! the round's accepted rows read back, and the device the trainers run on.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use ouro_data::run::{part_path, StageStats};
use ouro_data::{shard, SftRecord, ShardSpec};

use super::{Ctx, Phase};

impl Ctx<'_> {
    /// Whether rounds sample with a chat template (and so train on chat rows).
    pub(super) fn chat(&self) -> bool {
        self.cfg
            .iterate
            .as_ref()
            .is_some_and(|i| i.sampling.prompt_format == ouro_model::chat::PromptFormat::ChatMl)
    }

    /// How training rows hold a program: what follows the prompt for plain
    /// prompts (the model continues the signature), the whole program for chat.
    pub(super) fn completion_format(&self) -> ouro_rank::pairs::CompletionFormat {
        if self.chat() {
            ouro_rank::pairs::CompletionFormat::Code
        } else {
            ouro_rank::pairs::CompletionFormat::Continuation
        }
    }

    /// For chat rounds: each row's prompt as the model is given it when
    /// sampling, and the program as a fenced reply.
    pub(super) fn as_chat(&self, model: &Path, rows: Vec<SftRecord>) -> Result<Vec<SftRecord>> {
        if !self.chat() {
            return Ok(rows);
        }
        let render = ouro_model::chat::PromptRenderer::for_model(
            model,
            ouro_model::chat::PromptFormat::ChatMl,
        )?;
        rows.into_iter()
            .map(|mut r| {
                r.prompt = render.prompt(&r.prompt)?;
                r.completion = ouro_rank::pairs::CompletionFormat::Fenced.render("", &r.completion);
                Ok(r)
            })
            .collect()
    }

    pub(super) fn write_train_data(
        &mut self,
        round: u32,
        arm: &str,
        rows: Vec<SftRecord>,
    ) -> Result<PathBuf> {
        let dir = self.arm_dir(round, arm, "train-data");
        let d = dir.clone();
        self.stage(Phase::Build, &dir, &format!("{arm}train-data"), move || {
            if rows.is_empty() {
                bail!("no training rows (the seed split has no reference solutions and no sample passed)");
            }
            shard::write_records(part_path(&d, ShardSpec::default()), &rows)?;
            let mut s = StageStats::default();
            for r in &rows {
                s.add(&format!("rows_{}", r.origin), 1);
            }
            Ok(s)
        })?;
        Ok(dir)
    }

    /// The SFT rows a round selected from its own samples.
    pub(super) fn accepted_rows(&self, round: u32) -> Result<Vec<SftRecord>> {
        self.dataset_rows(round, "sft")
    }

    /// The rows of one config (`sft`, `dpo`, ...) of a round's dataset.
    pub(super) fn dataset_rows<R: ouro_data::Record>(
        &self,
        round: u32,
        config: &str,
    ) -> Result<Vec<R>> {
        let dir = self.run.stage_dir(round, "dataset");
        let mut rows: Vec<R> = Vec::new();
        for f in ouro_data::hf::scan_configs(&dir)?
            .into_iter()
            .filter(|c| c.config == config)
            .flat_map(|c| c.files)
        {
            rows.extend(shard::read_records::<R>(dir.join(f))?);
        }
        Ok(rows)
    }

    /// `[model] device`/`dtype` for the trainers (f32 master weights either way).
    pub(super) fn train_device(&self) -> Result<ouro_train::run::TrainDevice> {
        let place = match &self.cfg.model {
            Some(m) => m.placement()?,
            None => ouro_model::Placement::auto(),
        };
        Ok(ouro_train::run::TrainDevice {
            place,
            generic: false,
            save_dtype: None,
        })
    }
}
