//! `precis run` end to end: the real binary against moto, output read back from S3.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{Array, RecordBatch};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use precis::aws::AwsClients;
use precis::config::Settings;
use precis::maintenance::files::table_files;
use precis::pipeline::sequence::compare_sequence;
use precis::pipeline::sink::lake::{Lake, TableKind};
use precis::pipeline::source::checkpoint::{Checkpoint, CheckpointStore};
use precis::produce::newsgen::NewsGenerator;
use precis::produce::source::RecordSource;
use precis::produce::{produce, ProduceJob};

use crate::support::{clients, moto, read_stream, run_precis, settings_for};

const LIMIT: Duration = Duration::from_secs(180);

pub(crate) async fn seed(settings: &Settings, count: u64, seed: u64) {
    seed_dated(settings, count, NewsGenerator::new(seed, AS_OF)).await;
}

/// Seeds articles all published on one day, for tests about reading rather than writing: a
/// year of dates makes each chunk about one object per publish day, and that S3 work on the
/// shared moto of a loaded CI machine is what such a test would otherwise wait on.
pub(crate) async fn seed_one_day(settings: &Settings, count: u64, seed: u64) {
    let articles = NewsGenerator::new(seed, AS_OF).with_window_days(1);
    seed_dated(settings, count, articles).await;
}

const AS_OF: chrono::NaiveDate = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();

async fn seed_dated(settings: &Settings, count: u64, articles: NewsGenerator) {
    let clients = clients(settings).await;
    let job = ProduceJob {
        stream: settings.stream.name.clone(),
        bucket: settings.lake.bucket.clone(),
        region: settings.aws.region.clone(),
        shards: settings.stream.shards,
        in_flight: 1,
        source: RecordSource::generated(articles, count),
    };
    produce(&clients, job, &|_, _| {}).await.expect("produce");
}

pub(crate) fn env_for(settings: &Settings) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", moto().endpoint.clone()),
        ("PRECIS_STREAM", settings.stream.name.clone()),
        ("PRECIS_BUCKET", settings.lake.bucket.clone()),
        // These tests are about delivery; summaries have their own (tests/integration/summarize.rs).
        ("PRECIS_SUMMARIZER", "none".to_string()),
    ]
}

