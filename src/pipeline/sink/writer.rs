//! Writing one chunk: records → outcomes (page by page, as they are read) → objects per
//! partition → S3.
//!
//! CPU work (parsing, features, summaries, Parquet encoding) runs on the blocking pool, never on
//! the async reactor, spread over the cores. Objects of a chunk are uploaded concurrently; the
//! caller advances the checkpoint only after every one of them is in S3.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use chrono::{NaiveDate, Utc};
use tokio::task::JoinSet;

use super::dedup::{Claim, DedupIndex};
use super::layout::{curated_key, quarantine_key, raw_key, ChunkId};
use super::parquet::{
    curated_batch, curated_schema, encode_rows, raw_batch, raw_schema, FileContext,
};
use crate::aws::AwsClients;
use crate::pipeline::features::{Features, Split};
use crate::pipeline::parallel::map_in_order;
use crate::pipeline::record::{Limits, Rejection};
use crate::pipeline::rows::{process, quarantine, ArticleRow, Outcome, QuarantineRow, RawRecord};
use crate::pipeline::stats::{Sample, Stats};
use crate::summarize::pool::SummarizerPool;
use crate::summarize::Document;

/// Objects at or above this size go up as multipart uploads.
pub const MULTIPART_THRESHOLD: usize = 16 * 1024 * 1024;
const PART_SIZE: usize = 8 * 1024 * 1024;
/// Uploads of one chunk in flight at once: enough to hide S3 latency, few enough not to burst.
const MAX_CONCURRENT_UPLOADS: usize = 16;

/// Counts of one written chunk.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ChunkWritten {
    pub records: u64,
    pub articles: u64,
    pub exact_duplicates: u64,
    pub quarantined: u64,
    pub files: u64,
    pub bytes: u64,
}

