//! Throughput over the last minutes, totals, feature averages, the summarizer, the last errors.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline};
use ratatui::Frame;
use tracing::Level;

use super::widgets::{field, fit, panel};
use crate::browser::human_bytes;
use crate::tui::list::Ctx;

pub fn render(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    // On a small terminal the charts give up lines first, so every total stays visible.
    let roomy = area.height >= 26;
    let [charts, totals, errors] = Layout::vertical([
        Constraint::Length(if roomy { 7 } else { 4 }),
        Constraint::Min(11),
        Constraint::Length(if roomy { 5 } else { 4 }),
    ])
    .areas(area);
    render_charts(frame, charts, ctx);
    let [pipeline, articles] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(totals);
    render_pipeline(frame, pipeline, ctx);
    render_articles(frame, articles, ctx);
    render_errors(frame, errors, ctx);
}

fn render_charts(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let theme = ctx.theme;
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
    for (area, values, unit, color) in [
        (
            left,
            &ctx.live.history.records_per_sec,
            "records/s",
            theme.chart_records,
        ),
        (
            right,
            &ctx.live.history.kib_per_sec,
            "KiB/s",
            theme.chart_bytes,
        ),
    ] {
        let now = values.back().copied().unwrap_or(0);
        let peak = values.iter().copied().max().unwrap_or(0);
        let block = panel(theme, format!("{unit} now {now} · peak {peak}"), false);
        let inner_width = area.width.saturating_sub(2) as usize;
        // The newest samples, as many as fit, right-aligned like a strip chart.
        let skip = values.len().saturating_sub(inner_width);
        let pad = inner_width.saturating_sub(values.len());
        let data: Vec<u64> = std::iter::repeat_n(0, pad)
            .chain(values.iter().skip(skip).copied())
            .collect();
        frame.render_widget(
            Sparkline::default()
                .block(block)
                .data(data)
                .style(ratatui::style::Style::default().fg(color)),
            area,
        );
    }
}

fn render_pipeline(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let theme = ctx.theme;
    let text = theme.base();
    let lines = match &ctx.live.snapshot {
        None => vec![Line::from(Span::styled(
            "waiting for the first counters…",
            theme.muted(),
        ))],
        Some(s) => {
            let summarized = ctx
                .live
                .pool
                .map_or("off".to_string(), |p| p.summarized.to_string());
            let errors_style = if s.errors > 0 { theme.error() } else { text };
            let quarantine_style = if s.quarantined > 0 {
                theme.warning()
            } else {
                text
            };
            vec![
                field(theme, "read", s.records_in.to_string(), text),
                field(theme, "summarized", summarized, text),
                field(
                    theme,
                    "written",
                    s.articles_written.to_string(),
                    theme.good(),
                ),
                field(
                    theme,
                    "quarantined",
                    s.quarantined.to_string(),
                    quarantine_style,
                ),
                field(theme, "duplicates", s.exact_duplicates.to_string(), text),
                field(
                    theme,
                    "files",
                    format!("{} ({})", s.files_written, human_bytes(s.bytes_written)),
                    text,
                ),
                field(theme, "errors", s.errors.to_string(), errors_style),
                field(
                    theme,
                    "max lag",
                    format!("{} ms", s.max_lag_millis()),
                    theme.lag(s.max_lag_millis()),
                ),
                field(theme, "uptime", uptime(ctx.live.uptime.as_secs()), text),
            ]
        }
    };
    let title = format!("pipeline {} → s3://{}", ctx.info.stream, ctx.info.bucket);
    frame.render_widget(
        Paragraph::new(lines).block(panel(
            theme,
            fit(&title, area.width.saturating_sub(4) as usize),
            false,
        )),
        area,
    );
}

fn render_articles(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let theme = ctx.theme;
    let text = theme.base();
    let mut lines = Vec::new();
    if let Some(s) = &ctx.live.snapshot {
        let a = &s.averages;
        lines.extend([
            field(
                theme,
                "avg words",
                format!("{:.1}", a.word_count()),
                theme.accent(),
            ),
            field(theme, "avg chars", format!("{:.0}", a.char_count()), text),
            field(
                theme,
                "avg sentences",
                format!("{:.1}", a.sentence_count()),
                text,
            ),
            field(
                theme,
                "avg reading",
                format!("{:.0} s", a.reading_time_seconds()),
                text,
            ),
        ]);
    }
    let width = area.width.saturating_sub(16) as usize;
    lines.push(field(
        theme,
        "summarizer",
        fit(&ctx.info.summarizer, width),
        text,
    ));
    match ctx.live.pool {
        Some(p) => {
            lines.push(field(
                theme,
                "summarizing",
                format!("{:.1} articles/s now", ctx.live.history.summaries_per_sec),
                text,
            ));
            // What the workers do while busy: the rate this summarizer can sustain.
            let busy = p.busy.as_secs_f64();
            let capacity = if busy > 0.0 {
                p.summarized as f64 / busy * ctx.info.workers.max(1) as f64
            } else {
                0.0
            };
            lines.push(field(
                theme,
                "capacity",
                format!(
                    "{capacity:.1} articles/s ({} worker{})",
                    ctx.info.workers,
                    if ctx.info.workers == 1 { "" } else { "s" }
                ),
                text,
            ));
            lines.push(field(theme, "queue", p.queued.to_string(), text));
            lines.push(field(
                theme,
                "fallbacks",
                p.fallbacks.to_string(),
                if p.fallbacks > 0 {
                    theme.warning()
                } else {
                    text
                },
            ));
        }
        None => lines.push(field(theme, "summarizing", "off".into(), theme.muted())),
    }
    frame.render_widget(
        Paragraph::new(lines).block(panel(theme, "articles", false)),
        area,
    );
}

fn render_errors(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let theme = ctx.theme;
    let rows = area.height.saturating_sub(2) as usize;
    let width = area.width.saturating_sub(13) as usize;
    let lines: Vec<Line> = if ctx.live.logs.is_empty() {
        vec![Line::from(Span::styled(
            "no warnings or errors",
            theme.muted(),
        ))]
    } else {
        ctx.live
            .logs
            .iter()
            .rev()
            .take(rows)
            .map(|l| {
                let style = if l.level == Level::ERROR {
                    theme.error()
                } else {
                    theme.warning()
                };
                Line::from(vec![
                    Span::styled(format!("{} ", l.at.format("%H:%M:%S")), theme.muted()),
                    Span::styled(format!("{:<5}", l.level.as_str()), style),
                    Span::raw(format!(" {}", fit(&l.message, width))),
                ])
            })
            .collect()
    };
    frame.render_widget(
        Paragraph::new(lines).block(panel(theme, "last warnings and errors", false)),
        area,
    );
}

fn uptime(secs: u64) -> String {
    format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}
