//! Rewriting the summaries of one publish day from the articles table (the source of truth),
//! with the current summarizer, in one Delta commit: readers see the day's old rows or its new
//! ones, never a mix, and a crash or a cancel before the commit changes nothing.
//!
//! The articles files that may hold the day (by their publish_date statistics) are read, their
//! rows of the day deduplicated by article_id (the first by arrival) and summarized; the
//! summaries files that may hold the day are read too, and replaced by files holding their other
//! rows unchanged and the day's new rows: one commit removes the old files and adds the new.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, RecordBatch};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::Action;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::DeltaTable;
use object_store::ObjectStoreExt as _;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::pipeline::features::Features;
use crate::pipeline::record::ValidArticle;
use crate::pipeline::rows::ArticleRow;
use crate::pipeline::sink::lake::{table_files, Lake, TableFile, TableKind};
use crate::pipeline::sink::parquet::{curated_batch, FileContext, NO_SUMMARIZER};
use crate::summarize::pool::SummarizerPool;
use crate::summarize::Document;

/// Where a reprocess is, for progress bars and the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReprocessProgress {
    Started {
        dt: NaiveDate,
        raw_files: usize,
    },
    FileDone {
        done: usize,
        total: usize,
        rows: u64,
    },
    Committing {
        files: usize,
    },
}

/// What a finished reprocess did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReprocessReport {
    pub dt: NaiveDate,
    /// Files of the articles table read.
    pub raw_files: usize,
    pub rows_read: u64,
    pub rows_written: u64,
    /// Rows whose article_id an earlier row of the day already holds (summaries keep one).
    pub duplicates_skipped: u64,
    /// Files of the summaries table written, and the ones they replaced.
    pub files_written: usize,
    pub files_replaced: usize,
    /// The summaries table's version that holds the result.
    pub version: i64,
    pub summarizer: String,
    pub elapsed: Duration,
}

/// Stops a reprocess between batches of summaries; nothing is committed then.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Articles summarized between two looks at the cancel flag.
const SUMMARY_BATCH: usize = 64;

/// Whether a file may hold rows published on `dt`, by its statistics (no statistics: maybe).
fn may_hold_day(file: &TableFile, dt: NaiveDate) -> bool {
    let (Some(min), Some(max)) = (file.min_publish_date, file.max_publish_date) else {
        return file.rows.is_none_or(|rows| rows > 0);
    };
    min.date_naive() <= dt && dt <= max.date_naive()
}

fn published_on(row: &ArticleRow, dt: NaiveDate) -> bool {
    row.article.publish_date.is_some_and(|d| d.date() == dt)
}

async fn read_file(table: &DeltaTable, path: &str) -> Result<Bytes> {
    let location = deltalake::Path::from_url_path(path)
        .with_context(|| format!("{path} is not a file path of the table"))?;
    let body = table
        .object_store()
        .get(&location)
        .await
        .with_context(|| format!("reading {path} of {}", table.table_url()))?;
    body.bytes()
        .await
        .with_context(|| format!("reading {path} of {}", table.table_url()))
}

