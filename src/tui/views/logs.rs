//! Recent warnings and errors, newest first.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState};
use ratatui::Frame;
use tracing::Level;

use super::panel;
use crate::tui::app::{App, View};

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme();
    let logs = app.visible_logs();
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
        app.info.log_file
    );
    let list = List::new(items)
        .style(theme.base())
        .highlight_style(theme.selected())
        .block(panel(theme, title, true));
    let mut state = ListState::default().with_selected(if logs.is_empty() {
        None
    } else {
        Some(app.selected_in(View::Logs))
    });
    frame.render_stateful_widget(list, area, &mut state);
}
