//! Drawing the whole screen: the header (views, context, pipeline state), the current view, the
//! footer (keys, filter, messages) and any overlay. Reads `&App` only: no I/O and no locks on
//! the draw path.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::app::App;
use super::live::RunState;
use super::theme::Theme;
use super::view::View;
use super::views::partitions::ReprocessState;
use super::views::{dashboard, help};

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
    let ctx = app.ctx();
    match app.view {
        View::Dashboard => dashboard::render(frame, body, &ctx),
        View::Shards => app.shards.render(frame, body, &ctx),
        View::Samples => app.samples.render(frame, body, &ctx),
        View::Partitions => app.partitions.render(frame, body, &ctx),
        View::Logs => app.logs.render(frame, body, &ctx),
        View::Tables => app.tables.render(frame, body, &ctx),
    }
    render_footer(frame, footer, app);
    app.partitions.render_prompt(frame, area, &ctx);
    app.contexts.render(frame, area, &ctx);
    if app.help {
        help::render(frame, area, theme);
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
    let mut right = Vec::new();
    if let Some(context) = &app.info.context {
        right.push(Span::styled(format!("context {context}  "), theme.accent()));
    }
    right.push(Span::styled(format!("{text} "), style));
    frame.render_widget(Paragraph::new(Line::from(right).right_aligned()), area);
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
    }) = &app.partitions.reprocess
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
