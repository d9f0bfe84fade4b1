//! The console's state: which view shows, the theme, the filter, the footer's message and what
//! the engine last reported; keys go to the view that shows (each view in `views/` owns its
//! state, keys and drawing). No drawing and no I/O here: work that needs the network comes back
//! out as an [`Effect`] for the event loop to start.

use std::time::{Duration, Instant};

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::jobs::{Jobs, Notice};
use super::keymap::{action_for, Action};
use super::list::Ctx;
use super::live::{EngineInfo, Live, RunState};
use super::theme::Theme;
use super::views::contexts::ContextsView;
use super::views::logs::LogsView;
use super::views::partitions::PartitionsView;
use super::views::samples::SamplesView;
use super::views::shards::ShardsView;
use super::views::tables::TablesView;
use crate::pipeline::stats::{Sample, Snapshot};
use crate::summarize::pool::PoolSnapshot;
use crate::telemetry::LogLine;

pub use super::effect::{Effect, Reply};
pub use super::view::View;

/// How long a footer message stays.
const STATUS_FOR: Duration = Duration::from_secs(6);

pub struct App {
    pub view: View,
    pub themes: Vec<Theme>,
    pub theme: usize,
    pub help: bool,
    pub filter: String,
    pub filter_editing: bool,
    pub info: EngineInfo,
    pub state: RunState,
    pub live: Live,
    pub shards: ShardsView,
    pub samples: SamplesView,
    pub partitions: PartitionsView,
    pub logs: LogsView,
    pub tables: TablesView,
    /// The config file's contexts, and the picker `C` opens.
    pub contexts: ContextsView,
    /// Answers of background work, until the view they are for takes them.
    pub jobs: Jobs,
    /// A one-line message in the footer, until the time given.
    pub status: Option<(String, Instant)>,
    pub quitting: bool,
}

/// The shared state lent to a view, built from the app's fields so that a view of the same app
/// can be borrowed mutably beside it.
macro_rules! ctx {
    ($app:expr) => {
        Ctx {
            theme: &$app.themes[$app.theme],
            info: &$app.info,
            live: &$app.live,
            filter: &$app.filter,
            quitting: $app.quitting,
        }
    };
}

impl App {
    /// `themes[theme]` is the one in use; `t` cycles through the list.
    pub fn new(info: EngineInfo, themes: Vec<Theme>, theme: usize) -> Self {
        Self {
            view: View::Dashboard,
            theme: theme.min(themes.len().saturating_sub(1)),
            themes,
            help: false,
            filter: String::new(),
            filter_editing: false,
            info,
            state: RunState::Reading,
            live: Live::default(),
            shards: ShardsView::default(),
            samples: SamplesView::default(),
            partitions: PartitionsView::default(),
            logs: LogsView::default(),
            tables: TablesView::default(),
            contexts: ContextsView::default(),
            jobs: Jobs::default(),
            status: None,
            quitting: false,
        }
    }

    pub fn theme(&self) -> &Theme {
        &self.themes[self.theme]
    }

