//! `precis tables`: each table's version, rows per split, files by size and last commits; with
//! `--since V`, the rows appended after version V and the filter that reads exactly them.

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::aws::AwsClients;
use crate::cli::{TableArg, TablesArgs};
use crate::config::Settings;
use crate::maintenance::card::write_card;
use crate::maintenance::inventory::{
    bucket_labels, since, summarize_candidates, summarize_table, TableSummary,
};
use crate::pipeline::sink::lake::{Lake, TableKind};
use crate::resources::require_bucket;

/// The tables a command works on: one, or all three.
pub fn chosen(table: Option<TableArg>) -> Vec<TableKind> {
    match table {
        None => TableKind::ALL.to_vec(),
        Some(TableArg::Articles) => vec![TableKind::Articles],
        Some(TableArg::Summaries) => vec![TableKind::Summaries],
        Some(TableArg::Quarantine) => vec![TableKind::Quarantine],
    }
}

pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn print_summary(s: &TableSummary, bucket: &str) -> Result<()> {
    outln!(
        "{} (s3://{bucket}/{}) version {}: {} rows, {} files, {}, median file {}",
        s.name,
        s.path,
        s.version,
        s.total.rows,
        s.total.files,
        mib(s.total.bytes),
        mib(s.median_file_bytes)
    )?;
    for (split, part) in &s.splits {
        outln!(
            "  split={split:<11} {:>10} rows {:>6} files {:>12}",
            part.rows,
            part.files,
            mib(part.bytes)
        )?;
    }
    let histogram: Vec<String> = bucket_labels()
        .iter()
        .zip(s.histogram)
        .map(|(label, n)| format!("{label}: {n}"))
        .collect();
    outln!("  files by size (MiB): {}", histogram.join("  "))?;
    for c in &s.commits {
        let when = c.when.map_or("?".to_string(), |w| {
            w.format("%Y-%m-%d %H:%M:%S").to_string()
        });
        outln!(
            "  v{:<6} {when}  {:<14} +{} -{} files, {} rows{}",
            c.version,
            c.operation,
            c.files_added,
            c.files_removed,
            c.rows_added,
            if c.new_rows == c.rows_added {
                String::new()
            } else {
                format!(" ({} new)", c.new_rows)
            }
        )?;
    }
    Ok(())
}

pub async fn run(settings: &Settings, args: &TablesArgs) -> Result<ExitCode> {
    let clients = AwsClients::connect(settings).await;
    let bucket = &settings.lake.bucket;
    require_bucket(&clients, bucket).await?;
    let lake = Lake::new(settings);
    if let Some(version) = args.since {
        let kind = chosen(args.table.or(Some(TableArg::Summaries)))[0];
        let table = lake
            .open(kind)
            .await?
            .with_context(|| format!("no table at s3://{bucket}/{} yet", kind.path()))?;
        let since = since(&table, version).await?;
        let splits: Vec<String> = since
            .by_split
            .iter()
            .map(|(split, n)| format!("{split} {n}"))
            .collect();
        outln!(
            "{}: {} rows appended after version {} (now version {}){}",
            kind.name(),
            since.rows,
            since.version,
            since.now,
            if splits.is_empty() {
                String::new()
            } else {
                format!(": {}", splits.join(", "))
            }
        )?;
        outln!(
            "read exactly them at version {} with this filter:",
            since.now
        )?;
        outln!("{}", since.where_clause())?;
        return Ok(ExitCode::SUCCESS);
    }
    for kind in chosen(args.table) {
        match lake.open(kind).await? {
            None => outln!("{}: no table yet", kind.name())?,
            Some(table) => {
                let summary = summarize_table(&table, kind, args.commits).await?;
                print_summary(&summary, bucket)?;
                // The card follows the table: this is a cheap moment to bring it up to date.
                if let Err(err) = write_card(&table, kind).await {
                    tracing::warn!("the {} table's card was not updated: {err:#}", kind.name());
                }
            }
        }
    }
    if args.table.is_none() {
        for summary in summarize_candidates(&lake, args.commits).await? {
            print_summary(&summary, bucket)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
