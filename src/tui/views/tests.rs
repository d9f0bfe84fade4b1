//! Every view drawn into ratatui's TestBackend from real state (a pipeline snapshot, samples,
//! a bucket listing, a Parquet file read back through polars), and the app's key handling.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, TimeZone, Utc};
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;

use crate::browser::preview::{read_file, stats, Preview};
use crate::browser::{ObjectInfo, Tree};
use crate::maintenance::inventory::{CommitKind, CommitSummary, Part, TableSummary};
use crate::maintenance::reprocess::Selection;
use crate::pipeline::features::{FeatureAverages, Features};
use crate::pipeline::record::Limits;
use crate::pipeline::rows::{process, Outcome, RawRecord};
use crate::pipeline::sink::parquet::{curated_batch, encode, FileContext};
use crate::pipeline::stats::{Sample, ShardState, ShardStatus, Snapshot};
use crate::summarize::pool::{PoolSnapshot, Summarized};
use crate::telemetry::LogLine;
use crate::tui::app::{App, Effect, View};
use crate::tui::jobs::PreviewData;
use crate::tui::jobs::{Jobs, Slot};
use crate::tui::keymap::{Scope, BINDINGS};
use crate::tui::live::{EngineInfo, RunState};
use crate::tui::theme::Theme;
use crate::tui::views::partitions::{PreviewPane, ReprocessState};

const SUMMARIZER: &str = "extractive:all-minilm-l6-v2@53aa5117;sentences=3";

fn info() -> EngineInfo {
    EngineInfo {
        context: None,
        stream: "MyStream".into(),
        bucket: "my-bucket".into(),
        summarizer: SUMMARIZER.into(),
        workers: 2,
        log_file: "/tmp/precis.log".into(),
        workdir: "/home/op".into(),
    }
}

fn shard(state: ShardState, records: u64, lag: i64) -> ShardStatus {
    ShardStatus {
        state,
        records,
        millis_behind_latest: lag,
        last_sequence: Some("49650000000000000000000000000000000000000000000000000123".into()),
        checkpoint: Some("49650000000000000000000000000000000000000000000000000100".into()),
        uncommitted: 0,
    }
}

fn snapshot() -> Snapshot {
    let mut shards = BTreeMap::new();
    shards.insert(
        "shardId-000000000000".to_string(),
        shard(ShardState::Reading, 600, 250),
    );
    shards.insert(
        "shardId-000000000001".to_string(),
        shard(ShardState::Reading, 400, 75_000),
    );
    shards.insert(
        "shardId-000000000002".to_string(),
        shard(ShardState::Finished, 0, 0),
    );
    let mut averages = FeatureAverages::default();
    averages.add(&Features::of(
        "one two three four five six seven eight nine ten.",
    ));
    averages.add(&Features::of("one two three four five six seven eight."));
    Snapshot {
        records_in: 1000,
        bytes_in: 3_000_000,
        articles_written: 998,
        quarantined: 2,
        exact_duplicates: 0,
        files_written: 12,
        bytes_written: 2_500_000,
        errors: 0,
        shards,
        averages,
        workers: BTreeMap::new(),
    }
}

fn sample(n: usize, title: &str, summary: &str) -> Sample {
    let content = format!("{summary} More words follow in the body of article {n}.");
    Sample {
        article_id: format!("id-{n}"),
        title: Some(title.into()),
        features: Features::of(&content),
        content,
        summary: Some(summary.into()),
        summarizer: SUMMARIZER.into(),
        shard_id: "shardId-000000000000".into(),
        sequence_number: n.to_string(),
        dt: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
    }
}

fn live_app() -> App {
    let mut app = App::new(info(), Theme::built_in(), 0);
    let logs = vec![LogLine {
        at: Utc.with_ymd_and_hms(2026, 3, 1, 12, 30, 5).unwrap(),
        level: tracing::Level::WARN,
        message: "reading shard shardId-000000000001: throttled; retrying in 400ms".into(),
    }];
    let samples = vec![
        sample(
            1,
            "Markets rally on rate cut",
            "Stocks rose after the central bank cut rates.",
        ),
        sample(
            2,
            "Storm hits coast",
            "A storm brought floods to the coast.",
        ),
    ];
    let pool = PoolSnapshot {
        queued: 3,
        summarized: 990,
        fallbacks: 1,
        batches: 120,
        busy: Duration::from_secs(150),
        tokens_in: 0,
        tokens_out: 0,
    };
    let start = Instant::now();
    app.observe(
        snapshot(),
        Some(pool),
        samples.clone(),
        logs.clone(),
        Duration::from_secs(75),
        start,
    );
    let mut later = snapshot();
    later.records_in += 500;
    later.bytes_in += 1_536_000;
    app.observe(
        later,
        Some(pool),
        samples,
        logs,
        Duration::from_secs(77),
        start + Duration::from_secs(2),
    );
    app
}

fn tree() -> Tree {
    let object = |key: &str, size| ObjectInfo {
        key: key.into(),
        size,
        last_modified: None,
    };
    Tree::new(vec![
        object("lake/summaries/split=train/part-a.zstd.parquet", 40_000),
        object("lake/summaries/split=train/part-b.zstd.parquet", 30_000),
        object("lake/summaries/split=test/part-a.zstd.parquet", 4_000),
        object("lake/articles/part-a.zstd.parquet", 60_000),
        object("lake/quarantine/part-a.zstd.parquet", 700),
    ])
    .with_versions(std::collections::BTreeMap::from([
        ("lake/articles/".to_string(), 2),
        ("lake/quarantine/".to_string(), 1),
        ("lake/summaries/".to_string(), 7),
    ]))
}

fn curated_parquet() -> Vec<u8> {
    let rows: Vec<_> = [
        (
            "a1",
            "Markets rally",
            "Stocks rose. The bank cut rates. Traders cheered.",
        ),
        (
            "a2",
            "Storm hits coast",
            "A storm brought floods. Roads closed.",
        ),
    ]
    .iter()
    .enumerate()
    .map(|(i, (id, title, content))| {
        let data = serde_json::json!({"article_id": id, "title": title, "content": content,
            "publish_date": "2026-03-01T09:00:00"});
        let record = RawRecord {
            shard_id: "shardId-000000000000".into(),
            sequence_number: format!("{}", 10 + i),
            partition_key: "k".into(),
            arrival_time: Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap(),
            data: data.to_string().into_bytes(),
        };
        let Outcome::Article(mut row) = process(&record, &Limits::default()) else {
            panic!("valid article");
        };
        row.summary = Some(Summarized {
            text: content.split(". ").next().unwrap().to_string() + ".",
            summarizer: SUMMARIZER.into(),
        });
        *row
    })
    .collect();
    let refs: Vec<_> = rows.iter().collect();
    let ctx = FileContext {
        stream: "MyStream",
        processed_at: Utc::now(),
    };
    encode(&curated_batch(&refs, &ctx).unwrap()).unwrap()
}

