//! One worker's side of the lease table: it renews what it holds, adds leases for new shards,
//! takes and steals by the rules, gives closed shards back, and tells the supervisor which shards
//! are its own. At the end of a run it releases everything it holds, so that the other workers
//! take the shards at their next round instead of waiting for the leases to expire.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::rules::{choose, Observer, Take};
use super::table::LeaseTable;
use super::LeaseSettings;
use crate::aws::AwsClients;
use crate::pipeline::source::lineage::list_shards;
use crate::pipeline::stats::Stats;

/// A lease this worker holds.
#[derive(Debug, Clone, Copy)]
struct Held {
    counter: u64,
    /// When the table last confirmed it (a take or a renewal).
    confirmed: Instant,
}

pub struct Coordinator {
    pub clients: AwsClients,
    pub table: LeaseTable,
    pub stream: String,
    pub settings: LeaseSettings,
    pub stats: Arc<Stats>,
}

/// The running coordinator, as the supervisor holds it.
pub struct Running {
    /// The shards this worker holds now.
    pub held: watch::Receiver<BTreeSet<String>>,
    release: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Running {
    /// Releases every lease held (call once the readers have ended: after their last commit)
    /// and waits for it.
    pub async fn release(self) {
        let _ = self.release.send(());
        if let Err(err) = self.task.await {
            warn!("the lease coordinator ended badly: {err}");
        }
    }
}

impl Coordinator {
    /// Starts renewing and taking. `stop` ends the taking (a stopping worker takes nothing new)
    /// but not the renewing: the leases stay held until [`Running::release`].
    pub fn start(self, stop: watch::Receiver<bool>) -> Running {
        let (held_tx, held) = watch::channel(BTreeSet::new());
        let (release, released) = oneshot::channel();
        let task = tokio::spawn(self.run(stop, held_tx, released));
        Running {
            held,
            release,
            task,
        }
    }

