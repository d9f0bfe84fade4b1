//! Scale-out: workers share a stream's shards through a lease table in DynamoDB, the Kinesis
//! Client Library's model spoken natively (the KCL itself is JVM-only). Each shard is read by the
//! one worker holding its lease; the Delta commits stay the exactly-once point, and fence a
//! worker that lost a lease it still thinks it holds (docs/scale-out.md).

pub mod coordinator;
pub mod rules;
pub mod table;

use std::time::Duration;

use anyhow::Result;
use futures::future::BoxFuture;

use crate::pipeline::source::checkpoint::{Checkpoint, CheckpointStorage};

/// Checkpoints kept in each shard's lease item: only the lease's owner can write one (the KCL's
/// place for it, and a taker sees a shard's end in the same scan that decides what to take).
#[derive(Debug)]
pub struct LeaseCheckpoints {
    pub table: table::LeaseTable,
    pub worker: String,
}

impl CheckpointStorage for LeaseCheckpoints {
    fn load<'a>(&'a self, shard_id: &'a str) -> BoxFuture<'a, Result<Option<Checkpoint>>> {
        Box::pin(self.table.load_checkpoint(shard_id))
    }

    fn save<'a>(&'a self, checkpoint: &'a Checkpoint) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.table.save_checkpoint(checkpoint, &self.worker))
    }
}

/// How a worker takes part in the lease table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseSettings {
    /// The DynamoDB table, created if missing.
    pub table: String,
    /// This worker's name in `leaseOwner`: unique per process.
    pub worker: String,
    /// A lease not renewed for this long is free to take (the KCL's failover time).
    pub duration: Duration,
    /// How often the worker looks for leases to take (the KCL's: twice the lease).
    pub take_every: Duration,
}

impl LeaseSettings {
    /// This process's lease settings, when it shares the stream.
    pub fn of(settings: &crate::config::CoordinationSettings, stream: &str) -> Option<Self> {
        (settings.mode() == crate::config::CoordinationMode::DynamoDb).then(|| Self {
            table: settings.table_for(stream),
            worker: worker_name(),
            duration: Duration::from_secs(settings.lease_secs),
            take_every: Duration::from_secs(settings.take_secs),
        })
    }

    /// Renewals come three times a lease, as in the KCL, so one slow call does not lose it.
    pub fn renew_every(&self) -> Duration {
        self.duration / 3
    }
}

/// A name for this process in the lease table: the host (the pod's name on Kubernetes), the
/// process id, and a random tag, so that a restarted process is a new owner and waits for its
/// previous self's leases to expire rather than reading beside it.
pub fn worker_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "precis".to_string());
    let tag: u16 = rand::random();
    format!("{host}-{}-{tag:04x}", std::process::id())
}
