//! One shard, read and written: GetRecords in a loop, chunks cut by the flush policy, each chunk
//! committed to the tables and then checkpointed. Reading resumes after what the tables hold.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use aws_sdk_kinesis::types::{Record, ShardIteratorType};
use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::checkpoint::{Checkpoint, CheckpointStore};
use crate::aws::AwsClients;
use crate::config::StartPosition;
use crate::pipeline::retry::{self, Next, Retrying};
use crate::pipeline::rows::RawRecord;
use crate::pipeline::sink::writer::{ChunkParts, ChunkWriter, ShardTables};
use crate::pipeline::stats::{ShardState, Stats};
use crate::summarize::pool::Cancel;

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
/// Attempts at committing a chunk or saving a checkpoint before the reader fails and the
/// supervisor starts it again from its checkpoint: about a minute and a half of backoff. A
/// failure that is not an outage (a table the commit cannot read) would otherwise stall the
/// shard for good.
const WRITE_ATTEMPTS: u32 = 10;
/// Pause between polls of a shard that is at its tip, in follow mode.
const IDLE_POLL: Duration = Duration::from_millis(1000);

/// When a chunk is cut: at a record count, a size, or an age, whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushPolicy {
    pub max_records: usize,
    pub max_bytes: usize,
    pub max_age: Duration,
}

impl From<&crate::config::PipelineSettings> for FlushPolicy {
    fn from(settings: &crate::config::PipelineSettings) -> Self {
        Self {
            max_records: settings.flush_records,
            max_bytes: settings.flush_mib * 1024 * 1024,
            max_age: Duration::from_secs(settings.flush_age_secs),
        }
    }
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
    /// A stop was requested; what was read but not committed is read again on the next start.
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
    /// Set with `stop`: the summaries this reader queued are dropped, since its chunk in hand
    /// will not be committed.
    pub cancel: Cancel,
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

/// A shard's position: its checkpoint and its tables.
struct Position {
    checkpoint: Checkpoint,
    tables: ShardTables,
}

impl ShardReader {
    /// Reads the shard until its tip (`--once`), its end, or a stop. An error once a stop was
    /// requested is a stop (summaries cancelled, a commit cut short): nothing of the chunk in
    /// hand was committed, and the next start reads it again.
    pub async fn run(self) -> Result<ReaderExit> {
        match self.read().await {
            Err(err) if *self.stop.borrow() => {
                info!(shard = %self.shard_id, "stopped: {err:#}");
                Ok(ReaderExit::Stopped)
            }
            other => other,
        }
    }

