//! What every view's keys and drawing read: the theme, the engine's facts and counters, the
//! filter; and the cursor of a list, moved by the same keys in every view.

use super::keymap::Action;
use super::live::{EngineInfo, Live};
use super::theme::Theme;

/// Rows PageUp and PageDown move.
const PAGE: isize = 10;

/// The app's shared state, lent to a view.
pub struct Ctx<'a> {
    pub theme: &'a Theme,
    pub info: &'a EngineInfo,
    pub live: &'a Live,
    /// What `/` typed; empty: everything shows.
    pub filter: &'a str,
    /// `q` was pressed: nothing new starts.
    pub quitting: bool,
}

impl Ctx<'_> {
    /// Whether `text` passes the filter (any case).
    pub fn matches(&self, text: &str) -> bool {
        self.filter.is_empty() || text.to_lowercase().contains(&self.filter.to_lowercase())
    }
}

/// The selected row of a list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    pub at: usize,
}

impl Cursor {
    /// Moves for a movement key, within `len` rows; false for any other action.
    pub fn step(&mut self, action: Action, len: usize) -> bool {
        let by = match movement(action) {
            Some(by) => by,
            None => return false,
        };
        self.at = moved(self.at, by, len.saturating_sub(1));
        true
    }

    /// Back within `len` rows after the list shrank.
    pub fn clamp(&mut self, len: usize) {
        self.at = self.at.min(len.saturating_sub(1));
    }
}

/// How far a movement key moves.
pub fn movement(action: Action) -> Option<isize> {
    Some(match action {
        Action::Up => -1,
        Action::Down => 1,
        Action::PageUp => -PAGE,
        Action::PageDown => PAGE,
        Action::Top => isize::MIN / 2,
        Action::Bottom => isize::MAX / 2,
        _ => return None,
    })
}

/// `current` moved `by`, within 0..=max.
pub fn moved(current: usize, by: isize, max: usize) -> usize {
    (current as isize).saturating_add(by).clamp(0, max as isize) as usize
}