fn preview_data() -> PreviewData {
    let frame = read_file("x.parquet", curated_parquet()).unwrap();
    let preview = Preview {
        target: "lake/summaries/split=train/".into(),
        version: Some(7),
        files_read: 2,
        files_total: 2,
        stats: stats(&frame),
        frame,
    };
    PreviewData {
        target: preview.target.clone(),
        table: preview.table(100),
        stats: preview.stats.clone(),
        files_read: preview.files_read,
        files_total: preview.files_total,
    }
}

fn screen(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| crate::tui::screen::draw(f, app)).unwrap();
    let buffer = terminal.backend().buffer();
    (0..height)
        .map(|y| {
            (0..width)
                .map(|x| buffer[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The Partitions view, listed, opened at lake/summaries/.
fn in_summaries(app: &mut App) {
    press(app, KeyCode::Char('4'));
    answer(app, |j| &j.listing, Ok(tree()));
    press(app, KeyCode::Enter); // lake/
    press(app, KeyCode::Down); // quarantine/
    press(app, KeyCode::Down); // summaries/
    press(app, KeyCode::Enter);
}

/// In lake/summaries/, with split=train/ previewed.
fn previewing_summaries(app: &mut App) {
    in_summaries(app);
    press(app, KeyCode::Down); // split=train/
    press(app, KeyCode::Char('v'));
    answer(
        app,
        |j| &j.preview,
        ("lake/summaries/split=train/".into(), Ok(preview_data())),
    );
}

/// Background work's answer, handed over as the event loop does it: into its slot, then the
/// notice.
fn answer<T>(app: &mut App, slot: fn(&Jobs) -> &Slot<T>, value: T) -> Option<Effect> {
    let slot = slot(&app.jobs);
    let notice = slot
        .start()
        .put(value)
        .expect("a fresh run's answer is kept");
    app.on_notice(notice)
}

fn press(app: &mut App, code: KeyCode) -> Option<Effect> {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

#[test]
fn the_dashboard_shows_totals_rates_averages_and_the_last_warning() {
    let text = screen(&live_app(), 100, 30);
    assert!(text.contains("1 Dashboard"), "{text}");
    assert!(text.contains("written       998"), "{text}");
    assert!(text.contains("quarantined   2"), "{text}");
    assert!(text.contains("summarized    990"), "{text}");
    assert!(text.contains("records/s now 250"), "{text}");
    assert!(text.contains("KiB/s now 750"), "{text}");
    assert!(text.contains("avg words     9.0"), "{text}");
    assert!(text.contains("queue         3"), "{text}");
    assert!(
        text.contains("capacity      13.2 articles/s (2 workers)"),
        "{text}"
    );
    assert!(text.contains("throttled; retrying"), "{text}");
    assert!(text.contains("● reading"), "{text}");
}

#[test]
fn the_dashboard_fits_80_by_24() {
    let text = screen(&live_app(), 80, 24);
    assert!(text.contains("written       998"), "{text}");
    assert!(text.contains("uptime        0:01:17"), "{text}");
    assert!(text.contains("avg words"), "{text}");
    assert!(text.contains("? help"), "{text}");
}

#[test]
fn the_shards_view_lists_each_shard_with_its_state_and_lag() {
    let mut app = live_app();
    press(&mut app, KeyCode::Char('2'));
    let text = screen(&app, 100, 24);
    for id in [
        "shardId-000000000000",
        "shardId-000000000001",
        "shardId-000000000002",
    ] {
        assert!(text.contains(id), "{id} missing:\n{text}");
    }
    let lagging = text
        .lines()
        .find(|l| l.contains("shardId-000000000001"))
        .unwrap();
    assert!(lagging.contains("75000 ms"), "{lagging}");
    assert!(lagging.contains("reading"), "{lagging}");
    let closed = text
        .lines()
        .find(|l| l.contains("shardId-000000000002"))
        .unwrap();
    assert!(closed.contains("closed"), "{closed}");
    assert!(text.contains("…0000000000123"), "{text}");
}

#[test]
fn with_a_lease_table_the_shards_view_lists_each_worker_and_the_shards_it_holds() {
    let mut app = App::new(info(), Theme::built_in(), 0);
    let mut shared = snapshot();
    shared.workers.insert(
        "node-a-41-1f2e".into(),
        vec!["shardId-000000000000".into(), "shardId-000000000001".into()],
    );
    shared
        .workers
        .insert("node-b-7-0c0d".into(), vec!["shardId-000000000003".into()]);
    app.observe(
        shared,
        None,
        Vec::new(),
        Vec::new(),
        Duration::from_secs(5),
        Instant::now(),
    );
    press(&mut app, KeyCode::Char('2'));
    let text = screen(&app, 100, 24);
    assert!(text.contains("workers sharing"), "{text}");
    // Each worker's row: its id, how many shards it holds (a cell of its own), their ids.
    let cells = |worker: &str| -> Vec<String> {
        let line = text.lines().find(|l| l.contains(worker)).unwrap();
        line.split(|c: char| c.is_whitespace() || c == '│')
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect()
    };
    let a = cells("node-a-41-1f2e");
    assert_eq!(
        a[a.iter().position(|t| t == "node-a-41-1f2e").unwrap() + 1],
        "2",
        "{a:?}"
    );
    assert!(
        a.join(" ")
            .contains("shardId-000000000000 shardId-000000000001"),
        "{a:?}"
    );
    let b = cells("node-b-7-0c0d");
    assert_eq!(
        b[b.iter().position(|t| t == "node-b-7-0c0d").unwrap() + 1],
        "1",
        "{b:?}"
    );
    assert!(b.contains(&"shardId-000000000003".to_string()), "{b:?}");
}

#[test]
fn without_a_lease_table_the_shards_view_has_no_workers_panel() {
    let mut app = live_app();
    press(&mut app, KeyCode::Char('2'));
    assert!(!screen(&app, 100, 24).contains("workers sharing"));
}

#[test]
fn a_lagging_shard_is_drawn_in_the_alarm_color() {
    let mut app = live_app();
    press(&mut app, KeyCode::Char('2'));
    let mut terminal = Terminal::new(TestBackend::new(100, 24)).unwrap();
    terminal
        .draw(|f| crate::tui::screen::draw(f, &app))
        .unwrap();
    let buffer = terminal.backend().buffer();
    let theme = app.theme().clone();
    let (x, y) = (0..24u16)
        .flat_map(|y| (0..100u16).map(move |x| (x, y)))
        .find(|&(x, y)| {
            buffer[(x, y)].symbol() == "7"
                && buffer[(x + 1, y)].symbol() == "5"
                && buffer[(x + 2, y)].symbol() == "0"
        })
        .expect("the 75000 ms lag is drawn");
    assert_eq!(buffer[(x, y)].fg, theme.error);
}

#[test]
fn the_samples_view_lists_titles_with_summaries_and_enter_opens_one() {
    let mut app = live_app();
    press(&mut app, KeyCode::Char('3'));
    let text = screen(&app, 100, 24);
    assert!(text.contains("Storm hits coast"), "{text}");
    assert!(text.contains("A storm brought floods"), "{text}");
    // Newest first: sample 2 is selected; Enter opens it.
    press(&mut app, KeyCode::Enter);
    let text = screen(&app, 100, 30);
    assert!(text.contains("article"), "{text}");
    assert!(text.contains("More words follow"), "{text}");
    assert!(text.contains("word_count"), "{text}");
    assert!(text.contains("id-2"), "{text}");
    // New samples arriving do not change the article on screen.
    let mut newer = app.live.samples.clone();
    newer.push(sample(
        3,
        "Election called",
        "The prime minister called an election.",
    ));
    let (snapshot, pool) = (app.live.snapshot.clone().unwrap(), app.live.pool);
    app.observe(
        snapshot,
        pool,
        newer,
        Vec::new(),
        Duration::from_secs(80),
        Instant::now(),
    );
    assert!(screen(&app, 100, 30).contains("More words follow"));
    assert_eq!(app.samples.open.as_ref().unwrap().article_id, "id-2");
    press(&mut app, KeyCode::Esc);
    assert!(app.samples.open.is_none());
}

#[test]
fn the_partitions_view_shows_tables_with_versions_and_counts_then_a_polars_preview() {
    let mut app = live_app();
    let effect = press(&mut app, KeyCode::Char('4'));
    assert_eq!(effect, Some(Effect::ListPartitions));
    answer(&mut app, |j| &j.listing, Ok(tree()));
    assert!(screen(&app, 100, 30).contains("lake/"));
    press(&mut app, KeyCode::Enter); // lake/
    let text = screen(&app, 100, 30);
    for name in ["articles/", "quarantine/", "summaries/"] {
        assert!(text.contains(name), "{name}:\n{text}");
    }
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Enter); // summaries/
    let text = screen(&app, 100, 30);
    assert!(
        text.contains("s3://my-bucket/lake/summaries/ · version 7"),
        "{text}"
    );
    let train = text.lines().find(|l| l.contains("split=train/")).unwrap();
    assert!(
        train.contains(" 2 ") && train.contains("68.4 KiB"),
        "{train}"
    );
    press(&mut app, KeyCode::Down); // split=train/
    let effect = press(&mut app, KeyCode::Char('v'));
    assert_eq!(
        effect,
        Some(Effect::Preview("lake/summaries/split=train/".into()))
    );
    assert!(screen(&app, 100, 30).contains("reading lake/summaries/split=train/ with polars"));
    answer(
        &mut app,
        |j| &j.preview,
        ("lake/summaries/split=train/".into(), Ok(preview_data())),
    );
    let text = screen(&app, 100, 30);
    assert!(text.contains("2 rows"), "{text}");
    assert!(text.contains("mean word_count 7.0"), "{text}");
    assert!(text.contains("Markets rally"), "{text}");
    assert!(text.contains("Storm hits coast"), "{text}");
    assert!(text.contains("A storm brought floods."), "{text}");
    assert!(text.contains("title"), "{text}");
}

#[test]
fn backspace_goes_up_one_folder_and_lands_on_the_folder_left() {
    let mut app = live_app();
    press(&mut app, KeyCode::Char('4'));
    answer(&mut app, |j| &j.listing, Ok(tree()));
    press(&mut app, KeyCode::Enter); // lake/
    press(&mut app, KeyCode::Down); // quarantine/
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.partitions.browser.prefix, "lake/quarantine/");
    press(&mut app, KeyCode::Backspace);
    assert_eq!(app.partitions.browser.prefix, "lake/");
    assert_eq!(
        app.partitions.selected_entry(&app.ctx()).unwrap().name,
        "quarantine"
    );
}

#[test]
fn the_logs_view_lists_warnings_with_their_time() {
    let mut app = live_app();
    press(&mut app, KeyCode::Char('5'));
    let text = screen(&app, 100, 24);
    assert!(
        text.contains("12:30:05 WARN  reading shard shardId-000000000001"),
        "{text}"
    );
    assert!(text.contains("/tmp/precis.log"), "{text}");
}

#[test]
fn the_help_overlay_lists_every_key_at_80_by_24() {
    let mut app = live_app();
    press(&mut app, KeyCode::Char('?'));
    assert!(app.help);
    let text = screen(&app, 80, 24);
    assert!(
        text.contains(&format!(
            "1-6       {}",
            crate::tui::views::help::VIEWS_HELP
        )),
        "{text}"
    );
    for binding in BINDINGS {
        if matches!(binding.action, crate::tui::keymap::Action::Show(_)) {
            continue;
        }
        let shown = text
            .lines()
            .any(|l| l.contains(binding.label) && l.contains(binding.help));
        assert!(
            shown,
            "{} {} not on the help screen:\n{text}",
            binding.label, binding.help
        );
    }
    for (keys, help) in crate::tui::keymap::CONFIRM_HELP {
        assert!(
            text.lines().any(|l| l.contains(keys) && l.contains(help)),
            "{text}"
        );
    }
    // Any key closes it and does nothing else.
    assert_eq!(press(&mut app, KeyCode::Char('q')), None);
    assert!(!app.help && !app.quitting);
}

#[test]
fn tab_and_number_keys_switch_views() {
    let mut app = live_app();
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.view, View::Shards);
    press(&mut app, KeyCode::BackTab);
    press(&mut app, KeyCode::BackTab);
    assert_eq!(app.view, View::Tables);
    press(&mut app, KeyCode::Char('3'));
    assert_eq!(app.view, View::Samples);
}

#[test]
fn the_filter_narrows_the_list_and_escape_clears_it() {
    let mut app = live_app();
    press(&mut app, KeyCode::Char('2'));
    press(&mut app, KeyCode::Char('/'));
    assert!(app.filter_editing);
    type_text(&mut app, "0001");
    press(&mut app, KeyCode::Enter);
    assert!(!app.filter_editing);
    assert_eq!(app.shards.visible(&app.ctx()), ["shardId-000000000001"]);
    let text = screen(&app, 100, 24);
    assert!(!text.contains("shardId-000000000002"), "{text}");
    assert!(text.contains("filter: 0001"), "{text}");
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.shards.visible(&app.ctx()).len(), 3);
}

#[test]
fn typing_in_the_filter_does_not_trigger_keys() {
    let mut app = live_app();
    press(&mut app, KeyCode::Char('/'));
    assert_eq!(press(&mut app, KeyCode::Char('q')), None);
    assert!(!app.quitting);
    assert_eq!(press(&mut app, KeyCode::Char('p')), None);
    app.on_key(KeyEvent::new(KeyCode::Char('a'), KeyModifiers::CONTROL));
    assert_eq!(app.filter, "qp", "a control key is not text");
}

#[test]
fn r_on_a_previewed_summaries_row_shows_the_predicate_of_its_day_and_y_starts_the_reprocess() {
    let mut app = live_app();
    previewing_summaries(&mut app);
    assert_eq!(press(&mut app, KeyCode::Char('r')), None);
    let day = Selection::day(NaiveDate::from_ymd_opt(2026, 3, 1).unwrap());
    assert_eq!(app.partitions.confirm, Some(day.clone()));
    let text = screen(&app, 80, 24);
    assert!(
        text.contains("Reprocess the summaries rows where")
            && text.contains("CAST(publish_date AS DATE) = '2026-03-01'"),
        "{text}"
    );
    assert_eq!(
        press(&mut app, KeyCode::Char('y')),
        Some(Effect::Reprocess(day))
    );
    assert_eq!(app.partitions.confirm, None);
    assert!(matches!(
        app.partitions.reprocess,
        Some(ReprocessState::Running { .. })
    ));
    // A second r while it runs does not start another.
    assert_eq!(press(&mut app, KeyCode::Char('r')), None);
    assert_eq!(app.partitions.confirm, None);
}

#[test]
fn n_cancels_the_reprocess_prompt() {
    let mut app = live_app();
    previewing_summaries(&mut app);
    press(&mut app, KeyCode::Char('r'));
    assert_eq!(press(&mut app, KeyCode::Char('n')), None);
    assert_eq!(app.partitions.confirm, None);
    assert_eq!(app.partitions.reprocess, None);
}

#[test]
fn r_without_a_previewed_summaries_row_explains_itself() {
    let mut app = live_app();
    in_summaries(&mut app);
    press(&mut app, KeyCode::Char('r'));
    assert_eq!(app.partitions.confirm, None);
    assert!(screen(&app, 100, 24).contains("r rewrites one publish day of summaries"));
}

#[test]
fn reprocess_progress_shows_as_a_gauge() {
    let mut app = live_app();
    previewing_summaries(&mut app);
    press(&mut app, KeyCode::Char('r'));
    press(&mut app, KeyCode::Enter);
    answer(
        &mut app,
        |j| &j.reprocess_progress,
        crate::maintenance::reprocess::ReprocessProgress::Summarized {
            done: 120,
            total: 300,
        },
    );
    let text = screen(&app, 100, 30);
    let lines: Vec<&str> = text.lines().collect();
    // Above the footer (which says the same): the gauge in the Partitions view itself.
    let gauge = lines[..lines.len() - 1].iter().position(|l| {
        l.contains(
            "reprocessing where CAST(publish_date AS DATE) = '2026-03-01': 120/300 rows summarized",
        )
    });
    assert!(gauge.is_some_and(|row| row > 1), "{text}");
}

#[test]
fn p_pauses_and_resumes_reading() {
    let mut app = live_app();
    assert_eq!(
        press(&mut app, KeyCode::Char('p')),
        Some(Effect::SetPaused(true))
    );
    assert!(screen(&app, 80, 24).contains("‖ paused"));
    assert_eq!(
        press(&mut app, KeyCode::Char('p')),
        Some(Effect::SetPaused(false))
    );
}

#[test]
fn t_cycles_through_the_themes() {
    let mut app = live_app();
    let names: Vec<String> = (0..3)
        .map(|_| {
            press(&mut app, KeyCode::Char('t'));
            app.theme().name.clone()
        })
        .collect();
    assert_eq!(names, ["light", "high-contrast", "dark"]);
}

#[test]
fn q_and_ctrl_c_ask_to_quit() {
    let mut app = live_app();
    assert_eq!(press(&mut app, KeyCode::Char('q')), Some(Effect::Quit));
    let mut app = live_app();
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(app.on_key(ctrl_c), Some(Effect::Quit));
}

#[test]
fn a_stale_preview_answer_is_dropped() {
    let mut app = live_app();
    app.partitions.browser.preview = PreviewPane::Loading("b/".into());
    answer(&mut app, |j| &j.preview, ("a/".into(), Ok(preview_data())));
    assert_eq!(
        app.partitions.browser.preview,
        PreviewPane::Loading("b/".into())
    );
}

#[test]
fn every_view_draws_in_a_tiny_terminal_without_panicking() {
    let mut app = live_app();
    answer(&mut app, |j| &j.listing, Ok(tree()));
    for view in View::ALL {
        app.view = view;
        for (w, h) in [(1, 1), (10, 3), (40, 10)] {
            screen(&app, w, h);
        }
    }
    // The heavier states too: an open article, a preview table, the prompt, the gauge.
    app.view = View::Samples;
    press(&mut app, KeyCode::Enter);
    app.view = View::Partitions;
    app.partitions.browser.preview = PreviewPane::Ready(Box::new(preview_data()));
    app.partitions.confirm = NaiveDate::from_ymd_opt(2026, 3, 1).map(Selection::day);
    app.partitions.reprocess = Some(ReprocessState::Running {
        predicate: "CAST(publish_date AS DATE) = '2026-03-01'".into(),
        step: "1/2 articles files read".into(),
        ratio: 0.1,
    });
    for view in [View::Samples, View::Partitions] {
        app.view = view;
        for (w, h) in [(1, 1), (10, 3), (40, 10), (80, 24)] {
            screen(&app, w, h);
        }
    }
    app.help = true;
    screen(&app, 20, 5);
}

#[test]
fn bindings_in_view_scopes_only_exist_for_views_with_lists() {
    for b in BINDINGS {
        if let Scope::In(view) = b.scope {
            assert!(
                matches!(
                    view,
                    View::Shards | View::Samples | View::Partitions | View::Tables
                ),
                "{:?}",
                b.action
            );
        }
    }
}

#[test]
fn end_scrolls_an_article_to_its_last_words_at_80_by_24() {
    let mut app = live_app();
    let words: Vec<String> = (0..400).map(|i| format!("word{i}")).collect();
    let mut long = sample(9, "A long read", "It starts here.");
    long.content = format!("{}\n\nThe very last sentence.", words.join(" "));
    app.live.samples.push(long);
    press(&mut app, KeyCode::Char('3'));
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.samples.open.as_ref().unwrap().article_id, "id-9");
    screen(&app, 80, 24);
    press(&mut app, KeyCode::End);
    let text = screen(&app, 80, 24);
    assert!(text.contains("The very last sentence."), "{text}");
    assert!(
        !text.contains("A long read"),
        "scrolled past the title:\n{text}"
    );
    press(&mut app, KeyCode::Home);
    assert!(screen(&app, 80, 24).contains("A long read"));
}

