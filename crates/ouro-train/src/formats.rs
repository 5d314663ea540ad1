//! Training data in the shapes TRL documents, besides ouro's own shards:
//! Parquet or JSONL files, or a directory of them (a Hub dataset's `data/`).
//!
//! SFT: `prompt`/`completion` (strings, or message lists: conversational
//! prompt-completion), `text`, or `messages`. DPO: `prompt`/`chosen`/`rejected`
//! (strings or message lists) or implicit-prompt `chosen`/`rejected` message
//! lists. Extra columns are ignored; ouro's own shards (with `problem_id`)
//! keep every column they have (weight spans, scores). Conversations are
//! rendered as ChatML, as ouro's own `messages` rows are.

use std::path::{Path, PathBuf};

use ouro_data::shard::JsonRow;
use ouro_data::{DpoRecord, Message, PairKind, RepairRecord, SftRecord};
use ouro_model::chat_template::ChatTemplate;
use serde_json::Value;

use crate::config::RowText;
use crate::error::{Result, TrainError};
use crate::hub::{source_files, DataSource};
use crate::sft::SftRows;

const SFT_SHAPES: &str = "prompt + completion (strings, or lists of {role, content} messages), \
                          text, or messages";
const DPO_SHAPES: &str = "prompt + chosen + rejected (strings, or message lists), \
                          or chosen + rejected message lists with a shared prompt";

/// Where a row was read from: errors raised once rows are records (a row with no
/// assistant turn, a token past the vocabulary) still name the file and line.
#[derive(Clone, Debug, PartialEq)]
pub struct Origin {
    pub file: PathBuf,
    /// 1-based line (JSONL) or row (Parquet) number.
    pub at: usize,
}

impl Origin {
    fn new(file: &Path, at: usize) -> Self {
        Origin {
            file: file.to_path_buf(),
            at,
        }
    }

    /// "line N" in JSONL, "row N" in Parquet, as an editor or `pq` would count.
    fn place(&self) -> String {
        let unit = if self.file.extension().is_some_and(|e| e == "parquet") {
            "row"
        } else {
            "line"
        };
        format!("{unit} {}", self.at)
    }
}

/// One [`Origin`] per loaded record, in record order.
#[derive(Debug, Default)]
pub struct Origins(Vec<Origin>);

impl Origins {
    /// `e` with the file and line of the record it names, where it names one.
    pub fn locate(&self, e: TrainError) -> TrainError {
        match e {
            TrainError::Example {
                index,
                problem_id,
                field,
                message,
            } if index < self.0.len() => {
                let at = &self.0[index];
                TrainError::Data {
                    path: at.file.clone(),
                    message: format!(
                        "{} (problem {problem_id}): field '{field}': {message}",
                        at.place()
                    ),
                }
            }
            other => other,
        }
    }
}

/// Records read from a dataset, the shape they were read as, where each came from, and
/// who wrote their text (a chat template, for conversational rows).
#[derive(Debug)]
pub struct Loaded<T> {
    pub rows: T,
    pub shape: &'static str,
    pub origins: Origins,
    pub text: RowText,
}

/// A row and where it came from, for error messages.
struct Row {
    origin: Origin,
    cols: JsonRow,
}

impl Row {
    fn err(&self, field: &str, message: impl std::fmt::Display) -> TrainError {
        TrainError::Data {
            path: self.origin.file.clone(),
            message: format!("{}: field '{field}': {message}", self.origin.place()),
        }
    }

