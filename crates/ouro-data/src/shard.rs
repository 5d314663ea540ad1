//! Parquet shards of records: a streaming writer and a streaming reader.
//!
//! Writer guarantees:
//! - rows go to a hidden temp file beside the target, which is fsynced and
//!   renamed into place by [`ShardWriter::finish`]; a writer that is dropped
//!   (or a process that is killed) never leaves a file under the final name;
//! - the schema is the record's fixed schema ([`Record::schema`]);
//! - snappy (default) or zstd, page index on, content-defined chunking on,
//!   row groups capped by uncompressed bytes.

use std::fs::File;
use std::io::BufWriter;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use arrow::array::{Array, RecordBatch};
use arrow::json::reader::{Decoder, ReaderBuilder};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{CdcOptions, EnabledStatistics, WriterProperties};

use crate::arrow_de::StructAccess;
use crate::error::{DataError, Result};
use crate::fsutil;
use crate::schema::Record;

/// Compression codec of written shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Codec {
    #[default]
    Snappy,
    Zstd(i32),
    Uncompressed,
}

impl std::str::FromStr for Codec {
    type Err = String;
    /// Parses `snappy`, `zstd`, `zstd:LEVEL` or `none`.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "snappy" => Ok(Codec::Snappy),
            "zstd" => Ok(Codec::Zstd(3)),
            "none" | "uncompressed" => Ok(Codec::Uncompressed),
            _ => match s.strip_prefix("zstd:").map(str::parse::<i32>) {
                Some(Ok(level)) if (1..=22).contains(&level) => Ok(Codec::Zstd(level)),
                _ => Err(format!(
                    "unknown compression '{s}': expected snappy, zstd, zstd:LEVEL (1-22) or none"
                )),
            },
        }
    }
}

/// How shards are written.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    pub codec: Codec,
    /// Row groups are closed once their in-memory size reaches this many bytes.
    pub max_row_group_bytes: usize,
    /// Rows buffered before they are encoded into an Arrow batch.
    pub batch_rows: usize,
    /// Content-defined chunking of data pages, so that re-written shards
    /// deduplicate well in content-addressed stores (e.g. the HF Hub's Xet).
    pub content_defined_chunking: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            codec: Codec::Snappy,
            max_row_group_bytes: 96 * 1024 * 1024,
            batch_rows: 8192,
            content_defined_chunking: true,
        }
    }
}

impl WriteOptions {
    fn properties(&self) -> WriterProperties {
        let compression = match self.codec {
            Codec::Snappy => Compression::SNAPPY,
            Codec::Zstd(level) => Compression::ZSTD(ZstdLevel::try_new(level).unwrap_or_default()),
            Codec::Uncompressed => Compression::UNCOMPRESSED,
        };
        let mut builder = WriterProperties::builder()
            .set_compression(compression)
            // Page-level statistics make the writer emit the column index,
            // which together with the offset index forms the page index.
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_max_row_group_row_count(None)
            .set_max_row_group_bytes(Some(self.max_row_group_bytes))
            .set_created_by(format!("ouro {}", env!("CARGO_PKG_VERSION")));
        if self.content_defined_chunking {
            builder = builder.set_content_defined_chunking(Some(CdcOptions::default()));
        }
        builder.build()
    }
}

/// Streams records of type `T` into one Parquet file, atomically.
pub struct ShardWriter<T: Record> {
    path: PathBuf,
    tmp: fsutil::TempFile,
    writer: Option<ArrowWriter<BufWriter<File>>>,
    decoder: Decoder,
    pending: usize,
    rows: u64,
    options: WriteOptions,
    _rows: PhantomData<fn(&T)>,
}