#[test]
fn word_wrapping_counts_lines_like_the_pane() {
    use crate::tui::views::samples::wrapped_lines;
    assert_eq!(wrapped_lines("", 10), 1);
    assert_eq!(wrapped_lines("aaaa bbbb", 10), 1);
    assert_eq!(wrapped_lines("aaaa bbbb cc", 10), 2);
    assert_eq!(wrapped_lines("a\n\nb", 10), 3);
    assert_eq!(wrapped_lines("abcdefghijklmnopqrstu", 10), 3);
}

#[test]
fn a_finished_reprocess_relists_the_bucket_and_says_what_it_did() {
    let mut app = live_app();
    previewing_summaries(&mut app);
    press(&mut app, KeyCode::Char('r'));
    press(&mut app, KeyCode::Char('y'));
    let predicate = "CAST(publish_date AS DATE) = '2026-03-01'".to_string();
    let report = crate::maintenance::reprocess::ReprocessReport {
        predicate: predicate.clone(),
        raw_files: 2,
        rows: 30,
        files_written: 3,
        files_replaced: 3,
        version: 8,
        summarizer: SUMMARIZER.into(),
        elapsed: Duration::from_secs(5),
    };
    assert_eq!(
        answer(&mut app, |j| &j.reprocess_end, (predicate, Ok(report))),
        Some(Effect::ListPartitions)
    );
    // The old preview is gone: it showed the rows before the rewrite.
    assert_eq!(app.partitions.browser.preview, PreviewPane::Empty);
    let text = screen(&app, 100, 30);
    assert!(
        text.contains(
            "last reprocess: CAST(publish_date AS DATE) = '2026-03-01' · 30 rows rewritten"
        ),
        "{text}"
    );
}

