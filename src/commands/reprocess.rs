//! `precis reprocess`: the summaries rows a predicate selects rewritten from the articles table
//! with the configured summarizer, in one commit, with a progress bar on a terminal.

use std::process::ExitCode;

use anyhow::Result;
use tracing::{info, warn};

use crate::aws::AwsClients;
use crate::cli::ReprocessArgs;
use crate::commands::progress::terminal_spinner;
use crate::config::Settings;
use crate::engine::load_summarizer;
use crate::maintenance::reprocess::{reprocess, ReprocessProgress};
use crate::pipeline::sink::lake::Lake;
use crate::resources::require_bucket;
use crate::summarize::pool::Cancel;

pub async fn run(settings: &Settings, args: &ReprocessArgs) -> Result<ExitCode> {
    let selection = args.rows.selection();
    // A selection that says nothing fails before the model loads.
    selection.validate()?;
    // The model first: a missing one fails before anything is read.
    let summarizer = load_summarizer(settings).await?;
    let clients = AwsClients::connect(settings).await;
    require_bucket(&clients, &settings.lake.bucket).await?;
    let bar = terminal_spinner();
    let progress = {
        let bar = bar.clone();
        move |p: ReprocessProgress| match p {
            ReprocessProgress::Selected {
                rows,
                files,
                raw_files,
            } => {
                info!("{rows} rows selected in {files} summaries files; reading their source rows from {raw_files} articles files");
                bar.set_message(format!(
                    "{rows} rows selected: 0/{raw_files} articles files"
                ));
            }
            ReprocessProgress::ArticlesRead { done, total } => {
                bar.set_message(format!("{done}/{total} articles files read"));
                bar.tick();
            }
            ReprocessProgress::Summarized { done, total } => {
                bar.set_message(format!("{done}/{total} rows summarized"));
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
    let report = reprocess(&lake, &selection, summarizer, &progress, &cancel).await;
    on_signal.abort();
    bar.finish_and_clear();
    let report = report?;
    outln!(
        "reprocessed {} rows where {}: {} summaries files replaced by {} in version {} of s3://{}/{}, {} articles files read, summarizer {}, {:.1} s",
        report.rows,
        report.predicate,
        report.files_replaced,
        report.files_written,
        report.version,
        settings.lake.bucket,
        crate::pipeline::sink::lake::TableKind::Summaries.path(),
        report.raw_files,
        report.summarizer,
        report.elapsed.as_secs_f64()
    )?;
    Ok(ExitCode::SUCCESS)
}
