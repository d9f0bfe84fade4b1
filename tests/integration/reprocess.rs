//! Rewriting a curated day from raw: `precis reprocess`, `precis partitions`, `precis preview`,
//! and a kill -9 in the middle of a reprocess. The real binary against moto.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use precis::aws::AwsClients;
use precis::config::Settings;
use precis::produce::newsgen::NewsGenerator;

use crate::pipeline::{env_for, keys_under, parquet_under, put_raw, run_once, strings};
use crate::support::{borrowed, clients, precis_command, run_precis, settings_for};

const LIMIT: Duration = Duration::from_secs(240);
pub(crate) const DAY: &str = "2026-03-01";

/// `count` generated articles, all published on [`DAY`], put on a fresh stream of `shards`
/// shards, then written by `run --once` with summaries off: one raw file per shard.
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
    let records: Vec<(String, Vec<u8>)> = (0..count)
        .map(|i| {
            let mut article = generator.next_article();
            article.publish_date = format!("{DAY}T{:02}:00:00", i % 24);
            ids.push(article.article_id.clone());
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

fn env(settings: &Settings, summarizer: &str) -> Vec<(&'static str, String)> {
    let mut env = env_for(settings);
    env.retain(|(k, _)| *k != "PRECIS_SUMMARIZER");
    env.push(("PRECIS_SUMMARIZER", summarizer.to_string()));
    env
}

/// (article_id, summarizer, summary) of every curated row of [`DAY`].
pub(crate) async fn curated_day(
    clients: &AwsClients,
    settings: &Settings,
) -> Vec<(String, String, String)> {
    let batches = parquet_under(
        clients,
        &settings.lake.bucket,
        &format!("curated/summaries/dt={DAY}/"),
    )
    .await;
    let ids = strings(&batches, "article_id");
    let summarizers = strings(&batches, "summarizer");
    let summaries: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            let column =
                arrow_array::cast::AsArray::as_string::<i32>(b.column_by_name("summary").unwrap())
                    .clone();
            (0..arrow_array::Array::len(&column)).map(move |i| {
                if arrow_array::Array::is_null(&column, i) {
                    String::new()
                } else {
                    column.value(i).to_string()
                }
            })
        })
        .collect();
    ids.into_iter()
        .zip(summarizers)
        .zip(summaries)
        .map(|((a, b), c)| (a, b, c))
        .collect()
}

/// Each expected article exactly once, nothing else.
pub(crate) fn assert_exactly_once(rows: &[(String, String, String)], ids: &[String]) {
    let seen: Vec<&String> = rows.iter().map(|r| &r.0).collect();
    let unique: HashSet<&String> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "an article_id appears twice");
    let expected: HashSet<&String> = ids.iter().collect();
    assert_eq!(
        unique, expected,
        "curated rows differ from the articles put"
    );
}

async fn raw_files(clients: &AwsClients, settings: &Settings) -> usize {
    keys_under(
        clients,
        &settings.lake.bucket,
        &format!("raw/articles/dt={DAY}/"),
    )
    .await
    .len()
}

