//! Writing one chunk: records → rows (page by page, as they are read) → objects per partition →
//! S3. A partition's rows are either encoded as they are read (a live encoder, `live.rs`, while
//! one is free) or spilled to disk and encoded at the cut, one object at a time.
//!
//! CPU work (parsing, features, summaries, Parquet encoding) runs on the blocking pool, never on
//! the async reactor, spread over the cores. A chunk waits for its cut on disk, not in memory
//! (`spill.rs`): what a chunk costs in memory is a page of records, a batch of rows and a row
//! group per encoder (live ones bounded over all shards), however full it is. Objects are
//! encoded and uploaded as a pipeline; the caller advances the checkpoint only after every one
//! of them is in S3.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{bail, Context, Result};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::dedup::{Claim, DedupIndex};
use super::layout::{curated_key, quarantine_key, raw_key, ChunkId};
use super::live::{LiveEncoders, LiveEncoding, LiveObject, LIVE_PER_CHUNK};
use super::parquet::{
    curated_batch, curated_schema, raw_batch, raw_schema, FileContext, RowEncoder,
    ENCODE_BATCH_ROWS,
};
use super::spill::{Encoded, ObjectBuffer, Span, Spill, SpillFile};
use crate::aws::AwsClients;
use crate::pipeline::features::{FeatureAverages, Split};
use crate::pipeline::parallel::map_in_order;
use crate::pipeline::record::{Limits, Rejection};
use crate::pipeline::rows::{process, quarantine, ArticleRow, Outcome, QuarantineRow, RawRecord};
use crate::pipeline::stats::{Sample, Stats};
use crate::summarize::pool::SummarizerPool;
use crate::summarize::Document;

/// Objects at or above this size go up as multipart uploads.
pub const MULTIPART_THRESHOLD: u64 = 16 * 1024 * 1024;
const PART_SIZE: u64 = 8 * 1024 * 1024;
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

const PARQUET: &str = "application/vnd.apache.parquet";
const NDJSON: &str = "application/x-ndjson";

/// Below this many records a thread, parsing a chunk is not worth another thread.
const PROCESS_PER_THREAD: usize = 64;

/// Curated articles handed to the summarizer pool at once: enough to keep every worker busy.
const SUMMARY_BATCH: usize = 256;

/// Curated articles of each chunk offered to the console's samples view.
pub(super) const SAMPLES_PER_CHUNK: usize = 4;

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
    /// Objects being encoded at their cut at once, over every shard
    /// ([`ChunkWriter::encoders`]): each holds a batch of rows and a row group in memory.
    pub encoders: Arc<Semaphore>,
    /// Objects being encoded while their chunk is read, over every shard (each also holds a
    /// row group): apart from `encoders`, since they are held from a partition's first row to
    /// the cut.
    pub live_encoders: LiveEncoders,
}

impl ChunkWriter {
    /// One encoder a core for encoding at the cut: encoding is CPU work, more would only hold
    /// more row groups.
    pub fn encoders() -> Arc<Semaphore> {
        Arc::new(Semaphore::new(crate::pipeline::parallel::threads()))
    }

    /// Parses, validates and measures a page of records into `parts` (claiming article ids in
    /// the duplicate index). The payloads are let go here, page by page: the rows of partitions
    /// with a live encoder are encoded, the others go to the chunk's spill file, so a chunk
    /// waiting for its flush is held on disk.
    pub async fn add(&self, mut parts: ChunkParts, records: Vec<RawRecord>) -> Result<ChunkParts> {
        let (limits, dedup) = (self.limits, self.dedup.clone());
        let live = LiveEncoding::new(&self.live_encoders, &self.stream, self.summarizer.is_some());
        // CPU work: off the reactor.
        tokio::task::spawn_blocking(move || {
            parts.add(records, &limits, &dedup, &live)?;
            Ok(parts)
        })
        .await
        .context("parsing records panicked")?
    }

    /// Ends a chunk's reading: what it holds becomes the list of its objects (those encoded
    /// while read are finished, the others wait for their encoding), and its curated articles
    /// get their summaries. Waiting here on a busy summarizer pool is
    /// the backpressure that slows this shard's reader.
    pub async fn prepare(&self, chunk: &ChunkId, parts: ChunkParts) -> Result<Arc<ChunkPlan>> {
        let (chunk, summarizer) = (chunk.clone(), self.summarizer.clone());
        tokio::task::spawn_blocking(move || {
            let mut plan = parts.into_plan(chunk)?;
            if let Some(pool) = summarizer {
                plan.summarize(&pool)?;
            }
            Ok(Arc::new(plan))
        })
        .await
        .context("preparing a chunk panicked")?
    }

