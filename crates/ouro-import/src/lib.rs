//! Importers: external problem sets and raw generations into ouro shards.
//!
//! Every error names the file, the line and the field at fault, and an
//! import that fails writes no output shard (shards are written atomically,
//! after the whole input has been read and checked).

pub mod generations;
pub mod ids;
pub mod jsonl;
pub mod problems;
mod prompts;
mod pyliteral;
pub mod sample;

pub use generations::{import_generations, GenerationFormat, GenerationImport};
pub use ids::IdRule;
pub use jsonl::ImportError;
pub use problems::{import_problems, FieldMap, ProblemFormat};
