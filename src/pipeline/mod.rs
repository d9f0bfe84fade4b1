//! The stream-to-lake pipeline, one stage per module:
//! records → parse/validate (bad ones to quarantine) → features → sink.

pub mod features;
pub mod parallel;
pub mod record;
pub mod retry;
pub mod rows;
pub mod sequence;
pub mod shard;
pub mod sink;
pub mod source;
pub mod stats;
pub mod supervisor;

#[cfg(test)]
mod properties;
