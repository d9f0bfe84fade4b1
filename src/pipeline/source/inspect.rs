//! Looking at a shard's records without taking them: the inspector opens iterators of its own,
//! reads no checkpoint and writes none, and commits nothing, so the pipeline's position is the
//! same before and after (`precis inspect`, and Enter on a shard in the console).

use std::str::FromStr;

use anyhow::{bail, Context, Result};
use aws_sdk_kinesis::types::ShardIteratorType;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::lineage::list_shards;
use super::reader::{raw_record, starting_at, MIN_CALL_INTERVAL};
use crate::aws::AwsClients;
use crate::config::StartPosition;
use crate::pipeline::record::{parse_article, Limits};
use crate::pipeline::rows::RawRecord;

/// Where the inspector starts in a shard: where a pipeline can start, or at a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    Start(StartPosition),
    /// The record with this sequence number, and those after it.
    AtSequence(String),
}

impl FromStr for Position {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Position::AtSequence(text.to_string()));
        }
        // A bare time reads as `at-timestamp=` one.
        text.parse()
            .or_else(|_| format!("at-timestamp={text}").parse())
            .map(Position::Start)
            .map_err(|_: String| {
                format!(
                    "{text} is not a position: trim-horizon, latest, a time \
                     (2026-11-23T08:00:00Z) or a sequence number"
                )
            })
    }
}

/// A record's payload as a person reads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "encoding", content = "value", rename_all = "lowercase")]
pub enum Payload {
    Json(Value),
    /// UTF-8 that is not JSON.
    Text(String),
    /// Neither: the raw bytes, base64.
    Base64(String),
}

impl Payload {
    pub fn of(data: &[u8]) -> Self {
        match std::str::from_utf8(data) {
            Ok(text) => match serde_json::from_str(text.strip_prefix('\u{feff}').unwrap_or(text)) {
                Ok(value) => Payload::Json(value),
                Err(_) => Payload::Text(text.to_string()),
            },
            Err(_) => Payload::Base64(base64::engine::general_purpose::STANDARD.encode(data)),
        }
    }

    /// Pretty-printed, for the console's inspector.
    pub fn pretty(&self) -> String {
        match self {
            Payload::Json(value) => {
                serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
            }
            Payload::Text(text) => text.clone(),
            Payload::Base64(bytes) => format!("(not UTF-8; base64) {bytes}"),
        }
    }
}

/// Why the pipeline would quarantine a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quarantine {
    pub reason_code: &'static str,
    pub reason: String,
}

/// One record as the inspector shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inspected {
    pub shard_id: String,
    pub sequence_number: String,
    pub arrival_time: DateTime<Utc>,
    pub partition_key: String,
    pub data: Payload,
    /// None: the pipeline would take it (duplicates aside, which depend on what came before).
    pub quarantine: Option<Quarantine>,
}

impl Inspected {
    fn of(record: RawRecord, limits: &Limits) -> Self {
        let quarantine = parse_article(&record.data, limits)
            .err()
            .map(|r| Quarantine {
                reason_code: r.code(),
                reason: r.to_string(),
            });
        Inspected {
            data: Payload::of(&record.data),
            shard_id: record.shard_id,
            sequence_number: record.sequence_number,
            arrival_time: record.arrival_time,
            partition_key: record.partition_key,
            quarantine,
        }
    }

    /// Whether `filter` (any case) appears in its payload, key or sequence number.
    pub fn matches(&self, filter: &str) -> bool {
        if filter.is_empty() {
            return true;
        }
        let filter = filter.to_lowercase();
        let payload = match &self.data {
            Payload::Json(value) => value.to_string(),
            Payload::Text(text) | Payload::Base64(text) => text.clone(),
        };
        [&payload, &self.partition_key, &self.sequence_number]
            .iter()
            .any(|field| field.to_lowercase().contains(&filter))
    }
}

/// What to look at.
#[derive(Debug, Clone)]
pub struct Request {
    /// One shard, or every shard in id order.
    pub shard: Option<String>,
    pub from: Position,
    /// Records to return at most (after the filter).
    pub limit: usize,
    pub filter: String,
}

/// Records asked for per call.
const CALL_RECORDS: i32 = 1_000;
/// Calls per shard at most: a filter that matches nothing in a long shard gives up here.
const MAX_CALLS: usize = 200;