#[test]
fn a_failed_reprocess_is_shown_with_its_reason() {
    let mut app = live_app();
    previewing_summaries(&mut app);
    press(&mut app, KeyCode::Char('r'));
    press(&mut app, KeyCode::Char('y'));
    let predicate = "CAST(publish_date AS DATE) = '2026-03-01'".to_string();
    assert_eq!(
        answer(
            &mut app,
            |j| &j.reprocess_end,
            (predicate, Err("S3 said no".into()))
        ),
        None
    );
    // The reason stands where the preview was, once it is closed.
    press(&mut app, KeyCode::Esc);
    let text = screen(&app, 100, 30);
    assert!(
        text.contains(
            "reprocess where CAST(publish_date AS DATE) = '2026-03-01' failed: S3 said no"
        ),
        "{text}"
    );
}

fn table_summary(kind: crate::pipeline::sink::lake::TableKind, version: i64) -> TableSummary {
    let part = |rows: u64, files: usize| Part {
        rows,
        files,
        bytes: files as u64 * 300_000,
    };
    let commit = |version: i64, operation: &str, added: usize, removed: usize| CommitSummary {
        version,
        when: Utc
            .with_ymd_and_hms(2026, 12, 6, 12, 0, version as u32)
            .single(),
        operation: operation.into(),
        files_added: added,
        files_removed: removed,
        rows_added: 900,
        new_rows: if operation == "OPTIMIZE" { 0 } else { 900 },
        new_rows_by_split: BTreeMap::new(),
        chunk: (operation == "WRITE").then(|| ("precis/S/shardId-000000000001".into(), "1".into())),
        kind: if operation == "OPTIMIZE" {
            CommitKind::Compaction
        } else {
            CommitKind::Stream
        },
        worker: None,
        predicate: None,
        summarizer: None,
    };
    TableSummary {
        kind,
        name: kind.name().to_string(),
        path: kind.path(),
        version,
        total: part(1000, 40),
        splits: [
            ("test".to_string(), part(50, 12)),
            ("train".to_string(), part(900, 16)),
            ("validation".to_string(), part(50, 12)),
        ]
        .into_iter()
        .collect(),
        histogram: [38, 0, 0, 0, 2, 0],
        median_file_bytes: 300_000,
        commits: vec![
            commit(version, "OPTIMIZE", 2, 30),
            commit(version - 1, "WRITE", 3, 0),
        ],
    }
}

