//! Settings: one serde struct per section, filled from, in rising priority, built-in defaults, a
//! TOML file, the environment, and command-line flags (`sources.rs`).
//!
//! Each section is a file of its own (`aws.rs`, `stream.rs`, `lake.rs`, `coordination.rs`,
//! `pipeline.rs`, `summarizer.rs`, `ui.rs`, `produce.rs`). Adding a setting: a field in its
//! section (with the reader that checks it, `values.rs`), its default, and a row in [`SETTINGS`]
//! naming its variable, flag and accepted form. The pipeline
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
pub use sources::{ConfigError, FlagValue, Origin, Sources, DEFAULT_CONFIG_FILE};
pub use stream::StreamSettings;
pub use summarizer::{Device, EncoderKind, SummarizerKind, SummarizerSettings};
pub use ui::UiSettings;
pub use values::{is_local_endpoint, redact_key_id, redact_url};

/// One setting everybody can name: its key in the TOML file, the environment variables that set
/// it (first listed wins), its flag, and the form it accepts.
pub struct SettingSpec {
    pub key: &'static str,
    pub env: &'static [&'static str],
    pub flag: Option<&'static str>,
    pub accepted: &'static str,
}

pub const SETTINGS: &[SettingSpec] = &[
    SettingSpec {
        key: "aws.region",
        env: &["AWS_REGION", "AWS_DEFAULT_REGION"],
        flag: Some("--region"),
        accepted: "an AWS region name such as us-east-1",
    },
    SettingSpec {
        key: "aws.endpoint_url",
        env: &["AWS_ENDPOINT_URL"],
        flag: Some("--endpoint-url"),
        accepted: "an http:// or https:// URL such as http://127.0.0.1:4566",
    },
    SettingSpec {
        key: "aws.endpoint_url_kinesis",
        env: &["AWS_ENDPOINT_URL_KINESIS"],
        flag: Some("--endpoint-url-kinesis"),
        accepted: "an http:// or https:// URL for Kinesis alone (wins over aws.endpoint_url)",
    },
    SettingSpec {
        key: "aws.endpoint_url_s3",
        env: &["AWS_ENDPOINT_URL_S3"],
        flag: Some("--endpoint-url-s3"),
        accepted: "an http:// or https:// URL for S3 alone (wins over aws.endpoint_url)",
    },
    SettingSpec {
        key: "aws.endpoint_url_dynamodb",
        env: &["AWS_ENDPOINT_URL_DYNAMODB"],
        flag: Some("--endpoint-url-dynamodb"),
        accepted: "an http:// or https:// URL for DynamoDB alone (wins over aws.endpoint_url)",
    },
    SettingSpec {
        key: "aws.profile",
        env: &["AWS_PROFILE"],
        flag: Some("--profile"),
        accepted: "a profile name from ~/.aws/config",
    },
    SettingSpec {
        key: "aws.timeout_secs",
        env: &["PRECIS_AWS_TIMEOUT_SECS"],
        flag: Some("--aws-timeout-secs"),
        accepted: "a whole number of seconds from 1 to 600",
    },
    SettingSpec {
        key: "stream.name",
        env: &["PRECIS_STREAM"],
        flag: Some("--stream"),
        accepted: "1-128 characters from a-z, A-Z, 0-9, '_', '-', '.'",
    },
    SettingSpec {
        key: "stream.shards",
        env: &["PRECIS_SHARDS"],
        flag: Some("--shards"),
        accepted: "a whole number from 1 to 500",
    },
    SettingSpec {
        key: "lake.bucket",
        env: &["PRECIS_BUCKET"],
        flag: Some("--bucket"),
        accepted: "an S3 bucket name: 3-63 characters from a-z, 0-9, '-', '.', starting and ending with a letter or digit",
    },
    SettingSpec {
        key: "lake.target_file_mib",
        env: &["PRECIS_TARGET_FILE_MIB"],
        flag: Some("--target-file-mib"),
        accepted: "a whole number of MiB from 1 to 4096",
    },
    SettingSpec {
        key: "lake.row_group_mib",
        env: &["PRECIS_ROW_GROUP_MIB"],
        flag: Some("--row-group-mib"),
        accepted: "a whole number of MiB from 1 to 1024",
    },
    SettingSpec {
        key: "lake.compact_small_files",
        env: &["PRECIS_COMPACT_SMALL_FILES"],
        flag: Some("--compact-small-files"),
        accepted: "a whole number from 0 (never) to 100000",
    },
    SettingSpec {
        key: "coordination.mode",
        env: &["PRECIS_COORDINATION"],
        flag: Some("--coordination"),
        accepted: "none (this process reads every shard) or dynamodb (workers share the shards through a lease table)",
    },
    SettingSpec {
        key: "coordination.lease_table",
        env: &["PRECIS_LEASE_TABLE"],
        flag: Some("--lease-table"),
        accepted: "a DynamoDB table name: 3-255 characters from a-z, A-Z, 0-9, '_', '-', '.'",
    },
    SettingSpec {
        key: "coordination.lease_secs",
        env: &["PRECIS_LEASE_SECS"],
        flag: Some("--lease-secs"),
        accepted: "a whole number of seconds from 3 to 600",
    },
    SettingSpec {
        key: "coordination.take_secs",
        env: &["PRECIS_LEASE_TAKE_SECS"],
        flag: Some("--lease-take-secs"),
        accepted: "a whole number of seconds from 1 to 600",
    },
    SettingSpec {
        key: "pipeline.from",
        env: &["PRECIS_FROM"],
        flag: Some("--from"),
        accepted: "trim-horizon, latest or at-timestamp=RFC3339 (e.g. at-timestamp=2026-11-23T08:00:00Z)",
    },
    SettingSpec {
        key: "pipeline.flush_records",
        env: &["PRECIS_FLUSH_RECORDS"],
        flag: Some("--flush-records"),
        accepted: "a whole number of records from 1 to 1000000",
    },
    SettingSpec {
        key: "pipeline.flush_mib",
        env: &["PRECIS_FLUSH_MIB"],
        flag: Some("--flush-mib"),
        accepted: "a whole number of MiB from 1 to 1024",
    },
    SettingSpec {
        key: "pipeline.flush_age_secs",
        env: &["PRECIS_FLUSH_AGE_SECS"],
        flag: Some("--flush-age-secs"),
        accepted: "a whole number of seconds from 1 to 3600",
    },
    SettingSpec {
        key: "pipeline.max_content_kib",
        env: &["PRECIS_MAX_CONTENT_KIB"],
        flag: Some("--max-content-kib"),
        accepted: "a whole number of KiB from 1 to 1024",
    },
    SettingSpec {
        key: "summarizer.kind",
        env: &["PRECIS_SUMMARIZER"],
        flag: Some("--summarizer"),
        accepted: "extractive, generative or none",
    },
    SettingSpec {
        key: "summarizer.model",
        env: &["PRECIS_MODEL"],
        flag: Some("--model"),
        accepted: "a model directory (or GGUF file), or a known name: all-minilm-l6-v2, smollm2-135m-instruct",
    },
    SettingSpec {
        key: "summarizer.encoder",
        env: &["PRECIS_ENCODER"],
        flag: Some("--encoder"),
        accepted: "static (MiniLM distilled into token vectors: no model runs), onnx (ONNX Runtime, int8 weights), onnx-fp32, or candle (pure Rust, slower)",
    },
    SettingSpec {
        key: "summarizer.device",
        env: &["PRECIS_DEVICE"],
        flag: Some("--device"),
        accepted: "cpu, or cuda (the ONNX encoder on ONNX Runtime's CUDA provider: a GPU build of ONNX Runtime in ORT_DYLIB_PATH)",
    },
    SettingSpec {
        key: "summarizer.workers",
        env: &["PRECIS_SUMMARIZER_WORKERS"],
        flag: Some("--summarizer-workers"),
        accepted: "a whole number of worker threads from 1 to 64",
    },
    SettingSpec {
        key: "summarizer.sentences",
        env: &["PRECIS_SUMMARY_SENTENCES"],
        flag: Some("--summary-sentences"),
        accepted: "a whole number of sentences from 1 to 50",
    },
    SettingSpec {
        key: "summarizer.max_words",
        env: &["PRECIS_SUMMARY_WORDS"],
        flag: Some("--summary-words"),
        accepted: "a whole number of words from 1 to 10000, or 0 for no word limit",
    },
    SettingSpec {
        key: "summarizer.max_new_tokens",
        env: &["PRECIS_MAX_NEW_TOKENS"],
        flag: Some("--max-new-tokens"),
        accepted: "a whole number of tokens from 1 to 2048",
    },
    SettingSpec {
        key: "ui.theme",
        env: &["PRECIS_THEME"],
        flag: Some("--theme"),
        accepted: "a console theme: dark, light, high-contrast, or the path of a theme .toml file",
    },
    SettingSpec {
        key: "produce.records",
        env: &["NUM_RECORDS", "PRECIS_RECORDS"],
        flag: Some("--records"),
        accepted: "a whole number from 0 to 100000000",
    },
    SettingSpec {
        key: "produce.seed",
        env: &["PRECIS_SEED"],
        flag: Some("--seed"),
        accepted: "a whole number from 0 to 18446744073709551615",
    },
    SettingSpec {
        key: "produce.in_flight",
        env: &["PRECIS_IN_FLIGHT"],
        flag: Some("--in-flight"),
        accepted: "a whole number of concurrent PutRecords calls from 1 to 64",
    },
];

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
}

impl Settings {
    /// Where the value of `key` came from.
    pub fn origin(&self, key: &str) -> Origin {
        self.origins.get(key).cloned().unwrap_or(Origin::Default)
    }

    pub fn config_file(&self) -> Option<&Path> {
        self.config_file.as_deref()
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
        for spec in SETTINGS {
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
                assert!(SETTINGS.iter().any(|s| s.key == key), "{key} has no row");
                fields += 1;
            }
        }
        assert_eq!(fields, SETTINGS.len());
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
                accepted: super::sources::spec("lake.bucket").accepted,
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
}
