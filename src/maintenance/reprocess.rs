//! Reprocessing by predicate: the summaries rows a [`Selection`] picks (a publish-date range, a
//! split, rows written by another summarizer than the current one) summarized again from their
//! source rows in the articles table, and replaced in one Delta commit: a reader sees the old
//! rows or the new, never both and never neither, and a crash or a cancel before the commit
//! changes nothing.
//!
//! The summaries files that may hold selected rows (by their statistics and partition) are read;
//! the selected rows' exact source rows (same shard and sequence number) are read from the
//! articles files whose publish dates may hold them, summarized, and written with the other rows
//! of the replaced files unchanged. Rows the pipeline appends meanwhile are in other files, which
//! the commit leaves alone.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, BooleanArray, RecordBatch};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use deltalake::kernel::Add;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::DeltaTable;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::files::{table_files, TableFile};
use super::{commit_rewrite, file_batches, read_file, Rewrite, META_REPROCESS, META_SUMMARIZER};
use crate::pipeline::features::Features;
use crate::pipeline::record::ValidArticle;
use crate::pipeline::rows::ArticleRow;
use crate::pipeline::sink::lake::{Lake, TableKind};
use crate::pipeline::sink::parquet::{
    curated_batch, sorted_by_publish_date, FileContext, NO_SUMMARIZER, SPLIT_COLUMN,
};
use crate::summarize::pool::{Cancel, SummarizerPool};
use crate::summarize::Document;

/// The splits a row can be in.
pub const SPLITS: [&str; 3] = ["train", "validation", "test"];

/// Which summaries rows a reprocess rewrites: all conditions given must hold. (A backfill's plan
/// carries it to the workers as JSON.)
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Selection {
    /// Published on this day or later (UTC).
    pub from: Option<NaiveDate>,
    /// Published on this day or earlier (UTC).
    pub to: Option<NaiveDate>,
    /// In this split.
    pub split: Option<String>,
    /// Summarized by another summarizer than the one reprocessing.
    pub stale: bool,
    /// Every row (a backfill's `--all`); the other conditions must then be unset.
    pub all: bool,
}

impl Selection {
    /// One publish day.
    pub fn day(dt: NaiveDate) -> Self {
        Self {
            from: Some(dt),
            to: Some(dt),
            ..Self::default()
        }
    }

    /// A selection must say which rows: an empty one would rewrite the whole table by mistake.
    pub fn validate(&self) -> Result<()> {
        let narrowed =
            self.from.is_some() || self.to.is_some() || self.split.is_some() || self.stale;
        if self.all && narrowed {
            bail!("--all takes every row: leave out --dt, --from, --to, --split and --stale");
        }
        if self.all {
            return Ok(());
        }
        if self.from.is_none() && self.to.is_none() && self.split.is_none() && !self.stale {
            bail!(
                "say which rows to reprocess: --dt DAY, --from DAY / --to DAY, --split NAME,                  --stale (rows of another summarizer), or several"
            );
        }
        if let (Some(from), Some(to)) = (self.from, self.to) {
            if from > to {
                bail!("--from {from} is after --to {to}: no day is in between");
            }
        }
        if let Some(split) = &self.split {
            if !SPLITS.contains(&split.as_str()) {
                bail!("--split {split}: the splits are train, validation and test");
            }
        }
        Ok(())
    }

    /// The predicate as SQL, for people and for the commit's record of what it replaced.
    pub fn predicate(&self, current: &str) -> String {
        let mut parts = Vec::new();
        match (self.from, self.to) {
            (Some(from), Some(to)) if from == to => {
                parts.push(format!("CAST(publish_date AS DATE) = '{from}'"))
            }
            (from, to) => {
                if let Some(from) = from {
                    parts.push(format!("CAST(publish_date AS DATE) >= '{from}'"));
                }
                if let Some(to) = to {
                    parts.push(format!("CAST(publish_date AS DATE) <= '{to}'"));
                }
            }
        }
        if let Some(split) = &self.split {
            parts.push(format!("split = '{split}'"));
        }
        if self.stale {
            parts.push(format!("summarizer <> '{}'", current.replace('\'', "''")));
        }
        if parts.is_empty() {
            return "TRUE".to_string();
        }
        parts.join(" AND ")
    }

