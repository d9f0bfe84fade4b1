//! The lake: its bucket, and how its files are laid out and kept.

use serde::{Deserialize, Serialize};

use super::values::*;

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
