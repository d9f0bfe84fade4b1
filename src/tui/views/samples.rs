//! Recently written articles with their summaries; Enter shows one article, its summary and its
//! features side by side.

use std::cell::Cell;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell as TableCell, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

use super::widgets::{field, panel};
use crate::pipeline::stats::Sample;
use crate::tui::effect::Reply;
use crate::tui::keymap::Action;
use crate::tui::list::{moved, movement, Ctx, Cursor};

#[derive(Debug, Default)]
pub struct SamplesView {
    pub cursor: Cursor,
    /// The article shown in full: a copy, so that new samples arriving do not change it.
    pub open: Option<Sample>,
    pub scroll: usize,
    /// How far the open article can scroll in the pane as last drawn (drawing sets it, since
    /// only it knows the pane's size).
    pub max_scroll: Cell<Option<usize>>,
}

impl SamplesView {
    /// Samples shown, newest first, after the filter.
    pub fn visible<'a>(&self, ctx: &Ctx<'a>) -> Vec<&'a Sample> {
        ctx.live
            .samples
            .iter()
            .rev()
            .filter(|s| {
                ctx.matches(s.title.as_deref().unwrap_or(""))
                    || ctx.matches(s.summary.as_deref().unwrap_or(""))
                    || ctx.matches(&s.article_id)
            })
            .collect()
    }

    pub fn selected<'a>(&self, ctx: &Ctx<'a>) -> Option<&'a Sample> {
        self.visible(ctx).get(self.cursor.at).copied()
    }

    pub fn clamp(&mut self, ctx: &Ctx) {
        self.cursor.clamp(self.visible(ctx).len());
    }

    /// Whether Esc has something of this view's to close.
    pub fn close(&mut self) -> bool {
        self.open.take().is_some()
    }

    pub fn on_action(&mut self, action: Action, ctx: &Ctx) -> Reply {
        if let (Some(sample), Some(by)) = (&self.open, movement(action)) {
            let max = self.max_scroll.get().unwrap_or_else(|| {
                wrapped_lines(&article_text(sample), ARTICLE_MIN_WIDTH).saturating_sub(1)
            });
            self.scroll = moved(self.scroll.min(max), by, max);
            return Reply::default();
        }
        match action {
            Action::Open => {
                if let Some(sample) = self.selected(ctx) {
                    self.open = Some(sample.clone());
                    self.scroll = 0;
                    self.max_scroll.set(None);
                }
            }
            Action::Back => self.open = None,
            _ => {
                self.cursor.step(action, self.visible(ctx).len());
            }
        }
        Reply::default()
    }

    pub fn render(&self, frame: &mut Frame, area: Rect, ctx: &Ctx) {
        match &self.open {
            Some(sample) => self.render_detail(frame, area, ctx, sample),
            None => self.render_list(frame, area, ctx),
        }
    }

    fn render_list(&self, frame: &mut Frame, area: Rect, ctx: &Ctx) {
        let theme = ctx.theme;
        let samples = self.visible(ctx);
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
                    TableCell::from(s.title.clone().unwrap_or_else(|| "(no title)".into())),
                    TableCell::from(s.features.word_count.to_string()),
                    TableCell::from(
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
        let mut state = TableState::default().with_selected(Some(self.cursor.at));
        frame.render_stateful_widget(table, area, &mut state);
    }

    fn render_detail(&self, frame: &mut Frame, area: Rect, ctx: &Ctx, sample: &Sample) {
        let theme = ctx.theme;
        let [article, side] =
            Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)])
                .areas(area);
        let inner_width = article.width.saturating_sub(2) as usize;
        let inner_height = article.height.saturating_sub(2) as usize;
        let max_scroll =
            wrapped_lines(&article_text(sample), inner_width).saturating_sub(inner_height);
        self.max_scroll.set(Some(max_scroll));
        let mut text = vec![
            Line::from(Span::styled(
                sample.title.clone().unwrap_or_else(|| "(no title)".into()),
                theme.title(),
            )),
            Line::raw(""),
        ];
        text.extend(sample.content.split('\n').map(|l| Line::raw(l.to_string())));
        let scroll = self.scroll.min(max_scroll).min(u16::MAX as usize) as u16;
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
}

/// The narrowest the article pane gets (58% of 80 columns, less borders): the scroll bound used
/// before the article has been drawn once.
const ARTICLE_MIN_WIDTH: usize = 44;

/// The article as the pane shows it: title, a blank line, the text.
pub fn article_text(sample: &Sample) -> String {
    format!(
        "{}\n\n{}",
        sample.title.as_deref().unwrap_or("(no title)"),
        sample.content
    )
}

/// Lines `text` takes when wrapped word by word at `width` columns (how the pane wraps it).
pub fn wrapped_lines(text: &str, width: usize) -> usize {
    let width = width.max(1);
    text.split('\n')
        .map(|line| {
            let (mut lines, mut used) = (1, 0);
            for word in line.split(' ').filter(|w| !w.is_empty()) {
                let len = word.chars().count();
                if used > 0 && used + 1 + len <= width {
                    used += 1 + len;
                } else {
                    if used > 0 {
                        lines += 1;
                    }
                    // A word longer than the pane is cut over several lines.
                    lines += (len.max(1) - 1) / width;
                    used = (len - 1) % width + 1;
                }
            }
            lines
        })
        .sum()
}