    /// What the views read.
    pub fn ctx(&self) -> Ctx<'_> {
        ctx!(self)
    }

    /// The latest counters from the engine.
    pub fn observe(
        &mut self,
        snapshot: Snapshot,
        pool: Option<PoolSnapshot>,
        samples: Vec<Sample>,
        logs: Vec<LogLine>,
        uptime: Duration,
        now: Instant,
    ) {
        self.live
            .observe(snapshot, pool, samples, logs, uptime, now);
        if self.status.as_ref().is_some_and(|(_, until)| now >= *until) {
            self.status = None;
        }
        self.clamp_lists();
    }

    pub fn set_status(&mut self, message: impl Into<String>) {
        self.status = Some((message.into(), Instant::now() + STATUS_FOR));
    }

    /// A key press: what it changes here, and what the event loop must do.
    pub fn on_key(&mut self, event: KeyEvent) -> Option<Effect> {
        if event.code == KeyCode::Char('c') && event.modifiers.contains(KeyModifiers::CONTROL) {
            return self.apply(Action::Quit);
        }
        if self.help {
            self.help = false;
            return None;
        }
        if let Some(reply) = self.contexts.on_key(event.code, &ctx!(self)) {
            return self.reply(reply);
        }
        if let Some(reply) = self.partitions.on_prompt_key(event.code, &ctx!(self)) {
            return self.reply(reply);
        }
        if let Some(reply) = self.tables.on_prompt_key(event, &ctx!(self)) {
            return self.reply(reply);
        }
        if self.filter_editing {
            self.edit_filter(event);
            return None;
        }
        action_for(&event, self.view).and_then(|action| self.apply(action))
    }

    fn edit_filter(&mut self, event: KeyEvent) {
        match event.code {
            KeyCode::Enter => self.filter_editing = false,
            KeyCode::Esc => {
                self.filter.clear();
                self.filter_editing = false;
            }
            KeyCode::Backspace => {
                self.filter.pop();
            }
            KeyCode::Char(c) if !event.modifiers.contains(KeyModifiers::CONTROL) => {
                self.filter.push(c)
            }
            _ => {}
        }
        // The rows change with the filter: each list starts again at its top.
        self.shards.cursor.at = 0;
        self.samples.cursor.at = 0;
        self.partitions.browser.selected = 0;
        self.logs.cursor.at = 0;
    }

    /// An action, for the app itself or for the view that shows.
    pub fn apply(&mut self, action: Action) -> Option<Effect> {
        match action {
            Action::NextView => self.show(self.view.step(1)),
            Action::PrevView => self.show(self.view.step(-1)),
            Action::Show(view) => self.show(view),
            Action::Filter => {
                self.filter_editing = true;
                None
            }
            Action::Close => {
                let closed = match self.view {
                    View::Shards => self.shards.close(),
                    View::Samples => self.samples.close(),
                    View::Partitions => self.partitions.close(),
                    View::Tables => self.tables.close(),
                    _ => false,
                };
                if !closed {
                    self.filter.clear();
                }
                None
            }
            Action::TogglePause => self.toggle_pause(),
            Action::CycleTheme => {
                self.theme = (self.theme + 1) % self.themes.len();
                self.set_status(format!("theme {}", self.theme().name));
                None
            }
            Action::Help => {
                self.help = true;
                None
            }
            Action::SwitchContext => {
                let reply = self.contexts.open(&ctx!(self), self.tables.busy());
                self.reply(reply)
            }
            Action::Quit => {
                self.quitting = true;
                Some(Effect::Quit)
            }
            _ => {
                let ctx = ctx!(self);
                let reply = match self.view {
                    View::Dashboard => Reply::default(),
                    View::Shards => self.shards.on_action(action, &ctx),
                    View::Samples => self.samples.on_action(action, &ctx),
                    View::Partitions => self.partitions.on_action(action, &ctx),
                    View::Logs => self.logs.on_action(action, &ctx),
                    View::Tables => self.tables.on_action(action, &ctx),
                };
                self.reply(reply)
            }
        }
    }

    fn toggle_pause(&mut self) -> Option<Effect> {
        self.state = match self.state {
            RunState::Reading => RunState::Paused,
            RunState::Paused => RunState::Reading,
            _ => {
                self.set_status("the pipeline is not reading: nothing to pause");
                return None;
            }
        };
        Some(Effect::SetPaused(matches!(self.state, RunState::Paused)))
    }

    /// What a view asked for: its message, a cleared filter, a preview to open; its work.
    fn reply(&mut self, reply: Reply) -> Option<Effect> {
        if let Some(message) = reply.status {
            self.set_status(message);
        }
        if reply.clear_filter {
            self.filter.clear();
        }
        if let Some(target) = reply.open_preview {
            self.show(View::Partitions);
            return self.partitions.start_preview(target).effect;
        }
        reply.effect
    }

    fn show(&mut self, view: View) -> Option<Effect> {
        if view != self.view {
            self.filter.clear();
            self.filter_editing = false;
            self.samples.open = None;
        }
        self.view = view;
        match view {
            View::Partitions => self.partitions.list_if_needed(),
            View::Tables => self.tables.load(),
            _ => None,
        }
    }

    fn clamp_lists(&mut self) {
        let ctx = ctx!(self);
        self.shards.clamp(&ctx);
        self.samples.clamp(&ctx);
        self.partitions.clamp(&ctx);
        self.logs.clamp(&ctx);
    }

    /// Background work put an answer in [`Jobs`]: the view it is for takes it.
    pub fn on_notice(&mut self, notice: Notice) -> Option<Effect> {
        let (ctx, jobs) = (ctx!(self), &self.jobs);
        let reply = match notice {
            Notice::Listing
            | Notice::Preview
            | Notice::ReprocessProgress
            | Notice::ReprocessEnd => self.partitions.on_notice(notice, jobs, &ctx),
            Notice::Inspected => self.shards.on_notice(jobs),
            Notice::Tables
            | Notice::Compaction
            | Notice::History
            | Notice::Compared
            | Notice::ExportProgress
            | Notice::ExportEnd => self.tables.on_notice(notice, jobs),
        };
        self.reply(reply)
    }
}
