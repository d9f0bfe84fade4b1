//! `precis produce` on a terminal or in a pipeline: progress bar when someone watches, a final
//! line with count, bytes and rate either way.

use std::process::ExitCode;

use anyhow::Result;
use chrono::Utc;
use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use tracing::{info, warn};

use crate::aws::AwsClients;
use crate::cli::ProduceArgs;
use crate::commands::progress::terminal_bar;
use crate::config::{Origin, Settings};
use crate::produce::newsgen::NewsGenerator;
use crate::produce::source::RecordSource;
use crate::produce::{produce, ProduceJob, ProduceReport};

/// Skipped lines listed one by one before the rest are summed up.
const SKIPPED_SHOWN: usize = 20;

pub async fn run(settings: &Settings, args: &ProduceArgs) -> Result<ExitCode> {
    let source = match &args.from_file {
        Some(path) => {
            // From a file every line is sent, unless a count was asked for explicitly.
            let limit = (settings.origin("produce.records") != Origin::Default)
                .then_some(settings.produce.records);
            RecordSource::file(path, limit)?
        }
        None => {
            let seed = settings.produce.seed.unwrap_or_else(rand::random);
            let as_of = args.as_of.unwrap_or_else(|| Utc::now().date_naive());
            info!(
                "generating articles with seed {seed} (repeat with --seed {seed} --as-of {as_of} --date-window-days {})",
                args.date_window_days
            );
            let generator = NewsGenerator::new(seed, as_of).with_window_days(args.date_window_days);
            RecordSource::generated(generator, settings.produce.records)
        }
    };
    let bar = progress_bar(source.len_hint());
    let clients = AwsClients::connect(settings).await;
    let job = ProduceJob {
        stream: settings.stream.name.clone(),
        bucket: settings.lake.bucket.clone(),
        region: settings.aws.region.clone(),
        shards: settings.stream.shards,
        in_flight: settings.produce.in_flight,
        source,
    };
    let on_progress = |records: u64, _bytes: u64| bar.set_position(records);
    let result = produce(&clients, job, &on_progress).await;
    bar.finish_and_clear();
    let report = result?;
    outln!("{}", summary_line(settings, &clients, &report))?;
    if report.skipped.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for skip in report.skipped.iter().take(SKIPPED_SHOWN) {
        warn!("line {} not sent: {}", skip.line, skip.reason);
    }
    if report.skipped.len() > SKIPPED_SHOWN {
        warn!(
            "… and {} more lines not sent",
            report.skipped.len() - SKIPPED_SHOWN
        );
    }
    eprintln!(
        "error: {} lines could not be put on the stream (listed above)",
        report.skipped.len()
    );
    Ok(ExitCode::FAILURE)
}

fn progress_bar(total: Option<u64>) -> ProgressBar {
    let template = match total {
        Some(_) => "{spinner} putting {bar:30} {pos}/{len} records  {rate}  eta {eta}",
        None => "{spinner} putting {pos} records  {rate}",
    };
    let style = ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key(
            "rate",
            |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                let _ = write!(out, "{:.0} records/s", state.per_sec());
            },
        );
    terminal_bar(total, style)
}

/// e.g. `produced 1000 records (4.3 MiB) to stream MyStream (1 shard) at http://127.0.0.1:4566
/// in 1.21 s: 826 records/s, 3.6 MiB/s`
pub fn summary_line(settings: &Settings, clients: &AwsClients, report: &ProduceReport) -> String {
    let secs = report.elapsed.as_secs_f64().max(1e-9);
    let mib = report.bytes as f64 / (1024.0 * 1024.0);
    let mut line = format!(
        "produced {} records ({mib:.1} MiB) to stream {} ({} shard{}{}) at {} in {secs:.2} s: {:.0} records/s, {:.1} MiB/s",
        report.records,
        settings.stream.name,
        report.open_shards,
        if report.open_shards == 1 { "" } else { "s" },
        if report.stream_created { ", created" } else { "" },
        clients.target.label,
        report.records_per_second(),
        mib / secs,
    );
    if report.retried > 0 {
        line.push_str(&format!(
            "; {} records retried after throttling",
            report.retried
        ));
    }
    line
}
