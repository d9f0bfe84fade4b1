//! The console: its theme.

use serde::{Deserialize, Serialize};

use super::values::*;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UiSettings {
    /// A built-in theme name or a theme file; checked when the binary starts
    /// (`tui::theme::check_setting`).
    #[serde(deserialize_with = "non_empty")]
    pub theme: String,
}

impl Default for UiSettings {
    fn default() -> Self {
        Self {
            theme: "dark".into(),
        }
    }
}
