//! Integration tests: one binary (linking the AWS SDK once), against a real moto server started
//! by `support` on a free port.

mod backfill;
mod cli;
mod compose;
mod console;
mod crashes;
mod fault_proxy;
mod faults;
mod generative;
#[path = "../fixtures/hostile_corpus.rs"]
mod hostile_corpus;
mod maintenance;
mod operator;
mod pipeline;
mod produce;
mod readers;
mod reprocess;
mod scale_out;
mod security;
mod structure;
mod summarize;
mod support;
