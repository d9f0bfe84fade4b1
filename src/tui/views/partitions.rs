//! The tables' current snapshots as folders (table → partition → files) with counts, sizes and
//! the table's version, a polars preview of the selected table, partition or file, and `r` to
//! reprocess the previewed day.

use chrono::NaiveDate;
use ratatui::crossterm::event::KeyCode;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Clear, Gauge, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

use super::widgets::{centered, fit, message_panel, panel, yes_no};
use crate::browser::{human_bytes, Entry, Tree};
use crate::maintenance::reprocess::{ReprocessProgress, ReprocessReport, Selection};
use crate::tui::effect::{Effect, Reply};
use crate::tui::jobs::{Jobs, Notice, PreviewData};
use crate::tui::keymap::Action;
use crate::tui::list::{moved, movement, Ctx, Cursor};

/// The browser's preview pane.
#[derive(Debug, Clone, PartialEq)]
pub enum PreviewPane {
    Empty,
    Loading(String),
    Ready(Box<PreviewData>),
    Failed { target: String, error: String },
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

#[derive(Debug, Default)]
pub struct PartitionsView {
    pub browser: Browser,
    /// The reprocess asked for, waiting for a yes.
    pub confirm: Option<Selection>,
    pub reprocess: Option<ReprocessState>,
    /// The preview row shown in full (Enter on a preview), and how far it is scrolled.
    pub record: Option<usize>,
    pub record_scroll: usize,
}

impl PartitionsView {
    /// Entries of the current folder, after the filter.
    pub fn visible(&self, ctx: &Ctx) -> Vec<Entry> {
        self.browser
            .tree
            .as_ref()
            .map(|t| t.children(&self.browser.prefix))
            .unwrap_or_default()
            .into_iter()
            .filter(|e| ctx.matches(&e.name))
            .collect()
    }

    pub fn selected_entry(&self, ctx: &Ctx) -> Option<Entry> {
        self.visible(ctx).get(self.browser.selected).cloned()
    }

    pub fn clamp(&mut self, ctx: &Ctx) {
        let len = self.visible(ctx).len();
        self.browser.selected = self.browser.selected.min(len.saturating_sub(1));
    }

    /// The listing, asked for when it is not there yet; None when it is.
    pub fn list_if_needed(&mut self) -> Option<Effect> {
        if self.browser.tree.is_some() || self.browser.loading {
            return None;
        }
        self.browser.loading = true;
        Some(Effect::ListPartitions)
    }

    /// Whether Esc has something of this view's to close.
    pub fn close(&mut self) -> bool {
        if self.record.take().is_some() {
            return true;
        }
        if self.browser.preview == PreviewPane::Empty {
            return false;
        }
        self.browser.preview = PreviewPane::Empty;
        true
    }

    pub fn on_action(&mut self, action: Action, ctx: &Ctx) -> Reply {
        if self.record.is_some() {
            if let Some(by) = movement(action) {
                self.record_scroll = moved(self.record_scroll, by, usize::MAX / 4);
            } else if action == Action::Back {
                self.record = None;
            }
            return Reply::default();
        }
        // With a preview shown, Enter opens its top row in full, as the Samples view opens an
        // article (Esc closes the preview to browse folders again).
        if let (Action::Open, PreviewPane::Ready(data)) = (action, &self.browser.preview) {
            if self.browser.preview_scroll < data.table.rows.len() {
                self.record = Some(self.browser.preview_scroll);
                self.record_scroll = 0;
            }
            return Reply::default();
        }
        let mut cursor = Cursor {
            at: self.browser.selected,
        };
        if cursor.step(action, self.visible(ctx).len()) {
            self.browser.selected = cursor.at;
            return Reply::default();
        }
        match action {
            Action::Open => self.open(ctx),
            Action::Back => self.back(ctx),
            Action::Preview => self.preview_selected(ctx),
            Action::ScrollPreviewDown => {
                if let PreviewPane::Ready(data) = &self.browser.preview {
                    let max = data.table.rows.len().saturating_sub(1);
                    self.browser.preview_scroll = (self.browser.preview_scroll + 1).min(max);
                }
                Reply::default()
            }
            Action::ScrollPreviewUp => {
                self.browser.preview_scroll = self.browser.preview_scroll.saturating_sub(1);
                Reply::default()
            }
            Action::Refresh => {
                self.browser.loading = true;
                Reply::effect(Effect::ListPartitions)
            }
            Action::Reprocess => self.ask_reprocess(ctx),
            _ => Reply::default(),
        }
    }

