//! The tables as an operator or a trainer thinks of them: version, rows and files per split,
//! file sizes, the last commits, and the rows added since a version a trainer read.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use deltalake::DeltaTable;
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;

use super::files::{table_files, TableFile};
use super::{META_BACKFILL, META_REPROCESS, META_SUMMARIZER};
use crate::pipeline::sink::commit::{parse_app_id, META_APP_ID, META_FIRST_SEQUENCE, META_WORKER};
use crate::pipeline::sink::lake::{Lake, TableKind};
use crate::pipeline::sink::parquet::SPLIT_COLUMN;

/// Upper bounds of the file-size histogram's buckets, in MiB (the last bucket is open).
pub const SIZE_BUCKETS_MIB: [u64; 5] = [1, 8, 32, 64, 128];

/// Rows and files of one split (or of the whole table when it has no splits).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Part {
    pub rows: u64,
    pub files: usize,
    pub bytes: u64,
}

/// One table at its latest version.
#[derive(Debug, Clone)]
pub struct TableSummary {
    /// The table's schema; a candidate table (a backfill's `--into`) has the summaries table's.
    pub kind: TableKind,
    /// What it is called and where it lives: the kind's, or a candidate table's.
    pub name: String,
    pub path: String,
    pub version: i64,
    pub total: Part,
    /// By the `split` partition; empty for tables without it.
    pub splits: BTreeMap<String, Part>,
    /// Files per size bucket: under 1 MiB, 1–8, 8–32, 32–64, 64–128, 128 MiB and more.
    pub histogram: [usize; SIZE_BUCKETS_MIB.len() + 1],
    pub median_file_bytes: u64,
    /// The newest commits first.
    pub commits: Vec<CommitSummary>,
}

/// What one commit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitSummary {
    pub version: i64,
    pub when: Option<DateTime<Utc>>,
    /// WRITE, OPTIMIZE, CREATE TABLE, VACUUM START, …
    pub operation: String,
    pub files_added: usize,
    pub files_removed: usize,
    /// Rows of the added files (their statistics), and of those whose data is new: a
    /// compaction adds rows that are not.
    pub rows_added: u64,
    pub new_rows: u64,
    /// New rows per split.
    pub new_rows_by_split: BTreeMap<String, u64>,
    /// The pipeline's chunk this commit holds: its application id and first sequence number.
    pub chunk: Option<(String, String)>,
    /// What made it.
    pub kind: CommitKind,
    /// The process that wrote a stream commit (its lease-table name).
    pub worker: Option<String>,
    /// The rows a rewrite (reprocess, backfill) selected, as SQL.
    pub predicate: Option<String>,
    /// The summarizer a rewrite wrote with.
    pub summarizer: Option<String>,
}

/// What made a commit, read from the commit's own metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitKind {
    Create,
    /// A chunk of a shard, from the pipeline.
    Stream,
    Compaction,
    Reprocess,
    Backfill,
    Vacuum,
    /// Another writer's operation, as Delta names it.
    Other(String),
}

impl CommitKind {
    pub fn name(&self) -> &str {
        match self {
            CommitKind::Create => "create",
            CommitKind::Stream => "stream",
            CommitKind::Compaction => "compaction",
            CommitKind::Reprocess => "reprocess",
            CommitKind::Backfill => "backfill",
            CommitKind::Vacuum => "vacuum",
            CommitKind::Other(operation) => operation,
        }
    }

    /// A commit that replaced rows with others of new content (not a compaction, which only
    /// moves rows between files).
    pub fn is_rewrite(&self) -> bool {
        matches!(self, CommitKind::Reprocess | CommitKind::Backfill)
    }

    fn of(operation: &str, info: &Value) -> Self {
        let has = |key: &str| info.get(key).is_some();
        if has(META_APP_ID) {
            CommitKind::Stream
        } else if has(META_BACKFILL) {
            CommitKind::Backfill
        } else if has(META_REPROCESS) {
            CommitKind::Reprocess
        } else if operation == "OPTIMIZE" {
            CommitKind::Compaction
        } else if operation.starts_with("VACUUM") {
            CommitKind::Vacuum
        } else if operation == "CREATE TABLE" {
            CommitKind::Create
        } else {
            CommitKind::Other(operation.to_lowercase())
        }
    }
}

fn table_version(table: &DeltaTable) -> Result<i64> {
    let version = table.version().context("the table has no version")?;
    Ok(i64::try_from(version).unwrap_or(i64::MAX))
}

