//! The Kinesis stream: its name, and its shard count when `produce` creates it.

use serde::{Deserialize, Serialize};

use super::values::*;

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
