//! Which files hold the training data: a plain file or directory of shards,
//! or a Hugging Face dataset directory (a Hub repository cloned or
//! downloaded) and the files of a subset's split.
//!
//! The Hub reads a dataset's layout from the YAML front matter of its
//! `README.md` (`configs:` with `data_files`), and without one infers splits
//! from file and directory names (`train-00000-of-00001.parquet`,
//! `data/test.jsonl`, `train/0000.parquet`). Both are followed here, so a
//! directory `datasets.load_dataset(path, name, split=...)` reads gives the
//! same files to `ouro train --data path --subset name --split ...`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Result, TrainError};

/// Where training data comes from: a file, a directory of shards, or a Hub
/// dataset directory with the subset (config) and split to read.
#[derive(Debug, Clone, Copy)]
pub struct DataSource<'a> {
    pub path: &'a Path,
    /// The Hub's `config_name` (`load_dataset(path, name)`).
    pub subset: Option<&'a str>,
    /// [default: `train` when the dataset has one, else its only split].
    pub split: Option<&'a str>,
}

impl<'a> From<&'a Path> for DataSource<'a> {
    fn from(path: &'a Path) -> Self {
        Self {
            path,
            subset: None,
            split: None,
        }
    }
}

impl<'a> From<&'a PathBuf> for DataSource<'a> {
    fn from(path: &'a PathBuf) -> Self {
        Self::from(path.as_path())
    }
}

/// Split names the Hub recognises in file and directory names, in its order.
const SPLIT_NAMES: [(&str, &[&str]); 3] = [
    ("train", &["train", "training"]),
    ("validation", &["validation", "valid", "val", "dev"]),
    ("test", &["test", "testing", "eval", "evaluation"]),
];

#[derive(Debug, Deserialize)]
struct Card {
    #[serde(default)]
    configs: Vec<Config>,
}

