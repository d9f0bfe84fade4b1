//! Settings: one serde struct per section, filled from, in rising priority, built-in defaults, a
//! TOML file, the environment, and command-line flags (`sources.rs`).
//!
//! Each section is a file of its own (`aws.rs`, `stream.rs`, `lake.rs`, `coordination.rs`,
//! `pipeline.rs`, `summarizer.rs`, `ui.rs`, `produce.rs`). Adding a setting is one file: a field
//! in its section (with the reader that checks it, `values.rs`), its default, and its row in the
//! section's `SETTINGS` naming its variable, flag, help and accepted form; the command line and
//! `docs/configuration.md` are built from the rows. The pipeline
//! imports these types; this module imports nothing from the pipeline.

mod aws;
mod coordination;
mod lake;
mod pipeline;
mod produce;
mod sources;
mod stream;
mod summarizer;
mod ui;
mod values;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use aws::{AwsSettings, Service};
pub use coordination::{CoordinationMode, CoordinationSettings};
pub use lake::LakeSettings;
pub use pipeline::{PipelineSettings, StartPosition};
pub use produce::ProduceSettings;
pub use sources::{ConfigError, FlagValue, Origin, Sources, CONTEXT_VAR, DEFAULT_CONFIG_FILE};
pub use stream::StreamSettings;
pub use summarizer::{Device, EncoderKind, SummarizerKind, SummarizerSettings};
pub use ui::UiSettings;
pub use values::{is_local_endpoint, redact_key_id, redact_url};

/// One setting everybody can name, written once in its section's file next to its field: its
/// key in the TOML file, the environment variables that set it (first listed wins), its flag
/// (the command line is built from these rows, `cli::SettingFlags`), and the form it accepts.
#[derive(Debug)]
pub struct SettingSpec {
    pub key: &'static str,
    pub env: &'static [&'static str],
    pub flag: &'static str,
    pub value_name: &'static str,
    /// What it does, for the flag's help.
    pub help: &'static str,
    /// The form it accepts, for errors, the help and the reference.
    pub accepted: &'static str,
    /// The default in words where it is not one value: it follows other settings, or unset
    /// means something.
    pub default_note: Option<&'static str>,
    /// Which commands take the flag.
    pub scopes: &'static [FlagScope],
}

/// The commands a setting's flag belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagScope {
    /// Every command.
    Global,
    Produce,
    /// `run` and `tui`.
    Run,
    /// The commands that summarize: `run`, `tui`, `eval`, `reprocess`, `backfill`.
    Summarizer,
    Compact,
}

/// Every setting, section by section in the order `precis config` prints them.
pub fn specs() -> impl Iterator<Item = &'static SettingSpec> {
    [
        aws::SETTINGS,
        stream::SETTINGS,
        lake::SETTINGS,
        coordination::SETTINGS,
        pipeline::SETTINGS,
        summarizer::SETTINGS,
        ui::SETTINGS,
        produce::SETTINGS,
    ]
    .into_iter()
    .flatten()
}

/// The setting named `key` (`section.name`).
pub fn spec(key: &str) -> Option<&'static SettingSpec> {
    specs().find(|s| s.key == key)
}

impl SettingSpec {
    /// The default as a user reads it: the note, or the value TOML would write.
    pub fn default_text(&self) -> String {
        // Every flag's help asks, each time the command line is built: serialized once.
        static DEFAULTS: std::sync::LazyLock<toml::Table> =
            std::sync::LazyLock::new(|| Settings::default().values());
        match self.default_note {
            Some(note) => note.to_string(),
            None => match value_in(&DEFAULTS, self.key) {
                Some(toml::Value::String(text)) => text,
                Some(value) => value.to_string(),
                None => "unset".into(),
            },
        }
    }
}

