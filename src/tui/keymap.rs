//! Which key does what, where: one table that both dispatches keys and writes the help overlay,
//! so the two cannot disagree.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::view::View;

/// What a key asks for; [`super::app::App::apply`] decides what it means in the current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    NextView,
    PrevView,
    Show(View),
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    Back,
    Close,
    Filter,
    TogglePause,
    CycleTheme,
    Help,
    Quit,
    Preview,
    ScrollPreviewDown,
    ScrollPreviewUp,
    Refresh,
    Reprocess,
    Compact,
    OlderVersion,
    NewerVersion,
    Export,
    SwitchContext,
}

/// Where a binding applies: everywhere, or in one view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    In(View),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

const fn key(code: KeyCode) -> Key {
    Key { code, ctrl: false }
}

const fn ch(c: char) -> Key {
    key(KeyCode::Char(c))
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: true,
    }
}

pub struct Binding {
    pub keys: &'static [Key],
    /// How the help overlay writes the keys.
    pub label: &'static str,
    pub help: &'static str,
    pub action: Action,
    pub scope: Scope,
}

const fn bind(
    keys: &'static [Key],
    label: &'static str,
    help: &'static str,
    action: Action,
    scope: Scope,
) -> Binding {
    Binding {
        keys,
        label,
        help,
        action,
        scope,
    }
}

use Scope::{Global, In};

pub const BINDINGS: &[Binding] = &[
    bind(
        &[key(KeyCode::Tab)],
        "Tab",
        "next view",
        Action::NextView,
        Global,
    ),
    bind(
        &[key(KeyCode::BackTab)],
        "Shift-Tab",
        "previous view",
        Action::PrevView,
        Global,
    ),
    bind(
        &[ch('1')],
        "1",
        "Dashboard",
        Action::Show(View::Dashboard),
        Global,
    ),
    bind(
        &[ch('2')],
        "2",
        "Shards",
        Action::Show(View::Shards),
        Global,
    ),
    bind(
        &[ch('3')],
        "3",
        "Samples",
        Action::Show(View::Samples),
        Global,
    ),
    bind(
        &[ch('4')],
        "4",
        "Partitions",
        Action::Show(View::Partitions),
        Global,
    ),
    bind(&[ch('5')], "5", "Logs", Action::Show(View::Logs), Global),
    bind(
        &[ch('6')],
        "6",
        "Tables",
        Action::Show(View::Tables),
        Global,
    ),
    bind(
        &[key(KeyCode::Up), ch('k')],
        "↑ k",
        "move up",
        Action::Up,
        Global,
    ),
    bind(
        &[key(KeyCode::Down), ch('j')],
        "↓ j",
        "move down",
        Action::Down,
        Global,
    ),
    bind(
        &[key(KeyCode::PageUp)],
        "PgUp",
        "page up",
        Action::PageUp,
        Global,
    ),
    bind(
        &[key(KeyCode::PageDown)],
        "PgDn",
        "page down",
        Action::PageDown,
        Global,
    ),
    bind(
        &[key(KeyCode::Home), ch('g')],
        "Home g",
        "first",
        Action::Top,
        Global,
    ),
    bind(
        &[key(KeyCode::End), ch('G')],
        "End G",
        "last",
        Action::Bottom,
        Global,
    ),
    bind(&[ch('/')], "/", "filter the list", Action::Filter, Global),
    bind(
        &[ch('u')],
        "u",
        "read again what is shown",
        Action::Refresh,
        Global,
    ),
    bind(
        &[ch('p')],
        "p",
        "pause / resume reading",
        Action::TogglePause,
        Global,
    ),
    bind(&[ch('t')], "t", "next theme", Action::CycleTheme, Global),
    bind(
        &[ch('C')],
        "C",
        "switch context (config file)",
        Action::SwitchContext,
        Global,
    ),
    bind(&[ch('?')], "?", "this help", Action::Help, Global),
    bind(
        &[ch('q'), ctrl('c')],
        "q Ctrl-C",
        "quit now",
        Action::Quit,
        Global,
    ),
    bind(
        &[key(KeyCode::Esc)],
        "Esc",
        "close, clear the filter",
        Action::Close,
        Global,
    ),
    bind(
        &[key(KeyCode::Enter)],
        "Enter",
        "inspect its records, a record",
        Action::Open,
        In(View::Shards),
    ),
    bind(
        &[key(KeyCode::Enter)],
        "Enter",
        "open the article",
        Action::Open,
        In(View::Samples),
    ),
    bind(
        &[key(KeyCode::Backspace), key(KeyCode::Left), ch('h')],
        "← h Bksp",
        "close the article",
        Action::Back,
        In(View::Samples),
    ),
    bind(
        &[key(KeyCode::Enter), key(KeyCode::Right), ch('l')],
        "Enter → l",
        "open folder, file, top row",
        Action::Open,
        In(View::Partitions),
    ),
    bind(
        &[key(KeyCode::Backspace), key(KeyCode::Left), ch('h')],
        "← h Bksp",
        "up one folder",
        Action::Back,
        In(View::Partitions),
    ),
    bind(
        &[ch('v')],
        "v",
        "preview with polars",
        Action::Preview,
        In(View::Partitions),
    ),
    bind(
        &[ch('J'), key(KeyCode::Char(']'))],
        "J ]",
        "scroll the preview down",
        Action::ScrollPreviewDown,
        In(View::Partitions),
    ),
    bind(
        &[ch('K'), key(KeyCode::Char('['))],
        "K [",
        "scroll the preview up",
        Action::ScrollPreviewUp,
        In(View::Partitions),
    ),
    bind(
        &[ch('r')],
        "r",
        "reprocess the previewed day",
        Action::Reprocess,
        In(View::Partitions),
    ),
    bind(
        &[ch('c')],
        "c",
        "compact the selected table",
        Action::Compact,
        In(View::Tables),
    ),
    bind(
        &[ch('<'), ch(',')],
        "< ,",
        "older version (time travel)",
        Action::OlderVersion,
        In(View::Tables),
    ),
    bind(
        &[ch('>'), ch('.')],
        "> .",
        "newer version",
        Action::NewerVersion,
        In(View::Tables),
    ),
    bind(
        &[ch('v')],
        "v",
        "preview that version",
        Action::Preview,
        In(View::Tables),
    ),
    bind(
        &[ch('x')],
        "x",
        "export that version to a file",
        Action::Export,
        In(View::Tables),
    ),
    bind(
        &[key(KeyCode::Enter)],
        "Enter",
        "history; a rewrite's rows",
        Action::Open,
        In(View::Tables),
    ),
];

