//! From verdicts to datasets.
//!
//! `ouro-rank` turns executed samples into training data: it builds a pass
//! matrix per problem, scores samples with a ranker, and selects SFT rows,
//! DPO pairs and repair conversations, after exact and near deduplication
//! and benchmark decontamination (bigcode's substring rule by default).
//!
//! Entry points (input shards → Hugging Face layout + card):
//! [`build::build_sft`], [`build::build_dpo`], [`build::build_repair`],
//! plus [`build::build_mutants`] (injected-error candidates to execute) and
//! [`build::build_generated_tests`] (CodeT test problems to execute).
//!
//! Modules: [`matrix`] (pass matrices, generated tests), [`rankers`] (pass
//! rate, CodeT, CodeDPO-style PageRank, B4 — formulas in its docs),
//! [`pool`] (per-problem candidates, bad-input counts), [`dedup`] (exact,
//! MinHash LSH), [`decontam`] (benchmark substrings, fingerprints, n-grams), [`mutate`] (injected errors), [`pairs`],
//! [`sft`], [`repair`], [`metrics`] (pass@k, B-STaR balance, false
//! positives), [`card`] (dataset card sections).
//!
//! Architecture invariant: this crate never runs untrusted code. Whatever
//! needs execution (mutants, generated tests) leaves as sample or problem
//! shards and comes back as execution shards.

pub mod build;
pub mod card;
pub mod decontam;
pub mod dedup;
pub mod matrix;
pub mod metrics;
pub mod mutate;
pub mod options;
pub mod pairs;
pub mod pool;
pub mod rankers;
pub mod render;
pub mod repair;
pub mod sft;
