//! Rewriting the summaries of a publish day from the articles table in one commit:
//! `precis reprocess`, `precis partitions`, `precis preview`, and a kill -9 in the middle of a
//! reprocess. The real binary against moto.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::Array;

use chrono::NaiveDate;
use precis::aws::AwsClients;
use precis::config::Settings;
use precis::produce::newsgen::NewsGenerator;

use crate::pipeline::{env_for, lake_of, parquet_under, put_raw, run_once};
use crate::support::{borrowed, clients, precis_command, run_precis, settings_for};

const LIMIT: Duration = Duration::from_secs(240);
pub(crate) const DAY: &str = "2026-03-01";
const NEXT_DAY: &str = "2026-03-02";

/// `count` generated articles, all published on [`DAY`] (and as many on the day after, which a
/// reprocess of [`DAY`] must leave alone), put on a fresh stream of `shards` shards, then written
/// by `run --once` with summaries off. Returns the ids of [`DAY`].
pub(crate) async fn day_written_without_summaries(
    test: &str,
    count: usize,
    shards: u32,
) -> (Settings, AwsClients, Vec<String>) {
    day_written_in(settings_for(test), count, shards).await
}

async fn day_written_in(
    settings: Settings,
    count: usize,
    shards: u32,
) -> (Settings, AwsClients, Vec<String>) {
    let clients = clients(&settings).await;
    precis::resources::ensure_stream(&clients, &settings.stream.name, shards)
        .await
        .unwrap();
    let mut generator = NewsGenerator::new(7, NaiveDate::from_ymd_opt(2026, 11, 23).unwrap());
    let mut ids = Vec::new();
    let records: Vec<(String, Vec<u8>)> = (0..2 * count)
        .map(|i| {
            let mut article = generator.next_article();
            if i % 2 == 0 {
                article.publish_date = format!("{DAY}T{:02}:00:00", i % 24);
                ids.push(article.article_id.clone());
            } else {
                article.publish_date = format!("{NEXT_DAY}T{:02}:00:00", i % 24);
            }
            (
                article.article_id.clone(),
                serde_json::to_vec(&article).unwrap(),
            )
        })
        .collect();
    put_raw(&clients, &settings.stream.name, records.into_iter()).await;
    run_once(&settings, &[]);
    (settings, clients, ids)
}

pub(crate) fn env(settings: &Settings, summarizer: &str) -> Vec<(&'static str, String)> {
    let mut env = env_for(settings);
    env.retain(|(k, _)| *k != "PRECIS_SUMMARIZER");
    env.push(("PRECIS_SUMMARIZER", summarizer.to_string()));
    env
}

/// (article_id, summarizer, summary) of every summaries row published on [`DAY`].
pub(crate) async fn curated_day(
    clients: &AwsClients,
    settings: &Settings,
) -> Vec<(String, String, String)> {
    rows_of(clients, settings, DAY).await
}

async fn rows_of(
    clients: &AwsClients,
    settings: &Settings,
    day: &str,
) -> Vec<(String, String, String)> {
    let batches = parquet_under(clients, &settings.lake.bucket, "lake/summaries/").await;
    let mut rows = Vec::new();
    for batch in &batches {
        let ids = batch
            .column_by_name("article_id")
            .unwrap()
            .as_string::<i32>();
        let summarizers = batch
            .column_by_name("summarizer")
            .unwrap()
            .as_string::<i32>();
        let summaries = batch.column_by_name("summary").unwrap().as_string::<i32>();
        let dates = batch
            .column_by_name("publish_date")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        for i in 0..batch.num_rows() {
            let date = chrono::DateTime::from_timestamp_micros(dates.value(i))
                .unwrap()
                .date_naive()
                .to_string();
            if date != day {
                continue;
            }
            let summary = if summaries.is_null(i) {
                String::new()
            } else {
                summaries.value(i).to_string()
            };
            rows.push((
                ids.value(i).to_string(),
                summarizers.value(i).to_string(),
                summary,
            ));
        }
    }
    rows
}

/// Each expected article exactly once, nothing else.
pub(crate) fn assert_exactly_once(rows: &[(String, String, String)], ids: &[String]) {
    let seen: Vec<&String> = rows.iter().map(|r| &r.0).collect();
    let unique: HashSet<&String> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "an article_id appears twice");
    let expected: HashSet<&String> = ids.iter().collect();
    assert_eq!(
        unique, expected,
        "summaries rows differ from the articles put"
    );
}

