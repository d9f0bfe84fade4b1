//! Crashes on every step of the commit protocol, each followed by a restart and an exact check.
//! A crash point (`PRECIS_CRASH_AT`, src/crash.rs) kills the real binary with SIGKILL at a named
//! step; the fault proxy holds an S3 UploadPart so that a kill lands in the middle of a
//! multipart upload. Random kills with small chunks are in faults.rs.

use std::collections::HashSet;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use precis::config::Settings;
use precis::pipeline::sink::lake::TableKind;
use precis::produce::newsgen::NewsGenerator;
use rand::{Rng, SeedableRng};

use crate::fault_proxy::FaultProxy;
use crate::faults::assert_every_article_once;
use crate::faults::env_via;
use crate::maintenance::{articles_rows, small_files, summaries_rows};
use crate::pipeline::{
    assert_checkpoints_at_tip, checkpoint_of, env_for, put_raw, run_once, seed_one_day,
    table_file_count, tips,
};
use crate::reprocess::{assert_exactly_once, curated_day, day_written_without_summaries, DAY};
use crate::support::{
    borrowed, clients, precis_command, precis_ok, run_precis, settings_for, Watched,
};
use precis::aws::AwsClients;

const LIMIT: Duration = Duration::from_secs(240);

/// Runs precis with the crash point armed and checks that it died there, and nowhere else.
fn crash_at(point: &str, env: &[(&'static str, String)], args: &[&str]) {
    let mut env = env.to_vec();
    env.push(("PRECIS_CRASH_AT", point.to_string()));
    let (output, _) = run_precis(args, &borrowed(&env), LIMIT);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.signal(),
        Some(9),
        "precis {args:?} was to be killed at {point}: {:?}\n{stderr}",
        output.status
    );
    let name = point.split('@').next().unwrap();
    assert!(
        stderr.contains(&format!("crash point {name}")),
        "killed, but not at {point}:\n{stderr}"
    );
}

/// A call asks for at least a thousand records: 1,500 records on one shard are two chunks.
const RUN: [&str; 5] = ["run", "--once", "--no-ui", "--flush-records", "1000"];

async fn rows(settings: &Settings) -> (usize, usize) {
    (
        articles_rows(settings).await.len(),
        summaries_rows(settings).await.len(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_the_articles_and_the_summaries_commit_is_made_whole_by_the_next_start() {
    let mut settings = settings_for("crash-between");
    settings.stream.shards = 1;
    seed_one_day(&settings, 1_500, 31).await;
    let env = env_for(&settings);

    crash_at("after-commit-articles@2", &env, &RUN);
    // The second chunk is in the articles table and not in the summaries table.
    assert_eq!(rows(&settings).await, (1_500, 1_000));

    precis_ok(&env, &RUN);
    let clients = clients(&settings).await;
    assert_every_article_once(&clients, &settings, 1_500).await;
    assert_checkpoints_at_tip(&clients, &settings).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_commits_and_before_the_checkpoint_is_made_whole_by_the_next_start() {
    let mut settings = settings_for("crash-checkpoint");
    settings.stream.shards = 1;
    seed_one_day(&settings, 1_500, 32).await;
    let env = env_for(&settings);
    let clients = clients(&settings).await;

    crash_at("before-checkpoint@2", &env, &RUN);
    // Both tables hold both chunks; the checkpoint still says the first (chunks count from 0).
    assert_eq!(rows(&settings).await, (1_500, 1_500));
    let (shard, tip) = tips(&clients, &settings.stream.name)
        .await
        .into_iter()
        .next()
        .unwrap();
    let checkpoint = checkpoint_of(&clients, &settings, &shard).await;
    assert_eq!(
        checkpoint.chunks.get("articles"),
        Some(&0),
        "{checkpoint:?}"
    );
    assert_ne!(checkpoint.sequence_number.as_deref(), Some(tip.as_str()));

    precis_ok(&env, &RUN);
    assert_every_article_once(&clients, &settings, 1_500).await;
    assert_checkpoints_at_tip(&clients, &settings).await;
}

/// Articles whose bodies are random letters, so that a chunk's file compresses to well over
/// delta-rs's 5 MiB upload part and is sent as a multipart upload.
fn incompressible_articles(count: usize, seed: u64) -> Vec<(String, Vec<u8>)> {
    let mut news = NewsGenerator::new(seed, chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap());
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            let mut article = news.next_article();
            let mut content = String::with_capacity(64 * 1024);
            while content.len() < 60 * 1024 {
                let word = rng.random_range(2..10);
                content.extend((0..word).map(|_| rng.random_range(b'a'..=b'z') as char));
                content.push(if rng.random_ratio(1, 12) { '.' } else { ' ' });
                if content.ends_with('.') {
                    content.push(' ');
                }
            }
            article.content = content;
            (
                article.article_id.clone(),
                serde_json::to_vec(&article).unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_in_the_middle_of_a_multipart_upload_leaves_no_row_and_the_next_start_writes_each_once(
) {
    let mut settings = settings_for("crash-multipart");
    settings.stream.shards = 1;
    let clients = clients(&settings).await;
    precis::resources::ensure_stream(&clients, &settings.stream.name, 1)
        .await
        .unwrap();
    let articles = incompressible_articles(200, 33);
    for batch in articles.chunks(40) {
        put_raw(&clients, &settings.stream.name, batch.iter().cloned()).await;
    }
    let proxy = FaultProxy::start(&crate::support::moto().endpoint, 0.0, 0);
    proxy.hold_upload_parts(true);
    let env = env_via(&settings, &proxy.endpoint);
    let mut child = Watched::spawn(&mut precis_command(&RUN, &borrowed(&env)));
    let began = Instant::now();
    while proxy.held_upload_parts() == 0 {
        if let Some(status) = child.try_wait() {
            panic!(
                "precis ended ({status}) without a multipart upload:\n{}",
                child.stderr()
            );
        }
        assert!(
            began.elapsed() < Duration::from_secs(120),
            "no UploadPart within 120 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill(); // SIGKILL, with an upload part in flight

    let uploads = clients
        .s3
        .list_multipart_uploads()
        .bucket(&settings.lake.bucket)
        .send()
        .await
        .unwrap();
    assert!(
        !uploads.uploads().is_empty(),
        "no multipart upload was left open by the kill"
    );
    assert_eq!(rows(&settings).await, (0, 0));

    drop(proxy);
    run_once(&settings, &[]);
    assert_every_article_once(&clients, &settings, 200).await;
    assert_checkpoints_at_tip(&clients, &settings).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_before_a_compactions_commit_leaves_the_table_as_it_was_and_a_rerun_compacts_it() {
    let settings = small_files("crash-compact", 200).await;
    let env = env_for(&settings);
    let bucket = &settings.lake.bucket;
    let (summaries, articles) = (
        summaries_rows(&settings).await,
        articles_rows(&settings).await,
    );
    let files = table_file_count(bucket, TableKind::Articles).await;
    assert!(files > 1, "{files} articles files");

    // Articles are compacted first: the crash is at their commit.
    crash_at("before-rewrite-commit", &env, &["compact"]);
    assert_eq!(table_file_count(bucket, TableKind::Articles).await, files);
    assert_eq!(articles_rows(&settings).await, articles);

    precis_ok(&env, &["compact"]);
    assert_eq!(table_file_count(bucket, TableKind::Articles).await, 1);
    assert_eq!(articles_rows(&settings).await, articles);
    assert_eq!(summaries_rows(&settings).await, summaries);
}

fn summarizers(rows: &[(String, String, String)]) -> HashSet<&str> {
    rows.iter()
        .map(|(_, summarizer, _)| summarizer.split(':').next().unwrap())
        .collect()
}

/// The day's summaries rows after a reprocess of it (30 rows on one shard, written without
/// summaries) was killed at `point`; the test's settings, clients, the day's ids, the
/// reprocess's environment and arguments.
async fn reprocess_crashed_at(
    test: &str,
    point: &str,
) -> (
    Settings,
    AwsClients,
    Vec<String>,
    Vec<(&'static str, String)>,
    Vec<(String, String, String)>,
) {
    let (settings, clients, ids) = day_written_without_summaries(test, 30, 1).await;
    let env = crate::reprocess::env(&settings, "extractive");
    crash_at(point, &env, &REPROCESS);
    let rows = curated_day(&clients, &settings).await;
    assert_exactly_once(&rows, &ids);
    (settings, clients, ids, env, rows)
}

const REPROCESS: [&str; 3] = ["reprocess", "--dt", DAY];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_before_a_reprocess_commit_keeps_the_old_summaries_and_a_rerun_replaces_them_once()
{
    let (settings, clients, ids, env, rows) =
        reprocess_crashed_at("crash-reprocess", "before-rewrite-commit").await;
    assert_eq!(summarizers(&rows), HashSet::from(["none"]));

    precis_ok(&env, &REPROCESS);
    let rows = curated_day(&clients, &settings).await;
    assert_exactly_once(&rows, &ids);
    assert_eq!(summarizers(&rows), HashSet::from(["extractive"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_right_after_a_reprocess_commit_keeps_it_and_a_rerun_leaves_each_row_once() {
    let (settings, clients, ids, env, rows) =
        reprocess_crashed_at("crash-reprocessed", "after-rewrite-commit").await;
    assert_eq!(summarizers(&rows), HashSet::from(["extractive"]));

    precis_ok(&env, &REPROCESS);
    let after = curated_day(&clients, &settings).await;
    assert_exactly_once(&after, &ids);
    assert_eq!(after.iter().collect::<HashSet<_>>(), rows.iter().collect());
}
