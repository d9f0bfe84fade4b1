//! The console's background work: what each [`Effect`] starts, and how its answer reaches the
//! view that asked (into a slot of [`Jobs`], then a data-free [`UiEvent::Done`]). Work that
//! outlives a key press (a reprocess, the deadline after `q`, a context switch) is kept in
//! [`Background`] for the loop.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::error;

use super::app::{App, Effect};
use super::effect::Export;
use super::jobs::{Answer, Filler, Jobs, Notice, PreviewData};
use super::live::RunState;
use super::views;
use crate::browser::preview;
use crate::browser::{snapshot_listing, Tree};
use crate::config::StartPosition;
use crate::engine::Engine;
use crate::maintenance::compact::{compact, CompactReport};
use crate::maintenance::export::{export, ExportJob, Format};
use crate::maintenance::history::{comparison, history, Comparison};
use crate::maintenance::inventory::{summarize_all, CommitSummary, TableSummary};
use crate::maintenance::reprocess::{reprocess, ReprocessReport, Selection};
use crate::pipeline::sink::lake::TableKind;
use crate::pipeline::source::inspect::{inspect, Inspected, Position, Request};
use crate::summarize::pool::Cancel;

/// After `q`, the longest the readers get to end (a commit under way finishes; nothing more is
/// committed).
pub const SHUTDOWN_LIMIT: Duration = Duration::from_secs(30);

