//! `precis tui`: the pipeline engine in the background and a console in front of it.
//!
//! One loop selects over key presses (read on their own thread), notices of background work
//! (`work.rs`: listings, previews, reprocessing, exports) and a frame tick. Counters are pulled from the engine on the
//! tick, so the pipeline never waits on the screen, and the screen is drawn at most
//! [`FRAME_HZ`] times a second, never from the data path.

pub mod app;
pub mod effect;
pub mod jobs;
pub mod keymap;
pub mod list;
pub mod live;
pub mod screen;
pub mod theme;
pub mod view;
pub mod views;
pub mod work;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use ratatui::crossterm::event::{self, Event, KeyEventKind};
use ratatui::DefaultTerminal;
use tokio::sync::mpsc;
use tracing::{error, warn};

use self::app::{App, Effect};
use self::jobs::Notice;
use self::live::{EngineInfo, RunState};
use self::theme::Theme;
use self::views::contexts::{Choice, ContextsView, Target};
use self::views::partitions::ReprocessState;
use self::work::{start, Background, UiEvent, SHUTDOWN_LIMIT};
use crate::cli::RunArgs;
use crate::config::Settings;
use crate::engine::Engine;

/// Frames per second at most; also how often key presses are acted on.
pub const FRAME_HZ: u32 = 10;
/// How often counters are pulled from the engine.
pub const REFRESH_HZ: u32 = 4;
pub fn period(hz: u32) -> Duration {
    Duration::from_secs(1) / hz.max(1)
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

/// How a console session ended.
enum Ending {
    Exit(ExitCode),
    /// `C` chose another context of the config file: the console starts again on it. Whether
    /// the run left behind ended well (the process's exit status says if one did not).
    Switch {
        to: String,
        ok: bool,
    },
}

/// What lives across sessions: the loop's channel (signals wait in it while one engine stops
/// and the next starts) and the look chosen.
struct Console<'a> {
    ui: mpsc::Sender<UiEvent>,
    events: mpsc::Receiver<UiEvent>,
    themes: &'a [Theme],
    theme: usize,
}

/// Runs the console; `load` reads the settings of a context of the config file (for `C`).
pub async fn run(
    settings: &Settings,
    args: &RunArgs,
    log_file: &str,
    load: &dyn Fn(&str) -> Result<Settings>,
) -> Result<ExitCode> {
    if !has_terminal() {
        bail!("the console needs a terminal on stdin and stdout; use `precis run --no-ui` for headless runs");
    }
    let (themes, theme) = themes_for(&settings.ui.theme)?;
    let (ui, events) = mpsc::channel::<UiEvent>(64);
    tokio::spawn(forward_signals(ui.clone()));
    let mut console = Console {
        ui,
        events,
        themes: &themes,
        theme,
    };
    let mut settings = settings.clone();
    let mut all_ok = true;
    loop {
        let choices = context_choices(&settings, load);
        match session(&settings, args, log_file, &mut console, choices).await? {
            Ending::Exit(code) if !all_ok => {
                eprintln!("précis: a context switched away from ended badly (see above)");
                return Ok(if code == ExitCode::SUCCESS {
                    ExitCode::FAILURE
                } else {
                    code
                });
            }
            Ending::Exit(code) => return Ok(code),
            Ending::Switch { to, ok } => {
                all_ok &= ok;
                eprintln!("précis: switching to context {to}");
                settings = load(&to).with_context(|| format!("switching to context {to}"))?;
            }
        }
    }
}

/// The config file's contexts and where each points, for the picker.
fn context_choices(settings: &Settings, load: &dyn Fn(&str) -> Result<Settings>) -> Vec<Choice> {
    let target = |s: &Settings| Target {
        stream: s.stream.name.clone(),
        bucket: s.lake.bucket.clone(),
        endpoint: s
            .aws
            .endpoint(crate::config::Service::Kinesis)
            .unwrap_or(&s.aws.region)
            .to_string(),
    };
    let choice = |name: &String| Choice {
        name: name.clone(),
        target: if settings.context() == Some(name) {
            Ok(target(settings))
        } else {
            load(name).map(|s| target(&s)).map_err(|e| format!("{e:#}"))
        },
    };
    settings.contexts().iter().map(choice).collect()
}