    /// Encodes and uploads every object of the chunk not yet uploaded: it can be called again
    /// after a failure, and then only redoes what failed. At most one object is being encoded
    /// per core (over all shards; objects encoded while read need none), and at most
    /// [`MAX_CONCURRENT_UPLOADS`] are encoded and waiting or uploading.
    /// After a failure no new object starts, but those under way finish (an upload cut short
    /// would leave a multipart upload open, an encode cut short would still hold its core).
    pub async fn write(&self, plan: &Arc<ChunkPlan>) -> Result<()> {
        let mut tasks = JoinSet::new();
        let mut failure: Option<anyhow::Error> = None;
        for index in 0..plan.objects.len() {
            if plan.written[index].get().is_some() {
                continue;
            }
            if tasks.len() >= MAX_CONCURRENT_UPLOADS {
                if let Some(Err(err)) = tasks.join_next().await.map(task_result) {
                    failure.get_or_insert(err);
                }
            }
            if failure.is_some() {
                break;
            }
            // Taken before the task starts: objects are encoded in their order. An object
            // encoded while its chunk was read needs none.
            let permit = if plan.is_encoded(index) {
                None
            } else {
                Some(self.encoders.clone().acquire_owned().await?)
            };
            let (plan, writer) = (plan.clone(), self.clone());
            tasks.spawn(async move {
                let (encoding, stream) = (plan.clone(), writer.stream.clone());
                let (key, encoded, content_type, written) =
                    tokio::task::spawn_blocking(move || encoding.encode(index, &stream))
                        .await
                        .context("encoding an object panicked")??;
                drop(permit);
                put(
                    &writer.clients,
                    &writer.bucket,
                    &key,
                    &encoded,
                    content_type,
                )
                .await?;
                // Set once: only objects not written are encoded.
                let _ = plan.written[index].set(written);
                anyhow::Ok(())
            });
        }
        while let Some(done) = tasks.join_next().await {
            if let Err(err) = task_result(done) {
                failure.get_or_insert(err);
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// Counts a written chunk in the stats (and offers its samples to the console).
    pub fn written(&self, plan: &ChunkPlan) -> ChunkWritten {
        let mut counts = plan.counts.clone();
        let mut averages = FeatureAverages::default();
        let mut samples = Vec::new();
        for written in plan.written.iter().filter_map(OnceLock::get) {
            counts.files += 1;
            counts.bytes += written.bytes;
            averages.merge(&written.averages);
            samples.extend(written.samples.iter().cloned());
        }
        samples.drain(..samples.len().saturating_sub(SAMPLES_PER_CHUNK));
        self.stats.chunk_written(&counts);
        self.stats.averages_written(&averages);
        self.stats.add_samples(samples);
        counts
    }
}

/// A chunk being assembled: where its rows went, by partition.
#[derive(Default)]
pub struct ChunkParts {
    /// Created with the first row to spill or quarantined record.
    spill: Option<Spill>,
    raw: BTreeMap<NaiveDate, PartitionRows>,
    /// The rows that go to curated (first sightings); a row spilled for both layers once.
    curated: BTreeMap<(NaiveDate, Split), PartitionRows>,
    /// Quarantine lines (JSON), spilled.
    quarantined: BTreeMap<NaiveDate, Vec<Span>>,
    counts: ChunkWritten,
    /// Sequence numbers of the chunk's first and last records.
    first_sequence: Option<String>,
    last_sequence: Option<String>,
    /// When the first record was added: every object of the chunk says it (live encoders from
    /// their start), so that an object encoded again is the same bytes.
    processed_at: Option<DateTime<Utc>>,
    /// Partitions with a live encoder, at most [`LIVE_PER_CHUNK`].
    live_objects: usize,
}

/// A partition's rows while its chunk is read.
enum PartitionRows {
    /// In the spill, encoded at the cut.
    Spilled(Vec<Span>),
    /// Encoded as they come.
    Live(Box<LiveObject>),
}

impl PartitionRows {
    fn new(live: Option<LiveObject>) -> Self {
        live.map_or(Self::Spilled(Vec::new()), |object| {
            Self::Live(Box::new(object))
        })
    }

    fn is_live(&self) -> bool {
        matches!(self, Self::Live(_))
    }

    /// Ends the partition's reading: live objects are finished.
    fn into_rows(self) -> Result<ObjectRows> {
        Ok(match self {
            Self::Spilled(spans) => ObjectRows::Spilled(spans),
            Self::Live(object) => {
                let rows = object.rows();
                let (encoded, written) = object.finish()?;
                ObjectRows::Encoded {
                    encoded: Arc::new(encoded),
                    written,
                    rows,
                }
            }
        })
    }
}

/// Rows of the page being added that go to a live object, by partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum LiveTarget {
    Raw(NaiveDate),
    Curated(NaiveDate, Split),
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

    fn spill(&mut self) -> Result<&mut Spill> {
        if self.spill.is_none() {
            self.spill = Some(Spill::new()?);
        }
        Ok(self.spill.as_mut().expect("created above"))
    }

    fn quarantine(&mut self, row: &QuarantineRow) -> Result<()> {
        let mut line = serde_json::to_vec(row)?;
        line.push(b'\n');
        let span = self.spill()?.push(&line)?;
        self.quarantined.entry(row.dt()).or_default().push(span);
        self.counts.quarantined += 1;
        Ok(())
    }

    fn add(
        &mut self,
        records: Vec<RawRecord>,
        limits: &Limits,
        dedup: &Mutex<DedupIndex>,
        live: &LiveEncoding,
    ) -> Result<()> {
        let (Some(first), Some(last)) = (records.first(), records.last()) else {
            return Ok(());
        };
        if self.first_sequence.is_none() {
            self.first_sequence = Some(first.sequence_number.clone());
        }
        let processed_at = *self.processed_at.get_or_insert_with(Utc::now);
        self.last_sequence = Some(last.sequence_number.clone());
        self.counts.records += records.len() as u64;
        let outcomes = map_in_order(&records, PROCESS_PER_THREAD, |record| {
            process(record, limits)
        });
        // Claims in the order read, under the lock; the spill writes after it, so that other
        // shards' pages are not kept waiting on this one's disk writes. (The index writes its
        // own file under the lock, ~0.4 MB once every 7,168 new ids: rare enough to wait on.)
        let placed: Vec<Placed> = {
            let mut index = dedup
                .lock()
                .map_err(|_| anyhow::anyhow!("dedup index poisoned"))?;
            outcomes
                .into_iter()
                .map(|outcome| {
                    let row = match outcome {
                        Outcome::Article(row) => row,
                        Outcome::Quarantined(q) => return Ok(Placed::Quarantined(q)),
                    };
                    let claim = index.claim(
                        &row.article.article_id,
                        &row.features.content_sha256,
                        &row.sequence_number,
                    )?;
                    Ok(match claim {
                        Claim::First => Placed::First(row),
                        Claim::ExactDuplicate => Placed::ExactDuplicate(row),
                        Claim::Conflict {
                            first_sequence_number,
                        } => Placed::Conflict(first_sequence_number),
                    })
                })
                .collect::<Result<_>>()?
        };
        let mut live_rows: BTreeMap<LiveTarget, Vec<&ArticleRow>> = BTreeMap::new();
        for (record, placed) in records.iter().zip(&placed) {
            let (row, curated) = match placed {
                Placed::First(row) => (row, true),
                Placed::ExactDuplicate(row) => (row, false),
                Placed::Conflict(first_sequence_number) => {
                    self.quarantine(&quarantine(
                        record,
                        &Rejection::ConflictingDuplicate {
                            first_sequence_number: first_sequence_number.clone(),
                        },
                    ))?;
                    continue;
                }
                Placed::Quarantined(q) => {
                    self.quarantine(q)?;
                    continue;
                }
            };
            let (dt, split) = (row.dt(), row.features.split);
            if curated {
                self.counts.articles += 1;
            } else {
                self.counts.exact_duplicates += 1;
            }
            let curated_target = curated.then_some(LiveTarget::Curated(dt, split));
            let mut span = None;
            for target in std::iter::once(LiveTarget::Raw(dt)).chain(curated_target) {
                if self.partition(target, live, processed_at)?.is_live() {
                    live_rows.entry(target).or_default().push(row);
                    continue;
                }
                // Spilled once for both layers.
                let span = match span {
                    Some(span) => span,
                    None => *span.insert(self.spill()?.push_row(row)?),
                };
                if let PartitionRows::Spilled(spans) = self.partition(target, live, processed_at)? {
                    spans.push(span);
                }
            }
        }
        for (target, rows) in live_rows {
            if let PartitionRows::Live(object) = self.partition(target, live, processed_at)? {
                object.write(&rows)?;
            }
        }
        Ok(())
    }

    /// The rows of a partition, started (live when an encoder is free) at its first row.
    fn partition(
        &mut self,
        target: LiveTarget,
        live: &LiveEncoding,
        processed_at: DateTime<Utc>,
    ) -> Result<&mut PartitionRows> {
        let room = self.live_objects < LIVE_PER_CHUNK;
        let rows = match target {
            LiveTarget::Raw(dt) => match self.raw.entry(dt) {
                Entry::Occupied(entry) => return Ok(entry.into_mut()),
                Entry::Vacant(entry) => {
                    let object = if room {
                        live.raw(dt, processed_at)?
                    } else {
                        None
                    };
                    entry.insert(PartitionRows::new(object))
                }
            },
            LiveTarget::Curated(dt, split) => match self.curated.entry((dt, split)) {
                Entry::Occupied(entry) => return Ok(entry.into_mut()),
                Entry::Vacant(entry) => {
                    let object = if room {
                        live.curated(dt, split, processed_at)?
                    } else {
                        None
                    };
                    entry.insert(PartitionRows::new(object))
                }
            },
        };
        self.live_objects += usize::from(rows.is_live());
        Ok(rows)
    }

    fn into_plan(self, chunk: ChunkId) -> Result<ChunkPlan> {
        let spill = self.spill.map(Spill::finish).transpose()?;
        let mut objects: Vec<ObjectPlan> = self
            .curated
            .into_iter()
            .map(|((dt, split), rows)| Ok(ObjectPlan::Curated(dt, split, rows.into_rows()?)))
            .collect::<Result<_>>()?;
        for (dt, rows) in self.raw {
            objects.push(ObjectPlan::Raw(dt, rows.into_rows()?));
        }
        objects.extend(
            self.quarantined
                .into_iter()
                .map(|(dt, lines)| ObjectPlan::Quarantine(dt, lines)),
        );
        Ok(ChunkPlan {
            summaries: None,
            written: objects.iter().map(|_| OnceLock::new()).collect(),
            objects,
            spill,
            chunk,
            counts: self.counts,
            processed_at: self.processed_at.unwrap_or_else(Utc::now),
        })
    }
}

fn task_result(done: Result<Result<()>, tokio::task::JoinError>) -> Result<()> {
    done.context("an upload task panicked")?
}

/// Where a record goes, as the duplicate index decided.
enum Placed {
    First(Box<ArticleRow>),
    ExactDuplicate(Box<ArticleRow>),
    Conflict(String),
    Quarantined(Box<QuarantineRow>),
}

/// One object of a chunk.
enum ObjectPlan {
    Curated(NaiveDate, Split, ObjectRows),
    Raw(NaiveDate, ObjectRows),
    Quarantine(NaiveDate, Vec<Span>),
}

/// A Parquet object's rows: to encode from the spill, or already encoded while they were read.
enum ObjectRows {
    Spilled(Vec<Span>),
    Encoded {
        /// Kept until the chunk is written: a retried upload sends the same bytes.
        encoded: Arc<Encoded>,
        written: Written,
        rows: usize,
    },
}

impl ObjectRows {
    fn len(&self) -> usize {
        match self {
            ObjectRows::Spilled(spans) => spans.len(),
            ObjectRows::Encoded { rows, .. } => *rows,
        }
    }
}

/// What an uploaded object adds to the stats.
#[derive(Debug, Default, Clone)]
pub(super) struct Written {
    pub bytes: u64,
    pub averages: FeatureAverages,
    pub samples: Vec<Sample>,
}

/// A cut chunk: its objects, which of them are in S3, and the spill they are encoded from.
pub struct ChunkPlan {
    chunk: ChunkId,
    objects: Vec<ObjectPlan>,
    written: Vec<OnceLock<Written>>,
    spill: Option<SpillFile>,
    /// Counts, without files and bytes.
    counts: ChunkWritten,
    /// One time for every object, so that a retried object is the same bytes.
    processed_at: DateTime<Utc>,
    /// Where the curated rows' summaries were spilled, in the order of the curated objects and
    /// their rows; None when summaries are off.
    summaries: Option<(SpillFile, Vec<Span>)>,
}

impl ChunkPlan {
    pub fn chunk(&self) -> &ChunkId {
        &self.chunk
    }

    fn spill(&self) -> Result<&SpillFile> {
        self.spill
            .as_ref()
            .context("a chunk with objects has a spill file")
    }

    /// The key of object `index`.
    fn key(&self, index: usize) -> String {
        match &self.objects[index] {
            ObjectPlan::Curated(dt, split, _) => curated_key(*dt, *split, &self.chunk),
            ObjectPlan::Raw(dt, _) => raw_key(*dt, &self.chunk),
            ObjectPlan::Quarantine(dt, _) => quarantine_key(*dt, &self.chunk),
        }
    }

    /// Whether object `index` was encoded while its chunk was read.
    fn is_encoded(&self, index: usize) -> bool {
        matches!(
            &self.objects[index],
            ObjectPlan::Curated(_, _, ObjectRows::Encoded { .. })
                | ObjectPlan::Raw(_, ObjectRows::Encoded { .. })
        )
    }

    /// Summarizes every curated row, [`SUMMARY_BATCH`] at a time over all the chunk's curated
    /// objects: a year of publish dates makes objects of a few rows, and the pool's workers
    /// each need a queue of articles to be busy. (With summaries on, no curated object is
    /// encoded live: its rows wait for their summaries.)
    fn summarize(&mut self, pool: &SummarizerPool) -> Result<()> {
        let mut spans: Vec<Span> = Vec::new();
        for object in &self.objects {
            match object {
                ObjectPlan::Curated(_, _, ObjectRows::Spilled(rows)) => spans.extend(rows),
                ObjectPlan::Curated(_, _, ObjectRows::Encoded { .. }) => {
                    bail!("a curated object was encoded before its summaries")
                }
                _ => {}
            }
        }
        // Spilled too: a summary is 10-20% of its article, so a chunk's would grow with it.
        let mut summaries = Spill::new()?;
        let mut summary_spans = Vec::with_capacity(spans.len());
        for batch in spans.chunks(SUMMARY_BATCH) {
            let rows = self.rows(batch)?;
            let docs: Vec<Document<'_>> = rows.iter().map(ArticleRow::document).collect();
            for summary in pool.summarize_blocking(&docs)? {
                summary_spans.push(summaries.push_summary(&summary)?);
            }
        }
        self.summaries = Some((summaries.finish()?, summary_spans));
        Ok(())
    }

    /// How many curated rows come before object `index`'s (curated objects come first, in
    /// the order their summaries were made).
    fn curated_rows_before(&self, index: usize) -> usize {
        self.objects[..index]
            .iter()
            .map(|object| match object {
                ObjectPlan::Curated(_, _, rows) => rows.len(),
                _ => 0,
            })
            .sum()
    }

    /// Encodes object `index`, reading its rows back from the spill a batch at a time (or
    /// hands over the bytes encoded while the chunk was read).
    fn encode(
        &self,
        index: usize,
        stream: &str,
    ) -> Result<(String, Arc<Encoded>, &'static str, Written)> {
        let ctx = FileContext {
            stream,
            processed_at: self.processed_at,
        };
        let mut written = Written::default();
        let (encoded, content_type) = match &self.objects[index] {
            ObjectPlan::Curated(
                _,
                _,
                ObjectRows::Encoded {
                    encoded, written, ..
                },
            )
            | ObjectPlan::Raw(
                _,
                ObjectRows::Encoded {
                    encoded, written, ..
                },
            ) => return Ok((self.key(index), encoded.clone(), PARQUET, written.clone())),
            ObjectPlan::Curated(dt, _, ObjectRows::Spilled(spans)) => {
                let mut encoder =
                    RowEncoder::new(ObjectBuffer::default(), curated_schema(), |rows| {
                        curated_batch(rows, &ctx)
                    })?;
                // Position in the chunk's curated rows: summaries are found by it, and the
                // chunk's last few rows are its samples (copied: they must not cost the data
                // path, nor grow with the number of objects).
                let mut position = self.curated_rows_before(index);
                // Every first sighting is a curated row: the count is the chunk's curated rows.
                let sampled_from =
                    (self.counts.articles as usize).saturating_sub(SAMPLES_PER_CHUNK);
                for batch in spans.chunks(ENCODE_BATCH_ROWS) {
                    let mut rows = self.rows(batch)?;
                    if let Some((file, summary_spans)) = &self.summaries {
                        let mine = summary_spans
                            .get(position..position + rows.len())
                            .context("curated rows without their summaries")?;
                        for (row, summary) in rows.iter_mut().zip(file.summaries(mine)?) {
                            row.summary = Some(summary);
                        }
                    }
                    for (i, row) in rows.iter().enumerate() {
                        written.averages.add(&row.features);
                        if position + i >= sampled_from {
                            written.samples.push(sample(row, *dt));
                        }
                    }
                    position += rows.len();
                    encoder.write(&rows.iter().collect::<Vec<_>>())?;
                }
                (encoder.finish()?.finish()?, PARQUET)
            }
            ObjectPlan::Raw(_, ObjectRows::Spilled(spans)) => {
                let mut encoder = RowEncoder::new(ObjectBuffer::default(), raw_schema(), |rows| {
                    raw_batch(rows, &ctx)
                })?;
                for batch in spans.chunks(ENCODE_BATCH_ROWS) {
                    let rows = self.rows(batch)?;
                    encoder.write(&rows.iter().collect::<Vec<_>>())?;
                }
                (encoder.finish()?.finish()?, PARQUET)
            }
            ObjectPlan::Quarantine(_, spans) => {
                let spill = self.spill()?;
                let mut out = ObjectBuffer::default();
                for span in spans {
                    out.write_all(&spill.read(*span)?)
                        .context("writing a quarantine file")?;
                }
                (out.finish()?, NDJSON)
            }
        };
        written.bytes = encoded.len();
        Ok((self.key(index), Arc::new(encoded), content_type, written))
    }

    fn rows(&self, spans: &[Span]) -> Result<Vec<ArticleRow>> {
        self.spill()?.rows(spans)
    }
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

pub(super) fn sample(row: &ArticleRow, dt: NaiveDate) -> Sample {
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

/// One object into S3: a single PUT, or a multipart upload above [`MULTIPART_THRESHOLD`].
pub async fn put(
    clients: &AwsClients,
    bucket: &str,
    key: &str,
    body: &Encoded,
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
        .content_length(body.len() as i64)
        .body(body.body(0, body.len()).await?)
        .send()
        .await
        .map_err(|err| clients.explain(&format!("uploading s3://{bucket}/{key}"), &err))?;
    Ok(())
}

async fn put_multipart(
    clients: &AwsClients,
    bucket: &str,
    key: &str,
    body: &Encoded,
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
        for (i, start) in (0..body.len()).step_by(PART_SIZE as usize).enumerate() {
            let number = i as i32 + 1;
            let len = PART_SIZE.min(body.len() - start);
            let uploaded = clients
                .s3
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload_id)
                .part_number(number)
                .content_length(len as i64)
                .body(body.body(start, len).await?)
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
    use bytes::Bytes;
    use chrono::TimeZone;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

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

    fn chunk() -> ChunkId {
        ChunkId {
            stream: "S".into(),
            shard_id: "shardId-000000000000".into(),
            first_sequence: "1".into(),
            last_sequence: "9".into(),
        }
    }

    /// Every object of the chunk encoded (summaries off), as key and bytes, with the chunk's
    /// counts once all of them are written.
    fn encoded(parts: ChunkParts) -> (Vec<(String, Bytes)>, ChunkWritten) {
        let plan = parts.into_plan(chunk()).unwrap();
        let mut objects = Vec::new();
        for index in 0..plan.objects.len() {
            let (key, encoded, _, written) = plan.encode(index, "S").unwrap();
            objects.push((key, encoded.to_bytes().unwrap()));
            plan.written[index].set(written).unwrap();
        }
        let mut counts = plan.counts.clone();
        counts.files = objects.len() as u64;
        counts.bytes = objects.iter().map(|(_, b)| b.len() as u64).sum();
        (objects, counts)
    }

    fn objects_and_counts(parts: ChunkParts) -> (Vec<String>, ChunkWritten) {
        let (objects, counts) = encoded(parts);
        (objects.into_iter().map(|(k, _)| k).collect(), counts)
    }

    /// The records parsed in pages of the given sizes.
    fn parsed_in_pages(sizes: &[usize], dedup: &Mutex<DedupIndex>) -> ChunkParts {
        parsed_live(sizes, dedup, &LiveEncoding::off())
    }

    /// The records parsed in pages of the given sizes, encoded live where `live` allows.
    fn parsed_live(sizes: &[usize], dedup: &Mutex<DedupIndex>, live: &LiveEncoding) -> ChunkParts {
        let mut all = records().into_iter();
        let mut parts = ChunkParts::default();
        for &size in sizes {
            let page: Vec<RawRecord> = all.by_ref().take(size).collect();
            parts.add(page, &Limits::default(), dedup, live).unwrap();
        }
        assert!(all.next().is_none(), "every record in a page");
        parts
    }

    /// An object's key, its Parquet rows, or its bytes when it is not Parquet.
    type Contents = (String, Vec<arrow_array::RecordBatch>, Bytes);

    /// Each object's rows, every column but `processed_at` (the time of the chunk's first
    /// record, which differs between two chunks), or its bytes when it is not Parquet.
    fn contents(objects: &[(String, Bytes)]) -> Vec<Contents> {
        objects
            .iter()
            .map(|(key, body)| {
                if !key.ends_with(".parquet") {
                    return (key.clone(), Vec::new(), body.clone());
                }
                let reader = ParquetRecordBatchReaderBuilder::try_new(body.clone())
                    .unwrap()
                    .build()
                    .unwrap();
                let batches = reader
                    .map(|batch| {
                        let mut batch = batch.unwrap();
                        let at = batch.schema().index_of("processed_at").unwrap();
                        batch.remove_column(at);
                        batch
                    })
                    .collect();
                (key.clone(), batches, Bytes::new())
            })
            .collect()
    }

    /// What a page may encode live, with `permits` encoders of its own.
    fn live(permits: usize, summaries: bool) -> LiveEncoding {
        LiveEncoding::new(&LiveEncoders::with_permits(permits), "S", summaries)
    }

    /// How many of a chunk's objects were encoded while it was read.
    fn live_objects(parts: ChunkParts) -> usize {
        let plan = parts.into_plan(chunk()).unwrap();
        (0..plan.objects.len())
            .filter(|&index| plan.is_encoded(index))
            .count()
    }

    /// Counts without the bytes: a file's size depends on where its row batches were cut.
    fn counts_of_rows(counts: &ChunkWritten) -> [u64; 5] {
        [
            counts.records,
            counts.articles,
            counts.exact_duplicates,
            counts.quarantined,
            counts.files,
        ]
    }

    #[test]
    fn a_chunk_encoded_while_read_makes_the_objects_of_one_encoded_at_its_cut() {
        let at_cut = parsed_in_pages(&[3, 4, 2], &Mutex::new(DedupIndex::default()));
        let while_read = parsed_live(
            &[3, 4, 2],
            &Mutex::new(DedupIndex::default()),
            &live(16, false),
        );
        let (expected, expected_counts) = encoded(at_cut);
        let (objects, counts) = encoded(while_read);
        assert_eq!(counts_of_rows(&counts), counts_of_rows(&expected_counts));
        assert_eq!(contents(&objects), contents(&expected));
        let live_count = live_objects(parsed_live(
            &[3, 4, 2],
            &Mutex::new(DedupIndex::default()),
            &live(16, false),
        ));
        assert_eq!(live_count, LIVE_PER_CHUNK);
    }

    /// 2,400 articles over 3 days (several encoding batches a partition), read in pages of 500.
    fn many_records() -> Vec<RawRecord> {
        (0..2400u64)
            .map(|i| {
                let json = article(
                    &format!("id{i}"),
                    1 + (i % 3) as u32,
                    &format!("Text {i}. More."),
                );
                record(i + 1, &json)
            })
            .collect()
    }

    fn many_parsed(live: &LiveEncoding) -> ChunkPlan {
        let mut parts = ChunkParts::default();
        let dedup = Mutex::new(DedupIndex::default());
        let records = many_records();
        for page in records.chunks(500) {
            parts
                .add(page.to_vec(), &Limits::default(), &dedup, live)
                .unwrap();
        }
        parts.into_plan(chunk()).unwrap()
    }

    /// Every object's rows, and what the chunk adds to the stats: the averages and the ids of
    /// its samples.
    fn rows_and_stats(plan: &ChunkPlan) -> (Vec<Contents>, FeatureAverages, Vec<String>) {
        let (mut objects, mut averages, mut samples) =
            (Vec::new(), FeatureAverages::default(), Vec::new());
        for index in 0..plan.objects.len() {
            let (key, encoded, _, written) = plan.encode(index, "S").unwrap();
            objects.push((key, encoded.to_bytes().unwrap()));
            averages.merge(&written.averages);
            samples.extend(written.samples.into_iter().map(|s| s.article_id));
        }
        samples.drain(..samples.len().saturating_sub(SAMPLES_PER_CHUNK));
        (contents(&objects), averages, samples)
    }

    #[test]
    fn live_and_spilled_objects_hold_the_same_rows_averages_and_samples() {
        let at_cut = many_parsed(&LiveEncoding::off());
        let partly_live = many_parsed(&live(16, false));
        let live_count = (0..partly_live.objects.len())
            .filter(|&index| partly_live.is_encoded(index))
            .count();
        assert_eq!(live_count, LIVE_PER_CHUNK);
        let expected = rows_and_stats(&at_cut);
        assert_eq!(expected.2.len(), SAMPLES_PER_CHUNK);
        assert_eq!(rows_and_stats(&partly_live), expected);
    }

    #[test]
    fn every_object_of_a_partly_live_chunk_says_the_same_processing_time() {
        let plan = many_parsed(&live(16, false));
        let mut times = std::collections::BTreeSet::new();
        for index in 0..plan.objects.len() {
            let (key, encoded, _, _) = plan.encode(index, "S").unwrap();
            if !key.ends_with(".parquet") {
                continue;
            }
            let body = encoded.to_bytes().unwrap();
            for batch in ParquetRecordBatchReaderBuilder::try_new(body)
                .unwrap()
                .build()
                .unwrap()
            {
                let column = batch
                    .unwrap()
                    .column_by_name("processed_at")
                    .unwrap()
                    .clone();
                let column = column
                    .as_any()
                    .downcast_ref::<arrow_array::TimestampMillisecondArray>()
                    .unwrap()
                    .clone();
                times.extend(column.values().iter().copied());
            }
        }
        assert_eq!(times.len(), 1, "{times:?}");
    }

    #[test]
    fn live_encoders_are_bounded_over_chunks_and_given_back_at_the_cut_or_on_a_drop() {
        let encoders = LiveEncoders::with_permits(1);
        let live = LiveEncoding::new(&encoders, "S", false);
        let expected = encoded(parsed_in_pages(&[4, 5], &Mutex::new(DedupIndex::default())));
        let held = parsed_live(&[4, 5], &Mutex::new(DedupIndex::default()), &live);
        // A second chunk read meanwhile gets no encoder: the first holds the only one.
        let meanwhile = parsed_live(&[9], &Mutex::new(DedupIndex::default()), &live);
        assert_eq!(live_objects(meanwhile), 0);
        let (objects, counts) = encoded(held);
        assert_eq!(counts_of_rows(&counts), counts_of_rows(&expected.1));
        assert_eq!(contents(&objects), contents(&expected.0));
        // Given back at the cut (above): the next chunk gets it.
        let next = parsed_live(&[9], &Mutex::new(DedupIndex::default()), &live);
        assert_eq!(next.live_objects, 1);
        // A chunk dropped unwritten (its reader failed) gives it back too.
        drop(next);
        let after_a_drop = parsed_live(&[9], &Mutex::new(DedupIndex::default()), &live);
        assert_eq!(live_objects(after_a_drop), 1);
    }

    #[test]
    fn with_summaries_on_only_raw_objects_are_encoded_while_read() {
        let plan = parsed_live(&[9], &Mutex::new(DedupIndex::default()), &live(16, true))
            .into_plan(chunk())
            .unwrap();
        let mut live_count = 0;
        for (index, object) in plan.objects.iter().enumerate() {
            let raw = matches!(object, ObjectPlan::Raw(..));
            assert!(!plan.is_encoded(index) || raw, "{}", plan.key(index));
            live_count += usize::from(plan.is_encoded(index));
        }
        // Both days' raw partitions.
        assert_eq!(live_count, 2);
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

    fn article_ids(objects: &[(String, Bytes)], prefix: &str) -> Vec<String> {
        let mut ids = Vec::new();
        for (_, body) in objects.iter().filter(|(key, _)| key.starts_with(prefix)) {
            let reader = ParquetRecordBatchReaderBuilder::try_new(body.clone())
                .unwrap()
                .build()
                .unwrap();
            for batch in reader {
                let batch = batch.unwrap();
                let column = batch.column_by_name("article_id").unwrap();
                let strings = column
                    .as_any()
                    .downcast_ref::<arrow_array::StringArray>()
                    .unwrap();
                ids.extend(strings.iter().map(|id| id.unwrap().to_string()));
            }
        }
        ids
    }

    #[test]
    fn objects_hold_their_rows_read_back_from_the_spill_in_sequence_order() {
        let parts = parsed_in_pages(&[4, 5], &Mutex::new(DedupIndex::default()));
        let (objects, _) = encoded(parts);
        assert_eq!(
            article_ids(&objects, "raw/articles/dt=2026-03-01/"),
            ["a", "b", "a", "e"]
        );
        assert_eq!(
            article_ids(&objects, "raw/articles/dt=2026-03-02/"),
            ["c", "d", "f"]
        );
        let mut curated = article_ids(&objects, "curated/summaries/");
        curated.sort();
        assert_eq!(curated, ["a", "b", "c", "d", "e", "f"]);
        let (_, quarantine) = objects
            .iter()
            .find(|(key, _)| key.starts_with("quarantine/"))
            .unwrap();
        let lines: Vec<serde_json::Value> = quarantine
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| serde_json::from_slice(line).unwrap())
            .collect();
        let codes: Vec<&str> = lines
            .iter()
            .map(|line| line["reason_code"].as_str().unwrap())
            .collect();
        assert_eq!(codes, ["not_json", "conflicting_duplicate"]);
    }

    /// Summarizes an article as its own content, so a summary says which row it belongs to.
    struct Echo;

    impl crate::summarize::Summarizer for Echo {
        fn id(&self) -> &str {
            "test:echo"
        }

        fn summarize(&mut self, batch: &[Document<'_>]) -> Result<Vec<String>> {
            Ok(batch.iter().map(|doc| doc.content.to_string()).collect())
        }
    }

    fn strings_of(body: &Bytes, column: &str) -> Vec<String> {
        let reader = ParquetRecordBatchReaderBuilder::try_new(body.clone())
            .unwrap()
            .build()
            .unwrap();
        let mut values = Vec::new();
        for batch in reader {
            let batch = batch.unwrap();
            let strings = batch
                .column_by_name(column)
                .unwrap()
                .as_any()
                .downcast_ref::<arrow_array::StringArray>()
                .unwrap()
                .clone();
            values.extend(strings.iter().map(|v| v.unwrap().to_string()));
        }
        values
    }

    #[test]
    fn every_curated_row_gets_its_own_summary_across_objects_and_batches() {
        use crate::summarize::pool::PoolOptions;
        // 2,400 articles over 3 days: several curated objects (days × splits), some of more
        // rows than a summary or an encoding batch holds.
        let records: Vec<RawRecord> = (0..2400u64)
            .map(|i| {
                let json = article(&format!("id{i}"), 1 + (i % 3) as u32, &format!("Text {i}."));
                record(i + 1, &json)
            })
            .collect();
        const { assert!(2400 / 3 / 2 > ENCODE_BATCH_ROWS && 2400 > SUMMARY_BATCH) };
        let mut parts = ChunkParts::default();
        let dedup = Mutex::new(DedupIndex::default());
        // With summaries on, raw objects are encoded while read, curated ones at the cut.
        let live = live(16, true);
        parts
            .add(records, &Limits::default(), &dedup, &live)
            .unwrap();
        let mut plan = parts.into_plan(chunk()).unwrap();
        let pool = SummarizerPool::start(
            || Ok(Box::new(Echo) as Box<dyn crate::summarize::Summarizer>),
            PoolOptions {
                workers: 2,
                batch_articles: 8,
                batch_wait: std::time::Duration::from_millis(1),
                queue: 64,
            },
        )
        .unwrap();
        plan.summarize(&pool).unwrap();

        let mut curated_rows = 0;
        let mut samples = Vec::new();
        for index in 0..plan.objects.len() {
            let (key, encoded, _, written) = plan.encode(index, "S").unwrap();
            samples.extend(written.samples);
            if !key.starts_with("curated/") {
                continue;
            }
            let body = encoded.to_bytes().unwrap();
            let (contents, summaries) =
                (strings_of(&body, "content"), strings_of(&body, "summary"));
            assert!(!contents.is_empty());
            assert_eq!(summaries, contents, "{key}");
            assert!(strings_of(&body, "summarizer")
                .iter()
                .all(|s| s == "test:echo"));
            curated_rows += contents.len();
        }
        assert_eq!(curated_rows, 2400);
        // The console's samples: the chunk's last curated rows only, not a few per object.
        assert_eq!(samples.len(), SAMPLES_PER_CHUNK);
    }

    #[test]
    fn an_object_encoded_again_at_its_cut_is_the_same_bytes() {
        // One partition live: the others, encoded at the cut, share its processing time.
        for live in [LiveEncoding::off(), live(1, false)] {
            let plan = parsed_live(&[9], &Mutex::new(DedupIndex::default()), &live)
                .into_plan(chunk())
                .unwrap();
            for index in (0..plan.objects.len()).filter(|&i| !plan.is_encoded(i)) {
                let (_, first, _, _) = plan.encode(index, "S").unwrap();
                let (_, again, _, _) = plan.encode(index, "S").unwrap();
                assert_eq!(first.to_bytes().unwrap(), again.to_bytes().unwrap());
            }
        }
    }
}
