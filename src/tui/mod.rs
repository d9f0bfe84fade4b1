//! `precis tui`: the pipeline engine in the background and a console in front of it.
//!
//! One loop selects over key presses (read on their own thread), results of background work
//! (listings, previews, reprocessing) and a frame tick. Counters are pulled from the engine on the
//! tick, so the pipeline never waits on the screen, and the screen is drawn at most
//! [`FRAME_HZ`] times a second, never from the data path.

pub mod app;
pub mod effect;
pub mod keymap;
pub mod list;
pub mod live;
pub mod screen;
pub mod theme;
pub mod view;
pub mod views;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use ratatui::crossterm::event::{self, Event, KeyEventKind};
use ratatui::DefaultTerminal;
use tokio::sync::mpsc;
use tracing::{error, warn};

use self::app::{App, Effect};
use self::live::{EngineInfo, RunState};
use self::theme::Theme;
use self::views::partitions::{PreviewData, ReprocessState};
use crate::browser::preview;
use crate::browser::{snapshot_listing, Tree};
use crate::cli::RunArgs;
use crate::config::Settings;
use crate::config::StartPosition;
use crate::engine::Engine;
use crate::maintenance::compact::{compact, CompactReport};
use crate::maintenance::history::{candidate_comparison, history, rewrite_comparison, Comparison};
use crate::maintenance::inventory::{summarize_all, CommitSummary, TableSummary};
use crate::maintenance::reprocess::{reprocess, ReprocessProgress, ReprocessReport, Selection};
use crate::pipeline::sink::lake::TableKind;
use crate::pipeline::source::inspect::{inspect, Inspected, Position, Request};
use crate::summarize::pool::Cancel;

/// Frames per second at most; also how often key presses are acted on.
pub const FRAME_HZ: u32 = 10;
/// How often counters are pulled from the engine.
pub const REFRESH_HZ: u32 = 4;
/// Rows of a preview kept for scrolling.
pub const PREVIEW_ROWS: usize = 500;
/// After `q`, the longest the readers get to end (a commit under way finishes; nothing more is
/// committed).
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(30);

pub fn period(hz: u32) -> Duration {
    Duration::from_secs(1) / hz.max(1)
}

/// Results of work the loop started.
#[derive(Debug)]
pub enum UiEvent {
    Listing(Result<Tree, String>),
    Preview(String, Result<PreviewData, String>),
    ReprocessProgress(ReprocessProgress),
    ReprocessEnd(String, Result<ReprocessReport, String>),
    Tables(Result<Vec<TableSummary>, String>),
    CompactEnd(TableKind, Result<CompactReport, String>),
    /// A shard's records, for the inspector.
    Inspected(String, Result<Vec<Inspected>, String>),
    /// A table's whole history (its path), oldest first.
    History(String, Result<Vec<CommitSummary>, String>),
    /// A comparison of two summarizers (the table's path, the version or None for a candidate).
    Compared(String, Option<i64>, Result<Comparison, String>),
    /// A stop signal (its name).
    Signal(&'static str),
}

/// True when stdin and stdout are a terminal the console can draw on.
pub fn has_terminal() -> bool {
    std::io::stdout().is_terminal() && std::io::stdin().is_terminal()
}

/// The built-in themes, plus the one `spec` names when it is a file; and which one to use.
pub fn themes_for(spec: &str) -> Result<(Vec<Theme>, usize)> {
    let mut themes = Theme::built_in();
    let chosen = Theme::load(spec)?;
    let index = match themes.iter().position(|t| *t == chosen) {
        Some(i) => i,
        None => {
            themes.push(chosen);
            themes.len() - 1
        }
    };
    Ok((themes, index))
}

pub async fn run(settings: &Settings, args: &RunArgs, log_file: &str) -> Result<ExitCode> {
    if !has_terminal() {
        bail!("the console needs a terminal on stdin and stdout; use `precis run --no-ui` for headless runs");
    }
    let (themes, theme) = themes_for(&settings.ui.theme)?;
    eprintln!(
        "précis: loading the summarizer and connecting to {} (log: {log_file})…",
        settings
            .aws
            .endpoint(crate::config::Service::Kinesis)
            .unwrap_or(&settings.aws.region)
    );
    let engine = Engine::start(settings, args.once).await?;
    let info = EngineInfo {
        context: settings.context().map(str::to_string),
        stream: engine.stream.clone(),
        bucket: engine.bucket.clone(),
        summarizer: engine.summarizer_id().to_string(),
        workers: engine.summarizer.as_ref().map_or(0, |p| p.workers()),
        log_file: log_file.to_string(),
    };
    let mut app = App::new(info, themes, theme);
    let mut work = Background::default();
    let looped = match ratatui::try_init() {
        Ok(mut terminal) => {
            // After try_init, which installs a hook that restores the terminal on any panic.
            install_panic_hook();
            let looped = event_loop(&mut terminal, &mut app, &engine, &mut work).await;
            ratatui::restore();
            looped
        }
        Err(err) => {
            ratatui::restore();
            Err(anyhow::Error::new(err).context("setting up the terminal"))
        }
    };
    // Whatever ended the loop, the readers stop (what they read but did not commit is read
    // again on the next start) and a reprocess stops before its commit, within one deadline.
    engine.request_stop();
    work.reprocess_cancel.cancel();
    let deadline = work
        .deadline
        .unwrap_or_else(|| Instant::now() + SHUTDOWN_LIMIT);
    if let Some((predicate, task)) = work.reprocess.take() {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, task).await {
            Ok(Ok(Err(why))) => eprintln!("warning: {why}"),
            Ok(_) => {}
            Err(_) => eprintln!(
                "warning: reprocess where {predicate} stopped before its commit; the summaries table is unchanged"
            ),
        }
    }
    // A reprocess that ended badly while the console ran: say so where it stays readable.
    if let Some(ReprocessState::Failed { error, .. }) = &app.partitions.reprocess {
        eprintln!("warning: {error}");
    }
    let stats = engine.stats.clone();
    let pool = engine.pool_metrics();
    let (bucket, started) = (engine.bucket.clone(), engine.started);
    let outcome = engine
        .run_to_end(deadline.saturating_duration_since(Instant::now()))
        .await;
    looped?;
    Ok(crate::commands::run::report(
        outcome?,
        &stats,
        pool.as_deref(),
        started.elapsed(),
        &bucket,
    ))
}

