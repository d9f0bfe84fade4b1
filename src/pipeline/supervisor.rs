//! Keeps one reader task per readable shard: lists shards periodically, plans which may be read
//! (children after their parents) or follows the shards this worker's leases cover, starts and
//! stops readers, and decides when a `--once` run is complete.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use super::record::Limits;
use super::shard::{FlushPolicy, ReaderExit, ShardTask};
use super::sink::dedup::{DedupIndex, DEDUP_WINDOW};
use super::sink::lake::{Lake, TableKind};
use super::sink::writer::ChunkWriter;
use super::source::checkpoint::CheckpointStore;
use super::source::lineage::{list_shards, plan, ShardPlan};
use super::stats::{ShardState, Stats};
use crate::aws::AwsClients;
use crate::backoff::Backoff;
use crate::config::StartPosition;
use crate::lease::coordinator::Coordinator;
use crate::lease::table::LeaseTable;
use crate::lease::LeaseSettings;
use crate::maintenance::files::recent_claims;
use crate::summarize::pool::{Cancel, SummarizerPool};

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
    /// Workers share the stream through this lease table; None: this process reads every shard.
    pub leases: Option<LeaseSettings>,
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
    // The readers' and the supervisor's loops retry by themselves (pipeline::retry): their calls
    // make one attempt. The lease coordinator's rounds are not loops that retry, so its calls
    // keep the SDK's attempts, each round bounded by the renewal interval.
    let reading = clients.single_attempt();
    let store = match &options.leases {
        Some(leases) => CheckpointStore::with(crate::lease::LeaseCheckpoints {
            table: LeaseTable::new(reading.clone(), &leases.table),
            worker: leases.worker.clone(),
        }),
        None => CheckpointStore::new(reading.clone(), &options.bucket, &options.stream),
    };
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
        worker: options
            .leases
            .as_ref()
            .map_or_else(crate::lease::worker_name, |leases| leases.worker.clone()),
    };
    // With a lease table, this worker reads the shards whose leases it holds; they are given
    // back once its readers have ended, after their last commit.
    let coordinator = options.leases.as_ref().map(|leases| {
        Coordinator {
            clients: clients.clone(),
            table: LeaseTable::new(clients.clone(), &leases.table),
            stream: options.stream.clone(),
            settings: leases.clone(),
            stats: stats.clone(),
        }
        .start(stop.clone())
    });
    let supervisor = Supervisor {
        clients: &reading,
        options: &options,
        stats: &stats,
        stop: &stop,
        store,
        writer,
    };
    let held = coordinator.as_ref().map(|c| c.held.clone());
    let outcome = supervisor.supervise(held).await;
    if let Some(coordinator) = coordinator {
        coordinator.release().await;
    }
    outcome
}

struct Supervisor<'a> {
    clients: &'a AwsClients,
    options: &'a PipelineOptions,
    stats: &'a Arc<Stats>,
    stop: &'a watch::Receiver<bool>,
    store: CheckpointStore,
    writer: ChunkWriter,
}

