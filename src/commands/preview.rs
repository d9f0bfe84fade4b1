//! `precis preview`: a table, a partition or one file of a table's current snapshot, read with
//! polars and printed as its table, with the same column stats the console shows.

use std::process::ExitCode;

use anyhow::Result;

use crate::aws::AwsClients;
use crate::browser::preview::{lists_tables, load};
use crate::cli::PreviewArgs;
use crate::config::Settings;
use crate::pipeline::sink::lake::Lake;
use crate::resources::require_bucket;

pub async fn run(settings: &Settings, args: &PreviewArgs) -> Result<ExitCode> {
    let clients = AwsClients::connect(settings).await;
    let bucket = &settings.lake.bucket;
    require_bucket(&clients, bucket).await?;
    let lake = Lake::new(settings);
    let preview = load(&clients, &lake, &args.target).await?;
    outln!("{}", preview.head(args.limit, args.all_columns)?)?;
    let s = &preview.stats;
    if lists_tables(&preview.target) {
        outln!("{} tables under s3://{bucket}/{}", s.rows, preview.target)?;
        return Ok(ExitCode::SUCCESS);
    }
    let version = preview
        .version
        .map_or(String::new(), |v| format!(" (table version {v})"));
    let mut line = format!(
        "{} rows from {} of {} file{} under s3://{bucket}/{}{version}",
        s.rows,
        preview.files_read,
        preview.files_total,
        if preview.files_total == 1 { "" } else { "s" },
        preview.target
    );
    if let Some(mean) = s.mean_word_count {
        line.push_str(&format!("; mean word_count {mean:.1}"));
    }
    if let Some(mean) = s.mean_summary_word_count {
        line.push_str(&format!("; mean summary_word_count {mean:.1}"));
    }
    line.push_str(&format!("; {}", s.nulls_text()));
    outln!("{line}")?;
    Ok(ExitCode::SUCCESS)
}
