//! Delivery under faults: précis talks to moto through the fault proxy (throttling, 5xx,
//! connection resets, latency, an S3 outage), or is killed with SIGKILL over and over, and the
//! lake still ends with every record exactly once.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use precis::aws::AwsClients;
use precis::config::Settings;
use precis::pipeline::source::checkpoint::CheckpointStore;
use rand::{Rng, SeedableRng};

use crate::fault_proxy::{Fault, FaultProxy, Service, ALL_FAULTS};
use crate::pipeline::{
    assert_checkpoints_at_tip, env_for, parquet_under, put_raw, quarantine_rows, seed,
    seed_one_day, strings, tips,
};
use crate::support::{
    borrowed, clients, moto, precis_command, read_stream, run_precis, settings_for,
};

const LIMIT: Duration = Duration::from_secs(600);

/// The pipeline's environment with the default summarizer on.
fn env_with_summaries(settings: &Settings) -> Vec<(&'static str, String)> {
    let mut env = env_for(settings);
    env.retain(|(k, _)| *k != "PRECIS_SUMMARIZER");
    env
}

/// Every summaries row has a summary made of its article's own sentences, by the extractive
/// summarizer (or its lead-sentence fallback).
async fn assert_summaries_verbatim(clients: &AwsClients, settings: &Settings) {
    use arrow_array::cast::AsArray;
    use arrow_array::Array;
    let batches = parquet_under(clients, &settings.lake.bucket, "lake/summaries/").await;
    let mut checked = 0;
    for batch in &batches {
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .unwrap()
                .as_string::<i32>()
                .clone()
        };
        let (summaries, contents, by) =
            (column("summary"), column("content"), column("summarizer"));
        for i in 0..batch.num_rows() {
            assert!(
                summaries.is_valid(i),
                "a null summary (summarizer {})",
                by.value(i)
            );
            let by = by.value(i);
            assert!(
                by.starts_with("extractive:") || by.starts_with("fallback:"),
                "summarizer {by}"
            );
            let own = crate::summarize::article_sentences(contents.value(i));
            assert!(
                crate::summarize::as_article_sentences(summaries.value(i), &own).is_some(),
                "not sentences of its article: {:?}",
                summaries.value(i)
            );
            checked += 1;
        }
    }
    assert!(checked > 0);
}

/// The pipeline's environment with the endpoint pointed at `endpoint` (the proxy).
pub(crate) fn env_via(settings: &Settings, endpoint: &str) -> Vec<(&'static str, String)> {
    let mut env = env_for(settings);
    env.retain(|(k, _)| *k != "AWS_ENDPOINT_URL");
    env.push(("AWS_ENDPOINT_URL", endpoint.to_string()));
    env
}

/// The articles and summaries tables each hold `expected` rows with `expected` distinct
/// article_ids.
pub(crate) async fn assert_every_article_once(
    clients: &AwsClients,
    settings: &Settings,
    expected: usize,
) {
    for prefix in ["lake/articles/", "lake/summaries/"] {
        let ids = strings(
            &parquet_under(clients, &settings.lake.bucket, prefix).await,
            "article_id",
        );
        let distinct = ids.iter().collect::<HashSet<_>>().len();
        assert_eq!(
            (ids.len(), distinct),
            (expected, expected),
            "{prefix}: rows and distinct article_ids"
        );
    }
}

/// Sequence number → how many times it is in quarantine.
async fn quarantined_sequences(clients: &AwsClients, bucket: &str) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for row in quarantine_rows(clients, bucket).await {
        let sequence = row["sequence_number"].as_str().unwrap().to_string();
        *seen.entry(sequence).or_default() += 1;
    }
    seen
}