/// Work the loop started that outlives a key press.
#[derive(Default)]
struct Background {
    /// The running reprocess, its day, and how to stop it.
    reprocess: Option<(
        String,
        tokio::task::JoinHandle<Result<ReprocessReport, String>>,
    )>,
    reprocess_cancel: Cancel,
    /// After `q`: when the readers' flush stops being waited for.
    deadline: Option<Instant>,
}

/// A panic on the console's own thread goes to the hook before this one (ratatui's: restore the
/// terminal, then report); one in a background task is logged, and that task's result turns into an error on screen, so the
/// console keeps its terminal.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some("main") {
            previous(info);
        } else {
            error!("a background task panicked: {info}");
        }
    }));
}

/// A result of background work, or a signal, handed to the view it is for.
fn on_event(app: &mut App, work: &mut Background, event: UiEvent) -> Option<Effect> {
    match event {
        UiEvent::Listing(listing) => app.on_listing(listing),
        UiEvent::Preview(target, preview) => app.partitions.on_preview(target, preview),
        UiEvent::ReprocessProgress(p) => app.partitions.on_reprocess_progress(p),
        UiEvent::Tables(tables) => app.tables.on_tables(tables),
        UiEvent::Inspected(shard, records) => app.shards.on_inspected(&shard, records),
        UiEvent::History(path, commits) => app.tables.on_history(&path, commits),
        UiEvent::Compared(path, version, result) => app.tables.on_compared(&path, version, result),
        UiEvent::CompactEnd(kind, result) => return app.on_compact_end(kind, result),
        UiEvent::ReprocessEnd(predicate, result) => {
            work.reprocess = None;
            return app.on_reprocess_end(predicate, result);
        }
        UiEvent::Signal(name) => {
            warn!("{name} received: stopping");
            return app.apply(keymap::Action::Quit);
        }
    }
    None
}

