//! Reading the stream: which shards, from where, in what order, and how far we got.

pub mod checkpoint;
pub mod inspect;
pub mod lineage;
pub mod reader;