/// Rewrites the summaries of articles published on `dt` from the articles table.
pub async fn reprocess_day(
    lake: &Lake,
    dt: NaiveDate,
    summarizer: Option<Arc<SummarizerPool>>,
    progress: &(dyn Fn(ReprocessProgress) + Send + Sync),
    cancel: &Cancel,
) -> Result<ReprocessReport> {
    let started = Instant::now();
    let summarizer_id = summarizer
        .as_ref()
        .map_or(NO_SUMMARIZER.to_string(), |p| p.id().to_string());
    let bucket = &lake.bucket;
    // Summaries first: the pipeline commits a chunk's articles before its summaries, so every
    // chunk whose summaries this snapshot holds has its articles in the later one.
    let summaries = lake.open(TableKind::Summaries).await?;
    let articles = lake.open(TableKind::Articles).await?;
    let (Some(articles), Some(mut summaries)) = (articles, summaries) else {
        bail!(
            "no tables in s3://{bucket}/{} yet: nothing to reprocess (`precis run` writes them)",
            crate::pipeline::sink::lake::LAKE_PREFIX
        );
    };
    let raw_files: Vec<TableFile> = table_files(&articles)
        .await?
        .into_iter()
        .filter(|f| may_hold_day(f, dt))
        .collect();
    progress(ReprocessProgress::Started {
        dt,
        raw_files: raw_files.len(),
    });
    // The day's articles, first sighting of each id by arrival.
    let mut day_rows: Vec<ArticleRow> = Vec::new();
    let mut stream = String::new();
    let mut rows_read = 0u64;
    for (done, file) in raw_files.iter().enumerate() {
        let body = read_file(&articles, &file.path).await?;
        let path = file.path.clone();
        let (file_stream, rows) = tokio::task::spawn_blocking(move || read_raw(&path, body))
            .await
            .context("reading an articles file panicked")??;
        if stream.is_empty() {
            stream = file_stream;
        }
        day_rows.extend(rows.into_iter().filter(|r| published_on(r, dt)));
        rows_read = day_rows.len() as u64;
        progress(ReprocessProgress::FileDone {
            done: done + 1,
            total: raw_files.len(),
            rows: 0,
        });
    }
    if day_rows.is_empty() {
        bail!(
            "no article published on {dt} in s3://{bucket}/{}: nothing to reprocess",
            TableKind::Articles.path()
        );
    }
    day_rows.sort_by(|a, b| {
        (
            a.arrival_time,
            &a.shard_id,
            a.sequence_number.len(),
            &a.sequence_number,
        )
            .cmp(&(
                b.arrival_time,
                &b.shard_id,
                b.sequence_number.len(),
                &b.sequence_number,
            ))
    });
    let mut seen = HashSet::new();
    day_rows.retain(|row| seen.insert(row.article.article_id.clone()));
    let duplicates_skipped = rows_read - day_rows.len() as u64;

    // Summaries, in batches, with a look at the cancel flag between them.
    let mut done = 0u64;
    if let Some(pool) = &summarizer {
        for batch in day_rows.chunks_mut(SUMMARY_BATCH) {
            if cancel.is_cancelled() {
                bail!("reprocess of {dt} cancelled: nothing was committed, the table is unchanged");
            }
            let pool = pool.clone();
            let mut owned: Vec<ArticleRow> = batch.to_vec();
            let owned = tokio::task::spawn_blocking(move || -> Result<Vec<ArticleRow>> {
                let docs: Vec<Document<'_>> = owned.iter().map(ArticleRow::document).collect();
                let summaries = pool.summarize_blocking(&docs)?;
                for (row, summary) in owned.iter_mut().zip(summaries) {
                    row.summary = Some(summary);
                }
                Ok(owned)
            })
            .await
            .context("summarizing panicked")??;
            batch.clone_from_slice(&owned);
            done += batch.len() as u64;
            progress(ReprocessProgress::FileDone {
                done: raw_files.len(),
                total: raw_files.len(),
                rows: done,
            });
        }
    }
    if cancel.is_cancelled() {
        bail!("reprocess of {dt} cancelled: nothing was committed, the table is unchanged");
    }
    let processed_at = Utc::now();
    let ctx = FileContext {
        stream: &stream,
        processed_at,
    };
    let refs: Vec<&ArticleRow> = day_rows.iter().collect();
    let new_rows = curated_batch(&refs, &ctx)?;

    // The summaries files that may hold the day: their other rows are kept as they are.
    let before = table_files(&summaries).await?;
    let known: HashSet<String> = before.iter().map(|f| f.path.clone()).collect();
    let replaced: Vec<TableFile> = before.into_iter().filter(|f| may_hold_day(f, dt)).collect();
    let mut batches = vec![new_rows];
    for file in &replaced {
        let body = read_file(&summaries, &file.path).await?;
        let partition = file.partition.clone();
        let kept = tokio::task::spawn_blocking(move || other_days(body, dt, &partition))
            .await
            .context("reading a summaries file panicked")??;
        batches.extend(kept);
    }
    progress(ReprocessProgress::Committing {
        files: replaced.len(),
    });
    let mut writer = RecordBatchWriter::for_table(&summaries)?
        .with_writer_properties(lake.layout.writer_properties()?)
        .with_target_file_size(lake.layout.target_file_bytes);
    for batch in batches {
        if batch.num_rows() > 0 {
            writer
                .write(batch)
                .await
                .context("writing a summaries file")?;
        }
    }
    let adds = writer
        .flush()
        .await
        .context("finishing the summaries files")?;
    let files_written = adds.len();
    // The pipeline may have committed rows of the day meanwhile (their articles were not read
    // here), or another rewrite may have replaced these files: then committing would lose or
    // repeat rows, so nothing is committed.
    summaries
        .update_state()
        .await
        .context("reading the summaries table before the commit")?;
    let now = table_files(&summaries).await?;
    let now_paths: HashSet<&str> = now.iter().map(|f| f.path.as_str()).collect();
    let added = now
        .iter()
        .any(|f| !known.contains(&f.path) && may_hold_day(f, dt));
    let gone = replaced
        .iter()
        .any(|f| !now_paths.contains(f.path.as_str()));
    if added || gone {
        bail!(
            "the summaries of {dt} changed while they were reprocessed (the pipeline is writing \
             that day, or another reprocess ran): nothing was committed; run it again"
        );
    }
    let snapshot = summaries.snapshot().context("the table has no snapshot")?;
    let mut actions: Vec<Action> = adds.into_iter().map(Action::Add).collect();
    for file in &replaced {
        actions.push(Action::Remove(file.remove.clone()));
    }
    let operation = DeltaOperation::Write {
        mode: SaveMode::Overwrite,
        partition_by: None,
        predicate: Some(format!("CAST(publish_date AS DATE) = '{dt}'")),
    };
    let properties = CommitProperties::default().with_metadata([
        (
            "precis.reprocess".to_string(),
            serde_json::json!(dt.to_string()),
        ),
        (
            "precis.summarizer".to_string(),
            serde_json::json!(summarizer_id),
        ),
    ]);
    let finalized = CommitBuilder::from(properties)
        .with_actions(actions)
        .build(Some(snapshot), summaries.log_store(), operation)
        .await
        .with_context(|| format!("committing the reprocess of {dt}"))?;
    let version = i64::try_from(finalized.version()).unwrap_or(i64::MAX);
    summaries.update_state().await.ok();
    Ok(ReprocessReport {
        dt,
        raw_files: raw_files.len(),
        rows_read,
        rows_written: day_rows.len() as u64,
        duplicates_skipped,
        files_written,
        files_replaced: replaced.len(),
        version,
        summarizer: summarizer_id,
        elapsed: started.elapsed(),
    })
}

