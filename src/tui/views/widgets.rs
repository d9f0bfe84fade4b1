//! Pieces every view draws with: panels, centred popups, label-value lines, text cut to fit.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Paragraph, Wrap};

use crate::tui::theme::Theme;

/// A bordered panel with a title.
pub fn panel<'a>(theme: &Theme, title: impl Into<String>, focused: bool) -> Block<'a> {
    Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(theme.border(focused))
        .title(Span::styled(format!(" {} ", title.into()), theme.title()))
}

/// A panel holding one message in place of its list: loading, an error, nothing yet.
pub fn message_panel<'a>(
    theme: &Theme,
    title: impl Into<String>,
    message: Span<'a>,
) -> Paragraph<'a> {
    Paragraph::new(message)
        .wrap(Wrap { trim: true })
        .block(panel(theme, title, true))
}

/// A rectangle of at most `width`×`height` in the middle of `area`.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

/// A label and a value on one line.
pub fn field<'a>(theme: &Theme, label: &str, value: String, style: Style) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("{label:<14}"), theme.muted()),
        Span::styled(value, style),
    ])
}

/// A confirmation's keys: `y` / `Enter` does `yes`, `n` / `Esc` does `no`.
pub fn yes_no<'a>(theme: &Theme, yes: &str, no: &str) -> Line<'a> {
    Line::from(vec![
        Span::styled("y", theme.key()),
        Span::raw(" / "),
        Span::styled("Enter", theme.key()),
        Span::raw(format!(" {yes}    ")),
        Span::styled("n", theme.key()),
        Span::raw(" / "),
        Span::styled("Esc", theme.key()),
        Span::raw(format!(" {no}")),
    ])
}

/// Text that fits `width` characters, with an ellipsis where it was cut.
pub fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The end of a long sequence number, which is where sequence numbers differ.
pub fn tail(text: &str, width: usize) -> String {
    let count = text.chars().count();
    if count <= width {
        return text.to_string();
    }
    let kept: String = text.chars().skip(count - (width - 1)).collect();
    format!("…{kept}")
}