    fn string(&self, field: &str) -> Result<String> {
        match self.cols.get(field) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(self.err(field, format!("expected a string, found {other}"))),
            None => Err(self.err(field, "missing")),
        }
    }

    fn messages(&self, field: &str) -> Result<Vec<Message>> {
        let value = self
            .cols
            .get(field)
            .ok_or_else(|| self.err(field, "missing"))?;
        // Tool calls (content null, `tool_calls`) and tool results would otherwise be
        // read as plain turns, or fail on the null content with no word of why.
        if let Some((i, m)) = value
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .find(|(_, m)| {
                m.get("tool_calls").is_some_and(|t| !t.is_null())
                    || m.get("role").and_then(Value::as_str) == Some("tool")
            })
        {
            let what = if m.get("role").and_then(Value::as_str) == Some("tool") {
                "a tool result (role 'tool')"
            } else {
                "a tool call (tool_calls)"
            };
            return Err(self.err(
                field,
                format!(
                    "message {i} is {what}: training on tool calls is not supported yet; \
                     leave such conversations out"
                ),
            ));
        }
        serde_json::from_value::<Vec<Message>>(value.clone()).map_err(|e| {
            self.err(
                field,
                format!("expected a list of {{role, content}} messages: {e}"),
            )
        })
    }

    /// TRL hands a conversational row's `tools` and `chat_template_kwargs` columns to
    /// the chat template; rendered without them, the row would train on another prompt
    /// than the one it says, so a row that fills either is refused until they are read.
    fn check_template_columns(&self) -> Result<()> {
        for field in ["tools", "chat_template_kwargs"] {
            let filled = match self.cols.get(field) {
                None | Some(Value::Null) => false,
                Some(Value::Array(a)) => !a.is_empty(),
                Some(Value::Object(o)) => !o.is_empty(),
                Some(_) => true,
            };
            if filled {
                return Err(self.err(
                    field,
                    "chat template arguments per row are not supported in training yet \
                     (TRL renders them into the prompt); leave this column out",
                ));
            }
        }
        Ok(())
    }

    /// The messages of a reply (a completion, `chosen` or `rejected`): the turn the
    /// assistant takes after the prompt, so it starts with an assistant message.
    /// Anything else would be rendered as a conversation the template cannot split,
    /// and the error would blame the template for the data.
    fn reply(&self, field: &str) -> Result<Vec<Message>> {
        let messages = self.messages(field)?;
        match messages.first() {
            None => Err(self.err(field, "no messages: a reply needs the assistant's turn")),
            Some(m) if m.role != "assistant" => Err(self.err(
                field,
                format!(
                    "message 0 has role '{}': a reply starts with the assistant's turn",
                    m.role
                ),
            )),
            Some(_) => Ok(messages),
        }
    }

    /// An id from the usual id columns, else `row-N` over the whole dataset.
    fn id(&self, n: usize) -> String {
        ["problem_id", "id", "task_id", "prompt_id"]
            .iter()
            .find_map(|k| match self.cols.get(*k) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(x)) => Some(x.to_string()),
                _ => None,
            })
            .unwrap_or_else(|| format!("row-{n}"))
    }

    fn is_list(&self, field: &str) -> bool {
        matches!(self.cols.get(field), Some(Value::Array(_)))
    }
}

fn read_rows(files: &[PathBuf]) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for file in files {
        if file.extension().is_some_and(|e| e == "parquet") {
            let objs = ouro_data::shard::read_json_rows(file)?;
            rows.extend(objs.into_iter().enumerate().map(|(i, cols)| Row {
                origin: Origin::new(file, i + 1),
                cols,
            }));
        } else {
            let objs = ouro_data::jsonl::read_objects(file)?;
            rows.extend(objs.into_iter().map(|o| Row {
                origin: Origin::new(file, o.line),
                cols: o.row,
            }));
        }
    }
    Ok(rows)
}

/// Every column name any row has, sorted (for the error that lists them).
/// The first row, whose columns decide the dataset's shape.
fn first_row<'r>(data: &Path, rows: &'r [Row]) -> Result<&'r Row> {
    rows.first().ok_or_else(|| TrainError::EmptyDataset {
        path: data.into(),
        detail: "no rows".into(),
    })
}

