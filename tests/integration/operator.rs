//! The operator's commands, through the real binary in a terminal (tmux) against moto: inspect
//! the stream, a table's history, compare two summarizers, export rows.

use std::collections::BTreeMap;

use precis::config::Settings;

use crate::console::Tmux;
use crate::pipeline::{
    env_for, keys_under, lake_of, object, parquet_under, put_raw, run_once, seed, strings,
};
use crate::reprocess::{day_written_without_summaries, env, DAY};
use crate::support::{
    assert_listed_in_order, clients, operations, precis_ok, read_stream, settings_for, unique_name,
};
use precis::maintenance::files::table_files;
use precis::pipeline::sink::lake::TableKind;

/// Each line of `text` as JSON.
fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// `precis ARGS` in a terminal of its own; its screen once it has exited 0.
fn in_terminal(args: &[&str], env: &[(&'static str, String)]) -> String {
    let tmux = Tmux::start_command(args, env);
    let status = tmux.wait_for_exit();
    let screen = tmux.output();
    assert_eq!(status, 0, "precis {args:?} failed; screen:\n{screen}");
    screen
}

/// Every checkpoint object of the bucket, by key, byte for byte.
async fn checkpoint_objects(settings: &Settings) -> BTreeMap<String, Vec<u8>> {
    let clients = clients(settings).await;
    let bucket = &settings.lake.bucket;
    let mut out = BTreeMap::new();
    for key in keys_under(&clients, bucket, "_state/checkpoints/").await {
        let body = object(&clients, bucket, &key).await.to_vec();
        out.insert(key, body);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_prints_5_json_lines_of_a_drained_stream_and_moves_no_checkpoint() {
    let mut settings = settings_for("inspect");
    settings.stream.shards = 2;
    seed(&settings, 40, 5).await;
    run_once(&settings, &[]);
    let before = checkpoint_objects(&settings).await;
    assert_eq!(before.len(), 2, "one checkpoint a shard: {before:?}");

    let env = env_for(&settings);
    let lines = json_lines(&precis_ok(
        &env,
        &["inspect", "-n", "5", "--from", "trim-horizon"],
    ));
    assert_eq!(lines.len(), 5);
    for line in &lines {
        assert!(line["sequence_number"].as_str().is_some(), "{line}");
        assert!(line["partition_key"].as_str().is_some(), "{line}");
        assert!(line["arrival_time"].as_str().is_some(), "{line}");
        assert_eq!(line["data"]["encoding"], "json", "{line}");
        assert!(line["data"]["value"]["article_id"].is_string(), "{line}");
        assert!(line["quarantine"].is_null(), "{line}");
    }
    assert_eq!(checkpoint_objects(&settings).await, before);

    // The same in a terminal, where an operator runs it.
    let screen = in_terminal(&["inspect", "-n", "5", "--from", "trim-horizon"], &env);
    assert_eq!(
        screen.matches("\"sequence_number\"").count(),
        5,
        "{} lines:\n{screen}",
        screen.lines().count()
    );
    assert_eq!(checkpoint_objects(&settings).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_reads_from_a_sequence_number_filters_and_gives_the_quarantine_reason() {
    let settings = settings_for("inspect-bad");
    let clients = clients(&settings).await;
    precis::resources::ensure_stream(&clients, &settings.stream.name, 1)
        .await
        .unwrap();
    put_raw(
        &clients,
        &settings.stream.name,
        [
            ("k1".to_string(), br#"{"article_id":"a1"}"#.to_vec()),
            ("k2".to_string(), vec![0xff, 0x00, 0xfe]),
            ("k3".to_string(), b"plain words".to_vec()),
        ]
        .into_iter(),
    )
    .await;
    let records = read_stream(&clients, &settings.stream.name).await;
    let second = records[1].1.sequence_number().to_string();
    let env = env_for(&settings);
    let lines = json_lines(&precis_ok(&env, &["inspect", "--from", &second]));
    assert_eq!(lines.len(), 2, "from the second record on: {lines:?}");
    assert_eq!(lines[0]["data"]["encoding"], "base64");
    assert_eq!(lines[0]["quarantine"]["reason_code"], "not_utf8");
    assert_eq!(
        lines[1]["data"],
        serde_json::json!({"encoding": "text", "value": "plain words"})
    );
    assert_eq!(lines[1]["quarantine"]["reason_code"], "not_json");

    let text = precis_ok(&env, &["inspect", "--filter", "A1"]);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("missing_field"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_after_a_run_a_compaction_and_a_reprocess_lists_those_three_operations() {
    let (settings, _clients, _ids) = day_written_without_summaries("history", 20, 2).await;
    let env_none = env(&settings, "none");
    precis_ok(&env_none, &["compact", "--table", "summaries"]);
    precis_ok(
        &env(&settings, "extractive"),
        &["reprocess", "--dt", DAY, "--summary-sentences", "1"],
    );

    let screen = in_terminal(&["history", "lake/summaries"], &env_none);
    let operations = operations(&screen);
    assert_eq!(
        operations.iter().filter(|o| **o == "stream").count(),
        2,
        "one stream commit a shard:\n{screen}"
    );
    assert_listed_in_order(&screen, &["reprocess", "compaction", "stream", "create"]);
    assert!(
        screen.contains("precis/"),
        "the stream commits name their shard:\n{screen}"
    );
    assert!(
        screen.contains(&format!(
            "where CAST(publish_date AS DATE) = '{DAY}' with extractive:"
        )),
        "{screen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_on_a_reprocess_shows_the_old_and_new_summaries_of_the_rows_it_changed() {
    let (settings, _clients, ids) = day_written_without_summaries("compare", 12, 1).await;
    let env_extractive = env(&settings, "extractive");
    precis_ok(&env_extractive, &["reprocess", "--dt", DAY]);
    let history = precis_ok(&env_extractive, &["history", "summaries"]);
    let version = history
        .lines()
        .find(|l| l.split_whitespace().nth(3) == Some("reprocess"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no reprocess in:\n{history}"))
        .to_string();
    let text = precis_ok(
        &env_extractive,
        &["compare", &format!("lake/summaries@{version}"), "-n", "3"],
    );
    // The rewritten files hold the day's rows (changed) and rows of the next day that share a
    // file with them (kept as they were).
    let rows: usize = text.split_whitespace().next().unwrap().parse().unwrap();
    assert!(rows >= ids.len() && rows <= 2 * ids.len(), "{text}");
    assert!(
        text.starts_with(&format!("{rows} rows on both sides, {} changed", ids.len())),
        "{text}"
    );
    assert!(text.contains(&format!("old: none ({rows})")), "{text}");
    assert!(text.contains("new: extractive:"), "{text}");
    assert_eq!(
        text.matches("\n  old: (none)\n  new: ").count(),
        3,
        "{text}"
    );
}

/// The article ids of the summaries table's train split, from the files under `split=train/`.
async fn train_ids(settings: &Settings) -> Vec<String> {
    let clients = clients(settings).await;
    let bucket = &settings.lake.bucket;
    let table = lake_of(bucket)
        .open(TableKind::Summaries)
        .await
        .unwrap()
        .expect("the summaries table");
    let mut ids = Vec::new();
    for file in table_files(&table).await.unwrap() {
        if file.partition.contains(&("split".into(), "train".into())) {
            let key = format!("lake/summaries/{}", file.path);
            let batches: Vec<_> =
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                    object(&clients, bucket, &key).await,
                )
                .unwrap()
                .build()
                .unwrap()
                .map(Result::unwrap)
                .collect();
            ids.extend(strings(&batches, "article_id"));
        }
    }
    ids.sort();
    ids
}

/// Reads a JSON Lines file's `article_id`s.
fn ids_in(path: &std::path::Path) -> Vec<String> {
    json_lines(&std::fs::read_to_string(path).unwrap())
        .iter()
        .map(|row| row["article_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_writes_every_summaries_row_once_as_json_lines_parquet_or_csv() {
    let mut settings = settings_for("export");
    settings.stream.shards = 2;
    seed(&settings, 60, 8).await;
    run_once(&settings, &[]);
    let clients = clients(&settings).await;
    let bucket = &settings.lake.bucket;
    let mut expected = strings(
        &parquet_under(&clients, bucket, "lake/summaries/").await,
        "article_id",
    );
    expected.sort();
    assert_eq!(expected.len(), 60);
    let trains = train_ids(&settings).await;
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&settings);

    let jsonl = dir.path().join("rows.jsonl");
    let screen = in_terminal(
        &["export", "lake/summaries", "--to", jsonl.to_str().unwrap()],
        &env,
    );
    assert!(screen.contains("60 rows of lake/summaries"), "{screen}");
    let mut ids = ids_in(&jsonl);
    ids.sort();
    assert_eq!(ids, expected);

    let parquet = dir.path().join("rows.parquet");
    precis_ok(
        &env,
        &["export", "summaries", "--to", parquet.to_str().unwrap()],
    );
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&parquet).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    let mut ids = strings(&batches, "article_id");
    ids.sort();
    assert_eq!(ids, expected);

    let csv = dir.path().join("train.csv");
    precis_ok(
        &env,
        &[
            "export",
            "lake/summaries",
            "--where",
            "split = 'train'",
            "--to",
            csv.to_str().unwrap(),
        ],
    );
    let file = std::fs::File::open(&csv).unwrap();
    let (schema, _) = arrow_csv::reader::Format::default()
        .with_header(true)
        .infer_schema(&file, None)
        .unwrap();
    let reader = arrow_csv::ReaderBuilder::new(std::sync::Arc::new(schema))
        .with_header(true)
        .build(std::fs::File::open(&csv).unwrap())
        .unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    assert!(strings(&batches, "split").iter().all(|s| s == "train"));
    let mut exported = strings(&batches, "article_id");
    exported.sort();
    assert!(!trains.is_empty() && trains.len() < expected.len());
    assert_eq!(exported, trains, "every train row, once, and no other");
    assert!(!dir.path().join("train.csv.partial").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_quarantine_produced_again_round_trips_the_payloads_byte_for_byte() {
    let settings = settings_for("export-quarantine");
    let clients = clients(&settings).await;
    precis::resources::ensure_stream(&clients, &settings.stream.name, 1)
        .await
        .unwrap();
    let bad: Vec<Vec<u8>> = vec![
        br#"{"article_id":"x1","title":"no content"}"#.to_vec(),
        b"not json at all".to_vec(),
        br#"{"article_id": "x2", "content": 17}"#.to_vec(),
        "{\"article_id\":\"x3\",\"content\":\"caf\u{e9} \u{1F600}\""
            .as_bytes()
            .to_vec(),
    ];
    put_raw(
        &clients,
        &settings.stream.name,
        bad.iter()
            .enumerate()
            .map(|(i, payload)| (format!("k{i}"), payload.clone())),
    )
    .await;
    run_once(&settings, &[]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("quarantine.jsonl");
    let env = env_for(&settings);
    let screen = in_terminal(
        &["export", "lake/quarantine", "--to", file.to_str().unwrap()],
        &env,
    );
    assert!(screen.contains("4 rows of lake/quarantine"), "{screen}");

    let mut again = settings.clone();
    again.stream.name = unique_name("again");
    let env_again = env_for(&again);
    precis_ok(
        &env_again,
        &["produce", "--from-file", file.to_str().unwrap()],
    );
    let mut sent: Vec<Vec<u8>> = read_stream(&clients, &again.stream.name)
        .await
        .into_iter()
        .map(|(_, r)| r.data.into_inner())
        .collect();
    let mut expected = bad.clone();
    sent.sort();
    expected.sort();
    assert_eq!(sent, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_of_the_lake_root_lists_the_tables_instead_of_mixing_their_rows() {
    let settings = settings_for("preview-root");
    seed(&settings, 20, 3).await;
    run_once(&settings, &[]);
    let env = env_for(&settings);
    let text = precis_ok(&env, &["preview", "lake/"]);
    for table in ["lake/articles", "lake/summaries", "lake/quarantine"] {
        assert!(text.contains(table), "{table}:\n{text}");
    }
    assert!(text.contains("3 tables under s3://"), "{text}");
}
