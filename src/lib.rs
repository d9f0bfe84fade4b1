//! précis: news articles from a Kinesis stream → features → summaries → Parquet on S3.
//!
//! The binary is a thin shell over this library, so that tests and benchmarks drive the same code.

pub mod article;
pub mod aws;
pub mod backoff;
pub mod batches;
pub mod browser;
pub mod cli;
pub mod commands;
pub mod config;
pub mod crash;
pub mod engine;
pub mod lease;
pub mod maintenance;
pub mod pipeline;
pub mod produce;
pub mod resources;
pub mod summarize;
pub mod telemetry;
pub mod text;
pub mod tui;
