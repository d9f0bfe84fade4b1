//! Layering: defaults < config file < the chosen context of the file < environment < flags,
//! each value kept with where it came from. figment merges the layers and remembers which one gave each value; the layers are built
//! here because précis's variables and flags are not named after their keys (`AWS_REGION`,
//! `NUM_RECORDS`, `--summary-words`).

use std::fmt;
use std::path::{Path, PathBuf};

use figment::error::Kind;
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider, Source};

use super::{spec, specs, FlagScope, SettingSpec, Settings};

/// Config file read when `--config` is not given, if it exists in the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "precis.toml";
/// The variable that names a context when `--context` is not given.
pub const CONTEXT_VAR: &str = "PRECIS_CONTEXT";
/// The config file's table of named contexts: `[contexts.NAME.aws]`, `[contexts.NAME.stream]`,
/// `[contexts.NAME.lake]`.
const CONTEXTS: &str = "contexts";

/// Where a setting's value came from; shown by `precis config` and in error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    /// A named context of the config file (`--context`).
    Context(String),
    Env(&'static str),
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => write!(f, "default"),
            Origin::File(path) => write!(f, "file {}", path.display()),
            Origin::Context(name) => write!(f, "context {name}"),
            Origin::Env(var) => write!(f, "env {var}"),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// A bad configuration: the process exits with code 2 after printing it on one line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("invalid {key} = {value:?} (from {origin}): expected {accepted}")]
    InvalidValue {
        key: &'static str,
        value: String,
        origin: Origin,
        accepted: &'static str,
    },
    #[error("unknown setting `{key}` in {path}; known settings: {known}")]
    UnknownKey {
        key: String,
        path: PathBuf,
        known: String,
    },
    #[error("cannot read config file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("context {name}: {reason}")]
    Context { name: String, reason: String },
    /// A theme that cannot be used; the reason names the file and the key.
    #[error("invalid ui.theme (from {origin}): {reason}")]
    Theme { origin: Origin, reason: String },
}

/// A value given on the command line for a setting key.
#[derive(Debug, Clone)]
pub struct FlagValue {
    pub key: &'static str,
    pub value: String,
}

/// Inputs of [`Settings::load`], gathered by the caller so that tests can supply their own.
pub struct Sources<'a> {
    /// `--config`; when None, [`DEFAULT_CONFIG_FILE`] is read if it exists.
    pub config_file: Option<&'a Path>,
    /// `--context`; when None, [`CONTEXT_VAR`] names one, if set.
    pub context: Option<&'a str>,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub flags: &'a [FlagValue],
}

/// One source's values.
struct Layer {
    origin: Origin,
    values: Dict,
}

impl Layer {
    fn one(origin: Origin, key: &str, value: &str) -> Self {
        Self {
            origin,
            values: figment::util::nest(key, Value::from(value.to_string()))
                .into_dict()
                .unwrap_or_default(),
        }
    }

    /// The file's settings, and its contexts apart.
    fn file(path: &Path) -> Result<(Self, toml::Table), ConfigError> {
        let error = |reason: String| ConfigError::File {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| error(one_line_toml_error(&text, &e)))?;
        let contexts = match table.remove(CONTEXTS) {
            None => toml::Table::new(),
            Some(toml::Value::Table(contexts)) => contexts,
            Some(_) => return Err(error(format!("`{CONTEXTS}` must be a table of contexts"))),
        };
        let layer = Self {
            origin: Origin::File(path.to_path_buf()),
            values: dict(&table).map_err(error)?,
        };
        Ok((layer, contexts))
    }

    /// The context `name` of the file: connection settings only (every command's own: AWS,
    /// the stream's name, the bucket).
    fn context(
        name: &str,
        contexts: &toml::Table,
        file: Option<&Path>,
    ) -> Result<Self, ConfigError> {
        let refuse = |reason: String| ConfigError::Context {
            name: name.to_string(),
            reason,
        };
        let Some(file) = file else {
            return Err(refuse(format!(
                "no config file to read it from (--config, PRECIS_CONFIG or ./{DEFAULT_CONFIG_FILE})"
            )));
        };
        let Some(table) = contexts.get(name).and_then(toml::Value::as_table) else {
            let known: Vec<&str> = contexts.keys().map(String::as_str).collect();
            return Err(refuse(format!(
                "{} has no [{CONTEXTS}.{name}]; its contexts: {}",
                file.display(),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )));
        };
        for (section, body) in table {
            let keys: Vec<String> = match body.as_table() {
                Some(body) => body.keys().map(|k| format!("{section}.{k}")).collect(),
                None => vec![section.clone()],
            };
            for key in keys {
                if !super::spec(&key).is_some_and(|s| s.scopes.contains(&FlagScope::Global)) {
                    return Err(refuse(format!(
                        "{key} is not a connection setting: a context holds aws.*, stream.name \
                         and lake.bucket"
                    )));
                }
            }
        }
        Ok(Self {
            origin: Origin::Context(name.to_string()),
            values: dict(table).map_err(refuse)?,
        })
    }
}

