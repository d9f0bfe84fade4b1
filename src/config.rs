//! Settings: one typed struct filled from, in rising priority, built-in defaults, a TOML file,
//! the environment, and command-line flags.
//!
//! Every source goes through the same table of known settings and the same parser, so a bad value
//! gets the same one-line message whether it came from a file, a variable or a flag.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::pipeline::record::Limits;
use crate::pipeline::source::reader::{FlushPolicy, StartPosition};

/// Config file read when `--config` is not given, if it exists in the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "precis.toml";

/// Where a setting's value came from; shown by `precis config` and in error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    Env(&'static str),
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => write!(f, "default"),
            Origin::File(path) => write!(f, "file {}", path.display()),
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
    /// A theme that cannot be used; the reason names the file and the key.
    #[error("invalid ui.theme (from {origin}): {reason}")]
    Theme { origin: Origin, reason: String },
}

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSettings {
    pub region: String,
    /// Every service's endpoint, unless the service has its own below.
    pub endpoint_url: Option<String>,
    pub endpoint_url_kinesis: Option<String>,
    pub endpoint_url_s3: Option<String>,
    pub endpoint_url_dynamodb: Option<String>,
    pub profile: Option<String>,
    /// Limit on one attempt of one AWS call; with the SDK's retries it bounds how long an
    /// unreachable endpoint can stall a command.
    pub timeout_secs: u64,
}

/// The AWS services précis talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Kinesis,
    S3,
    DynamoDb,
}

impl AwsSettings {
    /// Where a service's calls go: its own endpoint (the SDKs' `AWS_ENDPOINT_URL_<SERVICE>`),
    /// else the global one; None is real AWS.
    pub fn endpoint(&self, service: Service) -> Option<&str> {
        let own = match service {
            Service::Kinesis => &self.endpoint_url_kinesis,
            Service::S3 => &self.endpoint_url_s3,
            Service::DynamoDb => &self.endpoint_url_dynamodb,
        };
        own.as_deref().or(self.endpoint_url.as_deref())
    }

