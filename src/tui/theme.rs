//! Themes: semantic colors from themes/*.toml. The built-in files are compiled in, so the binary
//! needs no data directory; `--theme PATH` reads any file with the same keys.

use std::path::Path;
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};

/// Every key a theme file must set, in file order.
pub const KEYS: &[&str] = &[
    "name",
    "background",
    "text",
    "muted",
    "accent",
    "title",
    "border",
    "selected_fg",
    "selected_bg",
    "good",
    "warning",
    "error",
    "chart_records",
    "chart_bytes",
    "key",
];

const BUILT_IN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Theme {
    pub name: String,
    pub background: Color,
    pub text: Color,
    pub muted: Color,
    pub accent: Color,
    pub title: Color,
    pub border: Color,
    pub selected_fg: Color,
    pub selected_bg: Color,
    pub good: Color,
    pub warning: Color,
    pub error: Color,
    pub chart_records: Color,
    pub chart_bytes: Color,
    pub key: Color,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ThemeError {
    #[error("theme {source_name}: not TOML: {reason}")]
    Syntax { source_name: String, reason: String },
    #[error("theme {source_name}: missing key `{key}` (a theme sets: {})", KEYS.join(", "))]
    Missing { source_name: String, key: String },
    #[error("theme {source_name}: unknown key `{key}` (a theme sets: {})", KEYS.join(", "))]
    Unknown { source_name: String, key: String },
    #[error("theme {source_name}: key `{key}` = {value}: expected a color name (cyan, dark-gray, reset, …) or #rrggbb")]
    BadColor {
        source_name: String,
        key: String,
        value: String,
    },
    #[error("theme {source_name}: key `name` must be a string")]
    BadName { source_name: String },
    #[error(
        "unknown theme {0:?}: use dark, light, high-contrast or the path of a theme file (.toml)"
    )]
    NotFound(String),
    #[error("cannot read theme file {path}: {reason}")]
    Read { path: String, reason: String },
}

impl Theme {
    /// The built-in themes, in the order `t` cycles through them.
    pub fn built_in() -> Vec<Theme> {
        BUILT_IN
            .iter()
            .map(|(name, text)| Theme::parse(text, name).expect("built-in themes are valid"))
            .collect()
    }

    /// The configured theme, checked when the binary starts so that a bad one is a bad setting
    /// for every command (exit 2), not only when the console opens.
    pub fn check_setting(
        settings: &crate::config::Settings,
    ) -> Result<(), crate::config::ConfigError> {
        Theme::load(&settings.ui.theme)
            .map(drop)
            .map_err(|e| crate::config::ConfigError::Theme {
                origin: settings.origin("ui.theme"),
                reason: e.to_string(),
            })
    }

    /// A built-in name, or the path of a theme file.
    pub fn load(spec: &str) -> Result<Theme, ThemeError> {
        if let Some((name, text)) = BUILT_IN.iter().find(|(name, _)| *name == spec) {
            return Theme::parse(text, name);
        }
        let path = Path::new(spec);
        if !path.is_file() {
            return Err(ThemeError::NotFound(spec.to_string()));
        }
        let text = std::fs::read_to_string(path).map_err(|e| ThemeError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Theme::parse(&text, &path.display().to_string())
    }

    /// `source_name` names the file in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<Theme, ThemeError> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ThemeError::Syntax {
                source_name: source_name.to_string(),
                reason: e.message().to_string(),
            })?;
        if let Some(key) = table.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(ThemeError::Unknown {
                source_name: source_name.to_string(),
                key: key.clone(),
            });
        }
        let value = |key: &str| {
            table.get(key).ok_or_else(|| ThemeError::Missing {
                source_name: source_name.to_string(),
                key: key.to_string(),
            })
        };
        let color = |key: &str| -> Result<Color, ThemeError> {
            let v = value(key)?;
            v.as_str()
                .and_then(|s| Color::from_str(s).ok())
                .ok_or_else(|| ThemeError::BadColor {
                    source_name: source_name.to_string(),
                    key: key.to_string(),
                    value: v.to_string(),
                })
        };
        Ok(Theme {
            name: value("name")?
                .as_str()
                .ok_or_else(|| ThemeError::BadName {
                    source_name: source_name.to_string(),
                })?
                .to_string(),
            background: color("background")?,
            text: color("text")?,
            muted: color("muted")?,
            accent: color("accent")?,
            title: color("title")?,
            border: color("border")?,
            selected_fg: color("selected_fg")?,
            selected_bg: color("selected_bg")?,
            good: color("good")?,
            warning: color("warning")?,
            error: color("error")?,
            chart_records: color("chart_records")?,
            chart_bytes: color("chart_bytes")?,
            key: color("key")?,
        })
    }

    pub fn base(&self) -> Style {
        Style::default().fg(self.text).bg(self.background)
    }

    pub fn muted(&self) -> Style {
        Style::default().fg(self.muted)
    }

    pub fn accent(&self) -> Style {
        Style::default().fg(self.accent)
    }

    pub fn title(&self) -> Style {
        Style::default().fg(self.title).add_modifier(Modifier::BOLD)
    }

    pub fn border(&self, focused: bool) -> Style {
        if focused {
            Style::default().fg(self.accent)
        } else {
            Style::default().fg(self.border)
        }
    }

    pub fn selected(&self) -> Style {
        Style::default()
            .fg(self.selected_fg)
            .bg(self.selected_bg)
            .add_modifier(Modifier::BOLD)
    }

    pub fn good(&self) -> Style {
        Style::default().fg(self.good)
    }

    pub fn warning(&self) -> Style {
        Style::default().fg(self.warning)
    }

    pub fn error(&self) -> Style {
        Style::default().fg(self.error).add_modifier(Modifier::BOLD)
    }

    pub fn key(&self) -> Style {
        Style::default().fg(self.key).add_modifier(Modifier::BOLD)
    }

    /// Lag in milliseconds → how alarming it looks.
    pub fn lag(&self, millis: i64) -> Style {
        if millis >= LAG_ALARM_MILLIS {
            self.error()
        } else if millis >= LAG_WARN_MILLIS {
            self.warning()
        } else {
            Style::default().fg(self.text)
        }
    }
}