/// The histogram's bucket labels: "<1", "1-8", …, "128+" (MiB).
pub fn bucket_labels() -> Vec<String> {
    let mut labels = Vec::new();
    let mut low = 0;
    for high in SIZE_BUCKETS_MIB {
        labels.push(if low == 0 {
            format!("<{high}")
        } else {
            format!("{low}-{high}")
        });
        low = high;
    }
    labels.push(format!("{low}+"));
    labels
}

pub fn bucket_of(bytes: u64) -> usize {
    SIZE_BUCKETS_MIB
        .iter()
        .position(|&mib| bytes < mib * 1024 * 1024)
        .unwrap_or(SIZE_BUCKETS_MIB.len())
}

pub fn summarize_files(files: &[TableFile]) -> (Part, BTreeMap<String, Part>) {
    let mut total = Part::default();
    let mut splits: BTreeMap<String, Part> = BTreeMap::new();
    for file in files {
        let rows = file.rows.unwrap_or(0);
        for part in std::iter::once(&mut total).chain(
            file.partition
                .iter()
                .find(|(name, _)| name == SPLIT_COLUMN)
                .map(|(_, value)| splits.entry(value.clone()).or_default()),
        ) {
            part.rows += rows;
            part.files += 1;
            part.bytes += file.size;
        }
    }
    (total, splits)
}

/// The table's summary with its `recent` newest commits; None when it does not exist yet.
pub async fn summarize(
    lake: &Lake,
    kind: TableKind,
    recent: usize,
) -> Result<Option<TableSummary>> {
    let Some(table) = lake.open(kind).await? else {
        return Ok(None);
    };
    summarize_table(&table, kind, recent).await.map(Some)
}

pub async fn summarize_table(
    table: &DeltaTable,
    kind: TableKind,
    recent: usize,
) -> Result<TableSummary> {
    let files = table_files(table).await?;
    summarize_listed(table, kind, &files, recent).await
}

/// Every table that exists, précis's three then the candidates, each with its `recent`
/// newest commits.
pub async fn summarize_all(lake: &Lake, recent: usize) -> Result<Vec<TableSummary>> {
    let mut tables = Vec::new();
    for kind in TableKind::ALL {
        tables.extend(summarize(lake, kind, recent).await?);
    }
    tables.extend(summarize_candidates(lake, recent).await?);
    Ok(tables)
}

/// The summaries of the candidate tables a backfill wrote (`lake/<name>`), named
/// `<name> (candidate)`.
pub async fn summarize_candidates(lake: &Lake, recent: usize) -> Result<Vec<TableSummary>> {
    let mut out = Vec::new();
    for path in lake.candidate_tables().await? {
        if let Some(table) = lake.open_at(&path, None).await? {
            let mut summary = summarize_table(&table, TableKind::Summaries, recent).await?;
            let name = path.trim_start_matches(crate::pipeline::sink::lake::LAKE_PREFIX);
            summary.name = format!("{name} (candidate)");
            summary.path = path;
            out.push(summary);
        }
    }
    Ok(out)
}

/// [`summarize_table`] with the table's files already listed.
pub async fn summarize_listed(
    table: &DeltaTable,
    kind: TableKind,
    files: &[TableFile],
    recent: usize,
) -> Result<TableSummary> {
    let version = table_version(table)?;
    let (total, splits) = summarize_files(files);
    let mut histogram = [0usize; SIZE_BUCKETS_MIB.len() + 1];
    for file in files {
        histogram[bucket_of(file.size)] += 1;
    }
    let mut sizes: Vec<u64> = files.iter().map(|f| f.size).collect();
    sizes.sort_unstable();
    let median_file_bytes = sizes.get(sizes.len() / 2).copied().unwrap_or(0);
    let from = (version - recent as i64 + 1).max(0);
    let mut commits = commits(table, from, version).await?;
    commits.reverse();
    Ok(TableSummary {
        kind,
        name: kind.name().to_string(),
        path: kind.path(),
        version,
        total,
        splits,
        histogram,
        median_file_bytes,
        commits,
    })
}

/// Commits `from..=to`, oldest first, read from the log.
pub async fn commits(table: &DeltaTable, from: i64, to: i64) -> Result<Vec<CommitSummary>> {
    commit_entries(table, from, to)
        .await?
        .into_iter()
        .map(|(version, entry)| match entry {
            Some(entry) => commit_summary(version, &entry),
            None => bail!(
                "commit {version} is no longer in the table's log (commits older than the log \
                 retention, 30 days by default, are cleaned up)"
            ),
        })
        .collect()
}

