//! The tables as an operator thinks of them: per table its version, rows, files and size; for
//! the selected one its splits, a file-size histogram (small files stand out), the last commits,
//! and the version `v` would preview (time travel with `<` and `>`).

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Clear, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use super::history::{writer, History};
use super::widgets::{centered, fit, message_panel, panel, tail};
use crate::browser::human_bytes;
use crate::maintenance::compact::CompactReport;
use crate::maintenance::export::{ExportReport, Format};
use crate::maintenance::inventory::{bucket_labels, TableSummary, SIZE_BUCKETS_MIB};
use crate::pipeline::sink::lake::{TableKind, LAKE_PREFIX};
use crate::tui::effect::{Effect, Export, Reply};
use crate::tui::jobs::{Jobs, Notice};
use crate::tui::keymap::Action;
use crate::tui::list::{Ctx, Cursor};

/// Histogram buckets under this size (MiB) are drawn as a warning: files a trainer pays for.
const SMALL_MIB: u64 = 32;

/// `x`: where the selected table's rows go, as typed, until Enter or Esc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportPrompt {
    /// `lake/<table>`.
    pub path: String,
    pub version: i64,
    pub to: String,
    /// Why Enter did not start it.
    pub error: Option<String>,
}

/// An export under way: what goes where, and how far it is (files read, of how many).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exporting {
    pub request: Export,
    pub files: Option<(usize, usize)>,
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

#[derive(Debug, Default)]
pub struct TablesView {
    pub cursor: Cursor,
    pub pane: TablesPane,
    /// The selected table's whole history, while it is looked at.
    pub history: Option<History>,
    pub export_prompt: Option<ExportPrompt>,
    pub exporting: Option<Exporting>,
}

impl TablesView {
    /// The tables change with every commit: read again each time the view opens.
    pub fn load(&mut self) -> Option<Effect> {
        if self.pane.loading {
            return None;
        }
        self.pane.loading = true;
        Some(Effect::LoadTables)
    }

    pub fn selected_table(&self) -> Option<&TableSummary> {
        self.pane.tables.get(self.cursor.at)
    }

    /// The version `v` previews: the selected table's latest, less `back`.
    pub fn time_travel_version(&self) -> Option<i64> {
        self.selected_table()
            .map(|t| (t.version - self.pane.back).max(0))
    }

    /// An answer of background work this view asked for, taken from `jobs`.
    pub fn on_notice(&mut self, notice: Notice, jobs: &Jobs) -> Reply {
        match notice {
            Notice::Tables => {
                if let Some(tables) = jobs.tables.take() {
                    self.on_tables(tables);
                }
            }
            Notice::Compaction => {
                if let Some((kind, result)) = jobs.compaction.take() {
                    return self.on_compact_end(kind, result);
                }
            }
            Notice::History => {
                if let Some((path, commits)) = jobs.history.take() {
                    // Dropped when the history was closed, or another table's opened since.
                    if let Some(history) = self.history.as_mut().filter(|h| h.path == path) {
                        history.on_history(commits);
                    }
                }
            }
            Notice::Compared => {
                if let Some((path, version, result)) = jobs.compared.take() {
                    if let Some(history) = self.history.as_mut().filter(|h| h.path == path) {
                        history.on_compared(version, result);
                    }
                }
            }
            Notice::ExportProgress => {
                if let (Some(files), Some(exporting)) =
                    (jobs.export_progress.take(), &mut self.exporting)
                {
                    exporting.files = Some(files);
                }
            }
            Notice::ExportEnd => {
                if let Some(result) = jobs.export_end.take() {
                    return self.on_export_end(result);
                }
            }
            _ => {}
        }
        Reply::default()
    }

    fn on_tables(&mut self, tables: Result<Vec<TableSummary>, String>) {
        self.pane.loading = false;
        match tables {
            Ok(tables) => {
                self.pane.tables = tables;
                self.pane.error = None;
            }
            Err(error) => self.pane.error = Some(error),
        }
        self.cursor.clamp(self.pane.tables.len());
    }

    fn on_compact_end(&mut self, kind: TableKind, result: Result<CompactReport, String>) -> Reply {
        self.pane.compacting = None;
        match result {
            Ok(report) => Reply {
                effect: self.load(),
                status: Some(match report.version {
                    Some(version) => format!(
                        "compacted {}: {} files into {} in version {version}",
                        kind.name(),
                        report.files_removed,
                        report.files_written
                    ),
                    None => format!("{}: no partition has two small files to merge", kind.name()),
                }),
                ..Reply::default()
            },
            Err(error) => Reply::status(format!("compaction of {} failed: {error}", kind.name())),
        }
    }

