//! The pipeline: where reading starts, and when chunks are cut.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::values::*;
use super::{FlagScope, SettingSpec};

/// Where shards without a checkpoint start reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartPosition {
    TrimHorizon,
    Latest,
    AtTimestamp(DateTime<Utc>),
}

impl FromStr for StartPosition {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "trim-horizon" => Ok(StartPosition::TrimHorizon),
            "latest" => Ok(StartPosition::Latest),
            _ => s
                .strip_prefix("at-timestamp=")
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| StartPosition::AtTimestamp(t.with_timezone(&Utc)))
                .ok_or_else(|| {
                    "expected trim-horizon, latest or at-timestamp=RFC3339 (e.g. at-timestamp=2026-11-23T08:00:00Z)"
                        .to_string()
                }),
        }
    }
}

impl fmt::Display for StartPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartPosition::TrimHorizon => f.write_str("trim-horizon"),
            StartPosition::Latest => f.write_str("latest"),
            StartPosition::AtTimestamp(t) => write!(f, "at-timestamp={}", t.to_rfc3339()),
        }
    }
}

/// How the pipeline reads and when it cuts chunks (Firehose-like: whichever limit comes first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineSettings {
    /// Where shards without a checkpoint start.
    #[serde(deserialize_with = "parsed", serialize_with = "as_text")]
    pub from: StartPosition,
    #[serde(deserialize_with = "whole::<_, _, 1, 1_000_000>")]
    pub flush_records: usize,
    #[serde(deserialize_with = "whole::<_, _, 1, 1024>")]
    pub flush_mib: usize,
    #[serde(deserialize_with = "whole::<_, _, 1, 3600>")]
    pub flush_age_secs: u64,
    /// Articles with more content than this go to quarantine.
    #[serde(deserialize_with = "whole::<_, _, 1, 1024>")]
    pub max_content_kib: usize,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        Self {
            // The stream's backlog (the ~1000 seeded articles) is read, not skipped.
            from: StartPosition::TrimHorizon,
            flush_records: 10_000,
            flush_mib: 32,
            flush_age_secs: 60,
            max_content_kib: 512,
        }
    }
}

/// This section's settings: names, flags and forms (the fields above hold the values).
pub(super) const SETTINGS: &[SettingSpec] = &[
    SettingSpec {
        key: "pipeline.from",
        env: &["PRECIS_FROM"],
        flag: "--from",
        value_name: "POSITION",
        help: "Where shards without a checkpoint start: trim-horizon, latest, at-timestamp=RFC3339",
        accepted:
            "trim-horizon, latest or at-timestamp=RFC3339 (e.g. at-timestamp=2026-11-23T08:00:00Z)",
        default_note: None,
        scopes: &[FlagScope::Run],
    },
    SettingSpec {
        key: "pipeline.flush_records",
        env: &["PRECIS_FLUSH_RECORDS"],
        flag: "--flush-records",
        value_name: "N",
        help: "Cut a file after this many records per shard",
        accepted: "a whole number of records from 1 to 1000000",
        default_note: None,
        scopes: &[FlagScope::Run],
    },
    SettingSpec {
        key: "pipeline.flush_mib",
        env: &["PRECIS_FLUSH_MIB"],
        flag: "--flush-mib",
        value_name: "MIB",
        help: "... or this many MiB",
        accepted: "a whole number of MiB from 1 to 1024",
        default_note: None,
        scopes: &[FlagScope::Run],
    },
    SettingSpec {
        key: "pipeline.flush_age_secs",
        env: &["PRECIS_FLUSH_AGE_SECS"],
        flag: "--flush-age-secs",
        value_name: "SECS",
        help: "... or when the oldest buffered record is this old",
        accepted: "a whole number of seconds from 1 to 3600",
        default_note: None,
        scopes: &[FlagScope::Run],
    },
    SettingSpec {
        key: "pipeline.max_content_kib",
        env: &["PRECIS_MAX_CONTENT_KIB"],
        flag: "--max-content-kib",
        value_name: "KIB",
        help: "Articles with more content go to quarantine",
        accepted: "a whole number of KiB from 1 to 1024",
        default_note: None,
        scopes: &[FlagScope::Run],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_positions_read_as_documented() {
        assert_eq!("trim-horizon".parse(), Ok(StartPosition::TrimHorizon));
        assert_eq!("latest".parse(), Ok(StartPosition::Latest));
        let at: StartPosition = "at-timestamp=2026-11-23T08:00:00Z".parse().unwrap();
        assert!(matches!(at, StartPosition::AtTimestamp(t) if t.timestamp() == 1_795_420_800));
        assert_eq!(at.to_string().parse(), Ok(at));
        assert!("at-timestamp=yesterday".parse::<StartPosition>().is_err());
        assert!("earliest".parse::<StartPosition>().is_err());
    }
}