    async fn read(&self) -> Result<ReaderExit> {
        let checkpoint =
            retry::until_done("loading the checkpoint", &self.stop, &self.stats, || {
                self.store.load(&self.shard_id)
            })
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
        let tables = self
            .writer
            .shard_tables(&self.shard_id, &checkpoint)
            .await?;
        let mut last_read = tables.resume_after();
        let mut position = Position { checkpoint, tables };
        let mut iterator = self.iterator_after(last_read.as_deref()).await?;
        let mut pending = Pending::default();
        let mut last_call = Instant::now() - MIN_CALL_INTERVAL;
        let mut retrying = Retrying::default();
        let mut read = ReadSoFar::default();
        // `--once` cuts at most one chunk early (below): on a stream still being written every
        // page may be short and caught up, and a chunk per page would be a flood of tiny files.
        let mut flushed_early = false;
        loop {
            if *self.stop.borrow() {
                self.abandon(&pending);
                return Ok(ReaderExit::Stopped);
            }
            if *self.paused.borrow() {
                self.pause(&mut pending, &mut position).await?;
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
                    retrying.succeeded();
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
                    self.stats.error();
                    let error = self
                        .clients
                        .explain(&format!("reading shard {}", self.shard_id), &err);
                    let pause = match retrying.after(&error) {
                        Next::Wait(pause) => pause,
                        Next::Stop(terminal) => return Err(terminal),
                    };
                    warn!("{error:#}; retrying in {pause:.1?}");
                    retry::sleep_unless_stopped(&self.stop, pause).await;
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
            let added = self
                .writer
                .add(&mut pending.parts, &position.tables, records, &self.cancel)
                .await;
            if let Err(err) = added {
                if *self.stop.borrow() {
                    // Summaries cancelled by the stop: nothing of this chunk is committed.
                    self.abandon(&pending);
                    return Ok(ReaderExit::Stopped);
                }
                return Err(err);
            }
            let reported_lag = output.millis_behind_latest();
            let lag = reported_lag.unwrap_or(0);
            self.stats.update_shard(&self.shard_id, |s| {
                s.records += count;
                s.millis_behind_latest = lag;
                s.last_sequence = last_read.clone();
            });

            let Some(next) = output.next_shard_iterator().map(str::to_string) else {
                self.flush(&mut pending, &mut position, true).await?;
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
                self.flush(&mut pending, &mut position, false).await?;
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
    async fn pause(&self, pending: &mut Pending, position: &mut Position) -> Result<()> {
        self.flush(pending, position, false).await?;
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

    /// On a stop: what was read but not committed is let go. The checkpoint never passed it,
    /// so the next start reads it again.
    fn abandon(&self, pending: &Pending) {
        let records = pending.parts.records();
        if records > 0 {
            info!(shard = %self.shard_id, records,
                  "stopping with records read but not committed; the next start reads them again");
            self.stats
                .update_shard(&self.shard_id, |s| s.uncommitted = records as u64);
        }
    }

    /// Commits the chunk read so far (retrying with backoff until every table holds it, a stop
    /// is requested or [`WRITE_ATTEMPTS`] failed), then moves the checkpoint to its end.
    async fn flush(
        &self,
        pending: &mut Pending,
        position: &mut Position,
        closed: bool,
    ) -> Result<()> {
        let mut taken = std::mem::take(pending);
        let Some(last) = taken.parts.last_sequence().map(str::to_string) else {
            if closed && !position.checkpoint.finished {
                position.checkpoint.finished = true;
                position.checkpoint.updated_at = Utc::now();
                self.save_checkpoint(&position.checkpoint).await?;
            }
            return Ok(());
        };
        let records = taken.parts.records();
        if let Err(err) = taken.parts.finish_summaries().await {
            if *self.stop.borrow() {
                self.abandon(&taken);
            }
            return Err(err);
        }
        let tables = &mut position.tables;
        let mut retrying = Retrying::default();
        let result = loop {
            match self.writer.commit(tables, &mut taken.parts).await {
                Ok(written) => break Ok(written),
                Err(err) => {
                    self.stats.error();
                    let pause = match retrying.after(&err) {
                        Next::Wait(pause) => pause,
                        Next::Stop(terminal) => {
                            self.abandon(&taken);
                            break Err(terminal);
                        }
                    };
                    let attempt = retrying.failures();
                    if attempt >= WRITE_ATTEMPTS {
                        break Err(err.context(format!(
                            "a chunk of {records} records uncommitted after {attempt} attempts; \
                             the checkpoint stays put and the records are read again"
                        )));
                    }
                    if *self.stop.borrow() {
                        self.abandon(&taken);
                        break Err(err.context(
                            "stopping with a chunk uncommitted; the next start reads it again",
                        ));
                    }
                    warn!("{err:#}; retrying the chunk's commit in {pause:.1?}");
                    if !retry::sleep_unless_stopped(&self.stop, pause).await {
                        self.abandon(&taken);
                        break Err(err.context(
                            "stopping with a chunk uncommitted; the next start reads it again",
                        ));
                    }
                }
            }
        };
        let written = result?;
        debug!(shard = %self.shard_id, records = written.records, files = written.files, "chunk committed");
        let checkpoint = &mut position.checkpoint;
        checkpoint.sequence_number = Some(last);
        checkpoint.chunks = position.tables.chunks();
        checkpoint.positions = position.tables.positions();
        checkpoint.finished = closed;
        checkpoint.updated_at = Utc::now();
        crate::crash::point("before-checkpoint");
        self.save_checkpoint(checkpoint).await?;
        let at = checkpoint.sequence_number.clone();
        self.stats.update_shard(&self.shard_id, |s| {
            s.checkpoint = at;
            s.uncommitted = 0;
        });
        Ok(())
    }

    /// Saves the checkpoint, retrying with backoff (each failure counted in the stats and
    /// logged): one failed PUT must not end the reader and make it read its chunk again. Gives
    /// up after [`WRITE_ATTEMPTS`] failures, or at once when a stop is requested; the tables
    /// then still say where the shard stands.
    async fn save_checkpoint(&self, checkpoint: &Checkpoint) -> Result<()> {
        let mut retrying = Retrying::default();
        loop {
            let Err(err) = self.store.save(checkpoint).await else {
                return Ok(());
            };
            self.stats.error();
            let pause = match retrying.after(&err) {
                Next::Wait(pause) => pause,
                Next::Stop(terminal) => return Err(terminal),
            };
            let failures = retrying.failures();
            if failures >= WRITE_ATTEMPTS {
                return Err(
                    err.context(format!("the checkpoint unsaved after {failures} attempts"))
                );
            }
            warn!("{err:#}; retrying the checkpoint in {pause:.1?}");
            if !retry::sleep_unless_stopped(&self.stop, pause).await {
                return Err(err.context("stopping with the checkpoint unsaved"));
            }
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
}
