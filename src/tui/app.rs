//! The console's state and what keys and pipeline updates do to it. No drawing and no I/O here:
//! work that needs the network comes back out as an [`Effect`] for the event loop to start.

use std::cell::Cell;
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::keymap::{action_for, Action};
use super::theme::Theme;
use crate::browser::preview::{FrameStats, PreviewTable};
use crate::browser::{Entry, Tree};
use crate::maintenance::compact::CompactReport;
use crate::maintenance::inventory::TableSummary;
use crate::maintenance::reprocess::{ReprocessProgress, ReprocessReport, Selection};
use crate::pipeline::sink::lake::TableKind;
use crate::pipeline::stats::{Sample, Snapshot};
use crate::summarize::pool::PoolSnapshot;
use crate::telemetry::LogLine;

pub use super::view::View;

/// Work the event loop starts for the app (network, the pipeline's switches).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Quit,
    SetPaused(bool),
    ListPartitions,
    Preview(String),
    Reprocess(Selection),
    LoadTables,
    Compact(TableKind),
}

/// Samples of throughput kept for the sparklines: one per second.
pub const HISTORY_SECONDS: usize = 180;
const PAGE: usize = 10;

/// What the engine is and does, fixed for the session.
#[derive(Debug, Clone, Default)]
pub struct EngineInfo {
    pub stream: String,
    pub bucket: String,
    pub summarizer: String,
    pub workers: usize,
    pub log_file: String,
}

/// Throughput over time, from successive snapshots.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub records_per_sec: VecDeque<u64>,
    pub kib_per_sec: VecDeque<u64>,
    /// Articles summarized per second, over the last sample.
    pub summaries_per_sec: f64,
    /// Per shard: records/s over the last sample.
    pub shard_rates: BTreeMap<String, f64>,
    last: Option<Mark>,
}

/// Counters at one moment, to take rates against.
#[derive(Debug, Clone)]
struct Mark {
    at: Instant,
    records: u64,
    bytes: u64,
    summarized: u64,
    shards: BTreeMap<String, u64>,
}

impl History {
    /// Adds a sample when at least a second has passed since the last one.
    pub fn observe(&mut self, snapshot: &Snapshot, summarized: u64, now: Instant) {
        let mark = Mark {
            at: now,
            records: snapshot.records_in,
            bytes: snapshot.bytes_in,
            summarized,
            shards: snapshot
                .shards
                .iter()
                .map(|(id, s)| (id.clone(), s.records))
                .collect(),
        };
        let Some(last) = &self.last else {
            self.last = Some(mark);
            return;
        };
        let secs = now.saturating_duration_since(last.at).as_secs_f64();
        if secs < 1.0 {
            return;
        }
        let rate = |now: u64, then: u64| now.saturating_sub(then) as f64 / secs;
        push_capped(
            &mut self.records_per_sec,
            rate(mark.records, last.records).round() as u64,
        );
        push_capped(
            &mut self.kib_per_sec,
            (rate(mark.bytes, last.bytes) / 1024.0).round() as u64,
        );
        self.summaries_per_sec = rate(mark.summarized, last.summarized);
        self.shard_rates = mark
            .shards
            .iter()
            .map(|(id, n)| {
                let before = last.shards.get(id).copied().unwrap_or(0);
                (id.clone(), rate(*n, before))
            })
            .collect();
        self.last = Some(mark);
    }
}

fn push_capped(values: &mut VecDeque<u64>, value: u64) {
    if values.len() == HISTORY_SECONDS {
        values.pop_front();
    }
    values.push_back(value);
}

/// Where the pipeline is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    Reading,
    Paused,
    /// `--once`: every shard is drained and written.
    Drained,
    Stopping,
    Failed(String),
}

