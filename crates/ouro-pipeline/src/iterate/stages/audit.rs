//! The round's stage around [`crate::iterate::audit`]: the audit suite on
//! the samples behind the SFT rows the round selected.

use std::path::Path;

use anyhow::Result;
use ouro_data::SftRecord;

use super::{Ctx, Phase};
use crate::iterate::audit::{execute_audit, read_train_audit, TrainAudit};

impl Ctx<'_> {
    /// Runs the audit suite on the samples behind `accepted` (the round's SFT
    /// selection) and counts how many of those rows it rejects. Resumable:
    /// a finished audit is read back, not run again.
    pub(super) fn audit_training_rows(
        &mut self,
        round: u32,
        accepted: &[SftRecord],
        samples_dir: &Path,
    ) -> Result<TrainAudit> {
        let dir = self.run.stage_dir(round, "train-audit");
        let problems_dir = self.problems_dir.clone();
        let opts = crate::stages::exec_options(self.cfg.execute.as_ref(), Vec::new(), false);
        let out = dir.clone();
        self.stage(
            Phase::Execute,
            &dir.join("executions"),
            &format!("round {round} audit of training rows"),
            || execute_audit(&problems_dir, samples_dir, accepted, &out, &opts),
        )?;
        let audit = read_train_audit(accepted, &dir)?;
        if let Some(rate) = audit.rate {
            crate::status::say(format_args!(
                "round {round}: {:.1}% of {} audited training rows fail the audit tests",
                100.0 * rate,
                audit.audited
            ));
        }
        Ok(audit)
    }
}