fn columns(rows: &[Row]) -> Vec<String> {
    let mut cols: Vec<String> = rows
        .iter()
        .flat_map(|r| r.cols.keys().cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    cols.dedup();
    cols
}

fn unknown_shape(data: &Path, rows: &[Row], kind: &str, shapes: &str) -> TrainError {
    TrainError::Data {
        path: data.into(),
        message: format!(
            "not a {kind} dataset: found columns {}; accepted shapes: {shapes}",
            columns(rows).join(", ")
        ),
    }
}

/// ChatML up to the assistant's turn, as `tokenize::chatml_with_assistant_ranges` renders it.
fn chatml_prompt(messages: &[Message]) -> String {
    let mut s = String::new();
    for m in messages {
        s.push_str(&format!(
            "<|im_start|>{}\n{}<|im_end|>\n",
            m.role, m.content
        ));
    }
    s.push_str("<|im_start|>assistant\n");
    s
}

/// The reply after a ChatML prompt: all the conversation adds after the prompt's
/// generation header, each turn closed as `chatml_prompt` closes them.
fn chatml_reply(messages: &[Message]) -> String {
    let mut s = String::new();
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            s.push_str(&format!("<|im_start|>{}\n", m.role));
        }
        s.push_str(&m.content);
        s.push_str("<|im_end|>\n");
    }
    s
}

/// A conversational prompt and reply as the two strings TRL tokenizes: the prompt
/// with its generation header, and the text the reply adds after it.
fn render_pair(
    chat: Option<&ChatTemplate>,
    prompt: &[Message],
    reply: &[Message],
) -> std::result::Result<(String, String), String> {
    match chat {
        Some(t) => t
            .render_prompt_and_reply(prompt, reply)
            .map_err(|e| e.to_string()),
        None => Ok((chatml_prompt(prompt), chatml_reply(reply))),
    }
}

/// Whether `files` are ouro's own shards with every `marker` column (read
/// with the typed reader, which keeps weight spans and scores).
fn is_ouro_shard(files: &[PathBuf], marker: &[&str]) -> Result<bool> {
    if !files
        .iter()
        .all(|f| f.extension().is_some_and(|e| e == "parquet"))
    {
        return Ok(false);
    }
    let cols = ouro_data::shard::column_names(&files[0])?;
    Ok(marker.iter().all(|m| cols.iter().any(|c| c == m)))
}