/// Rows of a preview kept for scrolling.
pub const PREVIEW_ROWS: usize = 500;
/// What reaches the loop from elsewhere: no data (answers wait in the app's [`jobs::Jobs`]).
#[derive(Debug)]
pub enum UiEvent {
    /// Background work put an answer in the slot named.
    Done(Notice),
    /// A stop signal (its name).
    Signal(&'static str),
}

/// Work the loop started that outlives a key press.
#[derive(Default)]
pub struct Background {
    /// The running reprocess, its day, and how to stop it.
    pub reprocess: Option<(
        String,
        tokio::task::JoinHandle<Result<ReprocessReport, String>>,
    )>,
    pub reprocess_cancel: Cancel,
    /// After `q`: when the readers' flush stops being waited for.
    pub deadline: Option<Instant>,
    /// The context `C` chose: the console starts again on it once this engine has stopped.
    pub switch_to: Option<String>,
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

/// Runs `work` as its own task, puts its answer (as `answer` makes it) where `into` says and
/// tells the loop.
fn spawn_to_ui<T, A, F>(
    ui: &mpsc::Sender<UiEvent>,
    what: &'static str,
    work: F,
    into: Filler<A>,
    answer: impl FnOnce(Answer<T>) -> A + Send + 'static,
) where
    T: Send + 'static,
    A: Send + 'static,
    F: std::future::Future<Output = Answer<T>> + Send + 'static,
{
    let ui = ui.clone();
    tokio::spawn(async move {
        let result = reported(what, tokio::spawn(work).await);
        deliver(&into, &ui, answer(result)).await;
    });
}

/// Puts an answer where `into` says and tells the loop (unless a later request made it stale).
async fn deliver<A>(into: &Filler<A>, ui: &mpsc::Sender<UiEvent>, answer: A) {
    if let Some(notice) = into.put(answer) {
        let _ = ui.send(UiEvent::Done(notice)).await;
    }
}

/// Starts what an effect asks for. True when the loop should end now.
pub fn start(
    effect: Effect,
    app: &mut App,
    engine: &Engine,
    ui: &mpsc::Sender<UiEvent>,
    work: &mut Background,
) -> bool {
    let jobs = &app.jobs;
    match effect {
        Effect::Quit => {
            // q while a switch stops the pipeline: quit instead.
            work.switch_to = None;
            return quit(app, engine, work);
        }
        Effect::SwitchContext(name) => {
            work.switch_to = Some(name);
            app.quitting = true;
            return quit(app, engine, work);
        }
        Effect::SetPaused(paused) => engine.set_paused(paused),
        Effect::ListPartitions => list_partitions(engine, ui, jobs.listing.start()),
        Effect::Preview(target) => load_preview(engine, ui, target, jobs.preview.start()),
        Effect::LoadTables => load_tables(engine, ui, jobs.tables.start()),
        Effect::Compact(kind) => compact_table(engine, ui, kind, jobs.compaction.start()),
        Effect::Inspect(shard) => inspect_shard(engine, ui, shard, jobs.inspected.start()),
        Effect::History(path) => read_history(engine, ui, path, jobs.history.start()),
        Effect::Compare { path, version } => {
            compare_summarizers(engine, ui, path, version, jobs.compared.start())
        }
        Effect::Export(request) => export_table(engine, ui, request, jobs),
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

/// An error as one line with its causes.
fn text(err: anyhow::Error) -> String {
    format!("{err:#}")
}

/// Lists the tables' partitions in the background.
fn list_partitions(engine: &Engine, ui: &mpsc::Sender<UiEvent>, into: Filler<Answer<Tree>>) {
    let lake = engine.lake.clone();
    let listing = async move { snapshot_listing(&lake).await.map_err(text) };
    spawn_to_ui(ui, "listing the tables", listing, into, |listing| listing);
}

/// Loads a preview in the background.
fn load_preview(
    engine: &Engine,
    ui: &mpsc::Sender<UiEvent>,
    target: String,
    into: Filler<(String, Answer<PreviewData>)>,
) {
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
            .map_err(text)
    };
    spawn_to_ui(ui, "the preview", loaded, into, |loaded| (target, loaded));
}

/// Reads the tables' summaries (and candidate tables') in the background.
fn load_tables(
    engine: &Engine,
    ui: &mpsc::Sender<UiEvent>,
    into: Filler<Answer<Vec<TableSummary>>>,
) {
    let lake = engine.lake.clone();
    let loaded = async move { summarize_all(&lake, TABLE_COMMITS).await.map_err(text) };
    spawn_to_ui(ui, "reading the tables", loaded, into, |tables| tables);
}

/// Reads a shard's records for the inspector, in the background.
fn inspect_shard(
    engine: &Engine,
    ui: &mpsc::Sender<UiEvent>,
    shard: String,
    into: Filler<(String, Answer<Vec<Inspected>>)>,
) {
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
            .map_err(text)
    };
    spawn_to_ui(ui, "reading the shard", read, into, |records| {
        (shard, records)
    });
}

/// Reads a table's whole history in the background.
fn read_history(
    engine: &Engine,
    ui: &mpsc::Sender<UiEvent>,
    path: String,
    into: Filler<(String, Answer<Vec<CommitSummary>>)>,
) {
    let lake = engine.lake.clone();
    let wanted = path.clone();
    let read = async move {
        let table = lake.open_existing(&wanted, None).await.map_err(text)?;
        history(&table).await.map_err(text)
    };
    spawn_to_ui(ui, "reading the history", read, into, |commits| {
        (path, commits)
    });
}

/// Compares two summarizers in the background: a rewrite's version, or a candidate table.
fn compare_summarizers(
    engine: &Engine,
    ui: &mpsc::Sender<UiEvent>,
    path: String,
    version: Option<i64>,
    into: Filler<(String, Option<i64>, Answer<Comparison>)>,
) {
    let lake = engine.lake.clone();
    let wanted = path.clone();
    let compared = async move { comparison(&lake, &wanted, version).await.map_err(text) };
    spawn_to_ui(ui, "the comparison", compared, into, move |result| {
        (path, version, result)
    });
}

/// Compacts a table in the background.
fn compact_table(
    engine: &Engine,
    ui: &mpsc::Sender<UiEvent>,
    kind: TableKind,
    into: Filler<(TableKind, Answer<CompactReport>)>,
) {
    // Not waited for at exit: a compaction dropped before its commit changes nothing.
    let lake = engine.lake.clone();
    let target = lake.layout.target_file_bytes;
    let done = async move { compact(&lake, kind, target, &|_| {}).await.map_err(text) };
    spawn_to_ui(ui, "the compaction", done, into, move |result| {
        (kind, result)
    });
}

/// Where work reports its progress: into `into`, then a notice to the loop. Advisory: a full
/// channel skips the notice, and the slot keeps the latest step for the next one.
fn progress<T: Send>(into: Filler<T>, ui: &mpsc::Sender<UiEvent>) -> impl Fn(T) + Send + Sync {
    let ui = ui.clone();
    move |step| {
        if let Some(notice) = into.put(step) {
            let _ = ui.try_send(UiEvent::Done(notice));
        }
    }
}

/// Exports a table to a file in the background, with progress.
fn export_table(engine: &Engine, ui: &mpsc::Sender<UiEvent>, request: Export, jobs: &Jobs) {
    // Not waited for at exit: the file is written under another name until it is whole.
    let lake = engine.lake.clone();
    let step = progress(jobs.export_progress.start(), ui);
    let done = async move {
        let job = ExportJob {
            path: request.path,
            version: Some(request.version),
            predicate: None,
            format: Format::of(&request.to).map_err(text)?,
            to: request.to,
        };
        export(&lake, &job, &|done, total| step((done, total)))
            .await
            .map_err(text)
    };
    spawn_to_ui(ui, "the export", done, jobs.export_end.start(), |report| {
        report
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
    let progress = progress(app.jobs.reprocess_progress.start(), &ui);
    let result = spawn_reporting("the reprocess", async move {
        let result = reprocess(&lake, &selection, summarizer, &progress, &cancel)
            .await
            .map_err(text);
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
    let (end_into, end_predicate) = (app.jobs.reprocess_end.start(), predicate.clone());
    let handle = tokio::spawn(async move {
        let result = result.await.unwrap_or_else(|e| Err(e.to_string()));
        deliver(&end_into, &ui, (end_predicate, result.clone())).await;
        result
    });
    work.reprocess = Some((predicate, handle));
}

/// Commits listed per table in the Tables view.
const TABLE_COMMITS: usize = 8;