    /// A key while the reprocess prompt is up; None when it is not.
    pub fn on_prompt_key(&mut self, code: KeyCode, ctx: &Ctx) -> Option<Reply> {
        let selection = self.confirm.as_ref()?;
        Some(match code {
            KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => {
                let selection = selection.clone();
                self.confirm = None;
                self.reprocess = Some(ReprocessState::Running {
                    predicate: selection.predicate(&ctx.info.summarizer),
                    step: "reading the summaries".to_string(),
                    ratio: 0.0,
                });
                Reply::effect(Effect::Reprocess(selection))
            }
            KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                self.confirm = None;
                Reply::status("reprocess cancelled")
            }
            _ => Reply::default(),
        })
    }

    fn open(&mut self, ctx: &Ctx) -> Reply {
        let Some(entry) = self.selected_entry(ctx) else {
            return Reply::default();
        };
        if !entry.is_folder {
            return self.start_preview(entry.path);
        }
        self.browser.prefix = entry.path;
        self.browser.selected = 0;
        Reply {
            clear_filter: true,
            ..Reply::default()
        }
    }

    fn back(&mut self, ctx: &Ctx) -> Reply {
        let trimmed = self.browser.prefix.trim_end_matches('/');
        let parent = trimmed
            .rfind('/')
            .map_or(String::new(), |i| trimmed[..=i].to_string());
        let left = std::mem::replace(&mut self.browser.prefix, parent);
        // Land on the folder just left (the filter is cleared with the move).
        let unfiltered = Ctx { filter: "", ..*ctx };
        self.browser.selected = self
            .visible(&unfiltered)
            .iter()
            .position(|e| e.path == left)
            .unwrap_or(0);
        Reply {
            clear_filter: true,
            ..Reply::default()
        }
    }

    fn preview_selected(&mut self, ctx: &Ctx) -> Reply {
        match self.selected_entry(ctx) {
            Some(entry) => self.start_preview(entry.path),
            None if !self.browser.prefix.is_empty() => {
                self.start_preview(self.browser.prefix.clone())
            }
            None => Reply::default(),
        }
    }

    pub fn start_preview(&mut self, target: String) -> Reply {
        self.record = None;
        self.browser.preview = PreviewPane::Loading(target.clone());
        self.browser.preview_scroll = 0;
        Reply::effect(Effect::Preview(target))
    }

    /// The publish day `r` would rewrite: that of the previewed summaries row at the top of
    /// the preview pane.
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

    fn ask_reprocess(&mut self, ctx: &Ctx) -> Reply {
        if ctx.quitting {
            return Reply::status("stopping: no reprocess starts now");
        }
        if matches!(self.reprocess, Some(ReprocessState::Running { .. })) {
            return Reply::status("a reprocess is already running; wait for it to finish");
        }
        match self.reprocess_target() {
            Some(dt) => {
                self.confirm = Some(Selection::day(dt));
                Reply::default()
            }
            None => Reply::status(
                "r rewrites one publish day of summaries: preview lake/summaries and scroll to a row of that day",
            ),
        }
    }

    /// An answer of the listing, a preview or a reprocess, taken from `jobs`.
    pub fn on_notice(&mut self, notice: Notice, jobs: &Jobs, ctx: &Ctx) -> Reply {
        match notice {
            Notice::Listing => {
                if let Some(listing) = jobs.listing.take() {
                    self.on_listing(listing, ctx);
                }
            }
            Notice::Preview => {
                if let Some((target, preview)) = jobs.preview.take() {
                    self.on_preview(target, preview);
                }
            }
            Notice::ReprocessProgress => {
                if let Some(progress) = jobs.reprocess_progress.take() {
                    self.on_reprocess_progress(progress);
                }
            }
            Notice::ReprocessEnd => {
                if let Some((predicate, result)) = jobs.reprocess_end.take() {
                    return self.on_reprocess_end(predicate, result);
                }
            }
            _ => {}
        }
        Reply::default()
    }

