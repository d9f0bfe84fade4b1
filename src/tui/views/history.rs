//! A table's whole history, opened from the Tables view: every version the log keeps with what
//! made it, its rows and files and its writer; Enter on a reprocess or a backfill (or on any
//! version of a candidate table) compares the two summarizers on the rows it changed.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

use super::widgets::{fit, message_panel, panel};
use crate::maintenance::history::{Comparison, Side};
use crate::maintenance::inventory::CommitSummary;
use crate::pipeline::sink::commit::parse_app_id;
use crate::pipeline::sink::lake::{TableKind, LAKE_PREFIX};
use crate::tui::effect::{Effect, Reply};
use crate::tui::keymap::Action;
use crate::tui::list::{moved, movement, Ctx, Cursor};

/// Side by side, in the compare pane: at most this many rows, changed ones first.
const PAIRS: usize = 200;

#[derive(Debug)]
pub struct History {
    /// `lake/<table>`.
    pub path: String,
    pub loading: bool,
    /// Newest first.
    pub commits: Vec<CommitSummary>,
    pub error: Option<String>,
    pub cursor: Cursor,
    pub compare: Option<Compare>,
}

/// Two summarizers on the same rows: the version compared (None: a candidate table against the
/// summaries table) and, once read, the comparison.
#[derive(Debug)]
pub struct Compare {
    pub version: Option<i64>,
    pub result: Option<Result<Comparison, String>>,
    pub scroll: usize,
}

impl History {
    /// The history of the table at `path`, and the read that fills it.
    pub fn open(path: &str) -> (Self, Effect) {
        let history = Self {
            path: path.to_string(),
            loading: true,
            commits: Vec::new(),
            error: None,
            cursor: Cursor::default(),
            compare: None,
        };
        (history, Effect::History(path.to_string()))
    }

    fn is_candidate(&self) -> bool {
        TableKind::parse(self.path.trim_start_matches(LAKE_PREFIX)).is_none()
    }

    /// Esc: the comparison, else nothing of the history's (the Tables view closes it).
    pub fn close(&mut self) -> bool {
        self.compare.take().is_some()
    }

    pub fn on_action(&mut self, action: Action) -> Reply {
        if let Some(compare) = &mut self.compare {
            if let Some(by) = movement(action) {
                compare.scroll = moved(compare.scroll, by, usize::MAX / 4);
            }
            return Reply::default();
        }
        match action {
            Action::Open => self.compare_selected(),
            Action::Refresh if !self.loading => {
                self.loading = true;
                Reply::effect(Effect::History(self.path.clone()))
            }
            _ => {
                self.cursor.step(action, self.commits.len());
                Reply::default()
            }
        }
    }

    fn compare_selected(&mut self) -> Reply {
        let Some(commit) = self.commits.get(self.cursor.at) else {
            return Reply::default();
        };
        let version = if self.is_candidate() {
            None
        } else if commit.kind.is_rewrite() {
            Some(commit.version)
        } else {
            return Reply::status(format!(
                "version {} is a {}: Enter compares the summaries of a reprocess or a backfill",
                commit.version,
                commit.kind.name()
            ));
        };
        self.compare = Some(Compare {
            version,
            result: None,
            scroll: 0,
        });
        Reply::effect(Effect::Compare {
            path: self.path.clone(),
            version,
        })
    }

    pub fn on_history(&mut self, commits: Result<Vec<CommitSummary>, String>) {
        self.loading = false;
        match commits {
            Ok(mut commits) => {
                commits.reverse();
                self.commits = commits;
                self.error = None;
            }
            Err(error) => self.error = Some(error),
        }
        self.cursor.clamp(self.commits.len());
    }

    pub fn on_compared(&mut self, version: Option<i64>, result: Result<Comparison, String>) {
        if let Some(compare) = self.compare.as_mut().filter(|c| c.version == version) {
            compare.result = Some(result);
        }
    }

    pub fn render(&self, frame: &mut Frame, area: Rect, ctx: &Ctx) {
        match &self.compare {
            Some(compare) => self.render_compare(frame, area, ctx, compare),
            None => self.render_commits(frame, area, ctx),
        }
    }