async fn event_loop(
    terminal: &mut DefaultTerminal,
    app: &mut App,
    engine: &Engine,
    work: &mut Background,
) -> Result<()> {
    let (key_tx, mut keys) = mpsc::channel::<Event>(64);
    std::thread::Builder::new()
        .name("precis-keys".into())
        .spawn(move || read_keys(key_tx))
        .context("starting the key reader")?;
    let (ui_tx, mut ui_events) = mpsc::channel::<UiEvent>(64);
    tokio::spawn(forward_signals(ui_tx.clone()));
    let mut frame = tokio::time::interval(period(FRAME_HZ));
    frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let refresh_every = period(REFRESH_HZ);
    let mut last_refresh = Instant::now() - refresh_every;
    let mut dirty = true;
    let pool = engine.pool_metrics();
    loop {
        let effect = tokio::select! {
            key = keys.recv() => {
                dirty = true;
                match key {
                    Some(Event::Key(k)) if k.kind != KeyEventKind::Release => app.on_key(k),
                    Some(_) => None,
                    None => bail!("the terminal stopped sending key presses"),
                }
            }
            Some(event) = ui_events.recv() => {
                dirty = true;
                on_event(app, work, event)
            }
            _ = frame.tick() => {
                let now = Instant::now();
                if now.duration_since(last_refresh) >= refresh_every {
                    last_refresh = now;
                    // Samples carry article text: copied only while they are on screen.
                    let samples = if app.view == app::View::Samples {
                        engine.stats.samples()
                    } else {
                        std::mem::take(&mut app.live.samples)
                    };
                    app.observe(
                        engine.stats.snapshot(),
                        pool.as_ref().map(|p| p.snapshot()),
                        samples,
                        crate::telemetry::recent(),
                        engine.started.elapsed(),
                        now,
                    );
                    if engine.is_finished() {
                        if app.quitting && work.reprocess.is_none() {
                            return Ok(());
                        }
                        if matches!(app.state, RunState::Reading | RunState::Paused) {
                            app.state = match engine.failure() {
                                Some(why) => {
                                    // Into the log (file and Logs view), where it stays.
                                    error!("the pipeline stopped: {why}");
                                    app.set_status(format!("the pipeline failed: {why} (q quits)"));
                                    RunState::Failed(why)
                                }
                                None => RunState::Drained,
                            };
                        }
                    }
                    if work.deadline.is_some_and(|d| now >= d) {
                        return Ok(());
                    }
                    dirty = true;
                }
                if dirty {
                    terminal.draw(|f| screen::draw(f, app)).context("drawing the console")?;
                    dirty = false;
                }
                None
            }
        };
        if let Some(effect) = effect {
            if start(effect, app, engine, &ui_tx, work) {
                return Ok(());
            }
        }
    }
}

/// SIGTERM, SIGHUP and SIGINT from elsewhere quit like `q` (in raw mode, Ctrl-C arrives as a
/// key); a second one stops waiting for the flush.
async fn forward_signals(ui: mpsc::Sender<UiEvent>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut hangup), Ok(mut interrupt)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
        signal(SignalKind::interrupt()),
    ) else {
        warn!("cannot listen for SIGTERM/SIGHUP/SIGINT: only q and Ctrl-C stop the console");
        return;
    };
    loop {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = hangup.recv() => "SIGHUP",
            _ = interrupt.recv() => "SIGINT",
        };
        if ui.send(UiEvent::Signal(name)).await.is_err() {
            return;
        }
    }
}