/// Keys of the prompts, for the help overlay (handled by each prompt itself; where a prompt
/// takes a path, letters are text).
pub const CONFIRM_HELP: &[(&str, &str)] = &[
    ("y Enter", "confirm (a path: Enter)"),
    ("n Esc", "cancel (a path: Esc)"),
];

impl Key {
    pub fn of(event: &KeyEvent) -> Key {
        let ctrl = event.modifiers.contains(KeyModifiers::CONTROL);
        // Terminals report Shift-letters as the upper-case letter, some with SHIFT set too.
        Key {
            code: event.code,
            ctrl,
        }
    }
}

/// The action bound to `event` in `view`; a binding of the view wins over a global one.
pub fn action_for(event: &KeyEvent, view: View) -> Option<Action> {
    let pressed = Key::of(event);
    let find = |scope: Scope| {
        BINDINGS
            .iter()
            .find(|b| b.scope == scope && b.keys.contains(&pressed))
            .map(|b| b.action)
    };
    find(In(view)).or_else(|| find(Global))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn every_binding_has_a_label_and_help_text() {
        for b in BINDINGS {
            assert!(!b.label.is_empty() && !b.help.is_empty(), "{:?}", b.action);
            assert!(!b.keys.is_empty(), "{:?}", b.action);
        }
    }

    #[test]
    fn no_key_is_bound_twice_in_one_scope() {
        for (i, a) in BINDINGS.iter().enumerate() {
            for b in &BINDINGS[i + 1..] {
                if a.scope == b.scope {
                    for k in a.keys {
                        assert!(
                            !b.keys.contains(k),
                            "{k:?} bound to {:?} and {:?}",
                            a.action,
                            b.action
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_view_binding_wins_over_a_global_one() {
        assert_eq!(
            action_for(&press(KeyCode::Enter), View::Partitions),
            Some(Action::Open)
        );
        assert_eq!(
            action_for(&press(KeyCode::Char('r')), View::Partitions),
            Some(Action::Reprocess)
        );
        assert_eq!(action_for(&press(KeyCode::Char('r')), View::Shards), None);
    }

    #[test]
    fn ctrl_c_quits_and_plain_c_does_nothing() {
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(action_for(&ctrl_c, View::Logs), Some(Action::Quit));
        assert_eq!(action_for(&press(KeyCode::Char('c')), View::Logs), None);
    }
}
