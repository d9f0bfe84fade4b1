//! The Kinesis stream: its name, and its shard count when `produce` creates it.

use serde::{Deserialize, Serialize};

use super::values::*;
use super::{FlagScope, SettingSpec};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamSettings {
    #[serde(deserialize_with = "stream_name")]
    pub name: String,
    /// Shard count used when `produce` creates the stream; an existing stream keeps its own.
    #[serde(deserialize_with = "whole::<_, _, 1, 500>")]
    pub shards: u32,
}

impl Default for StreamSettings {
    /// The original challenge's stream.
    fn default() -> Self {
        Self {
            name: "MyStream".into(),
            shards: 1,
        }
    }
}

/// This section's settings: names, flags and forms (the fields above hold the values).
pub(super) const SETTINGS: &[SettingSpec] = &[
    SettingSpec {
        key: "stream.name",
        env: &["PRECIS_STREAM"],
        flag: "--stream",
        value_name: "NAME",
        help: "Kinesis stream name",
        accepted: "1-128 characters from a-z, A-Z, 0-9, '_', '-', '.'",
        default_note: None,
        scopes: &[FlagScope::Global],
    },
    SettingSpec {
        key: "stream.shards",
        env: &["PRECIS_SHARDS"],
        flag: "--shards",
        value_name: "N",
        help: "Shard count when the stream has to be created",
        accepted: "a whole number from 1 to 500",
        default_note: None,
        scopes: &[FlagScope::Produce],
    },
];