fn with_tables(app: &mut App) {
    use crate::pipeline::sink::lake::TableKind;
    assert_eq!(press(app, KeyCode::Char('6')), Some(Effect::LoadTables));
    answer(
        app,
        |j| &j.tables,
        Ok(vec![
            table_summary(TableKind::Articles, 9),
            table_summary(TableKind::Summaries, 12),
        ]),
    );
}

#[test]
fn the_tables_view_shows_versions_rows_file_sizes_and_last_commits() {
    let mut app = live_app();
    with_tables(&mut app);
    let text = screen(&app, 110, 32);
    for expected in [
        "articles",
        "summaries",
        "median file",
        "split=train",
        "files by size (MiB)",
        "last commits",
        "compaction",
        "stream",
        "shard 1",
        "+2 -30",
    ] {
        assert!(text.contains(expected), "{expected}:\n{text}");
    }
}

#[test]
fn c_compacts_the_selected_table_once_at_a_time() {
    use crate::pipeline::sink::lake::TableKind;
    let mut app = live_app();
    with_tables(&mut app);
    press(&mut app, KeyCode::Down);
    assert_eq!(
        press(&mut app, KeyCode::Char('c')),
        Some(Effect::Compact(TableKind::Summaries))
    );
    assert_eq!(press(&mut app, KeyCode::Char('c')), None);
    assert!(screen(&app, 110, 32).contains("compacting summaries"));
}

#[test]
fn angle_brackets_choose_an_older_version_and_v_previews_the_table_at_it() {
    let mut app = live_app();
    with_tables(&mut app);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Char('<'));
    press(&mut app, KeyCode::Char('<'));
    press(&mut app, KeyCode::Char('>'));
    assert!(screen(&app, 110, 32).contains("< > version 11  v preview it"));
    assert_eq!(
        press(&mut app, KeyCode::Char('v')),
        Some(Effect::Preview("lake/summaries@11".into()))
    );
    assert_eq!(app.view, View::Partitions, "the preview pane shows it");
}

#[test]
fn a_candidate_table_is_listed_and_previewed_but_not_compacted() {
    use crate::pipeline::sink::lake::TableKind;
    let mut app = live_app();
    assert_eq!(
        press(&mut app, KeyCode::Char('6')),
        Some(Effect::LoadTables)
    );
    let mut candidate = table_summary(TableKind::Summaries, 3);
    candidate.name = "minilm (candidate)".into();
    candidate.path = "lake/minilm".into();
    answer(
        &mut app,
        |j| &j.tables,
        Ok(vec![table_summary(TableKind::Summaries, 12), candidate]),
    );
    press(&mut app, KeyCode::Down);
    assert!(screen(&app, 110, 32).contains("minilm (candidate)"));
    assert_eq!(press(&mut app, KeyCode::Char('c')), None);
    assert!(screen(&app, 110, 32).contains("is a candidate table"));
    assert_eq!(
        press(&mut app, KeyCode::Char('v')),
        Some(Effect::Preview("lake/minilm@3".into()))
    );
}