pub(crate) fn run_once(settings: &Settings, extra: &[&str]) -> std::process::Output {
    let env = env_for(settings);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut args = vec!["run", "--once", "--no-ui"];
    args.extend_from_slice(extra);
    let (output, _) = run_precis(&args, &env, LIMIT);
    assert!(
        output.status.success(),
        "run failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `precis run` in follow mode as a child process, its stderr watched.
pub(crate) fn watch_follow(settings: &Settings) -> crate::support::Watched {
    let env = env_for(settings);
    crate::support::Watched::spawn(&mut crate::support::precis_command(
        &["run", "--no-ui"],
        &crate::support::borrowed(&env),
    ))
}

/// `precis run` in follow mode as a child process, its output captured.
fn spawn_follow(settings: &Settings, extra: &[&str]) -> std::process::Child {
    let env = env_for(settings);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut args = vec!["run", "--no-ui"];
    args.extend_from_slice(extra);
    crate::support::precis_command(&args, &env)
        .spawn()
        .expect("spawn precis run")
}

/// Puts (partition key, payload) pairs, as they are, in one PutRecords call.
pub(crate) async fn put_raw(
    clients: &AwsClients,
    stream: &str,
    records: impl Iterator<Item = (String, Vec<u8>)>,
) {
    let entries: Vec<PutRecordsRequestEntry> = records
        .map(|(key, data)| {
            PutRecordsRequestEntry::builder()
                .data(Blob::new(data))
                .partition_key(key)
                .build()
                .unwrap()
        })
        .collect();
    clients
        .kinesis
        .put_records()
        .stream_name(stream)
        .set_records(Some(entries))
        .send()
        .await
        .unwrap();
}

pub(crate) async fn checkpoint_of(
    clients: &AwsClients,
    settings: &Settings,
    shard: &str,
) -> Checkpoint {
    CheckpointStore::new(
        clients.clone(),
        &settings.lake.bucket,
        &settings.stream.name,
    )
    .load(shard)
    .await
    .unwrap()
    .unwrap_or_else(|| panic!("no checkpoint for {shard}"))
}

pub(crate) async fn keys_under(clients: &AwsClients, bucket: &str, prefix: &str) -> Vec<String> {
    precis::browser::list_objects(clients, bucket, prefix)
        .await
        .expect("ListObjectsV2")
        .into_iter()
        .map(|o| o.key)
        .collect()
}

pub(crate) async fn object(clients: &AwsClients, bucket: &str, key: &str) -> bytes::Bytes {
    clients
        .s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("GetObject")
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes()
}

/// Every row of the quarantine table's current snapshot, as JSON objects of text columns.
pub(crate) async fn quarantine_rows(clients: &AwsClients, bucket: &str) -> Vec<serde_json::Value> {
    let batches = parquet_under(clients, bucket, "lake/quarantine/").await;
    let mut rows = Vec::new();
    for batch in &batches {
        for i in 0..batch.num_rows() {
            let mut row = serde_json::Map::new();
            for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
                if let Some(text) = column.as_string_opt::<i32>() {
                    let value = if text.is_valid(i) {
                        serde_json::Value::from(text.value(i))
                    } else {
                        serde_json::Value::Null
                    };
                    row.insert(field.name().clone(), value);
                }
            }
            rows.push(serde_json::Value::Object(row));
        }
    }
    rows
}

/// The lake of a test's bucket on the shared moto, as précis opens it.
pub(crate) fn lake_of(bucket: &str) -> Lake {
    let mut settings = Settings::default();
    settings.aws.endpoint_url = Some(moto().endpoint.clone());
    settings.lake.bucket = bucket.to_string();
    Lake::new(&settings)
}

/// Sequence number → position of the record in the stream as `read_stream` returns it.
pub(crate) async fn positions_in_stream(
    clients: &AwsClients,
    stream: &str,
) -> HashMap<String, usize> {
    read_stream(clients, stream)
        .await
        .into_iter()
        .enumerate()
        .map(|(i, (_, r))| (r.sequence_number().to_string(), i))
        .collect()
}

/// The rows of a table's current snapshot (`prefix` names the table: `lake/summaries/`), read
/// file by file from S3 with the parquet crate; none when the table does not exist.
pub(crate) async fn parquet_under(
    clients: &AwsClients,
    bucket: &str,
    prefix: &str,
) -> Vec<RecordBatch> {
    let kind = prefix
        .strip_prefix("lake/")
        .and_then(|rest| TableKind::parse(rest.trim_end_matches('/')))
        .unwrap_or_else(|| panic!("{prefix} is not a table's folder"));
    let Some(table) = lake_of(bucket).open(kind).await.expect("open the table") else {
        return Vec::new();
    };
    let mut batches = Vec::new();
    for file in table_files(&table).await.expect("the table's files") {
        let key = format!("{prefix}{}", file.path);
        let reader = ParquetRecordBatchReaderBuilder::try_new(object(clients, bucket, &key).await)
            .unwrap()
            .build()
            .unwrap();
        batches.extend(reader.map(Result::unwrap));
    }
    batches
}

/// Files of a table's current snapshot.
pub(crate) async fn table_file_count(bucket: &str, kind: TableKind) -> usize {
    match lake_of(bucket).open(kind).await.expect("open the table") {
        Some(table) => table_files(&table).await.expect("the table's files").len(),
        None => 0,
    }
}

pub(crate) fn strings(batches: &[RecordBatch], column: &str) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            let array = b.column_by_name(column).unwrap().as_string::<i32>().clone();
            (0..array.len()).map(move |i| array.value(i).to_string())
        })
        .collect()
}

