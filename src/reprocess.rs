//! Rewriting one day of the curated layer from raw, with the current summarizer.
//!
//! Protocol (docs/decisions.md, "Reprocessing a curated day"):
//! 1. write a marker `_state/reprocess/dt=D.json`; S3's own timestamp on it is the start time;
//! 2. list the day's raw objects (after the marker, so a chunk the live pipeline writes meanwhile
//!    is either listed here or entirely newer than the marker);
//! 3. for each raw object (key order): read it, recompute features, summarize, and upload its
//!    curated objects under the same deterministic keys the pipeline uses — each PUT replaces one
//!    object atomically, so a reader sees each of those rows once, old or new;
//! 4. only when every new object is in S3: delete the curated objects of the listed chunks that
//!    were not rewritten and are not newer than the marker (rows that moved to another chunk's
//!    file, e.g. an exact duplicate now kept elsewhere);
//! 5. delete the marker.
//!
//! A crash or a cancel anywhere leaves the marker, no row missing, and — except for exact
//! duplicates of one article in two chunks, which may show twice until the run completes — no
//! row doubled; running the same reprocess again completes it.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{Array, RecordBatch};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::{Deserialize, Serialize};

use crate::aws::AwsClients;
use crate::browser::{fetch_object, list_objects};
use crate::pipeline::features::{Features, Split};
use crate::pipeline::record::ValidArticle;
use crate::pipeline::rows::ArticleRow;
use crate::pipeline::sink::layout::{
    curated_key_for_stem, curated_partition, raw_partition, reprocess_marker_key, stem_of,
};
use crate::pipeline::sink::parquet::{curated_batch, curated_schema, encode_rows, FileContext};
use crate::pipeline::sink::spill::Encoded;
use crate::pipeline::sink::writer::put;
use crate::summarize::pool::SummarizerPool;
use crate::summarize::Document;

const PARQUET: &str = "application/vnd.apache.parquet";

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
    RemovingStale {
        objects: usize,
    },
}

/// What a finished reprocess did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReprocessReport {
    pub dt: NaiveDate,
    pub raw_files: usize,
    pub rows_read: u64,
    pub rows_written: u64,
    /// Rows whose article_id an earlier raw row of the day already holds (curated keeps one).
    pub duplicates_skipped: u64,
    pub objects_written: usize,
    pub stale_removed: usize,
    pub summarizer: String,
    /// A marker from an earlier run that did not finish was found (and is now resolved).
    pub resumed: bool,
    pub elapsed: Duration,
}

#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    dt: NaiveDate,
    summarizer: String,
    started_at: DateTime<Utc>,
}

/// Stops a reprocess between batches of summaries; the marker stays, and running the same
/// reprocess again completes it.
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

fn stopped(dt: NaiveDate) -> anyhow::Error {
    anyhow::anyhow!(
        "reprocess of dt={dt} stopped before it finished; run `precis reprocess --dt {dt}` to complete it"
    )
}

/// Articles summarized between two looks at the cancel flag.
const SUMMARY_BATCH: usize = 64;