    async fn run(
        self,
        stop: watch::Receiver<bool>,
        publish: watch::Sender<BTreeSet<String>>,
        mut released: oneshot::Receiver<()>,
    ) {
        let me = self.settings.worker.clone();
        info!(
            "worker {me}: leases in DynamoDB table {} ({} s lease)",
            self.table.name(),
            self.settings.duration.as_secs()
        );
        let mut held: BTreeMap<String, Held> = BTreeMap::new();
        let mut observer = Observer::default();
        let mut renew = tokio::time::interval(self.settings.renew_every());
        let mut take = tokio::time::interval(self.settings.take_every);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        take.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut released => break,
                _ = renew.tick() => self.renew(&mut held).await,
                _ = take.tick(), if !*stop.borrow() => {
                    // Bounded, so that a slow DynamoDB never holds the renewals up for long; a
                    // take cut short and applied all the same is adopted at the next round.
                    let round = self.take(&mut held, &mut observer);
                    let failed = match tokio::time::timeout(self.settings.renew_every(), round).await {
                        Ok(Ok(())) => None,
                        Ok(Err(err)) => Some(format!("{err:#}")),
                        Err(_) => Some("a taking round did not finish within a renewal interval".into()),
                    };
                    if let Some(why) = failed {
                        self.stats.error();
                        warn!("{why}; trying again in {} s", self.settings.take_every.as_secs());
                    }
                }
            }
            let keys: BTreeSet<String> = held.keys().cloned().collect();
            publish.send_if_modified(|current| {
                let changed = *current != keys;
                *current = keys;
                changed
            });
        }
        for (key, lease) in held {
            match self.table.release(&key, lease.counter, &me).await {
                Ok(true) => info!("released the lease of {key}"),
                Ok(false) => info!("the lease of {key} had already moved on"),
                Err(err) => warn!("{err:#}; the lease of {key} expires on its own"),
            }
        }
    }

    /// Renews every held lease at once, each call bounded by the renewal interval. A lease no
    /// longer ours, or not confirmed for a lease duration (counted from when the confirmed
    /// request was sent, as the KCL does), is let go, and its reader is stopped by the
    /// supervisor: by then another worker may take it.
    async fn renew(&self, held: &mut BTreeMap<String, Held>) {
        let me = &self.settings.worker;
        let limit = self.settings.renew_every();
        let calls = held.iter().map(|(key, lease)| {
            let (key, counter) = (key.clone(), lease.counter);
            async move {
                let sent = Instant::now();
                let answer = tokio::time::timeout(limit, self.table.renew(&key, counter, me)).await;
                (key, sent, answer)
            }
        });
        for (key, sent, answer) in futures::future::join_all(calls).await {
            let Some(lease) = held.get_mut(&key) else {
                continue;
            };
            match answer {
                Ok(Ok(Some(counter))) => {
                    lease.counter = counter;
                    lease.confirmed = sent;
                }
                Ok(Ok(None)) => {
                    info!("the lease of {key} was taken by another worker");
                    held.remove(&key);
                }
                Ok(Err(err)) => {
                    self.stats.error();
                    warn!("{err:#}; renewing it again shortly");
                }
                Err(_) => {
                    self.stats.error();
                    warn!("renewing the lease of {key}: no answer within {limit:?}; renewing it again shortly");
                }
            }
        }
        let duration = self.settings.duration;
        held.retain(|key, lease| {
            let kept = lease.confirmed.elapsed() <= duration;
            if !kept {
                warn!("the lease of {key} is let go: not renewed for a lease duration");
            }
            kept
        });
    }

    /// One taking round: new shards get leases, closed shards are given back, and the rules say
    /// what to take.
    async fn take(&self, held: &mut BTreeMap<String, Held>, observer: &mut Observer) -> Result<()> {
        let me = &self.settings.worker;
        let mut leases = self.table.scan().await?;
        let known: HashSet<&str> = leases.iter().map(|l| l.key.as_str()).collect();
        let shards = list_shards(&self.clients, &self.stream).await?;
        let new: Vec<_> = shards
            .iter()
            .filter(|s| !known.contains(s.shard_id.as_str()))
            .collect();
        if !new.is_empty() {
            for shard in &new {
                self.table.create(shard).await?;
            }
            leases = self.table.scan().await?;
        }
        // A shard gone from the listing has aged out of the stream: nothing more can be read
        // from it, so it counts as ended (its children are not held up by it).
        let listed: HashSet<&str> = shards.iter().map(|s| s.shard_id.as_str()).collect();
        for lease in &mut leases {
            if !listed.contains(lease.key.as_str()) {
                lease.checkpoint = super::rules::SHARD_END.to_string();
            }
        }
        let now = Instant::now();
        observer.observe(&leases, now);

        for lease in &leases {
            // A take or renewal applied although its answer was lost (a timeout, a retry that
            // found its own write): the table says the lease is ours, so it is.
            if lease.owner.as_deref() == Some(me.as_str())
                && !lease.finished()
                && !held.contains_key(&lease.key)
            {
                info!("the lease of {} is this worker's; reading it", lease.key);
                held.insert(
                    lease.key.clone(),
                    Held {
                        counter: lease.counter,
                        confirmed: now,
                    },
                );
            }
            let Some(ours) = held.get(&lease.key).copied() else {
                continue;
            };
            if lease.owner.as_deref() != Some(me.as_str()) {
                info!("the lease of {} was taken by another worker", lease.key);
                held.remove(&lease.key);
            } else if lease.finished() {
                // Read to its end: nobody needs to hold it, and its children may be leased.
                if self.table.release(&lease.key, ours.counter, me).await? {
                    info!(
                        "shard {} is read to its end; its lease is released",
                        lease.key
                    );
                }
                held.remove(&lease.key);
            }
        }

        let expired = observer.expired(&leases, now, self.settings.duration);
        for want in choose(&leases, &expired, me) {
            let Some(lease) = leases.iter().find(|l| l.key == want.key()) else {
                continue;
            };
            if let Some(counter) = self.table.take(&lease.key, lease.counter, me).await? {
                match &want {
                    Take::Expired(key) => info!("took the lease of {key}"),
                    Take::Steal { key, from } => {
                        info!("took the lease of {key} from {from} (the busiest worker)")
                    }
                }
                held.insert(
                    lease.key.clone(),
                    Held {
                        counter,
                        confirmed: Instant::now(),
                    },
                );
            }
        }
        self.stats.set_workers(workers(&leases, me, held));
        Ok(())
    }
}

/// Which open shards each worker holds, as this worker's last scan saw them (its own as it
/// knows them now).
fn workers(
    leases: &[super::rules::Lease],
    me: &str,
    held: &BTreeMap<String, Held>,
) -> BTreeMap<String, Vec<String>> {
    let mut workers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    workers.insert(me.to_string(), held.keys().cloned().collect());
    for lease in leases.iter().filter(|l| !l.finished()) {
        match lease.owner.as_deref() {
            Some(owner) if owner != me => workers
                .entry(owner.to_string())
                .or_default()
                .push(lease.key.clone()),
            _ => {}
        }
    }
    workers
}
