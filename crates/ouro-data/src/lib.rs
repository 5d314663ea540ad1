//! ouro's data contracts.
//!
//! Every stage of ouro reads and writes shards of the records defined here.
//! This crate depends on no other ouro crate: it is the vocabulary the rest
//! of the workspace speaks.

mod arrow_de;
pub mod datetime;
pub mod error;
pub mod fsutil;
pub mod hf;
pub mod id;
pub mod jsonl;
pub mod progress;
pub mod records;
pub mod report;
pub mod run;
pub mod schema;
pub mod shard;
pub mod sharding;
pub mod status;

pub use error::{DataError, Result};
pub use id::{content_id, derive_seed, ContentHasher};
pub use records::*;
pub use schema::Record;
pub use sharding::ShardSpec;
