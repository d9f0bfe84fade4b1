//! `C`: the config file's contexts, with where each one points, the one in use marked. Enter on
//! another asks first, then the console stops the pipeline here (as `q` does: what was read but
//! not committed is read again by whoever reads this stream next) and starts it on that context.

use ratatui::crossterm::event::KeyCode;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::widgets::{centered, fit, panel, yes_no};
use crate::tui::effect::{Effect, Reply};
use crate::tui::list::{Ctx, Cursor};

/// Where a context points, as its settings resolve (the file, the context, then the environment
/// and flags over both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub stream: String,
    pub bucket: String,
    /// The Kinesis endpoint, or the region when the context talks to AWS itself.
    pub endpoint: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub name: String,
    /// Or why its settings do not load.
    pub target: Result<Target, String>,
}

#[derive(Debug, Default)]
pub struct ContextsView {
    pub choices: Vec<Choice>,
    pub open: bool,
    pub cursor: Cursor,
    /// The context Enter chose, waiting for a yes.
    pub confirm: Option<String>,
}

impl ContextsView {
    pub fn new(choices: Vec<Choice>) -> Self {
        Self {
            choices,
            ..Self::default()
        }
    }

    /// `C`: the picker, on the context in use; not while work of this console (an export, a
    /// compaction: `busy`) runs, whose answers belong to it.
    pub fn open(&mut self, ctx: &Ctx, busy: bool) -> Reply {
        if busy {
            return Reply::status(
                "an export or a compaction runs here: switch once it has finished",
            );
        }
        if self.choices.is_empty() {
            return Reply::status(
                "the config file has no [contexts.NAME]: see docs/configuration.md (contexts)",
            );
        }
        self.open = true;
        self.confirm = None;
        self.cursor.at = self
            .choices
            .iter()
            .position(|c| Some(&c.name) == ctx.info.context.as_ref())
            .unwrap_or(0);
        Reply::default()
    }

    /// A key while the picker is open (it takes every key). None when it is closed.
    pub fn on_key(&mut self, code: KeyCode, ctx: &Ctx) -> Option<Reply> {
        if !self.open {
            return None;
        }
        if ctx.quitting {
            // q, Ctrl-C or a signal came while the picker was open: it asks nothing more.
            self.open = false;
            self.confirm = None;
            return None;
        }
        if let Some(name) = &self.confirm {
            return Some(match code {
                KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => {
                    let name = name.clone();
                    self.open = false;
                    self.confirm = None;
                    Reply {
                        effect: Some(Effect::SwitchContext(name.clone())),
                        status: Some(format!("switching to context {name}…")),
                        ..Reply::default()
                    }
                }
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                    self.confirm = None;
                    Reply::default()
                }
                _ => Reply::default(),
            });
        }
        Some(match code {
            KeyCode::Up | KeyCode::Char('k') => {
                self.cursor.at = self.cursor.at.saturating_sub(1);
                Reply::default()
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.cursor.at = (self.cursor.at + 1).min(self.choices.len().saturating_sub(1));
                Reply::default()
            }
            KeyCode::Enter => self.choose(ctx),
            KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('C') => {
                self.open = false;
                Reply::default()
            }
            _ => Reply::default(),
        })
    }

    fn choose(&mut self, ctx: &Ctx) -> Reply {
        let Some(choice) = self.choices.get(self.cursor.at) else {
            return Reply::default();
        };
        if Some(&choice.name) == ctx.info.context.as_ref() {
            return Reply::status(format!("context {} is the one in use", choice.name));
        }
        if ctx.quitting {
            return Reply::status("stopping: no context switch now");
        }
        match &choice.target {
            Ok(_) => {
                self.confirm = Some(choice.name.clone());
                Reply::default()
            }
            Err(why) => Reply::status(format!("context {}: {why}", choice.name)),
        }
    }

    pub fn render(&self, frame: &mut Frame, area: Rect, ctx: &Ctx) {
        if !self.open {
            return;
        }
        let theme = ctx.theme;
        let popup = centered(area, 84, self.choices.len() as u16 + 9);
        let width = usize::from(popup.width.saturating_sub(4));
        let mut lines = Vec::new();
        for (i, choice) in self.choices.iter().enumerate() {
            let in_use = Some(&choice.name) == ctx.info.context.as_ref();
            let mark = if in_use { "● " } else { "  " };
            let (text, style) = match &choice.target {
                Ok(t) => (
                    format!(
                        "{:<12} {} → s3://{} ({})",
                        choice.name, t.stream, t.bucket, t.endpoint
                    ),
                    theme.base(),
                ),
                Err(why) => (format!("{:<12} {why}", choice.name), theme.error()),
            };
            let style = if i == self.cursor.at {
                theme.selected()
            } else {
                style
            };
            lines.push(Line::from(Span::styled(
                fit(&format!("{mark}{text}"), width),
                style,
            )));
        }
        lines.push(Line::raw(""));
        match &self.confirm {
            Some(name) => {
                lines.push(Line::from(Span::styled(
                    format!("Switch to context {name}?"),
                    theme.title(),
                )));
                lines.push(Line::from(Span::raw(
                    "The pipeline here stops as with q (what was read but not committed is read \
                     again next time; a reprocess stops before its commit) and starts on that \
                     context.",
                )));
                lines.push(yes_no(theme, "switch", "back"));
            }
            None => lines.push(Line::from(vec![
                Span::styled("↑ ↓", theme.key()),
                Span::styled(" choose  ", theme.muted()),
                Span::styled("Enter", theme.key()),
                Span::styled(" switch to it  ", theme.muted()),
                Span::styled("Esc", theme.key()),
                Span::styled(" close   ● in use", theme.muted()),
            ])),
        }
        frame.render_widget(Clear, popup);
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: true })
                .style(theme.base())
                .block(panel(theme, "contexts of the config file", true)),
            popup,
        );
    }
}