    fn render_commits(&self, frame: &mut Frame, area: Rect, ctx: &Ctx) {
        let theme = ctx.theme;
        let title = format!(
            "history of {} ({} versions) · Enter on a reprocess or backfill compares · Esc back",
            self.path,
            self.commits.len()
        );
        let title = fit(&title, area.width.saturating_sub(6) as usize);
        let message = match (&self.error, self.loading) {
            (Some(error), _) => Some(Span::styled(
                format!("reading failed: {error}"),
                theme.error(),
            )),
            (None, true) => Some(Span::styled("reading the table's log…", theme.muted())),
            _ => None,
        };
        if let Some(message) = message {
            frame.render_widget(message_panel(theme, title, message), area);
            return;
        }
        let rows: Vec<Row> = self
            .commits
            .iter()
            .map(|c| {
                let operation = if c.kind.is_rewrite() {
                    Span::styled(c.kind.name().to_string(), theme.accent())
                } else {
                    Span::raw(c.kind.name().to_string())
                };
                Row::new(vec![
                    Cell::from(c.version.to_string()),
                    Cell::from(
                        c.when
                            .map_or("?".into(), |w| w.format("%m-%d %H:%M:%S").to_string()),
                    ),
                    Cell::from(operation),
                    Cell::from(c.rows_added.to_string()),
                    Cell::from(format!("+{} -{}", c.files_added, c.files_removed)),
                    Cell::from(writer(c)),
                ])
            })
            .collect();
        let widths = [
            Constraint::Length(7),
            Constraint::Length(15),
            Constraint::Length(10),
            Constraint::Length(8),
            Constraint::Length(9),
            Constraint::Min(10),
        ];
        let header = [
            "version",
            "when (UTC)",
            "operation",
            "rows",
            "files",
            "writer",
        ];
        let table = Table::new(rows, widths)
            .header(Row::new(header).style(theme.title()))
            .style(theme.base())
            .row_highlight_style(theme.selected())
            .block(panel(theme, title, true));
        let mut state = TableState::default().with_selected(Some(self.cursor.at));
        frame.render_stateful_widget(table, area, &mut state);
    }

    fn render_compare(&self, frame: &mut Frame, area: Rect, ctx: &Ctx, compare: &Compare) {
        let theme = ctx.theme;
        let what = match compare.version {
            Some(v) => format!(
                "version {v} of {}: the rows it replaced and wrote",
                self.path
            ),
            None => format!("{} against lake/summaries", self.path),
        };
        let lines = match &compare.result {
            None => vec![Line::from(Span::styled(
                "reading both sides…",
                theme.muted(),
            ))],
            Some(Err(error)) => vec![Line::from(Span::styled(error.clone(), theme.error()))],
            Some(Ok(c)) => comparison_lines(c, ctx),
        };
        let scroll = compare.scroll.min(lines.len()).min(u16::MAX as usize) as u16;
        let title = fit(
            &format!("{what} · ↑↓ scroll · Esc back"),
            area.width.saturating_sub(6) as usize,
        );
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .scroll((scroll, 0))
                .style(theme.base())
                .block(panel(theme, title, true)),
            area,
        );
    }
}

/// The figures, then the rows side by side, changed first.
fn comparison_lines(c: &Comparison, ctx: &Ctx) -> Vec<Line<'static>> {
    let theme = ctx.theme;
    let side = |name: &str, s: &Side| {
        Line::from(vec![
            Span::styled(format!("{name} "), theme.title()),
            Span::raw(s.text()),
        ])
    };
    let mut lines = vec![
        Line::from(Span::styled(c.headline(), theme.accent())),
        side("old", &c.old),
        side("new", &c.new),
    ];
    let text = |s: &Option<String>| s.clone().unwrap_or_else(|| "(none)".into());
    for pair in c.pairs.iter().take(PAIRS) {
        lines.push(Line::raw(""));
        lines.push(Line::from(Span::styled(
            format!(
                "{} {}",
                pair.article_id,
                pair.title.as_deref().unwrap_or("")
            ),
            theme.title(),
        )));
        lines.push(Line::from(vec![
            Span::styled("old ", theme.muted()),
            Span::styled(text(&pair.old), theme.muted()),
        ]));
        lines.push(Line::from(vec![
            Span::styled("new ", theme.muted()),
            Span::raw(text(&pair.new)),
        ]));
    }
    lines
}

/// Who wrote a commit, short: a stream commit's shard (`shardId-000000000001` as `shard 1`), a
/// rewrite's summarizer.
pub fn writer(c: &CommitSummary) -> String {
    match (&c.chunk, &c.summarizer) {
        (Some((app, _)), _) => {
            let shard = parse_app_id(app).map_or(app.as_str(), |(_, shard)| shard);
            match shard.strip_prefix("shardId-") {
                Some(n) => format!("shard {}", n.trim_start_matches('0').max("0")),
                None => shard.to_string(),
            }
        }
        (None, Some(summarizer)) => summarizer.clone(),
        _ => String::new(),
    }
}
