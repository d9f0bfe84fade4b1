//! The stream inspector, opened on a shard from the Shards view: the shard's records from its
//! trim horizon, read with iterators of its own (no checkpoint moves), each with the reason
//! précis would quarantine it; Enter shows one record in full.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

use super::widgets::{fit, message_panel, panel, tail};
use crate::pipeline::source::inspect::{Inspected, Payload};
use crate::tui::effect::{Effect, Reply};
use crate::tui::keymap::Action;
use crate::tui::list::{moved, movement, Ctx, Cursor};

/// Records read per look at a shard.
pub const RECORDS: usize = 500;

#[derive(Debug)]
pub struct Inspector {
    pub shard: String,
    pub loading: bool,
    pub records: Vec<Inspected>,
    pub error: Option<String>,
    pub cursor: Cursor,
    /// The record shown in full, and how far it is scrolled.
    pub open: Option<Inspected>,
    pub scroll: usize,
}

impl Inspector {
    /// An inspector on `shard`, and the read that fills it.
    pub fn open(shard: &str) -> (Self, Effect) {
        let inspector = Self {
            shard: shard.to_string(),
            loading: true,
            records: Vec::new(),
            error: None,
            cursor: Cursor::default(),
            open: None,
            scroll: 0,
        };
        (inspector, Effect::Inspect(shard.to_string()))
    }

    /// Records shown, after the filter.
    pub fn visible<'a>(&'a self, ctx: &Ctx) -> Vec<&'a Inspected> {
        self.records
            .iter()
            .filter(|r| r.matches(ctx.filter))
            .collect()
    }

    /// Esc: the open record, else nothing of the inspector's (the Shards view closes it).
    pub fn close(&mut self) -> bool {
        self.open.take().is_some()
    }

    pub fn on_action(&mut self, action: Action, ctx: &Ctx) -> Reply {
        if self.open.is_some() {
            if let Some(by) = movement(action) {
                self.scroll = moved(self.scroll, by, usize::MAX / 4);
            }
            return Reply::default();
        }
        match action {
            Action::Open => {
                self.open = self.visible(ctx).get(self.cursor.at).map(|r| (*r).clone());
                self.scroll = 0;
                Reply::default()
            }
            Action::Refresh if !self.loading => {
                self.loading = true;
                Reply::effect(Effect::Inspect(self.shard.clone()))
            }
            _ => {
                self.cursor.step(action, self.visible(ctx).len());
                Reply::default()
            }
        }
    }

    pub fn on_records(&mut self, records: Result<Vec<Inspected>, String>) {
        self.loading = false;
        match records {
            Ok(records) => {
                self.records = records;
                self.error = None;
            }
            Err(error) => self.error = Some(error),
        }
        self.cursor.clamp(self.records.len());
    }

    pub fn render(&self, frame: &mut Frame, area: Rect, ctx: &Ctx) {
        match &self.open {
            Some(record) => self.render_record(frame, area, ctx, record),
            None => self.render_list(frame, area, ctx),
        }
    }

    fn render_list(&self, frame: &mut Frame, area: Rect, ctx: &Ctx) {
        let theme = ctx.theme;
        let records = self.visible(ctx);
        let title = format!(
            "records of {} from its trim horizon ({}) · Enter opens one · u reads again · Esc back",
            self.shard,
            records.len()
        );
        let title = fit(&title, area.width.saturating_sub(6) as usize);
        let message = match (&self.error, self.loading) {
            (Some(error), _) => Some(Span::styled(
                format!("reading failed: {error}"),
                theme.error(),
            )),
            (None, true) => Some(Span::styled("reading the shard…", theme.muted())),
            (None, false) if records.is_empty() => Some(Span::styled(
                "no record (in the retention period)",
                theme.muted(),
            )),
            _ => None,
        };
        if let Some(message) = message {
            frame.render_widget(message_panel(theme, title, message), area);
            return;
        }
        let rows: Vec<Row> = records
            .iter()
            .map(|r| {
                let verdict = match &r.quarantine {
                    Some(q) => Span::styled(q.reason_code, theme.warning()),
                    None => Span::styled("article", theme.good()),
                };
                Row::new(vec![
                    Cell::from(tail(&r.sequence_number, 12)),
                    Cell::from(r.arrival_time.format("%H:%M:%S").to_string()),
                    Cell::from(verdict),
                    Cell::from(headline(&r.data)),
                ])
            })
            .collect();
        let table = Table::new(
            rows,
            [
                Constraint::Length(12),
                Constraint::Length(8),
                Constraint::Length(21),
                Constraint::Min(10),
            ],
        )
        .header(
            Row::new(["sequence", "arrived", "précis takes it as", "payload"]).style(theme.title()),
        )
        .style(theme.base())
        .row_highlight_style(theme.selected())
        .block(panel(theme, title, true));
        let mut state = TableState::default().with_selected(Some(self.cursor.at));
        frame.render_stateful_widget(table, area, &mut state);
    }

    fn render_record(&self, frame: &mut Frame, area: Rect, ctx: &Ctx, record: &Inspected) {
        let theme = ctx.theme;
        let label = |name: &str, value: String| {
            Line::from(vec![
                Span::styled(format!("{name:<16}"), theme.muted()),
                Span::raw(value),
            ])
        };
        let mut lines = vec![
            label("sequence number", record.sequence_number.clone()),
            label("arrived", record.arrival_time.to_rfc3339()),
            label("partition key", record.partition_key.clone()),
        ];
        lines.push(match &record.quarantine {
            Some(q) => Line::from(vec![
                Span::styled(format!("{:<16}", "quarantine"), theme.muted()),
                Span::styled(format!("{}: {}", q.reason_code, q.reason), theme.warning()),
            ]),
            None => label("précis", "takes it as an article".into()),
        });
        lines.push(Line::raw(""));
        lines.extend(
            record
                .data
                .pretty()
                .lines()
                .map(|l| Line::raw(l.to_string())),
        );
        let scroll = self.scroll.min(lines.len()).min(u16::MAX as usize) as u16;
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .scroll((scroll, 0))
                .style(theme.base())
                .block(panel(
                    theme,
                    format!("record of {} · ↑↓ scroll · Esc back", self.shard),
                    true,
                )),
            area,
        );
    }
}

/// One line saying what a payload is: an article's title, else its start.
fn headline(payload: &Payload) -> String {
    match payload {
        Payload::Json(value) => match value.get("title").and_then(|t| t.as_str()) {
            Some(title) => title.to_string(),
            None => value.to_string(),
        },
        Payload::Text(text) => text.clone(),
        Payload::Base64(bytes) => format!("(bytes) {bytes}"),
    }
}
