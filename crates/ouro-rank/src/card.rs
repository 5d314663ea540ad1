//! The dataset card: the lead's generic HF card plus ouro-rank's sections.
//!
//! The card is rebuilt from every `<out>/<config>/_build_report.json`, so it
//! always describes all configs present, whichever was built last.

use std::collections::BTreeMap;
use std::path::Path;

use ouro_data::hf::{write_dataset_card, CardInfo};
use ouro_data::DataError;

use crate::options::BuildReport;

fn fmt_opt(x: Option<f64>) -> String {
    x.map_or("n/a".into(), |v| format!("{v:.4}"))
}

/// Reads the build reports under `out_dir`, sorted by config name.
pub fn read_reports(out_dir: &Path) -> Result<Vec<BuildReport>, DataError> {
    let mut reports = Vec::new();
    let entries = std::fs::read_dir(out_dir).map_err(|e| DataError::io(out_dir, e))?;
    for entry in entries.flatten() {
        if let Some(path) = ouro_data::hf::config_report(&entry.path()) {
            let text = std::fs::read_to_string(&path).map_err(|e| DataError::io(&path, e))?;
            let r: BuildReport = serde_json::from_str(&text)
                .map_err(|e| DataError::invalid(&path, format!("not a build report: {e}")))?;
            reports.push(r);
        }
    }
    reports.sort_by(|a, b| a.config.cmp(&b.config));
    Ok(reports)
}

/// What a build decontaminated against, in words.
fn benchmark_names(r: &BuildReport) -> String {
    let mut names: Vec<String> = r
        .options
        .decontaminate
        .builtin
        .iter()
        .map(|b| format!("{b} (built in)"))
        .collect();
    for p in r.inputs.eval_problems.iter().chain(&r.inputs.benchmarks) {
        names.push(format!("`{}`", p.display()));
    }
    if names.is_empty() {
        "nothing (no benchmark given)".into()
    } else {
        names.join(", ")
    }
}

/// Markdown sections for the reports: per-config summary, pair kinds, metrics, cleaning, warnings.
pub fn card_sections(reports: &[BuildReport]) -> Vec<(String, String)> {
    let mut sections = Vec::new();
    // No build time here: the card is part of the dataset, and two identical builds must
    // write identical datasets (the time stays in each `_build_report.json`).
    let mut summary = String::from("| config | rows | ranker |\n|---|---:|---|\n");
    for r in reports {
        summary.push_str(&format!(
            "| `{}` | {} | {} |\n",
            r.config,
            r.rows,
            r.options.ranker.label()
        ));
    }
    sections.push(("Build".to_string(), summary));

    if let Some(r) = reports.first() {
        sections.push((
            "Completion format".to_string(),
            completion_format_note(r.options.completion_format),
        ));
    }
    if let Some(dpo) = reports.iter().find(|r| r.config == "dpo") {
        let mut t = String::from("| pair_kind | pairs |\n|---|---:|\n");
        for k in ["correctness", "efficiency", "injected_error", "repair"] {
            t.push_str(&format!(
                "| `{k}` | {} |\n",
                dpo.selection[k].as_u64().unwrap_or(0)
            ));
        }
        let s = &dpo.selection;
        t.push_str(&format!(
            "\nFailing side ranked at or above the passing side (kept: labels come from the trusted tests): {}; ties dropped: {}; below the score margin: {}; efficiency pairs too close to call: {}; mutants tried: {}, not executed: {}, survived the tests: {}.\n",
            s["score_inversions"], s["dropped_ties"], s["dropped_margin"], s["efficiency_too_close"], s["mutants_tried"], s["mutants_not_executed"], s["mutants_survived"]
        ));
        sections.push(("Pair kinds".to_string(), t));
    }
    if let Some(sft) = reports.iter().find(|r| r.config == "sft") {
        let s = &sft.selection;
        sections.push((
            "SFT selection".to_string(),
            format!(
                "Sample rows: {}; reference rows: {} (needed {}, available {}); problems with rows: {}; problems below their quota: {} (deficit {}).\n",
                s["sample_rows"], s["reference_rows"], s["references_needed"], s["references_available"], s["problems_with_rows"], s["problems_below_quota"], s["quota_deficit"]
            ),
        ));
    }
    if let Some(rep) = reports.iter().find(|r| r.config == "repair") {
        let s = &rep.selection;
        sections.push((
            "Repair selection".to_string(),
            format!(
                "Records: {}; failing samples with no passing program to fix them: {}; fixes less similar than {} (token Jaccard) to the failing program, left out: {}.\n\nEach conversation holds the failing program as an earlier assistant turn and the fix as the last. Train the last turn only: `ouro train`'s default (`assistant_turns = \"last\"`); TRL's `assistant_only_loss = True` trains every assistant turn, the failing program included.\n",
                s["records"], s["failing_without_fix"], rep.options.repair.min_similarity, s["fix_too_dissimilar"]
            ),
        ));
    }
    if let Some(r) = reports.first() {
        let m = &r.metrics;
        let mut t = String::from("Per-problem pass rate of the executed samples (filter suite):\n\n| problems | mean | median | min | max |\n|---:|---:|---:|---:|---:|\n");
        let p = &m.pass_rate;
        t.push_str(&format!(
            "| {} | {:.4} | {:.4} | {:.4} | {:.4} |\n\n",
            p.problems, p.mean, p.median, p.min, p.max
        ));
        t.push_str("| metric | value |\n|---|---:|\n");
        for (k, v, n) in &m.pass_at_k {
            t.push_str(&format!(
                "| pass@{k} (unbiased, {n} problems) | {} |\n",
                fmt_opt(*v)
            ));
        }
        t.push_str(&format!(
            "| false-positive rate (passes filter, fails audit) | {} |\n",
            fmt_opt(m.false_positive_rate)
        ));
        let balance = reports.iter().find_map(|r| r.metrics.bstar_balance);
        t.push_str(&format!(
            "| B-STaR balance (unique correct / drawn) | {} |\n",
            fmt_opt(balance)
        ));
        sections.push(("Pass rates and round metrics".to_string(), t));

        let pool = &r.pool;
        let d = &pool["dedup"];
        sections.push((
            "Deduplication and decontamination".to_string(),
            format!(
                "| step | count |\n|---|---:|\n| candidates | {} |\n| exact duplicates (normalised code) | {} |\n| near duplicates (MinHash {}-gram, {} permutations, threshold {}, {} bands × {} rows) | {} |\n| decontaminated samples | {} |\n| decontaminated problems (prompt matched) | {} |\n| kept | {} |\n\nDeduplication is {}. Decontamination: {}, against {}.\n",
                d["input"], d["exact_duplicates"], r.options.dedup.shingle, r.options.dedup.num_perm, r.options.dedup.threshold,
                d["lsh_bands"], d["lsh_rows"], d["near_duplicates"], pool["decontaminated_samples"],
                pool["decontaminated_problems"], d["kept"], r.options.dedup.scope.label(), r.options.decontaminate.label(),
                benchmark_names(r)
            ),
        ));
    }
    let warnings: Vec<String> = reports
        .iter()
        .flat_map(|r| {
            r.warnings
                .iter()
                .map(move |w| format!("- `{}`: {w}", r.config))
        })
        .collect();
    if !warnings.is_empty() {
        sections.push(("Input warnings".to_string(), warnings.join("\n")));
    }
    sections
}

