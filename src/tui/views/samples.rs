//! Recently written articles with their summaries; Enter shows one article, its summary and its
//! features side by side.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

use super::{field, panel};
use crate::pipeline::stats::Sample;
use crate::tui::app::{article_text, wrapped_lines, App, View};

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    match &app.open_sample {
        Some(sample) => render_detail(frame, area, app, sample),
        None => render_list(frame, area, app),
    }
}

fn render_list(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme();
    let samples = app.visible_samples();
    let title = format!("recent articles ({}) · Enter opens one", samples.len());
    if samples.is_empty() {
        frame.render_widget(
            Paragraph::new(Span::styled(
                "no article written yet: samples appear as chunks are written",
                theme.muted(),
            ))
            .block(panel(theme, title, true)),
            area,
        );
        return;
    }
    let rows: Vec<Row> = samples
        .iter()
        .map(|s| {
            Row::new(vec![
                Cell::from(s.title.clone().unwrap_or_else(|| "(no title)".into())),
                Cell::from(s.features.word_count.to_string()),
                Cell::from(
                    s.summary
                        .clone()
                        .unwrap_or_else(|| "(summaries off)".into()),
                ),
            ])
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Percentage(35),
            Constraint::Length(6),
            Constraint::Percentage(65),
        ],
    )
    .header(Row::new(["title", "words", "summary"]).style(theme.title()))
    .style(theme.base())
    .row_highlight_style(theme.selected())
    .block(panel(theme, title, true));
    let mut state = TableState::default().with_selected(Some(app.selected_in(View::Samples)));
    frame.render_stateful_widget(table, area, &mut state);
}

fn render_detail(frame: &mut Frame, area: Rect, app: &App, sample: &Sample) {
    let theme = app.theme();
    let [article, side] =
        Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)]).areas(area);
    let inner_width = article.width.saturating_sub(2) as usize;
    let inner_height = article.height.saturating_sub(2) as usize;
    let max_scroll = wrapped_lines(&article_text(sample), inner_width).saturating_sub(inner_height);
    app.article_max_scroll.set(Some(max_scroll));
    let mut text = vec![
        Line::from(Span::styled(
            sample.title.clone().unwrap_or_else(|| "(no title)".into()),
            theme.title(),
        )),
        Line::raw(""),
    ];
    text.extend(sample.content.split('\n').map(|l| Line::raw(l.to_string())));
    let scroll = app.article_scroll.min(max_scroll).min(u16::MAX as usize) as u16;
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0))
            .style(theme.base())
            .block(panel(theme, "article · ↑↓ scroll · Esc back", true)),
        article,
    );
    let [summary, features] =
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(side);
    frame.render_widget(
        Paragraph::new(
            sample
                .summary
                .clone()
                .unwrap_or_else(|| "(summaries are off)".into()),
        )
        .wrap(Wrap { trim: true })
        .style(theme.base())
        .block(panel(theme, "summary", false)),
        summary,
    );
    let f = &sample.features;
    let t = theme.base();
    let lines = vec![
        field(
            theme,
            "word_count",
            f.word_count.to_string(),
            theme.accent(),
        ),
        field(theme, "char_count", f.char_count.to_string(), t),
        field(theme, "sentences", f.sentence_count.to_string(), t),
        field(theme, "paragraphs", f.paragraph_count.to_string(), t),
        field(
            theme,
            "avg word len",
            format!("{:.2}", f.avg_word_length),
            t,
        ),
        field(
            theme,
            "reading time",
            format!("{} s", f.reading_time_seconds),
            t,
        ),
        field(theme, "split", f.split.as_str().to_string(), t),
        field(theme, "dt", sample.dt.to_string(), t),
        field(theme, "shard", sample.shard_id.clone(), t),
        field(theme, "summarizer", sample.summarizer.clone(), t),
        field(theme, "article_id", sample.article_id.clone(), t),
    ];
    frame.render_widget(
        Paragraph::new(lines).block(panel(theme, "features", false)),
        features,
    );
}
