//! The tables' current snapshots as folders (table → partition → files) with counts, sizes and
//! the table's version, and a polars preview of the selected table, partition or file.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Gauge, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

use super::{fit, panel};
use crate::browser::human_bytes;
use crate::tui::app::{App, PreviewData, PreviewPane, ReprocessState};

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let progress_height = u16::from(matches!(
        app.reprocess,
        Some(ReprocessState::Running { .. })
    ));
    let [list, progress, preview] = Layout::vertical([
        Constraint::Percentage(40),
        Constraint::Length(progress_height),
        Constraint::Min(5),
    ])
    .areas(area);
    render_list(frame, list, app);
    render_progress(frame, progress, app);
    render_preview(frame, preview, app);
}

fn render_list(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme();
    let version = app
        .browser
        .tree
        .as_ref()
        .and_then(|tree| tree.version(&app.browser.prefix))
        .map_or(String::new(), |v| format!(" · version {v}"));
    let title = format!("s3://{}/{}{version}", app.info.bucket, app.browser.prefix);
    let title = fit(&title, area.width.saturating_sub(6) as usize);
    if app.browser.tree.is_none() || app.browser.error.is_some() {
        let message = match (&app.browser.error, app.browser.loading) {
            (Some(error), _) => Span::styled(
                format!("listing failed: {error} (u retries)"),
                theme.error(),
            ),
            (None, true) => Span::styled("reading the tables…", theme.muted()),
            (None, false) => Span::styled("press u to read the tables", theme.muted()),
        };
        frame.render_widget(
            Paragraph::new(message)
                .wrap(Wrap { trim: true })
                .block(panel(theme, title, true)),
            area,
        );
        return;
    }
    let entries = app.visible_entries();
    if entries.is_empty() {
        let message = if app.filter.is_empty() {
            "nothing written here yet"
        } else {
            "no entry matches the filter (Esc clears it)"
        };
        frame.render_widget(
            Paragraph::new(Span::styled(message, theme.muted())).block(panel(theme, title, true)),
            area,
        );
        return;
    }
    let rows: Vec<Row> = entries
        .iter()
        .map(|e| {
            let name = if e.is_folder {
                format!("{}/", e.name)
            } else {
                e.name.clone()
            };
            Row::new(vec![
                Cell::from(name),
                Cell::from(e.files.to_string()),
                Cell::from(human_bytes(e.bytes)),
            ])
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Min(20),
            Constraint::Length(7),
            Constraint::Length(10),
        ],
    )
    .header(Row::new(["name", "files", "size"]).style(theme.title()))
    .style(theme.base())
    .row_highlight_style(theme.selected())
    .block(panel(theme, title, true));
    let mut state = TableState::default().with_selected(Some(app.browser.selected));
    frame.render_stateful_widget(table, area, &mut state);
}

fn render_progress(frame: &mut Frame, area: Rect, app: &App) {
    if area.height == 0 {
        return;
    }
    if let Some(ReprocessState::Running {
        predicate,
        step,
        ratio,
    }) = &app.reprocess
    {
        let theme = app.theme();
        frame.render_widget(
            Gauge::default()
                .ratio(ratio.clamp(0.0, 1.0))
                .label(format!("reprocessing where {predicate}: {step}"))
                .gauge_style(theme.warning()),
            area,
        );
    }
}

fn render_preview(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme();
    match &app.browser.preview {
        PreviewPane::Empty => {
            let mut lines = vec![Line::from(Span::styled(
                "v previews the selected partition or file · Enter opens a folder",
                theme.muted(),
            ))];
            if let Some(dt) = app.reprocess_target() {
                lines.push(Line::from(Span::styled(
                    format!(
                        "r reprocesses the summaries published on {dt} with {}",
                        app.info.summarizer
                    ),
                    theme.muted(),
                )));
            }
            if let Some(done) = last_reprocess(app) {
                lines.push(done);
            }
            frame.render_widget(
                Paragraph::new(lines)
                    .wrap(Wrap { trim: true })
                    .block(panel(theme, "preview", false)),
                area,
            );
        }
        PreviewPane::Loading(target) => frame.render_widget(
            Paragraph::new(Span::styled(
                format!("reading {target} with polars…"),
                theme.muted(),
            ))
            .block(panel(theme, "preview", false)),
            area,
        ),
        PreviewPane::Failed { target, error } => frame.render_widget(
            Paragraph::new(Span::styled(format!("{target}: {error}"), theme.error()))
                .wrap(Wrap { trim: true })
                .block(panel(theme, "preview", false)),
            area,
        ),
        PreviewPane::Ready(data) => render_table(frame, area, app, data),
    }
}

fn last_reprocess(app: &App) -> Option<Line<'static>> {
    let theme = app.theme();
    match &app.reprocess {
        Some(ReprocessState::Done(r)) => Some(Line::from(Span::styled(
            format!(
                "last reprocess: {} · {} rows rewritten in {:.1} s · {} files replaced (table version {})",
                r.predicate,
                r.rows,
                r.elapsed.as_secs_f64(),
                r.files_replaced,
                r.version
            ),
            theme.good(),
        ))),
        Some(ReprocessState::Failed { predicate, error }) => Some(Line::from(Span::styled(
            format!("reprocess where {predicate} failed: {error}"),
            theme.error(),
        ))),
        _ => None,
    }
}

fn render_table(frame: &mut Frame, area: Rect, app: &App, data: &PreviewData) {
    let theme = app.theme();
    let [stats, table_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    let s = &data.stats;
    let rows = if s.rows == 1 { "row" } else { "rows" };
    let mut stat_spans = vec![Span::styled(format!(" {} {rows}", s.rows), theme.accent())];
    if let Some(mean) = s.mean_word_count {
        stat_spans.push(Span::raw(format!(" · mean word_count {mean:.1}")));
    }
    if let Some(mean) = s.mean_summary_word_count {
        stat_spans.push(Span::raw(format!(" · mean summary words {mean:.1}")));
    }
    stat_spans.push(Span::styled(
        format!(" · {}", s.nulls_text()),
        theme.muted(),
    ));
    if data.files_read < data.files_total {
        stat_spans.push(Span::styled(
            format!(" · over {} of {} files", data.files_read, data.files_total),
            theme.warning(),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(stat_spans)), stats);

    // As many columns as fit at a readable width; the first ones are the telling ones.
    let inner = table_area.width.saturating_sub(2) as usize;
    let shown = (inner / 14).clamp(1, data.table.columns.len().max(1));
    let widths: Vec<Constraint> = (0..shown)
        .map(|i| match data.table.columns.get(i).map(String::as_str) {
            Some("word_count" | "summary_word_count") => Constraint::Length(10),
            Some("summary" | "content" | "reason" | "payload_text") => Constraint::Fill(3),
            Some("title") => Constraint::Fill(2),
            _ => Constraint::Fill(1),
        })
        .collect();
    let rows: Vec<Row> = data
        .table
        .rows
        .iter()
        .skip(app.browser.preview_scroll)
        .map(|r| Row::new(r.iter().take(shown).cloned().map(Cell::from)))
        .collect();
    let header = Row::new(data.table.columns.iter().take(shown).cloned()).style(theme.title());
    let title = format!(
        "preview {} · rows {}-{} · J/K scroll",
        data.target,
        (app.browser.preview_scroll + 1).min(data.table.rows.len()),
        data.table.rows.len()
    );
    frame.render_widget(
        Table::new(rows, widths)
            .header(header)
            .style(theme.base())
            .block(panel(theme, fit(&title, inner.saturating_sub(2)), false)),
        table_area,
    );
}