    fn on_listing(&mut self, listing: Result<Tree, String>, ctx: &Ctx) {
        self.browser.loading = false;
        match listing {
            Ok(tree) => {
                self.browser.tree = Some(tree);
                self.browser.error = None;
            }
            Err(error) => self.browser.error = Some(error),
        }
        self.clamp(ctx);
    }

    fn on_preview(&mut self, target: String, preview: Result<PreviewData, String>) {
        // A later request replaced this one: drop the stale answer.
        if self.browser.preview != PreviewPane::Loading(target.clone()) {
            return;
        }
        self.browser.preview = match preview {
            Ok(data) => PreviewPane::Ready(Box::new(data)),
            Err(error) => PreviewPane::Failed { target, error },
        };
    }

    fn on_reprocess_progress(&mut self, progress: ReprocessProgress) {
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
    fn on_reprocess_end(
        &mut self,
        predicate: String,
        result: Result<ReprocessReport, String>,
    ) -> Reply {
        match result {
            Ok(report) => {
                let status = format!(
                    "reprocessed {} rows where {predicate} with {}",
                    report.rows, report.summarizer
                );
                self.reprocess = Some(ReprocessState::Done(report));
                // A preview taken before is out of date; the pane says what was done instead.
                self.browser.preview = PreviewPane::Empty;
                self.browser.loading = true;
                Reply {
                    effect: Some(Effect::ListPartitions),
                    status: Some(status),
                    ..Reply::default()
                }
            }
            Err(error) => {
                let status = format!("reprocess where {predicate} failed (see Logs)");
                self.reprocess = Some(ReprocessState::Failed { predicate, error });
                Reply::status(status)
            }
        }
    }

    pub fn render(&self, frame: &mut Frame, area: Rect, ctx: &Ctx) {
        if let (Some(row), PreviewPane::Ready(data)) = (self.record, &self.browser.preview) {
            return self.render_record(frame, area, ctx, data, row);
        }
        let progress_height = u16::from(matches!(
            self.reprocess,
            Some(ReprocessState::Running { .. })
        ));
        let [list, progress, preview] = Layout::vertical([
            Constraint::Percentage(40),
            Constraint::Length(progress_height),
            Constraint::Min(5),
        ])
        .areas(area);
        self.render_list(frame, list, ctx);
        self.render_progress(frame, progress, ctx);
        self.render_preview(frame, preview, ctx);
    }

    /// One preview row, every column in full: the article, its summary, its lineage.
    fn render_record(
        &self,
        frame: &mut Frame,
        area: Rect,
        ctx: &Ctx,
        data: &PreviewData,
        row: usize,
    ) {
        let theme = ctx.theme;
        let mut lines = Vec::new();
        for (column, value) in data.table.columns.iter().zip(&data.table.rows[row]) {
            lines.push(Line::from(Span::styled(column.clone(), theme.title())));
            lines.push(Line::raw(if value.is_empty() {
                "(null)".to_string()
            } else {
                value.clone()
            }));
            lines.push(Line::raw(""));
        }
        let scroll = self.record_scroll.min(lines.len()).min(u16::MAX as usize) as u16;
        let title = format!(
            "{} · row {} of {} · ↑↓ scroll · Esc back",
            data.target,
            row + 1,
            data.table.rows.len()
        );
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .scroll((scroll, 0))
                .style(theme.base())
                .block(panel(
                    theme,
                    fit(&title, area.width.saturating_sub(6) as usize),
                    true,
                )),
            area,
        );
    }

