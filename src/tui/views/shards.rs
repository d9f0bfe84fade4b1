//! One row per shard: state, records, rate, lag, last sequence read, checkpoint; below it, with a
//! lease table, the workers sharing the stream and the shards each holds.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use super::inspect::Inspector;
use super::widgets::{panel, tail};
use crate::pipeline::stats::ShardState;
use crate::tui::effect::Reply;
use crate::tui::jobs::Jobs;
use crate::tui::keymap::Action;
use crate::tui::list::{Ctx, Cursor};

#[derive(Debug, Default)]
pub struct ShardsView {
    pub cursor: Cursor,
    /// The records of a shard, while they are looked at.
    pub inspector: Option<Inspector>,
}

impl ShardsView {
    /// Shard ids shown, after the filter.
    pub fn visible<'a>(&self, ctx: &Ctx<'a>) -> Vec<&'a String> {
        ctx.live
            .snapshot
            .iter()
            .flat_map(|s| s.shards.keys())
            .filter(|id| ctx.matches(id))
            .collect()
    }

    pub fn clamp(&mut self, ctx: &Ctx) {
        self.cursor.clamp(self.visible(ctx).len());
    }

    pub fn on_action(&mut self, action: Action, ctx: &Ctx) -> Reply {
        if let Some(inspector) = &mut self.inspector {
            return inspector.on_action(action, ctx);
        }
        if action == Action::Open {
            if let Some(shard) = self.visible(ctx).get(self.cursor.at) {
                let (inspector, read) = Inspector::open(shard);
                self.inspector = Some(inspector);
                return Reply::effect(read);
            }
        }
        self.cursor.step(action, self.visible(ctx).len());
        Reply::default()
    }

    /// Esc: the inspector's open record, else the inspector.
    pub fn close(&mut self) -> bool {
        match &mut self.inspector {
            Some(inspector) => {
                if !inspector.close() {
                    self.inspector = None;
                }
                true
            }
            None => false,
        }
    }

    /// A shard's records, read for the inspector (dropped if it was closed or moved on).
    pub fn on_notice(&mut self, jobs: &Jobs) -> Reply {
        if let Some((shard, records)) = jobs.inspected.take() {
            if let Some(inspector) = self.inspector.as_mut().filter(|i| i.shard == shard) {
                inspector.on_records(records);
            }
        }
        Reply::default()
    }

    pub fn render(&self, frame: &mut Frame, area: Rect, ctx: &Ctx) {
        if let Some(inspector) = &self.inspector {
            return inspector.render(frame, area, ctx);
        }
        let workers = ctx.live.snapshot.as_ref().map_or(0, |s| s.workers.len());
        if workers == 0 {
            return self.render_shards(frame, area, ctx);
        }
        let height = u16::try_from(workers.min(8)).unwrap_or(8) + 3;
        let [shards, leases] =
            Layout::vertical([Constraint::Min(5), Constraint::Length(height)]).areas(area);
        self.render_shards(frame, shards, ctx);
        self.render_workers(frame, leases, ctx);
    }

    /// Each worker of the lease table and the open shards it holds, this worker first.
    fn render_workers(&self, frame: &mut Frame, area: Rect, ctx: &Ctx) {
        let theme = ctx.theme;
        let Some(snapshot) = &ctx.live.snapshot else {
            return;
        };
        let rows: Vec<Row> = snapshot
            .workers
            .iter()
            .map(|(worker, shards)| {
                Row::new(vec![
                    Cell::from(worker.as_str()),
                    Cell::from(shards.len().to_string()),
                    Cell::from(shards.join(" ")),
                ])
            })
            .collect();
        let header = Row::new(["worker", "shards", "holds"]).style(theme.title());
        let title = format!("workers sharing {} (lease table)", ctx.info.stream);
        let table = Table::new(
            rows,
            [
                Constraint::Length(32),
                Constraint::Length(6),
                Constraint::Min(10),
            ],
        )
        .header(header)
        .style(theme.base())
        .block(panel(theme, title, false));
        frame.render_widget(table, area);
    }

    fn render_shards(&self, frame: &mut Frame, area: Rect, ctx: &Ctx) {
        let theme = ctx.theme;
        let shards = self.visible(ctx);
        let title = format!("shards of {} ({})", ctx.info.stream, shards.len());
        let Some(snapshot) = &ctx.live.snapshot else {
            frame.render_widget(
                Paragraph::new(Span::styled(
                    "waiting for the first shard list…",
                    theme.muted(),
                ))
                .block(panel(theme, title, true)),
                area,
            );
            return;
        };
        let rows: Vec<Row> = shards
            .iter()
            .filter_map(|id| snapshot.shards.get(*id).map(|s| (id, s)))
            .map(|(id, s)| {
                let state_style = match s.state {
                    ShardState::Reading | ShardState::AtTip => theme.good(),
                    ShardState::Paused | ShardState::WaitingForParent => theme.warning(),
                    ShardState::Finished | ShardState::Elsewhere => theme.muted(),
                };
                let rate = ctx
                    .live
                    .history
                    .shard_rates
                    .get(*id)
                    .copied()
                    .unwrap_or(0.0);
                Row::new(vec![
                    Cell::from(id.as_str()),
                    Cell::from(Span::styled(s.state.as_str(), state_style)),
                    Cell::from(s.records.to_string()),
                    Cell::from(format!("{rate:.0}")),
                    Cell::from(Span::styled(
                        format!("{} ms", s.millis_behind_latest),
                        theme.lag(s.millis_behind_latest),
                    )),
                    Cell::from(
                        s.last_sequence
                            .as_deref()
                            .map_or("-".into(), |q| tail(q, 14)),
                    ),
                    Cell::from(s.checkpoint.as_deref().map_or("-".into(), |q| tail(q, 14))),
                ])
            })
            .collect();
        let header = Row::new([
            "shard",
            "state",
            "records",
            "rec/s",
            "lag",
            "last read",
            "checkpoint",
        ])
        .style(theme.title());
        let table = Table::new(
            rows,
            [
                Constraint::Length(20),
                Constraint::Length(10),
                Constraint::Length(8),
                Constraint::Length(6),
                Constraint::Length(9),
                Constraint::Min(10),
                Constraint::Min(10),
            ],
        )
        .header(header)
        .style(theme.base())
        .row_highlight_style(theme.selected())
        .block(panel(theme, title, true));
        let mut state = TableState::default().with_selected(Some(self.cursor.at));
        frame.render_stateful_widget(table, area, &mut state);
    }
}
