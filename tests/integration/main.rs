//! Integration tests: one binary (linking the AWS SDK once), against a real moto server started
//! by `support` on a free port.

mod cli;
mod compose;
mod generative;
mod pipeline;
mod produce;
mod summarize;
mod support;