/// SFT rows from `src`, the shape they were read as, and where each came from.
/// Conversational rows are rendered with `chat` (the model's template; ChatML when
/// `None`): a conversational prompt-completion row as TRL renders it, the prompt with
/// its generation header and the completion as all the conversation adds after it.
pub fn load_sft(src: &DataSource, chat: Option<&ChatTemplate>) -> Result<Loaded<SftRows>> {
    let data = src.path;
    let files = source_files(src)?;
    if is_ouro_shard(&files, &["messages", "problem_id", "failing_sample_id"])? {
        let (rows, origins) = read_typed(&files)?;
        return Ok(Loaded {
            rows: SftRows::Messages(rows),
            shape: "ouro repair shards",
            origins,
            text: RowText::Rendered,
        });
    }
    if is_ouro_shard(&files, &["prompt", "completion", "problem_id", "origin"])? {
        let (rows, origins) = read_weighted(&files, |r: &SftRecord| [&r.weight_spans[..], &[]])?;
        return Ok(Loaded {
            rows: SftRows::PromptCompletion(rows),
            shape: "ouro sft shards",
            origins,
            text: RowText::Plain,
        });
    }
    let rows = read_rows(&files)?;
    let origins = Origins(rows.iter().map(|r| r.origin.clone()).collect());
    let loaded = |rows, shape, text| Loaded {
        rows,
        shape,
        origins,
        text,
    };
    let first = first_row(data, &rows)?;
    let has = |k: &str| first.cols.contains_key(k);
    let conversation = |r: &Row, i: usize, messages: Vec<Message>| RepairRecord {
        messages,
        problem_id: r.id(i + 1),
        failing_sample_id: String::new(),
        fixed_sample_id: None,
        round: 0,
    };
    let plain = |r: &Row, i: usize, prompt: String, completion: String| SftRecord {
        prompt,
        completion,
        problem_id: r.id(i + 1),
        sample_id: None,
        round: 0,
        origin: "dataset".into(),
        score: None,
        weight_spans: Vec::new(),
    };
    if has("messages") {
        let out = rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                r.check_template_columns()?;
                Ok(conversation(r, i, r.messages("messages")?))
            })
            .collect::<Result<_>>()?;
        return Ok(loaded(
            SftRows::Messages(out),
            "conversational (messages)",
            RowText::Rendered,
        ));
    }
    if has("prompt") && has("completion") && first.is_list("prompt") {
        // TRL's loss here starts where the prompt (with its generation header) ends,
        // whatever the roles after it: not a role mask over one conversation.
        let out = rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                r.check_template_columns()?;
                let (prompt, completion) =
                    render_pair(chat, &r.messages("prompt")?, &r.reply("completion")?)
                        .map_err(|e| r.err("completion", e))?;
                Ok(plain(r, i, prompt, completion))
            })
            .collect::<Result<_>>()?;
        return Ok(loaded(
            SftRows::PromptCompletion(out),
            "conversational prompt-completion",
            RowText::Rendered,
        ));
    }
    if has("prompt") && has("completion") {
        let out = rows
            .iter()
            .enumerate()
            .map(|(i, r)| Ok(plain(r, i, r.string("prompt")?, r.string("completion")?)))
            .collect::<Result<_>>()?;
        return Ok(loaded(
            SftRows::PromptCompletion(out),
            "prompt-completion",
            RowText::Plain,
        ));
    }
    if has("text") {
        // Language modelling: the whole text carries loss (no prompt to mask).
        let out = rows
            .iter()
            .enumerate()
            .map(|(i, r)| Ok(plain(r, i, String::new(), r.string("text")?)))
            .collect::<Result<_>>()?;
        return Ok(loaded(
            SftRows::PromptCompletion(out),
            "language modelling (text)",
            RowText::Plain,
        ));
    }
    Err(unknown_shape(data, &rows, "SFT", SFT_SHAPES))
}

