//! Scale-out: several `precis run` processes share one stream through a DynamoDB lease table
//! (moto's), each shard read by exactly one of them, and the tables still hold every record once
//! when workers die, leave or join.

use std::collections::BTreeMap;
use std::process::Child;
use std::time::{Duration, Instant};

use precis::aws::AwsClients;
use precis::config::Settings;
use precis::lease::rules::Lease;
use precis::lease::table::LeaseTable;
use precis::pipeline::source::checkpoint::Checkpoint;
use precis::pipeline::source::lineage::ShardInfo;

use crate::faults::assert_every_article_once;
use crate::pipeline::{env_for, seed_one_day};
use crate::support::{borrowed, clients, precis_command, settings_for, terminate, unique_name};

/// A stream of 8 shards and a lease table of its own.
fn setup(test: &str) -> (Settings, String) {
    let mut settings = settings_for(test);
    settings.stream.shards = 8;
    (settings, unique_name("leases"))
}

/// The workers' taking rounds, one a second, so that a test's shards move quickly.
const TAKE_SECS: u64 = 1;

/// A worker: follow mode, leases in `table`, summaries off.
fn worker(settings: &Settings, table: &str, lease_secs: u64) -> Child {
    let mut env = env_for(settings);
    env.extend([
        ("PRECIS_LEASE_TABLE", table.to_string()),
        ("PRECIS_LEASE_SECS", lease_secs.to_string()),
        ("PRECIS_LEASE_TAKE_SECS", TAKE_SECS.to_string()),
        ("PRECIS_FLUSH_AGE_SECS", "2".to_string()),
        ("PRECIS_COMPACT_SMALL_FILES", "0".to_string()),
    ]);
    precis_command(
        &["run", "--no-ui", "--flush-records", "1000"],
        &borrowed(&env),
    )
    .spawn()
    .expect("spawn a worker")
}

/// The worker names in the table embed the process id: `<host>-<pid>-<tag>`.
fn pid_of(owner: &str) -> u32 {
    owner
        .rsplit('-')
        .nth(1)
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid in worker name {owner}"))
}

/// Open shards each worker (by pid) holds.
fn holdings(leases: &[Lease]) -> BTreeMap<u32, Vec<String>> {
    let mut held: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for lease in leases.iter().filter(|l| !l.finished()) {
        if let Some(owner) = &lease.owner {
            held.entry(pid_of(owner))
                .or_default()
                .push(lease.key.clone());
        }
    }
    held
}