/// The browser's preview pane.
#[derive(Debug, Clone, PartialEq)]
pub enum PreviewPane {
    Empty,
    Loading(String),
    Ready(Box<PreviewData>),
    Failed { target: String, error: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct PreviewData {
    pub target: String,
    pub table: PreviewTable,
    pub stats: FrameStats,
    pub files_read: usize,
    pub files_total: usize,
}

#[derive(Debug, Clone)]
pub struct Browser {
    pub tree: Option<Tree>,
    pub loading: bool,
    pub error: Option<String>,
    pub prefix: String,
    pub selected: usize,
    pub preview: PreviewPane,
    pub preview_scroll: usize,
}

impl Default for Browser {
    fn default() -> Self {
        Self {
            tree: None,
            loading: false,
            error: None,
            prefix: String::new(),
            selected: 0,
            preview: PreviewPane::Empty,
            preview_scroll: 0,
        }
    }
}

/// The Tables view: each table as the last read found it, and where time travel points.
#[derive(Debug, Clone, Default)]
pub struct TablesPane {
    pub loading: bool,
    pub tables: Vec<TableSummary>,
    pub error: Option<String>,
    /// How many versions before the selected table's latest `v` previews (`<` and `>`).
    pub back: i64,
    /// The table being compacted, while it is.
    pub compacting: Option<TableKind>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ReprocessState {
    Running {
        /// The selection, as SQL.
        predicate: String,
        /// Where it is, in words, and how far (0 to 1).
        step: String,
        ratio: f64,
    },
    Done(ReprocessReport),
    Failed {
        predicate: String,
        error: String,
    },
}

pub struct App {
    pub view: View,
    pub themes: Vec<Theme>,
    pub theme: usize,
    pub help: bool,
    pub filter: String,
    pub filter_editing: bool,
    pub info: EngineInfo,
    pub state: RunState,
    pub snapshot: Option<Snapshot>,
    pub pool: Option<PoolSnapshot>,
    pub samples: Vec<Sample>,
    pub logs: Vec<LogLine>,
    pub uptime: Duration,
    pub history: History,
    /// Selected row of each view's list, by view index.
    pub selected: [usize; 6],
    /// The article shown in full: a copy, so that new samples arriving do not change it.
    pub open_sample: Option<Sample>,
    pub article_scroll: usize,
    /// How far the open article can scroll in the pane as last drawn (the view sets it, since
    /// only it knows the pane's size).
    pub article_max_scroll: Cell<Option<usize>>,
    pub browser: Browser,
    /// The reprocess asked for, waiting for a yes.
    pub confirm: Option<Selection>,
    pub reprocess: Option<ReprocessState>,
    pub tables: TablesPane,
    /// A one-line message in the footer, until the time given.
    pub status: Option<(String, Instant)>,
    pub quitting: bool,
}

const STATUS_FOR: Duration = Duration::from_secs(6);

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
            snapshot: None,
            pool: None,
            samples: Vec::new(),
            logs: Vec::new(),
            uptime: Duration::ZERO,
            history: History::default(),
            selected: [0; 6],
            open_sample: None,
            article_scroll: 0,
            article_max_scroll: Cell::new(None),
            browser: Browser::default(),
            confirm: None,
            reprocess: None,
            tables: TablesPane::default(),
            status: None,
            quitting: false,
        }
    }

