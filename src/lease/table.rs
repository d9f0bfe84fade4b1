//! The lease table in DynamoDB, item for item the Kinesis Client Library's: one item per shard
//! keyed by `leaseKey`, with `leaseOwner`, `leaseCounter`, `checkpoint`,
//! `ownerSwitchesSinceCheckpoint` and `parentShardId`. précis adds `precisCheckpoint`, the
//! shard's full checkpoint (which chunk each table holds). Every write is conditional on the
//! counter (or the owner) the writer last saw, so two workers never both think a lease is theirs.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TableStatus,
};

use super::rules::{Lease, SHARD_END, TRIM_HORIZON};
use crate::aws::AwsClients;
use crate::pipeline::source::checkpoint::Checkpoint;
use crate::pipeline::source::lineage::ShardInfo;

const KEY: &str = "leaseKey";
const OWNER: &str = "leaseOwner";
const COUNTER: &str = "leaseCounter";
const CHECKPOINT: &str = "checkpoint";
const SWITCHES: &str = "ownerSwitchesSinceCheckpoint";
const PARENTS: &str = "parentShardId";
const PRECIS_CHECKPOINT: &str = "precisCheckpoint";

#[derive(Clone, Debug)]
pub struct LeaseTable {
    clients: AwsClients,
    name: String,
}

impl LeaseTable {
    pub fn new(clients: AwsClients, name: &str) -> Self {
        Self {
            clients,
            name: name.to_string(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Creates the table (on-demand capacity) if it does not exist, and waits until it is active.
    /// Workers starting together may all try: the one that loses the race waits like the rest.
    pub async fn ensure(&self) -> Result<()> {
        let what = format!("creating the lease table {}", self.name);
        if self.status().await?.is_none() {
            let key = AttributeDefinition::builder()
                .attribute_name(KEY)
                .attribute_type(ScalarAttributeType::S)
                .build()?;
            let schema = KeySchemaElement::builder()
                .attribute_name(KEY)
                .key_type(KeyType::Hash)
                .build()?;
            let created = self
                .clients
                .dynamodb
                .create_table()
                .table_name(&self.name)
                .attribute_definitions(key)
                .key_schema(schema)
                .billing_mode(BillingMode::PayPerRequest)
                .send()
                .await;
            match created {
                Ok(_) => {}
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_resource_in_use_exception()) => {}
                Err(err) => return Err(self.clients.explain(&what, &err)),
            }
        }
        for _ in 0..120 {
            if self.status().await? == Some(TableStatus::Active) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        anyhow::bail!(
            "{what}: the table is not active after a minute; check it in the DynamoDB console"
        )
    }

    async fn status(&self) -> Result<Option<TableStatus>> {
        let described = self
            .clients
            .dynamodb
            .describe_table()
            .table_name(&self.name)
            .send()
            .await;
        match described {
            Ok(out) => Ok(Some(
                out.table()
                    .and_then(|t| t.table_status())
                    .cloned()
                    .unwrap_or(TableStatus::Active),
            )),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(err) => Err(self
                .clients
                .explain(&format!("reading the lease table {}", self.name), &err)),
        }
    }

    /// Every lease, read consistently.
    pub async fn scan(&self) -> Result<Vec<Lease>> {
        let mut leases = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .clients
                .dynamodb
                .scan()
                .table_name(&self.name)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|err| {
                    self.clients
                        .explain(&format!("reading the lease table {}", self.name), &err)
                })?;
            for item in page.items() {
                leases.push(lease_of(item).with_context(|| {
                    format!("an item of the lease table {} is not a lease", self.name)
                })?);
            }
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(leases),
            }
        }
    }

    /// Adds a lease for a shard that has none (an existing lease is left as it is).
    pub async fn create(&self, shard: &ShardInfo) -> Result<()> {
        let mut request = self
            .clients
            .dynamodb
            .put_item()
            .table_name(&self.name)
            .item(KEY, s(&shard.shard_id))
            .item(COUNTER, n(0))
            .item(CHECKPOINT, s(TRIM_HORIZON))
            .item(SWITCHES, n(0))
            .condition_expression("attribute_not_exists(#key)")
            .expression_attribute_names("#key", KEY);
        let parents: Vec<String> = shard.parents().map(str::to_string).collect();
        if !parents.is_empty() {
            request = request.item(PARENTS, AttributeValue::Ss(parents));
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(err) => Err(self.clients.explain(
                &format!("adding the lease of shard {}", shard.shard_id),
                &err,
            )),
        }
    }

    /// Makes `me` the owner of a lease last seen at `seen` (expired, or stolen). The new counter,
    /// or None when the lease moved meanwhile (somebody renewed or took it).
    pub async fn take(&self, key: &str, seen: u64, me: &str) -> Result<Option<u64>> {
        let request = self
            .update(key)
            .update_expression("SET #owner = :me, #counter = :next ADD #switches :one")
            .condition_expression("#counter = :seen")
            .expression_attribute_names("#owner", OWNER)
            .expression_attribute_names("#counter", COUNTER)
            .expression_attribute_names("#switches", SWITCHES)
            .expression_attribute_values(":me", s(me))
            .expression_attribute_values(":next", n(seen + 1))
            .expression_attribute_values(":seen", n(seen))
            .expression_attribute_values(":one", n(1));
        self.conditional(request.send().await, seen + 1, || {
            format!("taking the lease of {key}")
        })
    }

