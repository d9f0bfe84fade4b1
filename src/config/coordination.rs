//! Scale-out: whether workers share the stream through a lease table, and its timings.

use serde::{Deserialize, Serialize};

use super::values::*;
use super::{FlagScope, SettingSpec};

/// Whether workers share the stream through a lease table (docs/scale-out.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CoordinationSettings {
    /// None: on exactly when a lease table is configured.
    #[serde(deserialize_with = "some_named")]
    pub mode: Option<CoordinationMode>,
    /// None: `precis-<stream>`.
    #[serde(deserialize_with = "table_name")]
    pub lease_table: Option<String>,
    /// A lease not renewed for this long is free to take.
    #[serde(deserialize_with = "whole::<_, _, 3, 600>")]
    pub lease_secs: u64,
    /// How often a worker looks for leases to take.
    #[serde(deserialize_with = "whole::<_, _, 1, 600>")]
    pub take_secs: u64,
}

impl Default for CoordinationSettings {
    fn default() -> Self {
        Self {
            mode: None,
            lease_table: None,
            // The KCL's failover time, and its taker's pace (twice that).
            lease_secs: 10,
            take_secs: 20,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CoordinationMode {
    /// This process reads every shard; checkpoints in the bucket.
    None,
    /// Workers share the shards through a DynamoDB lease table.
    DynamoDb,
}

impl CoordinationSettings {
    pub fn mode(&self) -> CoordinationMode {
        self.mode.unwrap_or(if self.lease_table.is_some() {
            CoordinationMode::DynamoDb
        } else {
            CoordinationMode::None
        })
    }

    pub fn table_for(&self, stream: &str) -> String {
        self.lease_table
            .clone()
            .unwrap_or_else(|| format!("precis-{stream}"))
    }
}

/// This section's settings: names, flags and forms (the fields above hold the values).
pub(super) const SETTINGS: &[SettingSpec] = &[
    SettingSpec {
        key: "coordination.mode",
        env: &["PRECIS_COORDINATION"],
        flag: "--coordination",
        value_name: "MODE",
        help: "none: this process reads every shard; dynamodb: workers share the shards through a lease table",
        accepted: "none (this process reads every shard) or dynamodb (workers share the shards through a lease table)",
        default_note: Some("dynamodb when a lease table is set, else none"),
        scopes: &[FlagScope::Run],
    },
    SettingSpec {
        key: "coordination.lease_table",
        env: &["PRECIS_LEASE_TABLE"],
        flag: "--lease-table",
        value_name: "NAME",
        help: "The DynamoDB lease table, created if missing; setting it turns leases on",
        accepted: "a DynamoDB table name: 3-255 characters from a-z, A-Z, 0-9, '_', '-', '.'",
        default_note: Some("precis-STREAM, after stream.name"),
        scopes: &[FlagScope::Run],
    },
    SettingSpec {
        key: "coordination.lease_secs",
        env: &["PRECIS_LEASE_SECS"],
        flag: "--lease-secs",
        value_name: "SECS",
        help: "A lease not renewed for this long is taken by another worker",
        accepted: "a whole number of seconds from 3 to 600",
        default_note: None,
        scopes: &[FlagScope::Run],
    },
    SettingSpec {
        key: "coordination.take_secs",
        env: &["PRECIS_LEASE_TAKE_SECS"],
        flag: "--lease-take-secs",
        value_name: "SECS",
        help: "How often a worker looks for leases to take",
        accepted: "a whole number of seconds from 1 to 600",
        default_note: None,
        scopes: &[FlagScope::Run],
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::load;

    #[test]
    fn one_process_reads_every_shard_unless_a_lease_table_or_dynamodb_is_chosen() {
        let s = load(None, &[], &[]).unwrap();
        assert_eq!(s.coordination.mode(), CoordinationMode::None);

        let s = load(None, &[("PRECIS_LEASE_TABLE", "team-leases")], &[]).unwrap();
        assert_eq!(s.coordination.mode(), CoordinationMode::DynamoDb);
        assert_eq!(s.coordination.table_for("MyStream"), "team-leases");
        assert_eq!(s.coordination.lease_secs, 10);

        let s = load(None, &[], &[("coordination.mode", "dynamodb")]).unwrap();
        assert_eq!(s.coordination.mode(), CoordinationMode::DynamoDb);
        assert_eq!(s.coordination.table_for("MyStream"), "precis-MyStream");
    }

    #[test]
    fn coordination_none_wins_over_a_configured_lease_table() {
        let s = load(
            None,
            &[("PRECIS_LEASE_TABLE", "team-leases")],
            &[("coordination.mode", "none")],
        )
        .unwrap();
        assert_eq!(s.coordination.mode(), CoordinationMode::None);
    }

    #[test]
    fn a_lease_table_name_dynamodb_would_refuse_is_a_bad_setting() {
        let err = load(None, &[("PRECIS_LEASE_TABLE", "no spaces")], &[]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid coordination.lease_table"),
            "{err}"
        );
    }
}