/// The effective configuration, with where each value came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub aws: AwsSettings,
    pub stream: StreamSettings,
    pub lake: LakeSettings,
    pub coordination: CoordinationSettings,
    pub pipeline: PipelineSettings,
    pub summarizer: SummarizerSettings,
    pub ui: UiSettings,
    pub produce: ProduceSettings,
    #[serde(skip)]
    origins: BTreeMap<&'static str, Origin>,
    #[serde(skip)]
    config_file: Option<PathBuf>,
    #[serde(skip)]
    context: Option<String>,
    #[serde(skip)]
    contexts: Vec<String>,
}

impl Settings {
    /// Where the value of `key` came from.
    pub fn origin(&self, key: &str) -> Origin {
        self.origins.get(key).cloned().unwrap_or(Origin::Default)
    }

    pub fn config_file(&self) -> Option<&Path> {
        self.config_file.as_deref()
    }

    /// The context of the config file in use (`--context`), if any.
    pub fn context(&self) -> Option<&str> {
        self.context.as_deref()
    }

    /// The names of the config file's contexts, sorted.
    pub fn contexts(&self) -> &[String] {
        &self.contexts
    }

    /// Every set value as TOML would write it, by section, with the defaults that depend on
    /// other settings filled in.
    pub fn values(&self) -> toml::Table {
        let mut effective = self.clone();
        effective.coordination.mode = Some(self.coordination.mode());
        effective.coordination.lease_table = Some(self.coordination.table_for(&self.stream.name));
        effective.summarizer.model = Some(self.summarizer.model_spec().to_string());
        toml::Table::try_from(&effective).expect("settings serialize to TOML")
    }

    /// The value of a setting in [`values`](Self::values); None when unset.
    pub fn value_of(&self, key: &str) -> Option<toml::Value> {
        value_in(&self.values(), key)
    }
}