/// Rewrites `curated/summaries/dt=<dt>/` from `raw/articles/dt=<dt>/`.
pub async fn reprocess_day(
    clients: &AwsClients,
    bucket: &str,
    dt: NaiveDate,
    summarizer: Option<Arc<SummarizerPool>>,
    progress: &(dyn Fn(ReprocessProgress) + Send + Sync),
    cancel: &Cancel,
) -> Result<ReprocessReport> {
    let started = Instant::now();
    let summarizer_id = summarizer.as_ref().map_or(
        crate::pipeline::sink::parquet::NO_SUMMARIZER.to_string(),
        |p| p.id().to_string(),
    );
    if raw_keys(clients, bucket, dt).await?.is_empty() {
        bail!(
            "no raw objects for dt={dt} in s3://{bucket}/{}: nothing to reprocess (`precis partitions --prefix raw/` lists the days written)",
            raw_partition(dt)
        );
    }

    let marker_key = reprocess_marker_key(dt);
    let resumed = head_time(clients, bucket, &marker_key).await?.is_some();
    let marker = serde_json::to_vec_pretty(&Marker {
        dt,
        summarizer: summarizer_id.clone(),
        started_at: Utc::now(),
    })?;
    put(
        clients,
        bucket,
        &marker_key,
        &Encoded::Memory(marker.into()),
        "application/json",
    )
    .await?;
    let start = head_time(clients, bucket, &marker_key)
        .await?
        .context("the reprocess marker vanished right after it was written")?;
    // Listed after the marker: a chunk the live pipeline writes from here on is either in this
    // list (and rewritten here) or entirely newer than the marker (and left alone).
    let raw = raw_keys(clients, bucket, dt).await?;
    progress(ReprocessProgress::Started {
        dt,
        raw_files: raw.len(),
    });

    let mut report = ReprocessReport {
        dt,
        raw_files: raw.len(),
        rows_read: 0,
        rows_written: 0,
        duplicates_skipped: 0,
        objects_written: 0,
        stale_removed: 0,
        summarizer: summarizer_id,
        resumed,
        elapsed: Duration::ZERO,
    };
    let mut seen_ids: HashSet<String> = HashSet::new();
    let mut written: HashSet<String> = HashSet::new();
    for (done, key) in raw.iter().enumerate() {
        if cancel.is_cancelled() {
            return Err(stopped(dt));
        }
        let body = fetch_object(clients, bucket, key).await?;
        let (key_owned, pool, cancel_flag) = (key.clone(), summarizer.clone(), cancel.clone());
        let (stream, mut rows) = tokio::task::spawn_blocking(move || read_raw(&key_owned, body))
            .await
            .context("reading a raw file panicked")??;
        report.rows_read += rows.len() as u64;
        let before = rows.len();
        rows.retain(|r| seen_ids.insert(r.article.article_id.clone()));
        report.duplicates_skipped += (before - rows.len()) as u64;
        let stem = stem_of(key).to_string();
        let objects = tokio::task::spawn_blocking(move || {
            build_curated(dt, &stem, &stream, rows, pool.as_deref(), &cancel_flag)
        })
        .await
        .context("rebuilding curated files panicked")??;
        for (object_key, body, rows) in objects {
            put(
                clients,
                bucket,
                &object_key,
                &Encoded::Memory(body.into()),
                PARQUET,
            )
            .await?;
            report.rows_written += rows;
            report.objects_written += 1;
            written.insert(object_key);
        }
        progress(ReprocessProgress::FileDone {
            done: done + 1,
            total: raw.len(),
            rows: report.rows_written,
        });
    }

    // Only objects of the chunks rewritten here, not rewritten this time, and not newer than the
    // marker: rows that moved to another chunk's file. Anything else belongs to the live pipeline.
    let stems: HashSet<&str> = raw.iter().map(|k| stem_of(k)).collect();
    let stale: Vec<String> = list_objects(clients, bucket, &curated_partition(dt))
        .await?
        .into_iter()
        .filter(|o| {
            stems.contains(stem_of(&o.key))
                && !written.contains(&o.key)
                && o.last_modified.is_some_and(|t| t <= start)
        })
        .map(|o| o.key)
        .collect();
    progress(ReprocessProgress::RemovingStale {
        objects: stale.len(),
    });
    for key in &stale {
        clients
            .s3
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|err| clients.explain(&format!("removing s3://{bucket}/{key}"), &err))?;
    }
    report.stale_removed = stale.len();
    clients
        .s3
        .delete_object()
        .bucket(bucket)
        .key(&marker_key)
        .send()
        .await
        .map_err(|err| clients.explain(&format!("removing s3://{bucket}/{marker_key}"), &err))?;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Days whose reprocess was started and did not finish.
pub async fn interrupted(clients: &AwsClients, bucket: &str) -> Result<Vec<NaiveDate>> {
    let prefix = format!("{}reprocess/", crate::pipeline::sink::layout::STATE_PREFIX);
    Ok(list_objects(clients, bucket, &prefix)
        .await?
        .iter()
        .filter_map(|o| {
            let day = o.key.strip_prefix(&prefix)?.strip_prefix("dt=")?;
            NaiveDate::parse_from_str(day.strip_suffix(".json")?, "%Y-%m-%d").ok()
        })
        .collect())
}

/// The day's raw Parquet objects, in key order.
async fn raw_keys(clients: &AwsClients, bucket: &str, dt: NaiveDate) -> Result<Vec<String>> {
    let mut keys: Vec<String> = list_objects(clients, bucket, &raw_partition(dt))
        .await?
        .into_iter()
        .map(|o| o.key)
        .filter(|k| k.ends_with(".parquet"))
        .collect();
    keys.sort();
    Ok(keys)
}

/// S3's LastModified of `key` (its clock, not ours); None when the object does not exist.
async fn head_time(clients: &AwsClients, bucket: &str, key: &str) -> Result<Option<DateTime<Utc>>> {
    match clients
        .s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
    {
        Ok(head) => Ok(head
            .last_modified()
            .and_then(|t| DateTime::from_timestamp_millis(t.to_millis().ok()?))
            // A store that omits LastModified: our clock is the only one left.
            .or(Some(Utc::now()))),
        Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
        Err(err) => Err(clients.explain(&format!("checking s3://{bucket}/{key}"), &err)),
    }
}

