//! Objects encoded while their chunk is read, instead of at its cut.
//!
//! In a `--once` run every shard reaches its tip at about the same moment, and encoding all
//! their objects then left the emulator idle while précis worked: ~0.3 s at the end of a 1.2 s
//! run of 10,000 records (docs/performance.md). A partition that gets a live encoder is
//! encoded page by page as its records are read, on a core the reads leave free, and only has
//! to be finished at the cut. Each live encoder holds a row group in progress, so how many
//! exist at once is bounded, over every shard ([`LiveEncoders`]) and per chunk
//! ([`LIVE_PER_CHUNK`]); a partition that gets none is spilled and encoded at the cut, as
//! before.
//!
//! Which partitions: raw ones, and curated `train` ones when summaries are off. A curated row
//! waits for its summary, which is made at the cut; `validation` and `test` hold 5% of the
//! rows each, cheap to encode at the cut and not worth a row group each in memory.

use std::sync::Arc;

use anyhow::Result;
use arrow_array::RecordBatch;
use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::parquet::{
    curated_batch, curated_schema, raw_batch, raw_schema, FileContext, RowEncoder,
    ENCODE_BATCH_ROWS,
};
use super::spill::{Encoded, ObjectBuffer};
use super::writer::{sample, Written, SAMPLES_PER_CHUNK};
use crate::pipeline::features::Split;
use crate::pipeline::parallel::threads;
use crate::pipeline::rows::ArticleRow;

/// Live encoders a core, over all shards: a `--once` run of 4 shards on 2 cores encodes every
/// shard's raw and train partitions live (8). Each holds a row group in progress, ended once
/// its encoded pages and the page being filled reach [`super::parquet::ROW_GROUP_MEMORY`] (a
/// page of text overshoots by up to a batch of rows), and an object's first 256 KiB.
const LIVE_ENCODERS_PER_CORE: usize = 4;
/// ... and no more than this many on a machine of many cores: memory, not CPU, bounds them.
const MAX_LIVE_ENCODERS: usize = 16;
/// Live encoders one chunk may hold: its raw and its train partition on a stream of the day's
/// news. A year of publish dates would otherwise let one shard's first tiny partitions take
/// every encoder while the other shards spill.
pub(super) const LIVE_PER_CHUNK: usize = 2;

/// The live encoders free over every shard's reader.
#[derive(Clone)]
pub struct LiveEncoders(Arc<Semaphore>);

impl LiveEncoders {
    pub fn new() -> Self {
        Self::with_permits((LIVE_ENCODERS_PER_CORE * threads()).min(MAX_LIVE_ENCODERS))
    }

    /// At most `permits` live encoders at once; 0 encodes every object at its cut.
    pub fn with_permits(permits: usize) -> Self {
        Self(Arc::new(Semaphore::new(permits)))
    }
}

impl Default for LiveEncoders {
    fn default() -> Self {
        Self::new()
    }
}

/// What a page of a chunk may encode live: built by the chunk's writer from its own settings,
/// so that live curated objects and summaries can never both be on.
pub struct LiveEncoding {
    encoders: LiveEncoders,
    stream: Arc<str>,
    /// Curated rows can be encoded as they are read only when they wait for no summary.
    curated: bool,
}

impl LiveEncoding {
    pub fn new(encoders: &LiveEncoders, stream: &str, summaries: bool) -> Self {
        Self {
            encoders: encoders.clone(),
            stream: stream.into(),
            curated: !summaries,
        }
    }

    /// Every object encoded at its cut.
    pub fn off() -> Self {
        Self::new(&LiveEncoders::with_permits(0), "", true)
    }

    /// A live encoder for a new raw partition, when one is free.
    pub(super) fn raw(
        &self,
        dt: NaiveDate,
        processed_at: DateTime<Utc>,
    ) -> Result<Option<LiveObject>> {
        self.start(Layer::Raw, dt, processed_at)
    }

    /// A live encoder for a new curated partition, when that partition is encoded live and one
    /// is free.
    pub(super) fn curated(
        &self,
        dt: NaiveDate,
        split: Split,
        processed_at: DateTime<Utc>,
    ) -> Result<Option<LiveObject>> {
        if !self.curated || split != Split::Train {
            return Ok(None);
        }
        self.start(Layer::Curated, dt, processed_at)
    }

    fn start(
        &self,
        layer: Layer,
        dt: NaiveDate,
        processed_at: DateTime<Utc>,
    ) -> Result<Option<LiveObject>> {
        let Ok(permit) = self.encoders.0.clone().try_acquire_owned() else {
            return Ok(None);
        };
        let stream = self.stream.clone();
        let (schema, batch): (_, BatchFn) = match layer {
            Layer::Raw => (
                raw_schema(),
                Box::new(move |rows| raw_batch(rows, &context(&stream, processed_at))),
            ),
            Layer::Curated => (
                curated_schema(),
                Box::new(move |rows| curated_batch(rows, &context(&stream, processed_at))),
            ),
        };
        Ok(Some(LiveObject {
            encoder: RowEncoder::new(ObjectBuffer::default(), schema, batch)?,
            layer,
            dt,
            rows: 0,
            written: Written::default(),
            _permit: permit,
        }))
    }
}

fn context(stream: &str, processed_at: DateTime<Utc>) -> FileContext<'_> {
    FileContext {
        stream,
        processed_at,
    }
}

type BatchFn = Box<dyn Fn(&[&ArticleRow]) -> Result<RecordBatch> + Send>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layer {
    Raw,
    Curated,
}

