//! `ouro stats`: polars lazy scans over any ouro shards.
//!
//! Each directory holding `*.parquet` files is one dataset; its kind
//! (problems, samples, executions, sft, dpo, lintseq, repair) is recognised
//! from its columns. When problems and executions are both given, pass rates
//! are also broken down by tag and by difficulty.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use polars::prelude::*;
use serde::Serialize;

/// What a dataset holds, recognised from its columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DatasetKind {
    Problems,
    Samples,
    Executions,
    Sft,
    Dpo,
    Lintseq,
    Repair,
    Other,
}

/// A small table of results: the unit of `ouro stats` output.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// All tables for the given inputs.
#[derive(Debug, Clone, Serialize)]
pub struct StatsReport {
    pub datasets: Vec<(String, DatasetKind, u64)>,
    pub tables: Vec<Table>,
}

/// Directories under `root` (itself included, depth <= 4) that hold `*.parquet` files.
fn dataset_dirs(root: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(root).with_context(|| format!("reading {}", root.display()))?;
    let mut files = Vec::new();
    let mut subdirs = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        if path.is_dir() {
            subdirs.push(path);
        } else if name.ends_with(".parquet") {
            files.push(path);
        }
    }
    // Shards fill a directory of their own; a Parquet file beside datasets' directories
    // (a run round's benchmarks.parquet) is a dataset by itself, named as the file.
    if !files.is_empty() && subdirs.is_empty() {
        out.push(root.to_path_buf());
    } else {
        files.sort();
        out.extend(files);
    }
    if depth > 0 {
        subdirs.sort();
        for d in subdirs {
            dataset_dirs(&d, depth - 1, out)?;
        }
    }
    Ok(())
}

/// Scans a directory's shards, or one shard file named on the command line.
fn scan(dir: &Path) -> Result<LazyFrame> {
    // The shards every other reader takes: polars' own `*.parquet` glob would also read a
    // hidden temp file an interrupted write left behind.
    let files = if dir.is_file() {
        vec![dir.to_path_buf()]
    } else {
        ouro_data::shard::list_shards(dir)?
    };
    let paths = files
        .iter()
        .map(|f| PlRefPath::new(f.to_string_lossy().as_ref()))
        .collect();
    let args = ScanArgsParquet {
        glob: false,
        ..Default::default()
    };
    let lf = LazyFrame::scan_parquet_files(paths, args);
    let mut lf = anyhow::Context::with_context(lf, || format!("scanning {}", dir.display()))?;
    // Dictionary-encoded text (pandas and polars `Categorical`) is read as
    // text: it joins with plain ids and prints without quotes. A schema that
    // does not read is left for the checks that name the file.
    let Ok(schema) = lf.collect_schema() else {
        return Ok(lf);
    };
    let casts: Vec<Expr> = schema
        .iter()
        .filter(|(_, dtype)| dtype.is_categorical() || dtype.is_enum())
        .map(|(name, _)| col(name.clone()).cast(DataType::String))
        .collect();
    if !casts.is_empty() {
        lf = lf.with_columns(casts);
    }
    Ok(lf)
}

fn kind_of(columns: &[String]) -> DatasetKind {
    let has = |c: &str| columns.iter().any(|x| x == c);
    if has("verdict") {
        DatasetKind::Executions
    } else if has("entry_point") && has("tests") {
        DatasetKind::Problems
    } else if has("sample_id") && has("completion") && has("code") {
        DatasetKind::Samples
    } else if has("chosen") && has("rejected") {
        DatasetKind::Dpo
    } else if has("messages") {
        DatasetKind::Repair
    } else if has("num_edits") {
        DatasetKind::Lintseq
    } else if has("prompt") && has("completion") {
        DatasetKind::Sft
    } else {
        DatasetKind::Other
    }
}

fn cell(s: &Column, i: usize) -> String {
    match s.get(i) {
        Ok(AnyValue::Null) => "-".into(),
        Ok(AnyValue::String(v)) => v.to_string(),
        Ok(AnyValue::StringOwned(v)) => v.to_string(),
        Ok(AnyValue::Float64(v)) => format!("{v:.3}"),
        Ok(AnyValue::Float32(v)) => format!("{v:.3}"),
        Ok(v) => v.to_string(),
        Err(_) => "?".into(),
    }
}

fn table(title: &str, df: DataFrame) -> Table {
    let headers = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let rows = (0..df.height())
        .map(|i| df.columns().iter().map(|c| cell(c, i)).collect())
        .collect();
    Table {
        title: title.to_string(),
        headers,
        rows,
    }
}