    fn date_bounds(&self) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let start = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
        (
            self.from.and_then(start),
            self.to.and_then(|d| d.succ_opt()).and_then(start),
        )
    }

    /// Whether a summaries file may hold selected rows, by its partition and statistics.
    pub(super) fn may_hold(&self, file: &TableFile, current: &str) -> bool {
        if let Some(split) = &self.split {
            let in_split = file
                .partition
                .iter()
                .any(|(name, value)| name == SPLIT_COLUMN && value == split);
            if !in_split {
                return false;
            }
        }
        if self.stale
            && file.min_summarizer.as_deref() == Some(current)
            && file.max_summarizer.as_deref() == Some(current)
        {
            return false;
        }
        let (start, end) = self.date_bounds();
        if start.is_some() || end.is_some() {
            let (Some(min), Some(max)) = (file.min_publish_date, file.max_publish_date) else {
                // No statistics (or only null dates): maybe, unless the file is empty.
                return file.rows.is_none_or(|rows| rows > 0);
            };
            if start.is_some_and(|s| max < s) || end.is_some_and(|e| min >= e) {
                return false;
            }
        }
        true
    }

    /// Whether one row is selected (its split is its file's).
    pub(super) fn matches(
        &self,
        publish_micros: Option<i64>,
        summarizer: &str,
        current: &str,
    ) -> bool {
        let (start, end) = self.date_bounds();
        if start.is_some() || end.is_some() {
            let Some(date) = publish_micros.and_then(DateTime::from_timestamp_micros) else {
                return false;
            };
            if start.is_some_and(|s| date < s) || end.is_some_and(|e| date >= e) {
                return false;
            }
        }
        !(self.stale && summarizer == current)
    }
}

/// Where a reprocess is, for progress bars and the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReprocessProgress {
    /// The summaries files are read: this many rows are selected.
    Selected {
        rows: u64,
        files: usize,
        raw_files: usize,
    },
    ArticlesRead {
        done: usize,
        total: usize,
    },
    Summarized {
        done: u64,
        total: u64,
    },
    Committing {
        files: usize,
    },
}

/// What a finished reprocess did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReprocessReport {
    pub predicate: String,
    /// Files of the articles table read.
    pub raw_files: usize,
    /// Rows selected, each summarized again and written once.
    pub rows: u64,
    /// Files of the summaries table written, and the ones they replaced.
    pub files_written: usize,
    pub files_replaced: usize,
    /// The summaries table's version that holds the result.
    pub version: i64,
    pub summarizer: String,
    pub elapsed: Duration,
}

/// Articles summarized between two looks at the cancel flag.
const SUMMARY_BATCH: usize = 64;

/// A row's place in its shard: what ties a summaries row to its source row.
type SourceKey = (String, String);

/// The summaries rows of one file, split into the selected ones' keys and the rows kept as they
/// are.
struct FileSelection {
    selected: Vec<(SourceKey, Option<i64>)>,
    kept: Vec<RecordBatch>,
}

fn select_rows(
    batches: Vec<RecordBatch>,
    selection: &Selection,
    current: &str,
) -> Result<FileSelection> {
    let mut out = FileSelection {
        selected: Vec::new(),
        kept: Vec::new(),
    };
    for batch in batches {
        let text = |name: &str| {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_string_opt::<i32>())
                .with_context(|| format!("a summaries file without text column {name}"))
        };
        let (shards, sequences, summarizers) = (
            text("shard_id")?,
            text("sequence_number")?,
            text("summarizer")?,
        );
        let dates = batch
            .column_by_name("publish_date")
            .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
            .context("a summaries file without publish_date")?;
        let mut keep = Vec::with_capacity(batch.num_rows());
        for i in 0..batch.num_rows() {
            let date = dates.is_valid(i).then(|| dates.value(i));
            let picked = selection.matches(date, summarizers.value(i), current);
            if picked {
                out.selected.push((
                    (shards.value(i).to_string(), sequences.value(i).to_string()),
                    date,
                ));
            }
            keep.push(Some(!picked));
        }
        let kept = arrow_select::filter::filter_record_batch(&batch, &BooleanArray::from(keep))
            .context("keeping the rows not selected")?;
        if kept.num_rows() > 0 {
            out.kept.push(kept);
        }
    }
    Ok(out)
}

