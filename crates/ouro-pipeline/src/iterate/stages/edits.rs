//! The edit datasets a round can build beside its SFT rows: LintSeq edit
//! sequences of the accepted programs and FAIT weight spans.

use std::collections::HashSet;

use anyhow::Result;
use ouro_data::run::{part_path, StageStats};
use ouro_data::{shard, Sample, SftRecord, ShardSpec};

use super::{Ctx, Phase};
use crate::config::{DatasetKind, IterateStage};

impl Ctx<'_> {
    /// LintSeq edit sequences of the round's accepted programs (`round-NN/lintseq`) and
    /// FAIT weight spans between its passing and similar failing samples
    /// (`round-NN/fait`), when `datasets` asks for them. Rounds do not train on them.
    pub(super) fn edit_datasets(
        &mut self,
        round: u32,
        it: &IterateStage,
        accepted: &[SftRecord],
    ) -> Result<()> {
        let dir = self.run.round_dir(round);
        let ((samples_dir, execs), problems) = (self.round_data(round), self.problems_dir.clone());
        if it.datasets.contains(&DatasetKind::Lintseq) {
            let out = dir.join("lintseq");
            let opts = ouro_edits::lintseq::LintseqOptions {
                seed: self.cfg.problems.seed ^ u64::from(round),
                problems: Some(problems.clone()),
                sequences_per_program: 2,
                progress: false,
                ..Default::default()
            };
            let o = out.clone();
            self.stage(
                Phase::Build,
                &out,
                &format!("round {round} lintseq"),
                || {
                    let accepted: HashSet<&str> = accepted
                        .iter()
                        .filter_map(|r| r.sample_id.as_deref())
                        .collect();
                    let samples: Vec<Sample> = shard::read_dir(&samples_dir)?;
                    let keep: Vec<Sample> = samples
                        .into_iter()
                        .filter(|s| accepted.contains(s.sample_id.as_str()))
                        .collect();
                    let mut s = StageStats::default();
                    s.add("programs_in", keep.len() as u64);
                    if keep.is_empty() {
                        return Ok(s);
                    }
                    // Under `_accepted/`, which no dataset config scan picks up.
                    let input = o.join("_accepted");
                    shard::write_records(part_path(&input, ShardSpec::default()), &keep)?;
                    let r = ouro_edits::lintseq::run(&input, &o, &opts)?;
                    s.add("sequences", r.sequences);
                    Ok(s)
                },
            )?;
        }
        if it.datasets.contains(&DatasetKind::Fait) {
            let out = dir.join("fait");
            let o = out.clone();
            // The round's samples as drawn: held-out and benchmark text is left out
            // here, as the round's build leaves it out.
            let (benchmarks, decontaminate) =
                crate::stages::decontamination(&self.cfg.decontaminate(), &self.splits.eval, &dir)?;
            let exclude = crate::stages::benchmark_exclusion(&benchmarks, &decontaminate)?;
            self.stage(Phase::Build, &out, &format!("round {round} fait"), || {
                let opts = ouro_edits::fait::FaitOptions {
                    progress: false,
                    exclude,
                    ..Default::default()
                };
                let r = ouro_edits::fait::run(&execs, &samples_dir, &problems, &o, &opts)?;
                let mut s = StageStats::default();
                s.add("pairs", r.pairs);
                Ok(s)
            })?;
        }
        Ok(())
    }
}