    fn render_list(&self, frame: &mut Frame, area: Rect, ctx: &Ctx) {
        let theme = ctx.theme;
        let version = self
            .browser
            .tree
            .as_ref()
            .and_then(|tree| tree.version(&self.browser.prefix))
            .map_or(String::new(), |v| format!(" · version {v}"));
        let title = format!("s3://{}/{}{version}", ctx.info.bucket, self.browser.prefix);
        let title = fit(&title, area.width.saturating_sub(6) as usize);
        if self.browser.tree.is_none() || self.browser.error.is_some() {
            let message = match (&self.browser.error, self.browser.loading) {
                (Some(error), _) => Span::styled(
                    format!("listing failed: {error} (u retries)"),
                    theme.error(),
                ),
                (None, true) => Span::styled("reading the tables…", theme.muted()),
                (None, false) => Span::styled("press u to read the tables", theme.muted()),
            };
            frame.render_widget(message_panel(theme, title, message), area);
            return;
        }
        let entries = self.visible(ctx);
        if entries.is_empty() {
            let message = if ctx.filter.is_empty() {
                "nothing written here yet"
            } else {
                "no entry matches the filter (Esc clears it)"
            };
            frame.render_widget(
                Paragraph::new(Span::styled(message, theme.muted()))
                    .block(panel(theme, title, true)),
                area,
            );
            return;
        }
        let rows: Vec<Row> = entries
            .iter()
            .map(|e| {
                let name = if e.is_folder {
                    format!("{}/", e.name)
                } else {
                    e.name.clone()
                };
                Row::new(vec![
                    Cell::from(name),
                    Cell::from(e.files.to_string()),
                    Cell::from(human_bytes(e.bytes)),
                ])
            })
            .collect();
        let table = Table::new(
            rows,
            [
                Constraint::Min(20),
                Constraint::Length(7),
                Constraint::Length(10),
            ],
        )
        .header(Row::new(["name", "files", "size"]).style(theme.title()))
        .style(theme.base())
        .row_highlight_style(theme.selected())
        .block(panel(theme, title, true));
        let mut state = TableState::default().with_selected(Some(self.browser.selected));
        frame.render_stateful_widget(table, area, &mut state);
    }

    fn render_progress(&self, frame: &mut Frame, area: Rect, ctx: &Ctx) {
        if area.height == 0 {
            return;
        }
        if let Some(ReprocessState::Running {
            predicate,
            step,
            ratio,
        }) = &self.reprocess
        {
            let theme = ctx.theme;
            frame.render_widget(
                Gauge::default()
                    .ratio(ratio.clamp(0.0, 1.0))
                    .label(format!("reprocessing where {predicate}: {step}"))
                    .gauge_style(theme.warning()),
                area,
            );
        }
    }

    fn render_preview(&self, frame: &mut Frame, area: Rect, ctx: &Ctx) {
        let theme = ctx.theme;
        match &self.browser.preview {
            PreviewPane::Empty => {
                let mut lines = vec![Line::from(Span::styled(
                    "v previews the selected partition or file · Enter opens a folder",
                    theme.muted(),
                ))];
                if let Some(dt) = self.reprocess_target() {
                    lines.push(Line::from(Span::styled(
                        format!(
                            "r reprocesses the summaries published on {dt} with {}",
                            ctx.info.summarizer
                        ),
                        theme.muted(),
                    )));
                }
                if let Some(done) = self.last_reprocess(ctx) {
                    lines.push(done);
                }
                frame.render_widget(
                    Paragraph::new(lines)
                        .wrap(Wrap { trim: true })
                        .block(panel(theme, "preview", false)),
                    area,
                );
            }
            PreviewPane::Loading(target) => frame.render_widget(
                Paragraph::new(Span::styled(
                    format!("reading {target} with polars…"),
                    theme.muted(),
                ))
                .block(panel(theme, "preview", false)),
                area,
            ),
            PreviewPane::Failed { target, error } => frame.render_widget(
                Paragraph::new(Span::styled(format!("{target}: {error}"), theme.error()))
                    .wrap(Wrap { trim: true })
                    .block(panel(theme, "preview", false)),
                area,
            ),
            PreviewPane::Ready(data) => self.render_table(frame, area, ctx, data),
        }
    }