/// Reads records as `request` says, up to the shard's tip.
pub async fn inspect(
    clients: &AwsClients,
    stream: &str,
    request: &Request,
    limits: &Limits,
) -> Result<Vec<Inspected>> {
    let mut shards: Vec<String> = list_shards(clients, stream)
        .await?
        .into_iter()
        .map(|s| s.shard_id)
        .collect();
    shards.sort();
    if let Some(wanted) = &request.shard {
        if !shards.contains(wanted) {
            bail!(
                "{stream} has no shard {wanted}; its shards: {}",
                shards.join(", ")
            );
        }
        shards.retain(|s| s == wanted);
    }
    let mut out = Vec::new();
    for shard in shards {
        if out.len() >= request.limit {
            break;
        }
        let want = request.limit - out.len();
        out.extend(read_shard(clients, stream, &shard, request, want, limits).await?);
    }
    Ok(out)
}

async fn read_shard(
    clients: &AwsClients,
    stream: &str,
    shard: &str,
    request: &Request,
    want: usize,
    limits: &Limits,
) -> Result<Vec<Inspected>> {
    let mut iterator = Some(open(clients, stream, shard, &request.from).await?);
    let mut out = Vec::new();
    for call in 0..MAX_CALLS {
        let Some(current) = iterator.take() else {
            break;
        };
        if call > 0 {
            tokio::time::sleep(MIN_CALL_INTERVAL).await;
        }
        let page = clients
            .kinesis
            .get_records()
            .shard_iterator(current)
            .limit(CALL_RECORDS)
            .send()
            .await
            .map_err(|err| clients.explain(&format!("reading shard {shard}"), &err))?;
        let caught_up = page.millis_behind_latest() == Some(0);
        let empty = page.records().is_empty();
        iterator = page.next_shard_iterator().map(str::to_string);
        for record in page.records {
            let record = Inspected::of(raw_record(shard, record), limits);
            if record.matches(&request.filter) {
                out.push(record);
                if out.len() == want {
                    return Ok(out);
                }
            }
        }
        if empty && caught_up {
            break;
        }
    }
    Ok(out)
}

async fn open(clients: &AwsClients, stream: &str, shard: &str, from: &Position) -> Result<String> {
    let request = clients
        .kinesis
        .get_shard_iterator()
        .stream_name(stream)
        .shard_id(shard);
    let request = match from {
        Position::Start(start) => starting_at(request, start),
        Position::AtSequence(seq) => request
            .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
            .starting_sequence_number(seq),
    };
    let output = request
        .send()
        .await
        .map_err(|err| clients.explain(&format!("opening shard {shard}"), &err))?;
    output
        .shard_iterator()
        .map(str::to_string)
        .context("GetShardIterator answered without an iterator")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_read_as_documented() {
        assert_eq!(
            "trim-horizon".parse(),
            Ok(Position::Start(StartPosition::TrimHorizon))
        );
        assert_eq!("latest".parse(), Ok(Position::Start(StartPosition::Latest)));
        assert_eq!(
            "49590338271490256608559692538361571095921575989136588898".parse(),
            Ok(Position::AtSequence(
                "49590338271490256608559692538361571095921575989136588898".into()
            ))
        );
        let at: Position = "2026-11-23T08:00:00Z".parse().unwrap();
        assert!(
            matches!(at, Position::Start(StartPosition::AtTimestamp(t)) if t.timestamp() == 1_795_420_800)
        );
        assert_eq!("at-timestamp=2026-11-23T08:00:00Z".parse(), Ok(at));
        assert!("yesterday".parse::<Position>().is_err());
    }

    #[test]
    fn a_payload_is_json_text_or_base64() {
        assert_eq!(
            Payload::of(br#"{"a":1}"#),
            Payload::Json(serde_json::json!({"a": 1}))
        );
        assert_eq!(Payload::of(b"not json"), Payload::Text("not json".into()));
        assert_eq!(Payload::of(&[0xff, 0xfe]), Payload::Base64("//4=".into()));
    }

    #[test]
    fn a_record_the_pipeline_would_reject_carries_the_reason() {
        let record = RawRecord {
            shard_id: "s".into(),
            sequence_number: "1".into(),
            partition_key: "k".into(),
            arrival_time: DateTime::UNIX_EPOCH,
            data: b"{}".to_vec(),
        };
        let inspected = Inspected::of(record, &Limits::default());
        let quarantine = inspected.quarantine.as_ref().unwrap();
        assert_eq!(quarantine.reason_code, "missing_field");
        assert!(
            inspected.matches("K"),
            "the filter reads the key in any case"
        );
        assert!(!inspected.matches("absent"));
    }
}