fn marker_key() -> String {
    format!("_state/reprocess/dt={DAY}.json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reprocess_from_the_cli_rewrites_the_day_with_the_new_summarizer() {
    let (settings, clients, ids) = day_written_without_summaries("reprocess-cli", 24, 2).await;
    let raw_files = raw_files(&clients, &settings).await;
    let before = curated_day(&clients, &settings).await;
    assert_exactly_once(&before, &ids);
    assert!(before.iter().all(|r| r.1 == "none"));

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
            "reprocessed dt={DAY}: {raw_files} raw files, 24 rows read, 24 rows written"
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
    assert!(keys_under(&clients, &settings.lake.bucket, &marker_key())
        .await
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_reprocess_leaves_every_row_once_and_a_rerun_completes_it() {
    // A dot in the stream name: object stems must keep it (a stem cut at the first dot would
    // send every chunk to one curated key).
    let mut settings = settings_for("reprocess-kill");
    settings.stream.name.push_str(".v2");
    let (settings, clients, ids) = day_written_in(settings, 80, 4).await;
    assert_eq!(
        raw_files(&clients, &settings).await,
        4,
        "one raw file per shard"
    );
    let env = env(&settings, "extractive");
    let mut child = precis_command(
        &["reprocess", "--dt", DAY, "--summarizer-workers", "1"],
        &borrowed(&env),
    )
    .stdout(Stdio::null())
    .spawn()
    .expect("spawn precis reprocess");
    // Kill once a few raw files are rewritten and more remain: in the middle of step 2.
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
                if line.contains("1/4 raw files") {
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

    let mid = curated_day(&clients, &settings).await;
    assert_exactly_once(&mid, &ids);
    let rewritten = mid.iter().filter(|r| r.1 != "none").count();
    assert!(
        rewritten > 0 && rewritten < ids.len(),
        "{rewritten} of {} rewritten at the kill",
        ids.len()
    );
    assert_eq!(
        keys_under(&clients, &settings.lake.bucket, &marker_key())
            .await
            .len(),
        1,
        "the marker tells that the day is half done"
    );
    let (listing, _) = run_precis(&["partitions"], &borrowed(&env), LIMIT);
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(
        listing.contains(&format!("reprocess of dt={DAY} did not finish")),
        "{listing}"
    );

    let (output, _) = run_precis(&["reprocess", "--dt", DAY], &borrowed(&env), LIMIT);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "rerun failed:\n{stderr}");
    assert!(
        stderr.contains("did not finish; this run completes it"),
        "{stderr}"
    );
    let after = curated_day(&clients, &settings).await;
    assert_exactly_once(&after, &ids);
    assert!(after
        .iter()
        .all(|r| r.1.starts_with("extractive:") && !r.2.is_empty()));
    assert!(keys_under(&clients, &settings.lake.bucket, &marker_key())
        .await
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_and_preview_show_what_was_written() {
    let (settings, clients, _ids) = day_written_without_summaries("partitions-cli", 12, 2).await;
    let raw_files = raw_files(&clients, &settings).await.to_string();
    let env = env(&settings, "none");
    let (output, _) = run_precis(&["partitions"], &borrowed(&env), LIMIT);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let raw = stdout
        .lines()
        .find(|l| l.starts_with(&format!("raw/articles/dt={DAY}/")))
        .unwrap_or_else(|| panic!("no raw partition:\n{stdout}"));
    assert_eq!(
        raw.split_whitespace().nth(1),
        Some(raw_files.as_str()),
        "{raw}"
    );
    assert!(
        stdout.contains(&format!("curated/summaries/dt={DAY}/split=")),
        "{stdout}"
    );
    assert!(!stdout.contains("_state"), "{stdout}");

    let (output, _) = run_precis(
        &[
            "preview",
            &format!("curated/summaries/dt={DAY}/"),
            "--limit",
            "5",
        ],
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
    assert!(stdout.contains("12 rows from"), "{stdout}");
    assert!(stdout.contains("mean word_count"), "{stdout}");
    assert!(
        stdout.contains("nulls: summary 12"),
        "summaries are off:\n{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reprocess_of_a_day_with_no_raw_data_is_one_clear_error() {
    let settings = settings_for("reprocess-empty");
    let clients = clients(&settings).await;
    precis::resources::ensure_bucket(&clients, &settings.lake.bucket, "us-east-1")
        .await
        .unwrap();
    let env = env(&settings, "none");
    let (output, _) = run_precis(&["reprocess", "--dt", "2020-01-01"], &borrowed(&env), LIMIT);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("no raw objects for dt=2020-01-01"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_reprocess_stops_before_rewriting_and_leaves_its_marker() {
    let (settings, clients, ids) = day_written_without_summaries("reprocess-cancel", 10, 1).await;
    let before = keys_under(&clients, &settings.lake.bucket, "curated/").await;
    let cancel = precis::reprocess::Cancel::default();
    cancel.cancel();
    let day = NaiveDate::parse_from_str(DAY, "%Y-%m-%d").unwrap();
    let err = precis::reprocess::reprocess_day(
        &clients,
        &settings.lake.bucket,
        day,
        None,
        &|_| {},
        &cancel,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(&format!("run `precis reprocess --dt {DAY}` to complete it")),
        "{err}"
    );
    assert_eq!(
        keys_under(&clients, &settings.lake.bucket, "curated/").await,
        before
    );
    assert_exactly_once(&curated_day(&clients, &settings).await, &ids);
    assert_eq!(
        keys_under(&clients, &settings.lake.bucket, &marker_key())
            .await
            .len(),
        1
    );
}
