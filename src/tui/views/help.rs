//! The help overlay, written from the key table itself.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use super::widgets::{centered, panel};
use crate::tui::keymap::{Action, Scope, BINDINGS, CONFIRM_HELP};
use crate::tui::theme::Theme;
use crate::tui::view::View;

/// The help of the view keys' one row.
pub const VIEWS_HELP: &str = "the view of that number";

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
    // The header numbers the views: one row for their keys leaves room for the rest at 80×24.
    let views: Vec<&str> = BINDINGS
        .iter()
        .filter(|b| matches!(b.action, Action::Show(_)))
        .map(|b| b.label)
        .collect();
    if let (Some(first), Some(last)) = (views.first(), views.last()) {
        global.push(row(&format!("{first}-{last}"), VIEWS_HELP));
    }
    global.extend(
        BINDINGS
            .iter()
            .filter(|b| b.scope == Scope::Global && !matches!(b.action, Action::Show(_)))
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
    local.push(section("prompts"));
    local.extend(CONFIRM_HELP.iter().map(|(k, h)| row(k, h)));
    frame.render_widget(Paragraph::new(global), left);
    frame.render_widget(Paragraph::new(local), right);
}