/// A summaries file's rows published on other days than `dt`, with the partition column the
/// file's path holds put back (the writer moves it into the path again).
fn other_days(
    body: Bytes,
    dt: NaiveDate,
    partition: &[(String, String)],
) -> Result<Vec<RecordBatch>> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(body)
        .context("reading a summaries file")?
        .build()
        .context("reading a summaries file")?;
    let schema = TableKind::Summaries.schema();
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.context("reading a summaries file's rows")?;
        let dates = batch
            .column_by_name("publish_date")
            .context("a summaries file without publish_date")?
            .as_primitive_opt::<TimestampMicrosecondType>()
            .context("publish_date is not a microsecond timestamp")?;
        let keep: arrow_array::BooleanArray = (0..batch.num_rows())
            .map(|i| {
                Some(
                    !(dates.is_valid(i)
                        && DateTime::from_timestamp_micros(dates.value(i))
                            .is_some_and(|d| d.date_naive() == dt)),
                )
            })
            .collect();
        let kept = arrow_select::filter::filter_record_batch(&batch, &keep)
            .context("keeping the other days' rows")?;
        let mut columns = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            let column = match kept.column_by_name(field.name()) {
                Some(column) => column.clone(),
                None => {
                    let value = partition
                        .iter()
                        .find(|(name, _)| name == field.name())
                        .map(|(_, value)| value.as_str())
                        .with_context(|| format!("a summaries file without {}", field.name()))?;
                    Arc::new(arrow_array::StringArray::from(vec![value; kept.num_rows()]))
                        as arrow_array::ArrayRef
                }
            };
            columns.push(column);
        }
        out.push(
            RecordBatch::try_new(schema.clone(), columns)
                .context("rebuilding a summaries batch")?,
        );
    }
    Ok(out)
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

struct RawColumns<'a> {
    article_id: &'a arrow_array::StringArray,
    title: &'a arrow_array::StringArray,
    author: &'a arrow_array::StringArray,
    publish_date: &'a arrow_array::TimestampMicrosecondArray,
    content: &'a arrow_array::StringArray,
    publish_date_raw: &'a arrow_array::StringArray,
    extra_json: &'a arrow_array::StringArray,
    stream: &'a arrow_array::StringArray,
    shard_id: &'a arrow_array::StringArray,
    sequence_number: &'a arrow_array::StringArray,
    partition_key: &'a arrow_array::StringArray,
    arrival_time: &'a arrow_array::TimestampMicrosecondArray,
}

impl<'a> RawColumns<'a> {
    fn of(batch: &'a RecordBatch) -> Result<Self> {
        let text = |name: &str| -> Result<&'a arrow_array::StringArray> {
            batch
                .column_by_name(name)
                .with_context(|| format!("no column {name}"))?
                .as_string_opt::<i32>()
                .with_context(|| format!("column {name} is not text"))
        };
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
            publish_date_raw: text("publish_date_raw")?,
            extra_json: text("extra_json")?,
            stream: text("stream")?,
            shard_id: text("shard_id")?,
            sequence_number: text("sequence_number")?,
            partition_key: text("partition_key")?,
            arrival_time: time("arrival_time")?,
        })
    }

    fn row(&self, i: usize) -> ArticleRow {
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
                publish_date_raw: opt(self.publish_date_raw),
                content,
                extra_json: opt(self.extra_json),
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
}
