//! Objects encoded while their chunk is read, instead of at its cut.
//!
//! In a `--once` run every shard reaches its tip at about the same moment, and encoding all
//! their objects then left the emulator idle while précis worked: ~0.3 s at the end of a 1.2 s
//! run of 10,000 records (docs/performance.md). A partition that gets a live encoder is
//! encoded page by page as its records are read, on a core the reads leave free, and only has
//! to be finished at the cut. Each live encoder holds a row group in progress, so how many
//! exist at once is bounded over every shard ([`LiveEncoding`]); a partition that gets none is
//! spilled and encoded at the cut, as before.
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

/// Live encoders a core: a `--once` run of 4 shards on 2 cores encodes every shard's raw and
/// train partitions live (8). Each holds up to a row group
/// ([`super::parquet::ROW_GROUP_MEMORY`]) and an object's first 256 KiB.
const LIVE_ENCODERS_PER_CORE: usize = 4;

/// Whether, and how many, objects may be encoded while their chunks are read; shared by every
/// shard's reader.
#[derive(Clone)]
pub struct LiveEncoding {
    permits: Arc<Semaphore>,
    stream: Arc<str>,
    /// Curated rows can be encoded as they are read only when they wait for no summary.
    curated: bool,
}

impl LiveEncoding {
    pub fn new(stream: &str, summaries: bool) -> Self {
        Self::with_encoders(stream, summaries, LIVE_ENCODERS_PER_CORE * threads())
    }

    /// At most `encoders` live encoders at once; 0 encodes every object at its cut.
    pub fn with_encoders(stream: &str, summaries: bool, encoders: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(encoders)),
            stream: stream.into(),
            curated: !summaries,
        }
    }

    /// Every object encoded at its cut.
    pub fn off() -> Self {
        Self::with_encoders("", true, 0)
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
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
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
