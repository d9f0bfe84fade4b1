//! One shard, read and written: GetRecords in a loop, chunks cut by the flush policy, each chunk
//! written and then checkpointed.

use std::cmp::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aws_sdk_kinesis::types::{Record, ShardIteratorType};
use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::checkpoint::{Checkpoint, CheckpointStore, PendingRange};
use crate::aws::AwsClients;
use crate::backoff::Backoff;
use crate::pipeline::rows::RawRecord;
use crate::pipeline::sink::layout::ChunkId;
use crate::pipeline::sink::writer::{ChunkParts, ChunkPlan, ChunkWriter};
use crate::pipeline::stats::{ShardState, Stats};

/// Kinesis allows 5 GetRecords calls per second per shard.
const MIN_CALL_INTERVAL: Duration = Duration::from_millis(200);
const MAX_RECORDS_PER_CALL: i32 = 10_000;
const MIN_RECORDS_PER_CALL: i32 = 1_000;
/// What one GetRecords response should hold. Kinesis caps an answer at 10 MiB (emulators may
/// not), but a shard serves 2 MiB/s anyway, and an answer is held decoded whole (base64 body,
/// then records): 4 MiB instead of 10 took 35 MB off the peak RSS of a 100,000-record backlog
/// at the same rate.
const CALL_BYTES: usize = 4 * 1024 * 1024;
/// Record size assumed before the first call: a news article of a few hundred words.
const ASSUMED_RECORD_BYTES: usize = 4 * 1024;
/// Attempts at writing a chunk or a checkpoint (each with the SDK's own retries) before the
/// reader fails and the supervisor starts it again: about a minute and a half of backoff.
const WRITE_ATTEMPTS: u32 = 10;
/// Pause between polls of a shard that is at its tip, in follow mode.
const IDLE_POLL: Duration = Duration::from_millis(1000);
/// For reads and chunk writes: a floor of half the ceiling, so an outage is not hammered.
const BACKOFF: Backoff = Backoff {
    base: Duration::from_millis(200),
    cap: Duration::from_secs(30),
    min_fraction: 0.5,
};

/// Where to start a shard that has no checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartPosition {
    TrimHorizon,
    Latest,
    AtTimestamp(DateTime<Utc>),
}

impl std::str::FromStr for StartPosition {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "trim-horizon" => Ok(StartPosition::TrimHorizon),
            "latest" => Ok(StartPosition::Latest),
            _ => s
                .strip_prefix("at-timestamp=")
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| StartPosition::AtTimestamp(t.with_timezone(&Utc)))
                .ok_or_else(|| {
                    "expected trim-horizon, latest or at-timestamp=RFC3339 (e.g. at-timestamp=2026-11-23T08:00:00Z)"
                        .to_string()
                }),
        }
    }
}

/// When a chunk is cut: at a record count, a size, or an age, whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushPolicy {
    pub max_records: usize,
    pub max_bytes: usize,
    pub max_age: Duration,
}

impl FlushPolicy {
    /// `oldest` is when the first record of the pending chunk was read.
    pub fn should_flush(
        &self,
        records: usize,
        bytes: usize,
        oldest: Option<Instant>,
        now: Instant,
    ) -> bool {
        records > 0
            && (records >= self.max_records
                || bytes >= self.max_bytes
                || oldest.is_some_and(|t| now.saturating_duration_since(t) >= self.max_age))
    }
}

/// Why a reader stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReaderExit {
    /// `--once`: everything up to the tip is written.
    AtTip,
    /// The shard is closed and every record of it is written.
    Closed,
    /// A stop was requested; what was read is written and checkpointed.
    Stopped,
}

pub struct ShardReader {
    pub clients: AwsClients,
    pub stream: String,
    pub shard_id: String,
    pub store: CheckpointStore,
    pub writer: ChunkWriter,
    pub stats: Arc<Stats>,
    pub policy: FlushPolicy,
    pub start: StartPosition,
    pub once: bool,
    pub stop: watch::Receiver<bool>,
    /// True while the operator has paused reading.
    pub paused: watch::Receiver<bool>,
}

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

/// The chunk being read: its records already parsed, and what the flush policy looks at.
#[derive(Default)]
struct Pending {
    parts: ChunkParts,
    bytes: usize,
    oldest: Option<Instant>,
}