    pub fn theme(&self) -> &Theme {
        &self.themes[self.theme]
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
        self.history
            .observe(&snapshot, pool.map_or(0, |p| p.summarized), now);
        self.snapshot = Some(snapshot);
        self.pool = pool;
        self.samples = samples;
        self.logs = logs;
        self.uptime = uptime;
        if self.status.as_ref().is_some_and(|(_, until)| now >= *until) {
            self.status = None;
        }
        self.clamp_selection();
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
        if let Some(selection) = &self.confirm {
            return match event.code {
                KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => {
                    let selection = selection.clone();
                    self.confirm = None;
                    self.reprocess = Some(ReprocessState::Running {
                        predicate: self.predicate(&selection),
                        step: "reading the summaries".to_string(),
                        ratio: 0.0,
                    });
                    Some(Effect::Reprocess(selection))
                }
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                    self.confirm = None;
                    self.set_status("reprocess cancelled");
                    None
                }
                _ => None,
            };
        }
        if self.filter_editing {
            match event.code {
                KeyCode::Enter => self.filter_editing = false,
                KeyCode::Esc => {
                    self.filter.clear();
                    self.filter_editing = false;
                }
                KeyCode::Backspace => {
                    self.filter.pop();
                }
                KeyCode::Char(c) => self.filter.push(c),
                _ => {}
            }
            self.selected[self.view.index()] = 0;
            self.browser.selected = 0;
            return None;
        }
        action_for(&event, self.view).and_then(|action| self.apply(action))
    }

    pub fn apply(&mut self, action: Action) -> Option<Effect> {
        match action {
            Action::NextView => self.show(self.view.step(1)),
            Action::PrevView => self.show(self.view.step(-1)),
            Action::Show(view) => self.show(view),
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-(PAGE as isize)),
            Action::PageDown => self.move_by(PAGE as isize),
            Action::Top => self.move_by(isize::MIN / 2),
            Action::Bottom => self.move_by(isize::MAX / 2),
            Action::Filter => {
                self.filter_editing = true;
                None
            }
            Action::Close => {
                if self.open_sample.is_some() {
                    self.open_sample = None;
                } else if self.view == View::Partitions
                    && self.browser.preview != PreviewPane::Empty
                {
                    self.browser.preview = PreviewPane::Empty;
                } else {
                    self.filter.clear();
                }
                None
            }
            Action::TogglePause => match self.state {
                RunState::Reading => {
                    self.state = RunState::Paused;
                    Some(Effect::SetPaused(true))
                }
                RunState::Paused => {
                    self.state = RunState::Reading;
                    Some(Effect::SetPaused(false))
                }
                _ => {
                    self.set_status("the pipeline is not reading: nothing to pause");
                    None
                }
            },
            Action::CycleTheme => {
                self.theme = (self.theme + 1) % self.themes.len();
                let name = self.theme().name.clone();
                self.set_status(format!("theme {name}"));
                None
            }
            Action::Help => {
                self.help = true;
                None
            }
            Action::Quit => {
                self.quitting = true;
                Some(Effect::Quit)
            }
            Action::Open => self.open(),
            Action::Back => self.back(),
            Action::Preview if self.view == View::Tables => self.tables_action(action),
            Action::Compact | Action::OlderVersion | Action::NewerVersion => {
                self.tables_action(action)
            }
            Action::Preview => self.preview_selected(),
            Action::ScrollPreviewDown => {
                self.browser.preview_scroll += 1;
                self.clamp_preview_scroll();
                None
            }
            Action::ScrollPreviewUp => {
                self.browser.preview_scroll = self.browser.preview_scroll.saturating_sub(1);
                None
            }
            Action::Refresh if self.view == View::Tables => self.load_tables(),
            Action::Refresh => {
                self.browser.loading = true;
                Some(Effect::ListPartitions)
            }
            Action::Reprocess => self.ask_reprocess(),
        }
    }

    fn show(&mut self, view: View) -> Option<Effect> {
        if view != self.view {
            self.filter.clear();
            self.filter_editing = false;
            self.open_sample = None;
        }
        self.view = view;
        if view == View::Partitions && self.browser.tree.is_none() && !self.browser.loading {
            self.browser.loading = true;
            return Some(Effect::ListPartitions);
        }
        // The tables change with every commit: read them each time the view opens.
        if view == View::Tables {
            return self.load_tables();
        }
        None
    }

    fn load_tables(&mut self) -> Option<Effect> {
        if self.tables.loading {
            return None;
        }
        self.tables.loading = true;
        Some(Effect::LoadTables)
    }

    /// The table selected in the Tables view.
    pub fn selected_table(&self) -> Option<&TableSummary> {
        self.tables.tables.get(self.selected[View::Tables.index()])
    }

    /// The version `v` previews in the Tables view: the selected table's latest, less `back`.
    pub fn time_travel_version(&self) -> Option<i64> {
        self.selected_table()
            .map(|t| (t.version - self.tables.back).max(0))
    }

    pub fn on_tables(&mut self, tables: Result<Vec<TableSummary>, String>) {
        self.tables.loading = false;
        match tables {
            Ok(tables) => {
                self.tables.tables = tables;
                self.tables.error = None;
            }
            Err(error) => self.tables.error = Some(error),
        }
        self.clamp_selection();
    }

    pub fn on_compact_end(
        &mut self,
        kind: TableKind,
        result: Result<CompactReport, String>,
    ) -> Option<Effect> {
        self.tables.compacting = None;
        match result {
            Ok(report) => {
                self.set_status(match report.version {
                    Some(version) => format!(
                        "compacted {}: {} files into {} in version {version}",
                        kind.name(),
                        report.files_removed,
                        report.files_written
                    ),
                    None => format!("{}: no partition has two small files to merge", kind.name()),
                });
                self.load_tables()
            }
            Err(error) => {
                self.set_status(format!("compaction of {} failed: {error}", kind.name()));
                None
            }
        }
    }

    fn tables_action(&mut self, action: Action) -> Option<Effect> {
        let (Some(table), Some(version)) = (self.selected_table(), self.time_travel_version())
        else {
            self.set_status("no table yet: the pipeline creates them as it starts");
            return None;
        };
        let (kind, latest, path) = (table.kind, table.version, table.path.clone());
        match action {
            Action::Compact if path != kind.path() => {
                self.set_status(format!(
                    "{path} is a candidate table: it is not compacted (a backfill writes it whole)"
                ));
                None
            }
            Action::Compact => {
                if let Some(running) = self.tables.compacting {
                    self.set_status(format!(
                        "compacting {} already; wait for it to finish",
                        running.name()
                    ));
                    return None;
                }
                self.tables.compacting = Some(kind);
                self.set_status(format!("compacting {}…", kind.name()));
                Some(Effect::Compact(kind))
            }
            Action::OlderVersion => {
                self.tables.back = (self.tables.back + 1).min(latest);
                None
            }
            Action::NewerVersion => {
                self.tables.back = (self.tables.back - 1).max(0);
                None
            }
            Action::Preview => {
                self.view = View::Partitions;
                self.start_preview(format!("{path}@{version}"))
            }
            _ => None,
        }
    }

    fn matches(&self, text: &str) -> bool {
        self.filter.is_empty() || text.to_lowercase().contains(&self.filter.to_lowercase())
    }

    /// Shard ids shown in the Shards view, after the filter.
    pub fn visible_shards(&self) -> Vec<&String> {
        self.snapshot
            .iter()
            .flat_map(|s| s.shards.keys())
            .filter(|id| self.matches(id))
            .collect()
    }

    /// Samples shown, newest first, after the filter.
    pub fn visible_samples(&self) -> Vec<&Sample> {
        self.samples
            .iter()
            .rev()
            .filter(|s| {
                self.matches(s.title.as_deref().unwrap_or(""))
                    || self.matches(s.summary.as_deref().unwrap_or(""))
                    || self.matches(&s.article_id)
            })
            .collect()
    }

    pub fn visible_logs(&self) -> Vec<&LogLine> {
        self.logs
            .iter()
            .rev()
            .filter(|l| self.matches(&l.message))
            .collect()
    }

    /// Entries of the browser's current folder, after the filter.
    pub fn visible_entries(&self) -> Vec<Entry> {
        self.browser
            .tree
            .as_ref()
            .map(|t| t.children(&self.browser.prefix))
            .unwrap_or_default()
            .into_iter()
            .filter(|e| self.matches(&e.name))
            .collect()
    }

    pub fn selected_sample(&self) -> Option<&Sample> {
        self.visible_samples()
            .get(self.selected[View::Samples.index()])
            .copied()
    }

    pub fn selected_entry(&self) -> Option<Entry> {
        self.visible_entries().get(self.browser.selected).cloned()
    }

    pub fn selected_in(&self, view: View) -> usize {
        self.selected[view.index()]
    }

    fn list_len(&self) -> usize {
        match self.view {
            View::Dashboard => 0,
            View::Shards => self.visible_shards().len(),
            View::Samples => self.visible_samples().len(),
            View::Partitions => self.visible_entries().len(),
            View::Logs => self.visible_logs().len(),
            View::Tables => self.tables.tables.len(),
        }
    }

    fn move_by(&mut self, by: isize) -> Option<Effect> {
        if let (View::Samples, Some(sample)) = (self.view, &self.open_sample) {
            let max = self.article_max_scroll.get().unwrap_or_else(|| {
                wrapped_lines(&article_text(sample), ARTICLE_MIN_WIDTH).saturating_sub(1)
            });
            self.article_scroll = step(self.article_scroll.min(max), by, max);
            return None;
        }
        let len = self.list_len();
        let current = if self.view == View::Partitions {
            &mut self.browser.selected
        } else {
            &mut self.selected[self.view.index()]
        };
        let before = *current;
        *current = step(*current, by, len.saturating_sub(1));
        if self.view == View::Tables && *current != before {
            self.tables.back = 0;
        }
        None
    }

    fn clamp_selection(&mut self) {
        for view in View::ALL {
            let len = match view {
                View::Dashboard => 0,
                View::Shards => self.visible_shards().len(),
                View::Samples => self.visible_samples().len(),
                View::Partitions => self.visible_entries().len(),
                View::Logs => self.visible_logs().len(),
                View::Tables => self.tables.tables.len(),
            };
            let slot = if view == View::Partitions {
                &mut self.browser.selected
            } else {
                &mut self.selected[view.index()]
            };
            *slot = (*slot).min(len.saturating_sub(1));
        }
    }

    fn open(&mut self) -> Option<Effect> {
        match self.view {
            View::Samples => {
                if let Some(sample) = self.selected_sample() {
                    self.open_sample = Some(sample.clone());
                    self.article_scroll = 0;
                    self.article_max_scroll.set(None);
                }
                None
            }
            View::Partitions => {
                let entry = self.selected_entry()?;
                if entry.is_folder {
                    self.browser.prefix = entry.path;
                    self.browser.selected = 0;
                    self.filter.clear();
                    None
                } else {
                    self.start_preview(entry.path)
                }
            }
            _ => None,
        }
    }

    fn back(&mut self) -> Option<Effect> {
        match self.view {
            View::Samples => self.open_sample = None,
            View::Partitions => {
                let trimmed = self.browser.prefix.trim_end_matches('/');
                let parent = trimmed
                    .rfind('/')
                    .map_or(String::new(), |i| trimmed[..=i].to_string());
                let left = self.browser.prefix.clone();
                self.browser.prefix = parent;
                self.filter.clear();
                // Land on the folder just left.
                self.browser.selected = self
                    .visible_entries()
                    .iter()
                    .position(|e| e.path == left)
                    .unwrap_or(0);
            }
            _ => {}
        }
        None
    }

    fn preview_selected(&mut self) -> Option<Effect> {
        let target = match self.selected_entry() {
            Some(entry) => entry.path,
            None if !self.browser.prefix.is_empty() => self.browser.prefix.clone(),
            None => return None,
        };
        self.start_preview(target)
    }

    fn start_preview(&mut self, target: String) -> Option<Effect> {
        self.browser.preview = PreviewPane::Loading(target.clone());
        self.browser.preview_scroll = 0;
        Some(Effect::Preview(target))
    }

    fn clamp_preview_scroll(&mut self) {
        if let PreviewPane::Ready(data) = &self.browser.preview {
            let max = data.table.rows.len().saturating_sub(1);
            self.browser.preview_scroll = self.browser.preview_scroll.min(max);
        }
    }

    /// The publish day `r` would rewrite: that of the previewed summaries row at the top of the
    /// preview pane.
    pub fn reprocess_target(&self) -> Option<NaiveDate> {
        let PreviewPane::Ready(data) = &self.browser.preview else {
            return None;
        };
        if !data.target.starts_with("lake/summaries") {
            return None;
        }
        let column = data
            .table
            .columns
            .iter()
            .position(|c| c == "publish_date")?;
        let row = data.table.rows.get(self.browser.preview_scroll)?;
        NaiveDate::parse_from_str(row.get(column)?.get(..10)?, "%Y-%m-%d").ok()
    }

    fn ask_reprocess(&mut self) -> Option<Effect> {
        if self.quitting {
            self.set_status("stopping: no reprocess starts now");
            return None;
        }
        if matches!(self.reprocess, Some(ReprocessState::Running { .. })) {
            self.set_status("a reprocess is already running; wait for it to finish");
            return None;
        }
        match self.reprocess_target() {
            Some(dt) => self.confirm = Some(Selection::day(dt)),
            None => self.set_status(
                "r rewrites one publish day of summaries: preview lake/summaries and scroll to a row of that day",
            ),
        }
        None
    }

    pub fn on_listing(&mut self, listing: Result<Tree, String>) {
        self.browser.loading = false;
        match listing {
            Ok(tree) => {
                self.browser.tree = Some(tree);
                self.browser.error = None;
            }
            Err(error) => self.browser.error = Some(error),
        }
        self.clamp_selection();
    }

    pub fn on_preview(&mut self, target: String, preview: Result<PreviewData, String>) {
        // A later request replaced this one: drop the stale answer.
        if self.browser.preview != PreviewPane::Loading(target.clone()) {
            return;
        }
        self.browser.preview = match preview {
            Ok(data) => PreviewPane::Ready(Box::new(data)),
            Err(error) => PreviewPane::Failed { target, error },
        };
    }

    /// A selection as the reprocess will apply it, in SQL.
    pub fn predicate(&self, selection: &Selection) -> String {
        selection.predicate(&self.info.summarizer)
    }

    pub fn on_reprocess_progress(&mut self, progress: ReprocessProgress) {
        let Some(ReprocessState::Running { step, ratio, .. }) = &mut self.reprocess else {
            return;
        };
        let fraction = |done: f64, total: f64| if total > 0.0 { done / total } else { 0.0 };
        (*step, *ratio) = match progress {
            ReprocessProgress::Selected {
                rows, raw_files, ..
            } => (
                format!("{rows} rows selected, reading 0/{raw_files} articles files"),
                0.0,
            ),
            ReprocessProgress::ArticlesRead { done, total } => (
                format!("{done}/{total} articles files read"),
                0.2 * fraction(done as f64, total as f64),
            ),
            ReprocessProgress::Summarized { done, total } => (
                format!("{done}/{total} rows summarized"),
                0.2 + 0.75 * fraction(done as f64, total as f64),
            ),
            ReprocessProgress::Committing { files } => {
                (format!("committing ({files} files replaced)"), 0.95)
            }
        };
    }

    /// A finished reprocess changed the bucket: the listing is asked for again.
    pub fn on_reprocess_end(
        &mut self,
        predicate: String,
        result: Result<ReprocessReport, String>,
    ) -> Option<Effect> {
        match result {
            Ok(report) => {
                self.set_status(format!(
                    "reprocessed {} rows where {predicate} with {}",
                    report.rows, report.summarizer
                ));
                self.reprocess = Some(ReprocessState::Done(report));
                // A preview taken before is out of date; the pane says what was done instead.
                self.browser.preview = PreviewPane::Empty;
                self.browser.loading = true;
                Some(Effect::ListPartitions)
            }
            Err(error) => {
                self.set_status(format!("reprocess where {predicate} failed (see Logs)"));
                self.reprocess = Some(ReprocessState::Failed { predicate, error });
                None
            }
        }
    }
}

