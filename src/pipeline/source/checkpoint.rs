//! Per-shard checkpoints: in the lake's own bucket under `_state/checkpoints/<stream>/`, or in
//! the shard's lease when workers share the stream.
//!
//! A checkpoint names the last sequence number every table holds (or did not need), and which
//! chunk of the shard each table was at then. It moves only after a chunk's commits; the tables
//! themselves are the truth (their application transactions and commit metadata), so a crash
//! between a commit and the checkpoint loses nothing and repeats nothing
//! (docs/exactly-once.md).

use anyhow::{Context, Result};
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::aws::AwsClients;

/// Where précis keeps its own state in the bucket (not data: no table lives here).
pub const STATE_PREFIX: &str = "_state/";

pub fn checkpoint_key(stream: &str, shard_id: &str) -> String {
    format!("{STATE_PREFIX}checkpoints/{stream}/{shard_id}.json")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub shard_id: String,
    /// Last record every table holds (or did not need); None before the first chunk.
    pub sequence_number: Option<String>,
    /// The shard's last chunk in each table (by table name) when the checkpoint was saved.
    #[serde(default)]
    pub chunks: std::collections::BTreeMap<String, i64>,
    /// Where each table stood (by table name), for a table ahead of the sequence number (a
    /// replay after a crash between two tables' commits).
    #[serde(default)]
    pub positions: std::collections::BTreeMap<String, String>,
    /// The shard is closed and every record of it is written.
    pub finished: bool,
    pub updated_at: DateTime<Utc>,
}

impl Checkpoint {
    pub fn new(shard_id: &str) -> Self {
        Self {
            shard_id: shard_id.to_string(),
            sequence_number: None,
            chunks: Default::default(),
            positions: Default::default(),
            finished: false,
            updated_at: Utc::now(),
        }
    }
}

/// Where a shard's checkpoint is kept: the lake's bucket when one process reads every shard
/// ([`CheckpointStore::new`]), or the shard's lease when workers share the stream
/// (`crate::lease::LeaseCheckpoints`, where only the shard's owner can write it).
pub trait CheckpointStorage: Send + Sync + std::fmt::Debug {
    fn load<'a>(&'a self, shard_id: &'a str) -> BoxFuture<'a, Result<Option<Checkpoint>>>;
    fn save<'a>(&'a self, checkpoint: &'a Checkpoint) -> BoxFuture<'a, Result<()>>;
}

/// The checkpoint storage a pipeline's readers share.
#[derive(Clone, Debug)]
pub struct CheckpointStore(Arc<dyn CheckpointStorage>);

impl CheckpointStore {
    /// An object per shard in the lake's bucket.
    pub fn new(clients: AwsClients, bucket: &str, stream: &str) -> Self {
        Self::with(BucketCheckpoints {
            clients,
            bucket: bucket.to_string(),
            stream: stream.to_string(),
        })
    }

    pub fn with(storage: impl CheckpointStorage + 'static) -> Self {
        Self(Arc::new(storage))
    }

    pub async fn load(&self, shard_id: &str) -> Result<Option<Checkpoint>> {
        self.0.load(shard_id).await
    }

    pub async fn save(&self, checkpoint: &Checkpoint) -> Result<()> {
        self.0.save(checkpoint).await
    }
}

#[derive(Debug)]
struct BucketCheckpoints {
    clients: AwsClients,
    bucket: String,
    stream: String,
}

impl CheckpointStorage for BucketCheckpoints {
    fn load<'a>(&'a self, shard_id: &'a str) -> BoxFuture<'a, Result<Option<Checkpoint>>> {
        Box::pin(load_object(
            &self.clients,
            &self.bucket,
            &self.stream,
            shard_id,
        ))
    }

    fn save<'a>(&'a self, checkpoint: &'a Checkpoint) -> BoxFuture<'a, Result<()>> {
        Box::pin(save_object(
            &self.clients,
            &self.bucket,
            &self.stream,
            checkpoint,
        ))
    }
}

async fn load_object(
    clients: &AwsClients,
    bucket: &str,
    stream: &str,
    shard_id: &str,
) -> Result<Option<Checkpoint>> {
    let key = checkpoint_key(stream, shard_id);
    let response = clients
        .s3
        .get_object()
        .bucket(bucket)
        .key(&key)
        .send()
        .await;
    let object = match response {
        Ok(object) => object,
        Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
        Err(err) => return Err(clients.explain(&format!("reading checkpoint {key}"), &err)),
    };
    let bytes = object
        .body
        .collect()
        .await
        .with_context(|| format!("reading checkpoint {key}"))?
        .into_bytes();
    let checkpoint = serde_json::from_slice(&bytes)
        .with_context(|| format!("checkpoint s3://{bucket}/{key} is not valid JSON"))?;
    Ok(Some(checkpoint))
}

async fn save_object(
    clients: &AwsClients,
    bucket: &str,
    stream: &str,
    checkpoint: &Checkpoint,
) -> Result<()> {
    let key = checkpoint_key(stream, &checkpoint.shard_id);
    let body = serde_json::to_vec_pretty(checkpoint)?;
    clients
        .s3
        .put_object()
        .bucket(bucket)
        .key(&key)
        .content_type("application/json")
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|err| clients.explain(&format!("writing checkpoint {key}"), &err))?;
    Ok(())
}