/// Each commit's log entry `from..=to`, oldest first (read a few at a time); None for a commit
/// the log no longer holds.
pub async fn commit_entries(
    table: &DeltaTable,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, Option<Bytes>)>> {
    let store = table.log_store();
    futures::stream::iter(from.max(0)..=to)
        .map(|version| {
            let store = store.clone();
            async move {
                let entry = store
                    .read_commit_entry(version as u64)
                    .await
                    .with_context(|| format!("reading commit {version} of the table's log"))?;
                Ok::<_, anyhow::Error>((version, entry))
            }
        })
        .buffered(16)
        .try_collect()
        .await
}

/// One commit's actions: its JSON lines.
pub fn log_actions(version: i64, entry: &[u8]) -> Result<Vec<Value>> {
    entry
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|line| {
            serde_json::from_slice(line)
                .with_context(|| format!("commit {version} of the log is not JSON lines"))
        })
        .collect()
}

/// One commit's JSON lines, summarized.
pub fn commit_summary(version: i64, entry: &[u8]) -> Result<CommitSummary> {
    let mut summary = CommitSummary {
        version,
        when: None,
        operation: String::new(),
        files_added: 0,
        files_removed: 0,
        rows_added: 0,
        new_rows: 0,
        new_rows_by_split: BTreeMap::new(),
        chunk: None,
        kind: CommitKind::Other(String::new()),
        worker: None,
        predicate: None,
        summarizer: None,
    };
    for action in log_actions(version, entry)? {
        if let Some(add) = action.get("add") {
            summary.files_added += 1;
            let rows = add
                .get("stats")
                .and_then(Value::as_str)
                .and_then(|s| serde_json::from_str::<Value>(s).ok())
                .and_then(|s| s.get("numRecords")?.as_u64())
                .unwrap_or(0);
            summary.rows_added += rows;
            if add.get("dataChange").and_then(Value::as_bool) != Some(false) {
                summary.new_rows += rows;
                if let Some(split) = add
                    .get("partitionValues")
                    .and_then(|p| p.get(SPLIT_COLUMN))
                    .and_then(Value::as_str)
                {
                    *summary
                        .new_rows_by_split
                        .entry(split.to_string())
                        .or_default() += rows;
                }
            }
        } else if action.get("remove").is_some() {
            summary.files_removed += 1;
        } else if let Some(info) = action.get("commitInfo") {
            summary.when = info
                .get("timestamp")
                .and_then(Value::as_i64)
                .and_then(DateTime::from_timestamp_millis);
            summary.operation = info
                .get("operation")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string();
            let text = |key: &str| info.get(key).and_then(Value::as_str).map(str::to_string);
            if let (Some(app), Some(first)) = (text(META_APP_ID), text(META_FIRST_SEQUENCE)) {
                summary.chunk = Some((app, first));
            }
            summary.kind = CommitKind::of(&summary.operation, info);
            summary.worker = text(META_WORKER);
            summary.predicate = text(META_REPROCESS);
            summary.summarizer = text(META_SUMMARIZER);
        }
    }
    Ok(summary)
}

/// Where the rows a table got after a version start, per shard of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watermark {
    pub stream: String,
    pub shard_id: String,
    /// The first sequence number of the shard's first chunk committed after the version.
    pub first_sequence: String,
}

/// The rows appended after `version`: counts, and the filter that selects exactly them.
#[derive(Debug, Clone)]
pub struct Since {
    pub version: i64,
    pub now: i64,
    pub rows: u64,
    pub by_split: BTreeMap<String, u64>,
    pub watermarks: Vec<Watermark>,
}

impl Since {
    /// A SQL condition (DuckDB, polars SQL, DataFusion) true for exactly the rows appended after
    /// the version: each shard's rows from the first sequence number committed after it.
    /// Sequence numbers are decimal strings: a longer one is a larger one.
    pub fn where_clause(&self) -> String {
        if self.watermarks.is_empty() {
            return "FALSE".to_string();
        }
        self.watermarks
            .iter()
            .map(|w| {
                let len = w.first_sequence.len();
                format!(
                    "(stream = '{}' AND shard_id = '{}' AND (length(sequence_number) > {len} OR \
                     (length(sequence_number) = {len} AND sequence_number >= '{}')))",
                    sql_text(&w.stream),
                    sql_text(&w.shard_id),
                    sql_text(&w.first_sequence)
                )
            })
            .collect::<Vec<_>>()
            .join(" OR ")
    }
}

fn sql_text(text: &str) -> String {
    text.replace('\'', "''")
}

