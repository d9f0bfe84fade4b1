//! The generator: how many records, from which seed, dates and file.

use serde::{Deserialize, Serialize};

use super::values::*;
use super::{FlagScope, SettingSpec};

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

/// This section's settings: names, flags and forms (the fields above hold the values).
pub(super) const SETTINGS: &[SettingSpec] = &[
    SettingSpec {
        key: "produce.records",
        env: &["NUM_RECORDS", "PRECIS_RECORDS"],
        flag: "--records",
        value_name: "N",
        help: "Number of articles to put; with --from-file, at most this many lines, if given",
        accepted: "a whole number from 0 to 100000000",
        default_note: None,
        scopes: &[FlagScope::Produce],
    },
    SettingSpec {
        key: "produce.seed",
        env: &["PRECIS_SEED"],
        flag: "--seed",
        value_name: "N",
        help: "Seed of the article generator; the same seed and --as-of give the same articles",
        accepted: "a whole number from 0 to 18446744073709551615",
        default_note: Some("a fresh seed each run, printed"),
        scopes: &[FlagScope::Produce],
    },
    SettingSpec {
        key: "produce.in_flight",
        env: &["PRECIS_IN_FLIGHT"],
        flag: "--in-flight",
        value_name: "N",
        help: "Concurrent PutRecords calls; more for large real streams",
        accepted: "a whole number of concurrent PutRecords calls from 1 to 64",
        default_note: None,
        scopes: &[FlagScope::Produce],
    },
];