/// The narrowest the article pane gets (58% of 80 columns, less borders): the scroll bound used
/// before the article has been drawn once.
const ARTICLE_MIN_WIDTH: usize = 44;

/// The article as the pane shows it: title, a blank line, the text.
pub fn article_text(sample: &Sample) -> String {
    format!(
        "{}\n\n{}",
        sample.title.as_deref().unwrap_or("(no title)"),
        sample.content
    )
}

/// Lines `text` takes when wrapped word by word at `width` columns (how the pane wraps it).
pub fn wrapped_lines(text: &str, width: usize) -> usize {
    let width = width.max(1);
    text.split('\n')
        .map(|line| {
            let (mut lines, mut used) = (1, 0);
            for word in line.split(' ').filter(|w| !w.is_empty()) {
                let len = word.chars().count();
                if used > 0 && used + 1 + len <= width {
                    used += 1 + len;
                } else {
                    if used > 0 {
                        lines += 1;
                    }
                    // A word longer than the pane is cut over several lines.
                    lines += (len.max(1) - 1) / width;
                    used = (len - 1) % width + 1;
                }
            }
            lines
        })
        .sum()
}

fn step(current: usize, by: isize, max: usize) -> usize {
    (current as isize).saturating_add(by).clamp(0, max as isize) as usize
}
