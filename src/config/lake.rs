//! The lake: its bucket, and how its files are laid out and kept.

use serde::{Deserialize, Serialize};

use super::values::*;
use super::{FlagScope, SettingSpec};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LakeSettings {
    #[serde(deserialize_with = "bucket_name")]
    pub bucket: String,
    /// A table file is closed and a new one started past this size (docs/schema.md).
    #[serde(deserialize_with = "whole::<_, _, 1, 4096>")]
    pub target_file_mib: u64,
    /// A row group is closed past this much data in memory (docs/schema.md).
    #[serde(deserialize_with = "whole::<_, _, 1, 1024>")]
    pub row_group_mib: usize,
    /// Follow mode compacts a table when one of its partitions holds more small files than
    /// this; 0 never.
    #[serde(deserialize_with = "whole::<_, _, 0, 100_000>")]
    pub compact_small_files: usize,
}

impl Default for LakeSettings {
    fn default() -> Self {
        Self {
            // The original challenge's bucket.
            bucket: "my-bucket".into(),
            target_file_mib: 128,
            row_group_mib: 32,
            compact_small_files: 32,
        }
    }
}

/// This section's settings: names, flags and forms (the fields above hold the values).
pub(super) const SETTINGS: &[SettingSpec] = &[
    SettingSpec {
        key: "lake.bucket",
        env: &["PRECIS_BUCKET"],
        flag: "--bucket",
        value_name: "NAME",
        help: "S3 bucket of the lake",
        accepted: "an S3 bucket name: 3-63 characters from a-z, 0-9, '-', '.', starting and ending with a letter or digit",
        default_note: None,
        scopes: &[FlagScope::Global],
    },
    SettingSpec {
        key: "lake.target_file_mib",
        env: &["PRECIS_TARGET_FILE_MIB"],
        flag: "--target-file-mib",
        value_name: "MIB",
        help: "A table file is closed past this size",
        accepted: "a whole number of MiB from 1 to 4096",
        default_note: None,
        scopes: &[FlagScope::Run, FlagScope::Compact],
    },
    SettingSpec {
        key: "lake.row_group_mib",
        env: &["PRECIS_ROW_GROUP_MIB"],
        flag: "--row-group-mib",
        value_name: "MIB",
        help: "A row group is closed past this much data",
        accepted: "a whole number of MiB from 1 to 1024",
        default_note: None,
        scopes: &[FlagScope::Run],
    },
    SettingSpec {
        key: "lake.compact_small_files",
        env: &["PRECIS_COMPACT_SMALL_FILES"],
        flag: "--compact-small-files",
        value_name: "N",
        help: "Follow mode compacts a table in the background when a partition holds more small files than this; 0 never",
        accepted: "a whole number from 0 (never) to 100000",
        default_note: None,
        scopes: &[FlagScope::Run],
    },
];
