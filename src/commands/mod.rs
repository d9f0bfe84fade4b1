//! What each subcommand does beyond the library call: progress on a terminal, the lines a person
//! reads at the end, the exit code.

pub mod config;
pub mod eval;
pub mod partitions;
pub mod preview;
pub mod produce;
pub mod progress;
pub mod reprocess;
pub mod run;
