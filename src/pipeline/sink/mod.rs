//! Turning processed records into objects in the lake.

pub mod dedup;
pub mod layout;
pub mod live;
pub mod parquet;
pub mod spill;
pub mod writer;