/// Waits until `done` holds for the lease table's scan; the last scan.
async fn wait_for_leases(
    table: &LeaseTable,
    limit: Duration,
    what: &str,
    done: impl Fn(&[Lease]) -> bool,
) -> Vec<Lease> {
    let started = Instant::now();
    loop {
        let leases = table.scan().await.unwrap_or_default();
        if done(&leases) {
            return leases;
        }
        assert!(
            started.elapsed() < limit,
            "{what}: not after {limit:?}; leases: {:?}",
            holdings(&leases)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Every open shard held by one of `pids`, and the counts of each in `spread` (sorted).
fn spread_among(leases: &[Lease], pids: &[u32], shards: usize) -> Option<Vec<usize>> {
    let held = holdings(leases);
    let total: usize = held.values().map(Vec::len).sum();
    if total != shards || held.keys().any(|pid| !pids.contains(pid)) {
        return None;
    }
    let mut counts: Vec<usize> = pids
        .iter()
        .map(|pid| held.get(pid).map_or(0, Vec::len))
        .collect();
    counts.sort_unstable();
    Some(counts)
}

/// Rows of the summaries table, from the Delta log's file statistics.
async fn summary_rows(settings: &Settings) -> u64 {
    let lake = precis::pipeline::sink::lake::Lake::new(settings);
    let Ok(Some(table)) = lake
        .open(precis::pipeline::sink::lake::TableKind::Summaries)
        .await
    else {
        return 0;
    };
    precis::maintenance::files::table_files(&table)
        .await
        .map(|files| files.iter().filter_map(|f| f.rows).sum())
        .unwrap_or(0)
}

async fn wait_for_rows(settings: &Settings, expected: u64, limit: Duration) {
    let started = Instant::now();
    loop {
        let rows = summary_rows(settings).await;
        assert!(
            rows <= expected,
            "{rows} rows in the table, more than {expected}"
        );
        if rows == expected {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "{rows} of {expected} rows after {limit:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// `n` workers started together on the stream of `settings`, and their lease table.
async fn start_workers(
    settings: &Settings,
    lease_table: &str,
    n: usize,
    lease_secs: u64,
) -> (Vec<Child>, LeaseTable) {
    let workers = (0..n)
        .map(|_| worker(settings, lease_table, lease_secs))
        .collect();
    let table = LeaseTable::new(clients(settings).await, lease_table);
    (workers, table)
}

fn pids(workers: &[Child]) -> Vec<u32> {
    workers.iter().map(Child::id).collect()
}

/// Waits until every open shard of 8 is held by one of `workers`, spread as `spread` (sorted).
async fn wait_for_spread(table: &LeaseTable, workers: &[Child], spread: &[usize], limit: Duration) {
    let pids = pids(workers);
    let what = format!("a spread of {spread:?} among {pids:?}");
    wait_for_leases(table, limit, &what, |leases| {
        spread_among(leases, &pids, 8).as_deref() == Some(spread)
    })
    .await;
}

/// Waits for `expected` rows, stops the workers with SIGTERM (each must exit cleanly), and
/// checks that every article is in the tables exactly once.
async fn finish(settings: &Settings, workers: Vec<Child>, expected: u64) {
    wait_for_rows(settings, expected, Duration::from_secs(300)).await;
    stop_all(workers).await;
    let clients = clients(settings).await;
    assert_every_article_once(&clients, settings, expected as usize).await;
}

async fn stop_all(workers: Vec<Child>) {
    for worker in workers {
        let output = terminate(worker).await;
        assert!(
            output.status.success(),
            "a worker failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_spread_eight_shards_three_three_two_and_write_every_record_once() {
    let (settings, lease_table) = setup("scale-three");
    seed_one_day(&settings, 10_000, 221).await;
    let (workers, table) = start_workers(&settings, &lease_table, 3, 10).await;
    wait_for_spread(&table, &workers, &[2, 3, 3], Duration::from_secs(90)).await;
    finish(&settings, workers, 10_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_shards_are_taken_by_the_others_within_a_lease_and_nothing_is_lost() {
    let (settings, lease_table) = setup("scale-kill");
    let lease_secs = 6;
    seed_one_day(&settings, 5_000, 222).await;
    let (mut workers, table) = start_workers(&settings, &lease_table, 3, lease_secs).await;
    wait_for_spread(&table, &workers, &[2, 3, 3], Duration::from_secs(90)).await;

    let mut victim = workers.remove(0);
    victim.kill().unwrap(); // SIGKILL: its leases stay in its name until they expire
    victim.wait().unwrap();
    let killed = Instant::now();
    // The second half arrives while the dead worker's shards have no reader.
    seed_one_day(&settings, 5_000, 223).await;
    // docs/scale-out.md: the lease time plus up to two taking rounds after the kill; 6 s more is
    // the margin for a loaded 2-core machine (two workers, moto and this test's scans).
    let bound = Duration::from_secs(lease_secs + 2 * TAKE_SECS + 6);
    wait_for_spread(&table, &workers, &[4, 4], bound).await;
    eprintln!("taken over {:.1?} after the kill", killed.elapsed());
    finish(&settings, workers, 10_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_releases_a_workers_leases_so_the_others_take_them_without_waiting_for_expiry() {
    let (settings, lease_table) = setup("scale-term");
    // A lease far longer than the waits below: only a release can explain a quick takeover.
    let lease_secs = 120;
    seed_one_day(&settings, 2_000, 224).await;
    let (mut workers, table) = start_workers(&settings, &lease_table, 3, lease_secs).await;
    wait_for_spread(&table, &workers, &[2, 3, 3], Duration::from_secs(90)).await;

    let leaving = workers.remove(0);
    let leaving_pid = leaving.id();
    let output = terminate(leaving).await;
    assert!(output.status.success());
    let released = table.scan().await.unwrap();
    assert!(
        !holdings(&released).contains_key(&leaving_pid),
        "leases still held after the worker exited: {:?}",
        holdings(&released)
    );
    wait_for_spread(&table, &workers, &[4, 4], Duration::from_secs(30)).await;
    seed_one_day(&settings, 1_000, 225).await;
    finish(&settings, workers, 3_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_started_later_gets_a_share() {
    let (settings, lease_table) = setup("scale-join");
    seed_one_day(&settings, 1_000, 226).await;
    let (mut workers, table) = start_workers(&settings, &lease_table, 2, 10).await;
    wait_for_spread(&table, &workers, &[4, 4], Duration::from_secs(90)).await;

    workers.push(worker(&settings, &lease_table, 10));
    wait_for_spread(&table, &workers, &[2, 3, 3], Duration::from_secs(90)).await;
    finish(&settings, workers, 1_000).await;
}

/// A lease table of its own with one lease, `shard-0`, unowned.
async fn one_lease(clients: &AwsClients) -> (LeaseTable, Lease) {
    let table = LeaseTable::new(clients.clone(), &unique_name("leases"));
    table.ensure().await.unwrap();
    table
        .create(&ShardInfo {
            shard_id: "shard-0".into(),
            parent: None,
            adjacent_parent: None,
        })
        .await
        .unwrap();
    let lease = table.scan().await.unwrap().remove(0);
    (table, lease)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_taking_the_same_lease_at_the_same_counter_get_one_owner() {
    let settings = settings_for("lease-race");
    let clients = clients(&settings).await;
    let (table, lease) = one_lease(&clients).await;
    let a = table.take(&lease.key, lease.counter, "a").await.unwrap();
    let b = table.take(&lease.key, lease.counter, "b").await.unwrap();
    assert!(a.is_some());
    assert_eq!(b, None, "a second take at the same counter must fail");
    let now = table.scan().await.unwrap().remove(0);
    assert_eq!(now.owner.as_deref(), Some("a"));
    assert_eq!(now.owner_switches, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_lost_its_lease_can_neither_renew_release_nor_checkpoint_it() {
    let settings = settings_for("lease-lost");
    let clients = clients(&settings).await;
    let (table, lease) = one_lease(&clients).await;
    let a_counter = table
        .take(&lease.key, lease.counter, "a")
        .await
        .unwrap()
        .unwrap();
    // b steals it (the counter it saw is a's).
    table
        .take(&lease.key, a_counter, "b")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(table.renew(&lease.key, a_counter, "a").await.unwrap(), None);
    assert!(!table.release(&lease.key, a_counter, "a").await.unwrap());
    let mut checkpoint = Checkpoint::new(&lease.key);
    checkpoint.sequence_number = Some("42".into());
    let refused = table.save_checkpoint(&checkpoint, "a").await.unwrap_err();
    assert!(
        format!("{refused:#}").contains("no longer this worker's"),
        "{refused:#}"
    );
    table.save_checkpoint(&checkpoint, "b").await.unwrap();
    let saved = table.load_checkpoint(&lease.key).await.unwrap().unwrap();
    assert_eq!(saved.sequence_number.as_deref(), Some("42"));
    assert_eq!(table.scan().await.unwrap()[0].checkpoint, "42");
}

/// One quarantined record as a batch of the quarantine table.
fn one_quarantined(sequence: &str) -> Vec<arrow_array::RecordBatch> {
    use precis::pipeline::rows::QuarantineRow;
    use precis::pipeline::sink::parquet::{quarantine_batch, FileContext};
    let row = QuarantineRow {
        reason_code: "not_json",
        reason: "not JSON".into(),
        shard_id: "shard-0".into(),
        sequence_number: sequence.into(),
        partition_key: "k".into(),
        arrival_time: chrono::Utc::now(),
        payload_base64: "eA==".into(),
        payload_text: Some("x".into()),
    };
    let ctx = FileContext {
        stream: "s",
        processed_at: chrono::Utc::now(),
    };
    vec![quarantine_batch(&[&row], &ctx).unwrap()]
}

/// A chunk of `shard-0` that ends at `last`.
fn chunk(number: i64, last: &str, stale: bool) -> precis::pipeline::sink::commit::ChunkCommit<'_> {
    precis::pipeline::sink::commit::ChunkCommit {
        app_id: "precis/s/shard-0",
        chunk: number,
        first_sequence: last,
        last_sequence: last,
        worker: "test-worker",
        retry: false,
        stale,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_owner_cannot_commit_a_chunk_the_new_owner_committed_first() {
    use precis::pipeline::sink::commit::commit_chunk;
    use precis::pipeline::sink::lake::{Lake, TableKind};
    let settings = settings_for("fence");
    precis::resources::ensure_bucket(
        &clients(&settings).await,
        &settings.lake.bucket,
        "us-east-1",
    )
    .await
    .unwrap();
    let lake = Lake::new(&settings);
    let mut old_owner = lake.open_or_create(TableKind::Quarantine).await.unwrap();
    let mut new_owner = old_owner.clone();
    let mut refreshed_old_owner = old_owner.clone();
    let layout = precis::pipeline::sink::parquet::FileLayout::from(&settings.lake);

    commit_chunk(
        &mut new_owner,
        &layout,
        &chunk(0, "20", false),
        one_quarantined("20"),
    )
    .await
    .unwrap();
    // The old owner's snapshot predates that commit: Delta's conflict check refuses it.
    let refused = commit_chunk(
        &mut old_owner,
        &layout,
        &chunk(0, "10", false),
        one_quarantined("10"),
    )
    .await
    .unwrap_err();
    assert!(
        format!("{refused:#}").contains("conflicting"),
        "{refused:#}"
    );
    // An owner that refreshes first sees the shard's transaction and stops by itself.
    let refused = commit_chunk(
        &mut refreshed_old_owner,
        &layout,
        &chunk(0, "10", true),
        one_quarantined("10"),
    )
    .await
    .unwrap_err();
    assert!(
        format!("{refused:#}").contains("another writer"),
        "{refused:#}"
    );

    let table = lake.open(TableKind::Quarantine).await.unwrap().unwrap();
    let files = precis::maintenance::files::table_files(&table)
        .await
        .unwrap();
    assert_eq!(files.iter().filter_map(|f| f.rows).sum::<u64>(), 1);
}

/// A coordinator named `me` on a one-shard stream with the leases `prepare` made, and the
/// shard's id: what it holds after its first taking rounds.
async fn held_after_a_round(
    test: &str,
    me: &str,
    prepare: impl AsyncFnOnce(&LeaseTable, &str),
) -> (std::collections::BTreeSet<String>, String) {
    use precis::lease::coordinator::Coordinator;
    use precis::lease::LeaseSettings;
    let mut settings = settings_for(test);
    settings.stream.shards = 1;
    seed_one_day(&settings, 1, 227).await;
    let clients = clients(&settings).await;
    let shard = crate::support::read_stream(&clients, &settings.stream.name)
        .await
        .remove(0)
        .0;
    let table = LeaseTable::new(clients.clone(), &unique_name("leases"));
    table.ensure().await.unwrap();
    prepare(&table, &shard).await;
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let running = Coordinator {
        clients,
        table: table.clone(),
        stream: settings.stream.name.clone(),
        settings: LeaseSettings {
            table: table.name().to_string(),
            worker: me.to_string(),
            duration: Duration::from_secs(30),
            take_every: Duration::from_millis(500),
        },
        stats: Default::default(),
    }
    .start(stop);
    // Rounds come every 0.5 s: what it takes shows within a round or two; nothing in 30 s is
    // an empty set, which the callers' assertions report.
    let mut watching = running.held.clone();
    let _ = tokio::time::timeout(
        Duration::from_secs(30),
        watching.wait_for(|held| !held.is_empty()),
    )
    .await;
    let held = running.held.borrow().clone();
    running.release().await;
    (held, shard)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_the_table_names_this_worker_for_is_read_though_the_take_answer_was_lost() {
    let (held, shard) = held_after_a_round("lease-adopt", "worker-a", async |table, shard| {
        table.create(&info(shard, None)).await.unwrap();
        // worker-a's take was applied; worker-a never heard back.
        table.take(shard, 0, "worker-a").await.unwrap().unwrap();
        // And a lease nobody can take now is not what it reads.
        table.create(&info("other", None)).await.unwrap();
        table.take("other", 0, "worker-b").await.unwrap().unwrap();
    })
    .await;
    assert_eq!(held, [shard].into());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_aged_out_of_the_stream_does_not_hold_its_child_back() {
    let (held, shard) = held_after_a_round("lease-aged-out", "worker-a", async |table, shard| {
        // The parent's lease never reached SHARD_END, and the stream no longer lists it.
        table.create(&info("aged-out-parent", None)).await.unwrap();
        table
            .create(&info(shard, Some("aged-out-parent")))
            .await
            .unwrap();
    })
    .await;
    assert_eq!(held, [shard].into());
}

fn info(shard: &str, parent: Option<&str>) -> ShardInfo {
    ShardInfo {
        shard_id: shard.into(),
        parent: parent.map(Into::into),
        adjacent_parent: None,
    }
}
