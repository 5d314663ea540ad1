//! Hugging Face dataset layout: `<config>/train-0000i-of-0000N.parquet` plus a
//! README.md dataset card whose YAML header lists the configs, so that
//! `datasets.load_dataset(DIR, "sft")` and the Hub viewer work as they are.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use parquet::file::reader::{FileReader, SerializedFileReader};

use crate::error::{DataError, Result};
use crate::fsutil::{atomic_write, remove_stale_temp_files};
use crate::schema::Record;
use crate::shard::{ShardWriter, WriteOptions};

/// The report a command writes beside a config's files. Its leading `_` keeps it out of
/// the config for Parquet readers (pyarrow, pandas, dask skip `_` and `.` names), so
/// `pandas.read_parquet("OUT/sft")` reads the rows alone.
pub const CONFIG_REPORT: &str = "_build_report.json";

/// Written beside the `sft` and `dpo` configs `ouro fait` makes: FAIT's
/// configs carry weight spans, and `ouro build` must not replace one of them.
pub const FAIT_REPORT: &str = "fait_report.json";

/// The report of the config in `config_dir`, if it has one (also under the name that
/// datasets written before 2026-12-07 used, `build_report.json`).
pub fn config_report(config_dir: &Path) -> Option<PathBuf> {
    [CONFIG_REPORT, "build_report.json"]
        .iter()
        .map(|name| config_dir.join(name))
        .find(|p| p.is_file())
}

/// Streams the rows of one config into `train-*.parquet` files.
///
/// Files are written under hidden staging names and renamed to
/// `train-0000i-of-0000N.parquet` by [`finish`](Self::finish), once N is known;
/// files of an earlier write of the same config are then removed.
pub struct HfConfigWriter<T: Record> {
    dir: PathBuf,
    config: String,
    rows_per_file: u64,
    options: WriteOptions,
    current: Option<ShardWriter<T>>,
    staged: Vec<PathBuf>,
    rows: u64,
}

/// What was written for one config.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConfigSummary {
    pub config: String,
    pub rows: u64,
    /// File paths relative to the dataset root.
    pub files: Vec<String>,
}

impl<T: Record> HfConfigWriter<T> {
    /// Starts writing config `config` under `root`, `rows_per_file` rows per file.
    pub fn create(
        root: impl AsRef<Path>,
        config: &str,
        rows_per_file: u64,
        options: WriteOptions,
    ) -> Result<Self> {
        let dir = root.as_ref().join(config);
        std::fs::create_dir_all(&dir).map_err(|e| DataError::io(&dir, e))?;
        remove_stale_temp_files(&dir)?;
        crate::shard::remove_staged(&dir)?;
        // A config's files are replaced as a set; another Parquet file beside them would
        // be read with them by every loader (`data_files='{config}/*.parquet'`).
        let foreign = crate::shard::foreign_shards(&dir, "train-")?;
        if !foreign.is_empty() {
            return Err(DataError::invalid(
                &dir,
                format!(
                    "holds {}, which is not a file of config '{config}' and would be read \
                     together with it: move it away, or write the dataset elsewhere",
                    foreign.join(", ")
                ),
            ));
        }
        Ok(HfConfigWriter {
            dir,
            config: config.to_string(),
            rows_per_file: rows_per_file.max(1),
            options,
            current: None,
            staged: Vec::new(),
            rows: 0,
        })
    }

    pub fn write(&mut self, row: &T) -> Result<()> {
        if self
            .current
            .as_ref()
            .is_some_and(|w| w.rows() >= self.rows_per_file)
        {
            self.close_current()?;
        }
        if self.current.is_none() {
            let path = self.dir.join(crate::shard::staged_name(&format!(
                "{:05}.parquet",
                self.staged.len()
            )));
            self.current = Some(ShardWriter::create(&path, self.options.clone())?);
            self.staged.push(path);
        }
        self.current.as_mut().expect("opened above").write(row)?;
        self.rows += 1;
        Ok(())
    }

    pub fn write_all<'r>(&mut self, rows: impl IntoIterator<Item = &'r T>) -> Result<()> {
        rows.into_iter().try_for_each(|r| self.write(r))
    }

    fn close_current(&mut self) -> Result<()> {
        if let Some(w) = self.current.take() {
            w.finish()?;
        }
        Ok(())
    }

    /// Publishes the files under their final names. An empty config still gets
    /// one (empty) file, so that loaders see the schema.
    pub fn finish(mut self) -> Result<ConfigSummary> {
        if self.staged.is_empty() {
            let path = self.dir.join(crate::shard::staged_name("00000.parquet"));
            self.current = Some(ShardWriter::create(&path, self.options.clone())?);
            self.staged.push(path);
        }
        self.close_current()?;
        let n = self.staged.len();
        let staged: Vec<(PathBuf, String)> = self
            .staged
            .iter()
            .enumerate()
            .map(|(i, staged)| (staged.clone(), format!("train-{i:05}-of-{n:05}.parquet")))
            .collect();
        // Every earlier file goes, whatever its count: a reader never sees two writes.
        crate::shard::publish(&self.dir, &staged, |name| {
            name.starts_with("train-") && name.ends_with(".parquet")
        })?;
        let finals: Vec<String> = staged.into_iter().map(|(_, name)| name).collect();
        Ok(ConfigSummary {
            files: finals
                .iter()
                .map(|f| format!("{}/{f}", self.config))
                .collect(),
            config: self.config,
            rows: self.rows,
        })
    }
}

