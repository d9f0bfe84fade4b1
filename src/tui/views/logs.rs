//! Recent warnings and errors, newest first.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState};
use ratatui::Frame;
use tracing::Level;

use super::widgets::panel;
use crate::telemetry::LogLine;
use crate::tui::effect::Reply;
use crate::tui::keymap::Action;
use crate::tui::list::{Ctx, Cursor};

#[derive(Debug, Default)]
pub struct LogsView {
    pub cursor: Cursor,
}

impl LogsView {
    /// Warnings and errors shown, newest first, after the filter.
    pub fn visible<'a>(&self, ctx: &Ctx<'a>) -> Vec<&'a LogLine> {
        ctx.live
            .logs
            .iter()
            .rev()
            .filter(|l| ctx.matches(&l.message))
            .collect()
    }

    pub fn clamp(&mut self, ctx: &Ctx) {
        self.cursor.clamp(self.visible(ctx).len());
    }

    pub fn on_action(&mut self, action: Action, ctx: &Ctx) -> Reply {
        self.cursor.step(action, self.visible(ctx).len());
        Reply::default()
    }

    pub fn render(&self, frame: &mut Frame, area: Rect, ctx: &Ctx) {
        let theme = ctx.theme;
        let logs = self.visible(ctx);
        let items: Vec<ListItem> = if logs.is_empty() {
            vec![ListItem::new(Span::styled(
                "no warnings or errors so far",
                theme.muted(),
            ))]
        } else {
            logs.iter()
                .map(|l| {
                    let style = if l.level == Level::ERROR {
                        theme.error()
                    } else {
                        theme.warning()
                    };
                    ListItem::new(Line::from(vec![
                        Span::styled(format!("{} ", l.at.format("%H:%M:%S")), theme.muted()),
                        Span::styled(format!("{:<5} ", l.level.as_str()), style),
                        Span::raw(l.message.clone()),
                    ]))
                })
                .collect()
        };
        let title = format!(
            "warnings and errors ({}) · full log: {}",
            logs.len(),
            ctx.info.log_file
        );
        let list = List::new(items)
            .style(theme.base())
            .highlight_style(theme.selected())
            .block(panel(theme, title, true));
        let mut state = ListState::default().with_selected(if logs.is_empty() {
            None
        } else {
            Some(self.cursor.at)
        });
        frame.render_stateful_widget(list, area, &mut state);
    }
}