/// Runs `work` as its own task, so that a panic in it becomes an error result instead of a
/// silent loss.
fn spawn_reporting<T, F>(what: &'static str, work: F) -> tokio::task::JoinHandle<Result<T, String>>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T, String>> + Send + 'static,
{
    tokio::spawn(async move { reported(what, tokio::spawn(work).await) })
}

/// A task's result; its panic as an error.
fn reported<T>(
    what: &str,
    joined: Result<Result<T, String>, tokio::task::JoinError>,
) -> Result<T, String> {
    joined.unwrap_or_else(|join| Err(format!("{what} failed unexpectedly ({join}); see the log")))
}

/// Runs `work` as its own task and sends its result to the loop as the event `event` makes.
fn spawn_to_ui<T, F>(
    ui: &mpsc::Sender<UiEvent>,
    what: &'static str,
    work: F,
    event: impl FnOnce(Result<T, String>) -> UiEvent + Send + 'static,
) where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T, String>> + Send + 'static,
{
    let ui = ui.clone();
    tokio::spawn(async move {
        let result = reported(what, tokio::spawn(work).await);
        let _ = ui.send(event(result)).await;
    });
}

/// Starts what an effect asks for. True when the loop should end now.
fn start(
    effect: Effect,
    app: &mut App,
    engine: &Engine,
    ui: &mpsc::Sender<UiEvent>,
    work: &mut Background,
) -> bool {
    match effect {
        Effect::Quit => return quit(app, engine, work),
        Effect::SetPaused(paused) => engine.set_paused(paused),
        Effect::ListPartitions => list_partitions(engine, ui),
        Effect::Preview(target) => load_preview(engine, ui, target),
        Effect::LoadTables => load_tables(engine, ui),
        Effect::Compact(kind) => compact_table(engine, ui, kind),
        Effect::Inspect(shard) => inspect_shard(engine, ui, shard),
        Effect::History(path) => read_history(engine, ui, path),
        Effect::Compare { path, version } => compare_summarizers(engine, ui, path, version),
        Effect::Reprocess(_) if work.deadline.is_some() => {
            app.partitions.reprocess = None;
            app.set_status("stopping: no reprocess starts now");
        }
        Effect::Reprocess(selection) => start_reprocess(app, engine, ui, work, selection),
    }
    false
}

/// `q`: the first stops the pipeline and waits (bounded); a second, or a finished run, ends now.
fn quit(app: &mut App, engine: &Engine, work: &mut Background) -> bool {
    if engine.is_finished() && work.reprocess.is_none() {
        return true;
    }
    if work.deadline.is_some() {
        // A second q: stop waiting; what is not committed is read again next time.
        work.deadline = Some(Instant::now());
        return true;
    }
    work.deadline = Some(Instant::now() + SHUTDOWN_LIMIT);
    work.reprocess_cancel.cancel();
    app.state = RunState::Stopping;
    app.set_status(
        "stopping: nothing more is committed; what was read is read again on the next start",
    );
    engine.request_stop();
    false
}

/// Lists the tables' partitions in the background.
fn list_partitions(engine: &Engine, ui: &mpsc::Sender<UiEvent>) {
    let lake = engine.lake.clone();
    let listing = async move { snapshot_listing(&lake).await.map_err(|e| format!("{e:#}")) };
    spawn_to_ui(ui, "listing the tables", listing, UiEvent::Listing);
}

/// Loads a preview in the background.
fn load_preview(engine: &Engine, ui: &mpsc::Sender<UiEvent>, target: String) {
    let (clients, lake) = (engine.clients.clone(), engine.lake.clone());
    let wanted = target.clone();
    let loaded = async move {
        preview::load(&clients, &lake, &wanted)
            .await
            .map(|p| PreviewData {
                target: p.target.clone(),
                table: p.table(PREVIEW_ROWS),
                stats: p.stats.clone(),
                files_read: p.files_read,
                files_total: p.files_total,
            })
            .map_err(|e| format!("{e:#}"))
    };
    spawn_to_ui(ui, "the preview", loaded, |loaded| {
        UiEvent::Preview(target, loaded)
    });
}

/// Reads the tables' summaries (and candidate tables') in the background.
fn load_tables(engine: &Engine, ui: &mpsc::Sender<UiEvent>) {
    let lake = engine.lake.clone();
    let loaded = async move {
        summarize_all(&lake, TABLE_COMMITS)
            .await
            .map_err(|err| format!("{err:#}"))
    };
    spawn_to_ui(ui, "reading the tables", loaded, UiEvent::Tables);
}

/// Reads a shard's records for the inspector, in the background.
fn inspect_shard(engine: &Engine, ui: &mpsc::Sender<UiEvent>, shard: String) {
    let (clients, stream, limits) = (engine.clients.clone(), engine.stream.clone(), engine.limits);
    let request = Request {
        shard: Some(shard.clone()),
        from: Position::Start(StartPosition::TrimHorizon),
        limit: views::inspect::RECORDS,
        filter: String::new(),
    };
    let read = async move {
        inspect(&clients, &stream, &request, &limits)
            .await
            .map_err(|e| format!("{e:#}"))
    };
    spawn_to_ui(ui, "reading the shard", read, move |records| {
        UiEvent::Inspected(shard, records)
    });
}

/// Reads a table's whole history in the background.
fn read_history(engine: &Engine, ui: &mpsc::Sender<UiEvent>, path: String) {
    let lake = engine.lake.clone();
    let wanted = path.clone();
    let read = async move {
        let table = lake.open_existing(&wanted, None).await?;
        history(&table).await
    };
    let read = async move { read.await.map_err(|e: anyhow::Error| format!("{e:#}")) };
    spawn_to_ui(ui, "reading the history", read, move |commits| {
        UiEvent::History(path, commits)
    });
}

/// Compares two summarizers in the background: a rewrite's version, or a candidate table.
fn compare_summarizers(
    engine: &Engine,
    ui: &mpsc::Sender<UiEvent>,
    path: String,
    version: Option<i64>,
) {
    let lake = engine.lake.clone();
    let wanted = path.clone();
    let compared = async move {
        let table = lake.open_existing(&wanted, None).await?;
        match version {
            Some(version) => rewrite_comparison(&table, version).await,
            None => {
                let summaries = lake
                    .open_existing(&TableKind::Summaries.path(), None)
                    .await?;
                candidate_comparison(&summaries, &table).await
            }
        }
    };
    let compared = async move { compared.await.map_err(|e: anyhow::Error| format!("{e:#}")) };
    spawn_to_ui(ui, "the comparison", compared, move |result| {
        UiEvent::Compared(path, version, result)
    });
}

/// Compacts a table in the background.
fn compact_table(engine: &Engine, ui: &mpsc::Sender<UiEvent>, kind: TableKind) {
    // Not waited for at exit: a compaction dropped before its commit changes nothing.
    let lake = engine.lake.clone();
    let target = lake.layout.target_file_bytes;
    let done = async move {
        compact(&lake, kind, target, &|_| {})
            .await
            .map_err(|e| format!("{e:#}"))
    };
    spawn_to_ui(ui, "the compaction", done, move |result| {
        UiEvent::CompactEnd(kind, result)
    });
}

/// Starts a reprocess, cancellable, whose end the loop waits for at exit.
fn start_reprocess(
    app: &mut App,
    engine: &Engine,
    ui: &mpsc::Sender<UiEvent>,
    work: &mut Background,
    selection: Selection,
) {
    let predicate = selection.predicate(&app.info.summarizer);
    let (lake, ui) = (engine.lake.clone(), ui.clone());
    let summarizer = engine.summarizer.clone();
    work.reprocess_cancel = Cancel::default();
    let cancel = work.reprocess_cancel.clone();
    let progress_ui = ui.clone();
    let result = spawn_reporting("the reprocess", async move {
        let progress = move |p: ReprocessProgress| {
            // Progress is advisory: a full channel drops an update, never blocks the work.
            let _ = progress_ui.try_send(UiEvent::ReprocessProgress(p));
        };
        let result = reprocess(&lake, &selection, summarizer, &progress, &cancel)
            .await
            .map_err(|e| format!("{e:#}"));
        match &result {
            Ok(report) => tracing::info!(
                "reprocessed {} rows where {}: {} articles files read, summarizer {}, {:.1} s",
                report.rows,
                report.predicate,
                report.raw_files,
                report.summarizer,
                report.elapsed.as_secs_f64()
            ),
            Err(why) => error!("reprocess: {why}"),
        }
        result
    });
    let end_predicate = predicate.clone();
    let handle = tokio::spawn(async move {
        let result = result.await.unwrap_or_else(|e| Err(e.to_string()));
        let _ = ui
            .send(UiEvent::ReprocessEnd(end_predicate, result.clone()))
            .await;
        result
    });
    work.reprocess = Some((predicate, handle));
}

/// Commits listed per table in the Tables view.
const TABLE_COMMITS: usize = 8;

/// Blocking reads of terminal events, forwarded to the loop; ends when the loop is gone.
fn read_keys(tx: mpsc::Sender<Event>) {
    loop {
        match event::poll(Duration::from_millis(200)) {
            Ok(true) => match event::read() {
                Ok(ev) => {
                    if tx.blocking_send(ev).is_err() {
                        return;
                    }
                }
                Err(err) => {
                    warn!("reading the terminal failed: {err}");
                    return;
                }
            },
            Ok(false) if tx.is_closed() => return,
            Ok(false) => {}
            Err(err) => {
                warn!("reading the terminal failed: {err}");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_convert_to_periods_in_seconds_not_hertz() {
        assert_eq!(period(FRAME_HZ), Duration::from_millis(100));
        assert_eq!(period(REFRESH_HZ), Duration::from_millis(250));
    }

    #[test]
    fn a_theme_file_joins_the_built_in_ones_and_is_chosen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine.toml");
        let text =
            include_str!("../../themes/dark.toml").replace("name = \"dark\"", "name = \"mine\"");
        std::fs::write(&path, text).unwrap();
        let (themes, chosen) = themes_for(path.to_str().unwrap()).unwrap();
        assert_eq!(themes.len(), 4);
        assert_eq!(themes[chosen].name, "mine");
        let (_, light) = themes_for("light").unwrap();
        assert_eq!(light, 1);
    }
}