impl<T: Record> ShardWriter<T> {
    /// Starts a shard that will appear at `path` when [`finish`](Self::finish) succeeds.
    pub fn create(path: impl AsRef<Path>, options: WriteOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let tmp = fsutil::TempFile::beside(&path)?;
        let file = tmp
            .file()
            .try_clone()
            .map_err(|e| DataError::io(&path, e))?;
        let writer = ArrowWriter::try_new(
            BufWriter::with_capacity(1 << 20, file),
            T::schema(),
            Some(options.properties()),
        )
        .map_err(|source| DataError::Parquet {
            path: path.clone(),
            source,
        })?;
        let decoder = ReaderBuilder::new(T::schema())
            .with_batch_size(options.batch_rows)
            .build_decoder()
            .map_err(|source| DataError::Arrow {
                path: path.clone(),
                source,
            })?;
        Ok(ShardWriter {
            path,
            tmp,
            writer: Some(writer),
            decoder,
            pending: 0,
            rows: 0,
            options,
            _rows: PhantomData,
        })
    }

    /// Appends one record.
    pub fn write(&mut self, row: &T) -> Result<()> {
        self.decoder
            .serialize(std::slice::from_ref(row))
            .map_err(|e| DataError::Row {
                path: self.path.clone(),
                row: self.rows as usize,
                message: e.to_string(),
            })?;
        self.pending += 1;
        self.rows += 1;
        if self.pending >= self.options.batch_rows {
            self.flush_batch()?;
        }
        Ok(())
    }

    /// Appends many records.
    pub fn write_all<'r>(&mut self, rows: impl IntoIterator<Item = &'r T>) -> Result<()> {
        for row in rows {
            self.write(row)?;
        }
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    fn flush_batch(&mut self) -> Result<()> {
        let batch = self.decoder.flush().map_err(|source| DataError::Arrow {
            path: self.path.clone(),
            source,
        })?;
        self.pending = 0;
        let writer = self.writer.as_mut().expect("writer present until finish");
        if let Some(batch) = batch {
            writer.write(&batch).map_err(|source| DataError::Parquet {
                path: self.path.clone(),
                source,
            })?;
        }
        Ok(())
    }

    /// Closes the file, makes it durable and moves it to its final name.
    /// Returns the number of rows written.
    pub fn finish(mut self) -> Result<u64> {
        self.flush_batch()?;
        let writer = self.writer.take().expect("finish runs once");
        let buffered = writer.into_inner().map_err(|source| DataError::Parquet {
            path: self.path.clone(),
            source,
        })?;
        buffered
            .into_inner()
            .map_err(|e| DataError::io(&self.path, e.into_error()))?;
        self.tmp.persist(&self.path)?;
        Ok(self.rows)
    }
}

/// Checks that `dir`, a command's output directory for `T` shards, holds no Parquet file
/// of another kind: `--out` naming an input directory by mistake would otherwise replace
/// its shard, or leave a directory of mixed shards that no reader accepts. (Single-file
/// shards of several kinds may share a directory; a command's `--out` is not one.)
pub fn check_output_dir<T: Record>(dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    let required: Vec<String> = T::schema()
        .fields()
        .iter()
        .filter(|f| !f.is_nullable())
        .map(|f| f.name().clone())
        .collect();
    for other in shard_files(dir)? {
        // Unreadable files are the reader's to report; only a readable other kind stops here.
        let Ok(columns) = column_names(&other) else {
            continue;
        };
        if let Some(missing) = required.iter().find(|c| !columns.contains(c)) {
            return Err(DataError::invalid(
                dir,
                format!(
                    "holds {}, which is not {} shard (no column '{missing}'): {} go in a directory of their own",
                    other.display(),
                    with_article(T::KIND),
                    T::KIND
                ),
            ));
        }
    }
    Ok(())
}

/// Checks that `path`, once written, is the only shard its directory holds:
/// a reader of the directory would take any other `*.parquet` along with it.
/// Rewriting `path` itself is fine.
pub fn check_sole_shard(path: &Path) -> Result<()> {
    let Some(dir) = path.parent().filter(|d| d.is_dir()) else {
        return Ok(());
    };
    let others: Vec<String> = shard_files(dir)?
        .iter()
        .filter(|p| p.file_name() != path.file_name())
        .filter_map(|p| Some(p.file_name()?.to_string_lossy().into_owned()))
        .collect();
    if others.is_empty() {
        return Ok(());
    }
    Err(DataError::invalid(
        dir,
        format!(
            "already holds {}, which would be read together with {}: write into an empty directory, or remove them",
            others.join(", "),
            path.file_name().unwrap_or_default().to_string_lossy()
        ),
    ))
}

