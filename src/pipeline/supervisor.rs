//! Keeps one reader task per readable shard: lists shards periodically, plans which may be read
//! (children after their parents), starts readers, and decides when a `--once` run is complete.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use super::record::Limits;
use super::sink::dedup::{DedupIndex, DEDUP_WINDOW};
use super::sink::lake::{recent_claims, Lake, TableKind};
use super::sink::writer::ChunkWriter;
use super::source::checkpoint::CheckpointStore;
use super::source::lineage::{plan, ShardInfo, ShardPlan};
use super::source::reader::{FlushPolicy, ReaderExit, ShardReader, StartPosition};
use super::stats::{ShardState, Stats};
use crate::aws::AwsClients;
use crate::backoff::Backoff;
use crate::summarize::pool::SummarizerPool;

/// How often the shard list is refreshed, to notice reshards.
pub const SHARD_REFRESH: Duration = Duration::from_secs(10);
/// Pauses before a failed reader is started again from its checkpoint.
const READER_RESTART: Backoff = Backoff {
    base: Duration::from_secs(1),
    cap: Duration::from_secs(30),
    min_fraction: 0.5,
};
/// In `--once` mode a shard whose reader failed this many times in a row is given up on, so a
/// shard that fails the same way each time ends the run instead of spinning; follow mode keeps
/// restarting it.
const ONCE_MAX_FAILURES: u32 = 6;

#[derive(Debug, Clone)]
pub struct PipelineOptions {
    pub stream: String,
    pub bucket: String,
    pub lake: Lake,
    pub start: StartPosition,
    pub policy: FlushPolicy,
    pub limits: Limits,
    pub once: bool,
    /// None: curated rows carry no summary.
    pub summarizer: Option<Arc<SummarizerPool>>,
    /// True while reading is paused (the console's `p`); readers write what they hold and wait.
    pub paused: watch::Receiver<bool>,
}

/// How the run ended.
#[derive(Debug, Clone, Default)]
pub struct RunOutcome {
    /// Shards whose reader ended with an error and was not started again (each is logged).
    pub failed_readers: u64,
    pub stopped: bool,
}

pub async fn run_pipeline(
    clients: AwsClients,
    options: PipelineOptions,
    stats: Arc<Stats>,
    stop: watch::Receiver<bool>,
) -> Result<RunOutcome> {
    let store = CheckpointStore::new(clients.clone(), &options.bucket, &options.stream);
    // Created here, before any reader: a lake that cannot be reached stops the run at once, and
    // the readers do not race to create the tables.
    let mut tables = Vec::new();
    for kind in TableKind::ALL {
        tables.push((kind, options.lake.open_or_create(kind).await?));
    }
    let summaries = &tables
        .iter()
        .find(|(kind, _)| *kind == TableKind::Summaries)
        .context("the summaries table")?
        .1;
    let dedup = seeded_index(summaries).await?;
    let writer = ChunkWriter {
        lake: options.lake.clone(),
        tables: Arc::new(tables),
        stream: options.stream.clone(),
        limits: options.limits,
        stats: stats.clone(),
        dedup: Arc::new(Mutex::new(dedup)),
        summarizer: options.summarizer.clone(),
    };
    let mut outcome = RunOutcome::default();
    let mut finished: HashSet<String> = HashSet::new();
    // Shards not to start again in this run: at the tip (`--once`) or given up on.
    let mut done: HashSet<String> = HashSet::new();
    let mut running: JoinSet<(String, Result<ReaderExit>)> = JoinSet::new();
    let mut running_ids: HashSet<String> = HashSet::new();
    // Per shard: failures in a row, and where its checkpoint stood at the last one.
    let mut failures: HashMap<String, (u32, Option<String>)> = HashMap::new();
    let new_reader = |shard_id: &str| ShardReader {
        clients: clients.clone(),
        stream: options.stream.clone(),
        shard_id: shard_id.to_string(),
        store: store.clone(),
        writer: writer.clone(),
        stats: stats.clone(),
        policy: options.policy,
        start: options.start,
        once: options.once,
        stop: stop.clone(),
        paused: options.paused.clone(),
    };
    let mut stop_signal = stop.clone();
    let mut refresh = tokio::time::interval(SHARD_REFRESH);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);

    loop {
        let stopping = *stop.borrow();
        if !stopping {
            let shards = match list_shards(&clients, &options.stream).await {
                Ok(shards) => shards,
                // Readers already running keep reading (they retry on their own); the list is
                // asked for again at the next refresh.
                Err(err) if !running.is_empty() => {
                    stats.error();
                    warn!(
                        "{err:#}; the shards being read go on, listing again in {} s",
                        SHARD_REFRESH.as_secs()
                    );
                    Vec::new()
                }
                Err(err) => return Err(err),
            };
            let plans = plan(&shards, &finished);
            for (shard_id, shard_plan) in &plans {
                match shard_plan {
                    ShardPlan::Read
                        if !running_ids.contains(shard_id) && !done.contains(shard_id) =>
                    {
                        running_ids.insert(shard_id.clone());
                        running.spawn(read_shard(new_reader(shard_id), Duration::ZERO));
                    }
                    ShardPlan::WaitForParents(_) => {
                        stats.update_shard(shard_id, |s| s.state = ShardState::WaitingForParent);
                    }
                    _ => {}
                }
            }
            if running.is_empty() {
                // Nothing readable is left: in --once mode the run is complete; in follow mode
                // every shard is closed (a deleted or fully resharded-away stream).
                info!("every readable shard is drained");
                return Ok(outcome);
            }
        } else if running.is_empty() {
            outcome.stopped = true;
            return Ok(outcome);
        }

        tokio::select! {
            joined = running.join_next() => {
                let Some(joined) = joined else { continue };
                let (shard_id, result) = joined.context("a shard reader panicked")?;
                running_ids.remove(&shard_id);
                match result {
                    Ok(ReaderExit::Closed) => { finished.insert(shard_id); }
                    Ok(ReaderExit::AtTip) => { done.insert(shard_id); }
                    Ok(ReaderExit::Stopped) => {}
                    Err(err) => {
                        stats.error();
                        let checkpoint = stats
                            .snapshot()
                            .shards
                            .get(&shard_id)
                            .and_then(|s| s.checkpoint.clone());
                        let (failed, at) = failures.entry(shard_id.clone()).or_default();
                        // A shard that moved its checkpoint since its last failure is making
                        // progress: count from one again.
                        if *at != checkpoint {
                            *failed = 0;
                            *at = checkpoint;
                        }
                        *failed += 1;
                        if *stop.borrow() || (options.once && *failed >= ONCE_MAX_FAILURES) {
                            outcome.failed_readers += 1;
                            error!("shard {shard_id}: {err:#}");
                            // Not started again in this run; its checkpoint says what is written.
                            done.insert(shard_id);
                        } else {
                            // A transient failure (the SDK's own retries ran out): the reader
                            // starts again from its checkpoint, replaying any pending chunk. It
                            // waits in its own task, so the other shards are not held up.
                            let pause = READER_RESTART.delay(*failed - 1);
                            warn!("shard {shard_id}: {err:#}; reading it again from its checkpoint in {pause:.1?}");
                            running_ids.insert(shard_id.clone());
                            running.spawn(read_shard(new_reader(&shard_id), pause));
                        }
                    }
                }
            }
            _ = refresh.tick() => {}
            _ = stop_signal.changed() => {
                // What is queued for summaries belongs to chunks that will not be committed.
                if let (true, Some(pool)) = (*stop.borrow(), &options.summarizer) {
                    pool.cancel();
                }
            }
        }
    }
}

