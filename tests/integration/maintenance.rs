//! The tables kept fit for training: compaction (alone, with an append landing during it, with
//! another compaction racing it, in the background of follow mode), vacuum, a reader polling
//! through a reprocess, `precis tables --since`, and the dataset card. The real binary and the
//! library against moto.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, RecordBatch};
use precis::config::Settings;
use precis::maintenance::compact::{compact, CompactProgress};
use precis::pipeline::sink::lake::TableKind;

use crate::pipeline::{env_for, lake_of, parquet_under, run_once, seed, table_file_count};
use crate::reprocess::{day_written_without_summaries, DAY};
use crate::support::{borrowed, clients, moto, project_python, run_precis, settings_for};

const LIMIT: Duration = Duration::from_secs(240);
const TARGET: u64 = 128 * 1024 * 1024;

/// (article_id, content_sha256) of every summaries row, sorted: the table's rows as a multiset.
pub(crate) async fn summaries_rows(settings: &Settings) -> Vec<(String, String)> {
    let clients = clients(settings).await;
    let batches = parquet_under(&clients, &settings.lake.bucket, "lake/summaries/").await;
    let mut rows = pairs(&batches, "article_id", "content_sha256");
    rows.sort();
    rows
}

/// (article_id, sequence_number) of every articles row, sorted.
pub(crate) async fn articles_rows(settings: &Settings) -> Vec<(String, String)> {
    let clients = clients(settings).await;
    let batches = parquet_under(&clients, &settings.lake.bucket, "lake/articles/").await;
    let mut rows = pairs(&batches, "article_id", "sequence_number");
    rows.sort();
    rows
}

fn pairs(batches: &[RecordBatch], a: &str, b: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for batch in batches {
        let (x, y) = (
            batch.column_by_name(a).unwrap().as_string::<i32>(),
            batch.column_by_name(b).unwrap().as_string::<i32>(),
        );
        for i in 0..batch.num_rows() {
            out.push((x.value(i).to_string(), y.value(i).to_string()));
        }
    }
    out
}

/// `count` articles over a year of publish dates on 2 shards, written by 5 runs: each run
/// commits a chunk per shard, so the tables hold many small files.
pub(crate) async fn small_files(test: &str, count: u64) -> Settings {
    let mut settings = settings_for(test);
    settings.stream.shards = 2;
    for round in 0..5 {
        seed(&settings, count / 5, 61 + round).await;
        run_once(&settings, &[]);
    }
    settings
}