/// Preference pairs from `data`, the shape they were read as and where each came from. Conversational
/// pairs are rendered with `chat` (the model's template; ChatML when `None`) as
/// TRL renders them: the prompt with its generation header, each reply as the
/// text the whole conversation adds after it.
pub fn load_dpo(src: &DataSource, chat: Option<&ChatTemplate>) -> Result<Loaded<Vec<DpoRecord>>> {
    let data = src.path;
    let files = source_files(src)?;
    if is_ouro_shard(
        &files,
        &["prompt", "chosen", "rejected", "problem_id", "pair_kind"],
    )? {
        let (rows, origins) = read_weighted(&files, |r: &DpoRecord| {
            [&r.chosen_spans[..], &r.rejected_spans[..]]
        })?;
        return Ok(Loaded {
            rows,
            shape: "ouro dpo shards",
            origins,
            text: RowText::Plain,
        });
    }
    let rows = read_rows(&files)?;
    let first = first_row(data, &rows)?;
    let has = |k: &str| first.cols.contains_key(k);
    if !(has("chosen") && has("rejected")) {
        return Err(unknown_shape(data, &rows, "DPO", DPO_SHAPES));
    }
    let pair = |r: &Row, i: usize, prompt: String, chosen: String, rejected: String| DpoRecord {
        prompt,
        chosen,
        rejected,
        problem_id: r.id(i + 1),
        chosen_sample_id: None,
        rejected_sample_id: None,
        round: 0,
        // Outside data carries no kind; correctness is what a preference pair says.
        pair_kind: PairKind::Correctness,
        chosen_score: None,
        rejected_score: None,
        chosen_spans: Vec::new(),
        rejected_spans: Vec::new(),
    };
    let conversational = first.is_list("chosen");
    let shape = match (has("prompt"), conversational) {
        (true, false) => "preference (prompt, chosen, rejected)",
        (true, true) => "conversational preference",
        (false, true) => "conversational preference with implicit prompt",
        (false, false) => return Err(unknown_shape(data, &rows, "DPO", DPO_SHAPES)),
    };
    let out = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if !conversational {
                return Ok(pair(
                    r,
                    i,
                    r.string("prompt")?,
                    r.string("chosen")?,
                    r.string("rejected")?,
                ));
            }
            r.check_template_columns()?;
            let (prompt, chosen, rejected) = if has("prompt") {
                (
                    r.messages("prompt")?,
                    r.reply("chosen")?,
                    r.reply("rejected")?,
                )
            } else {
                let (chosen, rejected) = (r.messages("chosen")?, r.messages("rejected")?);
                if chosen == rejected {
                    return Err(r.err(
                        "rejected",
                        "the same conversation as chosen: a pair needs two replies",
                    ));
                }
                // TRL's extract_prompt: the longest common run of leading messages.
                let shared = chosen
                    .iter()
                    .zip(&rejected)
                    .take_while(|(a, b)| a == b)
                    .count();
                if shared == 0 || shared == chosen.len() || shared == rejected.len() {
                    return Err(r.err(
                        "chosen",
                        "chosen and rejected share no prompt and then differ",
                    ));
                }
                (
                    chosen[..shared].to_vec(),
                    chosen[shared..].to_vec(),
                    rejected[shared..].to_vec(),
                )
            };
            let render = |reply: &[Message], field: &str| {
                render_pair(chat, &prompt, reply).map_err(|e| r.err(field, e))
            };
            let (head, chosen) = render(&chosen, "chosen")?;
            let (_, rejected) = render(&rejected, "rejected")?;
            Ok(pair(r, i, head, chosen, rejected))
        })
        .collect::<Result<_>>()?;
    Ok(Loaded {
        rows: out,
        shape,
        origins: Origins(rows.into_iter().map(|r| r.origin).collect()),
        text: if conversational {
            RowText::Rendered
        } else {
            RowText::Plain
        },
    })
}

fn read_typed<T: ouro_data::Record>(files: &[PathBuf]) -> Result<(Vec<T>, Origins)> {
    let mut out = Vec::new();
    let mut origins = Vec::new();
    for file in files {
        let rows = ouro_data::shard::read_records::<T>(file)?;
        origins.extend((1..=rows.len()).map(|at| Origin::new(file, at)));
        out.extend(rows);
    }
    Ok((out, Origins(origins)))
}

/// [`read_typed`] of rows that carry weight spans, each weight checked: a NaN one turns
/// every loss it touches into NaN (even with weighting off, as `0 * NaN`), and a
/// negative one trains those tokens down.
fn read_weighted<T: ouro_data::Record>(
    files: &[PathBuf],
    spans: impl Fn(&T) -> [&[ouro_data::WeightSpan]; 2],
) -> Result<(Vec<T>, Origins)> {
    let (rows, origins) = read_typed::<T>(files)?;
    for (row, at) in rows.iter().zip(&origins.0) {
        if let Some(bad) = spans(row)
            .iter()
            .flat_map(|s| s.iter())
            .find(|s| !(s.weight >= 0.0 && s.weight.is_finite()))
        {
            return Err(TrainError::Data {
                path: at.file.clone(),
                message: format!(
                    "{}: weight span [{}, {}) has weight {}; span weights must be finite and >= 0",
                    at.place(),
                    bad.start,
                    bad.end,
                    bad.weight
                ),
            });
        }
    }
    Ok((rows, origins))
}

#[cfg(test)]
mod tests;
