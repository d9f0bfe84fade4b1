//! `precis config`: the effective settings as a TOML file would hold them, each with its origin,
//! and the credentials that will be used, redacted.

use std::fmt::Write;

use crate::config::{redact_key_id, specs, value_in, Settings};

pub fn render(settings: &Settings) -> String {
    render_with_env(settings, &|name| std::env::var(name).ok())
}

pub fn render_with_env(settings: &Settings, env: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let file = match settings.config_file() {
        Some(path) => path.display().to_string(),
        None => "none (precis.toml not found)".into(),
    };
    let _ = writeln!(
        out,
        "# effective settings: flag > environment > context > config file > default"
    );
    let _ = writeln!(out, "# config file: {file}");
    if let Some(context) = settings.context() {
        let _ = writeln!(out, "# context: {context}");
    }
    let values = settings.values();
    let mut section = "";
    for spec in specs() {
        let (this_section, name) = spec.key.split_once('.').unwrap_or(("", spec.key));
        if this_section != section {
            section = this_section;
            let _ = writeln!(out, "\n[{section}]");
        }
        let origin = settings.origin(spec.key);
        match value_in(&values, spec.key) {
            Some(value) => {
                let value = match (spec.key, &value) {
                    (key, toml::Value::String(url)) if key.starts_with("aws.endpoint_url") => {
                        toml::Value::String(crate::config::redact_url(url))
                    }
                    _ => value,
                };
                let _ = writeln!(out, "{name} = {value}  # {origin}");
            }
            None => {
                let _ = writeln!(
                    out,
                    "# {name} is not set  ({})",
                    spec.default_note.unwrap_or("default")
                );
            }
        }
    }
    let _ = writeln!(out, "\n# credentials: {}", credentials(settings, env));
    out
}

/// The settings reference of docs/configuration.md, from the same table the loader reads, so
/// the document cannot drift from the code (a test compares them).
pub fn reference() -> String {
    let mut out = String::from(
        "| setting | default | environment | flag | accepted |\n| --- | --- | --- | --- | --- |\n",
    );
    for spec in specs() {
        // A note is words, a value is code.
        let default = match spec.default_note {
            Some(_) => spec.default_text(),
            None => format!("`{}`", spec.default_text()),
        };
        let code = |names: &[&str]| {
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "| `{}` | {default} | {} | {} | {} |",
            spec.key,
            code(spec.env),
            code(&[spec.flag]),
            spec.accepted.replace('|', "\\|"),
        );
    }
    out
}

/// Which credentials a command will use, without resolving the chain (that may take seconds on
/// a machine without instance metadata) and without ever printing a secret.
fn credentials(settings: &Settings, env: &dyn Fn(&str) -> Option<String>) -> String {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    if let Some(key_id) = set("AWS_ACCESS_KEY_ID") {
        let secret = if set("AWS_SECRET_ACCESS_KEY").is_some() {
            "<redacted>"
        } else {
            "<missing!>"
        };
        let token = if set("AWS_SESSION_TOKEN").is_some() {
            ", AWS_SESSION_TOKEN=<redacted>"
        } else {
            ""
        };
        return format!(
            "environment (AWS_ACCESS_KEY_ID={}, AWS_SECRET_ACCESS_KEY={secret}{token})",
            redact_key_id(&key_id)
        );
    }
    if let Some(profile) = &settings.aws.profile {
        let origin = settings.origin("aws.profile");
        return format!("profile {profile} ({origin})");
    }
    if settings.aws.is_local() {
        return "dummy test/test (local emulator endpoint, none configured)".into();
    }
    "AWS default chain (web identity, SSO, ~/.aws files, container, instance metadata)".into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{FlagValue, Sources};

    fn settings(env: &[(&str, &str)]) -> (Settings, impl Fn(&str) -> Option<String>) {
        let pairs: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let flags: Vec<FlagValue> = Vec::new();
        let s = Settings::load(&Sources {
            config_file: None,
            context: None,
            env: &lookup,
            flags: &flags,
        })
        .unwrap();
        (s, lookup)
    }

    #[test]
    fn every_setting_is_listed_with_its_origin() {
        let (s, env) = settings(&[("PRECIS_STREAM", "Orders")]);
        let text = render_with_env(&s, &env);
        assert!(
            text.contains("name = \"Orders\"  # env PRECIS_STREAM"),
            "{text}"
        );
        assert!(text.contains("bucket = \"my-bucket\"  # default"), "{text}");
        for spec in specs() {
            let name = spec.key.split_once('.').unwrap().1;
            assert!(text.contains(name), "{} missing:\n{text}", spec.key);
        }
    }

    #[test]
    fn secret_access_key_is_never_printed() {
        let (s, env) = settings(&[
            ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
            (
                "AWS_SECRET_ACCESS_KEY",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY",
            ),
            ("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEXAMPLETOKEN"),
            ("AWS_ENDPOINT_URL", "http://admin:hunter2@127.0.0.1:4566"),
        ]);
        let text = render_with_env(&s, &env);
        assert!(!text.contains("wJalrXUtnFEMI"), "{text}");
        assert!(!text.contains("FwoGZXIvYXdz"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("AKIAIOSFODNN7EXAMPLE"), "{text}");
        assert!(text.contains("AKIA…MPLE"), "{text}");
    }

    #[test]
    fn output_is_valid_toml_with_the_effective_values() {
        let (s, env) = settings(&[("PRECIS_SHARDS", "4")]);
        let parsed: toml::Table = render_with_env(&s, &env).parse().unwrap();
        assert_eq!(parsed["stream"]["shards"].as_integer(), Some(4));
        assert_eq!(parsed["stream"]["name"].as_str(), Some("MyStream"));
    }

    #[test]
    fn what_config_prints_read_back_as_a_file_gives_the_same_settings() {
        let (s, env) = settings(&[
            ("PRECIS_SHARDS", "4"),
            ("PRECIS_FROM", "at-timestamp=2026-11-23T08:00:00Z"),
            ("PRECIS_SUMMARY_WORDS", "0"),
            ("PRECIS_SEED", "18446744073709551615"),
        ]);
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), render_with_env(&s, &env)).unwrap();
        let none = |_: &str| None;
        let again = Settings::load(&Sources {
            config_file: Some(file.path()),
            context: None,
            env: &none,
            flags: &[],
        })
        .unwrap();
        for spec in specs() {
            assert_eq!(
                again.value_of(spec.key),
                s.value_of(spec.key),
                "{}",
                spec.key
            );
        }
    }

    #[test]
    fn the_configuration_reference_in_docs_lists_every_setting_as_the_code_does() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md");
        let doc = std::fs::read_to_string(path).unwrap();
        let (begin, end) = ("<!-- settings:begin -->\n", "<!-- settings:end -->");
        let start = doc.find(begin).expect("begin marker") + begin.len();
        let stop = doc.find(end).expect("end marker");
        let expected = reference();
        if std::env::var_os("PRECIS_UPDATE_DOCS").is_some() {
            let updated = format!("{}{expected}{}", &doc[..start], &doc[stop..]);
            std::fs::write(path, updated).unwrap();
            return;
        }
        assert!(
            doc[start..stop] == expected,
            "docs/configuration.md is out of date: run \
             PRECIS_UPDATE_DOCS=1 cargo test --lib the_configuration_reference"
        );
    }
}
