//! One shard's task: reads pages from the shard ([`ShardReader`]), hands them to the sink as
//! they come, cuts chunks by the flush policy, has the sink commit each chunk, then saves the
//! checkpoint. Reading resumes after what the tables hold.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::Utc;
use tokio::sync::watch;
use tracing::{debug, info};

use super::retry::{self, Retrying};
use super::sink::writer::{ChunkParts, ChunkWriter, ShardTables};
use super::source::checkpoint::{Checkpoint, CheckpointStore};
use super::source::reader::{Page, ShardReader};
use super::stats::{ShardState, Stats};
use crate::aws::AwsClients;
use crate::config::StartPosition;
use crate::summarize::pool::Cancel;

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

pub struct ShardTask {
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
    /// Set with `stop`: the summaries this task queued are dropped, since its chunk in hand
    /// will not be committed.
    pub cancel: Cancel,
    /// True while the operator has paused reading.
    pub paused: watch::Receiver<bool>,
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

/// What one page did to the chunk in hand.
enum Step {
    /// Read on.
    Next,
    /// The task ends.
    Exit(ReaderExit),
}

impl ShardTask {
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
        let Some(mut position) = self.position().await? else {
            return Ok(ReaderExit::Closed);
        };
        let mut reader = ShardReader::open(
            self.clients.clone(),
            &self.stream,
            &self.shard_id,
            self.start,
            position.tables.resume_after(),
            self.stats.clone(),
            self.stop.clone(),
        )
        .await?;
        let mut pending = Pending::default();
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
            let Some(page) = reader.next_page(self.policy.max_records).await? else {
                continue; // a stop: the loop's top lets go of what was read
            };
            let last_read = reader.last_read().map(str::to_string);
            match self
                .take(
                    page,
                    last_read,
                    &mut pending,
                    &mut position,
                    &mut flushed_early,
                )
                .await?
            {
                Step::Next => {}
                Step::Exit(exit) => return Ok(exit),
            }
        }
    }

    /// The shard's checkpoint and tables, or None when the checkpoint says the shard is done.
    async fn position(&self) -> Result<Option<Position>> {
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
            return Ok(None);
        }
        let tables = self
            .writer
            .shard_tables(&self.shard_id, &checkpoint)
            .await?;
        Ok(Some(Position { checkpoint, tables }))
    }

    /// Hands a page to the sink, then cuts and commits the chunk when the flush policy (or the
    /// shard's end, or `--once` at the tip) says so.
    async fn take(
        &self,
        page: Page,
        last_read: Option<String>,
        pending: &mut Pending,
        position: &mut Position,
        flushed_early: &mut bool,
    ) -> Result<Step> {
        let count = page.records.len() as u64;
        if pending.oldest.is_none() && count > 0 {
            pending.oldest = Some(Instant::now());
        }
        pending.bytes += page.bytes;
        let (at_tip, closed, caught_up) = (page.at_tip(), page.closed, page.caught_up);
        let lag = page.millis_behind_latest.unwrap_or(0);
        let added = self
            .writer
            .add(
                &mut pending.parts,
                &position.tables,
                page.records,
                &self.cancel,
            )
            .await;
        if let Err(err) = added {
            if *self.stop.borrow() {
                // Summaries cancelled by the stop: nothing of this chunk is committed.
                self.abandon(pending);
                return Ok(Step::Exit(ReaderExit::Stopped));
            }
            return Err(err);
        }
        self.stats.update_shard(&self.shard_id, |s| {
            s.records += count;
            s.millis_behind_latest = lag;
            s.last_sequence = last_read;
        });
        if closed {
            self.flush(pending, position, true).await?;
            self.stats
                .update_shard(&self.shard_id, |s| s.state = ShardState::Finished);
            info!(shard = %self.shard_id, "shard closed and fully written");
            return Ok(Step::Exit(ReaderExit::Closed));
        }
        let early = self.once && !*flushed_early && caught_up;
        *flushed_early |= early;
        let due = self.policy.should_flush(
            pending.parts.records(),
            pending.bytes,
            pending.oldest,
            Instant::now(),
        );
        if due || (self.once && at_tip) || early {
            self.flush(pending, position, false).await?;
        }
        // The run ends only on an empty answer: a closed shard's last records come with an
        // iterator still, and only the next (empty) answer says the shard is closed.
        if at_tip {
            if self.once {
                self.stats
                    .update_shard(&self.shard_id, |s| s.state = ShardState::AtTip);
                return Ok(Step::Exit(ReaderExit::AtTip));
            }
            let mut stop = self.stop.clone();
            tokio::select! {
                _ = tokio::time::sleep(IDLE_POLL) => {}
                _ = stop.changed() => {}
            }
        }
        Ok(Step::Next)
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

    /// Commits the chunk read so far (under the retry policy, until every table holds it, a
    /// stop is requested or the policy gives up), then moves the checkpoint to its end.
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
        let written = loop {
            let err = match self.writer.commit(tables, &mut taken.parts).await {
                Ok(written) => break written,
                Err(err) => err,
            };
            let waited = retrying
                .wait_after(err, "the chunk's commit", &self.stop, &self.stats)
                .await;
            if let Err(err) = waited {
                if *self.stop.borrow() || crate::aws::is_terminal(&err) {
                    self.abandon(&taken);
                }
                return Err(err.context(format!(
                    "a chunk of {records} records uncommitted; the checkpoint stays put and the \
                     records are read again"
                )));
            }
        };
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

    /// Saves the checkpoint under the retry policy: one failed PUT must not end the reader and
    /// make it read its chunk again. When the policy gives up, or a stop is requested, the
    /// tables still say where the shard stands.
    async fn save_checkpoint(&self, checkpoint: &Checkpoint) -> Result<()> {
        retry::until_done("saving the checkpoint", &self.stop, &self.stats, || {
            self.store.save(checkpoint)
        })
        .await
    }
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
}