#[test]
fn a_stopped_run_shows_why_and_what_to_do_in_every_view_until_q() {
    let mut app = live_app();
    let why = "reading shard shardId-000000000000: the stream MyStream does not exist \
               (ResourceNotFoundException); create it with `precis produce` or fix --stream";
    app.state = RunState::Failed(why.into());
    for view in ['1', '2', '3', '5'] {
        press(&mut app, KeyCode::Char(view));
        let text = screen(&app, 80, 24);
        assert!(text.contains("the pipeline stopped · q quits"), "{text}");
        assert!(text.contains("✗ failed"), "{text}");
        // Wrapped over the panel's lines, every word of the reason is on screen.
        let shown: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        for word in why.split_whitespace() {
            assert!(shown.contains(word), "{word} missing:\n{text}");
        }
    }
}

#[test]
fn a_running_pipeline_has_no_failure_panel() {
    let text = screen(&live_app(), 80, 24);
    assert!(!text.contains("the pipeline stopped"), "{text}");
}

#[test]
fn the_header_names_the_context_in_use_and_none_without_one() {
    let mut app = live_app();
    assert!(!screen(&app, 120, 30).contains("context"));
    app.info.context = Some("prod".into());
    let text = screen(&app, 120, 30);
    let header = text.lines().next().unwrap();
    assert!(header.contains("context prod"), "{header}");
    assert!(header.contains("● reading"), "{header}");
}

#[test]
fn enter_on_a_preview_opens_its_top_row_in_full_and_esc_goes_back_to_the_preview() {
    let mut app = live_app();
    press(&mut app, KeyCode::Char('4'));
    let data = preview_data();
    let id_column = data
        .table
        .columns
        .iter()
        .position(|c| c == "article_id")
        .unwrap();
    let id = data.table.rows[1][id_column].clone();
    app.partitions.browser.preview = PreviewPane::Ready(Box::new(data));
    press(&mut app, KeyCode::Char('J'));
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.partitions.record, Some(1));
    let text = screen(&app, 100, 40);
    assert!(text.contains("row 2 of"), "{text}");
    assert!(text.contains(&id), "{id}:\n{text}");
    for column in ["summary", "article_id", "content"] {
        assert!(text.contains(column), "{column}:\n{text}");
    }
    // The lineage is further down.
    assert!(!text.contains("shard_id"), "{text}");
    for _ in 0..3 {
        press(&mut app, KeyCode::PageDown);
    }
    let text = screen(&app, 100, 40);
    assert!(text.contains("shard_id"), "{text}");
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.partitions.record, None);
    assert!(matches!(
        app.partitions.browser.preview,
        PreviewPane::Ready(_)
    ));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.partitions.browser.preview, PreviewPane::Empty);
}

fn inspected(sequence: &str, payload: &[u8]) -> crate::pipeline::source::inspect::Inspected {
    use crate::pipeline::source::inspect::{Payload, Quarantine};
    let quarantine = crate::pipeline::record::parse_article(payload, &Limits::default())
        .err()
        .map(|r| Quarantine {
            reason_code: r.code(),
            reason: r.to_string(),
        });
    crate::pipeline::source::inspect::Inspected {
        shard_id: "shardId-000000000001".into(),
        sequence_number: sequence.into(),
        arrival_time: Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
        partition_key: format!("key-{sequence}"),
        data: Payload::of(payload),
        quarantine,
    }
}

#[test]
fn enter_on_a_shard_inspects_its_records_without_the_pipeline_and_enter_opens_one() {
    let mut app = live_app();
    press(&mut app, KeyCode::Char('2'));
    press(&mut app, KeyCode::Down);
    let shard = app.shards.visible(&app.ctx())[1].clone();
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        Some(Effect::Inspect(shard.clone()))
    );
    assert!(screen(&app, 100, 24).contains("reading the shard"));

    let article = br#"{"article_id":"a1","title":"Markets rally","content":"Stocks rose today."}"#;
    answer(
        &mut app,
        |j| &j.inspected,
        (
            shard.clone(),
            Ok(vec![
                inspected("101", article),
                inspected("102", &[0xff, 0xfe]),
            ]),
        ),
    );
    let text = screen(&app, 100, 24);
    assert!(text.contains(&format!("records of {shard}")), "{text}");
    assert!(
        text.contains("Markets rally") && text.contains("article"),
        "{text}"
    );
    assert!(
        text.contains("not_utf8") && text.contains("(bytes) //4="),
        "{text}"
    );

    type_text(&mut app, "/rally");
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        app.shards
            .inspector
            .as_ref()
            .unwrap()
            .visible(&app.ctx())
            .len(),
        1
    );
    press(&mut app, KeyCode::Enter);
    let text = screen(&app, 100, 24);
    assert!(text.contains("key-101"), "{text}");
    assert!(
        text.contains("\"title\": \"Markets rally\""),
        "pretty JSON:\n{text}"
    );
    assert!(text.contains("takes it as an article"), "{text}");

    press(&mut app, KeyCode::Esc);
    assert!(app.shards.inspector.as_ref().unwrap().open.is_none());
    assert_eq!(
        press(&mut app, KeyCode::Char('u')),
        Some(Effect::Inspect(shard.clone()))
    );
    press(&mut app, KeyCode::Esc);
    assert!(app.shards.inspector.is_none());
    assert!(screen(&app, 100, 24).contains("shards of"));
}

#[test]
fn records_of_a_shard_closed_meanwhile_are_dropped() {
    let mut app = live_app();
    press(&mut app, KeyCode::Char('2'));
    let shard = app.shards.visible(&app.ctx())[0].clone();
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Esc);
    answer(
        &mut app,
        |j| &j.inspected,
        (shard.clone(), Ok(vec![inspected("1", b"{}")])),
    );
    assert!(app.shards.inspector.is_none());
}

fn history_commit(version: i64, kind: CommitKind) -> CommitSummary {
    CommitSummary {
        version,
        when: Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).single(),
        operation: String::new(),
        files_added: 1,
        files_removed: usize::from(kind != CommitKind::Stream),
        rows_added: 10,
        new_rows: 10,
        new_rows_by_split: BTreeMap::new(),
        chunk: (kind == CommitKind::Stream)
            .then(|| ("precis/S/shardId-000000000000".into(), "1".into())),
        summarizer: kind.is_rewrite().then(|| SUMMARIZER.to_string()),
        predicate: None,
        worker: None,
        kind,
    }
}