/// The duplicate index, holding the ids of the newest rows of the summaries table: a producer
/// retry whose first copy was committed before a restart is still recognised (within the
/// index's window).
async fn seeded_index(summaries: &deltalake::DeltaTable) -> Result<DedupIndex> {
    let started = std::time::Instant::now();
    let claims = recent_claims(summaries, DEDUP_WINDOW).await?;
    let count = claims.len();
    let index = tokio::task::spawn_blocking(move || {
        let mut index = DedupIndex::default();
        for claim in &claims {
            index.claim(
                &claim.article_id,
                &claim.content_sha256,
                &claim.sequence_number,
            )?;
        }
        anyhow::Ok(index)
    })
    .await
    .context("seeding the duplicate index panicked")??;
    if count > 0 {
        info!(
            "duplicate index: {count} article ids of lake/summaries in {:.1?}",
            started.elapsed()
        );
    }
    Ok(index)
}

/// Runs a reader after `delay` (a restart's backoff), or not at all if a stop comes first.
async fn read_shard(reader: ShardReader, delay: Duration) -> (String, Result<ReaderExit>) {
    let mut stop = reader.stop.clone();
    if !delay.is_zero() {
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.wait_for(|s| *s) => return (reader.shard_id, Ok(ReaderExit::Stopped)),
        }
    }
    (reader.shard_id.clone(), reader.run().await)
}

/// Every shard of the stream, following ListShards pagination.
pub async fn list_shards(clients: &AwsClients, stream: &str) -> Result<Vec<ShardInfo>> {
    let mut shards = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let request = match &token {
            Some(t) => clients.kinesis.list_shards().next_token(t),
            None => clients.kinesis.list_shards().stream_name(stream),
        };
        let page = request
            .send()
            .await
            .map_err(|err| clients.explain(&format!("listing the shards of {stream}"), &err))?;
        shards.extend(page.shards().iter().map(|s| ShardInfo {
            shard_id: s.shard_id().to_string(),
            parent: s.parent_shard_id().map(str::to_string),
            adjacent_parent: s.adjacent_parent_shard_id().map(str::to_string),
        }));
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(shards);
        }
    }
}
