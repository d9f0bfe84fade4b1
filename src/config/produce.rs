//! The generator: how many records, from which seed, dates and file.

use serde::{Deserialize, Serialize};

use super::values::*;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProduceSettings {
    #[serde(deserialize_with = "whole::<_, _, 0, 100_000_000>")]
    pub records: u64,
    /// None: a fresh seed each run (printed, so the run can be repeated).
    #[serde(deserialize_with = "seed", serialize_with = "seed_out")]
    pub seed: Option<u64>,
    #[serde(deserialize_with = "whole::<_, _, 1, 64>")]
    pub in_flight: usize,
}

impl Default for ProduceSettings {
    fn default() -> Self {
        Self {
            // The original challenge's count.
            records: 1000,
            seed: None,
            // One call in flight already puts thousands of records a second: more than a
            // stream of a few shards accepts.
            in_flight: 1,
        }
    }
}
