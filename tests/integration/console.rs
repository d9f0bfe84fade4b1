//! The console in a real terminal: tmux runs `precis tui` against moto, keys are sent with
//! send-keys and the screen is read with capture-pane.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::pipeline::{checkpoint_of, parquet_under, seed, strings};
use crate::reprocess::{assert_exactly_once, curated_day, day_written_without_summaries, env, DAY};
use crate::support::{
    assert_listed_in_order, borrowed, clients, model_dir, precis_ok, read_stream, run_precis,
    settings_for, unique_name,
};

const WAIT: Duration = Duration::from_secs(180);

/// A tmux server of its own (its own socket), running one session of `precis`.
pub(crate) struct Tmux {
    socket: String,
    session: String,
    log_file: PathBuf,
    /// Where the wrapper writes precis' exit status (tmux's own pane status is not reliable).
    status_file: PathBuf,
}

impl Tmux {
    /// Starts `precis tui <args>` in a 100×30 pane with a clean environment plus `env`.
    fn start(args: &[&str], env: &[(&'static str, String)]) -> Tmux {
        let mut all = vec!["tui"];
        all.extend_from_slice(args);
        Tmux::start_command(&all, env)
    }

    /// Starts `precis <args>` in a 100×30 pane with a clean environment plus `env`.
    pub(crate) fn start_command(args: &[&str], env: &[(&'static str, String)]) -> Tmux {
        Tmux::start_in(&std::env::current_dir().unwrap(), args, env)
    }

    /// [`Tmux::start_command`] with `dir` as the working directory.
    fn start_in(dir: &std::path::Path, args: &[&str], env: &[(&'static str, String)]) -> Tmux {
        let socket = unique_name("precis-tmux");
        let session = "console".to_string();
        let log_file = std::env::temp_dir().join(format!("{socket}.log"));
        let status_file = std::env::temp_dir().join(format!("{socket}.status"));
        let home = std::env::temp_dir();
        let mut command = vec![
            "sh".to_string(),
            "-c".into(),
            r#""$@"; echo $? > "$0""#.into(),
            status_file.display().to_string(),
            "env".into(),
            "-i".into(),
            format!("PATH={}", std::env::var("PATH").unwrap_or_default()),
            format!("HOME={}", home.display()),
            "TERM=xterm-256color".into(),
            format!("PRECIS_MODEL_DIR={}", model_dir().display()),
            format!("PRECIS_LOG_FILE={}", log_file.display()),
        ];
        command.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
        command.push(env!("CARGO_BIN_EXE_precis").to_string());
        command.extend(args.iter().map(|a| a.to_string()));
        let status = Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-s", &session, "-x", "100", "-y", "30"])
            .args(["-c", &dir.display().to_string()])
            .args(&command)
            // Keep the pane after precis exits, to read its exit status and final screen: set
            // in the same call, before a quick command can end and take the pane with it.
            .args([";", "set-option", "-t", &session, "remain-on-exit", "on"])
            .status()
            .expect(
                "tmux is needed for the console tests (.ci/run installs it): apt-get install tmux",
            );
        assert!(status.success(), "tmux new-session failed");
        Tmux {
            socket,
            session,
            log_file,
            status_file,
        }
    }

    fn run(&self, args: &[&str]) -> String {
        let output = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    pub(crate) fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", &self.session])
    }

    /// Everything the pane printed, scrolled off or not, wrapped lines joined.
    pub(crate) fn output(&self) -> String {
        self.run(&["capture-pane", "-p", "-J", "-S", "-", "-t", &self.session])
    }

    fn keys(&self, keys: &[&str]) {
        for key in keys {
            self.run(&["send-keys", "-t", &self.session, key]);
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// Waits until the screen shows `text`; returns that screen.
    fn wait_for(&self, text: &str) -> String {
        self.wait_until(&format!("{text:?}"), |screen| screen.contains(text))
    }

    /// Waits until the screen passes `test` (described by `what`); returns that screen.
    fn wait_until(&self, what: &str, test: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let screen = self.screen();
            if test(&screen) {
                return screen;
            }
            if started.elapsed() > WAIT {
                panic!(
                    "the console never showed {what}; last screen:\n{screen}\nlog:\n{}",
                    std::fs::read_to_string(&self.log_file).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// precis' exit status, once it has ended.
    pub(crate) fn wait_for_exit(&self) -> i32 {
        let started = Instant::now();
        loop {
            if let Some(status) = std::fs::read_to_string(&self.status_file)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                return status;
            }
            assert!(
                started.elapsed() < WAIT,
                "precis did not exit; screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn alternate_screen_on(&self) -> bool {
        self.run(&[
            "display-message",
            "-p",
            "-t",
            &self.session,
            "#{alternate_on}",
        ])
        .trim()
            == "1"
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
        let _ = std::fs::remove_file(&self.log_file);
        let _ = std::fs::remove_file(&self.status_file);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_1000_written_browses_a_preview_and_quits_cleanly() {
    let mut settings = settings_for("console");
    settings.stream.shards = 2;
    seed(&settings, 1000, 11).await;
    let tmux = Tmux::start(&["--flush-age-secs", "2"], &env(&settings, "none"));

    let dashboard = tmux.wait_for("written       1000");
    assert!(dashboard.contains("1 Dashboard"), "{dashboard}");

    assert!(dashboard.contains("read          1000"), "{dashboard}");
    assert!(
        tmux.alternate_screen_on(),
        "the console draws on the alternate screen"
    );

    tmux.keys(&["2"]);
    let shards = tmux.wait_for("shardId-000000000001");
    assert!(shards.contains("shardId-000000000000"), "{shards}");

    tmux.keys(&["4"]);
    tmux.wait_for("lake/");
    tmux.keys(&["Enter"]);
    tmux.wait_for("summaries/");
    tmux.keys(&["Down", "Down", "Enter"]);
    let splits = tmux.wait_for("split=train/");
    assert!(
        splits.contains("s3://") && splits.contains("/lake/summaries/ · version "),
        "{splits}"
    );
    tmux.keys(&["v"]);
    let preview = tmux.wait_for("mean word_count");
    assert!(preview.contains(" rows"), "{preview}");
    assert!(
        preview.contains("title") && preview.contains("word_count"),
        "{preview}"
    );

    tmux.keys(&["?"]);
    let help = tmux.wait_for("any key closes");
    assert!(help.contains("pause / resume reading"), "{help}");
    tmux.keys(&["Escape", "q"]);
    assert_eq!(tmux.wait_for_exit(), 0, "screen:\n{}", tmux.screen());
    assert!(!tmux.alternate_screen_on(), "the terminal is restored");
    let after = tmux.screen();
    assert!(
        after.contains("run stopped in"),
        "the summary prints on the restored screen:\n{after}"
    );
    assert!(after.contains("articles written: 1000"), "{after}");

    let clients = clients(&settings).await;
    let records = read_stream(&clients, &settings.stream.name).await;
    for shard in ["shardId-000000000000", "shardId-000000000001"] {
        let tip = records
            .iter()
            .filter(|(s, _)| s == shard)
            .map(|(_, r)| r.sequence_number().to_string())
            .max_by(|a, b| precis::pipeline::sequence::compare_sequence(a, b))
            .expect("records on each shard");
        let checkpoint = checkpoint_of(&clients, &settings, shard).await;
        assert_eq!(
            checkpoint.sequence_number.as_deref(),
            Some(tip.as_str()),
            "{shard}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enter_on_a_shard_in_the_console_shows_its_records_and_why_one_would_be_quarantined() {
    let settings = settings_for("console-inspect");
    let clients = clients(&settings).await;
    precis::resources::ensure_stream(&clients, &settings.stream.name, 1)
        .await
        .unwrap();
    crate::pipeline::put_raw(
        &clients,
        &settings.stream.name,
        [
            ("k1".to_string(), b"not an article".to_vec()),
            (
                "k2".to_string(),
                br#"{"article_id":"a2","title":"Harbour reopens","content":"Ships came back."}"#
                    .to_vec(),
            ),
        ]
        .into_iter(),
    )
    .await;
    let tmux = Tmux::start(&[], &env(&settings, "none"));
    tmux.wait_for("1 Dashboard");
    tmux.keys(&["2"]);
    tmux.wait_for("shardId-000000000000");
    tmux.keys(&["Enter"]);
    let records = tmux.wait_for("Harbour reopens");
    assert!(
        records.contains("records of shardId-000000000000"),
        "{records}"
    );
    assert!(records.contains("not_json"), "{records}");
    tmux.keys(&["Enter"]);
    let record = tmux.wait_for("partition key");
    assert!(
        record.contains("k1") && record.contains("not_json"),
        "{record}"
    );
    tmux.keys(&["Escape", "Escape"]);
    tmux.wait_for("shards of");
    tmux.keys(&["q"]);
    assert_eq!(tmux.wait_for_exit(), 0, "screen:\n{}", tmux.screen());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_on_an_empty_bucket_shows_no_error_line() {
    let settings = settings_for("console-empty");
    let clients = clients(&settings).await;
    precis::resources::ensure_bucket(&clients, &settings.lake.bucket, &settings.aws.region)
        .await
        .unwrap();
    precis::resources::ensure_stream(&clients, &settings.stream.name, 1)
        .await
        .unwrap();
    let tmux = Tmux::start(&[], &env(&settings, "none"));
    tmux.wait_for("1 Dashboard");
    // The Partitions and Tables views list the tables, none of which exists yet.
    tmux.keys(&["4"]);
    tmux.wait_for("nothing written here yet");
    tmux.keys(&["6"]);
    std::thread::sleep(Duration::from_secs(2));
    tmux.keys(&["1"]);
    let dashboard = tmux.wait_for("last warnings and errors");
    assert!(
        !dashboard.contains("ERROR"),
        "a table that does not exist yet is not an error:\n{dashboard}"
    );
    tmux.keys(&["q"]);
    assert_eq!(tmux.wait_for_exit(), 0, "screen:\n{}", tmux.screen());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_in_the_console_reprocesses_the_previewed_day_with_the_console_summarizer() {
    let (settings, clients, ids) = day_written_without_summaries("console-reprocess", 30, 2).await;
    let tmux = Tmux::start(&["--summary-sentences", "1"], &env(&settings, "extractive"));
    tmux.wait_for("1 Dashboard");
    tmux.keys(&["4"]);
    tmux.wait_for("lake/");
    tmux.keys(&["Enter"]);
    tmux.wait_for("summaries/");
    // Into summaries/, then split=train/ (both shards' files hold rows of DAY, and each file
    // is sorted by publish date, so the preview starts on DAY).
    tmux.keys(&["Down", "Down", "Enter"]);
    tmux.wait_for("split=train/");
    tmux.keys(&["Down", "v"]);
    tmux.wait_for("mean word_count");
    tmux.keys(&["r"]);
    tmux.wait_for(&format!("CAST(publish_date AS DATE) = '{DAY}'"));
    tmux.keys(&["y"]);
    let done = tmux.wait_for(&format!(
        "last reprocess: CAST(publish_date AS DATE) = '{DAY}'"
    ));
    assert!(done.contains("30 rows rewritten"), "{done}");
    tmux.keys(&["q"]);
    assert_eq!(tmux.wait_for_exit(), 0, "screen:\n{}", tmux.screen());

    let rows = curated_day(&clients, &settings).await;
    assert_exactly_once(&rows, &ids);
    for (id, summarizer, summary) in &rows {
        assert!(
            summarizer.starts_with("extractive:") && summarizer.contains("sentences=1"),
            "{id}: {summarizer}"
        );
        assert!(!summary.is_empty(), "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q_with_300_articles_being_summarized_exits_within_5_s_and_the_next_start_writes_them_once()
{
    let settings = settings_for("console-quit");
    seed(&settings, 300, 12).await;
    // Summaries on, the default 60 s flush age: at the q, articles are queued for the model
    // and nothing is committed.
    let tmux = Tmux::start(&[], &env(&settings, "extractive"));
    tmux.wait_for("read          300");
    let started = Instant::now();
    tmux.keys(&["q"]);
    assert_eq!(tmux.wait_for_exit(), 0, "screen:\n{}", tmux.screen());
    let took = started.elapsed();
    assert!(took <= Duration::from_secs(5), "q took {took:?}");
    let after = tmux.screen();
    assert!(
        after.contains("read but not committed at the stop: 300 record(s)"),
        "{after}"
    );

    let (output, _) = run_precis(
        &["run", "--once", "--no-ui"],
        &borrowed(&env(&settings, "extractive")),
        Duration::from_secs(600),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let clients = clients(&settings).await;
    let rows = parquet_under(&clients, &settings.lake.bucket, "lake/summaries/").await;
    let ids = strings(&rows, "article_id");
    assert_eq!(ids.len(), 300);
    assert_eq!(
        ids.iter().collect::<std::collections::HashSet<_>>().len(),
        300
    );
    let summarizers = strings(&rows, "summarizer");
    assert!(
        summarizers.iter().all(|s| s.starts_with("extractive:")),
        "{summarizers:?}"
    );
}

/// The article ids of a JSON Lines export.
fn exported_ids(path: &std::path::Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let row: serde_json::Value = serde_json::from_str(l).unwrap();
            row["article_id"].as_str().unwrap().to_string()
        })
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_lists_a_tables_history_compares_its_reprocess_and_exports_it() {
    let (settings, _clients, ids) = day_written_without_summaries("console-history", 20, 2).await;
    let env_none = env(&settings, "none");
    precis_ok(&env_none, &["compact", "--table", "summaries"]);
    precis_ok(
        &env(&settings, "extractive"),
        &["reprocess", "--dt", DAY, "--summary-sentences", "1"],
    );
    let dir = tempfile::tempdir().unwrap();
    let tmux = Tmux::start_in(dir.path(), &["tui"], &env_none);
    tmux.wait_for("1 Dashboard");
    tmux.keys(&["6"]);
    tmux.wait_for("median file");
    // articles, summaries, quarantine: the second row.
    tmux.keys(&["Down", "Enter"]);
    tmux.wait_for("history of lake/summaries");
    let history = tmux.wait_for("create");
    // Newest first: the cursor starts on the reprocess.
    assert_listed_in_order(&history, &["reprocess", "compaction", "stream", "create"]);

    // Enter on the reprocess: the two summarizers on the rows it rewrote.
    tmux.keys(&["Enter"]);
    let compared = tmux.wait_for("rows on both sides");
    assert!(
        compared.contains(&format!("{} changed", ids.len())),
        "{compared}"
    );
    tmux.keys(&["Escape", "Escape"]);
    tmux.wait_for("median file");

    tmux.keys(&["x"]);
    let prompt = tmux.wait_for("rows of lake/summaries at version");
    let version: String = prompt
        .split("at version ")
        .nth(1)
        .unwrap()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let file = dir.path().join(format!("summaries-v{version}.jsonl"));
    tmux.keys(&["Enter"]);
    tmux.wait_for(&format!(
        "exported 40 rows of lake/summaries at version {version} to {}",
        file.display()
    ));
    tmux.keys(&["q"]);
    assert_eq!(tmux.wait_for_exit(), 0, "screen:\n{}", tmux.screen());

    // The same rows as `precis export` writes of that version, each once.
    let exported = exported_ids(&file);
    let by_cli = dir.path().join("cli.jsonl");
    let table = format!("lake/summaries@{version}");
    precis_ok(
        &env_none,
        &["export", &table, "--to", by_cli.to_str().unwrap()],
    );
    assert_eq!(exported, exported_ids(&by_cli));
    let mut unique = exported.clone();
    unique.dedup();
    assert_eq!((exported.len(), unique.len()), (40, 40), "every row once");
}

/// The dashboard's count of articles written, once it shows one.
fn written(screen: &str) -> Option<u64> {
    screen
        .lines()
        .find_map(|l| l.trim_start_matches('│').trim().strip_prefix("written"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capital_c_switches_the_console_to_another_context_of_the_config_file() {
    let (one, two) = (settings_for("console-one"), settings_for("console-two"));
    seed(&one, 30, 3).await;
    seed(&two, 50, 4).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("precis.toml");
    let context = |name: &str, s: &precis::config::Settings| {
        format!(
            "[contexts.{name}.stream]\nname = \"{}\"\n[contexts.{name}.lake]\nbucket = \"{}\"\n",
            s.stream.name, s.lake.bucket
        )
    };
    std::fs::write(&file, context("one", &one) + &context("two", &two)).unwrap();
    let env = [
        ("AWS_ENDPOINT_URL", crate::support::moto().endpoint.clone()),
        ("PRECIS_SUMMARIZER", "none".to_string()),
    ];
    let config = file.to_str().unwrap();
    let tmux = Tmux::start_command(
        &[
            "--config",
            config,
            "--context",
            "one",
            "tui",
            "--flush-age-secs",
            "2",
        ],
        &env,
    );
    tmux.wait_for("context one");
    tmux.wait_until("30 written", |s| written(s) == Some(30));
    tmux.keys(&["C"]);
    let picker = tmux.wait_for("contexts of the config file");
    assert!(picker.contains(&two.stream.name), "{picker}");
    tmux.keys(&["Down", "Enter"]);
    tmux.wait_for("Switch to context two?");
    tmux.keys(&["y"]);
    // The new console's header, once the question and the old one's status are gone.
    tmux.wait_until("the header of context two", |s| {
        s.contains("context two") && !s.contains("Switch to") && !s.contains("switching")
    });
    tmux.wait_until("50 written", |s| written(s) == Some(50));
    tmux.keys(&["q"]);
    assert_eq!(tmux.wait_for_exit(), 0, "screen:\n{}", tmux.screen());
    let output = tmux.output();
    assert!(
        output.contains("articles written: 30") && output.contains("articles written: 50"),
        "each context's run reports its own:\n{output}"
    );

    for (settings, count) in [(&one, 30), (&two, 50)] {
        let clients = clients(settings).await;
        let rows = parquet_under(&clients, &settings.lake.bucket, "lake/summaries/").await;
        let ids = strings(&rows, "article_id");
        assert_eq!(ids.len(), count, "{}", settings.lake.bucket);
    }
}