    /// The stream and the lake are both on local emulators: dummy credentials are fine there.
    pub fn is_local(&self) -> bool {
        [Service::Kinesis, Service::S3]
            .iter()
            .all(|s| self.endpoint(*s).is_some_and(crate::aws::is_local_endpoint))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSettings {
    pub name: String,
    /// Shard count used when `produce` creates the stream; an existing stream keeps its own.
    pub shards: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeSettings {
    pub bucket: String,
    /// A table file is closed and a new one started past this size (docs/schema.md).
    pub target_file_mib: u64,
    /// A row group is closed past this much data in memory (docs/schema.md).
    pub row_group_mib: usize,
    /// Follow mode compacts a table when one of its partitions holds more small files than
    /// this; 0 never.
    pub compact_small_files: usize,
}

impl LakeSettings {
    pub fn file_layout(&self) -> crate::pipeline::sink::parquet::FileLayout {
        crate::pipeline::sink::parquet::FileLayout {
            row_group_bytes: self.row_group_mib * 1024 * 1024,
            target_file_bytes: self.target_file_mib * 1024 * 1024,
        }
    }
}

/// Whether workers share the stream through a lease table (docs/scale-out.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinationSettings {
    /// None: on exactly when a lease table is configured.
    pub mode: Option<CoordinationMode>,
    /// None: `precis-<stream>`.
    pub lease_table: Option<String>,
    /// A lease not renewed for this long is free to take.
    pub lease_secs: u64,
    /// How often a worker looks for leases to take.
    pub take_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoordinationMode {
    /// This process reads every shard; checkpoints in the bucket.
    None,
    /// Workers share the shards through a DynamoDB lease table.
    DynamoDb,
}

impl CoordinationSettings {
    pub fn mode(&self) -> CoordinationMode {
        self.mode.unwrap_or(if self.lease_table.is_some() {
            CoordinationMode::DynamoDb
        } else {
            CoordinationMode::None
        })
    }

    pub fn table_for(&self, stream: &str) -> String {
        self.lease_table
            .clone()
            .unwrap_or_else(|| format!("precis-{stream}"))
    }

    /// The lease settings of this process, when it shares the stream.
    pub fn leases(&self, stream: &str) -> Option<crate::lease::LeaseSettings> {
        (self.mode() == CoordinationMode::DynamoDb).then(|| crate::lease::LeaseSettings {
            table: self.table_for(stream),
            worker: crate::lease::worker_name(),
            duration: std::time::Duration::from_secs(self.lease_secs),
            take_every: std::time::Duration::from_secs(self.take_secs),
        })
    }
}

/// How the pipeline reads and when it cuts files (Firehose-like: whichever limit comes first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineSettings {
    /// Where shards without a checkpoint start.
    pub from: StartPosition,
    pub flush_records: usize,
    pub flush_mib: usize,
    pub flush_age_secs: u64,
    /// Articles with more content than this go to quarantine.
    pub max_content_kib: usize,
}

impl PipelineSettings {
    pub fn flush_policy(&self) -> FlushPolicy {
        FlushPolicy {
            max_records: self.flush_records,
            max_bytes: self.flush_mib * 1024 * 1024,
            max_age: std::time::Duration::from_secs(self.flush_age_secs),
        }
    }

    pub fn limits(&self) -> Limits {
        Limits {
            max_content_bytes: self.max_content_kib * 1024,
        }
    }
}

/// Which summarizer writes the `summary` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummarizerKind {
    /// Sentences of the article picked with MiniLM embeddings (the default: offline, faithful).
    Extractive,
    /// An instruction LLM in GGUF (SmolLM2) or a T5 checkpoint.
    Generative,
    /// No summaries: curated rows carry the features, with a null summary.
    None,
}

impl SummarizerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SummarizerKind::Extractive => "extractive",
            SummarizerKind::Generative => "generative",
            SummarizerKind::None => "none",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummarizerSettings {
    pub kind: SummarizerKind,
    /// None: the kind's default model (all-minilm-l6-v2, smollm2-135m-instruct).
    pub model: Option<String>,
    pub workers: usize,
    pub sentences: usize,
    /// None: only the sentence count limits a summary.
    pub max_words: Option<usize>,
    pub max_new_tokens: usize,
}

impl SummarizerSettings {
    /// The model to load: the one configured, or the kind's default.
    pub fn model_spec(&self) -> &str {
        match (&self.model, self.kind) {
            (Some(model), _) => model,
            (None, SummarizerKind::Generative) => "smollm2-135m-instruct",
            (None, _) => "all-minilm-l6-v2",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiSettings {
    /// A built-in theme name or a theme file; checked when the console starts.
    pub theme: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceSettings {
    pub records: u64,
    /// None: a fresh seed each run (printed, so the run can be repeated).
    pub seed: Option<u64>,
    pub in_flight: usize,
}

/// The effective configuration, with where each value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub aws: AwsSettings,
    pub stream: StreamSettings,
    pub lake: LakeSettings,
    pub coordination: CoordinationSettings,
    pub pipeline: PipelineSettings,
    pub summarizer: SummarizerSettings,
    pub ui: UiSettings,
    pub produce: ProduceSettings,
    origins: BTreeMap<&'static str, Origin>,
    config_file: Option<PathBuf>,
}

impl Default for Settings {
    /// The original challenge's setup: stream `MyStream`, bucket `my-bucket`, us-east-1.
    fn default() -> Self {
        Self {
            aws: AwsSettings {
                region: "us-east-1".into(),
                endpoint_url: None,
                endpoint_url_kinesis: None,
                endpoint_url_s3: None,
                endpoint_url_dynamodb: None,
                profile: None,
                timeout_secs: 20,
            },
            stream: StreamSettings {
                name: "MyStream".into(),
                shards: 1,
            },
            lake: LakeSettings {
                bucket: "my-bucket".into(),
                target_file_mib: 128,
                row_group_mib: 32,
                compact_small_files: 32,
            },
            coordination: CoordinationSettings {
                mode: None,
                lease_table: None,
                // The KCL's failover time, and its taker's pace (twice that).
                lease_secs: 10,
                take_secs: 20,
            },
            pipeline: PipelineSettings {
                // The stream's backlog (the ~1000 seeded articles) is read, not skipped.
                from: StartPosition::TrimHorizon,
                flush_records: 10_000,
                flush_mib: 32,
                flush_age_secs: 60,
                max_content_kib: 512,
            },
            summarizer: SummarizerSettings {
                kind: SummarizerKind::Extractive,
                model: None,
                // One single-threaded model per core beats one model using both (measured).
                workers: std::thread::available_parallelism()
                    .map_or(2, |n| n.get())
                    .min(8),
                sentences: 3,
                max_words: Some(75),
                max_new_tokens: 96,
            },
            ui: UiSettings {
                theme: "dark".into(),
            },
            produce: ProduceSettings {
                records: 1000,
                seed: None,
                // One call in flight already puts thousands of records a second: more than a
                // stream of a few shards accepts.
                in_flight: 1,
            },
            origins: BTreeMap::new(),
            config_file: None,
        }
    }
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
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub flags: &'a [FlagValue],
}

impl Settings {
    pub fn load(sources: &Sources<'_>) -> Result<Self, ConfigError> {
        let mut settings = Settings::default();
        let file = match sources.config_file {
            Some(path) => Some(path.to_path_buf()),
            None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.is_file()),
        };
        if let Some(path) = file {
            settings.apply_file(&path)?;
            settings.config_file = Some(path);
        }
        settings.apply_env(sources.env)?;
        for flag in sources.flags {
            let spec = spec(flag.key);
            let origin = Origin::Flag(spec.flag.unwrap_or(spec.key));
            settings.set(spec, &flag.value, origin)?;
        }
        Ok(settings)
    }

    /// Reads the process environment; the entry point for the binary.
    pub fn from_process(
        config_file: Option<&Path>,
        flags: &[FlagValue],
    ) -> Result<Self, ConfigError> {
        let env = |name: &str| std::env::var(name).ok();
        Self::load(&Sources {
            config_file,
            env: &env,
            flags,
        })
    }

    /// Where the value of `key` came from.
    pub fn origin(&self, key: &str) -> Origin {
        self.origins.get(key).cloned().unwrap_or(Origin::Default)
    }

    pub fn config_file(&self) -> Option<&Path> {
        self.config_file.as_deref()
    }

    fn apply_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::File {
                path: path.to_path_buf(),
                reason: one_line_toml_error(&text, &e),
            })?;
        let origin = Origin::File(path.to_path_buf());
        for (section, body) in &table {
            let Some(body) = body.as_table() else {
                return Err(unknown_key(section, path));
            };
            for (name, value) in body {
                let key = format!("{section}.{name}");
                let Some(spec) = SETTINGS.iter().find(|s| s.key == key) else {
                    return Err(unknown_key(&key, path));
                };
                let raw = match value {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                self.set(spec, &raw, origin.clone())?;
            }
        }
        Ok(())
    }

    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        for spec in SETTINGS {
            // The first variable listed wins, so look at them in order and stop at the first set.
            let found = spec.env.iter().find_map(|var| {
                env(var)
                    .filter(|value| !value.trim().is_empty())
                    .map(|value| (*var, value))
            });
            if let Some((var, value)) = found {
                self.set(spec, &value, Origin::Env(var))?;
            }
        }
        Ok(())
    }

