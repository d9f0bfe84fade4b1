//! `precis reprocess --dt D`: the summaries of one publish day rewritten from the articles table
//! with the configured summarizer, in one commit, with a progress bar on a terminal.

use std::process::ExitCode;

use anyhow::Result;
use indicatif::ProgressStyle;
use tracing::{info, warn};

use crate::aws::AwsClients;
use crate::cli::ReprocessArgs;
use crate::commands::progress::terminal_bar;
use crate::config::Settings;
use crate::engine::load_summarizer;
use crate::pipeline::sink::lake::Lake;
use crate::reprocess::{reprocess_day, Cancel, ReprocessProgress};
use crate::resources::require_bucket;

pub async fn run(settings: &Settings, args: &ReprocessArgs) -> Result<ExitCode> {
    // The model first: a missing one fails before anything is read.
    let summarizer = load_summarizer(settings).await?;
    let clients = AwsClients::connect(settings).await;
    require_bucket(&clients, &settings.lake.bucket).await?;
    let bar = terminal_bar(
        None,
        ProgressStyle::with_template("{spinner} {msg} [{elapsed_precise}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let progress = {
        let bar = bar.clone();
        move |p: ReprocessProgress| match p {
            ReprocessProgress::Started { dt, raw_files } => {
                info!("reprocessing {dt}: {raw_files} articles files may hold it");
                bar.set_message(format!("{dt}: 0/{raw_files} articles files"));
            }
            ReprocessProgress::FileDone { done, total, rows } => {
                bar.set_message(format!(
                    "{done}/{total} articles files, {rows} rows summarized"
                ));
                bar.tick();
            }
            ReprocessProgress::Committing { files } => {
                info!("committing: {files} summaries files replaced");
                bar.set_message(format!("committing ({files} files replaced)"));
            }
        }
    };
    // Ctrl-C stops between batches; nothing is committed then.
    let cancel = Cancel::default();
    let on_signal = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                warn!("stopping the reprocess after the batch in hand; the table stays unchanged");
                cancel.cancel();
            }
        })
    };
    let lake = Lake::new(settings);
    let report = reprocess_day(&lake, args.dt, summarizer, &progress, &cancel).await;
    on_signal.abort();
    bar.finish_and_clear();
    let report = report?;
    outln!(
        "reprocessed the summaries published on {}: {} articles files read, {} rows of the day ({} duplicates of an article_id skipped), {} rows written, {} files replaced by {} in version {} of s3://{}/{}, summarizer {}, {:.1} s",
        report.dt,
        report.raw_files,
        report.rows_read,
        report.duplicates_skipped,
        report.rows_written,
        report.files_replaced,
        report.files_written,
        report.version,
        settings.lake.bucket,
        crate::pipeline::sink::lake::TableKind::Summaries.path(),
        report.summarizer,
        report.elapsed.as_secs_f64()
    )?;
    Ok(ExitCode::SUCCESS)
}