fn time_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_percent_of_calls_faulted_with_summaries_on_still_writes_every_record_exactly_once() {
    let mut settings = settings_for("faults");
    settings.stream.shards = 4;
    seed(&settings, 10_000, 81).await;
    let proxy = FaultProxy::start(&moto().endpoint, 0.10, 81);

    let mut env = env_via(&settings, &proxy.endpoint);
    env.retain(|(k, _)| *k != "PRECIS_SUMMARIZER");
    let (output, took) = run_precis(
        &["run", "--once", "--no-ui", "--flush-records", "1000"],
        &borrowed(&env),
        LIMIT,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "run failed:\n{stderr}");
    let tally = proxy.tally();
    eprintln!("{took:?}; {tally:?}");

    // The run really went through the proxy and met every kind of fault, Kinesis throttling
    // included.
    let calls: u64 = tally.calls.values().sum();
    assert!(
        calls > 300,
        "précis did not talk through the proxy: {tally:?}"
    );
    for fault in ALL_FAULTS {
        assert!(tally.of_kind(fault) > 0, "no {fault:?} injected: {tally:?}");
    }
    assert!(
        tally
            .faults
            .contains_key(&(Service::Kinesis, Fault::Throttle)),
        "{tally:?}"
    );
    let clients = clients(&settings).await;
    assert_every_article_once(&clients, &settings, 10_000).await;
    assert_summaries_verbatim(&clients, &settings).await;
    assert!(quarantine_rows(&clients, &settings.lake.bucket)
        .await
        .is_empty());
    assert_checkpoints_at_tip(&clients, &settings).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_down_for_30_s_mid_run_holds_the_checkpoints_and_loses_nothing() {
    let mut settings = settings_for("s3down");
    settings.stream.shards = 2;
    seed(&settings, 600, 82).await;
    let proxy = FaultProxy::start(&moto().endpoint, 0.0, 1);
    let env = env_via(&settings, &proxy.endpoint);
    let mut child = precis_command(
        &[
            "run",
            "--no-ui",
            "--flush-records",
            "200",
            "--flush-age-secs",
            "2",
        ],
        &borrowed(&env),
    )
    .spawn()
    .expect("spawn precis run");
    let clients = clients(&settings).await;
    let shards: Vec<String> = tips(&clients, &settings.stream.name)
        .await
        .into_keys()
        .collect();

    // Wait for the first 600 to be written, then take S3 away and put 600 more.
    wait_until_at_tip(&clients, &settings, Duration::from_secs(120)).await;
    proxy.set_s3_down(true);
    let before = checkpoints(&clients, &settings, &shards).await;
    seed(&settings, 600, 83).await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    // (Checkpoints live in S3, so none can move while it is down: comparing them with `before`
    // would prove nothing. What can fail is below: once S3 is back, no checkpoint may pass a
    // record the articles table does not hold.)
    assert!(
        child.try_wait().unwrap().is_none(),
        "précis gave up during the S3 outage"
    );
    let refused = proxy.tally().refused_by_outage;
    assert!(refused > 0, "précis did not try S3 during the outage");
    proxy.set_s3_down(false);

    // While the pipeline catches up, every look at the checkpoints finds them at or behind
    // what the table holds, and past where they were before the outage only once rows landed.
    let started = Instant::now();
    loop {
        let now = checkpoints(&clients, &settings, &shards).await;
        assert_checkpoints_within_the_table(&clients, &settings, &shards, &now).await;
        if now != before && at_tip(&clients, &settings, &shards, &now).await {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the pipeline did not catch up within 120 s of S3's return"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let output = crate::support::terminate(child).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    // The operator saw it: warnings naming the refused S3 calls and the retry, and the count.
    let warned = stderr
        .lines()
        .any(|l| (l.contains("ServiceUnavailable") || l.contains("503")) && l.contains("retrying"));
    assert!(warned, "{stderr}");
    assert!(stdout.contains("errors met: "), "{stdout}");
    assert_every_article_once(&clients, &settings, 1200).await;
    eprintln!("S3 calls refused during the outage: {refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_shard_iterators_are_renewed_after_the_last_record_read() {
    let mut settings = settings_for("expired");
    settings.stream.shards = 2;
    seed_one_day(&settings, 200, 86).await;
    let proxy = FaultProxy::start(&moto().endpoint, 0.0, 1);
    // Every third GetRecords call finds its iterator expired.
    proxy.expire_every_nth_get_records(3);
    let env = env_via(&settings, &proxy.endpoint);
    let child = precis_command(
        &[
            "run",
            "--no-ui",
            "--flush-records",
            "150",
            "--flush-age-secs",
            "1",
        ],
        &borrowed(&env),
    )
    .spawn()
    .expect("spawn precis run");
    // Keep records coming until at least five iterators have expired under the readers.
    let mut batches = 0;
    let started = Instant::now();
    while proxy.tally().expired_iterators < 5 {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{:?}",
            proxy.tally()
        );
        tokio::time::sleep(Duration::from_millis(700)).await;
        seed_one_day(&settings, 200, 87 + batches).await;
        batches += 1;
    }
    let clients = clients(&settings).await;
    wait_until_at_tip(&clients, &settings, Duration::from_secs(120)).await;
    let output = crate::support::terminate(child).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // A renewal from anywhere but the last record read would lose records or read some twice
    // (raw keeps exact duplicates, so they would show there).
    let expected = 200 * (1 + batches as usize);
    assert_every_article_once(&clients, &settings, expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_kill_9s_at_random_moments_with_summaries_on_leave_every_record_and_every_bad_one_exactly_once(
) {
    let mut settings = settings_for("crashloop");
    settings.stream.shards = 4;
    seed(&settings, 5_000, 84).await;
    let clients = clients(&settings).await;
    let bad: Vec<(String, Vec<u8>)> = (0..12)
        .map(|i| match i % 4 {
            0 => (format!("crash-loop-bad-{i}"), b"\xff\xfe not utf8".to_vec()),
            1 => (format!("crash-loop-bad-{i}"), b"plain words".to_vec()),
            2 => (
                format!("crash-loop-bad-{i}"),
                br#"{"content":"no id"}"#.to_vec(),
            ),
            _ => (format!("crash-loop-bad-{i}"), format!("[{i}]").into_bytes()),
        })
        .collect();
    put_raw(&clients, &settings.stream.name, bad.into_iter()).await;
    seed(&settings, 5_000, 85).await;
    let bad_sequences: HashSet<String> = read_stream(&clients, &settings.stream.name)
        .await
        .into_iter()
        .filter(|(_, r)| {
            r.partition_key()
                .is_some_and(|k| k.starts_with("crash-loop-bad-"))
        })
        .map(|(_, r)| r.sequence_number().to_string())
        .collect();
    assert_eq!(bad_sequences.len(), 12);

    // Replay a schedule with PRECIS_KILL_SEED=<the seed printed>.
    let seed_value = std::env::var("PRECIS_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(time_seed);
    eprintln!("kill schedule seed {seed_value} (PRECIS_KILL_SEED replays it)");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed_value);
    let env = env_with_summaries(&settings);
    // Small chunks, so that kills land between commits, and new records before every round, so
    // that every round has commits to make (a drained stream would only kill readers).
    let args = ["run", "--no-ui", "--flush-records", "100"];
    let (mut written, mut advanced) = (0, 0);
    for round in 0..10 {
        seed(&settings, 500, 100 + round).await;
        let delay = Duration::from_millis(rng.random_range(700..5000));
        let mut child = precis_command(&args, &borrowed(&env))
            .spawn()
            .expect("spawn precis run");
        tokio::time::sleep(delay).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let now = curated_rows(&clients, &settings).await;
        eprintln!("round {round}: killed after {delay:?}; {now} curated rows (was {written})");
        assert!(now >= written, "round {round} lost rows: {written} → {now}");
        advanced += usize::from(now > written);
        written = now;
    }
    // Some kills land before a round's first commit (a start reads the tables and plans its
    // shards first); a schedule where few rounds commit anything proves little.
    assert!(
        advanced >= 3,
        "only {advanced} of 10 rounds committed anything before their kill"
    );
    let (output, _) = run_precis(
        &["run", "--once", "--no-ui", "--flush-records", "100"],
        &borrowed(&env),
        LIMIT,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    assert_every_article_once(&clients, &settings, 15_000).await;
    assert_summaries_verbatim(&clients, &settings).await;
    let quarantined = quarantined_sequences(&clients, &settings.lake.bucket).await;
    assert_eq!(
        quarantined.keys().cloned().collect::<HashSet<_>>(),
        bad_sequences
    );
    assert!(
        quarantined.values().all(|&n| n == 1),
        "quarantined more than once: {quarantined:?}"
    );
    assert_checkpoints_at_tip(&clients, &settings).await;
}

async fn curated_rows(clients: &AwsClients, settings: &Settings) -> usize {
    strings(
        &parquet_under(clients, &settings.lake.bucket, "lake/summaries/").await,
        "article_id",
    )
    .len()
}

/// Each shard's checkpoint position (None before its first chunk), read past the proxy.
async fn checkpoints(
    clients: &AwsClients,
    settings: &Settings,
    shards: &[String],
) -> Vec<Option<String>> {
    let store = CheckpointStore::new(
        clients.clone(),
        &settings.lake.bucket,
        &settings.stream.name,
    );
    let mut positions = Vec::new();
    for shard in shards {
        positions.push(
            store
                .load(shard)
                .await
                .unwrap()
                .and_then(|c| c.sequence_number),
        );
    }
    positions
}

/// Waits until every shard's checkpoint is at its last record.
/// Every record of each shard up to its checkpoint is a row of the articles table: read the
/// checkpoints first, the table after (it only grows), so a pass proves the order.
async fn assert_checkpoints_within_the_table(
    clients: &AwsClients,
    settings: &Settings,
    shards: &[String],
    positions: &[Option<String>],
) {
    use precis::pipeline::sequence::compare_sequence;
    let batches = parquet_under(clients, &settings.lake.bucket, "lake/articles/").await;
    let held: HashSet<(String, String)> = strings(&batches, "shard_id")
        .into_iter()
        .zip(strings(&batches, "sequence_number"))
        .collect();
    let records = read_stream(clients, &settings.stream.name).await;
    for (shard, position) in shards.iter().zip(positions) {
        let Some(position) = position else { continue };
        for (s, record) in records.iter().filter(|(s, _)| s == shard) {
            let sequence = record.sequence_number();
            if compare_sequence(sequence, position).is_le() {
                assert!(
                    held.contains(&(s.clone(), sequence.to_string())),
                    "{shard}'s checkpoint {position} passed {sequence}, which no table row holds"
                );
            }
        }
    }
}

/// Whether each shard's checkpoint is at its last record.
async fn at_tip(
    clients: &AwsClients,
    settings: &Settings,
    shards: &[String],
    positions: &[Option<String>],
) -> bool {
    let tips = tips(clients, &settings.stream.name).await;
    shards
        .iter()
        .zip(positions)
        .all(|(shard, p)| p.as_deref() == tips.get(shard).map(String::as_str))
}

async fn wait_until_at_tip(clients: &AwsClients, settings: &Settings, limit: Duration) {
    let started = Instant::now();
    loop {
        let tips = tips(clients, &settings.stream.name).await;
        let shards: Vec<String> = tips.keys().cloned().collect();
        let positions = checkpoints(clients, settings, &shards).await;
        if shards
            .iter()
            .zip(&positions)
            .all(|(shard, at)| at.as_deref() == Some(tips[shard].as_str()))
        {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "checkpoints not at the tip after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_is_retried_in_one_place_the_sdk_for_commands_the_pipeline_loop_for_the_pipeline() {
    let settings = settings_for("one-layer");
    let proxy = FaultProxy::start(&moto().endpoint, 0.0, 1);
    proxy.set_kinesis_throttled(true);
    let mut via_proxy = settings.clone();
    via_proxy.aws.endpoint_url = Some(proxy.endpoint.clone());
    let command = AwsClients::connect(&via_proxy).await;
    let calls = || {
        proxy
            .tally()
            .calls
            .get(&Service::Kinesis)
            .copied()
            .unwrap_or(0)
    };

    let list = |clients: AwsClients| {
        let stream = settings.stream.name.clone();
        async move {
            clients
                .kinesis
                .list_shards()
                .stream_name(stream)
                .send()
                .await
        }
    };

    assert!(list(command.clone()).await.is_err());
    assert_eq!(calls(), 4, "a command's call: the SDK's 4 attempts");
    assert!(list(command.single_attempt()).await.is_err());
    assert_eq!(calls(), 5, "a pipeline call: one attempt, its loop retries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttling_storm_mid_run_is_ridden_out_and_every_record_written_once() {
    let mut settings = settings_for("storm");
    settings.stream.shards = 2;
    seed(&settings, 3_000, 87).await;
    let proxy = FaultProxy::start(&moto().endpoint, 0.0, 1);
    let env = env_via(&settings, &proxy.endpoint);
    let child = precis_command(
        &["run", "--once", "--no-ui", "--flush-records", "300"],
        &borrowed(&env),
    )
    .spawn()
    .expect("spawn precis run");
    // Once reading has begun, every Kinesis call is throttled for 8 s: far longer than the
    // SDK's own attempts would ride out. Each shard still has records to read.
    let began = Instant::now();
    while proxy.tally().get_records == 0 {
        assert!(began.elapsed() < Duration::from_secs(120), "never read");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.set_kinesis_throttled(true);
    tokio::time::sleep(Duration::from_secs(8)).await;
    let throttled = proxy.tally().of_kind(Fault::Throttle);
    proxy.set_kinesis_throttled(false);
    let output = crate::support::finish_within_async(child, LIMIT, "precis run --once").await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "run failed:\n{stderr}");
    assert!(throttled > 1, "the storm met no calls: {throttled}");
    let clients = clients(&settings).await;
    assert_every_article_once(&clients, &settings, 3_000).await;
    assert_checkpoints_at_tip(&clients, &settings).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_refused_under_a_running_pipeline_stop_it_with_one_line_saying_so() {
    let settings = settings_for("refused");
    seed_one_day(&settings, 50, 303).await;
    let proxy = FaultProxy::start(&moto().endpoint, 0.0, 1);
    let env = env_via(&settings, &proxy.endpoint);
    let mut env = borrowed(&env);
    env.push(("PRECIS_FLUSH_AGE_SECS", "1"));
    let child = crate::support::Watched::spawn(&mut precis_command(&["run", "--no-ui"], &env));
    let clients = clients(&settings).await;
    wait_until_at_tip(&clients, &settings, Duration::from_secs(120)).await;
    proxy.set_credentials_refused(true);
    let (output, waited, last) = crate::cli::wait_for_the_stop(child).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(proxy.tally().refused_credentials > 0);
    assert!(
        waited < crate::cli::CUT_OFF_STOP,
        "still running {waited:?} after the credentials were refused"
    );
    assert!(last.contains("credentials were refused"), "{stderr}");
    // What was committed before stays, exactly once.
    assert_every_article_once(&clients, &settings, 50).await;
}