    fn set(&mut self, spec: &SettingSpec, raw: &str, origin: Origin) -> Result<(), ConfigError> {
        let value = raw.trim();
        let invalid = || ConfigError::InvalidValue {
            key: spec.key,
            value: redact_url(raw),
            origin: origin.clone(),
            accepted: spec.accepted,
        };
        match spec.key {
            "aws.region" => {
                if !is_region(value) {
                    return Err(invalid());
                }
                self.aws.region = value.to_string();
            }
            "aws.endpoint_url" => {
                if !is_endpoint_url(value) {
                    return Err(invalid());
                }
                self.aws.endpoint_url = Some(value.trim_end_matches('/').to_string());
            }
            "aws.endpoint_url_kinesis" | "aws.endpoint_url_s3" | "aws.endpoint_url_dynamodb" => {
                if !is_endpoint_url(value) {
                    return Err(invalid());
                }
                let url = Some(value.trim_end_matches('/').to_string());
                match spec.key {
                    "aws.endpoint_url_kinesis" => self.aws.endpoint_url_kinesis = url,
                    "aws.endpoint_url_s3" => self.aws.endpoint_url_s3 = url,
                    _ => self.aws.endpoint_url_dynamodb = url,
                }
            }
            "aws.profile" => {
                if value.is_empty() {
                    return Err(invalid());
                }
                self.aws.profile = Some(value.to_string());
            }
            "aws.timeout_secs" => {
                self.aws.timeout_secs = parse_in_range(value, 1, 600).ok_or_else(invalid)?;
            }
            "stream.name" => {
                if !is_stream_name(value) {
                    return Err(invalid());
                }
                self.stream.name = value.to_string();
            }
            "stream.shards" => {
                self.stream.shards = parse_in_range(value, 1, 500).ok_or_else(invalid)?;
            }
            "lake.bucket" => {
                if !is_bucket_name(value) {
                    return Err(invalid());
                }
                self.lake.bucket = value.to_string();
            }
            "lake.target_file_mib" => {
                self.lake.target_file_mib = parse_in_range(value, 1, 4096).ok_or_else(invalid)?;
            }
            "lake.row_group_mib" => {
                self.lake.row_group_mib = parse_in_range(value, 1, 1024).ok_or_else(invalid)?;
            }
            "lake.compact_small_files" => {
                self.lake.compact_small_files =
                    parse_in_range(value, 0, 100_000).ok_or_else(invalid)?;
            }
            "coordination.mode" => {
                self.coordination.mode = Some(match value.to_ascii_lowercase().as_str() {
                    "none" => CoordinationMode::None,
                    "dynamodb" => CoordinationMode::DynamoDb,
                    _ => return Err(invalid()),
                });
            }
            "coordination.lease_table" => {
                if !is_dynamodb_table_name(value) {
                    return Err(invalid());
                }
                self.coordination.lease_table = Some(value.to_string());
            }
            "coordination.lease_secs" => {
                self.coordination.lease_secs = parse_in_range(value, 3, 600).ok_or_else(invalid)?;
            }
            "coordination.take_secs" => {
                self.coordination.take_secs = parse_in_range(value, 1, 600).ok_or_else(invalid)?;
            }
            "pipeline.from" => {
                self.pipeline.from = value.parse().map_err(|_| invalid())?;
            }
            "pipeline.flush_records" => {
                self.pipeline.flush_records =
                    parse_in_range(value, 1, 1_000_000).ok_or_else(invalid)?;
            }
            "pipeline.flush_mib" => {
                self.pipeline.flush_mib = parse_in_range(value, 1, 1024).ok_or_else(invalid)?;
            }
            "pipeline.flush_age_secs" => {
                self.pipeline.flush_age_secs =
                    parse_in_range(value, 1, 3600).ok_or_else(invalid)?;
            }
            "pipeline.max_content_kib" => {
                self.pipeline.max_content_kib =
                    parse_in_range(value, 1, 1024).ok_or_else(invalid)?;
            }
            "summarizer.kind" => {
                self.summarizer.kind = match value.to_ascii_lowercase().as_str() {
                    "extractive" => SummarizerKind::Extractive,
                    "generative" => SummarizerKind::Generative,
                    "none" => SummarizerKind::None,
                    _ => return Err(invalid()),
                };
            }
            "summarizer.model" => {
                if value.is_empty() {
                    return Err(invalid());
                }
                self.summarizer.model = Some(value.to_string());
            }
            "summarizer.workers" => {
                self.summarizer.workers = parse_in_range(value, 1, 64).ok_or_else(invalid)?;
            }
            "summarizer.sentences" => {
                self.summarizer.sentences = parse_in_range(value, 1, 50).ok_or_else(invalid)?;
            }
            "summarizer.max_words" => {
                let words: usize = parse_in_range(value, 0, 10_000).ok_or_else(invalid)?;
                self.summarizer.max_words = (words > 0).then_some(words);
            }
            "summarizer.max_new_tokens" => {
                self.summarizer.max_new_tokens =
                    parse_in_range(value, 1, 2048).ok_or_else(invalid)?;
            }
            "ui.theme" => {
                if value.is_empty() {
                    return Err(invalid());
                }
                // Checked now, so a bad theme is a bad setting everywhere (exit 2), not only
                // when the console starts.
                crate::tui::theme::Theme::load(value).map_err(|e| ConfigError::Theme {
                    origin: origin.clone(),
                    reason: e.to_string(),
                })?;
                self.ui.theme = value.to_string();
            }
            "produce.records" => {
                self.produce.records = parse_in_range(value, 0, 100_000_000).ok_or_else(invalid)?;
            }
            "produce.seed" => {
                self.produce.seed = Some(value.parse().map_err(|_| invalid())?);
            }
            "produce.in_flight" => {
                self.produce.in_flight = parse_in_range(value, 1, 64).ok_or_else(invalid)?;
            }
            other => unreachable!("setting {other} has a spec but no field"),
        }
        self.origins.insert(spec.key, origin);
        Ok(())
    }

