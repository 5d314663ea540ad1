//! Expert iteration: round 0 trains a model on a seed split; each later round
//! samples the pool with the latest model, executes, keeps what passes, trains
//! on it, and evaluates pass@k on the held-out split.
//!
//! ```text
//! RUN/round-00/tokenizer/      tokenizer.json trained on the problems
//! RUN/round-00/init/           the random initialisation (model/)
//! RUN/round-00/train-data/     seed references as SFT rows
//! RUN/round-00/train-sft/      trainer output; model/ is the round's model
//! RUN/round-NN/samples/        the round's attempts at pool problems
//! RUN/round-NN/executions/
//! RUN/round-NN/dataset/        sft (+ dpo) rows built from them (ouro-rank)
//! RUN/round-NN/train-audit/    the audit suite on the sft rows' samples (`audit`)
//! RUN/round-NN/dpo-audit/      with a DPO step: the audit suite on the pairs' chosen programs
//! RUN/round-NN/train-data/     seed + replayed + new rows actually trained on
//! RUN/round-NN/eval/           held-out samples, executions and eval.json
//! RUN/control/round-NN/...     the seed-only control arm, when enabled
//! ```
//! Every directory is a stage with a completion marker, so a killed run
//! resumes at the stage it was in. All randomness is seeded by (run seed,
//! problem, round, index), which makes a resumed run produce the same result.

pub mod audit;
mod data;
pub mod eval;
mod stages;
mod table;

pub use stages::run_iteration;
pub use table::{other_ks, round_table};
