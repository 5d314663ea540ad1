//! From verdicts to datasets.
//!
//! `ouro-rank` turns executed samples into training data: it builds a pass
//! matrix per problem, scores samples with a ranker, and selects SFT rows,
//! DPO pairs and repair conversations, after exact and near deduplication
//! and n-gram decontamination.
//!
//! Architecture invariant: this crate never runs untrusted code. Whatever
//! needs execution (mutants, generated tests) is handed to the caller
//! through a trait or comes back as execution shards.

pub mod build;
pub mod card;
pub mod dedup;
pub mod matrix;
pub mod metrics;
pub mod mutate;
pub mod pairs;
pub mod pool;
pub mod pytok;
pub mod rankers;
pub mod repair;
pub mod sft;
