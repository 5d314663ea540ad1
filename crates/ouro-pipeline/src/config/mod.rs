//! A pipeline file: every section's type, in one place, and the checks that
//! run before any stage does. Data stages (`[problems]`, `[samples]`,
//! `[execute]`, `[build]`, `[lintseq]`) are here; the expert-iteration
//! sections (`[tokenizer]`, `[model]`, `[seed_sft]`, `[iterate]`, `[eval]`)
//! in [`iterate`]. The runner and the rounds read the same types.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

pub mod iterate;
pub use iterate::{
    check_config, BudgetKind, EvalStage, IterateStage, ModelStage, RankTests, SamplingStage,
    SeedSftStage, TokenizerStage,
};

/// The CPU limit of one sandboxed run when `[execute] cpu_ms` is not set.
pub const DEFAULT_CPU_MS: u64 = ouro_data::Limits::DEFAULT_CPU_MS;

/// A dataset a stage builds: `[build] configs` (sft, dpo, repair) and
/// `[iterate] datasets` (those, plus lintseq and fait).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatasetKind {
    Sft,
    Dpo,
    Repair,
    Lintseq,
    Fait,
}

impl DatasetKind {
    /// Whether building `kinds` reads `lines_executed`: only efficiency pairs
    /// (in `dpo` rows) do, so executions for anything else skip the tracer,
    /// which slows loop-heavy tests 2-4x.
    pub fn read_line_counts(kinds: &[DatasetKind]) -> bool {
        kinds.contains(&DatasetKind::Dpo)
    }

    pub const ALL: [DatasetKind; 5] = [
        DatasetKind::Sft,
        DatasetKind::Dpo,
        DatasetKind::Repair,
        DatasetKind::Lintseq,
        DatasetKind::Fait,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Sft => "sft",
            DatasetKind::Dpo => "dpo",
            DatasetKind::Repair => "repair",
            DatasetKind::Lintseq => "lintseq",
            DatasetKind::Fait => "fait",
        }
    }

    /// Built by `ouro_rank::build` from samples and executions (the others are edit datasets).
    pub fn is_ranked(self) -> bool {
        matches!(
            self,
            DatasetKind::Sft | DatasetKind::Dpo | DatasetKind::Repair
        )
    }
}

impl std::fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for DatasetKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        DatasetKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                format!("unknown config '{s}' (expected sft, dpo, repair, lintseq or fait)")
            })
    }
}

/// Dataset names under `key`; an unknown one is an error naming the key
/// (serde's own location is a line and column, not a key).
pub(crate) fn dataset_kinds<'de, D: serde::Deserializer<'de>>(
    d: D,
    key: &str,
) -> Result<Vec<DatasetKind>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| {
            s.parse()
                .map_err(|e| serde::de::Error::custom(format!("key '{key}': {e}")))
        })
        .collect()
}

fn build_configs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<DatasetKind>, D::Error> {
    dataset_kinds(d, "build.configs")
}

impl<'de> Deserialize<'de> for DatasetKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A pipeline file. Unknown keys are rejected, with the key named.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Run directory, relative to the current directory.
    pub out: PathBuf,
    pub problems: ProblemsStage,
    pub samples: Option<SamplesStage>,
    pub execute: Option<ExecuteStage>,
    pub build: Option<BuildStage>,
    pub lintseq: Option<LintseqStage>,
    pub tokenizer: Option<TokenizerStage>,
    pub model: Option<ModelStage>,
    pub seed_sft: Option<SeedSftStage>,
    pub iterate: Option<IterateStage>,
    pub eval: Option<EvalStage>,
    /// Absent: the defaults of [`DecontaminateStage`].
    pub decontaminate: Option<DecontaminateStage>,
}

