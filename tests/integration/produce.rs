//! `precis produce` against a real moto server, read back through the AWS SDK.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use precis::article::Article;
use precis::aws::AwsClients;
use precis::config::Settings;
use precis::produce::newsgen::NewsGenerator;
use precis::produce::source::RecordSource;
use precis::produce::{produce, ProduceJob, ProduceReport};

use crate::support::{clients, read_stream, settings_for};

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}

fn generated_job(settings: &Settings, count: u64, seed: u64) -> ProduceJob {
    ProduceJob {
        stream: settings.stream.name.clone(),
        bucket: settings.lake.bucket.clone(),
        region: settings.aws.region.clone(),
        shards: settings.stream.shards,
        in_flight: settings.produce.in_flight,
        source: RecordSource::generated(NewsGenerator::new(seed, as_of()), count),
    }
}

async fn produce_generated(
    settings: &Settings,
    count: u64,
    seed: u64,
) -> (AwsClients, ProduceReport) {
    let clients = clients(settings).await;
    let report = produce(&clients, generated_job(settings, count, seed), &|_, _| {})
        .await
        .expect("produce");
    (clients, report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_1000_puts_exactly_1000_schema_valid_records_with_unique_ids() {
    let settings = settings_for("p1000");
    let (clients, report) = produce_generated(&settings, 1000, 1).await;
    assert_eq!(report.records, 1000);
    assert!(report.stream_created && report.bucket_created);
    assert_eq!(report.open_shards, 1);

    let records = read_stream(&clients, &settings.stream.name).await;
    assert_eq!(records.len(), 1000);
    let mut ids = HashSet::new();
    for (_, record) in &records {
        let json: serde_json::Value = serde_json::from_slice(record.data().as_ref()).unwrap();
        let keys: HashSet<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            HashSet::from(["article_id", "title", "author", "publish_date", "content"])
        );
        let article: Article = serde_json::from_value(json).unwrap();
        assert_eq!(record.partition_key(), Some(article.article_id.as_str()));
        assert!(!article.title.is_empty() && !article.author.is_empty());
        assert!(ids.insert(article.article_id), "duplicate article_id");
    }
    let bucket = clients
        .s3
        .head_bucket()
        .bucket(&settings.lake.bucket)
        .send()
        .await;
    assert!(bucket.is_ok(), "bucket was not created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_10000_to_4_shards_reaches_every_shard_and_counts_add_up() {
    let mut settings = settings_for("p10k");
    settings.stream.shards = 4;
    let (clients, report) = produce_generated(&settings, 10_000, 2).await;
    assert_eq!(report.records, 10_000);
    assert_eq!(report.open_shards, 4);
    eprintln!(
        "produce 10,000 records to 4 shards on moto: {:.0} records/s",
        report.records_per_second()
    );

    let records = read_stream(&clients, &settings.stream.name).await;
    let mut per_shard: HashMap<String, usize> = HashMap::new();
    for (shard, _) in &records {
        *per_shard.entry(shard.clone()).or_default() += 1;
    }
    assert_eq!(per_shard.len(), 4, "{per_shard:?}");
    assert!(per_shard.values().all(|&n| n > 0), "{per_shard:?}");
    assert_eq!(per_shard.values().sum::<usize>(), 10_000);
    let ids: HashSet<&str> = records
        .iter()
        .filter_map(|(_, r)| r.partition_key())
        .collect();
    assert_eq!(ids.len(), 10_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_twice_to_an_existing_stream_and_bucket_appends() {
    let settings = settings_for("twice");
    let (_, first) = produce_generated(&settings, 40, 3).await;
    let (clients, second) = produce_generated(&settings, 60, 4).await;
    assert!(first.stream_created && first.bucket_created);
    assert!(!second.stream_created && !second.bucket_created);
    assert_eq!(
        read_stream(&clients, &settings.stream.name).await.len(),
        100
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_seed_puts_the_same_articles() {
    let settings_a = settings_for("seed-a");
    let settings_b = settings_for("seed-b");
    let (clients, _) = produce_generated(&settings_a, 20, 42).await;
    produce_generated(&settings_b, 20, 42).await;
    let data = |records: Vec<(String, aws_sdk_kinesis::types::Record)>| -> Vec<Vec<u8>> {
        records
            .into_iter()
            .map(|(_, r)| r.data().as_ref().to_vec())
            .collect()
    };
    let a = data(read_stream(&clients, &settings_a.stream.name).await);
    let b = data(read_stream(&clients, &settings_b.stream.name).await);
    assert_eq!(a, b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_file_replays_each_line_byte_for_byte() {
    let settings = settings_for("file");
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sample-articles.jsonl");
    let lines: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let clients = clients(&settings).await;
    let job = ProduceJob {
        source: RecordSource::file(&path, None).unwrap(),
        ..generated_job(&settings, 0, 0)
    };
    let report = produce(&clients, job, &|_, _| {}).await.unwrap();
    assert_eq!(report.records, lines.len() as u64);
    let sent: Vec<String> = read_stream(&clients, &settings.stream.name)
        .await
        .into_iter()
        .map(|(_, r)| String::from_utf8(r.data().as_ref().to_vec()).unwrap())
        .collect();
    assert_eq!(sent, lines);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_1_never_has_two_put_records_calls_at_once_the_last_partial_batch_included() {
    let mut settings = settings_for("inflight1");
    settings.produce.in_flight = 1;
    let direct = clients(&settings).await;
    precis::resources::ensure_bucket(&direct, &settings.lake.bucket, &settings.aws.region)
        .await
        .unwrap();
    precis::resources::ensure_stream(&direct, &settings.stream.name, 1)
        .await
        .unwrap();
    let proxy = crate::fault_proxy::FaultProxy::start(&crate::support::moto().endpoint, 0.0, 1);
    proxy.pause_put_records(300);
    let mut via_proxy = settings.clone();
    via_proxy.aws.endpoint_url = Some(proxy.endpoint.clone());
    let clients = AwsClients::connect(&via_proxy).await;
    // Two full batches of 500 and a partial one of 250.
    let report = produce(&clients, generated_job(&settings, 1250, 5), &|_, _| {})
        .await
        .expect("produce");
    assert_eq!(report.records, 1250);
    assert_eq!(
        proxy.put_records_at_once(),
        1,
        "--in-flight 1 means one PutRecords call at a time"
    );
    assert_eq!(
        read_stream(&direct, &settings.stream.name).await.len(),
        1250
    );
}
