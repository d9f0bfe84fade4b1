//! `precis run` headless: the pipeline, a stats line every few seconds, a summary at the end,
//! and a graceful stop on SIGINT/SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::aws::AwsClients;
use crate::cli::RunArgs;
use crate::config::Settings;
use crate::pipeline::sink::layout::{CURATED_PREFIX, QUARANTINE_PREFIX, RAW_PREFIX};
use crate::pipeline::stats::{Snapshot, Stats};
use crate::pipeline::supervisor::{run_pipeline, PipelineOptions};
use crate::resources::{ensure_bucket, require_stream};
use crate::summarize::pool::PoolMetrics;
use crate::summarize::start_pool;

/// Seconds between stats lines.
const STATS_EVERY: Duration = Duration::from_secs(5);
/// After a stop signal, the longest we wait for readers to flush and checkpoint.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(60);

pub async fn run(settings: &Settings, args: &RunArgs) -> Result<ExitCode> {
    // The model first: a missing one must fail before anything is read or written.
    let summarizer_settings = settings.summarizer.clone();
    let summarizer = tokio::task::spawn_blocking(move || start_pool(&summarizer_settings))
        .await
        .context("loading the summarizer panicked")??
        .map(Arc::new);
    match &summarizer {
        Some(pool) => info!(
            "summarizer {} on {} worker(s)",
            pool.id(),
            settings.summarizer.workers
        ),
        None => info!("summaries turned off (--summarizer none): curated rows carry features only"),
    }
    let pool_metrics = summarizer.as_ref().map(|p| p.metrics());
    let clients = AwsClients::connect(settings).await;
    let stream = settings.stream.name.clone();
    let bucket = settings.lake.bucket.clone();
    let open_shards = require_stream(&clients, &stream).await?;
    ensure_bucket(&clients, &bucket, &settings.aws.region).await?;
    info!(
        "reading {stream} ({open_shards} open shard{}) at {} into s3://{bucket}/{}",
        if open_shards == 1 { "" } else { "s" },
        clients.target.label,
        if args.once {
            " until every shard is drained"
        } else {
            ""
        }
    );

    let stats = Arc::new(Stats::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopping = tokio::spawn(wait_for_stop_signal(stop_tx));
    let printer = tokio::spawn(print_stats(stats.clone(), pool_metrics.clone()));
    let started = Instant::now();
    let options = PipelineOptions {
        stream: stream.clone(),
        bucket: bucket.clone(),
        start: settings.pipeline.from,
        policy: settings.pipeline.flush_policy(),
        limits: settings.pipeline.limits(),
        once: args.once,
        summarizer,
    };
    let pipeline = run_pipeline(clients, options, stats.clone(), stop_rx.clone());
    tokio::pin!(pipeline);
    let mut stop_seen = stop_rx.clone();
    let outcome = tokio::select! {
        outcome = &mut pipeline => outcome,
        _ = stop_seen.wait_for(|stop| *stop) => {
            match tokio::time::timeout(SHUTDOWN_LIMIT, &mut pipeline).await {
                Ok(outcome) => outcome,
                Err(_) => Err(anyhow::anyhow!(
                    "readers did not finish within {} s of the stop signal; unwritten chunks are replayed by the next run",
                    SHUTDOWN_LIMIT.as_secs()
                )),
            }
        }
    };
    printer.abort();
    stopping.abort();
    let outcome = outcome?;
    let snapshot = stats.snapshot();
    println!(
        "{}",
        summary(&snapshot, started.elapsed(), &bucket, outcome.stopped)
    );
    if let Some(pool) = &pool_metrics {
        let p = pool.snapshot();
        let busy = p.busy.as_secs_f64();
        println!(
            "summaries: {} ({} fell back to the lead sentences), model busy {busy:.1} s in {} batches: {:.1} articles/s per worker",
            p.summarized,
            p.fallbacks,
            p.batches,
            p.summarized as f64 / busy.max(1e-9)
        );
    }
    if outcome.failed_readers > 0 {
        eprintln!(
            "error: {} shard reader(s) failed (see the errors above); their checkpoints did not move past what is written",
            outcome.failed_readers
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_stop_signal(stop: watch::Sender<bool>) -> Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    warn!("stop requested: finishing the chunks in hand, then checkpointing");
    let _ = stop.send(true);
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
            "records in {} ({:.0}/s, {:.1} MiB/s) · written {} · quarantined {} · files {} · max lag {} ms{summarizing}",
            now.records_in,
            (now.records_in - previous.records_in) as f64 / secs,
            (now.bytes_in - previous.bytes_in) as f64 / secs / MIB,
            now.articles_written,
            now.quarantined,
            now.files_written,
            now.max_lag_millis()
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
    format!(
        "run {how} in {secs:.1} s\n\
         records read: {} ({:.1} MiB) from {} shard{}: {:.0} records/s, {:.1} MiB/s\n\
         articles written: {}; quarantined: {}; exact duplicates (raw only): {}\n\
         average word count: {:.1} (characters {:.0}, sentences {:.1}, paragraphs {:.1}, reading time {:.0} s)\n\
         files written: {} ({:.1} MiB) to s3://{bucket}/ under {RAW_PREFIX}, {CURATED_PREFIX}, {QUARANTINE_PREFIX}",
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