/// A shard this far behind is lagging; this far, badly.
pub const LAG_WARN_MILLIS: i64 = 10_000;
pub const LAG_ALARM_MILLIS: i64 = 60_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_theme_parses_and_is_named_after_its_file() {
        let names: Vec<String> = Theme::built_in().into_iter().map(|t| t.name).collect();
        assert_eq!(names, ["dark", "light", "high-contrast"]);
    }

    #[test]
    fn a_configured_theme_that_cannot_load_is_a_bad_setting_naming_its_origin() {
        let flags = [crate::config::FlagValue {
            key: "ui.theme",
            value: "no-such-theme".into(),
        }];
        let settings = crate::config::Settings::load(&crate::config::Sources {
            config_file: None,
            context: None,
            env: &|_| None,
            flags: &flags,
        })
        .unwrap();
        let err = Theme::check_setting(&settings).unwrap_err().to_string();
        assert!(
            err.starts_with("invalid ui.theme (from flag --theme)"),
            "{err}"
        );
        assert!(err.contains("use dark, light, high-contrast"), "{err}");
        assert!(Theme::check_setting(&crate::config::Settings::default()).is_ok());
    }

    #[test]
    fn a_theme_loads_by_name() {
        assert_eq!(Theme::load("light").unwrap().name, "light");
    }

    #[test]
    fn a_bad_color_names_its_key_and_value() {
        let text = include_str!("../../themes/dark.toml").replace("#88c0d0", "bleu");
        let err = Theme::parse(&text, "mine.toml").unwrap_err().to_string();
        assert!(err.contains("mine.toml"), "{err}");
        assert!(err.contains("`accent` = \"bleu\""), "{err}");
    }

    #[test]
    fn a_missing_key_is_named() {
        let text: String = include_str!("../../themes/dark.toml")
            .lines()
            .filter(|l| !l.starts_with("warning"))
            .collect::<Vec<_>>()
            .join("\n");
        let err = Theme::parse(&text, "t.toml").unwrap_err();
        assert_eq!(
            err,
            ThemeError::Missing {
                source_name: "t.toml".into(),
                key: "warning".into()
            }
        );
    }

    #[test]
    fn an_unknown_key_is_named() {
        let text = format!(
            "{}\nsparkle = \"red\"\n",
            include_str!("../../themes/dark.toml")
        );
        let err = Theme::parse(&text, "t.toml").unwrap_err().to_string();
        assert!(err.contains("unknown key `sparkle`"), "{err}");
    }

    #[test]
    fn a_name_that_is_neither_built_in_nor_a_file_is_refused() {
        let err = Theme::load("solarized-nope").unwrap_err().to_string();
        assert!(err.contains("use dark, light, high-contrast"), "{err}");
    }

    #[test]
    fn lag_gets_louder_with_the_delay() {
        let t = Theme::load("dark").unwrap();
        assert_eq!(t.lag(0).fg, Some(t.text));
        assert_eq!(t.lag(LAG_WARN_MILLIS).fg, Some(t.warning));
        assert_eq!(t.lag(LAG_ALARM_MILLIS).fg, Some(t.error));
    }
}