    /// Bumps the counter of a lease `me` holds at `counter`: the sign of life other workers
    /// watch. None when the lease is no longer `me`'s.
    pub async fn renew(&self, key: &str, counter: u64, me: &str) -> Result<Option<u64>> {
        self.owner_write(key, counter, me, "SET #counter = :next", "renewing")
            .await
    }

    /// Gives a lease up: no owner, so any worker takes it at its next round without waiting
    /// for it to expire. False when it was no longer `me`'s.
    pub async fn release(&self, key: &str, counter: u64, me: &str) -> Result<bool> {
        let released = self
            .owner_write(
                key,
                counter,
                me,
                "REMOVE #owner SET #counter = :next",
                "releasing",
            )
            .await?;
        Ok(released.is_some())
    }

    /// An owner's write (`update`, which bumps the counter), made only if the lease is still
    /// `me`'s at `counter`. The new counter, or None.
    async fn owner_write(
        &self,
        key: &str,
        counter: u64,
        me: &str,
        update: &str,
        doing: &str,
    ) -> Result<Option<u64>> {
        let request = self
            .update(key)
            .update_expression(update)
            .condition_expression("#counter = :seen AND #owner = :me")
            .expression_attribute_names("#owner", OWNER)
            .expression_attribute_names("#counter", COUNTER)
            .expression_attribute_values(":me", s(me))
            .expression_attribute_values(":next", n(counter + 1))
            .expression_attribute_values(":seen", n(counter));
        self.conditional(request.send().await, counter + 1, || {
            format!("{doing} the lease of {key}")
        })
    }

    /// The shard's checkpoint as saved in its lease.
    pub async fn load_checkpoint(&self, key: &str) -> Result<Option<Checkpoint>> {
        let item = self
            .clients
            .dynamodb
            .get_item()
            .table_name(&self.name)
            .key(KEY, s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| {
                self.clients
                    .explain(&format!("reading the lease of {key}"), &err)
            })?;
        let Some(text) = item
            .item()
            .and_then(|i| i.get(PRECIS_CHECKPOINT))
            .and_then(|v| v.as_s().ok())
        else {
            return Ok(None);
        };
        let checkpoint = serde_json::from_str(text).with_context(|| {
            format!(
                "the checkpoint in the lease of {key} (table {}) is not valid JSON",
                self.name
            )
        })?;
        Ok(Some(checkpoint))
    }

    /// Saves the shard's checkpoint in its lease, if the lease is still `me`'s: a worker that
    /// lost the shard cannot move its checkpoint.
    pub async fn save_checkpoint(&self, checkpoint: &Checkpoint, me: &str) -> Result<()> {
        let key = &checkpoint.shard_id;
        let position = if checkpoint.finished {
            SHARD_END.to_string()
        } else {
            checkpoint
                .sequence_number
                .clone()
                .unwrap_or_else(|| TRIM_HORIZON.to_string())
        };
        let request = self
            .update(key)
            .update_expression(
                "SET #checkpoint = :checkpoint, #precis = :precis, #switches = :zero",
            )
            .condition_expression("#owner = :me")
            .expression_attribute_names("#owner", OWNER)
            .expression_attribute_names("#checkpoint", CHECKPOINT)
            .expression_attribute_names("#precis", PRECIS_CHECKPOINT)
            .expression_attribute_names("#switches", SWITCHES)
            .expression_attribute_values(":me", s(me))
            .expression_attribute_values(":checkpoint", s(&position))
            .expression_attribute_values(":precis", s(&serde_json::to_string(checkpoint)?))
            .expression_attribute_values(":zero", n(0));
        let what = || format!("saving the checkpoint of {key} in its lease");
        match self.conditional(request.send().await, (), what)? {
            Some(()) => Ok(()),
            None => anyhow::bail!(
                "{}: the lease is no longer this worker's ({me}); another worker reads the shard \
                 now",
                what()
            ),
        }
    }

    /// A conditional write's answer: Some(value) when it was made, None when its condition
    /// failed; any other failure is an error saying `what` failed.
    fn conditional<T>(
        &self,
        result: UpdateResult,
        value: T,
        what: impl Fn() -> String,
    ) -> Result<Option<T>> {
        match result {
            Ok(_) => Ok(Some(value)),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(err) => Err(self.clients.explain(&what(), &err)),
        }
    }

    fn update(
        &self,
        key: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.clients
            .dynamodb
            .update_item()
            .table_name(&self.name)
            .key(KEY, s(key))
    }
}

type UpdateResult = std::result::Result<
    aws_sdk_dynamodb::operation::update_item::UpdateItemOutput,
    aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::update_item::UpdateItemError,
        aws_sdk_dynamodb::config::http::HttpResponse,
    >,
>;

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn lease_of(item: &HashMap<String, AttributeValue>) -> Result<Lease> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let number = |name: &str| -> Result<u64> {
        match item.get(name).and_then(|v| v.as_n().ok()) {
            Some(n) => n
                .parse()
                .with_context(|| format!("{name} = {n} is not a count")),
            None => Ok(0),
        }
    };
    Ok(Lease {
        key: text(KEY).context("no leaseKey")?,
        owner: text(OWNER),
        counter: number(COUNTER)?,
        checkpoint: text(CHECKPOINT).unwrap_or_else(|| TRIM_HORIZON.to_string()),
        parents: item
            .get(PARENTS)
            .and_then(|v| v.as_ss().ok())
            .cloned()
            .unwrap_or_default(),
        owner_switches: number(SWITCHES)?,
    })
}
