//! The file names of a Hugging Face checkpoint directory. A leaf module, so
//! that the checkpoint loader, the chat template and the tokenizer helpers
//! can all name the files without importing one another.

pub const CONFIG_FILE: &str = "config.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const WEIGHTS_INDEX_FILE: &str = "model.safetensors.index.json";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const GENERATION_CONFIG_FILE: &str = "generation_config.json";
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";