fn precis_ok(settings: &Settings, args: &[&str]) -> String {
    crate::support::precis_ok(&env_for(settings), args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_keeps_exactly_the_same_rows_in_fewer_files_sorted_by_publish_date() {
    let settings = small_files("compact-rows", 400).await;
    let bucket = &settings.lake.bucket;
    let (summaries, articles) = (
        summaries_rows(&settings).await,
        articles_rows(&settings).await,
    );
    let files_before = table_file_count(bucket, TableKind::Summaries).await;
    assert!(
        files_before >= 20,
        "{files_before} files: not many small ones"
    );

    let stdout = precis_ok(&settings, &["compact"]);
    assert!(
        stdout.contains("summaries: ") && stdout.contains("merged into"),
        "{stdout}"
    );

    assert_eq!(summaries_rows(&settings).await, summaries);
    assert_eq!(articles_rows(&settings).await, articles);
    // One file per split, one for the articles.
    assert_eq!(table_file_count(bucket, TableKind::Summaries).await, 3);
    assert_eq!(table_file_count(bucket, TableKind::Articles).await, 1);
    let batches = parquet_under(&clients(&settings).await, bucket, "lake/articles/").await;
    let mut last = i64::MIN;
    for batch in &batches {
        let dates = batch
            .column_by_name("publish_date")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        for i in (0..batch.num_rows()).filter(|&i| dates.is_valid(i)) {
            assert!(
                dates.value(i) >= last,
                "row {i} is out of publish-date order"
            );
            last = dates.value(i);
        }
    }

    // A second compaction finds nothing to merge.
    let stdout = precis_ok(&settings, &["compact", "--table", "summaries"]);
    assert!(stdout.contains("summaries: nothing to merge"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_committed_during_a_compaction_is_neither_lost_nor_duplicated() {
    let settings = small_files("compact-append", 200).await;
    seed(&settings, 100, 99).await;
    let writer = settings.clone();
    // The pipeline commits the 100 new articles after the compaction read its files and wrote
    // their replacement, before its commit.
    let progress = move |p: CompactProgress| {
        if matches!(p, CompactProgress::Committing { .. }) {
            run_once(&writer, &[]);
        }
    };
    let report = compact(
        &lake_of(&settings.lake.bucket),
        TableKind::Summaries,
        TARGET,
        &progress,
    )
    .await
    .expect("compaction commits past the append");
    assert!(report.version.is_some() && report.files_removed > 3);

    let rows = summaries_rows(&settings).await;
    let ids: HashSet<&String> = rows.iter().map(|(id, _)| id).collect();
    assert_eq!(rows.len(), 300, "every row once");
    assert_eq!(ids.len(), 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compaction_whose_files_another_compaction_replaced_commits_nothing() {
    let settings = small_files("compact-race", 200).await;
    let before = summaries_rows(&settings).await;
    let other = settings.clone();
    let progress = move |p: CompactProgress| {
        if matches!(p, CompactProgress::Committing { .. }) {
            precis_ok(&other, &["compact", "--table", "summaries"]);
        }
    };
    let err = compact(
        &lake_of(&settings.lake.bucket),
        TableKind::Summaries,
        TARGET,
        &progress,
    )
    .await
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("left the table meanwhile"),
        "{err:#}"
    );
    assert_eq!(summaries_rows(&settings).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_mode_compacts_small_files_in_the_background_without_losing_a_row() {
    let mut settings = settings_for("compact-follow");
    settings.stream.shards = 2;
    seed(&settings, 50, 63).await;
    let env = env_for(&settings);
    let child = crate::support::precis_command(
        &[
            "run",
            "--no-ui",
            "--flush-records",
            "20",
            "--compact-small-files",
            "4",
        ],
        &borrowed(&env),
    )
    .spawn()
    .expect("spawn precis run");
    // Each batch put while the pipeline follows ends in a chunk of its own per shard.
    for round in 1..6 {
        tokio::time::sleep(Duration::from_secs(3)).await;
        seed(&settings, 50, 63 + round).await;
    }
    let lake = lake_of(&settings.lake.bucket);
    let started = Instant::now();
    let compacted = loop {
        let history = match lake.open(TableKind::Summaries).await.unwrap() {
            Some(table) => {
                let version = table.version().unwrap_or(0) as i64;
                precis::maintenance::inventory::commits(&table, 0, version)
                    .await
                    .unwrap()
            }
            None => Vec::new(),
        };
        let committed: usize = history.iter().map(|c| c.new_rows as usize).sum();
        if history.iter().any(|c| c.operation == "OPTIMIZE") && committed == 300 {
            break true;
        }
        if started.elapsed() > Duration::from_secs(90) {
            break false;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let output = crate::support::terminate(child).await;
    assert!(
        compacted,
        "not every row and a compaction commit within 90 s:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows = summaries_rows(&settings).await;
    let ids: HashSet<&String> = rows.iter().map(|(id, _)| id).collect();
    assert_eq!((rows.len(), ids.len()), (300, 300));
}

/// Data files under a table's prefix in the bucket, whatever the log says.
async fn stored_data_files(settings: &Settings, table: &str) -> usize {
    let clients = clients(settings).await;
    let listed = clients
        .s3
        .list_objects_v2()
        .bucket(&settings.lake.bucket)
        .prefix(format!("lake/{table}/"))
        .send()
        .await
        .unwrap();
    listed
        .contents()
        .iter()
        .filter(|o| {
            o.key()
                .is_some_and(|k| k.ends_with(".parquet") && !k.contains("_delta_log"))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vacuum_deletes_replaced_files_and_keeps_every_file_of_the_snapshot() {
    let settings = small_files("vacuum", 200).await;
    let streamed = lake_of(&settings.lake.bucket)
        .open(TableKind::Summaries)
        .await
        .unwrap()
        .and_then(|t| t.version())
        .unwrap();
    precis_ok(&settings, &["compact"]);
    // Time travel reads the version before the compaction, from its own files.
    let old = format!("lake/summaries@{streamed}");
    let stdout = precis_ok(&settings, &["preview", &old, "--limit", "3"]);
    assert!(
        stdout.contains(&format!("(table version {streamed}")),
        "{stdout}"
    );
    let before = summaries_rows(&settings).await;
    assert!(stored_data_files(&settings, "summaries").await > 3);

    let env = env_for(&settings);
    let (refused, _) = run_precis(&["vacuum", "--retain-hours", "0"], &borrowed(&env), LIMIT);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("below the safe retention of 168 hours"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let stdout = precis_ok(&settings, &["vacuum", "--retain-hours", "0", "--force"]);
    assert!(stdout.contains("summaries: deleted "), "{stdout}");
    assert_eq!(stored_data_files(&settings, "summaries").await, 3);
    assert_eq!(stored_data_files(&settings, "articles").await, 1);
    assert_eq!(summaries_rows(&settings).await, before);
    // The old version's files are gone, and the preview says why.
    let (output, _) = run_precis(&["preview", &old], &borrowed(&env), LIMIT);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("`precis vacuum` deletes"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_polling_during_a_reprocess_counts_exactly_n_rows_every_time() {
    let (settings, clients, _) = day_written_without_summaries("reprocess-poll", 40, 2).await;
    let total = 80; // 40 of DAY and 40 of the day after.
    let mut env = env_for(&settings);
    env.retain(|(k, _)| *k != "PRECIS_SUMMARIZER");
    env.push(("PRECIS_SUMMARIZER", "extractive".to_string()));
    let mut child = crate::support::precis_command(
        &["reprocess", "--from", DAY, "--to", "2026-03-02"],
        &borrowed(&env),
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .expect("spawn precis reprocess");
    let (mut polls, mut saw_old, mut saw_new) = (0, false, false);
    loop {
        let done = child.try_wait().unwrap().is_some();
        let batches = parquet_under(&clients, &settings.lake.bucket, "lake/summaries/").await;
        let rows = pairs(&batches, "article_id", "summarizer");
        let ids: HashSet<&String> = rows.iter().map(|(id, _)| id).collect();
        assert_eq!((rows.len(), ids.len()), (total, total), "poll {polls}");
        // All old or all new: one commit replaces them.
        let new = rows
            .iter()
            .filter(|(_, s)| s.starts_with("extractive"))
            .count();
        assert!(
            new == 0 || new == total,
            "poll {polls}: {new} of {total} new"
        );
        saw_old |= new == 0;
        saw_new |= new == total;
        polls += 1;
        if done {
            break;
        }
    }
    let finished = crate::support::finish_within(child, LIMIT, "the reprocess");
    assert!(finished.status.success());
    assert!(
        saw_old && saw_new,
        "the polls did not span the commit ({polls} polls)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_since_a_version_counts_and_selects_exactly_the_rows_appended_after_it() {
    let mut settings = settings_for("tables-since");
    settings.stream.shards = 2;
    seed(&settings, 120, 64).await;
    run_once(&settings, &[]);
    let version = lake_of(&settings.lake.bucket)
        .open(TableKind::Summaries)
        .await
        .unwrap()
        .and_then(|t| t.version())
        .unwrap();
    seed(&settings, 50, 65).await;
    run_once(&settings, &["--flush-records", "20"]);
    // A compaction between the two reads moves rows, it adds none.
    precis_ok(&settings, &["compact"]);

    let stdout = precis_ok(&settings, &["tables"]);
    assert!(stdout.contains("summaries (s3://"), "{stdout}");
    assert!(stdout.contains(": 170 rows,"), "{stdout}");
    assert!(stdout.contains("split=train"), "{stdout}");
    assert!(stdout.contains("OPTIMIZE"), "{stdout}");

    let stdout = precis_ok(&settings, &["tables", "--since", &version.to_string()]);
    assert!(
        stdout.contains(&format!(
            "summaries: 50 rows appended after version {version}"
        )),
        "{stdout}"
    );
    let filter = stdout.lines().last().unwrap();
    let script = r#"
import glob, os, sys, duckdb
endpoint, bucket, where = sys.argv[1], sys.argv[2], sys.argv[3]
extensions = os.path.join(os.path.dirname(duckdb.__file__), "..", "duckdb_ext", "extensions")
con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
for name in ["httpfs", "delta"]:
    [path] = glob.glob(os.path.join(extensions, f"v{duckdb.__version__}", "*", f"{name}.duckdb_extension"))
    con.execute(f"LOAD '{path}'")
host = endpoint.split("://", 1)[1]
con.execute(f"CREATE SECRET moto (TYPE s3, KEY_ID 'test', SECRET 'test', REGION 'us-east-1', ENDPOINT '{host}', URL_STYLE 'path', USE_SSL false)")
print(con.execute(f"SELECT count(*), count(DISTINCT article_id) FROM delta_scan('s3://{bucket}/lake/summaries') WHERE {where}").fetchone())
"#;
    let output = std::process::Command::new(project_python())
        .args([
            "-c",
            script,
            &moto().endpoint,
            &settings.lake.bucket,
            filter,
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run python");
    let output = crate::support::finish_within(output, LIMIT, "the DuckDB reader");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "(50, 50)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_table_carries_a_dataset_card_that_follows_it() {
    let settings = settings_for("card");
    seed(&settings, 30, 66).await;
    run_once(&settings, &[]);
    let clients = clients(&settings).await;
    let card = |body: aws_sdk_s3::operation::get_object::GetObjectOutput| async move {
        String::from_utf8(body.body.collect().await.unwrap().to_vec()).unwrap()
    };
    let summaries = card(
        clients
            .s3
            .get_object()
            .bucket(&settings.lake.bucket)
            .key("lake/summaries/_README.md")
            .send()
            .await
            .expect("a card for summaries"),
    )
    .await;
    assert!(summaries.contains("rows in"), "{summaries}");
    assert!(summaries.contains("30 rows in"), "{summaries}");
    assert!(summaries.contains("| `summary` |"), "{summaries}");
    assert!(
        summaries.contains("- `none`"),
        "summaries were off:\n{summaries}"
    );
    for table in ["articles", "quarantine"] {
        clients
            .s3
            .head_object()
            .bucket(&settings.lake.bucket)
            .key(format!("lake/{table}/_README.md"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("no card for {table}: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_readme_card_of_precis_is_removed_and_anyone_elses_readme_kept() {
    let settings = settings_for("oldcard");
    seed(&settings, 10, 67).await;
    run_once(&settings, &[]);
    let clients = clients(&settings).await;
    let put = |key: &'static str, body: &'static str| {
        clients
            .s3
            .put_object()
            .bucket(&settings.lake.bucket)
            .key(key)
            .body(body.as_bytes().to_vec().into())
            .send()
    };
    put(
        "lake/summaries/README.md",
        "# summaries\n\nA Delta Lake table written by précis. At version 1: 10 rows in 3 files.\n",
    )
    .await
    .unwrap();
    put("lake/articles/README.md", "# Notes of our own\n")
        .await
        .unwrap();
    let env = crate::pipeline::env_for(&settings);
    let (output, _) = run_precis(&["tables"], &borrowed(&env), LIMIT);
    assert!(output.status.success());
    let exists = |key: &'static str| {
        clients
            .s3
            .head_object()
            .bucket(&settings.lake.bucket)
            .key(key)
            .send()
    };
    assert!(
        exists("lake/summaries/README.md").await.is_err(),
        "précis's old card is gone"
    );
    assert!(exists("lake/summaries/_README.md").await.is_ok());
    assert!(
        exists("lake/articles/README.md").await.is_ok(),
        "a README précis did not write is kept"
    );
}
