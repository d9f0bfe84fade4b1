//! `precis export`: a table's rows (at a version, filtered) to JSON Lines, Parquet or CSV, with
//! progress on a terminal and a last line saying what was written.

use std::process::ExitCode;

use anyhow::Result;
use indicatif::ProgressStyle;

use crate::aws::AwsClients;
use crate::cli::ExportArgs;
use crate::commands::progress::terminal_bar;
use crate::config::Settings;
use crate::maintenance::export::{export, ExportJob, Format};
use crate::maintenance::predicate::Predicate;
use crate::pipeline::sink::lake::{table_at, Lake};
use crate::resources::require_bucket;

/// Sequence numbers of payloads left out, listed before the rest are counted.
const LISTED: usize = 10;

pub async fn run(settings: &Settings, args: &ExportArgs) -> Result<ExitCode> {
    let (path, version) = table_at(&args.table)?;
    let job = ExportJob {
        path,
        version,
        predicate: args.r#where.as_deref().map(Predicate::parse).transpose()?,
        format: Format::of(&args.to)?,
        to: args.to.clone(),
    };
    let clients = AwsClients::connect(settings).await;
    require_bucket(&clients, &settings.lake.bucket).await?;
    let lake = Lake::new(settings);
    let bar = terminal_bar(
        None,
        ProgressStyle::with_template("{spinner} exporting {msg} [{elapsed_precise}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let progress = |done: usize, total: usize| bar.set_message(format!("{done}/{total} files"));
    let result = export(&lake, &job, &progress).await;
    bar.finish_and_clear();
    let report = result?;
    outln!(
        "{} rows of {} at version {} from {} files to {}",
        report.rows,
        job.path,
        report.version,
        report.files_read,
        job.to.display()
    )?;
    if report.multi_line.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let shown: Vec<&str> = report
        .multi_line
        .iter()
        .take(LISTED)
        .map(String::as_str)
        .collect();
    eprintln!(
        "{} payloads hold a line break, which one JSON Lines line cannot: left out (sequence \
         numbers {}{}); export them with --to FILE.parquet",
        report.multi_line.len(),
        shown.join(", "),
        if report.multi_line.len() > LISTED {
            ", …"
        } else {
            ""
        }
    );
    Ok(ExitCode::FAILURE)
}
