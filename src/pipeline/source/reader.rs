//! Reading one shard: GetRecords in a loop, page by page, from a position, at most 5 calls a
//! second, renewing an expired iterator and retrying what may heal. It knows no sink: what a
//! page holds is the shard task's (`pipeline::shard`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use aws_sdk_kinesis::operation::get_shard_iterator::builders::GetShardIteratorFluentBuilder as GetShardIterator;
use aws_sdk_kinesis::types::{Record, ShardIteratorType};
use chrono::DateTime;
use tokio::sync::watch;
use tracing::debug;

use crate::aws::AwsClients;
use crate::config::StartPosition;
use crate::pipeline::retry::{self, Retrying};
use crate::pipeline::rows::RawRecord;
use crate::pipeline::stats::Stats;

/// Kinesis allows 5 GetRecords calls per second per shard.
pub(super) const MIN_CALL_INTERVAL: Duration = Duration::from_millis(200);
const MAX_RECORDS_PER_CALL: i32 = 10_000;
const MIN_RECORDS_PER_CALL: i32 = 1_000;
/// What one GetRecords response should hold. Kinesis caps an answer at 10 MiB (emulators may
/// not), but a shard serves 2 MiB/s anyway, and an answer is held decoded whole (base64 body,
/// then records): 4 MiB instead of 10 took 35 MB off the peak RSS of a 100,000-record backlog
/// at the same rate.
const CALL_BYTES: usize = 4 * 1024 * 1024;
/// Record size assumed before the first call: a news article of a few hundred words.
const ASSUMED_RECORD_BYTES: usize = 4 * 1024;
/// Records and payload bytes this reader has read, for sizing its calls.
#[derive(Debug, Default)]
struct ReadSoFar {
    records: usize,
    bytes: usize,
}

impl ReadSoFar {
    /// Counts a page in; its payload bytes.
    fn add(&mut self, page: &[Record]) -> usize {
        let bytes = page.iter().map(|r| r.data().as_ref().len()).sum();
        self.records += page.len();
        self.bytes += bytes;
        bytes
    }
}

/// One GetRecords answer.
pub struct Page {
    pub records: Vec<RawRecord>,
    /// The records' payload bytes.
    pub bytes: usize,
    pub millis_behind_latest: Option<i64>,
    /// The shard is closed and this was its last page.
    pub closed: bool,
    /// Whether the answer says the shard was caught up with records in it (see [`caught_up`]).
    pub caught_up: bool,
}

impl Page {
    /// An empty answer at the tip: nothing more to read for now.
    pub fn at_tip(&self) -> bool {
        self.records.is_empty() && self.millis_behind_latest.unwrap_or(0) == 0
    }
}

pub struct ShardReader {
    clients: AwsClients,
    stream: String,
    shard_id: String,
    start: StartPosition,
    stats: Arc<Stats>,
    stop: watch::Receiver<bool>,
    iterator: String,
    last_read: Option<String>,
    last_call: Instant,
    read: ReadSoFar,
    retrying: Retrying,
}

impl ShardReader {
    /// A reader of `shard_id` after `after` (a sequence number), or from `start` with none.
    pub async fn open(
        clients: AwsClients,
        stream: &str,
        shard_id: &str,
        start: StartPosition,
        after: Option<String>,
        stats: Arc<Stats>,
        stop: watch::Receiver<bool>,
    ) -> Result<Self> {
        let mut reader = Self {
            clients,
            stream: stream.to_string(),
            shard_id: shard_id.to_string(),
            start,
            stats,
            stop,
            iterator: String::new(),
            last_read: after,
            last_call: Instant::now() - MIN_CALL_INTERVAL,
            read: ReadSoFar::default(),
            retrying: Retrying::default(),
        };
        reader.iterator = reader.iterator_after(reader.last_read.as_deref()).await?;
        Ok(reader)
    }

    /// The next page, asking for about `chunk_records` records; None when a stop was requested
    /// while a failure was being retried.
    pub async fn next_page(&mut self, chunk_records: usize) -> Result<Option<Page>> {
        loop {
            let wait = MIN_CALL_INTERVAL.saturating_sub(self.last_call.elapsed());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            self.last_call = Instant::now();
            let limit = records_per_call(chunk_records, &self.read);
            let response = self
                .clients
                .kinesis
                .get_records()
                .shard_iterator(&self.iterator)
                .limit(limit)
                .send()
                .await;
            let mut output = match response {
                Ok(output) => {
                    self.retrying.succeeded();
                    output
                }
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_expired_iterator_exception()) =>
                {
                    debug!(shard = %self.shard_id, "shard iterator expired; renewing");
                    self.iterator = self.iterator_after(self.last_read.as_deref()).await?;
                    continue;
                }
                Err(err) => {
                    let error = self
                        .clients
                        .explain(&format!("reading shard {}", self.shard_id), &err);
                    let waited = self
                        .retrying
                        .wait_after(error, "reading the shard", &self.stop, &self.stats)
                        .await;
                    match waited {
                        Ok(()) => continue,
                        Err(_) if *self.stop.borrow() => return Ok(None),
                        Err(err) => return Err(err),
                    }
                }
            };
            // Moved, not copied, out of the response: a full call holds megabytes.
            let records = std::mem::take(&mut output.records);
            let bytes = self.read.add(&records);
            self.stats.records_read(records.len() as u64, bytes as u64);
            if let Some(last) = records.last() {
                self.last_read = Some(last.sequence_number().to_string());
            }
            let millis_behind_latest = output.millis_behind_latest();
            let caught_up = caught_up(records.len() as u64, limit, millis_behind_latest);
            let closed = match output.next_shard_iterator() {
                Some(next) => {
                    self.iterator = next.to_string();
                    false
                }
                None => true,
            };
            let records = records
                .into_iter()
                .map(|r| raw_record(&self.shard_id, r))
                .collect();
            return Ok(Some(Page {
                records,
                bytes,
                millis_behind_latest,
                closed,
                caught_up,
            }));
        }
    }

    /// The last sequence number read.
    pub fn last_read(&self) -> Option<&str> {
        self.last_read.as_deref()
    }

    async fn iterator_after(&self, sequence: Option<&str>) -> Result<String> {
        let mut request = self
            .clients
            .kinesis
            .get_shard_iterator()
            .stream_name(&self.stream)
            .shard_id(&self.shard_id);
        request = match sequence {
            Some(seq) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(seq),
            None => starting_at(request, &self.start),
        };
        let output = retry::until_done("opening the shard", &self.stop, &self.stats, || async {
            request.clone().send().await.map_err(|err| {
                self.clients
                    .explain(&format!("opening shard {}", self.shard_id), &err)
            })
        })
        .await?;
        output
            .shard_iterator()
            .map(str::to_string)
            .context("GetShardIterator answered without an iterator")
    }
}