/// Rewrites the summaries rows `selection` picks from their source rows in the articles table,
/// with `summarizer` (or none), in one commit.
pub async fn reprocess(
    lake: &Lake,
    selection: &Selection,
    summarizer: Option<Arc<SummarizerPool>>,
    progress: &(dyn Fn(ReprocessProgress) + Send + Sync),
    cancel: &Cancel,
) -> Result<ReprocessReport> {
    selection.validate()?;
    let started = Instant::now();
    let current = summarizer
        .as_ref()
        .map_or(NO_SUMMARIZER.to_string(), |p| p.id().to_string());
    let predicate = selection.predicate(&current);
    let cancelled = || -> Result<()> {
        if cancel.is_cancelled() {
            bail!(
                "reprocess of {predicate} cancelled: nothing was committed, the table is unchanged"
            );
        }
        Ok(())
    };
    let bucket = &lake.bucket;
    // Summaries first: the pipeline commits a chunk's articles before its summaries
    // (TableKind::COMMIT_ORDER), so every summaries row of this snapshot has its source row in
    // the later articles snapshot.
    let summaries = lake.open(TableKind::Summaries).await?;
    let articles = lake.open(TableKind::Articles).await?;
    let (Some(articles), Some(mut summaries)) = (articles, summaries) else {
        bail!(
            "no tables in s3://{bucket}/{} yet: nothing to reprocess (`precis run` writes them)",
            crate::pipeline::sink::lake::LAKE_PREFIX
        );
    };
    let picked = selected_rows(&summaries, selection, &current).await?;
    if picked.selected.is_empty() {
        bail!(
            "no summaries row matches {predicate} in s3://{bucket}/{}: nothing to reprocess",
            TableKind::Summaries.path()
        );
    }
    cancelled()?;
    let (mut rows, raw_files) =
        source_rows(&articles, &picked, bucket, progress, &cancelled).await?;
    if let Some(pool) = &summarizer {
        summarize_rows(pool, &mut rows, progress, cancel, &cancelled).await?;
    }
    cancelled()?;
    let total = rows.len() as u64;
    let adds = write_rows(lake, &summaries, &rows, picked.kept).await?;
    let files_written = adds.len();
    progress(ReprocessProgress::Committing {
        files: picked.replaced.len(),
    });
    cancelled()?;
    let rewrite = Rewrite {
        removes: picked.replaced.iter().map(|f| f.remove.clone()).collect(),
        adds,
        operation: DeltaOperation::Write {
            mode: SaveMode::Overwrite,
            partition_by: None,
            predicate: Some(predicate.clone()),
        },
        txn: None,
        metadata: vec![
            (META_REPROCESS.to_string(), serde_json::json!(predicate)),
            (META_SUMMARIZER.to_string(), serde_json::json!(current)),
        ],
    };
    let version = commit_rewrite(&mut summaries, rewrite)
        .await
        .with_context(|| format!("committing the reprocess of {predicate}"))?;
    if let Err(err) = super::card::write_card(&summaries, TableKind::Summaries).await {
        tracing::warn!("the summaries table's card was not updated: {err:#}");
    }
    Ok(ReprocessReport {
        predicate,
        raw_files,
        rows: total,
        files_written,
        files_replaced: picked.replaced.len(),
        version,
        summarizer: current,
        elapsed: started.elapsed(),
    })
}

/// The summaries files that may hold selected rows; their selected rows (source keys and
/// publish dates) and the rows they keep.
struct Picked {
    replaced: Vec<TableFile>,
    selected: Vec<(SourceKey, Option<i64>)>,
    kept: Vec<RecordBatch>,
}

