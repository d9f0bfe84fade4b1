//! Turning processed records into rows of the lake's Delta tables.

pub mod commit;
pub mod dedup;
pub mod lake;
pub mod parquet;
pub mod writer;
