//! The help overlay, written from the key table itself.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use super::widgets::{centered, panel};
use crate::tui::keymap::{Scope, BINDINGS, CONFIRM_HELP};
use crate::tui::theme::Theme;
use crate::tui::view::View;

pub fn render(frame: &mut Frame, area: Rect, theme: &Theme) {
    let popup = centered(area, 80, 31);
    frame.render_widget(Clear, popup);
    let block = panel(theme, "keys · any key closes", true).style(theme.base());
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(inner);
    let row = |label: &str, help: &str| {
        Line::from(vec![
            Span::styled(format!("{label:<10}"), theme.key()),
            Span::raw(help.to_string()),
        ])
    };
    let section = |title: &str| Line::from(Span::styled(title.to_string(), theme.title()));
    let mut global = vec![section("everywhere")];
    global.extend(
        BINDINGS
            .iter()
            .filter(|b| b.scope == Scope::Global)
            .map(|b| row(b.label, b.help)),
    );
    let mut local = Vec::new();
    for view in [View::Samples, View::Shards, View::Partitions, View::Tables] {
        local.push(section(view.title()));
        local.extend(
            BINDINGS
                .iter()
                .filter(|b| b.scope == Scope::In(view))
                .map(|b| row(b.label, b.help)),
        );
    }
    local.push(section("reprocess prompt"));
    local.extend(CONFIRM_HELP.iter().map(|(k, h)| row(k, h)));
    frame.render_widget(Paragraph::new(global), left);
    frame.render_widget(Paragraph::new(local), right);
}