/// One partition's object of a chunk, encoded as the chunk is read.
pub(super) struct LiveObject {
    encoder: RowEncoder<ObjectBuffer, BatchFn>,
    layer: Layer,
    dt: NaiveDate,
    rows: usize,
    /// Averages and samples of curated rows (empty for raw), as an object encoded at the cut
    /// reports them.
    written: Written,
    /// Given back when the object is finished or dropped.
    _permit: OwnedSemaphorePermit,
}

impl LiveObject {
    /// Encodes the next rows of the partition, in their order.
    pub(super) fn write(&mut self, rows: &[&ArticleRow]) -> Result<()> {
        for batch in rows.chunks(ENCODE_BATCH_ROWS) {
            self.encoder.write(batch)?;
        }
        self.rows += rows.len();
        if self.layer == Layer::Curated {
            for row in rows {
                self.written.averages.add(&row.features);
            }
            // The object's last rows: the chunk's samples are the last of every object's, in
            // the objects' order (`ChunkWriter::written`), the same rows as the chunk's last
            // curated rows that an object encoded at the cut offers. A few copies a page.
            let last = &rows[rows.len().saturating_sub(SAMPLES_PER_CHUNK)..];
            let samples = &mut self.written.samples;
            samples.extend(last.iter().map(|row| sample(row, self.dt)));
            samples.drain(..samples.len().saturating_sub(SAMPLES_PER_CHUNK));
        }
        Ok(())
    }

    /// Rows encoded so far.
    pub(super) fn rows(&self) -> usize {
        self.rows
    }

    /// Ends the object: its bytes, and what it adds to the stats once uploaded.
    pub(super) fn finish(self) -> Result<(Encoded, Written)> {
        let encoded = self.encoder.finish()?.finish()?;
        let mut written = self.written;
        written.bytes = encoded.len();
        Ok((encoded, written))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::features::FeatureAverages;
    use crate::pipeline::record::Limits;
    use crate::pipeline::rows::{process, Outcome, RawRecord};
    use arrow_array::cast::AsArray;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn rows(count: usize) -> Vec<ArticleRow> {
        (0..count)
            .map(|i| {
                let json = format!(
                    r#"{{"article_id":"id{i}","publish_date":"2026-03-01T10:00:00","content":"Text {i}. {}"}}"#,
                    "More words. ".repeat(i % 7)
                );
                let record = RawRecord {
                    shard_id: "s0".into(),
                    sequence_number: (i + 1).to_string(),
                    partition_key: "pk".into(),
                    arrival_time: DateTime::UNIX_EPOCH,
                    data: json.into_bytes(),
                };
                match process(&record, &Limits::default()) {
                    Outcome::Article(row) => *row,
                    Outcome::Quarantined(q) => panic!("{}", q.reason),
                }
            })
            .collect()
    }

    fn dt() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()
    }

    /// A curated object written in pages of `page` rows.
    fn curated_in_pages(rows: &[ArticleRow], page: usize) -> (Encoded, Written) {
        let live = LiveEncoding::new(&LiveEncoders::with_permits(1), "S", false);
        let mut object = live
            .curated(dt(), Split::Train, Utc::now())
            .unwrap()
            .expect("an encoder is free");
        for chunk in rows.chunks(page) {
            object.write(&chunk.iter().collect::<Vec<_>>()).unwrap();
        }
        assert_eq!(object.rows(), rows.len());
        object.finish().unwrap()
    }

    #[test]
    fn a_live_curated_object_holds_every_row_in_order_with_its_averages_and_last_rows_as_samples() {
        let rows = rows(900);
        let (encoded, written) = curated_in_pages(&rows, 299);
        let body = encoded.to_bytes().unwrap();
        let mut ids = Vec::new();
        for batch in ParquetRecordBatchReaderBuilder::try_new(body.clone())
            .unwrap()
            .build()
            .unwrap()
        {
            let batch = batch.unwrap();
            let column = batch
                .column_by_name("article_id")
                .unwrap()
                .as_string::<i32>();
            ids.extend(column.iter().map(|id| id.unwrap().to_string()));
        }
        let expected_ids: Vec<String> = rows.iter().map(|r| r.article.article_id.clone()).collect();
        assert_eq!(ids, expected_ids);
        let mut averages = FeatureAverages::default();
        rows.iter().for_each(|row| averages.add(&row.features));
        assert_eq!(written.averages, averages);
        let samples: Vec<&str> = written.samples.iter().map(|s| &*s.article_id).collect();
        assert_eq!(samples, ["id896", "id897", "id898", "id899"]);
        assert_eq!(written.bytes, body.len() as u64);
    }

    #[test]
    fn a_last_page_shorter_than_the_samples_keeps_rows_of_the_page_before() {
        let (_, written) = curated_in_pages(&rows(10), 4);
        let samples: Vec<&str> = written.samples.iter().map(|s| &*s.article_id).collect();
        assert_eq!(samples, ["id6", "id7", "id8", "id9"]);
    }

    #[test]
    fn no_live_encoder_is_given_when_none_is_free_or_the_partition_waits_for_summaries() {
        let encoders = LiveEncoders::with_permits(1);
        let summaries_off = LiveEncoding::new(&encoders, "S", false);
        let summaries_on = LiveEncoding::new(&encoders, "S", true);
        let at = Utc::now();
        assert!(summaries_on
            .curated(dt(), Split::Train, at)
            .unwrap()
            .is_none());
        assert!(summaries_off
            .curated(dt(), Split::Test, at)
            .unwrap()
            .is_none());
        let held = summaries_on.raw(dt(), at).unwrap();
        assert!(held.is_some());
        assert!(summaries_off.raw(dt(), at).unwrap().is_none());
        drop(held);
        assert!(summaries_off
            .curated(dt(), Split::Train, at)
            .unwrap()
            .is_some());
    }
}
