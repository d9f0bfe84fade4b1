//! The tables as an operator thinks of them: per table its version, rows, files and size; for
//! the selected one its splits, a file-size histogram (small files stand out), the last commits,
//! and the version `v` would preview (time travel with `<` and `>`).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

use super::panel;
use crate::browser::human_bytes;
use crate::maintenance::inventory::{bucket_labels, CommitSummary, TableSummary, SIZE_BUCKETS_MIB};
use crate::pipeline::sink::commit::parse_app_id;
use crate::tui::app::{App, View};

/// Histogram buckets under this size (MiB) are drawn as a warning: files a trainer pays for.
const SMALL_MIB: u64 = 32;

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme();
    let pane = &app.tables;
    if pane.tables.is_empty() {
        let message = match (&pane.error, pane.loading) {
            (Some(error), _) => Span::styled(
                format!("reading the tables failed: {error} (u retries)"),
                theme.error(),
            ),
            (None, true) => Span::styled("reading the tables…", theme.muted()),
            (None, false) => Span::styled(
                "no table yet: the pipeline creates them as it starts (u reads again)",
                theme.muted(),
            ),
        };
        frame.render_widget(
            Paragraph::new(message)
                .wrap(Wrap { trim: true })
                .block(panel(theme, "tables", true)),
            area,
        );
        return;
    }
    let [list, details, hint] = Layout::vertical([
        Constraint::Length(pane.tables.len() as u16 + 3),
        Constraint::Min(4),
        Constraint::Length(1),
    ])
    .areas(area);
    render_list(frame, list, app);
    if let Some(table) = app.selected_table() {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
                .areas(details);
        render_files(frame, left, app, table);
        render_commits(frame, right, app, table);
        let version = app.time_travel_version().unwrap_or(table.version);
        let status = match pane.compacting {
            Some(kind) => format!(" compacting {}… · ", kind.name()),
            None => " ".to_string(),
        };
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(status, theme.warning()),
                Span::styled("c", theme.key()),
                Span::styled(" compact  ", theme.muted()),
                Span::styled("< >", theme.key()),
                Span::styled(format!(" version {version}  "), theme.muted()),
                Span::styled("v", theme.key()),
                Span::styled(format!(" preview version {version}  "), theme.muted()),
                Span::styled("u", theme.key()),
                Span::styled(" read again", theme.muted()),
            ])),
            hint,
        );
    }
}

fn render_list(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme();
    let rows: Vec<Row> = app
        .tables
        .tables
        .iter()
        .map(|t| {
            Row::new(vec![
                Cell::from(t.name.as_str()),
                Cell::from(t.version.to_string()),
                Cell::from(t.total.rows.to_string()),
                Cell::from(t.total.files.to_string()),
                Cell::from(human_bytes(t.total.bytes)),
                Cell::from(human_bytes(t.median_file_bytes)),
            ])
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Min(11),
            Constraint::Length(8),
            Constraint::Length(10),
            Constraint::Length(7),
            Constraint::Length(10),
            Constraint::Length(12),
        ],
    )
    .header(
        Row::new(["table", "version", "rows", "files", "size", "median file"]).style(theme.title()),
    )
    .style(theme.base())
    .row_highlight_style(theme.selected())
    .block(panel(
        theme,
        format!("s3://{}/lake", app.info.bucket),
        app.view == View::Tables,
    ));
    let mut state = TableState::default().with_selected(Some(app.selected[View::Tables.index()]));
    frame.render_stateful_widget(table, area, &mut state);
}

fn render_files(frame: &mut Frame, area: Rect, app: &App, table: &TableSummary) {
    let theme = app.theme();
    let mut lines = Vec::new();
    for (split, part) in &table.splits {
        lines.push(Line::raw(format!(
            "split={split:<11} {:>9} rows {:>5} files",
            part.rows, part.files
        )));
    }
    if !table.splits.is_empty() {
        lines.push(Line::raw(""));
    }
    lines.push(Line::from(Span::styled(
        "files by size (MiB)",
        theme.title(),
    )));
    let most = table.histogram.iter().copied().max().unwrap_or(0).max(1);
    let width = area.width.saturating_sub(22) as usize;
    let upper = SIZE_BUCKETS_MIB.iter().map(|&b| Some(b)).chain([None]);
    for ((label, count), upper) in bucket_labels().iter().zip(table.histogram).zip(upper) {
        let bar = "█".repeat((count * width).div_ceil(most).min(width));
        let style = if count > 0 && upper.is_some_and(|u| u <= SMALL_MIB) {
            theme.warning()
        } else {
            theme.good()
        };
        lines.push(Line::from(vec![
            Span::raw(format!("{label:>7} {count:>6} ")),
            Span::styled(bar, style),
        ]));
    }
    frame.render_widget(
        Paragraph::new(lines).block(panel(theme, format!("{} files", table.name), false)),
        area,
    );
}

/// Who wrote a commit, short: a stream commit's shard (`shardId-000000000001` as `shard 1`), a
/// rewrite's summarizer.
fn writer(c: &CommitSummary) -> String {
    match (&c.chunk, &c.summarizer) {
        (Some((app, _)), _) => {
            let shard = parse_app_id(app).map_or(app.as_str(), |(_, shard)| shard);
            match shard.strip_prefix("shardId-") {
                Some(n) => format!("shard {}", n.trim_start_matches('0').max("0")),
                None => shard.to_string(),
            }
        }
        (None, Some(summarizer)) => summarizer.clone(),
        _ => String::new(),
    }
}

fn render_commits(frame: &mut Frame, area: Rect, app: &App, table: &TableSummary) {
    let theme = app.theme();
    let chosen = app.time_travel_version();
    let rows: Vec<Row> = table
        .commits
        .iter()
        .map(|c| {
            let row = Row::new(vec![
                Cell::from(c.version.to_string()),
                Cell::from(
                    c.when
                        .map_or("?".into(), |w| w.format("%m-%d %H:%M:%S").to_string()),
                ),
                Cell::from(c.kind.name().to_string()),
                Cell::from(format!("+{} -{}", c.files_added, c.files_removed)),
                Cell::from(c.rows_added.to_string()),
                Cell::from(writer(c)),
            ]);
            if Some(c.version) == chosen {
                row.style(theme.accent())
            } else {
                row
            }
        })
        .collect();
    let commits = Table::new(
        rows,
        [
            Constraint::Length(7),
            Constraint::Length(15),
            Constraint::Length(10),
            Constraint::Length(8),
            Constraint::Length(6),
            Constraint::Min(8),
        ],
    )
    .header(
        Row::new([
            "version",
            "when (UTC)",
            "operation",
            "files",
            "rows",
            "writer",
        ])
        .style(theme.title()),
    )
    .style(theme.base())
    .block(panel(theme, "last commits", false));
    frame.render_widget(commits, area);
}