/// Writes all `rows` as config `config` of the dataset at `root`.
pub fn write_config<T: Record>(
    root: impl AsRef<Path>,
    config: &str,
    rows: &[T],
) -> Result<ConfigSummary> {
    write_config_sharded(root, config, rows, 500_000)
}

/// Writes all `rows` as config `config` of the dataset at `root`, `rows_per_file` rows per file.
pub fn write_config_sharded<T: Record>(
    root: impl AsRef<Path>,
    config: &str,
    rows: &[T],
    rows_per_file: u64,
) -> Result<ConfigSummary> {
    let mut w = HfConfigWriter::<T>::create(root, config, rows_per_file, WriteOptions::default())?;
    w.write_all(rows)?;
    w.finish()
}

/// Content of the dataset card beyond what is read from the files.
#[derive(Debug, Clone, Default)]
pub struct CardInfo {
    pub title: String,
    pub description: String,
    /// Key/value provenance: ouro version, pipeline config hash, inputs, ...
    pub provenance: BTreeMap<String, String>,
    /// Extra markdown sections (heading, body), e.g. pair-kind breakdowns.
    pub sections: Vec<(String, String)>,
}

/// Rows of each config found under `root`, read from the Parquet footers.
pub fn scan_configs(root: impl AsRef<Path>) -> Result<Vec<ConfigSummary>> {
    let root = root.as_ref();
    let mut configs = Vec::new();
    let entries = std::fs::read_dir(root).map_err(|e| DataError::io(root, e))?;
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let config = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .map_err(|e| DataError::io(&dir, e))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("train-") && n.ends_with(".parquet"))
            .collect();
        if files.is_empty() {
            continue;
        }
        files.sort();
        let mut rows = 0u64;
        for f in &files {
            let path = dir.join(f);
            let file = File::open(&path).map_err(|e| DataError::io(&path, e))?;
            let reader = SerializedFileReader::new(file).map_err(|source| DataError::Parquet {
                path: path.clone(),
                source,
            })?;
            rows += reader.metadata().file_metadata().num_rows() as u64;
        }
        configs.push(ConfigSummary {
            files: files.iter().map(|f| format!("{config}/{f}")).collect(),
            config,
            rows,
        });
    }
    Ok(configs)
}

/// Writes `root/README.md`: a YAML header with every config found under
/// `root`, then counts, provenance and the extra sections.
pub fn write_dataset_card(root: impl AsRef<Path>, info: &CardInfo) -> Result<Vec<ConfigSummary>> {
    let root = root.as_ref();
    let configs = scan_configs(root)?;
    let mut md = card_header(&configs);
    let title = if info.title.is_empty() {
        "ouro dataset"
    } else {
        &info.title
    };
    md.push_str(&format!("# {title}\n\n"));
    if !info.description.is_empty() {
        md.push_str(&format!("{}\n\n", info.description));
    }
    md.push_str(&configs_section(&configs));
    for (heading, body) in &info.sections {
        md.push_str(&format!("## {heading}\n\n{}\n\n", body.trim_end()));
    }
    if !info.provenance.is_empty() {
        md.push_str("## Provenance\n\n| key | value |\n|---|---|\n");
        for (k, v) in &info.provenance {
            md.push_str(&format!(
                "| {k} | `{}` |\n",
                v.replace('|', "\\|").replace('\n', " ")
            ));
        }
    }
    atomic_write(root.join("README.md"), md.as_bytes())?;
    Ok(configs)
}

/// The card's YAML header: every config, as `datasets.load_dataset(root, name)` reads them.
fn card_header(configs: &[ConfigSummary]) -> String {
    let mut md = String::from("---\nconfigs:\n");
    for c in configs {
        md.push_str(&format!(
            "- config_name: {}\n  data_files:\n  - split: train\n    path: {}/train-*.parquet\n",
            c.config, c.config
        ));
    }
    md.push_str("tags:\n- ouro\n- code\n- synthetic\n---\n\n");
    md
}

const CONFIGS_HEADING: &str = "## Configs\n\n";

