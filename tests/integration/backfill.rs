//! `precis backfill` on a local Ray against moto: the precis Python package (built and installed
//! by scripts/python-package) running the pipeline's own code in Ray Data actors, committed once.
//! The steps a test must interleave with other writers run through
//! python/tests/backfill_steps.py; rows are read back with deltalake.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use precis::config::Settings;
use precis::pipeline::sink::lake::TableKind;
use precis::produce::newsgen::NewsGenerator;
use serde_json::Value;

use crate::pipeline::{env_for, lake_of, put_raw, run_once};
use crate::support::{
    borrowed, clients, model_dir, precis_command, project_python, run_precis, settings_for,
};

/// One local Ray at a time: each starts its own processes and takes the machine's cores.
static RAY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const LIMIT: Duration = Duration::from_secs(300);
const DAY: &str = "2026-03-01";
const NEXT_DAY: &str = "2026-03-02";

/// python/tests/backfill_steps.py with `args`, in the environment of a backfill.
fn steps(settings: &Settings, args: &[&str]) -> Command {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/tests/backfill_steps.py");
    let mut command = Command::new(project_python());
    command.arg(script).args(args);
    for (key, value) in backfill_env(settings) {
        command.env(key, value);
    }
    command
}

/// Runs a step to its end; it must succeed. Returns its stdout.
fn step(settings: &Settings, args: &[&str]) -> String {
    let output = crate::support::output_within(&mut steps(settings, args), LIMIT);
    assert!(
        output.status.success(),
        "backfill_steps.py {args:?}:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).to_string()
}

/// The environment of a backfill: the pipeline's, with the default summarizer.
fn backfill_env(settings: &Settings) -> Vec<(&'static str, String)> {
    let mut env = env_for(settings);
    env.retain(|(k, _)| *k != "PRECIS_SUMMARIZER");
    env.push(("PRECIS_PYTHON", project_python().display().to_string()));
    env.push(("PRECIS_MODEL_DIR", model_dir().display().to_string()));
    env
}

/// `count` articles, alternately published on [`DAY`] and [`NEXT_DAY`], put on the stream in
/// calls of 500 and written by `run --once` with summaries off.
async fn stored(settings: &Settings, count: usize, seed: u64) {
    let clients = clients(settings).await;
    precis::resources::ensure_stream(&clients, &settings.stream.name, 2)
        .await
        .unwrap();
    let mut generator = NewsGenerator::new(seed, NaiveDate::from_ymd_opt(2026, 11, 23).unwrap());
    let records: Vec<(String, Vec<u8>)> = (0..count)
        .map(|i| {
            let mut article = generator.next_article();
            let day = if i % 2 == 0 { DAY } else { NEXT_DAY };
            article.publish_date = format!("{day}T{:02}:00:00", i % 24);
            (
                article.article_id.clone(),
                serde_json::to_vec(&article).unwrap(),
            )
        })
        .collect();
    for chunk in records.chunks(500) {
        put_raw(&clients, &settings.stream.name, chunk.iter().cloned()).await;
    }
    run_once(settings, &[]);
}

/// Every row of `lake/<table>`, read by deltalake, by article id.
fn rows(settings: &Settings, table: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for line in step(settings, &["rows", table]).lines() {
        let row: Value = serde_json::from_str(line).unwrap();
        let id = row["article_id"].as_str().unwrap().to_string();
        assert!(
            out.insert(id.clone(), row).is_none(),
            "{id} twice in {table}"
        );
    }
    out
}

async fn summaries_version(settings: &Settings) -> i64 {
    let table = lake_of(&settings.lake.bucket)
        .open(TableKind::Summaries)
        .await
        .unwrap()
        .expect("a summaries table");
    i64::try_from(table.version().unwrap()).unwrap()
}

/// How many commits of the summaries table were backfills.
async fn backfill_commits(settings: &Settings) -> usize {
    use futures::TryStreamExt as _;
    let table = lake_of(&settings.lake.bucket)
        .open(TableKind::Summaries)
        .await
        .unwrap()
        .unwrap();
    let history: Vec<_> = table.history(None).try_collect().await.unwrap();
    history
        .iter()
        .filter(|c| c.info.contains_key(precis::maintenance::META_BACKFILL))
        .count()
}

fn backfill(settings: &Settings, args: &[&str]) -> std::process::Output {
    let env = backfill_env(settings);
    let mut all = vec!["backfill"];
    all.extend_from_slice(args);
    let (output, _) = run_precis(&all, &borrowed(&env), LIMIT);
    output
}

fn succeeded(output: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "backfill failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backfill_rewrites_the_selected_rows_in_one_commit_and_leaves_the_others_byte_identical()
{
    let _ray = RAY.lock().await;
    let settings = settings_for("backfill-day");
    stored(&settings, 10_000, 3).await;
    let before = rows(&settings, "summaries");
    assert_eq!(before.len(), 10_000);
    let version = summaries_version(&settings).await;

    let out = succeeded(&backfill(&settings, &["--dt", DAY, "--actors", "2"]));
    assert!(out.contains("backfilled 5000 rows"), "{out}");

    assert_eq!(
        summaries_version(&settings).await,
        version + 1,
        "one commit"
    );
    let after = rows(&settings, "summaries");
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "the same article ids, once each"
    );
    let mut rewritten = 0;
    for (id, row) in &after {
        let old = &before[id];
        if row["publish_date"].as_str().unwrap().starts_with(DAY) {
            rewritten += 1;
            let summarizer = row["summarizer"].as_str().unwrap();
            assert!(summarizer.starts_with("extractive:"), "{id}: {summarizer}");
            let summary = row["summary"].as_str().expect("a summary");
            assert!(
                row["content"]
                    .as_str()
                    .unwrap()
                    .contains(summary.split(". ").next().unwrap()),
                "{id}: the summary is the article's own sentences"
            );
            for column in ["content", "title", "word_count", "split", "sequence_number"] {
                assert_eq!(row[column], old[column], "{id}: {column} is kept");
            }
        } else {
            assert_eq!(row, old, "{id}: a row outside the selection is unchanged");
        }
    }
    assert_eq!(rewritten, 5000);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_driver_killed_mid_job_then_rerun_commits_once_with_no_duplicate() {
    let _ray = RAY.lock().await;
    let settings = settings_for("backfill-kill");
    stored(&settings, 2000, 4).await;
    let env = backfill_env(&settings);
    let mut command = precis_command(&["backfill", "--all"], &borrowed(&env));
    command.process_group(0);
    let mut child = command.spawn().expect("spawn precis backfill");
    let stderr = lines_of(child.stderr.take().unwrap());
    let started = Instant::now();
    loop {
        let left = LIMIT.saturating_sub(started.elapsed());
        let line = stderr
            .recv_timeout(left)
            .expect("the backfill planned within the limit");
        // The plan is made: the job's record is written and Ray starts.
        if line.starts_with("backfill: ") {
            break;
        }
    }
    std::thread::sleep(Duration::from_secs(2));
    // The driver and every process it started (Ray's), at once.
    let group = i32::try_from(child.id()).unwrap();
    unsafe { libc::kill(-group, libc::SIGKILL) };
    let _ = child.wait();
    assert_eq!(
        backfill_commits(&settings).await,
        0,
        "killed before it committed"
    );

    let out = succeeded(&backfill(&settings, &["--all"]));
    assert!(out.contains("backfilled 2000 rows"), "{out}");
    assert_eq!(backfill_commits(&settings).await, 1);
    let after = rows(&settings, "summaries");
    assert_eq!(after.len(), 2000, "no row lost or repeated");
    assert!(after
        .values()
        .all(|r| r["summarizer"].as_str().unwrap().starts_with("extractive:")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rerun_after_a_driver_that_died_having_committed_finds_the_transaction() {
    let _ray = RAY.lock().await;
    let settings = settings_for("backfill-replay");
    stored(&settings, 400, 5).await;
    let out = step(&settings, &["replay-record", "--", "--all"]);
    let result: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert!(result["first"]["version"].is_i64(), "{result}");
    assert!(
        result["again"]["already_committed"].is_string(),
        "the rerun finds the transaction: {result}"
    );
    assert_eq!(backfill_commits(&settings).await, 1);
}

/// Runs the job in two halves around `between`: plan, then `between`, then the rest. Returns the
/// helper's output.
fn around(settings: &Settings, job: &[&str], between: impl FnOnce()) -> std::process::Output {
    let mut args = vec!["pause", "--"];
    args.extend_from_slice(job);
    let mut child = steps(settings, &args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = lines_of(child.stdout.take().unwrap());
    let first = lines
        .recv_timeout(LIMIT)
        .expect("the helper planned within the limit");
    assert_eq!(first.trim(), "planned", "the helper did not plan");
    between();
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut output = crate::support::finish_within(child, LIMIT, "backfill_steps.py pause");
    output.stdout = lines.iter().collect::<Vec<_>>().join("\n").into_bytes();
    output
}

/// A child's output, line by line, read on a thread of its own (so that waits can time out).
fn lines_of(output: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    let (send, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines() {
            let Ok(line) = line else { break };
            if send.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_the_pipeline_appends_during_the_job_survive_its_commit() {
    let _ray = RAY.lock().await;
    let settings = settings_for("backfill-append");
    stored(&settings, 600, 6).await;
    let before: HashSet<String> = rows(&settings, "summaries").into_keys().collect();
    let handle = tokio::runtime::Handle::current();
    let output = around(&settings, &["--all"], || {
        tokio::task::block_in_place(|| handle.block_on(stored(&settings, 300, 7)));
    });
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let after = rows(&settings, "summaries");
    assert_eq!(after.len(), 900, "the appended rows are still there");
    for (id, row) in &after {
        let summarizer = row["summarizer"].as_str().unwrap();
        if before.contains(id) {
            assert!(summarizer.starts_with("extractive:"), "{id} was backfilled");
        } else {
            assert_eq!(summarizer, "none", "{id} is as the pipeline wrote it");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_compaction_between_read_and_commit_makes_the_job_refuse_and_change_nothing() {
    let _ray = RAY.lock().await;
    let settings = settings_for("backfill-compact");
    stored(&settings, 300, 8).await;
    stored(&settings, 300, 9).await;
    let env = backfill_env(&settings);
    let output = around(&settings, &["--all"], || {
        let (compacted, _) =
            run_precis(&["compact", "--table", "summaries"], &borrowed(&env), LIMIT);
        let said = String::from_utf8_lossy(&compacted.stdout).to_string();
        assert!(
            compacted.status.success() && said.contains("merged into"),
            "{said}"
        );
    });
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "the job must refuse: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(
        stderr.contains("left the table meanwhile") && stderr.contains("run it again"),
        "{stderr}"
    );
    assert_eq!(backfill_commits(&settings).await, 0);
    let after = rows(&settings, "summaries");
    assert_eq!(after.len(), 600);
    assert!(after.values().all(|r| r["summarizer"] == "none"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_candidate_table_mode_leaves_the_summaries_table_untouched() {
    let _ray = RAY.lock().await;
    let settings = settings_for("backfill-into");
    stored(&settings, 400, 10).await;
    let before = rows(&settings, "summaries");
    let version = summaries_version(&settings).await;
    let out = succeeded(&backfill(&settings, &["--dt", DAY, "--into", "candidate"]));
    assert!(out.contains("lake/candidate"), "{out}");
    assert_eq!(summaries_version(&settings).await, version);
    assert_eq!(rows(&settings, "summaries"), before);
    let candidate = rows(&settings, "candidate");
    assert_eq!(candidate.len(), 200, "the rows of {DAY}");
    for (id, row) in &candidate {
        assert!(row["publish_date"].as_str().unwrap().starts_with(DAY));
        assert!(row["summarizer"]
            .as_str()
            .unwrap()
            .starts_with("extractive:"));
        assert_eq!(row["sequence_number"], before[id]["sequence_number"]);
    }
    let env = backfill_env(&settings);
    let (tables, _) = run_precis(&["tables"], &borrowed(&env), LIMIT);
    let tables = String::from_utf8_lossy(&tables.stdout).to_string();
    assert!(
        tables.contains("summaries (s3://") && tables.contains("candidate (candidate) (s3://"),
        "precis tables shows both: {tables}"
    );
    let (partitions, _) = run_precis(&["partitions"], &borrowed(&env), LIMIT);
    let partitions = String::from_utf8_lossy(&partitions.stdout).to_string();
    assert!(
        partitions.contains("lake/candidate/split="),
        "the browser lists the candidate's partitions: {partitions}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_package_computes_the_features_and_summaries_precis_run_wrote() {
    let settings = settings_for("backfill-package");
    crate::pipeline::seed(&settings, 300, 11).await;
    let env = backfill_env(&settings);
    let (output, _) = run_precis(&["run", "--once", "--no-ui"], &borrowed(&env), LIMIT);
    assert!(output.status.success());
    let out = step(&settings, &["same-as-run"]);
    assert!(out.contains("\"rows\": 300"), "{out}");
}
