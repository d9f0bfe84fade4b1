//! `precis vacuum`: the files no snapshot of the retention period needs, deleted (or listed).

use std::process::ExitCode;

use anyhow::Result;

use crate::aws::AwsClients;
use crate::cli::VacuumArgs;
use crate::commands::tables::chosen;
use crate::config::Settings;
use crate::maintenance::vacuum::{check_retention, vacuum};
use crate::maintenance::NoTable;
use crate::pipeline::sink::lake::Lake;
use crate::resources::require_bucket;

pub async fn run(settings: &Settings, args: &VacuumArgs) -> Result<ExitCode> {
    // Before any call: a refused retention needs no bucket.
    check_retention(args.retain_hours, args.force)?;
    let clients = AwsClients::connect(settings).await;
    require_bucket(&clients, &settings.lake.bucket).await?;
    let lake = Lake::new(settings);
    for kind in chosen(args.table) {
        let report = match vacuum(&lake, kind, args.retain_hours, args.force, args.dry_run).await {
            Err(err) if err.is::<NoTable>() => {
                outln!("{}: no table yet", kind.name())?;
                continue;
            }
            report => report?,
        };
        let verb = if report.dry_run {
            "would delete"
        } else {
            "deleted"
        };
        outln!(
            "{}: {verb} {} files no snapshot of the last {} hours needs",
            kind.name(),
            report.files.len(),
            args.retain_hours
        )?;
        if report.dry_run {
            for file in &report.files {
                outln!("  {file}")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