fn summary_row(
    id: &str,
    summary: Option<&str>,
    by: &str,
) -> crate::maintenance::history::SummaryRow {
    crate::maintenance::history::SummaryRow {
        article_id: id.into(),
        title: Some(format!("Title {id}")),
        summary: summary.map(str::to_string),
        words: summary.map(|s| s.split_whitespace().count() as i32),
        compression: summary.map(|_| 0.2),
        summarizer: by.into(),
    }
}

#[test]
fn enter_on_a_table_lists_its_whole_history_and_enter_on_a_reprocess_compares_its_rows() {
    let mut app = live_app();
    with_tables(&mut app);
    press(&mut app, KeyCode::Down);
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        Some(Effect::History("lake/summaries".into()))
    );
    answer(
        &mut app,
        |j| &j.history,
        (
            "lake/summaries".into(),
            Ok(vec![
                history_commit(0, CommitKind::Create),
                history_commit(1, CommitKind::Stream),
                history_commit(2, CommitKind::Compaction),
                history_commit(3, CommitKind::Reprocess),
            ]),
        ),
    );
    let text = screen(&app, 110, 30);
    assert!(
        text.contains("history of lake/summaries (4 versions)"),
        "{text}"
    );
    for operation in ["create", "stream", "compaction", "reprocess", "shard 0"] {
        assert!(text.contains(operation), "{operation}:\n{text}");
    }

    // Newest first: the reprocess is selected.
    let compare = Some(Effect::Compare {
        path: "lake/summaries".into(),
        version: Some(3),
    });
    assert_eq!(press(&mut app, KeyCode::Enter), compare);
    assert!(screen(&app, 110, 30).contains("reading both sides"));
    let old = [
        summary_row("a", None, "none"),
        summary_row("b", Some("Same."), SUMMARIZER),
    ];
    let new = [
        summary_row("a", Some("Ships came back to the harbour."), SUMMARIZER),
        summary_row("b", Some("Same."), SUMMARIZER),
    ];
    let comparison = crate::maintenance::history::compare(&old, &new);
    answer(
        &mut app,
        |j| &j.compared,
        ("lake/summaries".into(), Some(3), Ok(comparison)),
    );
    let text = screen(&app, 110, 30);
    assert!(
        text.contains("2 rows on both sides, 1 changed (50.0%)"),
        "{text}"
    );
    assert!(text.contains("Ships came back to the harbour."), "{text}");
    assert!(text.contains("old (none)"), "{text}");

    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Down);
    assert_eq!(press(&mut app, KeyCode::Enter), None);
    assert!(screen(&app, 110, 30).contains("version 2 is a compaction"));
    press(&mut app, KeyCode::Esc);
    assert!(app.tables.history.is_none());
    assert!(screen(&app, 110, 30).contains("last commits"));
}

#[test]
fn any_version_of_a_candidate_table_compares_it_with_the_summaries_table() {
    let mut app = live_app();
    press(&mut app, KeyCode::Char('6'));
    let mut candidate = table_summary(crate::pipeline::sink::lake::TableKind::Summaries, 2);
    candidate.path = "lake/minilm".into();
    candidate.name = "minilm (candidate)".into();
    answer(&mut app, |j| &j.tables, Ok(vec![candidate]));
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        Some(Effect::History("lake/minilm".into()))
    );
    answer(
        &mut app,
        |j| &j.history,
        (
            "lake/minilm".into(),
            Ok(vec![history_commit(1, CommitKind::Backfill)]),
        ),
    );
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        Some(Effect::Compare {
            path: "lake/minilm".into(),
            version: None
        })
    );
}

/// The export prompt open on the summaries table at version 11 (one before its latest).
fn exporting_summaries_v11(app: &mut App) -> Option<Effect> {
    with_tables(app);
    press(app, KeyCode::Down);
    press(app, KeyCode::Char('<'));
    press(app, KeyCode::Char('x'))
}

fn export_summaries_v11(app: &mut App) -> Option<Effect> {
    exporting_summaries_v11(app);
    press(app, KeyCode::Enter)
}

fn summaries_v11_to(to: &str) -> Option<Effect> {
    Some(Effect::Export(crate::tui::effect::Export {
        path: "lake/summaries".into(),
        version: 11,
        to: to.into(),
    }))
}

#[test]
fn x_asks_where_the_chosen_version_goes_and_enter_starts_the_export() {
    let mut app = live_app();
    assert_eq!(exporting_summaries_v11(&mut app), None);
    let text = screen(&app, 110, 32);
    assert!(
        text.contains("rows of lake/summaries at version 11 to:"),
        "{text}"
    );
    assert!(text.contains("/home/op/summaries-v11.jsonl"), "{text}");
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        summaries_v11_to("/home/op/summaries-v11.jsonl")
    );
    assert!(app.tables.export_prompt.is_none());
    assert!(screen(&app, 110, 32).contains("exporting summaries…"));
}

#[test]
fn the_export_prompt_takes_every_key_as_text_and_refuses_an_unknown_extension() {
    let mut app = live_app();
    exporting_summaries_v11(&mut app);
    for _ in "jsonl".chars() {
        press(&mut app, KeyCode::Backspace);
    }
    for c in "qtxt".chars() {
        assert_eq!(press(&mut app, KeyCode::Char(c)), None, "{c} is text here");
    }
    assert!(!app.quitting);
    assert_eq!(press(&mut app, KeyCode::Enter), None);
    let text = screen(&app, 110, 32);
    assert!(
        text.contains("the extension says the format: .jsonl (JSON Lines), .parquet or .csv"),
        "{text}"
    );
    for _ in "qtxt".chars() {
        press(&mut app, KeyCode::Backspace);
    }
    for c in "parquet".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        summaries_v11_to("/home/op/summaries-v11.parquet")
    );
}

#[test]
fn a_relative_export_path_is_taken_from_where_the_console_runs() {
    let mut app = live_app();
    exporting_summaries_v11(&mut app);
    let ctrl = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
    assert_eq!(app.on_key(ctrl('u')), None);
    assert_eq!(
        app.tables.export_prompt.as_ref().unwrap().to,
        "",
        "Ctrl-U clears"
    );
    app.on_key(ctrl('x'));
    for c in "out/rows.csv".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        summaries_v11_to("/home/op/out/rows.csv")
    );
}

#[test]
fn esc_cancels_the_export_prompt() {
    let mut app = live_app();
    with_tables(&mut app);
    press(&mut app, KeyCode::Char('x'));
    assert!(app.tables.export_prompt.is_some());
    assert_eq!(press(&mut app, KeyCode::Esc), None);
    assert!(app.tables.export_prompt.is_none() && app.tables.exporting.is_none());
    assert!(screen(&app, 110, 32).contains("export cancelled"));
}