/// `count` rows per value of `column`, largest first; ties by value, so that
/// two runs over the same shards print the same table (group_by's order is not).
fn counts_by(lf: LazyFrame, column: &str) -> Result<DataFrame> {
    Ok(lf
        .group_by([col(column)])
        .agg([len().alias("rows")])
        .sort(
            ["rows", column],
            SortMultipleOptions::default().with_order_descending_multi([true, false]),
        )
        .collect()?)
}

fn pass_rate_by(lf: LazyFrame, keys: &[&str]) -> Result<DataFrame> {
    let keys: Vec<Expr> = keys.iter().map(|k| col(*k)).collect();
    Ok(lf
        .group_by(keys.clone())
        .agg([
            len().alias("executions"),
            col("verdict")
                .eq(lit("pass"))
                .cast(DataType::Float64)
                .mean()
                .alias("pass_rate"),
        ])
        .sort_by_exprs(keys, SortMultipleOptions::default())
        .collect()?)
}

/// Computes the report for the given files or directories.
/// One row per (row, tag); a row without tags keeps one row with a null tag.
fn explode_tags(lf: LazyFrame) -> LazyFrame {
    lf.explode(
        by_name(["tags"], true, false),
        ExplodeOptions {
            empty_as_null: true,
            keep_nulls: true,
        },
    )
}

/// The tables one dataset gets on its own, by kind.
fn tables_of(
    name: &str,
    kind: DatasetKind,
    columns: &[String],
    lf: LazyFrame,
) -> Result<Vec<Table>> {
    Ok(match kind {
        DatasetKind::Problems => vec![
            table(
                &format!("{name}: problems by difficulty"),
                counts_by(lf.clone(), "difficulty")?,
            ),
            table(
                &format!("{name}: problems by split"),
                counts_by(lf.clone(), "split")?,
            ),
            table(
                &format!("{name}: problems by tag"),
                counts_by(explode_tags(lf.select([col("tags")])), "tags")?,
            ),
        ],
        DatasetKind::Samples => {
            let df = lf
                .group_by([col("round")])
                .agg([
                    len().alias("samples"),
                    col("problem_id").n_unique().alias("problems"),
                    col("code").is_null().sum().alias("no_code"),
                    col("generation_error")
                        .is_not_null()
                        .sum()
                        .alias("failed_generations"),
                ])
                .sort(["round"], SortMultipleOptions::default())
                .collect()?;
            vec![table(&format!("{name}: samples by round"), df)]
        }
        DatasetKind::Executions => vec![
            table(
                &format!("{name}: verdicts"),
                counts_by(lf.clone(), "verdict")?,
            ),
            table(
                &format!("{name}: pass rate by suite"),
                pass_rate_by(lf, &["suite"])?,
            ),
        ],
        DatasetKind::Dpo => vec![table(
            &format!("{name}: pairs by kind"),
            counts_by(lf, "pair_kind")?,
        )],
        DatasetKind::Sft if columns.iter().any(|c| c == "origin") => vec![table(
            &format!("{name}: SFT rows by origin"),
            counts_by(lf, "origin")?,
        )],
        DatasetKind::Lintseq => {
            let df = lf
                .select([
                    len().alias("sequences"),
                    col("num_edits")
                        .cast(DataType::Float64)
                        .mean()
                        .alias("mean_edits"),
                ])
                .collect()?;
            vec![table(&format!("{name}: LintSeq sequences"), df)]
        }
        _ => Vec::new(),
    })
}

fn row_count(lf: LazyFrame) -> Result<u64> {
    Ok(lf
        .select([len()])
        .collect()?
        .column("len")?
        .get(0)?
        .try_extract::<u64>()?)
}

/// Filter pass rates of the executions dataset `name` by the difficulty and by the tags
/// of their problems, looked up in every problem set given (the first that has an id
/// wins): a run's eval problems and its pool are both there, and joining only one of
/// them dropped the other's executions without a word.
fn pass_rates_by_problem(
    name: &str,
    executions: LazyFrame,
    problems: &[LazyFrame],
) -> Result<Vec<Table>> {
    let sets: Vec<LazyFrame> = problems
        .iter()
        .map(|p| {
            p.clone().select([
                col("problem_id"),
                col("difficulty").cast(DataType::String),
                col("tags"),
            ])
        })
        .collect();
    let problems = concat(sets, UnionArgs::default())?.unique_stable(
        Some(polars::prelude::cols(["problem_id"])),
        UniqueKeepStrategy::First,
    );
    let filter = executions.filter(col("suite").eq(lit("filter")));
    let joined = filter.clone().join(
        problems,
        [col("problem_id")],
        [col("problem_id")],
        JoinArgs::new(JoinType::Inner),
    );
    let (all, matched) = (row_count(filter)?, row_count(joined.clone())?);
    let unmatched = if matched < all {
        format!(
            " ({} of {all} without their problem in the sets given)",
            all - matched
        )
    } else {
        String::new()
    };
    let by_tag = explode_tags(joined.clone());
    Ok(vec![
        table(
            &format!("{name}: filter pass rate by difficulty{unmatched}"),
            pass_rate_by(joined, &["difficulty"])?,
        ),
        table(
            &format!("{name}: filter pass rate by tag{unmatched}"),
            pass_rate_by(by_tag, &["tags"])?,
        ),
    ])
}

