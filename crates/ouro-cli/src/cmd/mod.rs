//! One module per command: clap arguments and a call into a library.

pub mod build;
pub mod execute;
pub mod fait;
pub mod import;
pub mod launch;
pub mod lintseq;
pub mod model;
pub mod problems;
pub mod report;
pub mod run;
pub mod sample;
pub mod serve;
pub mod stats;
pub mod tests;
pub mod tokenizer;
pub mod train;