/// The rows the pipeline appended to the table after `version`.
pub async fn since(table: &DeltaTable, version: i64) -> Result<Since> {
    let now = table_version(table)?;
    if version > now {
        bail!("the table is at version {now}: version {version} does not exist yet");
    }
    let commits = commits(table, version + 1, now).await?;
    let mut rows = 0;
    let mut by_split: BTreeMap<String, u64> = BTreeMap::new();
    let mut first: BTreeMap<String, String> = BTreeMap::new();
    for commit in &commits {
        let Some((app, first_sequence)) = &commit.chunk else {
            continue;
        };
        rows += commit.new_rows;
        for (split, n) in &commit.new_rows_by_split {
            *by_split.entry(split.clone()).or_default() += n;
        }
        first
            .entry(app.clone())
            .or_insert_with(|| first_sequence.clone());
    }
    let watermarks = first
        .into_iter()
        .map(|(app, first_sequence)| match parse_app_id(&app) {
            Some((stream, shard_id)) => Ok(Watermark {
                stream: stream.to_string(),
                shard_id: shard_id.to_string(),
                first_sequence,
            }),
            None => bail!("{app} is not an application id précis writes"),
        })
        .collect::<Result<_>>()?;
    Ok(Since {
        version,
        now,
        rows,
        by_split,
        watermarks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_sizes_fall_in_their_buckets() {
        let mib = 1024 * 1024;
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(mib - 1), 0);
        assert_eq!(bucket_of(mib), 1);
        assert_eq!(bucket_of(100 * mib), 4);
        assert_eq!(bucket_of(128 * mib), 5);
    }

    #[test]
    fn a_commit_counts_new_rows_apart_from_rearranged_ones() {
        let entry = br#"{"commitInfo":{"timestamp":1700000000000,"operation":"OPTIMIZE"}}
{"add":{"path":"a","partitionValues":{"split":"train"},"size":1,"modificationTime":0,"dataChange":false,"stats":"{\"numRecords\":7}"}}
{"remove":{"path":"b","dataChange":false}}
{"remove":{"path":"c","dataChange":false}}
"#;
        let c = commit_summary(3, entry).unwrap();
        assert_eq!(c.operation, "OPTIMIZE");
        assert_eq!((c.files_added, c.files_removed), (1, 2));
        assert_eq!((c.rows_added, c.new_rows), (7, 0));
        assert!(c.chunk.is_none());
        assert_eq!(c.kind, CommitKind::Compaction);
    }

    #[test]
    fn a_commit_is_named_by_what_made_it() {
        let kind = |info: &str| {
            let entry = format!("{{\"commitInfo\":{info}}}\n");
            commit_summary(1, entry.as_bytes()).unwrap().kind
        };
        assert_eq!(kind(r#"{"operation":"CREATE TABLE"}"#), CommitKind::Create);
        assert_eq!(
            kind(
                r#"{"operation":"WRITE","precis.app_id":"precis/S/shardId-1","precis.first_sequence":"1"}"#
            ),
            CommitKind::Stream
        );
        assert_eq!(
            kind(r#"{"operation":"WRITE","precis.reprocess":"dt = '2026-01-01'"}"#),
            CommitKind::Reprocess
        );
        assert_eq!(
            kind(r#"{"operation":"WRITE","precis.reprocess":"TRUE","precis.backfill":"j"}"#),
            CommitKind::Backfill
        );
        assert_eq!(kind(r#"{"operation":"VACUUM END"}"#), CommitKind::Vacuum);
        assert_eq!(
            kind(r#"{"operation":"MERGE"}"#),
            CommitKind::Other("merge".into())
        );
    }

    #[test]
    fn a_chunk_commit_names_its_shard_and_first_sequence() {
        let entry = br#"{"commitInfo":{"operation":"WRITE","precis.app_id":"precis/S/shardId-1","precis.first_sequence":"0042"}}
{"add":{"path":"a","partitionValues":{"split":"test"},"size":1,"modificationTime":0,"dataChange":true,"stats":"{\"numRecords\":5}"}}
"#;
        let c = commit_summary(9, entry).unwrap();
        assert_eq!(c.chunk, Some(("precis/S/shardId-1".into(), "0042".into())));
        assert_eq!(c.kind, CommitKind::Stream);
        assert_eq!(c.new_rows_by_split.get("test"), Some(&5));
    }

    #[test]
    fn the_where_clause_compares_sequence_numbers_as_numbers() {
        let since = Since {
            version: 1,
            now: 2,
            rows: 0,
            by_split: BTreeMap::new(),
            watermarks: vec![Watermark {
                stream: "S".into(),
                shard_id: "shardId-1".into(),
                first_sequence: "0042".into(),
            }],
        };
        assert_eq!(
            since.where_clause(),
            "(stream = 'S' AND shard_id = 'shardId-1' AND (length(sequence_number) > 4 OR \
             (length(sequence_number) = 4 AND sequence_number >= '0042')))"
        );
    }
}