/// Writes all `rows` into one shard at `path`, atomically.
pub fn write_records<T: Record>(path: impl AsRef<Path>, rows: &[T]) -> Result<u64> {
    let mut w = ShardWriter::<T>::create(path, WriteOptions::default())?;
    w.write_all(rows)?;
    w.finish()
}

/// Opens a shard and returns its record batches, restricted to `columns`
/// (top-level column names) when given. Unknown column names are an error.
pub fn read_batches(
    path: impl AsRef<Path>,
    columns: Option<&[&str]>,
) -> Result<ParquetRecordBatchReader> {
    let required: Option<Vec<(&str, bool)>> =
        columns.map(|names| names.iter().map(|n| (*n, true)).collect());
    read_projected(path.as_ref(), required.as_deref())
}

/// The top-level column names of a Parquet file (reads the footer only).
pub fn column_names(path: impl AsRef<Path>) -> Result<Vec<String>> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|source| DataError::Parquet {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect())
}

/// One row of a file no ouro record describes: column name to value.
pub type JsonRow = serde_json::Map<String, serde_json::Value>;

/// Every row of any Parquet file as a JSON object, for data in other tools'
/// layouts (TRL, pandas, the Hub) that no ouro schema describes.
pub fn read_json_rows(path: impl AsRef<Path>) -> Result<Vec<JsonRow>> {
    use serde::Deserialize;
    let path = path.as_ref();
    let mut out = Vec::new();
    for batch in read_batches(path, None)? {
        let batch = batch.map_err(|e| DataError::invalid(path, e.to_string()))?;
        let schema = batch.schema();
        for row in 0..batch.num_rows() {
            let mut obj = JsonRow::new();
            for (field, column) in schema.fields().iter().zip(batch.columns()) {
                let value = serde_json::Value::deserialize(crate::arrow_de::ArrowValue {
                    array: column.as_ref(),
                    row,
                    path: field.name(),
                })
                .map_err(|e| DataError::invalid(path, format!("row {}: {e}", out.len() + 1)))?;
                obj.insert(field.name().clone(), value);
            }
            out.push(obj);
        }
    }
    Ok(out)
}

/// [`read_batches`] over `(column, required)` pairs: a missing required
/// column is an error, a missing optional one is left out of the projection.
fn read_projected(
    path: &Path,
    columns: Option<&[(&str, bool)]>,
) -> Result<ParquetRecordBatchReader> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let parquet_err = |source| DataError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_err)?;
    let builder = match columns {
        None => builder,
        Some(names) => {
            let schema = builder.schema().clone();
            let mut roots = Vec::with_capacity(names.len());
            for &(name, required) in names {
                match schema.index_of(name) {
                    Ok(index) => roots.push(index),
                    Err(_) if !required => {}
                    Err(_) => {
                        return Err(DataError::invalid(path, format!("missing column '{name}'")))
                    }
                }
            }
            let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
            builder.with_projection(mask)
        }
    };
    builder.with_batch_size(8192).build().map_err(parquet_err)
}

/// Streams the records of one shard, checking that the file has every
/// non-nullable column of `T`'s schema. Extra columns in the file are
/// ignored; a missing nullable one reads as null.
pub struct RecordReader<T: Record> {
    path: PathBuf,
    batches: ParquetRecordBatchReader,
    batch: Option<RecordBatch>,
    row_in_batch: usize,
    row: usize,
    _rows: PhantomData<fn() -> T>,
}

