//! `precis reprocess --dt D`: one curated day rewritten from raw with the configured summarizer,
//! with a progress bar on a terminal.

use std::process::ExitCode;

use anyhow::Result;
use indicatif::ProgressStyle;
use tracing::{info, warn};

use crate::aws::AwsClients;
use crate::cli::ReprocessArgs;
use crate::commands::progress::terminal_bar;
use crate::config::Settings;
use crate::engine::load_summarizer;
use crate::reprocess::{interrupted, reprocess_day, Cancel, ReprocessProgress};
use crate::resources::require_bucket;

pub async fn run(settings: &Settings, args: &ReprocessArgs) -> Result<ExitCode> {
    // The model first: a missing one fails before anything in the bucket changes.
    let summarizer = load_summarizer(settings).await?;
    let clients = AwsClients::connect(settings).await;
    let bucket = &settings.lake.bucket;
    require_bucket(&clients, bucket).await?;
    if interrupted(&clients, bucket).await?.contains(&args.dt) {
        warn!(
            "an earlier reprocess of dt={} did not finish; this run completes it",
            args.dt
        );
    }
    let bar = terminal_bar(
        None,
        ProgressStyle::with_template("{spinner} {msg} [{elapsed_precise}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let progress = {
        let bar = bar.clone();
        move |p: ReprocessProgress| match p {
            ReprocessProgress::Started { dt, raw_files } => {
                info!("reprocessing dt={dt}: {raw_files} raw files");
                bar.set_message(format!("dt={dt}: 0/{raw_files} raw files"));
            }
            ReprocessProgress::FileDone { done, total, rows } => {
                info!("{done}/{total} raw files, {rows} rows rewritten");
                bar.set_message(format!("{done}/{total} raw files, {rows} rows rewritten"));
                bar.tick();
            }
            ReprocessProgress::RemovingStale { objects } => {
                bar.set_message(format!("removing {objects} replaced objects"));
            }
        }
    };
    // Ctrl-C stops between batches; the marker tells the next run to finish the day.
    let cancel = Cancel::default();
    let on_signal = {
        let (cancel, dt) = (cancel.clone(), args.dt);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                warn!("stopping the reprocess after the batch in hand (Ctrl-C again quits now)");
                cancel.cancel();
                if tokio::signal::ctrl_c().await.is_ok() {
                    eprintln!(
                        "error: reprocess interrupted; run `precis reprocess --dt {dt}` again to complete it"
                    );
                    std::process::exit(130);
                }
            }
        })
    };
    let report = reprocess_day(&clients, bucket, args.dt, summarizer, &progress, &cancel).await;
    on_signal.abort();
    bar.finish_and_clear();
    let report = report?;
    outln!(
        "reprocessed dt={}: {} raw files, {} rows read, {} rows written to curated ({} duplicates of an article_id skipped), {} objects written, {} stale removed, summarizer {}, {:.1} s",
        report.dt,
        report.raw_files,
        report.rows_read,
        report.rows_written,
        report.duplicates_skipped,
        report.objects_written,
        report.stale_removed,
        report.summarizer,
        report.elapsed.as_secs_f64()
    )?;
    Ok(ExitCode::SUCCESS)
}