    /// The value of a setting as TOML would write it; None when unset.
    pub fn value_of(&self, key: &str) -> Option<toml::Value> {
        let string = |s: &str| Some(toml::Value::String(s.to_string()));
        let int = |n: u64| Some(toml::Value::Integer(i64::try_from(n).unwrap_or(i64::MAX)));
        match key {
            "aws.region" => string(&self.aws.region),
            "aws.endpoint_url" => self.aws.endpoint_url.as_deref().and_then(string),
            "aws.endpoint_url_kinesis" => self.aws.endpoint_url_kinesis.as_deref().and_then(string),
            "aws.endpoint_url_s3" => self.aws.endpoint_url_s3.as_deref().and_then(string),
            "aws.endpoint_url_dynamodb" => {
                self.aws.endpoint_url_dynamodb.as_deref().and_then(string)
            }
            "aws.profile" => self.aws.profile.as_deref().and_then(string),
            "aws.timeout_secs" => int(self.aws.timeout_secs),
            "stream.name" => string(&self.stream.name),
            "stream.shards" => int(u64::from(self.stream.shards)),
            "lake.bucket" => string(&self.lake.bucket),
            "lake.target_file_mib" => int(self.lake.target_file_mib),
            "lake.row_group_mib" => int(self.lake.row_group_mib as u64),
            "lake.compact_small_files" => int(self.lake.compact_small_files as u64),
            "coordination.mode" => string(match self.coordination.mode() {
                CoordinationMode::None => "none",
                CoordinationMode::DynamoDb => "dynamodb",
            }),
            "coordination.lease_table" => string(&self.coordination.table_for(&self.stream.name)),
            "coordination.lease_secs" => int(self.coordination.lease_secs),
            "coordination.take_secs" => int(self.coordination.take_secs),
            "pipeline.from" => string(&start_position_text(self.pipeline.from)),
            "pipeline.flush_records" => int(self.pipeline.flush_records as u64),
            "pipeline.flush_mib" => int(self.pipeline.flush_mib as u64),
            "pipeline.flush_age_secs" => int(self.pipeline.flush_age_secs),
            "pipeline.max_content_kib" => int(self.pipeline.max_content_kib as u64),
            "summarizer.kind" => string(self.summarizer.kind.as_str()),
            "summarizer.model" => string(self.summarizer.model_spec()),
            "summarizer.workers" => int(self.summarizer.workers as u64),
            "summarizer.sentences" => int(self.summarizer.sentences as u64),
            "summarizer.max_words" => int(self.summarizer.max_words.unwrap_or(0) as u64),
            "summarizer.max_new_tokens" => int(self.summarizer.max_new_tokens as u64),
            "ui.theme" => string(&self.ui.theme),
            "produce.records" => int(self.produce.records),
            // Seeds above i64::MAX do not fit a TOML integer; write them as strings.
            "produce.seed" => self.produce.seed.map(|seed| match i64::try_from(seed) {
                Ok(n) => toml::Value::Integer(n),
                Err(_) => toml::Value::String(seed.to_string()),
            }),
            "produce.in_flight" => int(self.produce.in_flight as u64),
            _ => None,
        }
    }
}

fn start_position_text(position: StartPosition) -> String {
    match position {
        StartPosition::TrimHorizon => "trim-horizon".into(),
        StartPosition::Latest => "latest".into(),
        StartPosition::AtTimestamp(t) => format!("at-timestamp={}", t.to_rfc3339()),
    }
}

fn spec(key: &str) -> &'static SettingSpec {
    SETTINGS
        .iter()
        .find(|s| s.key == key)
        .unwrap_or_else(|| panic!("flag for unknown setting {key}"))
}