    /// Esc: the history's comparison, else the history.
    pub fn close(&mut self) -> bool {
        match &mut self.history {
            Some(history) => {
                if !history.close() {
                    self.history = None;
                }
                true
            }
            None => false,
        }
    }

    fn on_export_end(&mut self, result: Result<ExportReport, String>) -> Reply {
        let Some(Exporting { request, .. }) = self.exporting.take() else {
            return Reply::default();
        };
        let Export { path, version, to } = request;
        let report = match result {
            Ok(report) => report,
            Err(error) => return Reply::status(format!("export of {path} failed: {error}")),
        };
        let mut status = format!(
            "exported {} rows of {path} at version {version} to {}",
            report.rows,
            to.display()
        );
        if !report.multi_line.is_empty() {
            status.push_str(&format!(
                "; {} payloads hold a line break and were left out (export to .parquet keeps them)",
                report.multi_line.len()
            ));
        }
        Reply::status(status)
    }

    /// Whether an export or a compaction this view started is still running.
    pub fn busy(&self) -> bool {
        self.exporting.is_some() || self.pane.compacting.is_some()
    }

    /// `x`: ask where the selected table's rows at the time-travel version go.
    fn ask_export(&mut self, ctx: &Ctx) -> Reply {
        if ctx.quitting {
            return Reply::status("stopping: no export starts now");
        }
        if let Some(exporting) = &self.exporting {
            return Reply::status(format!(
                "exporting to {} already; wait for it to finish",
                exporting.request.to.display()
            ));
        }
        let (Some(table), Some(version)) = (self.selected_table(), self.time_travel_version())
        else {
            return Reply::default();
        };
        let name = table.path.trim_start_matches(LAKE_PREFIX);
        let file = format!("{name}-v{version}.jsonl");
        self.export_prompt = Some(ExportPrompt {
            path: table.path.clone(),
            version,
            to: ctx.info.workdir.join(file).display().to_string(),
            error: None,
        });
        Reply::default()
    }

    /// A key while the export prompt is open: the file name is edited (Ctrl-U clears it),
    /// Enter starts, Esc cancels. None when no prompt is open.
    pub fn on_prompt_key(&mut self, event: KeyEvent, ctx: &Ctx) -> Option<Reply> {
        let prompt = self.export_prompt.as_mut()?;
        let ctrl = event.modifiers.contains(KeyModifiers::CONTROL);
        match event.code {
            KeyCode::Enter if ctx.quitting => {
                self.export_prompt = None;
                return Some(Reply::status("stopping: no export starts now"));
            }
            KeyCode::Enter => {
                let to = ctx.info.workdir.join(prompt.to.trim());
                if let Err(error) = Format::of(&to) {
                    prompt.error = Some(format!("{error:#}"));
                    return Some(Reply::default());
                }
                let request = Export {
                    path: prompt.path.clone(),
                    version: prompt.version,
                    to,
                };
                self.export_prompt = None;
                self.exporting = Some(Exporting {
                    request: request.clone(),
                    files: None,
                });
                return Some(Reply::effect(Effect::Export(request)));
            }
            KeyCode::Esc => {
                self.export_prompt = None;
                return Some(Reply::status("export cancelled"));
            }
            KeyCode::Backspace => {
                prompt.to.pop();
            }
            KeyCode::Char('u') if ctrl => prompt.to.clear(),
            KeyCode::Char(c) if !ctrl => prompt.to.push(c),
            _ => {}
        }
        prompt.error = None;
        Some(Reply::default())
    }