pub fn stats(inputs: &[PathBuf]) -> Result<StatsReport> {
    let mut dirs = Vec::new();
    for input in inputs {
        if !input.exists() {
            bail!("{}: no such file or directory", input.display());
        }
        if input.is_file() {
            if input.extension().is_none_or(|e| e != "parquet") {
                bail!(
                    "{}: not a Parquet file; ouro stats reads *.parquet shards, or directories holding them",
                    input.display()
                );
            }
            dirs.push(input.clone());
        } else {
            dataset_dirs(input, 4, &mut dirs)?;
        }
    }
    // `ouro stats runs runs/executions` names one dataset twice; count it once.
    let mut seen = std::collections::HashSet::new();
    dirs.retain(|d| seen.insert(ouro_data::fsutil::resolved(d)));
    // ... and `ouro stats DIR DIR/part-*.parquet` too: a shard of a dataset already read.
    let whole: std::collections::HashSet<_> = dirs
        .iter()
        .filter(|d| d.is_dir())
        .map(|d| ouro_data::fsutil::resolved(d))
        .collect();
    dirs.retain(|d| {
        !d.is_file()
            || !d
                .parent()
                .is_some_and(|p| whole.contains(&ouro_data::fsutil::resolved(p)))
    });
    if dirs.is_empty() {
        bail!(
            "no Parquet shards found under {}",
            inputs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut report = StatsReport {
        datasets: Vec::new(),
        tables: Vec::new(),
    };
    let mut problems: Vec<LazyFrame> = Vec::new();
    let mut executions: Vec<(String, LazyFrame)> = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    for dir in &dirs {
        let mut lf = scan(dir)?;
        let schema = match lf.collect_schema() {
            Ok(schema) => schema,
            // Polars names the directory; the file to look at is the one whose footer fails.
            Err(e) => match (if dir.is_file() {
                Ok(vec![dir.clone()])
            } else {
                ouro_data::shard::list_shards(dir)
            })
            .unwrap_or_default()
            .into_iter()
            .find(|f| ouro_data::shard::column_names(f).is_err())
            {
                Some(file) => {
                    anyhow::bail!("{}: not a readable Parquet file ({e})", file.display())
                }
                None => {
                    return Err(anyhow::Error::new(e)
                        .context(format!("reading schema of {}", dir.display())))
                }
            },
        };
        let columns: Vec<String> = schema.iter_names().map(|n| n.to_string()).collect();
        let kind = kind_of(&columns);
        if kind == DatasetKind::Other {
            unknown.push(format!(
                "{} (columns: {})",
                dir.display(),
                columns.join(", ")
            ));
        }
        let rows = row_count(lf.clone())?;
        let name = dir.display().to_string();
        report.datasets.push((name.clone(), kind, rows));
        report
            .tables
            .extend(tables_of(&name, kind, &columns, lf.clone())?);
        match kind {
            DatasetKind::Problems => problems.push(lf),
            DatasetKind::Executions => executions.push((name, lf)),
            _ => {}
        }
    }
    // Only unknown shards: a wrong path, not a dataset to summarise as "Other".
    if unknown.len() == report.datasets.len() {
        bail!(
            "no ouro dataset found: {}; ouro stats reads problems, samples, executions, \
             sft, dpo, repair and lintseq shards",
            unknown.join("; ")
        );
    }
    if !problems.is_empty() {
        for (name, ex) in executions {
            report
                .tables
                .extend(pass_rates_by_problem(&name, ex, &problems)?);
        }
    }
    Ok(report)
}

/// Renders the report as aligned text tables.
pub fn render(report: &StatsReport) -> String {
    let mut out = String::from("datasets:\n");
    for (name, kind, rows) in &report.datasets {
        out.push_str(&format!("  {name}  ({kind:?}, {rows} rows)\n"));
    }
    for t in &report.tables {
        out.push_str(&format!("\n{}\n", t.title));
        let mut widths: Vec<usize> = t.headers.iter().map(|h| h.len()).collect();
        for row in &t.rows {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: &[String]| {
            cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
        };
        out.push_str(&format!("  {}\n", line(&t.headers)));
        out.push_str(&format!(
            "  {}\n",
            widths
                .iter()
                .map(|w| "-".repeat(*w))
                .collect::<Vec<_>>()
                .join("  ")
        ));
        for row in &t.rows {
            out.push_str(&format!("  {}\n", line(row)));
        }
    }
    out
}
