//! Status lines on stderr: [`ouro_data::status`], which the pipeline's stages and the
//! libraries they call share.

pub use ouro_data::status::{quiet, say, set_quiet};