impl PipelineConfig {
    /// Every seed that shapes a run, keyed by the TOML key that sets it.
    pub fn seeds(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        out.insert("problems.seed".to_string(), self.problems.seed);
        if let Some(l) = &self.lintseq {
            out.insert("lintseq.seed".into(), l.seed);
        }
        if let Some(m) = &self.model {
            out.insert("model.seed".into(), m.seed);
        }
        if let Some(s) = &self.seed_sft {
            out.insert("seed_sft.train.seed".into(), s.train.optim.seed);
        }
        if let Some(it) = &self.iterate {
            out.insert("iterate.train.seed".into(), it.train.optim.seed);
            if let Some(d) = &it.dpo {
                out.insert("iterate.dpo.seed".into(), d.optim.seed);
            }
        }
        out
    }

    /// The files and directories the run reads, by a name for the manifest:
    /// what must not change between a run and its resume.
    pub fn input_paths(&self) -> Vec<(String, PathBuf)> {
        let mut out = Vec::new();
        if let Some(i) = &self.problems.import {
            out.push(("problems.import".to_string(), i.path.clone()));
        }
        if let Some(i) = self.samples.as_ref().and_then(|s| s.import.as_ref()) {
            out.push(("samples.import".to_string(), i.path.clone()));
        }
        if let Some(p) = self.model.as_ref().and_then(|m| m.path.as_ref()) {
            out.push(("model.path".to_string(), p.clone()));
        }
        for (i, f) in self.decontaminate().files.iter().enumerate() {
            out.push((format!("decontaminate.files.{i}"), f.path.clone()));
        }
        out
    }

    /// `[decontaminate]`, or its defaults when the section is absent.
    pub fn decontaminate(&self) -> DecontaminateStage {
        self.decontaminate.clone().unwrap_or_default()
    }
}

/// `[decontaminate]`: benchmarks that training data must not contain. By
/// default (also without the section) the built-in HumanEval fingerprints and
/// the run's evaluation problems, by bigcode's substring rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecontaminateStage {
    /// Built-in benchmarks (`humaneval`); `[]` turns them off.
    #[serde(default = "default_builtin_benchmarks")]
    pub benchmarks: Vec<String>,
    /// Benchmark problem files, in any format `[problems.import]` reads.
    #[serde(default)]
    pub files: Vec<ProblemsImport>,
    /// Also the run's own evaluation problems (`[eval]` of an iteration pipeline).
    #[serde(default = "default_true")]
    pub eval: bool,
    /// `substring` (bigcode) or `ngram`.
    #[serde(default = "default_rule")]
    pub rule: String,
    /// n of the `ngram` rule.
    #[serde(default = "default_ngram")]
    pub ngram: usize,
}

impl Default for DecontaminateStage {
    fn default() -> Self {
        DecontaminateStage {
            benchmarks: default_builtin_benchmarks(),
            files: Vec::new(),
            eval: true,
            rule: default_rule(),
            ngram: default_ngram(),
        }
    }
}

impl DecontaminateStage {
    /// The rank crate's options; an error names the key.
    pub fn options(&self) -> Result<ouro_rank::decontam::DecontamOptions, String> {
        let o = ouro_rank::decontam::DecontamOptions {
            rule: self
                .rule
                .parse()
                .map_err(|e| format!("key 'decontaminate.rule': {e}"))?,
            builtin: self.benchmarks.clone(),
            ngram: self.ngram,
        };
        o.check()
            .map_err(|e| format!("key 'decontaminate.benchmarks': {e}"))?;
        if self.ngram == 0 {
            return Err("key 'decontaminate.ngram' must be at least 1".into());
        }
        Ok(o)
    }
}

fn default_builtin_benchmarks() -> Vec<String> {
    vec!["humaneval".into()]
}

fn default_rule() -> String {
    "substring".into()
}