fn unknown_key(key: &str, path: &Path) -> ConfigError {
    ConfigError::UnknownKey {
        key: key.to_string(),
        path: path.to_path_buf(),
        known: SETTINGS
            .iter()
            .map(|s| s.key)
            .collect::<Vec<_>>()
            .join(", "),
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

fn parse_in_range<T>(value: &str, min: T, max: T) -> Option<T>
where
    T: std::str::FromStr + PartialOrd,
{
    value
        .replace('_', "")
        .parse::<T>()
        .ok()
        .filter(|n| *n >= min && *n <= max)
}

fn is_region(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 32
        && value.contains('-')
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn is_dynamodb_table_name(value: &str) -> bool {
    (3..=255).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn is_endpoint_url(value: &str) -> bool {
    let rest = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("https://"));
    let Some(rest) = rest else { return false };
    let authority = rest.split('/').next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    let port_ok = match host_port.rsplit_once(':') {
        Some((_, port)) if !host_port.ends_with(']') => port.parse::<u16>().is_ok(),
        _ => true,
    };
    !host.is_empty() && port_ok && !value.chars().any(char::is_whitespace)
}

fn is_stream_name(value: &str) -> bool {
    (1..=128).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn is_bucket_name(value: &str) -> bool {
    let edges_ok =
        |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=63).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && edges_ok(value.chars().next())
        && edges_ok(value.chars().last())
        && !value.contains("..")
}

/// Hides a password in `scheme://user:password@host` so an endpoint can be printed or logged.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:<redacted>@{host}{path}")
        }
        None => url.to_string(),
    }
}