impl<T: Record> RecordReader<T> {
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let wanted = T::schema();
        // A nullable column the file lacks reads as null, so shards written
        // before a column was added (e.g. `lines_executed`) stay readable.
        let columns: Vec<(&str, bool)> = wanted
            .fields()
            .iter()
            .map(|f| (f.name().as_str(), !f.is_nullable()))
            .collect();
        let batches = read_projected(&path, Some(&columns)).map_err(|e| match e {
            DataError::Invalid { path, message } => DataError::Invalid {
                path,
                message: format!("not {} shard: {message}", with_article(T::KIND)),
            },
            other => other,
        })?;
        Ok(RecordReader {
            path,
            batches,
            batch: None,
            row_in_batch: 0,
            row: 0,
            _rows: PhantomData,
        })
    }
}

impl<T: Record> Iterator for RecordReader<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        loop {
            if let Some(batch) = &self.batch {
                if self.row_in_batch < batch.num_rows() {
                    let columns: Vec<(&str, &dyn Array)> = batch
                        .schema_ref()
                        .fields()
                        .iter()
                        .zip(batch.columns())
                        .map(|(f, c)| (f.name().as_str(), c.as_ref()))
                        .collect();
                    let access = StructAccess::from_columns(columns, self.row_in_batch, "");
                    let value =
                        T::deserialize(serde::de::value::MapAccessDeserializer::new(access))
                            .map_err(|e| DataError::Row {
                                path: self.path.clone(),
                                row: self.row,
                                message: e.to_string(),
                            });
                    self.row_in_batch += 1;
                    self.row += 1;
                    return Some(value);
                }
            }
            match self.batches.next()? {
                Ok(batch) => {
                    self.batch = Some(batch);
                    self.row_in_batch = 0;
                }
                Err(source) => {
                    return Some(Err(DataError::Arrow {
                        path: self.path.clone(),
                        source,
                    }))
                }
            }
        }
    }
}

/// Reads every record of one shard.
pub fn read_records<T: Record>(path: impl AsRef<Path>) -> Result<Vec<T>> {
    RecordReader::<T>::open(path)?.collect()
}

/// The name of part `index` of `count`: `part-00003-of-00008.parquet`. Every shard
/// directory ouro writes uses it, so a user (or a glob) sees one naming everywhere.
pub fn part_name(index: usize, count: usize) -> String {
    format!("part-{index:05}-of-{count:05}.parquet")
}

/// The hidden name a new shard is written under until [`publish`] gives it its
/// own: no reader's `*.parquet` glob lists it (ouro's, `datasets`', pandas').
pub fn staged_name(name: &str) -> String {
    format!(".staged-{name}")
}

/// Replaces the shard files of `dir` that `is_old` names with `staged` (each a file
/// written under its [`staged_name`] and its final name), so that a reader never
/// sees both sets: every old file goes first, then each new one is renamed in. A
/// crash between leaves part of the new set, never a mix with the old one, and
/// [`list_shards`] refuses a `NAME-i-of-n` set with a part missing.
pub fn publish(
    dir: &Path,
    staged: &[(PathBuf, String)],
    is_old: impl Fn(&str) -> bool,
) -> Result<Vec<PathBuf>> {
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') && is_old(&name) {
            std::fs::remove_file(entry.path()).map_err(|e| DataError::io(entry.path(), e))?;
        }
    }
    staged
        .iter()
        .map(|(from, name)| {
            let to = dir.join(name);
            std::fs::rename(from, &to).map_err(|e| DataError::io(&to, e))?;
            Ok(to)
        })
        .collect()
}

/// Removes what an interrupted write left under [`staged_name`]s in `dir`.
pub fn remove_staged(dir: &Path) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(DataError::io(dir, e)),
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(".staged-") {
            std::fs::remove_file(entry.path()).map_err(|e| DataError::io(entry.path(), e))?;
        }
    }
    Ok(())
}

/// `("part", 3, 8)` of `part-00003-of-00008.parquet`.
fn part_of_set(name: &str) -> Option<(&str, usize, usize)> {
    let (left, count) = name.strip_suffix(".parquet")?.rsplit_once("-of-")?;
    let (prefix, index) = left.rsplit_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(index) || !digits(count) {
        return None;
    }
    Some((prefix, index.parse().ok()?, count.parse().ok()?))
}

