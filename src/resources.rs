//! Creating the bucket and the stream when they are missing, tolerating that they exist or that
//! someone else creates them at the same moment.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use aws_sdk_kinesis::types::{StreamMode, StreamModeDetails, StreamStatus};
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use tracing::info;

use crate::aws::AwsClients;

/// How long a new or updating stream may take to become ACTIVE (AWS usually needs ~30 s).
const STREAM_ACTIVE_TIMEOUT: Duration = Duration::from_secs(180);
const STREAM_POLL_INTERVAL: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    New,
    Existing,
}

/// The bucket must exist (read-only commands): a missing one is one line saying what writes it.
pub async fn require_bucket(clients: &AwsClients, bucket: &str) -> Result<()> {
    match clients.s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(()),
        Err(err) => match err.raw_response().map(|r| r.status().as_u16()) {
            Some(404) => bail!(
                "bucket {bucket} does not exist at {}: `precis run` creates it and writes the lake (or choose another with --bucket)",
                clients.target.label
            ),
            Some(403) => bail!(
                "bucket {bucket} exists but these credentials may not read it (403 at {})",
                clients.target.label
            ),
            _ => Err(clients.explain(&format!("checking bucket {bucket}"), &err)),
        },
    }
}

pub async fn ensure_bucket(clients: &AwsClients, bucket: &str, region: &str) -> Result<Created> {
    match clients.s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => return Ok(Created::Existing),
        Err(err) => {
            let status = err.raw_response().map(|r| r.status().as_u16());
            match status {
                Some(404) => {}
                Some(403) => bail!(
                    "bucket {bucket} exists but these credentials may not use it (403 at {}); \
                     choose another with --bucket",
                    clients.target.label
                ),
                _ => return Err(clients.explain(&format!("checking bucket {bucket}"), &err)),
            }
        }
    }
    let mut request = clients.s3.create_bucket().bucket(bucket);
    // us-east-1 is the one region that rejects an explicit location constraint.
    if region != "us-east-1" {
        request = request.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        );
    }
    match request.send().await {
        Ok(_) => {
            info!(bucket, "created bucket");
            Ok(Created::New)
        }
        Err(err) => match err.as_service_error() {
            Some(e) if e.is_bucket_already_owned_by_you() => Ok(Created::Existing),
            Some(e) if e.is_bucket_already_exists() => bail!(
                "bucket name {bucket} is taken by another account; choose another with --bucket"
            ),
            _ => Err(clients.explain(&format!("creating bucket {bucket}"), &err)),
        },
    }
}

/// Makes sure the stream exists and is ACTIVE; returns whether it was created and its open shard
/// count.
pub async fn ensure_stream(
    clients: &AwsClients,
    stream: &str,
    shards: u32,
) -> Result<(Created, u32)> {
    let created = match describe(clients, stream).await? {
        Some(_) => Created::Existing,
        None => {
            let result = clients
                .kinesis
                .create_stream()
                .stream_name(stream)
                .shard_count(shards as i32)
                .stream_mode_details(
                    StreamModeDetails::builder()
                        .stream_mode(StreamMode::Provisioned)
                        .build()?,
                )
                .send()
                .await;
            match result {
                Ok(_) => {
                    info!(stream, shards, "created stream");
                    Created::New
                }
                // Someone created it between our look and our create: fine.
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_resource_in_use_exception()) =>
                {
                    Created::Existing
                }
                Err(err) => return Err(clients.explain(&format!("creating stream {stream}"), &err)),
            }
        }
    };
    let open_shards = wait_until_active(clients, stream).await?;
    Ok((created, open_shards))
}

/// Fails with a clear message when the stream does not exist; returns its open shard count.
pub async fn require_stream(clients: &AwsClients, stream: &str) -> Result<u32> {
    match describe(clients, stream).await? {
        Some((_, open)) => Ok(open),
        None => bail!(
            "stream {stream} does not exist at {}; create and fill it with `precis produce`, or \
             name another with --stream / PRECIS_STREAM",
            clients.target.label
        ),
    }
}

/// (status, open shard count), or None if the stream does not exist.
async fn describe(clients: &AwsClients, stream: &str) -> Result<Option<(StreamStatus, u32)>> {
    match clients
        .kinesis
        .describe_stream_summary()
        .stream_name(stream)
        .send()
        .await
    {
        Ok(out) => {
            let summary = out.stream_description_summary();
            let status = summary.map(|s| s.stream_status().clone());
            let open = summary.map_or(0, |s| s.open_shard_count().max(0) as u32);
            Ok(status.map(|status| (status, open)))
        }
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(err) => Err(clients.explain(&format!("describing stream {stream}"), &err)),
    }
}

async fn wait_until_active(clients: &AwsClients, stream: &str) -> Result<u32> {
    let started = Instant::now();
    loop {
        match describe(clients, stream).await? {
            Some((StreamStatus::Active, open)) => return Ok(open),
            Some((StreamStatus::Deleting, _)) => {
                bail!("stream {stream} is being deleted; wait for it to go, then run again")
            }
            Some(_) | None if started.elapsed() < STREAM_ACTIVE_TIMEOUT => {
                tokio::time::sleep(STREAM_POLL_INTERVAL).await;
            }
            Some((status, _)) => bail!(
                "stream {stream} is still {status} after {} s",
                STREAM_ACTIVE_TIMEOUT.as_secs()
            ),
            None => bail!("stream {stream} disappeared while waiting for it to become ACTIVE"),
        }
    }
}
