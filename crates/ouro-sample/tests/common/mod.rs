//! What the loopback tests share.

use std::path::{Path, PathBuf};

/// A tiny random-init checkpoint with a tokenizer trained on a few lines of code.
pub fn tiny_model(dir: &Path) -> PathBuf {
    let texts: Vec<String> = (0..40)
        .map(|i| format!("def f{i}(x):\n    \"\"\"Return x plus {i}.\"\"\"\n    return x + {i}\n"))
        .collect();
    let tok = ouro_model::tokenizer::train_bpe(texts, 300).unwrap();
    let tok_path = dir.join("tokenizer.json");
    ouro_model::tokenizer::save_tokenizer(&tok, &tok_path).unwrap();
    let out = dir.join("tiny-model");
    ouro_model::init::init_checkpoint("tiny", &tok_path, 0, &out).unwrap();
    out
}