async fn selected_rows(
    summaries: &DeltaTable,
    selection: &Selection,
    current: &str,
) -> Result<Picked> {
    let replaced: Vec<TableFile> = table_files(summaries)
        .await?
        .into_iter()
        .filter(|f| selection.may_hold(f, current))
        .collect();
    let (mut selected, mut kept) = (Vec::new(), Vec::new());
    for file in &replaced {
        let body = read_file(summaries, &file.path).await?;
        let (file, selection, current) = (file.clone(), selection.clone(), current.to_string());
        let picked = tokio::task::spawn_blocking(move || {
            select_rows(
                file_batches(TableKind::Summaries, &file, body)?,
                &selection,
                &current,
            )
        })
        .await
        .context("reading a summaries file panicked")??;
        selected.extend(picked.selected);
        kept.extend(picked.kept);
    }
    Ok(Picked {
        replaced,
        selected,
        kept,
    })
}

/// The selected rows' source rows (with their stream), in selection order, read only from the
/// articles files whose dates may hold them; and how many articles files were read.
async fn source_rows(
    articles: &DeltaTable,
    picked: &Picked,
    bucket: &str,
    progress: &(dyn Fn(ReprocessProgress) + Send + Sync),
    cancelled: &(dyn Fn() -> Result<()> + Sync),
) -> Result<(Vec<(String, ArticleRow)>, usize)> {
    let dates: Vec<Option<i64>> = picked.selected.iter().map(|(_, d)| *d).collect();
    let (lo, hi) = if dates.iter().any(Option::is_none) {
        (None, None)
    } else {
        let micros = |m: Option<&i64>| m.and_then(|&m| DateTime::from_timestamp_micros(m));
        (
            micros(dates.iter().flatten().min()),
            micros(dates.iter().flatten().max()),
        )
    };
    let raw_files: Vec<TableFile> = table_files(articles)
        .await?
        .into_iter()
        .filter(|f| match (lo, hi, f.min_publish_date, f.max_publish_date) {
            (Some(lo), Some(hi), Some(min), Some(max)) => min <= hi && lo <= max,
            _ => true,
        })
        .collect();
    progress(ReprocessProgress::Selected {
        rows: picked.selected.len() as u64,
        files: picked.replaced.len(),
        raw_files: raw_files.len(),
    });
    let wanted: HashSet<SourceKey> = picked.selected.iter().map(|(k, _)| k.clone()).collect();
    let mut sources: HashMap<SourceKey, (String, ArticleRow)> = HashMap::new();
    for (done, file) in raw_files.iter().enumerate() {
        cancelled()?;
        let body = read_file(articles, &file.path).await?;
        let path = file.path.clone();
        let (stream, rows) = tokio::task::spawn_blocking(move || read_raw(&path, body))
            .await
            .context("reading an articles file panicked")??;
        for row in rows {
            let key = (row.shard_id.clone(), row.sequence_number.clone());
            if wanted.contains(&key) {
                sources.entry(key).or_insert_with(|| (stream.clone(), row));
            }
        }
        progress(ReprocessProgress::ArticlesRead {
            done: done + 1,
            total: raw_files.len(),
        });
    }
    let missing = wanted.len() - sources.len();
    if missing > 0 {
        bail!(
            "{missing} of the {} selected rows have no source row in s3://{bucket}/{} (was the \
             articles table rewritten or cleaned by another tool?): nothing was committed",
            wanted.len(),
            TableKind::Articles.path()
        );
    }
    let rows = picked
        .selected
        .iter()
        .filter_map(|(key, _)| sources.remove(key))
        .collect();
    Ok((rows, raw_files.len()))
}