#[derive(Debug, Deserialize)]
struct Config {
    config_name: Option<String>,
    #[serde(default)]
    default: bool,
    data_files: Option<DataFiles>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum DataFiles {
    One(String),
    Many(Vec<Entry>),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Entry {
    Path(String),
    Split { split: String, path: Paths },
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Paths {
    One(String),
    Many(Vec<String>),
}

/// The data files of `src` when it is a Hub dataset directory: one with a
/// `README.md` that declares `configs`, or whose files are named by split.
/// `None` for anything else (a file, a plain directory of shards), unless a
/// subset or split was asked for, which is then an error.
pub fn dataset_files(src: &DataSource) -> Result<Option<Vec<PathBuf>>> {
    let dir = src.path;
    if !dir.is_dir() {
        return refuse_selection(src, "it is not a directory");
    }
    if let Some(configs) = card_configs(dir)? {
        return from_card(src, &configs).map(Some);
    }
    if let Some(subset) = src.subset {
        let sub = dir.join(subset);
        if !sub.is_dir() {
            let card = if dir.join("README.md").is_file() {
                "its README.md declares no `configs`"
            } else {
                "it has no README.md declaring `configs`"
            };
            return Err(bad(
                dir,
                format!(
                    "--subset {subset}: {card}, and there is no directory '{subset}' \
                     (subsets found: {})",
                    list(&subdirs(dir)?)
                ),
            ));
        }
        let inner = DataSource {
            path: &sub,
            subset: None,
            split: src.split,
        };
        return Ok(Some(match dataset_files(&inner)? {
            Some(files) => files,
            None => data_files(&sub)?,
        }));
    }
    let files = files_below(dir)?;
    let by_split = split_of_each(dir, &files);
    if by_split.iter().all(|(_, s)| s.is_none()) {
        return refuse_selection(src, "its files are not named by split (train, test, ...)");
    }
    let splits = distinct(by_split.iter().filter_map(|(_, s)| s.clone()));
    let split = choose(src.split, &splits, "split", dir)?;
    Ok(Some(
        by_split
            .into_iter()
            .filter(|(_, s)| s.as_deref() == Some(split.as_str()))
            .map(|(f, _)| f)
            .collect(),
    ))
}

fn refuse_selection(src: &DataSource, why: &str) -> Result<Option<Vec<PathBuf>>> {
    match (src.subset, src.split) {
        (None, None) => Ok(None),
        _ => Err(bad(
            src.path,
            format!("--subset/--split need a Hugging Face dataset directory, and {why}"),
        )),
    }
}

fn bad(path: &Path, message: String) -> TrainError {
    TrainError::Data {
        path: path.into(),
        message,
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// `configs` of the README's YAML front matter, if it declares any.
fn card_configs(dir: &Path) -> Result<Option<Vec<Config>>> {
    let readme = dir.join("README.md");
    let Ok(text) = std::fs::read_to_string(&readme) else {
        return Ok(None);
    };
    let Some(rest) = text.strip_prefix("---") else {
        return Ok(None);
    };
    let Some(end) = rest.find("\n---") else {
        return Err(bad(
            &readme,
            "YAML front matter opened by '---' is never closed".into(),
        ));
    };
    let card: Card = serde_yaml::from_str(&rest[..end])
        .map_err(|e| bad(&readme, format!("dataset card YAML: {e}")))?;
    Ok((!card.configs.is_empty()).then_some(card.configs))
}

fn from_card(src: &DataSource, configs: &[Config]) -> Result<Vec<PathBuf>> {
    let dir = src.path;
    let readme = dir.join("README.md");
    let name = |c: &Config| c.config_name.clone().unwrap_or_else(|| "default".into());
    let names: Vec<String> = configs.iter().map(name).collect();
    let config = match src.subset {
        Some(s) => configs.iter().find(|c| name(c) == s).ok_or_else(|| {
            bad(
                &readme,
                format!("--subset {s}: no such config (configs: {})", list(&names)),
            )
        })?,
        None => configs
            .iter()
            .find(|c| c.default)
            .or_else(|| configs.iter().find(|c| name(c) == "default"))
            .or(if configs.len() == 1 {
                configs.first()
            } else {
                None
            })
            .ok_or_else(|| {
                bad(
                    &readme,
                    format!(
                        "the dataset has several configs and none is the default; choose one \
                         with --subset ({})",
                        list(&names)
                    ),
                )
            })?,
    };
    let splits: Vec<(String, Vec<String>)> = match &config.data_files {
        None => {
            return Err(bad(
                &readme,
                format!("config '{}' has no data_files", name(config)),
            ))
        }
        Some(DataFiles::One(p)) => vec![("train".into(), vec![p.clone()])],
        Some(DataFiles::Many(entries)) => {
            let mut out: Vec<(String, Vec<String>)> = Vec::new();
            for e in entries {
                let (split, paths) = match e {
                    Entry::Path(p) => ("train".to_string(), vec![p.clone()]),
                    Entry::Split { split, path } => (
                        split.clone(),
                        match path {
                            Paths::One(p) => vec![p.clone()],
                            Paths::Many(ps) => ps.clone(),
                        },
                    ),
                };
                match out.iter_mut().find(|(s, _)| *s == split) {
                    Some((_, v)) => v.extend(paths),
                    None => out.push((split, paths)),
                }
            }
            out
        }
    };
    let names: Vec<String> = splits.iter().map(|(s, _)| s.clone()).collect();
    let split = choose(src.split, &names, "split", &readme)?;
    let patterns = &splits
        .iter()
        .find(|(s, _)| *s == split)
        .expect("chosen from these")
        .1;
    let mut files = Vec::new();
    for pattern in patterns {
        let full = dir.join(pattern);
        let matches = glob::glob(&full.to_string_lossy())
            .map_err(|e| bad(&readme, format!("data_files pattern '{pattern}': {e}")))?;
        let before = files.len();
        files.extend(matches.flatten().filter(|p| p.is_file()));
        if files.len() == before {
            return Err(bad(
                &readme,
                format!(
                    "config '{}', split '{split}': data_files pattern '{pattern}' matches no file",
                    name(config)
                ),
            ));
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// `wanted`, or the default among `names`: `train` when present, else the only one.
fn choose(wanted: Option<&str>, names: &[String], what: &str, origin: &Path) -> Result<String> {
    match wanted {
        Some(w) if names.iter().any(|n| n == w) => Ok(w.to_string()),
        Some(w) => {
            // `dev` or `valid` files are the Hub's `validation` split; say so rather than
            // leave a user to guess why the name on their directory is not found.
            let alias = SPLIT_NAMES
                .iter()
                .find(|(split, words)| *split != w && words.contains(&w.to_lowercase().as_str()))
                .filter(|(split, _)| what == "split" && names.iter().any(|n| n == split))
                .map(|(split, _)| format!("; files named '{w}' are the {split} split, as on the Hub: use --split {split}"))
                .unwrap_or_default();
            Err(bad(
                origin,
                format!(
                    "--{what} {w}: no such {what} (found: {}){alias}",
                    list(names)
                ),
            ))
        }
        None if names.iter().any(|n| n == "train") => Ok("train".into()),
        None if names.len() == 1 => Ok(names[0].clone()),
        None => Err(bad(
            origin,
            format!(
                "no '{what}' named train; choose one with --{what} ({})",
                list(names)
            ),
        )),
    }
}

/// The split a file's name or one of its directories names, as the Hub infers it
/// (`datasets`' `KEYWORDS_IN_FILENAME_BASE_PATTERNS`): a split keyword that starts a
/// path component or follows a separator, and ends it or comes before one
/// (`train-00000-of-00001.parquet`, `test.jsonl`, `dev/x.json`, `sft_train.jsonl`).
fn split_of_each(dir: &Path, files: &[PathBuf]) -> Vec<(PathBuf, Option<String>)> {
    files
        .iter()
        .map(|f| {
            let rel = f.strip_prefix(dir).unwrap_or(f);
            let split = rel.components().rev().find_map(|c| {
                let part = c.as_os_str().to_string_lossy().to_lowercase();
                SPLIT_NAMES.iter().find_map(|(split, words)| {
                    words
                        .iter()
                        .any(|w| names_keyword(&part, w))
                        .then(|| split.to_string())
                })
            });
            (f.clone(), split)
        })
        .collect()
}

/// Whether `word` stands in `part` between separators: `datasets`' `NON_WORDS_CHARS`
/// (`-`, `.`, `_`, space and digits), or the component's ends.
fn names_keyword(part: &str, word: &str) -> bool {
    let separator = |c: char| matches!(c, '-' | '.' | '_' | ' ') || c.is_ascii_digit();
    part.match_indices(word).any(|(at, _)| {
        let before = part[..at].chars().next_back();
        let after = part[at + word.len()..].chars().next();
        before.is_none_or(separator) && after.is_none_or(separator)
    })
}

fn distinct(it: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in it {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

fn subdirs(dir: &Path) -> Result<Vec<String>> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| TrainError::io(dir, e))?
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    out.sort();
    Ok(out)
}

/// The files of `src`: a Hub dataset directory's subset and split, else
/// [`data_files`].
pub(crate) fn source_files(src: &DataSource) -> Result<Vec<PathBuf>> {
    match dataset_files(src)? {
        Some(files) if files.is_empty() => Err(TrainError::EmptyDataset {
            path: src.path.into(),
            detail: "the chosen subset and split hold no *.parquet, *.jsonl or *.json files (gzipped or not)".into(),
        }),
        Some(files) => Ok(files),
        None => data_files(src.path),
    }
}

/// The data files under `data`: the file itself, or the `*.parquet` files
/// below the directory (else its `*.jsonl` / `*.json` files), in path order.
/// One format per dataset: a shard directory's `_build_report.json` is not data.
pub(crate) fn data_files(data: &Path) -> Result<Vec<PathBuf>> {
    if data.is_file() {
        return Ok(vec![data.to_path_buf()]);
    }
    let all = files_below(data)?;
    let parquet: Vec<PathBuf> = all
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .cloned()
        .collect();
    let out = if parquet.is_empty() { all } else { parquet };
    if out.is_empty() {
        return Err(TrainError::EmptyDataset {
            path: data.into(),
            detail: "no *.parquet, *.jsonl or *.json files (gzipped or not)".into(),
        });
    }
    Ok(out)
}

/// Whether a file name is a data file: Parquet, or JSON Lines / JSON, gzipped or not
/// (Hub datasets ship `*.jsonl.gz`).
fn is_data_file(name: &str) -> bool {
    // Metadata that sits beside the rows: `datasets`' save_to_disk and card files, and
    // ouro's own reports.
    const METADATA: [&str; 3] = ["dataset_info.json", "dataset_infos.json", "state.json"];
    if METADATA.contains(&name) || name.ends_with("report.json") {
        return false;
    }
    let text = name.strip_suffix(".gz").unwrap_or(name);
    name.ends_with(".parquet") || text.ends_with(".jsonl") || text.ends_with(".json")
}

/// Every data file ([`is_data_file`]) below `dir`, in path order,
/// skipping hidden and `_`-prefixed names (temp files, completion markers).
pub(crate) fn files_below(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| TrainError::io(&d, e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if is_data_file(&name) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests;