    pub fn on_action(&mut self, action: Action, ctx: &Ctx) -> Reply {
        if let Some(history) = &mut self.history {
            return history.on_action(action);
        }
        if action == Action::Open {
            return match self.selected_table() {
                Some(table) => {
                    let (history, read) = History::open(&table.path);
                    self.history = Some(history);
                    Reply::effect(read)
                }
                None => Reply::default(),
            };
        }
        let before = self.cursor;
        if self.cursor.step(action, self.pane.tables.len()) {
            if self.cursor != before {
                self.pane.back = 0;
            }
            return Reply::default();
        }
        if action == Action::Refresh {
            return Reply {
                effect: self.load(),
                ..Reply::default()
            };
        }
        let (Some(table), Some(version)) = (self.selected_table(), self.time_travel_version())
        else {
            return Reply::status("no table yet: the pipeline creates them as it starts");
        };
        let (kind, latest, path) = (table.kind, table.version, table.path.clone());
        match action {
            Action::Compact if path != kind.path() => Reply::status(format!(
                "{path} is a candidate table: it is not compacted (a backfill writes it whole)"
            )),
            Action::Compact if ctx.quitting => Reply::status("stopping: no compaction starts now"),
            Action::Compact => match self.pane.compacting {
                Some(running) => Reply::status(format!(
                    "compacting {} already; wait for it to finish",
                    running.name()
                )),
                None => {
                    self.pane.compacting = Some(kind);
                    Reply {
                        effect: Some(Effect::Compact(kind)),
                        status: Some(format!("compacting {}…", kind.name())),
                        ..Reply::default()
                    }
                }
            },
            Action::OlderVersion => {
                self.pane.back = (self.pane.back + 1).min(latest);
                Reply::default()
            }
            Action::NewerVersion => {
                self.pane.back = (self.pane.back - 1).max(0);
                Reply::default()
            }
            Action::Preview => Reply {
                open_preview: Some(format!("{path}@{version}")),
                ..Reply::default()
            },
            Action::Export => self.ask_export(ctx),
            _ => Reply::default(),
        }
    }

    pub fn render(&self, frame: &mut Frame, area: Rect, ctx: &Ctx) {
        if let Some(history) = &self.history {
            return history.render(frame, area, ctx);
        }
        let theme = ctx.theme;
        let pane = &self.pane;
        if pane.tables.is_empty() {
            let message = match (&pane.error, pane.loading) {
                (Some(error), _) => Span::styled(
                    format!("reading the tables failed: {error} (u retries)"),
                    theme.error(),
                ),
                (None, true) => Span::styled("reading the tables…", theme.muted()),
                (None, false) => Span::styled(
                    "no table yet: the pipeline creates them as it starts (u reads again)",
                    theme.muted(),
                ),
            };
            frame.render_widget(message_panel(theme, "tables", message), area);
            return;
        }
        let [list, details, hint] = Layout::vertical([
            Constraint::Length(pane.tables.len() as u16 + 3),
            Constraint::Min(4),
            Constraint::Length(1),
        ])
        .areas(area);
        self.render_list(frame, list, ctx);
        if let Some(table) = self.selected_table() {
            let [left, right] =
                Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
                    .areas(details);
            self.render_files(frame, left, ctx, table);
            self.render_commits(frame, right, ctx, table);
            let version = self.time_travel_version().unwrap_or(table.version);
            let mut status = String::from(" ");
            if let Some(kind) = pane.compacting {
                status.push_str(&format!("compacting {}… · ", kind.name()));
            }
            if let Some(exporting) = &self.exporting {
                let files = exporting.files.map_or(String::new(), |(done, total)| {
                    format!(" {done}/{total} files")
                });
                status.push_str(&format!(
                    "exporting {}{files}… · ",
                    exporting.request.path.trim_start_matches(LAKE_PREFIX)
                ));
            }
            let key = |k: &'static str, what: String| {
                [
                    Span::styled(k, theme.key()),
                    Span::styled(what, theme.muted()),
                ]
            };
            let mut hints = vec![Span::styled(status, theme.warning())];
            hints.extend(key("c", " compact  ".into()));
            hints.extend(key("< >", format!(" version {version}  ")));
            hints.extend(key("v", " preview it  ".into()));
            hints.extend(key("x", " export it  ".into()));
            hints.extend(key("u", " read again".into()));
            frame.render_widget(Paragraph::new(Line::from(hints)), hint);
        }
        if let Some(prompt) = &self.export_prompt {
            render_export_prompt(frame, area, ctx, prompt);
        }
    }

    fn render_list(&self, frame: &mut Frame, area: Rect, ctx: &Ctx) {
        let theme = ctx.theme;
        let rows: Vec<Row> = self
            .pane
            .tables
            .iter()
            .map(|t| {
                Row::new(vec![
                    Cell::from(t.name.as_str()),
                    Cell::from(t.version.to_string()),
                    Cell::from(t.total.rows.to_string()),
                    Cell::from(t.total.files.to_string()),
                    Cell::from(human_bytes(t.total.bytes)),
                    Cell::from(human_bytes(t.median_file_bytes)),
                ])
            })
            .collect();
        let table = Table::new(
            rows,
            [
                Constraint::Min(11),
                Constraint::Length(8),
                Constraint::Length(10),
                Constraint::Length(7),
                Constraint::Length(10),
                Constraint::Length(12),
            ],
        )
        .header(
            Row::new(["table", "version", "rows", "files", "size", "median file"])
                .style(theme.title()),
        )
        .style(theme.base())
        .row_highlight_style(theme.selected())
        .block(panel(theme, format!("s3://{}/lake", ctx.info.bucket), true));
        let mut state = TableState::default().with_selected(Some(self.cursor.at));
        frame.render_stateful_widget(table, area, &mut state);
    }

    fn render_files(&self, frame: &mut Frame, area: Rect, ctx: &Ctx, table: &TableSummary) {
        let theme = ctx.theme;
        let mut lines = Vec::new();
        for (split, part) in &table.splits {
            lines.push(Line::raw(format!(
                "split={split:<11} {:>9} rows {:>5} files",
                part.rows, part.files
            )));
        }
        if !table.splits.is_empty() {
            lines.push(Line::raw(""));
        }
        lines.push(Line::from(Span::styled(
            "files by size (MiB)",
            theme.title(),
        )));
        let most = table.histogram.iter().copied().max().unwrap_or(0).max(1);
        let width = area.width.saturating_sub(22) as usize;
        let upper = SIZE_BUCKETS_MIB.iter().map(|&b| Some(b)).chain([None]);
        for ((label, count), upper) in bucket_labels().iter().zip(table.histogram).zip(upper) {
            let bar = "█".repeat((count * width).div_ceil(most).min(width));
            let style = if count > 0 && upper.is_some_and(|u| u <= SMALL_MIB) {
                theme.warning()
            } else {
                theme.good()
            };
            lines.push(Line::from(vec![
                Span::raw(format!("{label:>7} {count:>6} ")),
                Span::styled(bar, style),
            ]));
        }
        frame.render_widget(
            Paragraph::new(lines).block(panel(theme, format!("{} files", table.name), false)),
            area,
        );
    }

    fn render_commits(&self, frame: &mut Frame, area: Rect, ctx: &Ctx, table: &TableSummary) {
        let theme = ctx.theme;
        let chosen = self.time_travel_version();
        let rows: Vec<Row> = table
            .commits
            .iter()
            .map(|c| {
                let row = Row::new(vec![
                    Cell::from(c.version.to_string()),
                    Cell::from(
                        c.when
                            .map_or("?".into(), |w| w.format("%m-%d %H:%M:%S").to_string()),
                    ),
                    Cell::from(c.kind.name().to_string()),
                    Cell::from(format!("+{} -{}", c.files_added, c.files_removed)),
                    Cell::from(c.rows_added.to_string()),
                    Cell::from(writer(c)),
                ]);
                if Some(c.version) == chosen {
                    row.style(theme.accent())
                } else {
                    row
                }
            })
            .collect();
        let commits = Table::new(
            rows,
            [
                Constraint::Length(7),
                Constraint::Length(15),
                Constraint::Length(10),
                Constraint::Length(8),
                Constraint::Length(6),
                Constraint::Min(8),
            ],
        )
        .header(
            Row::new([
                "version",
                "when (UTC)",
                "operation",
                "files",
                "rows",
                "writer",
            ])
            .style(theme.title()),
        )
        .style(theme.base())
        .block(panel(theme, "last commits", false));
        frame.render_widget(commits, area);
    }
}

