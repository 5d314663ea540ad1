//! The round's stages around [`crate::iterate::audit`]: the audit suite on
//! the samples behind the SFT rows the round selected (`train-audit`) and
//! behind the chosen sides of its DPO pairs (`dpo-audit`).

use std::path::Path;

use anyhow::Result;

use super::{Ctx, Phase};
use crate::iterate::audit::{execute_audit, read_train_audit, AuditedRow, TrainAudit};

/// Which rows of a round an audit stage judges.
pub(super) struct AuditOf {
    /// The stage directory under `round-NN/`.
    pub stage: &'static str,
    /// What the rows are, in progress and summary lines.
    pub what: &'static str,
}

pub(super) const SFT_ROWS: AuditOf = AuditOf {
    stage: "train-audit",
    what: "training rows",
};
pub(super) const DPO_CHOSEN: AuditOf = AuditOf {
    stage: "dpo-audit",
    what: "DPO pairs' chosen programs",
};

impl Ctx<'_> {
    /// Runs the audit suite on the samples behind `rows` and counts how many
    /// of those rows it rejects. Resumable: a finished audit is read back,
    /// not run again.
    pub(super) fn audit_rows<R: AuditedRow>(
        &mut self,
        round: u32,
        of: &AuditOf,
        rows: &[R],
        samples_dir: &Path,
    ) -> Result<TrainAudit> {
        let dir = self.run.stage_dir(round, of.stage);
        let problems_dir = self.problems_dir.clone();
        let opts = crate::stages::exec_options(self.cfg.execute.as_ref(), Vec::new(), false);
        let out = dir.clone();
        self.stage(
            Phase::Execute,
            &dir.join("executions"),
            &format!("round {round} audit of {}", of.what),
            || execute_audit(&problems_dir, samples_dir, rows, &out, &opts),
        )?;
        let audit = read_train_audit(rows, &dir)?;
        if let Some(rate) = audit.rate {
            crate::status::say(format_args!(
                "round {round}: {:.1}% of {} audited {} fail the audit tests",
                100.0 * rate,
                audit.audited,
                of.what
            ));
        }
        Ok(audit)
    }
}