/// Key, body and content type of one object to upload. The body is shared so that a retried
/// upload costs no copy.
type Object = (String, Bytes, &'static str);
const PARQUET: &str = "application/vnd.apache.parquet";

/// A chunk's objects, encoded and ready to upload, with what the stats need once they are up.
pub struct BuiltChunk {
    objects: Vec<Object>,
    features: Vec<Features>,
    samples: Vec<Sample>,
    counts: ChunkWritten,
}

/// Below this many records a thread, parsing a chunk is not worth another thread.
const PROCESS_PER_THREAD: usize = 64;

/// Curated articles of each chunk offered to the console's samples view.
const SAMPLES_PER_CHUNK: usize = 4;

#[derive(Clone)]
pub struct ChunkWriter {
    pub clients: AwsClients,
    pub bucket: String,
    pub stream: String,
    pub limits: Limits,
    pub stats: Arc<Stats>,
    pub dedup: Arc<Mutex<DedupIndex>>,
    /// None: summaries turned off.
    pub summarizer: Option<Arc<SummarizerPool>>,
}

impl ChunkWriter {
    /// Parses, validates and measures a page of records into `parts` (claiming article ids in
    /// the duplicate index). The payloads are let go here, page by page: a chunk waiting for its
    /// flush is held as rows, not also as records.
    pub async fn add(&self, mut parts: ChunkParts, records: Vec<RawRecord>) -> Result<ChunkParts> {
        let (limits, dedup) = (self.limits, self.dedup.clone());
        // CPU work: off the reactor.
        tokio::task::spawn_blocking(move || {
            parts.add(records, &limits, &dedup)?;
            Ok(parts)
        })
        .await
        .context("parsing records panicked")?
    }

    /// Summarizes and encodes a chunk's rows into its objects, in memory.
    pub async fn build(&self, chunk: &ChunkId, parts: ChunkParts) -> Result<BuiltChunk> {
        let (stream, id, summarizer) =
            (self.stream.clone(), chunk.clone(), self.summarizer.clone());
        // Summarizing and encoding are CPU work: off the reactor. Waiting here on a busy
        // summarizer pool is the backpressure that slows this shard's reader.
        tokio::task::spawn_blocking(move || build(&stream, &id, parts, summarizer.as_deref()))
            .await
            .context("building a chunk's files panicked")?
    }

    /// Puts every object of a built chunk; it can be called again after a failure (objects
    /// already there are overwritten with the same bytes).
    pub async fn upload(&self, built: &BuiltChunk) -> Result<()> {
        let mut uploads = JoinSet::new();
        for (key, body, content_type) in &built.objects {
            if uploads.len() >= MAX_CONCURRENT_UPLOADS {
                if let Some(done) = uploads.join_next().await {
                    done.context("an upload task panicked")??;
                }
            }
            let (clients, bucket) = (self.clients.clone(), self.bucket.clone());
            let (key, body, content_type) = (key.clone(), body.clone(), *content_type);
            uploads.spawn(async move { put(&clients, &bucket, &key, body, content_type).await });
        }
        while let Some(done) = uploads.join_next().await {
            done.context("an upload task panicked")??;
        }
        Ok(())
    }

    /// Counts an uploaded chunk in the stats (and offers its samples to the console).
    pub fn uploaded(&self, built: BuiltChunk) -> ChunkWritten {
        self.stats.chunk_written(&built.counts);
        self.stats.features_written(built.features.iter());
        self.stats.add_samples(built.samples);
        built.counts
    }
}

/// A chunk being assembled: what its records became so far, by partition.
#[derive(Debug, Default)]
pub struct ChunkParts {
    raw: BTreeMap<NaiveDate, Vec<ArticleRow>>,
    /// Positions in `raw` of the rows that go to curated (first sightings).
    curated: BTreeMap<(NaiveDate, Split), Vec<usize>>,
    quarantined: BTreeMap<NaiveDate, Vec<QuarantineRow>>,
    counts: ChunkWritten,
    /// Sequence numbers of the chunk's first and last records.
    first_sequence: Option<String>,
    last_sequence: Option<String>,
}

impl ChunkParts {
    pub fn records(&self) -> usize {
        self.counts.records as usize
    }

    /// The chunk's first and last sequence numbers; None while it holds no record.
    pub fn range(&self) -> Option<(&str, &str)> {
        Some((
            self.first_sequence.as_deref()?,
            self.last_sequence.as_deref()?,
        ))
    }

    fn add(
        &mut self,
        records: Vec<RawRecord>,
        limits: &Limits,
        dedup: &Mutex<DedupIndex>,
    ) -> Result<()> {
        let (Some(first), Some(last)) = (records.first(), records.last()) else {
            return Ok(());
        };
        if self.first_sequence.is_none() {
            self.first_sequence = Some(first.sequence_number.clone());
        }
        self.last_sequence = Some(last.sequence_number.clone());
        self.counts.records += records.len() as u64;
        let outcomes = map_in_order(&records, PROCESS_PER_THREAD, |record| {
            process(record, limits)
        });
        let mut index = dedup
            .lock()
            .map_err(|_| anyhow::anyhow!("dedup index poisoned"))?;
        for (record, outcome) in records.iter().zip(outcomes) {
            match outcome {
                Outcome::Article(row) => match index.claim(
                    &row.article.article_id,
                    &row.features.content_sha256,
                    &row.sequence_number,
                ) {
                    Claim::First => {
                        let rows = self.raw.entry(row.dt()).or_default();
                        self.curated
                            .entry((row.dt(), row.features.split))
                            .or_default()
                            .push(rows.len());
                        rows.push(*row);
                        self.counts.articles += 1;
                    }
                    Claim::ExactDuplicate => {
                        self.raw.entry(row.dt()).or_default().push(*row);
                        self.counts.exact_duplicates += 1;
                    }
                    Claim::Conflict {
                        first_sequence_number,
                    } => {
                        let q = quarantine(
                            record,
                            &Rejection::ConflictingDuplicate {
                                first_sequence_number,
                            },
                        );
                        self.quarantined.entry(q.dt()).or_default().push(q);
                        self.counts.quarantined += 1;
                    }
                },
                Outcome::Quarantined(q) => {
                    self.quarantined.entry(q.dt()).or_default().push(*q);
                    self.counts.quarantined += 1;
                }
            }
        }
        Ok(())
    }
}

fn build(
    stream: &str,
    chunk: &ChunkId,
    parts: ChunkParts,
    summarizer: Option<&SummarizerPool>,
) -> Result<BuiltChunk> {
    let ChunkParts {
        mut raw,
        curated,
        quarantined,
        mut counts,
        ..
    } = parts;
    if let Some(pool) = summarizer {
        summarize(pool, &mut raw, &curated)?;
    }

    let ctx = FileContext {
        stream,
        processed_at: Utc::now(),
    };
    let mut features = Vec::new();
    let mut samples = Vec::new();
    let mut files = Vec::new();
    for ((dt, split), positions) in &curated {
        let rows: Vec<&ArticleRow> = positions.iter().map(|&i| &raw[dt][i]).collect();
        // Only the last few rows are copied: samples must not cost the data path.
        let newest = rows.len().saturating_sub(SAMPLES_PER_CHUNK);
        samples.extend(rows[newest..].iter().map(|row| sample(row, *dt)));
        if samples.len() > SAMPLES_PER_CHUNK {
            samples.drain(..samples.len() - SAMPLES_PER_CHUNK);
        }
        features.extend(rows.iter().map(|r| r.features.clone()));
        files.push(ObjectPlan::Curated(*dt, *split, rows));
    }
    files.extend(
        raw.iter()
            .map(|(dt, rows)| ObjectPlan::Raw(*dt, rows.iter().collect())),
    );
    files.extend(
        quarantined
            .iter()
            .map(|(dt, rows)| ObjectPlan::Quarantine(*dt, rows)),
    );
    let objects = map_in_order(&files, 1, |file| file.object(chunk, &ctx))
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    counts.files = objects.len() as u64;
    counts.bytes = objects.iter().map(|(_, b, _)| b.len() as u64).sum();
    Ok(BuiltChunk {
        objects,
        features,
        samples,
        counts,
    })
}

/// One object of a chunk, before encoding.
enum ObjectPlan<'a> {
    Curated(NaiveDate, Split, Vec<&'a ArticleRow>),
    Raw(NaiveDate, Vec<&'a ArticleRow>),
    Quarantine(NaiveDate, &'a [QuarantineRow]),
}

impl ObjectPlan<'_> {
    fn object(&self, chunk: &ChunkId, ctx: &FileContext<'_>) -> Result<Object> {
        Ok(match self {
            ObjectPlan::Curated(dt, split, rows) => (
                curated_key(*dt, *split, chunk),
                body(encode_rows(rows, curated_schema(), |slice| {
                    curated_batch(slice, ctx)
                })?),
                PARQUET,
            ),
            ObjectPlan::Raw(dt, rows) => (
                raw_key(*dt, chunk),
                body(encode_rows(rows, raw_schema(), |slice| {
                    raw_batch(slice, ctx)
                })?),
                PARQUET,
            ),
            ObjectPlan::Quarantine(dt, rows) => {
                let mut lines = Vec::new();
                for row in *rows {
                    serde_json::to_writer(&mut lines, row)?;
                    lines.push(b'\n');
                }
                (
                    quarantine_key(*dt, chunk),
                    body(lines),
                    "application/x-ndjson",
                )
            }
        })
    }
}

/// An encoded object as it waits for its upload, without the spare capacity its buffer grew: a
/// chunk spread over a year of publish dates is ~950 files of ~10 KB, each in a buffer that
/// starts at 64 KiB (4 shards held ~240 MB of spare capacity until their uploads ended).
fn body(mut encoded: Vec<u8>) -> Bytes {
    encoded.shrink_to_fit();
    encoded.into()
}

/// The console shows an article's text; beyond this it is cut (at a character boundary).
const SAMPLE_CONTENT_BYTES: usize = 64 * 1024;

fn clip(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_string();
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn sample(row: &ArticleRow, dt: NaiveDate) -> Sample {
    Sample {
        article_id: row.article.article_id.clone(),
        title: row.article.title.clone(),
        content: clip(&row.article.content, SAMPLE_CONTENT_BYTES),
        summary: row.summary.as_ref().map(|s| s.text.clone()),
        summarizer: row.summary.as_ref().map_or_else(
            || super::parquet::NO_SUMMARIZER.to_string(),
            |s| s.summarizer.to_string(),
        ),
        features: row.features.clone(),
        shard_id: row.shard_id.clone(),
        sequence_number: row.sequence_number.clone(),
        dt,
    }
}

/// Gives every curated row its summary. Only first sightings are curated, so an exact duplicate
/// costs no model time.
fn summarize(
    pool: &SummarizerPool,
    raw: &mut BTreeMap<NaiveDate, Vec<ArticleRow>>,
    curated: &BTreeMap<(NaiveDate, Split), Vec<usize>>,
) -> Result<()> {
    let targets: Vec<(NaiveDate, usize)> = curated
        .iter()
        .flat_map(|((dt, _), positions)| positions.iter().map(move |&i| (*dt, i)))
        .collect();
    let summaries = {
        let docs: Vec<Document<'_>> = targets
            .iter()
            .map(|(dt, i)| {
                let article = &raw[dt][*i].article;
                Document {
                    title: article.title.as_deref(),
                    content: &article.content,
                }
            })
            .collect();
        pool.summarize_blocking(&docs)?
    };
    for ((dt, i), summary) in targets.into_iter().zip(summaries) {
        if let Some(row) = raw.get_mut(&dt).and_then(|rows| rows.get_mut(i)) {
            row.summary = Some(summary);
        }
    }
    Ok(())
}

/// One object into S3: a single PUT, or a multipart upload above [`MULTIPART_THRESHOLD`].
pub async fn put(
    clients: &AwsClients,
    bucket: &str,
    key: &str,
    body: Bytes,
    content_type: &str,
) -> Result<()> {
    if body.len() >= MULTIPART_THRESHOLD {
        return put_multipart(clients, bucket, key, body, content_type).await;
    }
    clients
        .s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|err| clients.explain(&format!("uploading s3://{bucket}/{key}"), &err))?;
    Ok(())
}

async fn put_multipart(
    clients: &AwsClients,
    bucket: &str,
    key: &str,
    body: Bytes,
    content_type: &str,
) -> Result<()> {
    let what = format!("uploading s3://{bucket}/{key}");
    let created = clients
        .s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .send()
        .await
        .map_err(|err| clients.explain(&what, &err))?;
    let upload_id = created
        .upload_id()
        .context("S3 started a multipart upload without an upload id")?
        .to_string();
    let result = async {
        let mut parts = Vec::new();
        for (i, start) in (0..body.len()).step_by(PART_SIZE).enumerate() {
            let number = i as i32 + 1;
            let part = body.slice(start..body.len().min(start + PART_SIZE));
            let uploaded = clients
                .s3
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload_id)
                .part_number(number)
                .body(ByteStream::from(part))
                .send()
                .await
                .map_err(|err| clients.explain(&what, &err))?;
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(uploaded.e_tag().map(str::to_string))
                    .build(),
            );
        }
        clients
            .s3
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(&upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|err| clients.explain(&what, &err))?;
        anyhow::Ok(())
    }
    .await;
    if result.is_err() {
        // Leave no half upload behind to be billed; the chunk is retried as a whole.
        let _ = clients
            .s3
            .abort_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(&upload_id)
            .send()
            .await;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn record(sequence: u64, json: &str) -> RawRecord {
        RawRecord {
            shard_id: "shardId-000000000000".into(),
            sequence_number: sequence.to_string(),
            partition_key: "pk".into(),
            arrival_time: Utc.with_ymd_and_hms(2026, 11, 20, 8, 0, 0).unwrap(),
            data: json.as_bytes().to_vec(),
        }
    }

    fn article(id: &str, day: u32, content: &str) -> String {
        format!(
            r#"{{"article_id":"{id}","publish_date":"2026-03-{day:02}T10:00:00","content":"{content}"}}"#
        )
    }

    /// Articles on two days, an exact repeat and a conflicting one in later pages, a bad record.
    fn records() -> Vec<RawRecord> {
        [
            article("a", 1, "Alpha one. Alpha two."),
            article("b", 1, "Bravo one."),
            article("c", 2, "Charlie one."),
            "{not json".to_string(),
            article("d", 2, "Delta one."),
            article("a", 1, "Alpha one. Alpha two."),
            article("e", 1, "Echo one."),
            article("b", 1, "Bravo changed."),
            article("f", 2, "Foxtrot one."),
        ]
        .iter()
        .enumerate()
        .map(|(i, json)| record(i as u64 + 1, json))
        .collect()
    }

    fn objects_and_counts(parts: ChunkParts) -> (Vec<String>, ChunkWritten) {
        let chunk = ChunkId {
            stream: "S".into(),
            shard_id: "shardId-000000000000".into(),
            first_sequence: "1".into(),
            last_sequence: "9".into(),
        };
        let built = build("S", &chunk, parts, None).unwrap();
        let keys = built.objects.iter().map(|(k, _, _)| k.clone()).collect();
        (keys, built.counts)
    }

    /// The records parsed in pages of the given sizes.
    fn parsed_in_pages(sizes: &[usize], dedup: &Mutex<DedupIndex>) -> ChunkParts {
        let mut all = records().into_iter();
        let mut parts = ChunkParts::default();
        for &size in sizes {
            let page: Vec<RawRecord> = all.by_ref().take(size).collect();
            parts.add(page, &Limits::default(), dedup).unwrap();
        }
        assert!(all.next().is_none(), "every record in a page");
        parts
    }

    #[test]
    fn a_chunk_parsed_page_by_page_makes_the_objects_of_the_chunk_parsed_whole() {
        let whole = parsed_in_pages(&[9], &Mutex::new(DedupIndex::default()));
        let paged = parsed_in_pages(&[3, 4, 2], &Mutex::new(DedupIndex::default()));
        assert_eq!(whole.range(), Some(("1", "9")));
        assert_eq!(paged.range(), Some(("1", "9")));
        let (keys, counts) = objects_and_counts(whole);
        assert_eq!(objects_and_counts(paged), (keys.clone(), counts.clone()));
        assert_eq!(
            (
                counts.records,
                counts.articles,
                counts.exact_duplicates,
                counts.quarantined
            ),
            (9, 6, 1, 2)
        );
        assert!(keys.iter().any(|k| k.contains("quarantine/")), "{keys:?}");
    }

    #[test]
    fn a_replay_in_the_same_process_makes_the_same_objects_as_the_first_attempt() {
        let dedup = Mutex::new(DedupIndex::default());
        let first = objects_and_counts(parsed_in_pages(&[4, 5], &dedup));
        let replay = objects_and_counts(parsed_in_pages(&[9], &dedup));
        assert_eq!(replay, first);
    }
}