fn configs_section(configs: &[ConfigSummary]) -> String {
    let mut md = format!("{CONFIGS_HEADING}| config | rows | files |\n|---|---:|---:|\n");
    for c in configs {
        md.push_str(&format!(
            "| `{}` | {} | {} |\n",
            c.config,
            c.rows,
            c.files.len()
        ));
    }
    md.push_str("\nLoad a config with `datasets.load_dataset(\"parquet\", data_files=\"<config>/train-*.parquet\")`.\n\n");
    md
}

/// After a command wrote a config into a dataset directory another command made (LintSeq
/// sequences beside `ouro build`'s configs): brings the card's config list and counts up to
/// date and keeps the rest of it. Without a card, or with one ouro did not write, nothing.
pub fn refresh_card_configs(root: impl AsRef<Path>) -> Result<()> {
    let root = root.as_ref();
    let Ok(old) = std::fs::read_to_string(root.join("README.md")) else {
        return Ok(());
    };
    // The header `card_header` wrote ends at the first "\n---\n\n" after the opening "---\n".
    const OPEN: &str = "---\n";
    const CLOSE: &str = "\n---\n\n";
    let Some(body_at) = old
        .strip_prefix(OPEN)
        .and_then(|rest| rest.find(CLOSE))
        .map(|i| OPEN.len() + i + CLOSE.len())
    else {
        return Ok(());
    };
    let Some(table_at) = old[body_at..].find(CONFIGS_HEADING).map(|i| body_at + i) else {
        return Ok(());
    };
    let after_heading = table_at + CONFIGS_HEADING.len();
    let table_end = old[after_heading..]
        .find("\n## ")
        .map_or(old.len(), |i| after_heading + i + 1);
    let configs = scan_configs(root)?;
    let md = format!(
        "{}{}{}{}",
        card_header(&configs),
        &old[body_at..table_at],
        configs_section(&configs),
        &old[table_end..]
    );
    atomic_write(root.join("README.md"), md.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{Message, RepairRecord};

    fn repair(i: u32) -> RepairRecord {
        RepairRecord {
            messages: vec![Message {
                role: "user".into(),
                content: format!("fix {i}"),
            }],
            problem_id: format!("p{i}"),
            failing_sample_id: format!("s{i}"),
            fixed_sample_id: None,
            round: 0,
        }
    }

    #[test]
    fn a_card_gets_the_configs_another_command_added_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        write_config(dir.path(), "repair", &[repair(0), repair(1)]).unwrap();
        let info = CardInfo {
            title: "built".into(),
            description: "words".into(),
            provenance: BTreeMap::from([("k".to_string(), "v".to_string())]),
            sections: vec![("Pairs".into(), "a table".into())],
        };
        write_dataset_card(dir.path(), &info).unwrap();
        write_config(dir.path(), "more", &[repair(2)]).unwrap();
        refresh_card_configs(dir.path()).unwrap();
        let card = std::fs::read_to_string(dir.path().join("README.md")).unwrap();
        // What a card written now, with both configs, says: the refreshed one is the same.
        write_dataset_card(dir.path(), &info).unwrap();
        let written = std::fs::read_to_string(dir.path().join("README.md")).unwrap();
        assert_eq!(card, written);
        assert!(card.contains("config_name: more") && card.contains("| `more` | 1 | 1 |"));
        assert!(card.contains("## Pairs\n\na table") && card.contains("| k | `v` |"));
        // No card, nothing written.
        let bare = tempfile::tempdir().unwrap();
        write_config(bare.path(), "repair", &[repair(0)]).unwrap();
        refresh_card_configs(bare.path()).unwrap();
        assert!(!bare.path().join("README.md").exists());
    }

    #[test]
    fn configs_get_hf_file_names_and_a_card() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = HfConfigWriter::<RepairRecord>::create(
            dir.path(),
            "repair",
            2,
            WriteOptions::default(),
        )
        .unwrap();
        for i in 0..5 {
            w.write(&repair(i)).unwrap();
        }
        let summary = w.finish().unwrap();
        assert_eq!(summary.rows, 5);
        assert_eq!(
            summary.files,
            [
                "repair/train-00000-of-00003.parquet",
                "repair/train-00001-of-00003.parquet",
                "repair/train-00002-of-00003.parquet"
            ]
        );
        // Rewriting with fewer files removes the stale ones.
        let summary = write_config(dir.path(), "repair", &[repair(9)]).unwrap();
        assert_eq!(summary.files, ["repair/train-00000-of-00001.parquet"]);
        let configs = write_dataset_card(dir.path(), &CardInfo::default()).unwrap();
        assert_eq!(configs.len(), 1);
        assert_eq!(configs[0].rows, 1);
        let card = std::fs::read_to_string(dir.path().join("README.md")).unwrap();
        assert!(
            card.starts_with("---\nconfigs:\n- config_name: repair\n"),
            "{card}"
        );
        assert!(card.contains("path: repair/train-*.parquet"));
    }
}