impl Supervisor<'_> {
    /// Runs a reader per readable shard until the run ends: every shard drained (`--once`, or a
    /// stream closed everywhere), or a stop. `held`: the shards this worker's leases cover, when
    /// workers share the stream; otherwise every shard is read, children after their parents.
    async fn supervise(
        &self,
        mut held: Option<watch::Receiver<BTreeSet<String>>>,
    ) -> Result<RunOutcome> {
        let stop = self.stop;
        let mut outcome = RunOutcome::default();
        let mut tasks = Tasks::default();
        let mut stop_signal = stop.clone();
        let mut refresh = tokio::time::interval(SHARD_REFRESH);
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);

        loop {
            let stopping = *stop.borrow();
            if stopping {
                for reader_stop in tasks.stops.values().filter(|r| !r.requested()) {
                    reader_stop.request();
                }
            } else {
                let readable = match &held {
                    Some(held) => held.borrow().iter().cloned().collect(),
                    // A stop does not wait for a slow listing: the loop comes round at once.
                    None => tokio::select! {
                        readable = self.readable(&tasks.finished, !tasks.running.is_empty()) => {
                            readable?.unwrap_or_default()
                        }
                        _ = stop_signal.wait_for(|s| *s) => continue,
                    },
                };
                for shard_id in &readable {
                    if !tasks.stops.contains_key(shard_id) && !tasks.done.contains(shard_id) {
                        let task = self.reader(shard_id, &mut tasks.stops);
                        tasks.running.spawn(read_shard(task, Duration::ZERO));
                    }
                }
                if held.is_some() {
                    for (shard_id, reader_stop) in &tasks.stops {
                        if !readable.contains(shard_id) && !reader_stop.requested() {
                            info!("shard {shard_id}: its lease is another worker's now; stopping its reader");
                            reader_stop.request();
                        }
                    }
                } else if tasks.running.is_empty() {
                    // Nothing readable is left: in --once mode the run is complete; in follow
                    // mode every shard is closed (a deleted or fully resharded-away stream).
                    info!("every readable shard is drained");
                    return Ok(outcome);
                }
            }
            if stopping && tasks.running.is_empty() {
                outcome.stopped = true;
                return Ok(outcome);
            }

            tokio::select! {
                joined = tasks.running.join_next(), if !tasks.running.is_empty() => {
                    let Some(joined) = joined else { continue };
                    let (shard_id, result) = joined.context("a shard reader panicked")?;
                    self.ended(shard_id, result, &mut tasks, held.as_ref(), &mut outcome)?;
                }
                changed = async {
                    match held.as_mut() {
                        Some(held) => held.changed().await,
                        None => std::future::pending().await,
                    }
                } => {
                    if changed.is_err() {
                        anyhow::bail!("the lease coordinator ended before the readers");
                    }
                }
                _ = refresh.tick() => {}
                _ = stop_signal.changed() => {
                    if *stop.borrow() {
                        for reader_stop in tasks.stops.values() {
                            reader_stop.request();
                        }
                    }
                }
            }
        }
    }

    /// What follows a shard task's end: the shard done, a restart after a pause, or the run's
    /// end (what retrying cannot fix).
    fn ended(
        &self,
        shard_id: String,
        result: Result<ReaderExit>,
        tasks: &mut Tasks,
        held: Option<&watch::Receiver<BTreeSet<String>>>,
        outcome: &mut RunOutcome,
    ) -> Result<()> {
        let (options, stats, stop) = (self.options, self.stats, self.stop);
        let lost = tasks.stops.remove(&shard_id).is_some_and(|s| s.requested()) && !*stop.borrow();
        match result {
            Ok(ReaderExit::Closed) => {
                tasks.finished.insert(shard_id.clone());
                tasks.done.insert(shard_id);
            }
            Ok(ReaderExit::AtTip) => {
                tasks.done.insert(shard_id);
            }
            Ok(ReaderExit::Stopped) => {
                if lost {
                    stats.update_shard(&shard_id, |s| s.state = ShardState::Elsewhere);
                }
            }
            Err(err) if crate::aws::is_terminal(&err) => {
                // Retrying cannot fix it (the stream deleted, credentials refused): the run
                // stops, even when the lease went meanwhile (refused credentials lose it too);
                // what is committed is checkpointed.
                stats.error();
                return Err(err);
            }
            Err(err) if lost => {
                // Fenced at its commit, most likely: the new owner committed first.
                stats.update_shard(&shard_id, |s| s.state = ShardState::Elsewhere);
                info!("shard {shard_id}: its reader ended after the lease moved: {err:#}");
            }
            Err(err) => {
                stats.error();
                let checkpoint = stats
                    .snapshot()
                    .shards
                    .get(&shard_id)
                    .and_then(|s| s.checkpoint.clone());
                let (failed, at) = tasks.failures.entry(shard_id.clone()).or_default();
                // A shard that moved its checkpoint since its last failure is making progress:
                // count from one again.
                if *at != checkpoint {
                    *failed = 0;
                    *at = checkpoint;
                }
                *failed += 1;
                if *stop.borrow() || (options.once && *failed >= ONCE_MAX_FAILURES) {
                    outcome.failed_readers += 1;
                    error!("shard {shard_id}: {err:#}");
                    // Not started again in this run; its checkpoint says what is written.
                    tasks.done.insert(shard_id);
                } else if held.is_some_and(|h| !h.borrow().contains(&shard_id)) {
                    // Its lease is gone meanwhile: its new owner reads it.
                    stats.update_shard(&shard_id, |s| s.state = ShardState::Elsewhere);
                    warn!("shard {shard_id}: {err:#}; its lease is another worker's now");
                } else {
                    // A failure the retry policy does not retry: the task starts again from its
                    // checkpoint, replaying any pending chunk. It waits in its own task, so the
                    // other shards are not held up.
                    let pause = READER_RESTART.delay(*failed - 1);
                    warn!("shard {shard_id}: {err:#}; reading it again from its checkpoint in {pause:.1?}");
                    let task = self.reader(&shard_id, &mut tasks.stops);
                    tasks.running.spawn(read_shard(task, pause));
                }
            }
        }
        Ok(())
    }

    /// The shards to read now, children after their parents (one process reading every shard).
    /// None when the listing failed while readers are running: they go on, and the list is
    /// asked for again at the next refresh.
    async fn readable(
        &self,
        finished: &HashSet<String>,
        readers_running: bool,
    ) -> Result<Option<Vec<String>>> {
        let listing = || list_shards(self.clients, &self.options.stream);
        let listed = if readers_running {
            listing().await
        } else {
            // Nothing is read until the shards are known: ride out what may heal.
            crate::pipeline::retry::until_done("listing the shards", self.stop, self.stats, listing)
                .await
        };
        let shards = match listed {
            Ok(shards) => shards,
            // A stop came during the listing's retries: a stop, not a failure.
            Err(_) if *self.stop.borrow() => return Ok(None),
            Err(err) if readers_running && !crate::aws::is_terminal(&err) => {
                self.stats.error();
                warn!(
                    "{err:#}; the shards being read go on, listing again in {} s",
                    SHARD_REFRESH.as_secs()
                );
                return Ok(None);
            }
            Err(err) => return Err(err),
        };
        let mut readable = Vec::new();
        for (shard_id, shard_plan) in plan(&shards, finished) {
            match shard_plan {
                ShardPlan::Read => readable.push(shard_id),
                ShardPlan::WaitForParents(_) => {
                    self.stats
                        .update_shard(&shard_id, |s| s.state = ShardState::WaitingForParent);
                }
                ShardPlan::Finished => {}
            }
        }
        Ok(Some(readable))
    }

    /// A reader for the shard, with a stop of its own (kept in `readers`).
    fn reader(&self, shard_id: &str, readers: &mut HashMap<String, ReaderStop>) -> ShardTask {
        let (sender, stop) = watch::channel(false);
        let reader_stop = ReaderStop {
            stop: sender,
            cancel: Cancel::default(),
        };
        if *self.stop.borrow() {
            reader_stop.request();
        }
        let cancel = reader_stop.cancel.clone();
        readers.insert(shard_id.to_string(), reader_stop);
        ShardTask {
            clients: self.clients.clone(),
            stream: self.options.stream.clone(),
            shard_id: shard_id.to_string(),
            store: self.store.clone(),
            writer: self.writer.clone(),
            stats: self.stats.clone(),
            policy: self.options.policy,
            start: self.options.start,
            once: self.options.once,
            stop,
            cancel,
            paused: self.options.paused.clone(),
        }
    }
}