/// One engine and the console in front of it, until `q` (or `C` to another context).
async fn session(
    settings: &Settings,
    args: &RunArgs,
    log_file: &str,
    console: &mut Console<'_>,
    choices: Vec<Choice>,
) -> Result<Ending> {
    eprintln!(
        "précis: loading the summarizer and connecting to {} (log: {log_file})…",
        settings
            .aws
            .endpoint(crate::config::Service::Kinesis)
            .unwrap_or(&settings.aws.region)
    );
    // Starting may wait on the network or a model: a signal meanwhile stops it, as one would
    // without the console's listener.
    let engine = tokio::select! {
        engine = Engine::start(settings, args.once) => engine?,
        name = next_signal(&mut console.events) => {
            eprintln!("précis: {name} before the pipeline started: nothing was read");
            return Ok(Ending::Exit(ExitCode::SUCCESS));
        }
    };
    let info = EngineInfo {
        context: settings.context().map(str::to_string),
        stream: engine.stream.clone(),
        bucket: engine.bucket.clone(),
        summarizer: engine.summarizer_id().to_string(),
        workers: engine.summarizer.as_ref().map_or(0, |p| p.workers()),
        log_file: log_file.to_string(),
        workdir: std::env::current_dir().unwrap_or_default(),
    };
    let mut app = App::new(info, console.themes.to_vec(), console.theme);
    app.contexts = ContextsView::new(choices);
    let mut work = Background::default();
    let looped = match ratatui::try_init() {
        Ok(mut terminal) => {
            // After try_init, which installs a hook that restores the terminal on any panic.
            install_panic_hook();
            let looped = event_loop(&mut terminal, &mut app, &engine, &mut work, console).await;
            ratatui::restore();
            looped
        }
        Err(err) => {
            ratatui::restore();
            Err(anyhow::Error::new(err).context("setting up the terminal"))
        }
    };
    console.theme = app.theme;
    let code = end(&app, engine, &mut work).await;
    looped?;
    // A signal while this engine stopped asks to quit, not to start the next one.
    let signalled = std::iter::from_fn(|| console.events.try_recv().ok())
        .any(|event| matches!(event, UiEvent::Signal(_)));
    match work.switch_to {
        Some(to) if !signalled => {
            // The context left behind may be the one that failed: its end is told, not fatal.
            let ok = match code {
                Ok(code) => code == ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("warning: {err:#}");
                    false
                }
            };
            Ok(Ending::Switch { to, ok })
        }
        _ => code.map(Ending::Exit),
    }
}

/// Whatever ended the loop, the readers stop (what they read but did not commit is read again
/// on the next start) and a reprocess stops before its commit, within one deadline; then the
/// run's report.
async fn end(app: &App, engine: Engine, work: &mut Background) -> Result<ExitCode> {
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
    Ok(crate::commands::run::report(
        outcome?,
        &stats,
        pool.as_deref(),
        started.elapsed(),
        &bucket,
    ))
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

/// An answer of background work, taken by the view it is for, or a signal.
fn on_event(app: &mut App, work: &mut Background, event: UiEvent) -> Option<Effect> {
    match event {
        UiEvent::Done(notice) => {
            if notice == Notice::ReprocessEnd {
                work.reprocess = None;
            }
            app.on_notice(notice)
        }
        UiEvent::Signal(name) => {
            warn!("{name} received: stopping");
            app.apply(keymap::Action::Quit)
        }
    }
}

async fn event_loop(
    terminal: &mut DefaultTerminal,
    app: &mut App,
    engine: &Engine,
    work: &mut Background,
    console: &mut Console<'_>,
) -> Result<()> {
    let (key_tx, mut keys) = mpsc::channel::<Event>(64);
    std::thread::Builder::new()
        .name("precis-keys".into())
        .spawn(move || read_keys(key_tx))
        .context("starting the key reader")?;
    let (ui_tx, ui_events) = (&console.ui, &mut console.events);
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
            if start(effect, app, engine, ui_tx, work) {
                return Ok(());
            }
        }
    }
}

/// The next signal among `events` (answers of work from a session before are dropped).
async fn next_signal(events: &mut mpsc::Receiver<UiEvent>) -> &'static str {
    loop {
        match events.recv().await {
            Some(UiEvent::Signal(name)) => return name,
            Some(UiEvent::Done(_)) => {}
            None => std::future::pending().await,
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

    #[tokio::test]
    async fn a_signal_waiting_behind_answers_of_an_earlier_session_is_found() {
        let (tx, mut events) = mpsc::channel(4);
        tx.send(UiEvent::Done(Notice::Preview)).await.unwrap();
        tx.send(UiEvent::Signal("SIGTERM")).await.unwrap();
        assert_eq!(next_signal(&mut events).await, "SIGTERM");
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
