//! Where objects go in the bucket. Keys are a pure function of the chunk they hold (stream,
//! shard, first and last sequence number) and its partition, so replaying a chunk after a crash
//! overwrites the same objects instead of adding duplicates.
//!
//! ```text
//! raw/articles/dt=YYYY-MM-DD/<stream>-<shard>-<first>-<last>.parquet
//! curated/summaries/dt=YYYY-MM-DD/split=train|validation|test/<same>.parquet
//! quarantine/dt=YYYY-MM-DD/<same>.jsonl
//! _state/checkpoints/<stream>/<shard>.json
//! ```

use chrono::NaiveDate;

use crate::pipeline::features::Split;

pub const RAW_PREFIX: &str = "raw/articles/";
pub const CURATED_PREFIX: &str = "curated/summaries/";
pub const QUARANTINE_PREFIX: &str = "quarantine/";
pub const STATE_PREFIX: &str = "_state/";

/// A contiguous run of one shard's records, cut by the reader.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ChunkId {
    pub stream: String,
    pub shard_id: String,
    pub first_sequence: String,
    pub last_sequence: String,
}

impl ChunkId {
    /// The file name shared by every object of the chunk.
    pub fn stem(&self) -> String {
        format!(
            "{}-{}-{}-{}",
            self.stream, self.shard_id, self.first_sequence, self.last_sequence
        )
    }
}

pub fn raw_key(dt: NaiveDate, chunk: &ChunkId) -> String {
    format!("{RAW_PREFIX}dt={dt}/{}.parquet", chunk.stem())
}

pub fn curated_key(dt: NaiveDate, split: Split, chunk: &ChunkId) -> String {
    curated_key_for_stem(dt, split, &chunk.stem())
}

/// The curated object of a chunk known by its file stem (as found in a raw key).
pub fn curated_key_for_stem(dt: NaiveDate, split: Split, stem: &str) -> String {
    format!(
        "{CURATED_PREFIX}dt={dt}/split={}/{stem}.parquet",
        split.as_str()
    )
}

/// Every raw object of one day.
pub fn raw_partition(dt: NaiveDate) -> String {
    format!("{RAW_PREFIX}dt={dt}/")
}

/// Every curated object of one day, all splits.
pub fn curated_partition(dt: NaiveDate) -> String {
    format!("{CURATED_PREFIX}dt={dt}/")
}

/// Present while a reprocess of the day is under way (or was interrupted).
pub fn reprocess_marker_key(dt: NaiveDate) -> String {
    format!("{STATE_PREFIX}reprocess/dt={dt}.json")
}

/// The file name of a key without its directory and extension. Stream names may hold dots, so
/// only the last one starts the extension.
pub fn stem_of(key: &str) -> &str {
    let name = key.rsplit('/').next().unwrap_or(key);
    name.rsplit_once('.').map_or(name, |(stem, _)| stem)
}

pub fn quarantine_key(dt: NaiveDate, chunk: &ChunkId) -> String {
    format!("{QUARANTINE_PREFIX}dt={dt}/{}.jsonl", chunk.stem())
}

pub fn checkpoint_key(stream: &str, shard_id: &str) -> String {
    format!("{STATE_PREFIX}checkpoints/{stream}/{shard_id}.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk() -> ChunkId {
        ChunkId {
            stream: "MyStream".into(),
            shard_id: "shardId-000000000001".into(),
            first_sequence: "4960".into(),
            last_sequence: "4999".into(),
        }
    }

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()
    }

    #[test]
    fn keys_follow_the_hive_layout() {
        assert_eq!(
            raw_key(day(), &chunk()),
            "raw/articles/dt=2026-03-01/MyStream-shardId-000000000001-4960-4999.parquet"
        );
        assert_eq!(
            curated_key(day(), Split::Validation, &chunk()),
            "curated/summaries/dt=2026-03-01/split=validation/MyStream-shardId-000000000001-4960-4999.parquet"
        );
        assert_eq!(
            quarantine_key(day(), &chunk()),
            "quarantine/dt=2026-03-01/MyStream-shardId-000000000001-4960-4999.jsonl"
        );
        assert_eq!(
            checkpoint_key("MyStream", "shardId-000000000001"),
            "_state/checkpoints/MyStream/shardId-000000000001.json"
        );
    }

    #[test]
    fn a_raw_key_leads_to_the_curated_key_of_the_same_chunk() {
        let raw = raw_key(day(), &chunk());
        assert_eq!(
            curated_key_for_stem(day(), Split::Train, stem_of(&raw)),
            curated_key(day(), Split::Train, &chunk())
        );
        assert!(raw.starts_with(&raw_partition(day())));
        assert!(curated_key(day(), Split::Test, &chunk()).starts_with(&curated_partition(day())));
    }

    #[test]
    fn a_dotted_stream_name_stays_in_the_stem() {
        let mut dotted = chunk();
        dotted.stream = "news.v2".into();
        assert_eq!(
            stem_of(&raw_key(day(), &dotted)),
            "news.v2-shardId-000000000001-4960-4999"
        );
    }

    #[test]
    fn the_same_chunk_always_gets_the_same_key() {
        assert_eq!(raw_key(day(), &chunk()), raw_key(day(), &chunk().clone()));
        let mut other = chunk();
        other.last_sequence = "5000".into();
        assert_ne!(raw_key(day(), &chunk()), raw_key(day(), &other));
    }
}