/// A record as the pipeline reads it.
pub(super) fn raw_record(shard_id: &str, r: Record) -> RawRecord {
    let arrival_time = r
        .approximate_arrival_timestamp
        .and_then(|t| DateTime::from_timestamp_millis(t.to_millis().ok()?))
        .unwrap_or(DateTime::UNIX_EPOCH);
    RawRecord {
        shard_id: shard_id.to_string(),
        sequence_number: r.sequence_number,
        partition_key: r.partition_key.unwrap_or_default(),
        arrival_time,
        data: r.data.into_inner(),
    }
}

/// An iterator request that starts at `start`.
pub(super) fn starting_at(request: GetShardIterator, start: &StartPosition) -> GetShardIterator {
    match start {
        StartPosition::TrimHorizon => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
        StartPosition::Latest => request.shard_iterator_type(ShardIteratorType::Latest),
        StartPosition::AtTimestamp(t) => request
            .shard_iterator_type(ShardIteratorType::AtTimestamp)
            .timestamp(aws_sdk_kinesis::primitives::DateTime::from_millis(
                t.timestamp_millis(),
            )),
    }
}

/// Records to ask one GetRecords call for: about [`CALL_BYTES`] of them at the average size read
/// so far (the response is decoded whole, base64 and all; before the first call an article's
/// size is assumed), and no more than a chunk holds — except that a small chunk still asks for
/// [`MIN_RECORDS_PER_CALL`], so that it does not cap reading at 5 calls/s × a few records.
fn records_per_call(chunk_records: usize, read: &ReadSoFar) -> i32 {
    let average = match read.records {
        0 => ASSUMED_RECORD_BYTES,
        n => (read.bytes / n).max(1),
    };
    let by_size = CALL_BYTES / average;
    let floor = MIN_RECORDS_PER_CALL as usize;
    i32::try_from(chunk_records.max(floor).min(by_size))
        .unwrap_or(i32::MAX)
        .clamp(1, MAX_RECORDS_PER_CALL)
}

/// Whether a page with records says the shard was caught up: MillisBehindLatest reported as 0
/// and fewer records than asked for. `--once` writes its chunk then (once), while other shards
/// are still being read, instead of one call interval later when an empty answer confirms the
/// tip.
fn caught_up(count: u64, asked: i32, millis_behind_latest: Option<i64>) -> bool {
    count > 0 && millis_behind_latest == Some(0) && u64::try_from(asked).is_ok_and(|a| count < a)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a reader has read: `records` of `each` bytes.
    fn read(records: usize, each: usize) -> ReadSoFar {
        ReadSoFar {
            records,
            bytes: records * each,
        }
    }

    #[test]
    fn a_call_asks_for_a_chunk_but_no_more_than_about_four_mib_of_records_of_the_size_seen() {
        let fresh = ReadSoFar::default();
        assert_eq!(records_per_call(10_000, &fresh), 1_024);
        assert_eq!(records_per_call(10_000, &read(100, 1024)), 4_096);
        assert_eq!(records_per_call(3_000, &read(100, 1024)), 3_000);
        assert_eq!(records_per_call(10_000, &read(100, 20)), 10_000);
        assert_eq!(records_per_call(50_000, &read(100, 20)), 10_000);
    }

    #[test]
    fn a_small_chunk_still_asks_for_a_thousand_records_a_call() {
        assert_eq!(records_per_call(200, &ReadSoFar::default()), 1_000);
        assert_eq!(records_per_call(200, &read(10, 3 * 1024)), 1_000);
    }

    #[test]
    fn records_of_a_mebibyte_are_asked_for_four_at_a_time() {
        assert_eq!(records_per_call(10_000, &read(10, 1024 * 1024)), 4);
    }

    #[test]
    fn a_short_page_reported_zero_behind_is_caught_up() {
        assert!(caught_up(300, 2_560, Some(0)));
    }

    #[test]
    fn a_full_page_an_empty_page_a_lagging_page_or_a_missing_lag_is_not_caught_up() {
        assert!(!caught_up(2_560, 2_560, Some(0)));
        assert!(!caught_up(0, 2_560, Some(0)));
        assert!(!caught_up(300, 2_560, Some(15)));
        assert!(!caught_up(300, 2_560, None));
    }
}
