//! The dataset cards of `ouro fait` and `ouro lintseq`, so that
//! `datasets.load_dataset(out, "<config>")` reads each config on its own (without
//! one, `load_dataset(out)` mixes FAIT's `sft` and `dpo` rows into one table).

use std::collections::BTreeMap;
use std::path::Path;

use ouro_data::hf::{refresh_card_configs, write_dataset_card, CardInfo};

use crate::EditsError;

/// FAIT's card: its configs, what the span columns mean and the options of the run.
pub(crate) fn write_fait_card(
    out: &Path,
    options: &crate::FaitOptions,
    inputs: [(&str, &Path); 3],
) -> Result<(), EditsError> {
    let mut provenance = provenance(inputs);
    for (key, value) in [
        ("max_distance", options.max_distance),
        ("token_weight", f64::from(options.token_weight)),
        ("line_weight", f64::from(options.line_weight)),
        (
            "rejected_token_weight",
            f64::from(options.rejected_token_weight),
        ),
        (
            "rejected_line_weight",
            f64::from(options.rejected_line_weight),
        ),
    ] {
        provenance.insert(key.to_string(), value.to_string());
    }
    let info = CardInfo {
        title: "ouro fait".into(),
        description: format!(
            "FAIT weight spans from `ouro fait`: `sft` holds each passing program once \
             (`prompt`, `completion`, `weight_spans`), `dpo` pairs it with its nearest failing \
             program (`prompt`, `chosen`, `rejected`, `chosen_spans`, `rejected_spans`). {SPANS}"
        ),
        provenance,
        sections: Vec::new(),
    };
    write_dataset_card(out, &info)?;
    Ok(())
}

/// LintSeq's card, or, in a dataset that has a card already (an `ouro build`'s),
/// that card with the `lintseq` config added to its list.
pub(crate) fn write_lintseq_card(
    out: &Path,
    options: &crate::LintseqOptions,
    input: &Path,
) -> Result<(), EditsError> {
    if out.join("README.md").is_file() {
        return Ok(refresh_card_configs(out)?);
    }
    let mut provenance = provenance([("input", input)]);
    provenance.insert(
        "sequences_per_program".into(),
        options.sequences_per_program.to_string(),
    );
    provenance.insert("seed".into(), options.seed.to_string());
    provenance.insert("strict".into(), options.strict.to_string());
    let info = CardInfo {
        title: "ouro lintseq".into(),
        description: "LintSeq edit sequences from `ouro lintseq`: each row's `completion` is a \
                      sequence of diffs (each after `<|diff|>`) that, applied in order to an empty \
                      file, rebuilds a program; intermediate states are clean under the rules of \
                      pylint's ouro checks without type inference (the reference LintSeq's \
                      pylint also infers: a state may keep an E1101 no-member or W0231 it would \
                      have removed; `strict` adds use-before-binding)."
            .into(),
        provenance,
        sections: Vec::new(),
    };
    write_dataset_card(out, &info)?;
    Ok(())
}

/// What the span columns count, said where the data is read.
const SPANS: &str = "A span `{start, end, weight}` weighs the characters `[start, end)` of its \
                     completion: offsets count Unicode characters (Python `str` indices), not \
                     bytes or tokens.";

fn provenance<const N: usize>(inputs: [(&str, &Path); N]) -> BTreeMap<String, String> {
    let mut provenance = BTreeMap::new();
    provenance.insert(
        "ouro-edits version".to_string(),
        env!("CARGO_PKG_VERSION").to_string(),
    );
    for (name, path) in inputs {
        provenance.insert(name.to_string(), path.display().to_string());
    }
    provenance
}