fn default_ngram() -> usize {
    10
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProblemsStage {
    /// How many bundled problems to generate (ignored with `import`).
    #[serde(default)]
    pub count: usize,
    /// Import problems from a file instead of generating them.
    pub import: Option<ProblemsImport>,
    #[serde(default)]
    pub seed: u64,
    /// Families to draw from, e.g. `["compose"]` (default: all, weighted).
    #[serde(default)]
    pub families: Vec<String>,
    /// Also give every problem a filter test for each near-miss mutant the
    /// random filter tests let through (see `ouro_problems::GenerateOptions`).
    #[serde(default)]
    pub targeted_filter: bool,
    /// Random filter tests per generated problem (default 4). Boolean
    /// aggregates (`any`, `all`) need more before a wrong constant fails one.
    pub filter_tests: Option<usize>,
}

/// `[problems.import]`: a problem file to import.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProblemsImport {
    /// `humaneval`, `mbpp`, `apps` or `jsonl`.
    pub format: String,
    pub path: PathBuf,
}

/// `[samples.import]`: raw generations to import as the round-0 samples.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplesImport {
    /// `openai-batch`, `vllm`, `open-instruct`, `openrlhf` or `jsonl`.
    pub format: String,
    pub path: PathBuf,
    /// Model name to record when the file does not carry one.
    pub model: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplesStage {
    /// Import generations instead of using references and mutants.
    pub import: Option<SamplesImport>,
    /// Mutants per problem added as known-wrong samples (0 = references only).
    #[serde(default = "default_mutants")]
    pub mutants_per_problem: usize,
}

fn default_mutants() -> usize {
    2
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecuteStage {
    /// Slots; 0 = one per core.
    #[serde(default)]
    pub workers: usize,
    #[serde(default = "default_cpu_ms")]
    pub cpu_ms: u64,
    /// Also run the held-out audit suites (for the false-positive rate).
    #[serde(default = "default_true")]
    pub audit: bool,
    /// The interpreter samples run under (Python 3.11 or newer).
    #[serde(default = "default_python")]
    pub python: std::path::PathBuf,
    /// Sandbox primitives the run refuses to execute without (`["all"]` or names such as
    /// `"netns"`, `"seccomp"`); empty: a missing one is a warning.
    #[serde(default, deserialize_with = "isolation_list")]
    pub require_isolation: Vec<String>,
}

/// `execute.require_isolation`, with `all` expanded; an unknown name is an error naming
/// the key.
fn isolation_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    ouro_exec::slot::parse_isolation(&Vec::<String>::deserialize(d)?.join(","))
        .map_err(|e| serde::de::Error::custom(format!("key 'execute.require_isolation': {e}")))
}

