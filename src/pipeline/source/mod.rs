//! Reading the stream: which shards, from where, in what order.

pub mod lineage;