/// A `section.name` key's value in a table of sections.
pub fn value_in(table: &toml::Table, key: &str) -> Option<toml::Value> {
    let (section, name) = key.split_once('.')?;
    table.get(section)?.get(name).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    pub(super) fn load(
        file: Option<&Path>,
        env: &[(&str, &str)],
        flags: &[(&'static str, &str)],
    ) -> Result<Settings, ConfigError> {
        load_in(None, file, env, flags)
    }

    /// [`load`] with `--context`.
    fn load_in(
        context: Option<&str>,
        file: Option<&Path>,
        env: &[(&str, &str)],
        flags: &[(&'static str, &str)],
    ) -> Result<Settings, ConfigError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |name: &str| env.get(name).cloned();
        let flags: Vec<FlagValue> = flags
            .iter()
            .map(|(key, value)| FlagValue {
                key,
                value: value.to_string(),
            })
            .collect();
        Settings::load(&Sources {
            config_file: file,
            context,
            env: &lookup,
            flags: &flags,
        })
    }

    fn write_file(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        file
    }

    #[test]
    fn defaults_match_the_original_challenge() {
        let s = load(None, &[], &[]).unwrap();
        assert_eq!(s.stream.name, "MyStream");
        assert_eq!(s.lake.bucket, "my-bucket");
        assert_eq!(s.aws.region, "us-east-1");
        assert_eq!(s.produce.records, 1000);
        assert_eq!(s.stream.shards, 1);
        assert_eq!(s.origin("stream.name"), Origin::Default);
    }

    #[test]
    fn file_overrides_defaults() {
        let f = write_file("[stream]\nname = \"FromFile\"\nshards = 3\n");
        let s = load(Some(f.path()), &[], &[]).unwrap();
        assert_eq!(s.stream.name, "FromFile");
        assert_eq!(s.stream.shards, 3);
        assert_eq!(
            s.origin("stream.shards"),
            Origin::File(f.path().to_path_buf())
        );
    }

    #[test]
    fn environment_overrides_file() {
        let f = write_file("[stream]\nname = \"FromFile\"\n");
        let s = load(Some(f.path()), &[("PRECIS_STREAM", "FromEnv")], &[]).unwrap();
        assert_eq!(s.stream.name, "FromEnv");
        assert_eq!(s.origin("stream.name"), Origin::Env("PRECIS_STREAM"));
    }

    #[test]
    fn flags_override_environment() {
        let s = load(
            None,
            &[("PRECIS_STREAM", "FromEnv")],
            &[("stream.name", "FromFlag")],
        )
        .unwrap();
        assert_eq!(s.stream.name, "FromFlag");
        assert_eq!(s.origin("stream.name"), Origin::Flag("--stream"));
    }

    #[test]
    fn num_records_sets_the_record_count() {
        let s = load(None, &[("NUM_RECORDS", "250")], &[]).unwrap();
        assert_eq!(s.produce.records, 250);
    }

    #[test]
    fn aws_region_wins_over_aws_default_region() {
        let s = load(
            None,
            &[
                ("AWS_DEFAULT_REGION", "eu-west-1"),
                ("AWS_REGION", "eu-central-1"),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(s.aws.region, "eu-central-1");
    }

    #[test]
    fn empty_variables_count_as_unset() {
        let s = load(None, &[("AWS_ENDPOINT_URL", "")], &[]).unwrap();
        assert_eq!(s.aws.endpoint_url, None);
    }

    #[test]
    fn bad_value_names_the_setting_its_origin_and_the_accepted_form() {
        let err = load(None, &[("PRECIS_SHARDS", "many")], &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid stream.shards = \"many\" (from env PRECIS_SHARDS): expected a whole number from 1 to 500"
        );
    }

    #[test]
    fn out_of_range_flag_is_rejected() {
        let err = load(None, &[], &[("stream.shards", "0")]).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::InvalidValue {
                key: "stream.shards",
                ..
            }
        ));
        assert!(err.to_string().contains("flag --shards"));
    }

    #[test]
    fn bad_bucket_name_is_rejected() {
        for bad in ["My_Bucket", "ab", "-leading", "trailing-", "a..b"] {
            assert!(load(None, &[], &[("lake.bucket", bad)]).is_err(), "{bad}");
        }
        assert!(load(None, &[], &[("lake.bucket", "my-bucket.v2")]).is_ok());
    }

    #[test]
    fn endpoint_urls_need_a_scheme_and_a_host() {
        for bad in [
            "localhost:4566",
            "http://",
            "ftp://x",
            "http://host:notaport",
            "http://a b",
        ] {
            assert!(
                load(None, &[], &[("aws.endpoint_url", bad)]).is_err(),
                "{bad}"
            );
        }
        for good in [
            "http://127.0.0.1:4566",
            "https://kinesis.us-east-1.amazonaws.com",
            "http://[::1]:4566/",
        ] {
            assert!(
                load(None, &[], &[("aws.endpoint_url", good)]).is_ok(),
                "{good}"
            );
        }
    }

    #[test]
    fn unknown_file_key_is_named() {
        let f = write_file("[stream]\nnmae = \"x\"\n");
        let err = load(Some(f.path()), &[], &[]).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("unknown setting `stream.nmae`"),
            "{message}"
        );
        assert!(message.contains("stream.name"), "{message}");
    }

    #[test]
    fn wrongly_typed_file_value_is_rejected() {
        let f = write_file("[stream]\nshards = \"four\"\n");
        let err = load(Some(f.path()), &[], &[]).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::InvalidValue {
                key: "stream.shards",
                ..
            }
        ));
    }

    #[test]
    fn toml_syntax_error_is_one_line_with_a_line_number() {
        let f = write_file("[stream]\nname = \n");
        let message = load(Some(f.path()), &[], &[]).unwrap_err().to_string();
        assert!(!message.contains('\n'), "{message}");
        assert!(message.contains("line 2"), "{message}");
    }

    #[test]
    fn missing_explicit_config_file_is_an_error() {
        let err = load(Some(Path::new("/nonexistent/precis.toml")), &[], &[]).unwrap_err();
        assert!(matches!(err, ConfigError::File { .. }));
    }

    #[test]
    fn every_setting_has_a_value_accessor() {
        let s = Settings {
            aws: AwsSettings {
                endpoint_url: Some("http://x:1".into()),
                endpoint_url_kinesis: Some("http://k:1".into()),
                endpoint_url_s3: Some("http://s:1".into()),
                endpoint_url_dynamodb: Some("http://d:1".into()),
                profile: Some("p".into()),
                ..Settings::default().aws
            },
            summarizer: SummarizerSettings {
                encoder: Some(EncoderKind::OnnxFp32),
                workers: Some(2),
                ..Settings::default().summarizer
            },
            produce: ProduceSettings {
                seed: Some(1),
                ..Settings::default().produce
            },
            ..Settings::default()
        };
        for spec in specs() {
            assert!(s.value_of(spec.key).is_some(), "{}", spec.key);
        }
    }

    #[test]
    fn every_field_of_every_section_is_a_listed_setting() {
        let table = toml::Table::try_from(Settings {
            aws: AwsSettings {
                endpoint_url: Some("http://x:1".into()),
                endpoint_url_kinesis: Some("http://k:1".into()),
                endpoint_url_s3: Some("http://s:1".into()),
                endpoint_url_dynamodb: Some("http://d:1".into()),
                profile: Some("p".into()),
                ..AwsSettings::default()
            },
            coordination: CoordinationSettings {
                mode: Some(CoordinationMode::DynamoDb),
                lease_table: Some("leases".into()),
                ..CoordinationSettings::default()
            },
            summarizer: SummarizerSettings {
                model: Some("m".into()),
                encoder: Some(EncoderKind::Candle),
                workers: Some(2),
                ..SummarizerSettings::default()
            },
            produce: ProduceSettings {
                seed: Some(1),
                ..ProduceSettings::default()
            },
            ..Settings::default()
        })
        .unwrap();
        let mut fields = 0;
        for (section, body) in &table {
            for name in body.as_table().unwrap().keys() {
                let key = format!("{section}.{name}");
                assert!(spec(&key).is_some(), "{key} has no row");
                fields += 1;
            }
        }
        assert_eq!(fields, specs().count());
    }

    #[test]
    fn an_unknown_section_in_the_file_is_named() {
        let f = write_file("[streams]\nname = \"x\"\n");
        let message = load(Some(f.path()), &[], &[]).unwrap_err().to_string();
        assert!(message.contains("unknown setting `streams`"), "{message}");
    }

    #[test]
    fn a_number_reads_the_same_as_text_or_with_grouped_digits() {
        let f = write_file("[stream]\nshards = \"4\"\n[pipeline]\nflush_records = 2_000\n");
        let s = load(Some(f.path()), &[("PRECIS_FLUSH_MIB", "1_0")], &[]).unwrap();
        assert_eq!(s.stream.shards, 4);
        assert_eq!(s.pipeline.flush_records, 2000);
        assert_eq!(s.pipeline.flush_mib, 10);
    }

    #[test]
    fn a_bad_file_value_names_the_file_and_the_value() {
        let f = write_file("[lake]\nbucket = \"My_Bucket\"\n");
        let err = load(Some(f.path()), &[], &[]).unwrap_err();
        assert_eq!(
            err,
            ConfigError::InvalidValue {
                key: "lake.bucket",
                value: "My_Bucket".into(),
                origin: Origin::File(f.path().to_path_buf()),
                accepted: spec("lake.bucket").unwrap().accepted,
            }
        );
    }

    #[test]
    fn a_flag_that_fixes_a_file_value_is_not_an_error_and_its_origin_is_the_flag() {
        let f = write_file("[stream]\nshards = 0\n");
        let s = load(Some(f.path()), &[], &[("stream.shards", "2")]).unwrap();
        assert_eq!(s.stream.shards, 2);
        assert_eq!(s.origin("stream.shards"), Origin::Flag("--shards"));
    }

    #[test]
    fn names_of_choices_read_in_any_case() {
        let s = load(
            None,
            &[
                ("PRECIS_COORDINATION", "DynamoDB"),
                ("PRECIS_ENCODER", "ONNX-fp32"),
            ],
            &[("summarizer.kind", "None")],
        )
        .unwrap();
        assert_eq!(s.coordination.mode(), CoordinationMode::DynamoDb);
        assert_eq!(s.summarizer.encoder, Some(EncoderKind::OnnxFp32));
        assert_eq!(s.summarizer.kind, SummarizerKind::None);
        assert!(load(None, &[("PRECIS_DEVICE", "tpu")], &[]).is_err());
    }

    const CONTEXTS: &str = "[stream]\nname = \"FromFile\"\n[aws]\nregion = \"eu-west-1\"\n\
        [contexts.prod.stream]\nname = \"Prod\"\n[contexts.prod.lake]\nbucket = \"prod-lake\"\n\
        [contexts.local.aws]\nendpoint_url = \"http://127.0.0.1:4566\"\n";

    #[test]
    fn a_context_of_the_file_wins_over_the_file_and_yields_to_the_environment() {
        let f = write_file(CONTEXTS);
        let s = load_in(
            Some("prod"),
            Some(f.path()),
            &[("PRECIS_BUCKET", "env-lake")],
            &[],
        )
        .unwrap();
        assert_eq!(s.stream.name, "Prod");
        assert_eq!(s.origin("stream.name"), Origin::Context("prod".into()));
        assert_eq!(s.lake.bucket, "env-lake");
        assert_eq!(
            s.aws.region, "eu-west-1",
            "what the context does not set stays the file's"
        );
        assert_eq!(s.context(), Some("prod"));
        let plain = load(Some(f.path()), &[], &[]).unwrap();
        assert_eq!(
            (plain.stream.name.as_str(), plain.context()),
            ("FromFile", None)
        );
    }

    #[test]
    fn settings_name_every_context_of_the_file_whichever_is_in_use() {
        let f = write_file(CONTEXTS);
        for chosen in [None, Some("prod")] {
            let s = load_in(chosen, Some(f.path()), &[], &[]).unwrap();
            assert_eq!(s.contexts(), ["local", "prod"]);
        }
        assert!(load(None, &[], &[]).unwrap().contexts().is_empty());
    }

    #[test]
    fn precis_context_names_the_context_and_the_flag_wins_over_it() {
        let f = write_file(CONTEXTS);
        let s = load(Some(f.path()), &[("PRECIS_CONTEXT", "local")], &[]).unwrap();
        assert_eq!(s.aws.endpoint_url.as_deref(), Some("http://127.0.0.1:4566"));
        let s = load_in(
            Some("prod"),
            Some(f.path()),
            &[("PRECIS_CONTEXT", "local")],
            &[],
        )
        .unwrap();
        assert_eq!(
            (s.context(), s.aws.endpoint_url.as_deref()),
            (Some("prod"), None)
        );
    }

    #[test]
    fn an_unknown_context_names_the_ones_the_file_has() {
        let f = write_file(CONTEXTS);
        let err = load_in(Some("staging"), Some(f.path()), &[], &[])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("context staging: "), "{err}");
        assert!(err.ends_with("its contexts: local, prod"), "{err}");
        let err = load_in(Some("prod"), None, &[], &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("no config file"), "{err}");
    }

    #[test]
    fn a_context_holds_connection_settings_only() {
        let f = write_file("[contexts.fast.pipeline]\nflush_records = 10\n");
        let err = load_in(Some("fast"), Some(f.path()), &[], &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pipeline.flush_records is not a connection setting"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_value_in_a_context_names_the_context() {
        let f = write_file("[contexts.bad.lake]\nbucket = \"Not_A_Bucket\"\n");
        let err = load_in(Some("bad"), Some(f.path()), &[], &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("(from context bad)"), "{err}");
    }
}