/// The supervisor's shard tasks across its loop.
#[derive(Default)]
struct Tasks {
    /// Shards read to their end.
    finished: HashSet<String>,
    /// Shards not to start again in this run: at the tip (`--once`), closed, or given up on.
    done: HashSet<String>,
    running: JoinSet<(String, Result<ReaderExit>)>,
    /// Each running task's own stop: the run's stop, or its lease moving to another worker.
    stops: HashMap<String, ReaderStop>,
    /// Per shard: failures in a row, and where its checkpoint stood at the last one.
    failures: HashMap<String, (u32, Option<String>)>,
}

/// How the supervisor stops one reader: its stop, and the summaries it queued dropped (its chunk
/// in hand will not be committed, so they would only keep the models from other shards' work).
struct ReaderStop {
    stop: watch::Sender<bool>,
    cancel: Cancel,
}

impl ReaderStop {
    fn request(&self) {
        self.cancel.cancel();
        let _ = self.stop.send(true);
    }

    fn requested(&self) -> bool {
        *self.stop.borrow()
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
            );
        }
        index
    })
    .await
    .context("seeding the duplicate index panicked")?;
    if count > 0 {
        info!(
            "duplicate index: {count} article ids of lake/summaries in {:.1?}",
            started.elapsed()
        );
    }
    Ok(index)
}

/// Runs a reader after `delay` (a restart's backoff), or not at all if a stop comes first.
async fn read_shard(reader: ShardTask, delay: Duration) -> (String, Result<ReaderExit>) {
    let mut stop = reader.stop.clone();
    if !delay.is_zero() {
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.wait_for(|s| *s) => return (reader.shard_id, Ok(ReaderExit::Stopped)),
        }
    }
    (reader.shard_id.clone(), reader.run().await)
}
