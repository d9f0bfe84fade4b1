//! `precis produce`: the original challenge's generator container, in Rust. Creates the bucket and
//! the stream if missing, then puts articles on the stream in PutRecords batches.

pub mod batch;
pub mod newsgen;
pub mod put;
pub mod source;
pub mod vocabulary;

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::task::JoinSet;

use crate::aws::AwsClients;
use crate::resources::{ensure_bucket, ensure_stream, Created};
use batch::Batcher;
use put::{put_batch, Delivered};
use source::{Item, RecordSource, Skipped};

/// What to produce and where.
pub struct ProduceJob {
    pub stream: String,
    pub bucket: String,
    pub region: String,
    /// Shard count if the stream has to be created.
    pub shards: u32,
    /// PutRecords calls in flight at once.
    pub in_flight: usize,
    pub source: RecordSource,
}

#[derive(Debug, Clone)]
pub struct ProduceReport {
    pub records: u64,
    /// Bytes of record data put (partition keys not counted).
    pub bytes: u64,
    /// Records the service rejected at first and accepted on a retry.
    pub retried: u64,
    /// Time spent putting, from the first call to the last answer.
    pub elapsed: Duration,
    pub open_shards: u32,
    pub stream_created: bool,
    pub bucket_created: bool,
    pub skipped: Vec<Skipped>,
}

impl ProduceReport {
    pub fn records_per_second(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Progress callback: total records and bytes put so far.
pub type Progress<'a> = &'a (dyn Fn(u64, u64) + Sync);

pub async fn produce(
    clients: &AwsClients,
    mut job: ProduceJob,
    progress: Progress<'_>,
) -> Result<ProduceReport> {
    let bucket_created = ensure_bucket(clients, &job.bucket, &job.region).await? == Created::New;
    let (stream_created, open_shards) = ensure_stream(clients, &job.stream, job.shards).await?;

    let started = Instant::now();
    let mut total = Delivered::default();
    let mut skipped = Vec::new();
    let mut batcher = Batcher::default();
    let mut in_flight: JoinSet<Result<Delivered>> = JoinSet::new();

    let put = Put {
        clients,
        stream: &job.stream,
        limit: job.in_flight,
    };
    let failure = 'produce: {
        loop {
            let batch = match job.source.next_item() {
                Err(err) => break 'produce Some(err),
                Ok(Some(Item::Record(entry))) => batcher.push(entry),
                Ok(Some(Item::Skip(skip))) => {
                    skipped.push(skip);
                    None
                }
                Ok(None) => break,
            };
            if let Some(batch) = batch {
                if let Some(err) = put.start(&mut in_flight, batch, &mut total, progress).await {
                    break 'produce Some(err);
                }
            }
        }
        if let Some(batch) = batcher.take() {
            if let Some(err) = put.start(&mut in_flight, batch, &mut total, progress).await {
                break 'produce Some(err);
            }
        }
        settle(&mut in_flight, 0, &mut total, progress).await
    };
    if let Some(err) = failure {
        in_flight.abort_all();
        return Err(err.context(format!(
            "stopped after {} records were put on {}",
            total.records, job.stream
        )));
    }
    Ok(ProduceReport {
        records: total.records,
        bytes: total.bytes,
        retried: total.retried,
        elapsed: started.elapsed(),
        open_shards,
        stream_created: stream_created == Created::New,
        bucket_created,
        skipped,
    })
}

/// Where PutRecords calls go, and how many may run at once.
struct Put<'a> {
    clients: &'a AwsClients,
    stream: &'a str,
    limit: usize,
}

impl Put<'_> {
    /// Starts a PutRecords call for `batch` once fewer than `limit` are in flight (the last,
    /// partial batch too), adding what finished meanwhile to `total`.
    async fn start(
        &self,
        in_flight: &mut JoinSet<Result<Delivered>>,
        batch: Vec<batch::Entry>,
        total: &mut Delivered,
        progress: Progress<'_>,
    ) -> Option<anyhow::Error> {
        let room = self.limit.max(1) - 1;
        if let Some(err) = settle(in_flight, room, total, progress).await {
            return Some(err);
        }
        let clients = self.clients.clone();
        let stream = self.stream.to_string();
        in_flight.spawn(async move { put_batch(&clients, &stream, batch).await });
        None
    }
}

/// Waits until at most `limit` calls are in flight, adding what finished to `total`.
async fn settle(
    in_flight: &mut JoinSet<Result<Delivered>>,
    limit: usize,
    total: &mut Delivered,
    progress: Progress<'_>,
) -> Option<anyhow::Error> {
    while in_flight.len() > limit {
        let joined = in_flight.join_next().await?;
        match joined.context("a PutRecords task panicked") {
            Ok(Ok(delivered)) => {
                total.records += delivered.records;
                total.bytes += delivered.bytes;
                total.retried += delivered.retried;
                progress(total.records, total.bytes);
            }
            Ok(Err(err)) | Err(err) => return Some(err),
        }
    }
    None
}
