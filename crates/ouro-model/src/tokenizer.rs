//! Training the small code-aware BPE tokenizer that the embedded default uses.
//!
//! Byte-level BPE (any text encodes, nothing is unknown) over a pre-tokenizer
//! that splits code the way a programmer reads it: identifiers and keywords
//! (with their leading space), single digits, runs of punctuation, newlines and
//! indentation runs. With a few hundred merges the frequent words of the
//! problem family (`def`, ` return`, `    `, ` for`, ...) become single tokens,
//! which is what makes a from-scratch model fast (DESIGN §6).

use std::path::Path;

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::models::TrainerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use crate::error::{ModelError, Result};

/// End of text; also used as padding. Always id 0 in trained tokenizers.
pub const EOS_TOKEN: &str = "<|endoftext|>";
/// ChatML markers, reserved so chat-formatted data stays representable.
pub const IM_START: &str = "<|im_start|>";
pub const IM_END: &str = "<|im_end|>";

/// Code-aware split: identifiers with an optional leading space, single
/// digits, punctuation runs, newlines, indentation runs, other whitespace.
pub const CODE_SPLIT_REGEX: &str =
    r"\n| ?[A-Za-z_][A-Za-z_0-9]*| ?[0-9]| ?[^\sA-Za-z_0-9]+| +(?=\S)| +|\s";

/// The tokenizer pipeline (untrained model): split + byte-level mapping, byte-level decoder.
fn pipeline(model: BPE) -> Result<Tokenizer> {
    let split = Split::new(
        SplitPattern::Regex(CODE_SPLIT_REGEX.to_string()),
        SplitDelimiterBehavior::Isolated,
        false,
    )
    .map_err(|e| ModelError::Tokenize(e.to_string()))?;
    let mut tok = Tokenizer::new(model);
    tok.with_pre_tokenizer(Some(Sequence::new(vec![
        split.into(),
        ByteLevel::new(false, false, false).into(),
    ])));
    tok.with_decoder(Some(ByteLevelDecoder::new(false, false, false)));
    Ok(tok)
}

/// Whether [`train_bpe`] can train a vocabulary of `vocab_size` tokens; a
/// pipeline asks before anything runs.
pub fn check_vocab_size(vocab_size: usize) -> Result<()> {
    let specials = [EOS_TOKEN, IM_START, IM_END];
    if vocab_size < 256 + specials.len() {
        return Err(ModelError::InvalidArgument(format!(
            "vocab size {vocab_size} is below the {} byte and special symbols",
            256 + specials.len()
        )));
    }
    // The trainer allocates for the size asked before it learns anything: 2^32 asked for
    // 283 GB and aborted. The largest real vocabularies are about 2^18.
    const MAX_VOCAB: usize = 1 << 20;
    if vocab_size > MAX_VOCAB {
        return Err(ModelError::InvalidArgument(format!(
            "vocab size {vocab_size} is above the {MAX_VOCAB} supported"
        )));
    }
    Ok(())
}

/// Trains a byte-level BPE with at most `vocab_size` tokens (including the 256
/// byte symbols and the special tokens) on `texts`. Deterministic for the same
/// texts in the same order.
pub fn train_bpe<I, S>(texts: I, vocab_size: usize) -> Result<Tokenizer>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str> + Send,
{
    check_vocab_size(vocab_size)?;
    let specials = [EOS_TOKEN, IM_START, IM_END];
    let mut tok = pipeline(BPE::default())?;
    let trainer = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(
            specials
                .iter()
                .map(|s| AddedToken::from(*s, true))
                .collect(),
        )
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build();
    let mut trainer = TrainerWrapper::BpeTrainer(trainer);
    let texts: Vec<String> = texts.into_iter().map(|s| s.as_ref().to_string()).collect();
    tok.train(&mut trainer, texts.into_iter())
        .map_err(|e| ModelError::Tokenize(e.to_string()))?;
    tok.add_special_tokens(
        specials
            .iter()
            .map(|s| AddedToken::from(*s, true))
            .collect::<Vec<_>>(),
    )
    .map_err(|e| ModelError::Tokenize(e.to_string()))?;
    Ok(tok)
}