fn default_python() -> std::path::PathBuf {
    ouro_exec::ExecOptions::default().python
}
fn default_cpu_ms() -> u64 {
    DEFAULT_CPU_MS
}
fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildStage {
    /// Any of `sft`, `dpo`, `repair`.
    #[serde(deserialize_with = "build_configs")]
    pub configs: Vec<DatasetKind>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LintseqStage {
    #[serde(default = "default_sequences")]
    pub sequences_per_program: usize,
    #[serde(default)]
    pub seed: u64,
    /// `ouro lintseq --strict`: no state reads a local before binding it.
    #[serde(default)]
    pub strict: bool,
}

fn default_sequences() -> usize {
    2
}

/// The hash a run's manifest records for its pipeline file, so that a resume with
/// another configuration is refused. It is taken over the parsed TOML (whose tables
/// sort their keys), so comments, layout, key order and number spelling (`1e-5`,
/// `0.00001`) do not change it: editing a comment must not strand a long run.
pub fn config_hash(text: &str) -> Result<String> {
    Ok(ouro_data::content_id("pipeline-toml", &normalised(text)?))
}

/// A pipeline file's values as [`config_hash`] sees them: comments and layout gone.
pub fn normalised(text: &str) -> Result<String> {
    let table: toml::Table = toml::from_str(text)?;
    Ok(toml::to_string(&table)?)
}

/// The keys whose values differ between two pipeline files, dotted and with both
/// values (`lintseq.seed: 0 -> 1`), sorted.
pub fn changed_keys(old: &str, new: &str) -> Vec<String> {
    fn flatten(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, String>) {
        for (key, value) in table {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            match value {
                toml::Value::Table(t) => flatten(&path, t, out),
                v => {
                    out.insert(path, v.to_string());
                }
            }
        }
    }
    let read = |text: &str| {
        let mut out = BTreeMap::new();
        if let Ok(table) = toml::from_str::<toml::Table>(text) {
            flatten("", &table, &mut out);
        }
        out
    };
    let (old, new) = (read(old), read(new));
    let keys: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    keys.into_iter()
        .filter_map(|k| match (old.get(k), new.get(k)) {
            (Some(a), Some(b)) if a == b => None,
            (Some(a), Some(b)) => Some(format!("{k}: {a} -> {b}")),
            (Some(a), None) => Some(format!("{k}: {a} -> (removed)")),
            (None, Some(b)) => Some(format!("{k}: (absent) -> {b}")),
            (None, None) => None,
        })
        .collect()
}

/// What runs written before [`config_hash`] recorded: the hash of the file's text.
/// Still accepted on resume, so that those runs resume from an unchanged file.
pub fn text_hash(text: &str) -> String {
    ouro_data::content_id("pipeline", text)
}

fn iterate_dpo_table(text: &str) -> Option<toml::Table> {
    let doc: toml::Table = toml::from_str(text).ok()?;
    doc.get("iterate")?.get("dpo")?.as_table().cloned()
}

/// Reads and checks a pipeline file.
pub fn load_config(path: &Path) -> Result<PipelineConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut config: PipelineConfig = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim_end()))?;
    // A partial `[iterate.dpo.optim]` keeps DPO's defaults, not the shared optimiser's (SFT's lr).
    if let Some(dpo) = iterate_dpo_table(&text) {
        let it = config
            .iterate
            .as_mut()
            .expect("[iterate.dpo] parsed into [iterate]");
        it.dpo = Some(
            ouro_train::config::over_defaults(&dpo)
                .map_err(|e| anyhow::anyhow!("{}: [iterate.dpo]: {e}", path.display()))?,
        );
    }
    for f in &config.problems.families {
        if let Err(e) = f.parse::<ouro_problems::Family>() {
            bail!("{}: key 'problems.families': {e}", path.display());
        }
    }
    match &config.problems.import {
        Some(i) => {
            if let Err(e) = i.format.parse::<ouro_import::ProblemFormat>() {
                bail!("{}: key 'problems.import.format': {e}", path.display());
            }
        }
        None if config.problems.count == 0 => bail!(
            "{}: key 'problems.count' must be at least 1 (or add [problems.import])",
            path.display()
        ),
        None => {}
    }
    if config.problems.filter_tests == Some(0) {
        bail!(
            "{}: key 'problems.filter_tests' must be at least 1 (training selection needs tests)",
            path.display()
        );
    }
    if let Some(i) = config.samples.as_ref().and_then(|s| s.import.as_ref()) {
        if let Err(e) = i.format.parse::<ouro_import::GenerationFormat>() {
            bail!("{}: key 'samples.import.format': {e}", path.display());
        }
    }
    // Before anything runs: found mid-run, a typo left a run directory that neither a
    // fresh run (another configuration) nor --resume (the same) would take.
    let imports = [
        (
            "problems.import.path",
            config.problems.import.as_ref().map(|i| &i.path),
        ),
        (
            "samples.import.path",
            config
                .samples
                .as_ref()
                .and_then(|s| s.import.as_ref())
                .map(|i| &i.path),
        ),
    ];
    for (key, file) in imports {
        if let Some(file) = file.filter(|f| !f.is_file()) {
            bail!(
                "{}: key '{key}': {} does not exist (paths are read from the working directory, {})",
                path.display(),
                file.display(),
                std::env::current_dir().map_or("?".into(), |d| d.display().to_string())
            );
        }
    }
    if let Some(b) = &config.build {
        if let Some(c) = b.configs.iter().find(|c| !c.is_ranked()) {
            bail!(
                "{}: key 'build.configs': '{c}' is not built from executions here (expected sft, dpo or repair; \
                 LintSeq is the [lintseq] stage)",
                path.display()
            );
        }
        if config.execute.is_none() {
            bail!(
                "{}: stage 'build' needs stage 'execute' (add an [execute] section)",
                path.display()
            );
        }
    }
    if let Some(k) = config
        .lintseq
        .as_ref()
        .map(|l| l.sequences_per_program)
        .filter(|&k| k == 0 || k > 1000)
    {
        bail!(
            "{}: key 'lintseq.sequences_per_program' is {k}: it must be from 1 to 1000, as \
             `ouro lintseq -k` takes it",
            path.display()
        );
    }
    if config.execute.as_ref().is_some_and(|e| e.cpu_ms == 0) {
        // Every program would time out, and a run of zeros looks like a model that never learns.
        bail!(
            "{}: key 'execute.cpu_ms' must be at least 1 (the CPU milliseconds a sample may use)",
            path.display()
        );
    }
    if config.execute.is_some() && config.samples.is_none() && config.model.is_none() {
        bail!(
            "{}: stage 'execute' needs stage 'samples' (add a [samples] section)",
            path.display()
        );
    }
    let d = config.decontaminate();
    d.options()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    for (i, f) in d.files.iter().enumerate() {
        if let Err(e) = f.format.parse::<ouro_import::ProblemFormat>() {
            bail!(
                "{}: key 'decontaminate.files[{i}].format': {e}",
                path.display()
            );
        }
        if !f.path.exists() {
            bail!(
                "{}: key 'decontaminate.files[{i}].path': {} does not exist",
                path.display(),
                f.path.display()
            );
        }
    }
    if let Some(e) = &config.execute {
        // Here, not when the first execute stage starts the sandbox, minutes of work later.
        ouro_exec::slot::resolve_python(&e.python)
            .map_err(|m| anyhow::anyhow!("{}: key 'execute.python': {m}", path.display()))?;
    }
    check_config(&config).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pipeline the repository ships passes every check that needs no files
    /// (a model to download is the one thing a fresh clone may lack).
    #[test]
    fn every_shipped_pipeline_is_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                seen += 1;
                if let Err(e) = load_config(&path) {
                    let e = format!("{e:#}");
                    assert!(
                        e.contains("does not exist") || e.contains("is not a directory"),
                        "{e}"
                    );
                }
            }
        }
        assert!(seen >= 5, "{seen} pipelines in {}", dir.display());
    }

    #[test]
    fn a_partial_iterate_dpo_optim_keeps_dpos_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines/quickstart.toml");
        let text = std::fs::read_to_string(shipped)
            .unwrap()
            .replace("[iterate]\n", "[iterate]\ndatasets = [\"sft\", \"dpo\"]\n")
            + "\n[iterate.dpo]\nrpo_alpha = 1.0\n[iterate.dpo.optim]\nmax_steps = 2\n";
        let path = dir.path().join("p.toml");
        std::fs::write(&path, text).unwrap();
        let dpo = load_config(&path).unwrap().iterate.unwrap().dpo.unwrap();
        let defaults = ouro_train::config::DpoConfig::default();
        assert_eq!(
            dpo.optim.lr, defaults.optim.lr,
            "DPO's lr, not the shared optimiser's"
        );
        assert_eq!((dpo.optim.max_steps, dpo.rpo_alpha), (2, Some(1.0)));
    }

    #[test]
    fn config_hash_ignores_comments_layout_order_and_spelling_but_not_values() {
        let base = config_hash("out = \"r\"\n[train]\nlr = 1e-5\nepochs = 2\n").unwrap();
        let same = "# note\nout='r'\n\n[train]\nepochs = 2   # two\nlr = 0.00001\n";
        assert_eq!(config_hash(same).unwrap(), base);
        let other = "out = \"r\"\n[train]\nlr = 2e-5\nepochs = 2\n";
        assert_ne!(config_hash(other).unwrap(), base);
        assert!(config_hash("[train\n").is_err());
    }
}