    fn last_reprocess(&self, ctx: &Ctx) -> Option<Line<'static>> {
        let theme = ctx.theme;
        match &self.reprocess {
            Some(ReprocessState::Done(r)) => Some(Line::from(Span::styled(
                format!(
                    "last reprocess: {} · {} rows rewritten in {:.1} s · {} files replaced (table version {})",
                    r.predicate,
                    r.rows,
                    r.elapsed.as_secs_f64(),
                    r.files_replaced,
                    r.version
                ),
                theme.good(),
            ))),
            Some(ReprocessState::Failed { predicate, error }) => Some(Line::from(Span::styled(
                format!("reprocess where {predicate} failed: {error}"),
                theme.error(),
            ))),
            _ => None,
        }
    }

    fn render_table(&self, frame: &mut Frame, area: Rect, ctx: &Ctx, data: &PreviewData) {
        let theme = ctx.theme;
        let [stats, table_area] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
        let s = &data.stats;
        let rows = if s.rows == 1 { "row" } else { "rows" };
        let mut stat_spans = vec![Span::styled(format!(" {} {rows}", s.rows), theme.accent())];
        if let Some(mean) = s.mean_word_count {
            stat_spans.push(Span::raw(format!(" · mean word_count {mean:.1}")));
        }
        if let Some(mean) = s.mean_summary_word_count {
            stat_spans.push(Span::raw(format!(" · mean summary words {mean:.1}")));
        }
        stat_spans.push(Span::styled(
            format!(" · {}", s.nulls_text()),
            theme.muted(),
        ));
        if data.files_read < data.files_total {
            stat_spans.push(Span::styled(
                format!(" · over {} of {} files", data.files_read, data.files_total),
                theme.warning(),
            ));
        }
        frame.render_widget(Paragraph::new(Line::from(stat_spans)), stats);

        // As many columns as fit at a readable width; the first ones are the telling ones.
        let inner = table_area.width.saturating_sub(2) as usize;
        let shown = (inner / 14).clamp(1, data.table.columns.len().max(1));
        let widths: Vec<Constraint> = (0..shown)
            .map(|i| match data.table.columns.get(i).map(String::as_str) {
                Some("word_count" | "summary_word_count") => Constraint::Length(10),
                Some("summary" | "content" | "reason" | "payload_text") => Constraint::Fill(3),
                Some("title") => Constraint::Fill(2),
                _ => Constraint::Fill(1),
            })
            .collect();
        let rows: Vec<Row> = data
            .table
            .rows
            .iter()
            .skip(self.browser.preview_scroll)
            .map(|r| Row::new(r.iter().take(shown).cloned().map(Cell::from)))
            .collect();
        let header = Row::new(data.table.columns.iter().take(shown).cloned()).style(theme.title());
        let title = format!(
            "preview {} · rows {}-{} · J/K scroll · Enter opens the top row",
            data.target,
            (self.browser.preview_scroll + 1).min(data.table.rows.len()),
            data.table.rows.len()
        );
        frame.render_widget(
            Table::new(rows, widths)
                .header(header)
                .style(theme.base())
                .block(panel(theme, fit(&title, inner.saturating_sub(2)), false)),
            table_area,
        );
    }

    /// The reprocess prompt, over the whole screen, while it waits for a yes.
    pub fn render_prompt(&self, frame: &mut Frame, area: Rect, ctx: &Ctx) {
        let Some(selection) = &self.confirm else {
            return;
        };
        let theme = ctx.theme;
        let popup = centered(area, 72, 11);
        frame.render_widget(Clear, popup);
        let text = vec![
            Line::from(Span::styled("Reprocess the summaries rows where", theme.title())),
            Line::from(Span::styled(selection.predicate(&ctx.info.summarizer), theme.accent())),
            Line::raw(""),
            Line::raw(format!(
                "Reads their source rows from lake/articles, summarizes them again with {}, and replaces them in lake/summaries in one commit.",
                ctx.info.summarizer
            )),
            Line::raw(""),
            yes_no(theme, "reprocess", "cancel"),
        ];
        frame.render_widget(
            Paragraph::new(text)
                .wrap(Wrap { trim: true })
                .style(theme.base())
                .block(panel(theme, "confirm", true)),
            popup,
        );
    }
}
