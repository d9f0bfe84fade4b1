//! `precis compact`: each table's small files merged into files of the target size, one commit
//! per table, with progress on a terminal.

use std::process::ExitCode;

use anyhow::Result;
use tracing::info;

use crate::aws::AwsClients;
use crate::cli::CompactArgs;
use crate::commands::progress::terminal_spinner;
use crate::commands::tables::{chosen, mib};
use crate::config::Settings;
use crate::maintenance::compact::{compact, CompactProgress};
use crate::pipeline::sink::lake::Lake;
use crate::resources::require_bucket;

pub async fn run(settings: &Settings, args: &CompactArgs) -> Result<ExitCode> {
    let clients = AwsClients::connect(settings).await;
    require_bucket(&clients, &settings.lake.bucket).await?;
    let lake = Lake::new(settings);
    let target = lake.layout.target_file_bytes;
    for kind in chosen(args.table) {
        let bar = terminal_spinner();
        let progress = {
            let bar = bar.clone();
            move |p: CompactProgress| match p {
                CompactProgress::Planned {
                    table,
                    bins,
                    files,
                    bytes,
                } => {
                    info!(
                        "compacting {}: {files} small files ({}) into {bins} bins",
                        table.name(),
                        mib(bytes)
                    );
                    bar.set_message(format!("{}: 0/{bins} bins", table.name()));
                }
                CompactProgress::BinDone { done, total, rows } => {
                    bar.set_message(format!("{done}/{total} bins, {rows} rows"));
                    bar.tick();
                }
                CompactProgress::Committing { removed, added } => {
                    bar.set_message(format!("committing: {removed} files → {added}"));
                }
            }
        };
        let report = compact(&lake, kind, target, &progress).await;
        bar.finish_and_clear();
        let report = match report {
            Err(err) if err.is::<crate::maintenance::NoTable>() => {
                outln!("{}: no table yet", kind.name())?;
                continue;
            }
            report => report?,
        };
        match report.version {
            None => outln!(
                "{}: nothing to merge ({} files, none of its partitions holds two files under {})",
                kind.name(),
                report.files_before,
                mib(target * 3 / 4)
            )?,
            Some(version) => outln!(
                "{}: {} files ({}) merged into {} ({}), {} rows, in version {version}; the table has {} files now (was {}), {:.1} s",
                kind.name(),
                report.files_removed,
                mib(report.bytes_removed),
                report.files_written,
                mib(report.bytes_written),
                report.rows,
                report.files_after,
                report.files_before,
                report.elapsed.as_secs_f64()
            )?,
        }
    }
    Ok(ExitCode::SUCCESS)
}
