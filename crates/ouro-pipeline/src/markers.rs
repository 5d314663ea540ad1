//! Stage markers: a stage runs unless its completion marker says it already
//! finished, and what it did is added to the run's summary. The data pipeline
//! (`runner`) and the iteration rounds (`iterate`) both run their stages
//! through here, so neither imports the other for it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use ouro_data::run::{done_stats, mark_done, prepare_shard_dir, StageStats};
use ouro_data::ShardSpec;

/// What a run did, stage by stage.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    pub root: PathBuf,
    /// (stage, resumed?, stats)
    pub stages: Vec<(String, bool, StageStats)>,
    /// Per-round evaluation, for pipelines that train.
    pub rounds: Option<ouro_data::report::RunReport>,
}

/// Runs one stage unless its completion marker says it already finished.
pub(crate) fn stage(
    report: &mut RunSummary,
    dir: &Path,
    name: &str,
    body: impl FnOnce() -> Result<StageStats>,
) -> Result<()> {
    stage_shard(report, dir, name, ShardSpec::default(), body)
}

/// Runs `shard` of one stage unless its completion marker says it already finished.
pub(crate) fn stage_shard(
    report: &mut RunSummary,
    dir: &Path,
    name: &str,
    shard: ShardSpec,
    body: impl FnOnce() -> Result<StageStats>,
) -> Result<()> {
    if let Some(stats) = done_stats(dir, shard)? {
        report.stages.push((name.into(), true, stats));
        return Ok(());
    }
    prepare_shard_dir(dir, shard)?;
    let t0 = Instant::now();
    if shard.count == 1 {
        crate::status::say(format_args!("stage {name} ..."));
    } else {
        crate::status::say(format_args!(
            "stage {name} (shard {} of {}) ...",
            shard.index, shard.count
        ));
    }
    let mut stats = body().with_context(|| format!("stage '{name}'"))?;
    stats.time("total", t0.elapsed().as_secs_f64());
    mark_done(dir, shard, &stats)?;
    report.stages.push((name.into(), false, stats));
    Ok(())
}