/// Words as the features define them, counted by a separate hand-written scan: runs of
/// non-whitespace that contain a letter or digit.
fn independent_word_count(text: &str) -> i32 {
    let (mut count, mut in_token, mut has_alnum) = (0, false, false);
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_whitespace() {
            if in_token && has_alnum {
                count += 1;
            }
            in_token = false;
            has_alnum = false;
        } else {
            in_token = true;
            has_alnum |= c.is_alphanumeric();
        }
    }
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_writes_every_seeded_article_to_raw_and_curated_exactly_once() {
    let settings = settings_for("run1k");
    seed(&settings, 1000, 21).await;
    let output = run_once(&settings, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();

    let clients = clients(&settings).await;
    let bucket = &settings.lake.bucket;
    let raw = parquet_under(&clients, bucket, "lake/articles/").await;
    let curated = parquet_under(&clients, bucket, "lake/summaries/").await;
    for (layer, batches) in [("raw", &raw), ("curated", &curated)] {
        let ids = strings(batches, "article_id");
        let distinct: HashSet<&String> = ids.iter().collect();
        assert_eq!(ids.len(), 1000, "{layer} rows");
        assert_eq!(distinct.len(), 1000, "{layer} distinct article_ids");
    }

    let contents = strings(&curated, "content");
    let counts: Vec<i32> = curated
        .iter()
        .flat_map(|b| {
            let a = b
                .column_by_name("word_count")
                .unwrap()
                .as_primitive::<Int32Type>();
            a.values().to_vec()
        })
        .collect();
    for (content, count) in contents.iter().zip(&counts) {
        assert_eq!(*count, independent_word_count(content));
    }
    let mean = counts.iter().map(|&c| f64::from(c)).sum::<f64>() / counts.len() as f64;
    let printed = stdout
        .lines()
        .find_map(|l| l.strip_prefix("average word count: "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no average in:\n{stdout}"));
    assert!(
        (printed - mean).abs() < 0.05,
        "printed {printed}, data {mean:.2}"
    );
    assert!(quarantine_rows(&clients, bucket).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_records_are_quarantined_once_each_with_a_reason_and_good_ones_are_written() {
    let settings = settings_for("hostile");
    let clients = clients(&settings).await;
    precis::resources::ensure_stream(&clients, &settings.stream.name, 1)
        .await
        .unwrap();
    let good = |id: &str, extra: &str| {
        format!(r#"{{"article_id":"{id}","title":"T","content":"Good body of text.","publish_date":"2026-01-02T03:04:05"{extra}}}"#)
            .into_bytes()
    };
    let big = format!(r#"{{"article_id":"big","content":"{}"}}"#, "x".repeat(2048));
    // (payload, expected quarantine code or None for a good record)
    let cases: Vec<(Vec<u8>, Option<&str>)> = vec![
        (good("g1", ""), None),
        (b"\xff\xfe not utf8".to_vec(), Some("not_utf8")),
        (good("g2", r#","category":"tech""#), None),
        (b"plain words".to_vec(), Some("not_json")),
        (b"[1,2,3]".to_vec(), Some("not_object")),
        (br#"{"content":"no id"}"#.to_vec(), Some("missing_field")),
        (good("g3", r#","publish_date_note":1"#), None),
        (
            br#"{"article_id":"","content":"x"}"#.to_vec(),
            Some("empty_field"),
        ),
        (
            br#"{"article_id":7,"content":"x"}"#.to_vec(),
            Some("wrong_type"),
        ),
        (br#"{"article_id":"nc"}"#.to_vec(), Some("missing_field")),
        (
            br#"{"article_id":"ec","content":"   "}"#.to_vec(),
            Some("empty_field"),
        ),
        (
            br#"{"article_id":"wt","content":"x","title":["a"]}"#.to_vec(),
            Some("wrong_type"),
        ),
        (big.into_bytes(), Some("content_too_large")),
        (
            br#"{"article_id":"cc","content":"bell\u0007"}"#.to_vec(),
            Some("control_characters"),
        ),
        (
            br#"{"article_id":"g4","content":"x","publish_date":"../../x"}"#.to_vec(),
            None,
        ),
        (
            br#"{"article_id":"g1","content":"Different body."}"#.to_vec(),
            Some("conflicting_duplicate"),
        ),
    ];
    let records = cases
        .iter()
        .enumerate()
        .map(|(i, (data, _))| (format!("k{i}"), data.clone()));
    put_raw(&clients, &settings.stream.name, records).await;
    let sequence_of = positions_in_stream(&clients, &settings.stream.name).await;

    run_once(&settings, &["--max-content-kib", "1"]);

    let mut quarantined: HashMap<usize, String> = HashMap::new();
    for row in quarantine_rows(&clients, &settings.lake.bucket).await {
        let index = sequence_of[row["sequence_number"].as_str().unwrap()];
        assert!(!row["reason"].as_str().unwrap().is_empty());
        let previous = quarantined.insert(index, row["reason_code"].as_str().unwrap().to_string());
        assert!(previous.is_none(), "record {index} quarantined twice");
    }
    for (index, (_, expected)) in cases.iter().enumerate() {
        assert_eq!(
            quarantined.get(&index).map(String::as_str),
            *expected,
            "record {index}"
        );
    }
    let curated = parquet_under(&clients, &settings.lake.bucket, "lake/summaries/").await;
    let mut ids = strings(&curated, "article_id");
    ids.sort();
    assert_eq!(ids, ["g1", "g2", "g3", "g4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hostile_corpus_through_a_stream_is_quarantined_once_each_or_written_intact() {
    let settings = settings_for("corpus");
    let clients = clients(&settings).await;
    precis::resources::ensure_stream(&clients, &settings.stream.name, 1)
        .await
        .unwrap();
    let corpus = crate::hostile_corpus::hostile_corpus();
    // Several PutRecords calls: the corpus is larger than one call may carry.
    for (i, piece) in corpus.chunks(4).enumerate() {
        let records = piece
            .iter()
            .enumerate()
            .map(|(j, (_, data, _))| (format!("k{}", i * 4 + j), data.clone()));
        put_raw(&clients, &settings.stream.name, records).await;
    }
    let index_of = positions_in_stream(&clients, &settings.stream.name).await;
    assert_eq!(index_of.len(), corpus.len());

    run_once(&settings, &[]);

    let mut quarantined: HashMap<usize, String> = HashMap::new();
    for row in quarantine_rows(&clients, &settings.lake.bucket).await {
        let index = index_of[row["sequence_number"].as_str().unwrap()];
        let code = row["reason_code"].as_str().unwrap().to_string();
        assert!(
            quarantined.insert(index, code).is_none(),
            "record {index} twice"
        );
    }
    let raw = parquet_under(&clients, &settings.lake.bucket, "lake/articles/").await;
    let written: HashMap<String, String> = strings(&raw, "article_id")
        .into_iter()
        .zip(strings(&raw, "content"))
        .collect();
    for (index, (name, data, expected)) in corpus.iter().enumerate() {
        assert_eq!(
            quarantined.get(&index).map(String::as_str),
            *expected,
            "{name}"
        );
        if expected.is_none() {
            let sent: serde_json::Value =
                serde_json::from_str(String::from_utf8_lossy(data).trim_start_matches('\u{feff}'))
                    .unwrap();
            let id = sent["article_id"].as_str().unwrap();
            assert_eq!(
                written.get(id).map(String::as_str),
                sent["content"].as_str(),
                "{name}"
            );
        }
    }
    // Whatever the payloads said, every object is a file of a table or a checkpoint.
    for key in keys_under(&clients, &settings.lake.bucket, "").await {
        let in_a_table = ["lake/articles/", "lake/summaries/", "lake/quarantine/"]
            .iter()
            .find_map(|p| key.strip_prefix(p))
            .is_some_and(|rest| {
                !rest.contains("..")
                    && (rest.starts_with("_delta_log/")
                        || rest.starts_with("split=")
                        || !rest.contains('/'))
            });
        assert!(
            in_a_table || key.starts_with("_state/checkpoints/"),
            "object outside the layout: {key}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_resumes_after_the_checkpoint() {
    let settings = settings_for("resume");
    seed(&settings, 300, 31).await;
    run_once(&settings, &[]);
    seed(&settings, 200, 32).await;
    run_once(&settings, &[]);

    let clients = clients(&settings).await;
    let curated = parquet_under(&clients, &settings.lake.bucket, "lake/summaries/").await;
    let ids = strings(&curated, "article_id");
    assert_eq!(ids.len(), 500);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 500);

    let records = read_stream(&clients, &settings.stream.name).await;
    let (shard, last) = records
        .last()
        .map(|(s, r)| (s.clone(), r.sequence_number().to_string()))
        .unwrap();
    let checkpoint = checkpoint_of(&clients, &settings, &shard).await;
    assert_eq!(checkpoint.sequence_number.as_deref(), Some(last.as_str()));
}

/// Files of each table, and each table's version.
async fn table_state(bucket: &str) -> Vec<(usize, Option<u64>)> {
    let lake = lake_of(bucket);
    let mut state = Vec::new();
    for kind in TableKind::ALL {
        let table = lake.open(kind).await.unwrap();
        let version = table.as_ref().and_then(|t| t.version());
        state.push((table_file_count(bucket, kind).await, version));
    }
    state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_committed_but_not_checkpointed_is_read_again_and_adds_no_row_and_no_file() {
    // As after a crash between the commits and the checkpoint: the checkpoint is gone, the
    // tables hold every chunk.
    let settings = settings_for("replay");
    seed(&settings, 300, 43).await;
    run_once(&settings, &["--flush-records", "100"]);
    let clients = clients(&settings).await;
    let before = table_state(&settings.lake.bucket).await;
    let records = read_stream(&clients, &settings.stream.name).await;
    let shard = records[0].0.clone();
    let store = CheckpointStore::new(
        clients.clone(),
        &settings.lake.bucket,
        &settings.stream.name,
    );
    store.save(&Checkpoint::new(&shard)).await.unwrap();

    let output = run_once(&settings, &["--flush-records", "100"]);

    assert_eq!(table_state(&settings.lake.bucket).await, before);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("articles written: 0; quarantined: 0"),
        "{stdout}"
    );
    let ids = strings(
        &parquet_under(&clients, &settings.lake.bucket, "lake/summaries/").await,
        "article_id",
    );
    assert_eq!(ids.len(), 300);
    assert_checkpoints_at_tip(&clients, &settings).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_cut_differently_from_the_committed_chunks_neither_repeats_nor_skips_a_record() {
    let settings = settings_for("recut");
    seed(&settings, 250, 44).await;
    run_once(&settings, &["--flush-records", "100"]);
    let clients = clients(&settings).await;
    // The checkpoint goes back to the start, and more records arrive: the replay cuts at 37,
    // so its chunks straddle the committed ones.
    let shard = read_stream(&clients, &settings.stream.name).await[0]
        .0
        .clone();
    let store = CheckpointStore::new(
        clients.clone(),
        &settings.lake.bucket,
        &settings.stream.name,
    );
    store.save(&Checkpoint::new(&shard)).await.unwrap();
    seed(&settings, 50, 45).await;

    run_once(&settings, &["--flush-records", "37"]);

    for prefix in ["lake/articles/", "lake/summaries/"] {
        let ids = strings(
            &parquet_under(&clients, &settings.lake.bucket, prefix).await,
            "article_id",
        );
        assert_eq!(ids.len(), 300, "{prefix}");
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 300, "{prefix}");
    }
    assert_checkpoints_at_tip(&clients, &settings).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_retry_after_a_restart_goes_to_articles_only_and_a_changed_copy_to_quarantine() {
    let settings = settings_for("retry-restart");
    let clients = clients(&settings).await;
    precis::resources::ensure_stream(&clients, &settings.stream.name, 1)
        .await
        .unwrap();
    let article = |id: &str, content: &str| {
        (
            id.to_string(),
            format!(r#"{{"article_id":"{id}","content":"{content}"}}"#).into_bytes(),
        )
    };
    put_raw(
        &clients,
        &settings.stream.name,
        [
            article("r1", "First story."),
            article("r2", "Second story."),
        ]
        .into_iter(),
    )
    .await;
    run_once(&settings, &[]);
    // A new process: the retry of r1 and a changed r2 arrive after the restart.
    put_raw(
        &clients,
        &settings.stream.name,
        [
            article("r1", "First story."),
            article("r2", "Changed story."),
        ]
        .into_iter(),
    )
    .await;
    run_once(&settings, &[]);

    let bucket = &settings.lake.bucket;
    let mut summaries = strings(
        &parquet_under(&clients, bucket, "lake/summaries/").await,
        "article_id",
    );
    summaries.sort();
    assert_eq!(summaries, ["r1", "r2"]);
    let mut articles = strings(
        &parquet_under(&clients, bucket, "lake/articles/").await,
        "article_id",
    );
    articles.sort();
    assert_eq!(articles, ["r1", "r1", "r2"]);
    let quarantined: Vec<String> = quarantine_rows(&clients, bucket)
        .await
        .iter()
        .map(|row| row["reason_code"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(quarantined, ["conflicting_duplicate"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_run_then_restart_leaves_every_record_exactly_once() {
    let mut settings = settings_for("kill9");
    settings.stream.shards = 2;
    seed(&settings, 2000, 41).await;

    // Follow mode with small chunks, killed without warning at a varying moment.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let delay = Duration::from_millis(500 + u64::from(nanos % 2500));
    eprintln!("killing precis run after {delay:?}");
    let mut child = spawn_follow(&settings, &["--flush-records", "250"]);
    std::thread::sleep(delay);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    run_once(&settings, &["--flush-records", "250"]);

    let clients = clients(&settings).await;
    for prefix in ["lake/articles/", "lake/summaries/"] {
        let batches = parquet_under(&clients, &settings.lake.bucket, prefix).await;
        let ids = strings(&batches, "article_id");
        assert_eq!(ids.len(), 2000, "{prefix} rows after kill at {delay:?}");
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 2000, "{prefix}");
    }
    assert_checkpoints_at_tip(&clients, &settings).await;
}

/// The last sequence number of each shard that holds records.
pub(crate) async fn tips(clients: &AwsClients, stream: &str) -> HashMap<String, String> {
    let mut tips = HashMap::new();
    for (shard, record) in read_stream(clients, stream).await {
        tips.insert(shard, record.sequence_number().to_string());
    }
    tips
}

/// Every shard's checkpoint is at its last record.
pub(crate) async fn assert_checkpoints_at_tip(clients: &AwsClients, settings: &Settings) {
    for (shard, tip) in tips(clients, &settings.stream.name).await {
        let checkpoint = checkpoint_of(clients, settings, &shard).await;
        assert_eq!(
            checkpoint.sequence_number.as_deref(),
            Some(tip.as_str()),
            "{shard}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_put_around_a_shard_split_are_all_written_in_key_order() {
    let mut settings = settings_for("split");
    settings.stream.shards = 4;
    let clients = clients(&settings).await;
    precis::resources::ensure_stream(&clients, &settings.stream.name, 4)
        .await
        .unwrap();
    let stream = settings.stream.name.clone();
    // 100 partition keys, each carrying a counter that must come out in order.
    let put_batch = |batch: usize| {
        let clients = clients.clone();
        let stream = stream.clone();
        async move {
            let records = (batch * 500..(batch + 1) * 500).map(|n| {
                let key = format!("key-{}", n % 100);
                let body =
                    format!(r#"{{"article_id":"a{n}","content":"Record {n} of {key}.","n":{n}}}"#);
                (key, body.into_bytes())
            });
            put_raw(&clients, &stream, records).await;
        }
    };
    for batch in 0..10 {
        put_batch(batch).await;
    }
    let listed = clients
        .kinesis
        .list_shards()
        .stream_name(&stream)
        .send()
        .await
        .unwrap();
    let first = &listed.shards()[0];
    let range = first.hash_key_range().unwrap();
    let middle = (range.starting_hash_key().parse::<u128>().unwrap()
        + range.ending_hash_key().parse::<u128>().unwrap())
        / 2;
    clients
        .kinesis
        .split_shard()
        .stream_name(&stream)
        .shard_to_split(first.shard_id())
        .new_starting_hash_key(middle.to_string())
        .send()
        .await
        .unwrap();
    for batch in 10..20 {
        put_batch(batch).await;
    }

    run_once(&settings, &[]);

    let raw = parquet_under(&clients, &settings.lake.bucket, "lake/articles/").await;
    let ids = strings(&raw, "article_id");
    assert_eq!(ids.len(), 10_000);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 10_000);
    let keys = strings(&raw, "partition_key");
    let sequences = strings(&raw, "sequence_number");
    let mut by_key: HashMap<&str, Vec<(&str, u32)>> = HashMap::new();
    for ((key, seq), id) in keys.iter().zip(&sequences).zip(&ids) {
        let n: u32 = id.trim_start_matches('a').parse().unwrap();
        by_key.entry(key).or_default().push((seq, n));
    }
    for (key, mut rows) in by_key {
        rows.sort_by(|a, b| compare_sequence(a.0, b.0));
        let counters: Vec<u32> = rows.iter().map(|(_, n)| *n).collect();
        let mut sorted = counters.clone();
        sorted.sort();
        assert_eq!(counters, sorted, "records of {key} out of order");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_in_follow_mode_stops_at_once_and_the_next_start_writes_what_was_not_committed() {
    let settings = settings_for("sigterm");
    seed(&settings, 500, 71).await;
    // Follow mode with the default 60 s flush age: nothing is committed before the stop.
    let mut child = watch_follow(&settings);
    child.wait_for_records(500).await;
    let clients = clients(&settings).await;
    let started = std::time::Instant::now();
    let output = child.terminate().await;
    assert!(started.elapsed() < Duration::from_secs(5), "slow stop");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("run stopped"), "{stdout}");
    assert!(
        stdout.contains("read but not committed at the stop: 500 record(s)"),
        "{stdout}"
    );
    assert!(
        parquet_under(&clients, &settings.lake.bucket, "lake/summaries/")
            .await
            .is_empty()
    );

    run_once(&settings, &[]);
    let ids = strings(
        &parquet_under(&clients, &settings.lake.bucket, "lake/summaries/").await,
        "article_id",
    );
    assert_eq!(ids.len(), 500);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 500);
    assert_checkpoints_at_tip(&clients, &settings).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_in_follow_mode_keeps_the_pipeline_up_and_a_stop_says_what_was_not_committed() {
    // A moto of its own, to take down mid-run.
    let server = crate::support::MotoServer::start();
    let mut settings = settings_for("outage");
    settings.aws.endpoint_url = Some(server.endpoint.clone());
    seed(&settings, 200, 72).await;
    let mut env = env_for(&settings);
    env.retain(|(k, _)| *k != "AWS_ENDPOINT_URL");
    env.push(("AWS_ENDPOINT_URL", server.endpoint.clone()));
    env.push(("PRECIS_AWS_TIMEOUT_SECS", "2".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut child = crate::support::Watched::spawn(&mut crate::support::precis_command(
        &["run", "--no-ui"],
        &env,
    ));
    child.wait_for_records(200).await;
    drop(server);
    // Two shard-list refreshes (10 s apart) fail while readers retry: the run stays up.
    child
        .wait_for("two failed shard listings", Duration::from_secs(60), |s| {
            s.matches("listing again in 10 s").count() >= 2
        })
        .await;
    assert!(child.running(), "the pipeline gave up during the outage");
    let output = child.terminate().await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("listing the shards of"), "{stderr}");
    // Nothing was committed (the flush age is 60 s): a clean stop that says so.
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(
            "read but not committed at the stop: 200 record(s); the next start reads them again"
        ),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinesis_and_s3_on_two_emulators_through_their_own_endpoint_variables() {
    // The stream on the shared moto, the lake on a second one (S3 on MinIO, say).
    let lake_server = crate::support::MotoServer::start();
    let mut settings = settings_for("two-endpoints");
    let env = [
        ("AWS_ENDPOINT_URL_KINESIS", moto().endpoint.clone()),
        ("AWS_ENDPOINT_URL_S3", lake_server.endpoint.clone()),
        ("PRECIS_STREAM", settings.stream.name.clone()),
        ("PRECIS_BUCKET", settings.lake.bucket.clone()),
        ("PRECIS_SUMMARIZER", "none".to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (produced, _) = run_precis(&["produce", "--records", "20"], &env, LIMIT);
    assert!(
        produced.status.success(),
        "{}",
        String::from_utf8_lossy(&produced.stderr)
    );
    let (ran, _) = run_precis(&["run", "--once", "--no-ui"], &env, LIMIT);
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );

    // The records came from the first emulator's stream...
    assert_eq!(
        read_stream(&clients(&settings).await, &settings.stream.name)
            .await
            .len(),
        20
    );
    // ... and the table is on the second emulator, not the first.
    let shared = clients(&settings).await;
    assert!(shared
        .s3
        .head_bucket()
        .bucket(&settings.lake.bucket)
        .send()
        .await
        .is_err());
    settings.aws.endpoint_url = Some(lake_server.endpoint.clone());
    let table = Lake::new(&settings)
        .open(TableKind::Summaries)
        .await
        .unwrap()
        .expect("the summaries table on the second emulator");
    let rows: u64 = table_files(&table)
        .await
        .unwrap()
        .iter()
        .filter_map(|f| f.rows)
        .sum();
    assert_eq!(rows, 20);
}
