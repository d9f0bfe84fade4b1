//! One PutRecords batch, delivered: entries the service rejects (throttling, internal errors) are
//! sent again with backoff, and only those.
//!
//! Whole-call failures (connection errors, 5xx, throttling of the call) are retried by the SDK's
//! own retry layer; this loop handles the partial failures the SDK reports as success.

use std::time::Duration;

use anyhow::{bail, Result};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use tracing::debug;

use super::batch::Entry;
use crate::aws::AwsClients;
use crate::backoff::Backoff;

/// Rounds of resending failed entries before giving up on a batch.
pub const MAX_PARTIAL_RETRIES: u32 = 10;
/// Full jitter: pauses of concurrent producers spread out instead of retrying in step.
const BACKOFF: Backoff = Backoff {
    base: Duration::from_millis(100),
    cap: Duration::from_secs(5),
    min_fraction: 0.0,
};

/// What a delivered batch amounted to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub records: u64,
    pub bytes: u64,
    /// Entries that had to be sent more than once.
    pub retried: u64,
}

pub async fn put_batch(clients: &AwsClients, stream: &str, batch: Vec<Entry>) -> Result<Delivered> {
    let mut delivered = Delivered::default();
    let mut pending = batch;
    let mut round = 0;
    loop {
        let request: Vec<PutRecordsRequestEntry> = pending
            .iter()
            .map(|e| {
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(e.data.clone()))
                    .partition_key(&e.partition_key)
                    .build()
            })
            .collect::<Result<_, _>>()?;
        let output = clients
            .kinesis
            .put_records()
            .stream_name(stream)
            .set_records(Some(request))
            .send()
            .await
            .map_err(|err| clients.explain(&format!("putting records on {stream}"), &err))?;
        let results = output.records();
        if results.len() != pending.len() {
            bail!(
                "PutRecords on {stream} answered {} results for {} records",
                results.len(),
                pending.len()
            );
        }
        let mut failed = Vec::new();
        let mut last_error = None;
        for (entry, result) in pending.into_iter().zip(results) {
            match result.error_code() {
                None => {
                    delivered.records += 1;
                    delivered.bytes += entry.data.len() as u64;
                }
                Some(code) => {
                    last_error = Some(format!(
                        "{code}: {}",
                        result.error_message().unwrap_or("no message")
                    ));
                    failed.push(entry);
                }
            }
        }
        if failed.is_empty() {
            return Ok(delivered);
        }
        round += 1;
        delivered.retried += failed.len() as u64;
        if round > MAX_PARTIAL_RETRIES {
            bail!(
                "{} records still rejected by {stream} after {MAX_PARTIAL_RETRIES} retries (last: {})",
                failed.len(),
                last_error.unwrap_or_default()
            );
        }
        let pause = BACKOFF.delay(round);
        debug!(failed = failed.len(), ?pause, "resending rejected records");
        tokio::time::sleep(pause).await;
        pending = failed;
    }
}