/// The texts a tokenizer for a problem family is trained on: each problem's
/// prompt, starter code and reference solution.
pub fn problem_texts(problems: &[ouro_data::Problem]) -> Vec<String> {
    let mut out = Vec::with_capacity(problems.len() * 2);
    for p in problems {
        out.push(p.prompt.clone());
        if !p.starter_code.is_empty() {
            out.push(p.starter_code.clone());
        }
        if let Some(r) = &p.reference_solution {
            out.push(r.clone());
        }
    }
    out
}

/// Reads every `part-*.parquet` of `Problem`s under `dir` and trains a tokenizer on them.
pub fn train_on_problems(dir: &Path, vocab_size: usize) -> Result<Tokenizer> {
    let problems = ouro_data::shard::read_dir::<ouro_data::Problem>(dir)
        .map_err(|e| ModelError::Data(e.to_string()))?;
    if problems.is_empty() {
        return Err(ModelError::Data(format!(
            "{}: no problems found (expected part-*.parquet shards of problems)",
            dir.display()
        )));
    }
    train_bpe(problem_texts(&problems), vocab_size)
}

/// Writes `tokenizer.json` atomically.
pub fn save_tokenizer(tok: &Tokenizer, path: &Path) -> Result<()> {
    let json = tok.to_string(false).map_err(|e| ModelError::Tokenizer {
        path: path.into(),
        msg: e.to_string(),
    })?;
    ouro_data::fsutil::atomic_write(path, json.as_bytes())
        .map_err(|e| ModelError::Data(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocab_sizes_outside_the_supported_range_are_refused_before_training() {
        for (size, says) in [
            (100, "is below"),
            (1 << 32, "is above the 1048576 supported"),
        ] {
            let e = train_bpe(corpus(), size).unwrap_err().to_string();
            assert!(e.contains(says), "{size}: {e}");
        }
    }

    fn corpus() -> Vec<String> {
        (0..200)
            .map(|i| {
                format!(
                    "def f{i}(xs):\n    \"\"\"Return the sum of the even numbers in xs.\"\"\"\n    return sum(x for x in xs if x % 2 == 0)\n"
                )
            })
            .collect()
    }

    #[test]
    fn trained_tokenizer_round_trips_text_and_learns_code_words() {
        let tok = train_bpe(corpus(), 400).unwrap();
        assert!(tok.get_vocab_size(true) <= 400);
        assert_eq!(tok.token_to_id(EOS_TOKEN), Some(0));
        let text = "def g(xs):\n    return [x * 3 for x in xs if x > 10]  # unseen é\n";
        let enc = tok.encode(text, false).unwrap();
        assert_eq!(tok.decode(enc.get_ids(), false).unwrap(), text);
        // frequent words became single tokens
        let ret = tok.encode("    return", false).unwrap();
        assert!(ret.get_ids().len() <= 2, "{:?}", ret.get_tokens());
        // far fewer tokens than bytes
        let src = &corpus()[7];
        assert!(tok.encode(src.as_str(), false).unwrap().get_ids().len() * 2 < src.len());
    }

    #[test]
    fn training_is_deterministic() {
        let a = train_bpe(corpus(), 350).unwrap().to_string(false).unwrap();
        let b = train_bpe(corpus(), 350).unwrap().to_string(false).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn special_tokens_are_single_ids() {
        let tok = train_bpe(corpus(), 300).unwrap();
        let enc = tok
            .encode(format!("{IM_START}user\nhi{IM_END}"), false)
            .unwrap();
        assert_eq!(enc.get_ids()[0], tok.token_to_id(IM_START).unwrap());
    }
}
