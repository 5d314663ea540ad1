//! ouro's pipeline layer: pipeline configs and the stage runner, and stats over shards (polars).
//!
//! Stages are library functions of other crates; this crate only orders
//! them, records completion markers and resumes.

pub mod config;
pub mod iterate;
mod markers;
pub mod runner;
pub mod seeds;
mod stages;
pub mod stats;
pub mod status;

pub use stages::benchmark_exclusion;