/// How `prompt` and `completion` (or `chosen`, `rejected`) fit together, which
/// decides how a trainer should read them: TRL trains a standard (plain-string)
/// row on prompt + completion, so whole programs repeat a code prompt.
fn completion_format_note(format: crate::render::CompletionFormat) -> String {
    use crate::render::CompletionFormat::*;
    let whole = |name: &str, fence: &str| {
        format!(
            "`--completion-format {name}`: each completion, chosen and rejected is the whole program{fence}, as a chat or instruct model writes it, so where the prompt is code (a signature and docstring) the program repeats it. Trained as TRL's standard (plain-string) format, the text is prompt + completion and holds the prompt twice: train these rows through a chat template, or rebuild with `--completion-format continuation` for a base model.\n"
        )
    };
    match format {
        Code => whole("code", ""),
        Fenced => whole("fenced", " in a ```python fence"),
        Continuation => "`--completion-format continuation`: each completion, chosen and rejected is what follows the prompt, so prompt + completion is the whole program, as TRL's standard (plain-string) format trains it; programs that do not start with their prompt are left out. Repair rows (the `repair` config, and `dpo` pairs of kind `repair`) are the exception: their prompt ends in a request to fix a program, which no program continues, so their completions hold the whole program.\n"
            .to_string(),
    }
}

/// Rewrites `<out_dir>/README.md` from the build reports found there.
pub fn write_card(out_dir: &Path) -> Result<(), DataError> {
    let reports = read_reports(out_dir)?;
    let mut provenance = BTreeMap::new();
    provenance.insert(
        "ouro-rank version".to_string(),
        env!("CARGO_PKG_VERSION").to_string(),
    );
    for r in &reports {
        provenance.insert(
            format!("{} inputs", r.config),
            serde_json::to_string(&r.inputs).unwrap_or_default(),
        );
        provenance.insert(
            format!("{} options", r.config),
            serde_json::to_string(&r.options).unwrap_or_default(),
        );
    }
    let info = CardInfo {
        title: "ouro build".to_string(),
        description: "Training data built by `ouro build` from executed samples: SFT rows (`prompt`, `completion`), preference pairs (`prompt`, `chosen`, `rejected`, `pair_kind`) and repair conversations (`messages`), in TRL's column layout.".to_string(),
        provenance,
        sections: card_sections(&reports),
    };
    write_dataset_card(out_dir, &info)?;
    Ok(())
}
