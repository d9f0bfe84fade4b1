//! One row per shard: state, records, rate, lag, last sequence read, checkpoint.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use super::{panel, tail};
use crate::pipeline::stats::ShardState;
use crate::tui::app::{App, View};

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme();
    let shards = app.visible_shards();
    let title = format!("shards of {} ({})", app.info.stream, shards.len());
    let Some(snapshot) = &app.snapshot else {
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
                ShardState::Finished => theme.muted(),
            };
            let rate = app.history.shard_rates.get(*id).copied().unwrap_or(0.0);
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
    let mut state = TableState::default().with_selected(Some(app.selected_in(View::Shards)));
    frame.render_stateful_widget(table, area, &mut state);
}