/// Summarizes the rows in batches, with a look at the cancel flag between them.
async fn summarize_rows(
    pool: &Arc<SummarizerPool>,
    rows: &mut [(String, ArticleRow)],
    progress: &(dyn Fn(ReprocessProgress) + Send + Sync),
    cancel: &Cancel,
    cancelled: &(dyn Fn() -> Result<()> + Sync),
) -> Result<()> {
    let total = rows.len() as u64;
    let mut done = 0u64;
    for batch in rows.chunks_mut(SUMMARY_BATCH) {
        cancelled()?;
        let (pool, cancel_batch) = (pool.clone(), cancel.clone());
        let mut owned: Vec<ArticleRow> = batch.iter().map(|(_, r)| r.clone()).collect();
        let owned = tokio::task::spawn_blocking(move || -> Result<Vec<ArticleRow>> {
            let docs: Vec<Document<'_>> = owned.iter().map(ArticleRow::document).collect();
            let summaries = pool.summarize_blocking(&docs, &cancel_batch)?;
            for (row, summary) in owned.iter_mut().zip(summaries) {
                row.summary = Some(summary);
            }
            Ok(owned)
        })
        .await
        .context("summarizing panicked")?;
        // A cancel during the batch says so in the reprocess's own words.
        let owned = owned.or_else(|err| cancelled().and(Err(err)))?;
        for ((_, row), summarized) in batch.iter_mut().zip(owned) {
            *row = summarized;
        }
        done += batch.len() as u64;
        progress(ReprocessProgress::Summarized { done, total });
    }
    Ok(())
}

/// Writes the new rows (by stream: each row keeps its own lineage), sorted by publish date, then
/// the kept ones, as the summaries table's new files; their add actions.
async fn write_rows(
    lake: &Lake,
    summaries: &DeltaTable,
    rows: &[(String, ArticleRow)],
    kept: Vec<RecordBatch>,
) -> Result<Vec<Add>> {
    let processed_at = Utc::now();
    let mut by_stream: HashMap<&str, Vec<&ArticleRow>> = HashMap::new();
    for (stream, row) in rows {
        by_stream.entry(stream.as_str()).or_default().push(row);
    }
    let mut fresh = Vec::new();
    for (stream, rows) in by_stream {
        fresh.push(curated_batch(
            &rows,
            &FileContext {
                stream,
                processed_at,
            },
        )?);
    }
    let mut batches = sorted_by_publish_date(fresh)?;
    batches.extend(kept);
    let mut writer = RecordBatchWriter::for_table(summaries)?
        .with_writer_properties(lake.layout.writer_properties()?)
        .with_target_file_size(lake.layout.target_file_bytes);
    for batch in batches {
        writer
            .write(batch)
            .await
            .context("writing a summaries file")?;
    }
    writer
        .flush()
        .await
        .context("finishing the summaries files")
}

/// An articles file's rows, as the pipeline had them before summarizing: the article as
/// received, its lineage, and features recomputed from the content (they are a pure function of
/// it). Returns the stream name with the rows.
pub fn read_raw(key: &str, body: Bytes) -> Result<(String, Vec<ArticleRow>)> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(body)
        .with_context(|| format!("reading {key} as Parquet"))?
        .build()
        .with_context(|| format!("reading {key} as Parquet"))?;
    let mut stream = String::new();
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.with_context(|| format!("reading rows of {key}"))?;
        let columns = RawColumns::of(&batch)
            .with_context(|| format!("{key} is not a file of the articles table"))?;
        for i in 0..batch.num_rows() {
            if stream.is_empty() {
                stream = columns.stream.value(i).to_string();
            }
            rows.push(columns.row(i));
        }
    }
    Ok((stream, rows))
}

/// The article and lineage columns of a batch of the articles table, or of the summaries table
/// (which has no `publish_date_raw` and `extra_json`: they are read as null there).
pub(super) struct RawColumns<'a> {
    article_id: &'a arrow_array::StringArray,
    title: &'a arrow_array::StringArray,
    author: &'a arrow_array::StringArray,
    publish_date: &'a arrow_array::TimestampMicrosecondArray,
    content: &'a arrow_array::StringArray,
    publish_date_raw: Option<&'a arrow_array::StringArray>,
    extra_json: Option<&'a arrow_array::StringArray>,
    pub(super) stream: &'a arrow_array::StringArray,
    shard_id: &'a arrow_array::StringArray,
    sequence_number: &'a arrow_array::StringArray,
    partition_key: &'a arrow_array::StringArray,
    arrival_time: &'a arrow_array::TimestampMicrosecondArray,
}