/// A `NAME-i-of-n` set with a part missing is what a write killed between its
/// renames (or an incomplete copy) leaves: read as it is, it would be a smaller
/// dataset that says nothing of the rows it lost.
fn check_part_sets(dir: &Path, shards: &[PathBuf]) -> Result<()> {
    let mut sets: std::collections::BTreeMap<(&str, usize), Vec<usize>> = Default::default();
    for shard in shards {
        let Some(name) = shard.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if let Some((prefix, index, count)) = part_of_set(name) {
            sets.entry((prefix, count)).or_default().push(index);
        }
    }
    for ((prefix, count), present) in sets {
        if let Some(missing) = (0..count).find(|i| !present.contains(i)) {
            return Err(DataError::invalid(
                dir,
                format!(
                    "{prefix}-{missing:05}-of-{count:05}.parquet is missing: {} of the set's \
                     {count} files are here (a write interrupted part way, or an incomplete \
                     copy). Rerun the command that wrote this directory",
                    present.len()
                ),
            ));
        }
    }
    Ok(())
}

/// The shard files of a directory: every `*.parquet` directly inside it
/// (hidden and temp files excluded), sorted by name so reads are deterministic.
/// A `NAME-i-of-n.parquet` set with a part missing is an error: what readers call.
pub fn list_shards(dir: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
    let shards = shard_files(dir.as_ref())?;
    check_part_sets(dir.as_ref(), &shards)?;
    Ok(shards)
}

/// The names of the shard files in `dir` whose name does not start with `own`: files
/// another writer left, which every reader would take along with a writer's own set.
pub fn foreign_shards(dir: &Path, own: &str) -> Result<Vec<String>> {
    Ok(shard_files(dir)?
        .iter()
        .filter_map(|p| Some(p.file_name()?.to_string_lossy().into_owned()))
        .filter(|name| !name.starts_with(own))
        .collect())
}

/// [`list_shards`] without the check of `NAME-i-of-n` sets: for a writer about to
/// replace what is there, which must be able to replace what a killed write left.
pub fn shard_files(dir: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
    let dir = dir.as_ref();
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut shards = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !name.starts_with('.') && name.ends_with(".parquet") {
            shards.push(entry.path());
        }
    }
    shards.sort();
    Ok(shards)
}

/// Reads every record of every shard in `dir` (see [`list_shards`]).
///
/// A directory with no shard is an error, since a stage that silently reads
/// nothing would silently produce nothing.
pub fn read_dir<T: Record>(dir: impl AsRef<Path>) -> Result<Vec<T>> {
    let dir = dir.as_ref();
    let shards = list_shards(dir)?;
    if shards.is_empty() {
        return Err(DataError::invalid(
            dir,
            format!("no {} shards (*.parquet) in this directory", T::KIND),
        ));
    }
    let mut out = Vec::new();
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (i, shard) in shards.iter().enumerate() {
        for record in RecordReader::<T>::open(shard)? {
            let record = record?;
            if let Some(id) = record.unique_id() {
                if let Some(first) = seen.insert(id.to_string(), i) {
                    let where_first = if first == i {
                        "earlier in this shard".to_string()
                    } else {
                        format!("in {}", shards[first].display())
                    };
                    return Err(DataError::invalid(
                        shard,
                        format!(
                            "id '{id}' is also {where_first}: the {} of a directory must not repeat an id",
                            T::KIND
                        ),
                    ));
                }
            }
            out.push(record);
        }
    }
    Ok(out)
}

/// Reads `dir` as in [`read_dir`], or a single shard when `path` is a file.
pub fn read_path<T: Record>(path: impl AsRef<Path>) -> Result<Vec<T>> {
    let path = path.as_ref();
    if path.is_file() {
        read_records(path)
    } else {
        read_dir(path)
    }
}

/// "an executions", "an sft", "a samples": as the kind name is said.
fn with_article(kind: &str) -> String {
    let vowel = kind.starts_with(['a', 'e', 'i', 'o', 'u']) || kind == "sft";
    format!("{} {kind}", if vowel { "an" } else { "a" })
}