/// The export prompt: which rows, the file they go to (edited in place), and the formats.
fn render_export_prompt(frame: &mut Frame, area: Rect, ctx: &Ctx, prompt: &ExportPrompt) {
    let theme = ctx.theme;
    let popup = centered(area, area.width.saturating_sub(4).min(100), 8);
    let width = usize::from(popup.width.saturating_sub(6));
    let mut lines = vec![
        Line::from(vec![
            Span::raw("rows of "),
            Span::styled(prompt.path.clone(), theme.accent()),
            Span::raw(format!(" at version {} to:", prompt.version)),
        ]),
        Line::from(vec![Span::styled(
            format!("{}█", tail(&prompt.to, width)),
            theme.key(),
        )]),
        Line::raw(""),
    ];
    lines.push(match &prompt.error {
        Some(error) => Line::from(Span::styled(fit(error, width + 4), theme.error())),
        None => Line::from(Span::styled(
            "the extension says the format: .jsonl, .parquet or .csv",
            theme.muted(),
        )),
    });
    lines.push(Line::from(vec![
        Span::styled("Enter", theme.key()),
        Span::styled(" writes (replaces a file of that name)  ", theme.muted()),
        Span::styled("Ctrl-U", theme.key()),
        Span::styled(" clears  ", theme.muted()),
        Span::styled("Esc", theme.key()),
        Span::styled(" cancels", theme.muted()),
    ]));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .style(theme.base())
            .block(panel(theme, "export", true)),
        popup,
    );
}