impl ShardReader {
    pub async fn run(self) -> Result<ReaderExit> {
        let mut checkpoint = self
            .store
            .load(&self.shard_id)
            .await?
            .unwrap_or_else(|| Checkpoint::new(&self.shard_id));
        self.stats.update_shard(&self.shard_id, |s| {
            s.checkpoint = checkpoint.sequence_number.clone();
            s.state = ShardState::Reading;
        });
        if checkpoint.finished {
            self.stats
                .update_shard(&self.shard_id, |s| s.state = ShardState::Finished);
            return Ok(ReaderExit::Closed);
        }
        if let Some(range) = checkpoint.pending.clone() {
            info!(shard = %self.shard_id, first = %range.first_sequence, last = %range.last_sequence,
                  "replaying a chunk that may be partly written");
            let parts = self.replay_range(&range).await?;
            let plan = self.writer.prepare(&self.chunk_id(&range), parts).await;
            self.write_chunk(plan, &mut checkpoint, false).await?;
        }

        let mut last_read = checkpoint.sequence_number.clone();
        let mut iterator = self.iterator_after(last_read.as_deref()).await?;
        let mut pending = Pending::default();
        let mut last_call = Instant::now() - MIN_CALL_INTERVAL;
        let mut failures = 0u32;
        let mut read = ReadSoFar::default();
        // `--once` cuts at most one chunk early (below): on a stream still being written every
        // page may be short and caught up, and a chunk per page would be a flood of tiny files.
        let mut flushed_early = false;
        loop {
            if *self.stop.borrow() {
                self.flush(&mut pending, &mut checkpoint, false).await?;
                return Ok(ReaderExit::Stopped);
            }
            if *self.paused.borrow() {
                self.pause(&mut pending, &mut checkpoint).await?;
                continue;
            }
            let wait = MIN_CALL_INTERVAL.saturating_sub(last_call.elapsed());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            last_call = Instant::now();
            let limit = records_per_call(self.policy.max_records, &read);
            let response = self
                .clients
                .kinesis
                .get_records()
                .shard_iterator(&iterator)
                .limit(limit)
                .send()
                .await;
            let mut output = match response {
                Ok(output) => {
                    failures = 0;
                    output
                }
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_expired_iterator_exception()) =>
                {
                    debug!(shard = %self.shard_id, "shard iterator expired; renewing");
                    iterator = self.iterator_after(last_read.as_deref()).await?;
                    continue;
                }
                Err(err) => {
                    failures += 1;
                    self.stats.error();
                    let error = self
                        .clients
                        .explain(&format!("reading shard {}", self.shard_id), &err);
                    let pause = BACKOFF.delay(failures);
                    warn!("{error:#}; retrying in {pause:.1?}");
                    tokio::time::sleep(pause).await;
                    continue;
                }
            };

            // Moved, not copied, out of the response: a full call holds megabytes.
            let records = std::mem::take(&mut output.records);
            let count = records.len() as u64;
            let bytes = read.add(&records);
            self.stats.records_read(count, bytes as u64);
            if let Some(last) = records.last() {
                last_read = Some(last.sequence_number().to_string());
            }
            if pending.oldest.is_none() && count > 0 {
                pending.oldest = Some(Instant::now());
            }
            pending.bytes += bytes;
            let records = records.into_iter().map(|r| self.raw_record(r)).collect();
            let parts = std::mem::take(&mut pending.parts);
            pending.parts = self.writer.add(parts, records).await?;
            let reported_lag = output.millis_behind_latest();
            let lag = reported_lag.unwrap_or(0);
            self.stats.update_shard(&self.shard_id, |s| {
                s.records += count;
                s.millis_behind_latest = lag;
                s.last_sequence = last_read.clone();
            });

            let Some(next) = output.next_shard_iterator().map(str::to_string) else {
                self.flush(&mut pending, &mut checkpoint, true).await?;
                self.stats
                    .update_shard(&self.shard_id, |s| s.state = ShardState::Finished);
                info!(shard = %self.shard_id, "shard closed and fully written");
                return Ok(ReaderExit::Closed);
            };
            iterator = next;
            let at_tip = count == 0 && lag == 0;
            let early = self.once && !flushed_early && caught_up(count, limit, reported_lag);
            flushed_early |= early;
            if self.policy.should_flush(
                pending.parts.records(),
                pending.bytes,
                pending.oldest,
                Instant::now(),
            ) || (self.once && at_tip)
                || early
            {
                self.flush(&mut pending, &mut checkpoint, false).await?;
            }
            // The run ends only on an empty answer: a closed shard's last records come with an
            // iterator still, and only the next (empty) answer says the shard is closed.
            if at_tip {
                if self.once {
                    self.stats
                        .update_shard(&self.shard_id, |s| s.state = ShardState::AtTip);
                    return Ok(ReaderExit::AtTip);
                }
                let mut stop = self.stop.clone();
                tokio::select! {
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }

    /// Writes what was read, then waits for a resume or a stop. A long pause may outlive the
    /// shard iterator; the loop renews an expired one.
    async fn pause(&self, pending: &mut Pending, checkpoint: &mut Checkpoint) -> Result<()> {
        self.flush(pending, checkpoint, false).await?;
        self.stats
            .update_shard(&self.shard_id, |s| s.state = ShardState::Paused);
        let (mut paused, mut stop) = (self.paused.clone(), self.stop.clone());
        let resumed = tokio::select! {
            r = paused.wait_for(|p| !*p) => r.is_ok(),
            r = stop.wait_for(|s| *s) => r.is_ok(),
        };
        if !resumed {
            // The controls are gone (the engine is shutting down): do not spin.
            tokio::time::sleep(IDLE_POLL).await;
        }
        self.stats
            .update_shard(&self.shard_id, |s| s.state = ShardState::Reading);
        Ok(())
    }

    fn raw_record(&self, r: Record) -> RawRecord {
        let arrival_time = r
            .approximate_arrival_timestamp
            .and_then(|t| DateTime::from_timestamp_millis(t.to_millis().ok()?))
            .unwrap_or(DateTime::UNIX_EPOCH);
        RawRecord {
            shard_id: self.shard_id.clone(),
            sequence_number: r.sequence_number,
            partition_key: r.partition_key.unwrap_or_default(),
            arrival_time,
            data: r.data.into_inner(),
        }
    }

    fn chunk_id(&self, range: &PendingRange) -> ChunkId {
        ChunkId {
            stream: self.stream.clone(),
            shard_id: self.shard_id.clone(),
            first_sequence: range.first_sequence.clone(),
            last_sequence: range.last_sequence.clone(),
        }
    }

    async fn flush(
        &self,
        pending: &mut Pending,
        checkpoint: &mut Checkpoint,
        closed: bool,
    ) -> Result<()> {
        let parts = std::mem::take(pending).parts;
        let Some((first, last)) = parts.range() else {
            if closed && !checkpoint.finished {
                checkpoint.finished = true;
                checkpoint.updated_at = Utc::now();
                self.save_checkpoint(checkpoint).await?;
            }
            return Ok(());
        };
        let range = PendingRange {
            first_sequence: first.to_string(),
            last_sequence: last.to_string(),
        };
        // Record the intended cut before any object exists, so a crash replays this exact range.
        // Ending the chunk's spill needs no object and runs meanwhile.
        checkpoint.pending = Some(range.clone());
        checkpoint.updated_at = Utc::now();
        let chunk = self.chunk_id(&range);
        let (saved, plan) = tokio::join!(
            self.save_checkpoint(checkpoint),
            self.writer.prepare(&chunk, parts)
        );
        saved?;
        self.write_chunk(plan, checkpoint, closed).await
    }

    /// Encodes and uploads a cut chunk (retrying with backoff until it is in S3, a stop is
    /// requested or [`WRITE_ATTEMPTS`] failed), then moves the checkpoint to its end. A chunk
    /// that could not be prepared fails the reader at once: the supervisor starts it again, and
    /// it replays the pending range from the stream.
    async fn write_chunk(
        &self,
        plan: Result<Arc<ChunkPlan>>,
        checkpoint: &mut Checkpoint,
        closed: bool,
    ) -> Result<()> {
        let plan = plan.context("preparing a chunk")?;
        let chunk = plan.chunk();
        // A retry redoes only the objects not yet in S3; the supervisor starts a reader that
        // gave up again, and it replays this chunk.
        self.retry_write("the chunk (checkpoint stays put)", || {
            self.writer.write(&plan)
        })
        .await
        .map_err(|(err, ended)| {
            let stem = chunk.stem();
            err.context(match ended {
                GaveUp::After(attempts) => {
                    format!("chunk {stem} unwritten after {attempts} attempts")
                }
                GaveUp::Stopped => {
                    format!("stopping with chunk {stem} unwritten; the next run replays it")
                }
            })
        })?;
        let written = self.writer.written(&plan);
        debug!(shard = %self.shard_id, records = written.records, files = written.files, "chunk written");
        checkpoint.sequence_number = Some(chunk.last_sequence.clone());
        checkpoint.pending = None;
        checkpoint.finished = closed;
        checkpoint.updated_at = Utc::now();
        self.save_checkpoint(checkpoint).await?;
        let position = checkpoint.sequence_number.clone();
        self.stats
            .update_shard(&self.shard_id, |s| s.checkpoint = position);
        Ok(())
    }

    /// Saves the checkpoint, retrying with backoff: one failed PUT must not end the reader (and
    /// make it write its chunk again).
    async fn save_checkpoint(&self, checkpoint: &Checkpoint) -> Result<()> {
        self.retry_write("the checkpoint", || self.store.save(checkpoint))
            .await
            .map_err(|(err, _)| err)
    }

    /// Runs a write until it succeeds, pausing with backoff between failures (each counted in
    /// the stats and logged). Gives up after [`WRITE_ATTEMPTS`] failures, or at once when a stop
    /// is requested, with the last error and why it ended.
    async fn retry_write<F, Fut>(
        &self,
        what: &str,
        mut attempt: F,
    ) -> Result<(), (anyhow::Error, GaveUp)>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        let mut failures = 0u32;
        loop {
            let Err(err) = attempt().await else {
                return Ok(());
            };
            failures += 1;
            self.stats.error();
            if failures >= WRITE_ATTEMPTS {
                return Err((err, GaveUp::After(failures)));
            }
            if *self.stop.borrow() {
                return Err((err, GaveUp::Stopped));
            }
            let pause = BACKOFF.delay(failures);
            warn!("{err:#}; retrying {what} in {pause:.1?}");
            if !self.sleep_unless_stopped(pause).await {
                return Err((err, GaveUp::Stopped));
            }
        }
    }

    /// Waits `pause`; false when a stop was requested before or during it.
    async fn sleep_unless_stopped(&self, pause: Duration) -> bool {
        let mut stop = self.stop.clone();
        tokio::select! {
            _ = tokio::time::sleep(pause) => !*self.stop.borrow(),
            _ = stop.wait_for(|s| *s) => false,
        }
    }

    async fn iterator_after(&self, sequence: Option<&str>) -> Result<String> {
        let mut request = self
            .clients
            .kinesis
            .get_shard_iterator()
            .stream_name(&self.stream)
            .shard_id(&self.shard_id);
        request = match (sequence, self.start) {
            (Some(seq), _) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(seq),
            (None, StartPosition::TrimHorizon) => {
                request.shard_iterator_type(ShardIteratorType::TrimHorizon)
            }
            (None, StartPosition::Latest) => request.shard_iterator_type(ShardIteratorType::Latest),
            (None, StartPosition::AtTimestamp(t)) => request
                .shard_iterator_type(ShardIteratorType::AtTimestamp)
                .timestamp(aws_sdk_kinesis::primitives::DateTime::from_millis(
                    t.timestamp_millis(),
                )),
        };
        let output = request.send().await.map_err(|err| {
            self.clients
                .explain(&format!("opening shard {}", self.shard_id), &err)
        })?;
        output
            .shard_iterator()
            .map(str::to_string)
            .context("GetShardIterator answered without an iterator")
    }

    /// Reads exactly the records of a pending range, first to last inclusive, parsing each page
    /// into the chunk's parts as it arrives.
    async fn replay_range(&self, range: &PendingRange) -> Result<ChunkParts> {
        let output = self
            .clients
            .kinesis
            .get_shard_iterator()
            .stream_name(&self.stream)
            .shard_id(&self.shard_id)
            .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
            .starting_sequence_number(&range.first_sequence)
            .send()
            .await
            .map_err(|err| {
                self.clients.explain(
                    &format!(
                        "reopening shard {} at {} to replay a chunk",
                        self.shard_id, range.first_sequence
                    ),
                    &err,
                )
            })?;
        let mut iterator = output.shard_iterator().map(str::to_string);
        let mut parts = ChunkParts::default();
        let mut read = ReadSoFar::default();
        while let Some(it) = iterator {
            let mut page = self
                .clients
                .kinesis
                .get_records()
                .shard_iterator(it)
                .limit(records_per_call(MAX_RECORDS_PER_CALL as usize, &read))
                .send()
                .await
                .map_err(|err| {
                    self.clients
                        .explain(&format!("replaying shard {}", self.shard_id), &err)
                })?;
            let page_records = std::mem::take(&mut page.records);
            let empty = page_records.is_empty();
            read.add(&page_records);
            let mut records = Vec::with_capacity(page_records.len());
            let mut complete = false;
            for record in page_records {
                let position = compare_sequence(record.sequence_number(), &range.last_sequence);
                if position != Ordering::Greater {
                    records.push(self.raw_record(record));
                }
                if position != Ordering::Less {
                    complete = true;
                    break;
                }
            }
            parts = self.writer.add(parts, records).await?;
            if complete || (empty && page.millis_behind_latest().unwrap_or(0) == 0) {
                break;
            }
            iterator = page.next_shard_iterator().map(str::to_string);
        }
        let read_whole_range = parts.range().is_some_and(|(first, last)| {
            compare_sequence(first, &range.first_sequence) == Ordering::Equal
                && compare_sequence(last, &range.last_sequence) == Ordering::Equal
        });
        if !read_whole_range {
            // Writing a part of the range under the whole range's keys would overwrite what an
            // earlier attempt may have written completely.
            bail!(
                "shard {} no longer holds all of the chunk {}..{} to replay (read {}; trimmed by \
                 retention?)",
                self.shard_id,
                range.first_sequence,
                range.last_sequence,
                parts
                    .range()
                    .map_or("nothing".to_string(), |(f, l)| format!("{f}..{l}"))
            );
        }
        Ok(parts)
    }
}

/// Why a retried write stopped trying.
enum GaveUp {
    After(u32),
    Stopped,
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

/// Sequence numbers are decimal strings of up to 128 bits: compare them as numbers.
pub fn compare_sequence(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_positions_parse_from_the_flag_forms() {
        assert_eq!("trim-horizon".parse(), Ok(StartPosition::TrimHorizon));
        assert_eq!("latest".parse(), Ok(StartPosition::Latest));
        let at: StartPosition = "at-timestamp=2026-11-23T08:00:00Z".parse().unwrap();
        assert!(matches!(at, StartPosition::AtTimestamp(t) if t.timestamp() == 1_795_420_800));
        assert!("at-timestamp=yesterday".parse::<StartPosition>().is_err());
        assert!("earliest".parse::<StartPosition>().is_err());
    }

    #[test]
    fn flush_happens_at_count_size_or_age() {
        let policy = FlushPolicy {
            max_records: 10,
            max_bytes: 1000,
            max_age: Duration::from_secs(5),
        };
        let now = Instant::now();
        assert!(!policy.should_flush(0, 0, None, now));
        assert!(!policy.should_flush(9, 999, Some(now), now));
        assert!(policy.should_flush(10, 1, Some(now), now));
        assert!(policy.should_flush(1, 1000, Some(now), now));
        assert!(policy.should_flush(1, 1, Some(now), now + Duration::from_secs(5)));
    }

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

    #[test]
    fn sequence_numbers_compare_as_numbers() {
        assert_eq!(compare_sequence("9", "10"), Ordering::Less);
        assert_eq!(
            compare_sequence(
                "49590338271490256608559692538361571095921575989136588802",
                "49590338271490256608559692538361571095921575989136588801"
            ),
            Ordering::Greater
        );
        assert_eq!(compare_sequence("007", "7"), Ordering::Equal);
    }

    #[test]
    fn backoff_stays_within_its_cap() {
        for n in 0..40 {
            assert!(BACKOFF.delay(n) <= BACKOFF.cap);
        }
    }
}