/// Summaries for the rows, then one curated object per split, under the chunk's own stem.
/// Returns (key, body, rows) per object.
fn build_curated(
    dt: NaiveDate,
    stem: &str,
    stream: &str,
    mut rows: Vec<ArticleRow>,
    pool: Option<&SummarizerPool>,
    cancel: &Cancel,
) -> Result<Vec<(String, Vec<u8>, u64)>> {
    if let Some(pool) = pool {
        for batch in rows.chunks_mut(SUMMARY_BATCH) {
            if cancel.is_cancelled() {
                return Err(stopped(dt));
            }
            let docs: Vec<Document<'_>> = batch.iter().map(ArticleRow::document).collect();
            let summaries = pool.summarize_blocking(&docs)?;
            for (row, summary) in batch.iter_mut().zip(summaries) {
                row.summary = Some(summary);
            }
        }
    }
    let mut by_split: BTreeMap<Split, Vec<&ArticleRow>> = BTreeMap::new();
    for row in &rows {
        by_split.entry(row.features.split).or_default().push(row);
    }
    let ctx = FileContext {
        stream,
        processed_at: Utc::now(),
    };
    by_split
        .into_iter()
        .map(|(split, rows)| {
            let body = encode_rows(&rows, curated_schema(), |slice| curated_batch(slice, &ctx))?;
            Ok((
                curated_key_for_stem(dt, split, stem),
                body,
                rows.len() as u64,
            ))
        })
        .collect()
}

/// A raw object's rows, as the pipeline had them before summarizing: the article as received,
/// its lineage, and features recomputed from the content (they are a pure function of it).
/// Returns the stream name with the rows.
pub fn read_raw(key: &str, body: Bytes) -> Result<(String, Vec<ArticleRow>)> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(body)
        .with_context(|| format!("reading {key} as Parquet"))?
        .build()
        .with_context(|| format!("reading {key} as Parquet"))?;
    let mut stream = String::new();
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.with_context(|| format!("reading rows of {key}"))?;
        let columns = RawColumns::of(&batch).with_context(|| format!("{key} is not a raw file"))?;
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
    publish_date: &'a arrow_array::TimestampMillisecondArray,
    content: &'a arrow_array::StringArray,
    publish_date_raw: &'a arrow_array::StringArray,
    extra_json: &'a arrow_array::StringArray,
    stream: &'a arrow_array::StringArray,
    shard_id: &'a arrow_array::StringArray,
    sequence_number: &'a arrow_array::StringArray,
    partition_key: &'a arrow_array::StringArray,
    arrival_time: &'a arrow_array::TimestampMillisecondArray,
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
        let time = |name: &str| -> Result<&'a arrow_array::TimestampMillisecondArray> {
            batch
                .column_by_name(name)
                .with_context(|| format!("no column {name}"))?
                .as_primitive_opt::<TimestampMillisecondType>()
                .with_context(|| format!("column {name} is not a millisecond timestamp"))
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
                    .then(|| DateTime::from_timestamp_millis(self.publish_date.value(i)))
                    .flatten()
                    .map(|d| d.naive_utc()),
                publish_date_raw: opt(self.publish_date_raw),
                content,
                extra_json: opt(self.extra_json),
            },
            shard_id: self.shard_id.value(i).to_string(),
            sequence_number: self.sequence_number.value(i).to_string(),
            partition_key: self.partition_key.value(i).to_string(),
            arrival_time: DateTime::from_timestamp_millis(self.arrival_time.value(i))
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
    fn a_raw_file_reads_back_into_the_rows_that_were_written() {
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
    fn a_curated_file_is_not_mistaken_for_raw() {
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
        assert!(err.contains("c.parquet is not a raw file"), "{err}");
    }

    #[test]
    fn curated_objects_keep_the_chunk_stem_and_split_by_content() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let objects =
            build_curated(day, "S-shard-1-2", "S", rows(), None, &Cancel::default()).unwrap();
        let total: u64 = objects.iter().map(|(_, _, n)| n).sum();
        assert_eq!(total, 2);
        for (key, _, _) in &objects {
            assert!(
                key.starts_with("curated/summaries/dt=2026-03-01/split="),
                "{key}"
            );
            assert!(key.ends_with("/S-shard-1-2.parquet"), "{key}");
        }
    }
}