#[test]
fn an_export_shows_its_progress_and_then_what_it_wrote() {
    let mut app = live_app();
    export_summaries_v11(&mut app);
    answer(&mut app, |j| &j.export_progress, (3, 10));
    assert!(screen(&app, 110, 32).contains("exporting summaries 3/10 files…"));
    let report = crate::maintenance::export::ExportReport {
        version: 11,
        rows: 42,
        files_read: 10,
        multi_line: Vec::new(),
    };
    answer(&mut app, |j| &j.export_end, Ok(report));
    let text = screen(&app, 110, 32);
    assert!(
        text.contains(
            "exported 42 rows of lake/summaries at version 11 to /home/op/summaries-v11.jsonl"
        ),
        "{text}"
    );
    assert!(!text.contains("exporting"), "{text}");
}

#[test]
fn a_second_export_waits_for_the_first() {
    let mut app = live_app();
    export_summaries_v11(&mut app);
    assert_eq!(press(&mut app, KeyCode::Char('x')), None);
    assert!(app.tables.export_prompt.is_none());
    assert!(screen(&app, 110, 32)
        .contains("exporting to /home/op/summaries-v11.jsonl already; wait for it to finish"));
}

#[test]
fn a_failed_export_says_why() {
    let mut app = live_app();
    export_summaries_v11(&mut app);
    answer(
        &mut app,
        |j| &j.export_end,
        Err("creating /home/op/summaries-v11.jsonl.partial: Permission denied".into()),
    );
    let text = screen(&app, 120, 32);
    assert!(
        text.contains("export of lake/summaries failed: creating /home/op/summaries-v11.jsonl.partial: Permission denied"),
        "{text}"
    );
}

fn with_contexts(app: &mut App) {
    use crate::tui::views::contexts::{Choice, ContextsView, Target};
    let target = |stream: &str, bucket: &str, endpoint: &str| {
        Ok(Target {
            stream: stream.into(),
            bucket: bucket.into(),
            endpoint: endpoint.into(),
        })
    };
    app.info.context = Some("local".into());
    app.contexts = ContextsView::new(vec![
        Choice {
            name: "broken".into(),
            target: Err("aws.region: \"\" is not a region".into()),
        },
        Choice {
            name: "local".into(),
            target: target("MyStream", "my-bucket", "http://127.0.0.1:5000"),
        },
        Choice {
            name: "prod".into(),
            target: target("Articles", "news-lake", "eu-west-1"),
        },
    ]);
}

#[test]
fn capital_c_without_contexts_in_the_config_file_says_where_they_are_declared() {
    let mut app = live_app();
    assert_eq!(press(&mut app, KeyCode::Char('C')), None);
    assert!(!app.contexts.open);
    assert!(screen(&app, 110, 24).contains("the config file has no [contexts.NAME]"));
}

#[test]
fn capital_c_lists_each_context_with_where_it_points_on_the_one_in_use() {
    let mut app = live_app();
    with_contexts(&mut app);
    press(&mut app, KeyCode::Char('C'));
    assert_eq!(app.contexts.cursor.at, 1, "the one in use is selected");
    let text = screen(&app, 110, 24);
    assert!(
        text.contains("● local        MyStream → s3://my-bucket (http://127.0.0.1:5000)"),
        "{text}"
    );
    assert!(
        text.contains("prod         Articles → s3://news-lake (eu-west-1)"),
        "{text}"
    );
    assert!(text.contains("broken       aws.region"), "{text}");
    assert!(
        text.contains("context local"),
        "the header names it: {text}"
    );
}

#[test]
fn switching_context_asks_first_and_y_stops_here_to_start_there() {
    let mut app = live_app();
    with_contexts(&mut app);
    press(&mut app, KeyCode::Char('C'));
    press(&mut app, KeyCode::Down);
    assert_eq!(press(&mut app, KeyCode::Enter), None);
    let text = screen(&app, 110, 24);
    assert!(text.contains("Switch to context prod?"), "{text}");
    assert!(text.contains("The pipeline here stops as with q"), "{text}");
    assert_eq!(
        press(&mut app, KeyCode::Char('y')),
        Some(Effect::SwitchContext("prod".into()))
    );
    assert!(!app.contexts.open);
}

#[test]
fn n_takes_the_switch_back_and_esc_closes_the_picker() {
    let mut app = live_app();
    with_contexts(&mut app);
    press(&mut app, KeyCode::Char('C'));
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Enter);
    assert_eq!(press(&mut app, KeyCode::Char('n')), None);
    assert!(app.contexts.open && app.contexts.confirm.is_none());
    assert_eq!(
        press(&mut app, KeyCode::Char('q')),
        None,
        "q closes the picker"
    );
    assert!(!app.contexts.open && !app.quitting);
}

#[test]
fn the_context_in_use_and_one_that_does_not_load_are_not_switched_to() {
    let mut app = live_app();
    with_contexts(&mut app);
    press(&mut app, KeyCode::Char('C'));
    assert_eq!(press(&mut app, KeyCode::Enter), None);
    assert!(screen(&app, 110, 24).contains("context local is the one in use"));
    press(&mut app, KeyCode::Up);
    assert_eq!(press(&mut app, KeyCode::Enter), None);
    assert!(app.contexts.confirm.is_none());
    assert!(screen(&app, 110, 24).contains("context broken: aws.region"));
}

#[test]
fn a_quit_while_the_switch_is_asked_closes_the_question_and_y_switches_nothing() {
    let mut app = live_app();
    with_contexts(&mut app);
    press(&mut app, KeyCode::Char('C'));
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Enter);
    assert!(app.contexts.confirm.is_some());
    // A signal arrives as a quit.
    assert_eq!(
        app.apply(crate::tui::keymap::Action::Quit),
        Some(Effect::Quit)
    );
    assert_eq!(press(&mut app, KeyCode::Char('y')), None);
    assert!(!app.contexts.open && app.contexts.confirm.is_none());
}

#[test]
fn capital_c_waits_for_a_running_export() {
    let mut app = live_app();
    with_contexts(&mut app);
    export_summaries_v11(&mut app);
    assert_eq!(press(&mut app, KeyCode::Char('C')), None);
    assert!(!app.contexts.open);
    assert!(screen(&app, 110, 32)
        .contains("an export or a compaction runs here: switch once it has finished"));
}

#[test]
fn once_quitting_no_export_or_compaction_starts() {
    let mut app = live_app();
    exporting_summaries_v11(&mut app);
    app.apply(crate::tui::keymap::Action::Quit);
    assert_eq!(press(&mut app, KeyCode::Enter), None);
    assert!(app.tables.exporting.is_none() && app.tables.export_prompt.is_none());
    assert_eq!(press(&mut app, KeyCode::Char('x')), None);
    assert_eq!(press(&mut app, KeyCode::Char('c')), None);
    assert!(app.tables.pane.compacting.is_none());
    assert!(screen(&app, 110, 32).contains("stopping: no compaction starts now"));
}