async fn summaries_version(settings: &Settings) -> Option<u64> {
    lake_of(&settings.lake.bucket)
        .open(precis::pipeline::sink::lake::TableKind::Summaries)
        .await
        .unwrap()
        .and_then(|t| t.version())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reprocess_from_the_cli_rewrites_the_day_with_the_new_summarizer_and_leaves_other_days() {
    let (settings, clients, ids) = day_written_without_summaries("reprocess-cli", 24, 2).await;
    let before = curated_day(&clients, &settings).await;
    assert_exactly_once(&before, &ids);
    assert!(before.iter().all(|r| r.1 == "none"));
    let next_day_before = rows_of(&clients, &settings, NEXT_DAY).await;
    assert_eq!(next_day_before.len(), 24);

    let env = env(&settings, "extractive");
    let (output, _) = run_precis(
        &["reprocess", "--dt", DAY, "--summary-sentences", "1"],
        &borrowed(&env),
        LIMIT,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "reprocess failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "reprocessed 24 rows where CAST(publish_date AS DATE) = '{DAY}':"
        )),
        "{stdout}"
    );

    let after = curated_day(&clients, &settings).await;
    assert_exactly_once(&after, &ids);
    for (id, summarizer, summary) in &after {
        assert!(
            summarizer.starts_with("extractive:") && summarizer.contains("sentences=1"),
            "{id}: {summarizer}"
        );
        assert!(!summary.is_empty(), "{id} has no summary");
    }
    let mut next_day_after = rows_of(&clients, &settings, NEXT_DAY).await;
    let mut next_day_before = next_day_before;
    next_day_after.sort();
    next_day_before.sort();
    assert_eq!(
        next_day_after, next_day_before,
        "another day's rows changed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_reprocess_changes_nothing_and_a_rerun_does_it_whole() {
    let (settings, clients, ids) = day_written_without_summaries("reprocess-kill", 80, 4).await;
    let version_before = summaries_version(&settings).await;
    let env = env(&settings, "extractive");
    let mut child = precis_command(
        &["reprocess", "--dt", DAY, "--summarizer-workers", "1"],
        &borrowed(&env),
    )
    .stdout(Stdio::null())
    .spawn()
    .expect("spawn precis reprocess");
    // Kill once the reprocess has started reading: before its one commit.
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let started = Instant::now();
    let mut log = String::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(line) => {
                log.push_str(&line);
                log.push('\n');
                if line.contains("rows selected in") {
                    break;
                }
            }
            Err(_) if started.elapsed() > LIMIT => panic!("no progress line:\n{log}"),
            Err(_) => {
                assert!(
                    child.try_wait().unwrap().is_none(),
                    "reprocess ended early:\n{log}"
                );
            }
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    assert_eq!(summaries_version(&settings).await, version_before);
    let mid = curated_day(&clients, &settings).await;
    assert_exactly_once(&mid, &ids);
    assert!(
        mid.iter().all(|r| r.1 == "none"),
        "a row changed without a commit"
    );

    let (output, _) = run_precis(&["reprocess", "--dt", DAY], &borrowed(&env), LIMIT);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "rerun failed:\n{stderr}");
    let after = curated_day(&clients, &settings).await;
    assert_exactly_once(&after, &ids);
    assert!(after
        .iter()
        .all(|r| r.1.starts_with("extractive:") && !r.2.is_empty()));
    assert_eq!(
        summaries_version(&settings).await,
        version_before.map(|v| v + 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_and_preview_show_the_tables_current_snapshot() {
    let (settings, _clients, _ids) = day_written_without_summaries("partitions-cli", 12, 2).await;
    let env = env(&settings, "none");
    let (output, _) = run_precis(&["partitions"], &borrowed(&env), LIMIT);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let bucket = &settings.lake.bucket;
    assert!(
        stdout.contains(&format!("table s3://{bucket}/lake/summaries/ at version ")),
        "{stdout}"
    );
    let articles = stdout
        .lines()
        .find(|l| l.starts_with("lake/articles/"))
        .unwrap_or_else(|| panic!("no articles table:\n{stdout}"));
    // One chunk a shard: one file each.
    assert_eq!(articles.split_whitespace().nth(1), Some("2"), "{articles}");
    assert!(stdout.contains("lake/summaries/split=train/"), "{stdout}");
    assert!(
        !stdout.contains("_delta_log") && !stdout.contains("_state"),
        "{stdout}"
    );

    let (output, _) = run_precis(
        &["preview", "lake/summaries/", "--limit", "5"],
        &borrowed(&env),
        LIMIT,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("shape: (5,"),
        "a polars table of 5 rows:\n{stdout}"
    );
    assert!(
        stdout.contains("title") && stdout.contains("word_count"),
        "{stdout}"
    );
    assert!(stdout.contains("24 rows from"), "{stdout}");
    assert!(stdout.contains("(table version "), "{stdout}");
    assert!(stdout.contains("mean word_count"), "{stdout}");
    assert!(
        stdout.contains("nulls: summary 24"),
        "summaries are off:\n{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reprocess_of_a_day_with_no_article_is_one_clear_error() {
    let (settings, _clients, _ids) = day_written_without_summaries("reprocess-empty", 4, 1).await;
    let env = env(&settings, "none");
    let (output, _) = run_precis(&["reprocess", "--dt", "2020-01-01"], &borrowed(&env), LIMIT);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("no summaries row matches CAST(publish_date AS DATE) = '2020-01-01'"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_reprocess_commits_nothing() {
    let (settings, clients, ids) = day_written_without_summaries("reprocess-cancel", 10, 1).await;
    let version_before = summaries_version(&settings).await;
    let cancel = precis::summarize::pool::Cancel::default();
    cancel.cancel();
    let day = NaiveDate::parse_from_str(DAY, "%Y-%m-%d").unwrap();
    let err = precis::maintenance::reprocess::reprocess(
        &lake_of(&settings.lake.bucket),
        &precis::maintenance::reprocess::Selection::day(day),
        None,
        &|_| {},
        &cancel,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("nothing was committed"), "{err}");
    assert_eq!(summaries_version(&settings).await, version_before);
    assert_exactly_once(&curated_day(&clients, &settings).await, &ids);
}