fn dict(table: &toml::Table) -> Result<Dict, String> {
    Ok(Value::serialize(table)
        .map_err(|e| e.to_string())?
        .into_dict()
        .unwrap_or_default())
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        match &self.origin {
            Origin::Default => Metadata::named("default"),
            Origin::File(path) => Metadata::from("file", Source::File(path.clone())),
            Origin::Context(name) => Metadata::from("context", Source::Custom(name.clone())),
            Origin::Env(var) => Metadata::from("env", Source::Custom(var.to_string())),
            Origin::Flag(flag) => Metadata::from("flag", Source::Custom(flag.to_string())),
        }
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.values.clone()))
    }
}

/// The layer a figment value came from, read back from its metadata.
fn origin_of(metadata: &Metadata) -> Origin {
    let custom = match &metadata.source {
        Some(Source::File(path)) => return Origin::File(path.clone()),
        Some(Source::Custom(name)) => name.as_str(),
        _ => return Origin::Default,
    };
    let named = |names: fn(&'static SettingSpec) -> Vec<&'static str>| {
        specs()
            .flat_map(names)
            .find(|candidate| *candidate == custom)
    };
    let found = match metadata.name.as_ref() {
        "env" => named(|s| s.env.to_vec()).map(Origin::Env),
        "flag" => named(|s| vec![s.flag]).map(Origin::Flag),
        "context" => return Origin::Context(custom.to_string()),
        _ => None,
    };
    found.unwrap_or(Origin::Default)
}

impl Settings {
    pub fn load(sources: &Sources<'_>) -> Result<Self, ConfigError> {
        let file = match sources.config_file {
            Some(path) => Some(path.to_path_buf()),
            None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.is_file()),
        };
        let mut figment = Figment::new();
        let mut contexts = toml::Table::new();
        if let Some(path) = &file {
            let (layer, its_contexts) = Layer::file(path)?;
            figment = figment.merge(layer);
            contexts = its_contexts;
        }
        let context = match sources.context {
            Some(name) => Some(name.to_string()),
            None => (sources.env)(CONTEXT_VAR).filter(|name| !name.trim().is_empty()),
        };
        if let Some(name) = &context {
            figment = figment.merge(Layer::context(name, &contexts, file.as_deref())?);
        }
        for spec in specs() {
            // The first variable listed wins; an empty one counts as unset.
            let found = spec.env.iter().find_map(|var| {
                (sources.env)(var)
                    .filter(|value| !value.trim().is_empty())
                    .map(|value| (*var, value))
            });
            if let Some((var, value)) = found {
                figment = figment.merge(Layer::one(Origin::Env(var), spec.key, &value));
            }
        }
        for flag in sources.flags {
            let spec =
                spec(flag.key).unwrap_or_else(|| panic!("flag for unknown setting {}", flag.key));
            let origin = Origin::Flag(spec.flag);
            figment = figment.merge(Layer::one(origin, spec.key, &flag.value));
        }
        let mut settings: Settings = figment
            .extract()
            .map_err(|e| explain(&figment, e, file.as_deref()))?;
        settings.origins = specs()
            .filter_map(|s| Some((s.key, origin_of(figment.find_metadata(s.key)?))))
            .collect();
        settings.config_file = file;
        settings.context = context;
        settings.contexts = contexts.keys().cloned().collect();
        settings.contexts.sort();
        Ok(settings)
    }

    /// Reads the process environment; the entry point for the binary.
    pub fn from_process(
        config_file: Option<&Path>,
        context: Option<&str>,
        flags: &[FlagValue],
    ) -> Result<Self, ConfigError> {
        let env = |name: &str| std::env::var(name).ok();
        Self::load(&Sources {
            config_file,
            context,
            env: &env,
            flags,
        })
    }
}

/// figment's error, in précis's words: which setting, the value, where it came from, and what
/// is accepted.
fn explain(figment: &Figment, error: figment::Error, file: Option<&Path>) -> ConfigError {
    let at = error.path.join(".");
    let file_error = |reason: String| ConfigError::File {
        path: file.map(Path::to_path_buf).unwrap_or_default(),
        reason,
    };
    if let Kind::UnknownField(name, _) = &error.kind {
        // figment's path ends with the unknown name already.
        let key = if error.path.last() == Some(name) {
            at.clone()
        } else {
            format!("{at}.{name}")
        };
        return ConfigError::UnknownKey {
            key,
            path: file.map(Path::to_path_buf).unwrap_or_default(),
            known: specs().map(|s| s.key).collect::<Vec<_>>().join(", "),
        };
    }
    let Some(spec) = spec(&at) else {
        // A section that is not a table, say: only the file can hold one.
        return file_error(format!("`{at}`: {}", error.kind));
    };
    let value = match figment.find_value(spec.key) {
        Ok(Value::String(_, text)) => text,
        Ok(other) => toml::Value::try_from(&other)
            .map(|v| v.to_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    ConfigError::InvalidValue {
        key: spec.key,
        value: super::redact_url(&value),
        origin: error.metadata.as_ref().map_or(Origin::Default, origin_of),
        accepted: spec.accepted,
    }
}

/// toml's own message spans several lines with a source excerpt; keep the first line and add the
/// line number, so the error stays on one line.
fn one_line_toml_error(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().lines().next().unwrap_or("syntax error");
    match error.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {message}")
        }
        None => message.to_string(),
    }
}