/// Shows enough of an access key id to recognise it, never the whole of it.
pub fn redact_key_id(key_id: &str) -> String {
    let chars: Vec<char> = key_id.chars().collect();
    if chars.len() <= 8 {
        return "<redacted>".into();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_theme_is_checked_when_it_is_set() {
        let mut settings = Settings::default();
        let spec = super::spec("ui.theme");
        assert!(settings.set(spec, "light", Origin::Flag("--theme")).is_ok());
        let err = settings
            .set(spec, "no-such-theme", Origin::Flag("--theme"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("invalid ui.theme (from flag --theme)"),
            "{err}"
        );
        assert!(err.contains("use dark, light, high-contrast"), "{err}");
    }

    use super::*;
    use std::collections::HashMap;

    fn load(
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
    fn one_process_reads_every_shard_unless_a_lease_table_or_dynamodb_is_chosen() {
        let s = load(None, &[], &[]).unwrap();
        assert_eq!(s.coordination.mode(), CoordinationMode::None);
        assert!(s.coordination.leases("MyStream").is_none());

        let s = load(None, &[("PRECIS_LEASE_TABLE", "team-leases")], &[]).unwrap();
        let leases = s.coordination.leases("MyStream").unwrap();
        assert_eq!(leases.table, "team-leases");
        assert_eq!(leases.duration, std::time::Duration::from_secs(10));

        let s = load(None, &[], &[("coordination.mode", "dynamodb")]).unwrap();
        assert_eq!(
            s.coordination.leases("MyStream").unwrap().table,
            "precis-MyStream"
        );
    }

    #[test]
    fn a_services_own_endpoint_wins_over_the_global_one_for_that_service_only() {
        let s = load(
            None,
            &[
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
                ("AWS_ENDPOINT_URL_S3", "http://minio:9000/"),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(s.aws.endpoint(Service::S3), Some("http://minio:9000"));
        assert_eq!(
            s.aws.endpoint(Service::Kinesis),
            Some("http://127.0.0.1:4566")
        );
        assert_eq!(
            s.aws.endpoint(Service::DynamoDb),
            Some("http://127.0.0.1:4566")
        );
        assert!(s.aws.is_local());
    }

    #[test]
    fn a_local_stream_with_the_lake_on_aws_is_not_local() {
        let s = load(
            None,
            &[("AWS_ENDPOINT_URL_KINESIS", "http://127.0.0.1:4566")],
            &[],
        )
        .unwrap();
        assert_eq!(s.aws.endpoint(Service::S3), None);
        assert!(!s.aws.is_local());
    }

    #[test]
    fn coordination_none_wins_over_a_configured_lease_table() {
        let s = load(
            None,
            &[("PRECIS_LEASE_TABLE", "team-leases")],
            &[("coordination.mode", "none")],
        )
        .unwrap();
        assert!(s.coordination.leases("MyStream").is_none());
    }

    #[test]
    fn a_lease_table_name_dynamodb_would_refuse_is_a_bad_setting() {
        let err = load(None, &[("PRECIS_LEASE_TABLE", "no spaces")], &[]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid coordination.lease_table"),
            "{err}"
        );
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
    fn secrets_in_urls_are_redacted() {
        assert_eq!(
            redact_url("http://user:hunter2@host:4566/x"),
            "http://user:<redacted>@host:4566/x"
        );
        assert_eq!(redact_url("http://host:4566"), "http://host:4566");
        assert_eq!(redact_key_id("AKIAIOSFODNN7EXAMPLE"), "AKIA…MPLE");
        assert_eq!(redact_key_id("test"), "<redacted>");
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
}
