//! The console: its theme.

use serde::{Deserialize, Serialize};

use super::values::*;
use super::{FlagScope, SettingSpec};

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

/// This section's settings: names, flags and forms (the fields above hold the values).
pub(super) const SETTINGS: &[SettingSpec] = &[SettingSpec {
    key: "ui.theme",
    env: &["PRECIS_THEME"],
    flag: "--theme",
    value_name: "NAME|PATH",
    help: "Console theme: dark, light, high-contrast, or a theme file",
    accepted: "a console theme: dark, light, high-contrast, or the path of a theme .toml file",
    default_note: None,
    scopes: &[FlagScope::Run],
}];
