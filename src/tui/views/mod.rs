//! Drawing: the frame's header (views, pipeline state), the current view, the footer (keys,
//! filter, messages) and any overlay. Reads `&App` only: no I/O and no locks on the draw path.

mod dashboard;
mod help;
mod logs;
mod partitions;
mod samples;
mod shards;
mod tables;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::app::{App, ReprocessState, RunState, View};
use super::theme::Theme;

pub fn draw(frame: &mut Frame, app: &App) {
    let theme = app.theme();
    let area = frame.area();
    frame.render_widget(Block::default().style(theme.base()), area);
    // Why the run stopped stays on screen in every view until `q`: it says what to do, and a
    // status message would expire.
    let failure = match &app.state {
        RunState::Failed(why) => Some(why.as_str()),
        _ => None,
    };
    let failure_rows = failure.map_or(0, |why| failure_height(why, area.width, area.height));
    let [header, body, failed, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(failure_rows),
        Constraint::Length(1),
    ])
    .areas(area);
    render_header(frame, header, app);
    if let Some(why) = failure {
        render_failure(frame, failed, why, theme);
    }
    match app.view {
        View::Dashboard => dashboard::render(frame, body, app),
        View::Shards => shards::render(frame, body, app),
        View::Samples => samples::render(frame, body, app),
        View::Partitions => partitions::render(frame, body, app),
        View::Logs => logs::render(frame, body, app),
        View::Tables => tables::render(frame, body, app),
    }
    render_footer(frame, footer, app);
    if app.confirm.is_some() {
        render_confirm(frame, area, app);
    }
    if app.help {
        help::render(frame, area, app);
    }
}

fn render_header(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme();
    let mut spans = vec![Span::styled(" précis ", theme.title())];
    for (i, view) in View::ALL.iter().enumerate() {
        let label = format!(" {} {} ", i + 1, view.title());
        spans.push(if *view == app.view {
            Span::styled(label, theme.selected())
        } else {
            Span::styled(label, theme.muted())
        });
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
    let (text, style) = match &app.state {
        RunState::Reading => ("● reading", theme.good()),
        RunState::Paused => ("‖ paused", theme.warning()),
        RunState::Drained => ("✓ drained", theme.good()),
        RunState::Stopping => ("… stopping", theme.warning()),
        RunState::Failed(_) => ("✗ failed", theme.error()),
    };
    frame.render_widget(
        Paragraph::new(Line::from(Span::styled(format!("{text} "), style)).right_aligned()),
        area,
    );
}

/// Rows for the failure panel: the reason wrapped at word boundaries as the panel wraps it, and
/// the panel's borders; at most half the screen.
fn failure_height(why: &str, width: u16, height: u16) -> u16 {
    let inner = usize::from(width.saturating_sub(2)).max(1);
    let (mut lines, mut used) = (1usize, 0usize);
    for word in why.split_whitespace() {
        let len = word.chars().count();
        let needed = if used == 0 { len } else { used + 1 + len };
        if needed <= inner {
            used = needed;
        } else {
            // A word longer than a line is broken over several.
            lines += 1 + len.saturating_sub(1) / inner;
            used = (len - 1) % inner + 1;
        }
    }
    u16::try_from(lines + 2)
        .unwrap_or(u16::MAX)
        .min((height / 2).max(3))
}

fn render_failure(frame: &mut Frame, area: Rect, why: &str, theme: &Theme) {
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(theme.error())
        .title(Span::styled(
            " the pipeline stopped · q quits ",
            theme.error(),
        ));
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(why)
            .style(theme.base())
            .wrap(Wrap { trim: true })
            .block(block),
        area,
    );
}

fn render_footer(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme();
    let line = if app.filter_editing {
        Line::from(vec![
            Span::styled("/", theme.key()),
            Span::raw(app.filter.clone()),
            Span::styled("█", theme.accent()),
            Span::styled("   Enter keep · Esc clear", theme.muted()),
        ])
    } else if let Some((message, _)) = &app.status {
        Line::from(Span::styled(format!(" {message}"), theme.accent()))
    } else if let Some(ReprocessState::Running {
        predicate, step, ..
    }) = &app.reprocess
    {
        Line::from(Span::styled(
            format!(" reprocessing where {predicate}: {step}"),
            theme.warning(),
        ))
    } else {
        let mut spans = Vec::new();
        for (key, what) in [
            ("?", "help"),
            ("Tab", "views"),
            ("/", "filter"),
            ("p", "pause"),
            ("t", "theme"),
            ("q", "quit"),
        ] {
            spans.push(Span::styled(format!(" {key}"), theme.key()));
            spans.push(Span::styled(format!(" {what} "), theme.muted()));
        }
        if !app.filter.is_empty() {
            spans.push(Span::styled(
                format!(" filter: {}", app.filter),
                theme.accent(),
            ));
        }
        Line::from(spans)
    };
    frame.render_widget(Paragraph::new(line), area);
}

fn render_confirm(frame: &mut Frame, area: Rect, app: &App) {
    let Some(selection) = &app.confirm else {
        return;
    };
    let theme = app.theme();
    let popup = centered(area, 72, 11);
    frame.render_widget(Clear, popup);
    let text = vec![
        Line::from(Span::styled("Reprocess the summaries rows where", theme.title())),
        Line::from(Span::styled(app.predicate(selection), theme.accent())),
        Line::raw(""),
        Line::raw(format!(
            "Reads their source rows from lake/articles, summarizes them again with {}, and replaces them in lake/summaries in one commit.",
            app.info.summarizer
        )),
        Line::raw(""),
        Line::from(vec![
            Span::styled("y", theme.key()),
            Span::raw(" / "),
            Span::styled("Enter", theme.key()),
            Span::raw(" reprocess    "),
            Span::styled("n", theme.key()),
            Span::raw(" / "),
            Span::styled("Esc", theme.key()),
            Span::raw(" cancel"),
        ]),
    ];
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: true })
            .style(theme.base())
            .block(panel(theme, "confirm", true)),
        popup,
    );
}

/// A bordered panel with a title.
pub(super) fn panel<'a>(theme: &Theme, title: impl Into<String>, focused: bool) -> Block<'a> {
    Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(theme.border(focused))
        .title(Span::styled(format!(" {} ", title.into()), theme.title()))
}

/// A rectangle of at most `width`×`height` in the middle of `area`.
pub(super) fn centered(area: Rect, width: u16, height: u16) -> Rect {
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
pub(super) fn field<'a>(theme: &Theme, label: &str, value: String, style: Style) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("{label:<14}"), theme.muted()),
        Span::styled(value, style),
    ])
}

/// Text that fits `width` characters, with an ellipsis where it was cut.
pub(super) fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The end of a long sequence number, which is where sequence numbers differ.
pub(super) fn tail(text: &str, width: usize) -> String {
    let count = text.chars().count();
    if count <= width {
        return text.to_string();
    }
    let kept: String = text.chars().skip(count - (width - 1)).collect();
    format!("…{kept}")
}

#[cfg(test)]
mod tests;
