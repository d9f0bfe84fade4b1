//! The summarizer alone, as the ceiling for the pipeline's end-to-end rate: the same generated
//! articles `precis produce --seed S --as-of 2026-11-23` puts on a stream, summarized by the
//! configured summarizer pool (the same settings `precis run` reads), nothing else.
//!
//!     cargo run --release --example summarize_alone -- [N] [SEED]
//! bench/summarize-e2e runs it next to `precis run --once` over the same articles.

use std::time::Instant;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use precis::config::Settings;
use precis::produce::newsgen::NewsGenerator;
use precis::summarize::{start_pool, Document};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().map_or(Ok(1000), |n| n.parse())?;
    let seed: u64 = args.next().map_or(Ok(1), |n| n.parse())?;
    let settings = Settings::from_process(None, None, &[])?;
    precis::summarize::pin_model_threads(settings.summarizer.workers_for(false));
    let as_of = NaiveDate::from_ymd_opt(2026, 11, 23).context("date")?;
    let articles: Vec<_> = NewsGenerator::new(seed, as_of).take(count).collect();
    let pool = start_pool(&settings.summarizer)?.context("summaries are turned off")?;
    let started = Instant::now();
    // Chunks of the size `precis run` hands the pool per shard chunk at this scale.
    for chunk in articles.chunks(256) {
        let docs: Vec<Document<'_>> = chunk
            .iter()
            .map(|a| Document {
                title: Some(&a.title),
                content: &a.content,
            })
            .collect();
        pool.summarize_blocking(&docs, &Default::default())?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "summarizer alone: {count} articles in {secs:.1} s: {:.2} articles/s ({}, {} workers)",
        count as f64 / secs,
        pool.id(),
        pool.workers()
    );
    Ok(())
}
