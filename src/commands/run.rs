//! `precis run` headless: the pipeline, a stats line every few seconds, a summary at the end,
//! and a graceful stop on SIGINT/SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tracing::{info, warn};

use crate::cli::RunArgs;
use crate::config::Settings;
use crate::engine::{Engine, StopHandle};
use crate::pipeline::sink::lake::LAKE_PREFIX;
use crate::pipeline::stats::{Snapshot, Stats};
use crate::pipeline::supervisor::RunOutcome;
use crate::summarize::pool::PoolMetrics;

/// Seconds between stats lines.
const STATS_EVERY: Duration = Duration::from_secs(5);
/// After a stop signal, the longest we wait for readers to end (they commit nothing more; a
/// commit under way finishes).
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(30);

pub async fn run(settings: &Settings, args: &RunArgs) -> Result<ExitCode> {
    let engine = Engine::start(settings, args.once).await?;
    let stats = engine.stats.clone();
    let pool_metrics = engine.pool_metrics();
    let bucket = engine.bucket.clone();
    let started = engine.started;
    let stopping = tokio::spawn(wait_for_stop_signal(engine.stop_sender()));
    let printer = tokio::spawn(print_stats(stats.clone(), pool_metrics.clone()));
    let outcome = engine.run_to_end(SHUTDOWN_LIMIT).await;
    printer.abort();
    stopping.abort();
    Ok(report(
        outcome?,
        &stats,
        pool_metrics.as_deref(),
        started.elapsed(),
        &bucket,
    ))
}

/// Prints what a run did (stdout) and says whether it failed (exit code), for both front ends.
pub fn report(
    outcome: RunOutcome,
    stats: &Stats,
    pool: Option<&PoolMetrics>,
    elapsed: Duration,
    bucket: &str,
) -> ExitCode {
    let snapshot = stats.snapshot();
    let mut printed = outln!("{}", summary(&snapshot, elapsed, bucket, outcome.stopped));
    if let (Some(pool), Ok(())) = (pool, &printed) {
        let p = pool.snapshot();
        let busy = p.busy.as_secs_f64();
        printed = outln!(
            "summaries: {} ({} fell back to the lead sentences), model busy {busy:.1} s in {} batches: {:.1} articles/s per worker",
            p.summarized,
            p.fallbacks,
            p.batches,
            p.summarized as f64 / busy.max(1e-9)
        );
    }
    if outcome.failed_readers > 0 {
        eprintln!(
            "error: {} shard reader(s) failed (see the warnings above, or the log file after the console); their checkpoints did not move past what is written",
            outcome.failed_readers
        );
        return ExitCode::FAILURE;
    }
    if let Err(err) = printed {
        eprintln!("error: printing the run's summary: {err}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

async fn wait_for_stop_signal(stop: StopHandle) -> Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    warn!("stop requested: nothing more is committed; what was read but not committed is read again on the next start");
    stop.request();
    Ok(())
}

async fn print_stats(stats: Arc<Stats>, pool: Option<Arc<PoolMetrics>>) {
    let mut tick = tokio::time::interval(STATS_EVERY);
    tick.tick().await;
    let mut previous = stats.snapshot();
    let mut previous_at = Instant::now();
    loop {
        tick.tick().await;
        let now = stats.snapshot();
        let secs = previous_at.elapsed().as_secs_f64().max(1e-9);
        let summarizing = pool.as_ref().map_or(String::new(), |p| {
            let p = p.snapshot();
            format!(" · summarized {} (queue {})", p.summarized, p.queued)
        });
        info!(
            "records in {} ({:.0}/s, {:.1} MiB/s) · written {} · quarantined {} · files {} · max lag {} ms · errors {}{summarizing}",
            now.records_in,
            (now.records_in - previous.records_in) as f64 / secs,
            (now.bytes_in - previous.bytes_in) as f64 / secs / MIB,
            now.articles_written,
            now.quarantined,
            now.files_written,
            now.max_lag_millis(),
            now.errors
        );
        previous = now;
        previous_at = Instant::now();
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// The lines printed when a run ends.
pub fn summary(s: &Snapshot, elapsed: Duration, bucket: &str, stopped: bool) -> String {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let how = if stopped { "stopped" } else { "finished" };
    let a = &s.averages;
    let errors = match s.errors {
        0 => String::new(),
        n => format!("\nerrors met: {n} (each one is among the warnings)"),
    };
    let uncommitted: u64 = s.shards.values().map(|shard| shard.uncommitted).sum();
    let uncommitted = match uncommitted {
        0 => String::new(),
        n => format!(
            "\nread but not committed at the stop: {n} record(s); the next start reads them again"
        ),
    };
    format!(
        "run {how} in {secs:.1} s\n\
         records read: {} ({:.1} MiB) from {} shard{}: {:.0} records/s, {:.1} MiB/s\n\
         articles written: {}; quarantined: {}; exact duplicates (articles table only): {}\n\
         average word count: {:.1} (characters {:.0}, sentences {:.1}, paragraphs {:.1}, reading time {:.0} s)\n\
         files written: {} ({:.1} MiB) to the Delta tables s3://{bucket}/{LAKE_PREFIX}{{articles,summaries,quarantine}}{uncommitted}{errors}",
        s.records_in,
        s.bytes_in as f64 / MIB,
        s.shards.len(),
        if s.shards.len() == 1 { "" } else { "s" },
        s.records_in as f64 / secs,
        s.bytes_in as f64 / MIB / secs,
        s.articles_written,
        s.quarantined,
        s.exact_duplicates,
        a.word_count(),
        a.char_count(),
        a.sentence_count(),
        a.paragraph_count(),
        a.reading_time_seconds(),
        s.files_written,
        s.bytes_written as f64 / MIB,
    )
}