fn text_of<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a arrow_array::StringArray> {
    batch
        .column_by_name(name)
        .with_context(|| format!("no column {name}"))?
        .as_string_opt::<i32>()
        .with_context(|| format!("column {name} is not text"))
}

impl<'a> RawColumns<'a> {
    /// A batch of the articles table.
    pub(super) fn of(batch: &'a RecordBatch) -> Result<Self> {
        Ok(Self {
            publish_date_raw: Some(text_of(batch, "publish_date_raw")?),
            extra_json: Some(text_of(batch, "extra_json")?),
            ..Self::of_summaries(batch)?
        })
    }

    /// A batch of the summaries table (its article and lineage columns).
    pub(super) fn of_summaries(batch: &'a RecordBatch) -> Result<Self> {
        let text = |name: &str| text_of(batch, name);
        let time = |name: &str| -> Result<&'a arrow_array::TimestampMicrosecondArray> {
            batch
                .column_by_name(name)
                .with_context(|| format!("no column {name}"))?
                .as_primitive_opt::<TimestampMicrosecondType>()
                .with_context(|| format!("column {name} is not a microsecond timestamp"))
        };
        Ok(Self {
            article_id: text("article_id")?,
            title: text("title")?,
            author: text("author")?,
            publish_date: time("publish_date")?,
            content: text("content")?,
            publish_date_raw: None,
            extra_json: None,
            stream: text("stream")?,
            shard_id: text("shard_id")?,
            sequence_number: text("sequence_number")?,
            partition_key: text("partition_key")?,
            arrival_time: time("arrival_time")?,
        })
    }

    pub(super) fn row(&self, i: usize) -> ArticleRow {
        let opt = |a: &arrow_array::StringArray| a.is_valid(i).then(|| a.value(i).to_string());
        let content = self.content.value(i).to_string();
        ArticleRow {
            features: Features::of(&content),
            article: ValidArticle {
                article_id: self.article_id.value(i).to_string(),
                title: opt(self.title),
                author: opt(self.author),
                publish_date: self
                    .publish_date
                    .is_valid(i)
                    .then(|| DateTime::from_timestamp_micros(self.publish_date.value(i)))
                    .flatten()
                    .map(|d| d.naive_utc()),
                publish_date_raw: self.publish_date_raw.and_then(opt),
                content,
                extra_json: self.extra_json.and_then(opt),
            },
            shard_id: self.shard_id.value(i).to_string(),
            sequence_number: self.sequence_number.value(i).to_string(),
            partition_key: self.partition_key.value(i).to_string(),
            arrival_time: DateTime::from_timestamp_micros(self.arrival_time.value(i))
                .unwrap_or(DateTime::UNIX_EPOCH),
            summary: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::record::Limits;
    use crate::pipeline::rows::{process, Outcome, RawRecord};
    use crate::pipeline::sink::parquet::{encode, raw_batch};
    use chrono::TimeZone;

    fn rows() -> Vec<ArticleRow> {
        [
            r#"{"article_id":"a","title":"T","author":"A","content":"One two three. Four.","publish_date":"2026-03-01T10:00:00","extra":1}"#,
            r#"{"article_id":"b","content":"Only content here.","publish_date":"yesterday"}"#,
        ]
        .iter()
        .enumerate()
        .map(|(i, data)| {
            let record = RawRecord {
                shard_id: "shardId-000000000000".into(),
                sequence_number: format!("4960{i}"),
                partition_key: format!("pk{i}"),
                arrival_time: Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, i as u32).unwrap(),
                data: data.as_bytes().to_vec(),
            };
            match process(&record, &Limits::default()) {
                Outcome::Article(row) => *row,
                Outcome::Quarantined(q) => panic!("{}", q.reason),
            }
        })
        .collect()
    }

    #[test]
    fn an_articles_file_reads_back_into_the_rows_that_were_written() {
        let rows = rows();
        let refs: Vec<_> = rows.iter().collect();
        let ctx = FileContext {
            stream: "MyStream",
            processed_at: Utc::now(),
        };
        let body = encode(&raw_batch(&refs, &ctx).unwrap()).unwrap();
        let (stream, back) = read_raw("k.parquet", Bytes::from(body)).unwrap();
        assert_eq!(stream, "MyStream");
        assert_eq!(back, rows);
    }

    #[test]
    fn a_summaries_file_is_not_mistaken_for_an_articles_file() {
        let rows = rows();
        let refs: Vec<_> = rows.iter().collect();
        let ctx = FileContext {
            stream: "S",
            processed_at: Utc::now(),
        };
        let body = encode(&curated_batch(&refs, &ctx).unwrap()).unwrap();
        let err = format!(
            "{:#}",
            read_raw("c.parquet", Bytes::from(body)).unwrap_err()
        );
        assert!(
            err.contains("c.parquet is not a file of the articles table"),
            "{err}"
        );
    }

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
    }

    fn micros(d: u32, hour: u32) -> Option<i64> {
        Some(
            Utc.with_ymd_and_hms(2026, 3, d, hour, 0, 0)
                .unwrap()
                .timestamp_micros(),
        )
    }

    #[test]
    fn a_selection_must_say_which_rows() {
        let err = Selection::default().validate().unwrap_err().to_string();
        assert!(err.contains("say which rows to reprocess"), "{err}");
        let backwards = Selection {
            from: Some(day(5)),
            to: Some(day(1)),
            ..Selection::default()
        };
        assert!(backwards.validate().is_err());
        let unknown = Selection {
            split: Some("dev".into()),
            ..Selection::default()
        };
        assert!(unknown
            .validate()
            .unwrap_err()
            .to_string()
            .contains("train, validation and test"));
    }

    #[test]
    fn a_date_range_takes_whole_days_at_both_ends() {
        let range = Selection {
            from: Some(day(2)),
            to: Some(day(3)),
            ..Selection::default()
        };
        assert!(!range.matches(micros(1, 23), "s", "s"));
        assert!(range.matches(micros(2, 0), "s", "s"));
        assert!(range.matches(micros(3, 23), "s", "s"));
        assert!(!range.matches(micros(4, 0), "s", "s"));
        assert!(
            !range.matches(None, "s", "s"),
            "a row without a date is in no range"
        );
    }

    #[test]
    fn stale_takes_only_rows_of_another_summarizer() {
        let stale = Selection {
            stale: true,
            ..Selection::default()
        };
        assert!(stale.matches(None, "none", "extractive:m"));
        assert!(!stale.matches(micros(1, 0), "extractive:m", "extractive:m"));
        assert_eq!(
            stale.predicate("it's"),
            "summarizer <> 'it''s'",
            "quotes are doubled"
        );
    }

    #[test]
    fn files_are_skipped_by_split_summarizer_and_dates() {
        let file = |split: &str, summarizer: &str, from: u32, to: u32| TableFile {
            path: "f".into(),
            size: 1,
            rows: Some(1),
            partition: vec![(SPLIT_COLUMN.to_string(), split.to_string())],
            modified_millis: 0,
            min_publish_date: micros(from, 0).and_then(DateTime::from_timestamp_micros),
            max_publish_date: micros(to, 0).and_then(DateTime::from_timestamp_micros),
            max_arrival_time: None,
            min_summarizer: Some(summarizer.into()),
            max_summarizer: Some(summarizer.into()),
            remove: Default::default(),
        };
        let selection = Selection {
            from: Some(day(5)),
            split: Some("train".into()),
            stale: true,
            ..Selection::default()
        };
        assert!(selection.may_hold(&file("train", "old", 1, 6), "new"));
        assert!(!selection.may_hold(&file("test", "old", 1, 6), "new"));
        assert!(!selection.may_hold(&file("train", "new", 1, 6), "new"));
        assert!(!selection.may_hold(&file("train", "old", 1, 4), "new"));
    }
}
