//! Command line: global settings flags plus one subcommand per job.
//!
//! Setting flags are taken as text and validated by [`crate::config`], so that a bad value reads
//! the same whether it came from a flag, a variable or the config file.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};

use crate::config::FlagValue;
use crate::produce::newsgen::DATE_WINDOW_DAYS;

#[derive(Debug, Parser)]
#[command(
    name = "precis",
    version,
    about = "Kinesis news articles → features → summaries → Parquet on S3",
    after_help = "Settings come from, in rising priority: defaults, the config file, the environment \
                  (PRECIS_*, AWS_REGION, AWS_ENDPOINT_URL, AWS_PROFILE, NUM_RECORDS), flags.\n\
                  `precis config` shows the effective values and where each came from."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Under their own heading in every command's help, after the command's options.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options (AWS, stream, bucket, logs)")]
pub struct GlobalArgs {
    /// TOML config file [default: precis.toml in the working directory, if present; env PRECIS_CONFIG]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// AWS endpoint, e.g. http://127.0.0.1:4566 for local AWS [env AWS_ENDPOINT_URL]
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Kinesis's own endpoint, over --endpoint-url [env AWS_ENDPOINT_URL_KINESIS]
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url_kinesis: Option<String>,
    /// S3's own endpoint (MinIO, say), over --endpoint-url [env AWS_ENDPOINT_URL_S3]
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url_s3: Option<String>,
    /// DynamoDB's own endpoint (the lease table), over --endpoint-url [env AWS_ENDPOINT_URL_DYNAMODB]
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url_dynamodb: Option<String>,
    /// AWS region [env AWS_REGION; default us-east-1]
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// AWS profile for credentials [env AWS_PROFILE]
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// Seconds one AWS call attempt may take before it is retried or fails [default: 20]
    #[arg(long, global = true, value_name = "SECS")]
    pub aws_timeout_secs: Option<String>,
    /// Kinesis stream name [env PRECIS_STREAM; default MyStream]
    #[arg(long, global = true, value_name = "NAME")]
    pub stream: Option<String>,
    /// S3 bucket of the lake [env PRECIS_BUCKET; default my-bucket]
    #[arg(long, global = true, value_name = "NAME")]
    pub bucket: Option<String>,
    /// More log detail (-v debug, -vv trace) [env PRECIS_LOG takes a full filter]
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only warnings and errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Log format on stderr: human lines, or one JSON object per line for log collectors
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the bucket and stream if missing, then put news articles on the stream
    Produce(ProduceArgs),
    /// Read the stream, validate, measure and summarize each article, write Parquet to S3; with the
    /// console on a terminal, headless otherwise (or with --no-ui)
    Run(RunArgs),
    /// The pipeline with the operator console: throughput, shards, samples, partitions, logs
    Tui(RunArgs),
    /// List the written partitions (folders holding files) with their file counts and sizes
    Partitions(PartitionsArgs),
    /// Print the rows of a partition or an object as a polars table, with column stats
    Preview(PreviewArgs),
    /// Summarize again the summaries rows a predicate selects (days, a split, another
    /// summarizer's rows) from the articles table, replacing them in one commit
    Reprocess(ReprocessArgs),
    /// Summarize again stored rows on Ray Data (a local Ray or a cluster), committed once: the
    /// offline engine for millions of rows and heavy models; runs `python -m precis.backfill`
    Backfill(BackfillArgs),
    /// Merge each partition's small files into files of the target size, in one commit per table
    Compact(CompactArgs),
    /// Delete the files no snapshot of the retention period needs
    Vacuum(VacuumArgs),
    /// Each table's version, rows per split, files and last commits; rows added since a version
    Tables(TablesArgs),
    /// Print the effective settings and where each came from (secrets redacted)
    Config,
    /// Score a summarizer with ROUGE against reference summaries, next to the lead-3 baseline
    Eval(EvalArgs),
}

/// Which summarizer and how long its summaries are; shared by `run` and `eval`.
#[derive(Debug, Args, Default)]
#[command(next_help_heading = "Summarizer")]
pub struct SummarizerArgs {
    /// extractive (MiniLM, the default), generative (SmolLM2 GGUF or a T5 directory), or none
    /// [env PRECIS_SUMMARIZER]
    #[arg(long, value_name = "KIND")]
    pub summarizer: Option<String>,
    /// Model directory or file, or a known name (all-minilm-l6-v2, smollm2-135m-instruct);
    /// `scripts/fetch-models` installs the known ones [env PRECIS_MODEL]
    #[arg(long, value_name = "DIR|NAME")]
    pub model: Option<String>,
    /// The extractive summarizer's sentence encoder: static, onnx (int8), onnx-fp32 or candle
    /// [env PRECIS_ENCODER; default: static when `scripts/fetch-models minilm` installed it]
    #[arg(long, value_name = "ENCODER")]
    pub encoder: Option<String>,
    /// Where the ONNX encoder runs: cpu or cuda [env PRECIS_DEVICE; default cpu]
    #[arg(long, value_name = "DEVICE")]
    pub device: Option<String>,
    /// Summarizer worker threads, one model each [env PRECIS_SUMMARIZER_WORKERS; default: 1 for
    /// the static encoder, else cores]
    #[arg(long, value_name = "N")]
    pub summarizer_workers: Option<String>,
    /// Sentences per summary at most (extractive) [env PRECIS_SUMMARY_SENTENCES; default 3]
    #[arg(long, value_name = "N")]
    pub summary_sentences: Option<String>,
    /// Words per summary at most, 0 for no limit; the first sentence is always kept
    /// (extractive) [env PRECIS_SUMMARY_WORDS; default 75]
    #[arg(long, value_name = "N")]
    pub summary_words: Option<String>,
    /// Tokens a generative model may write per summary [env PRECIS_MAX_NEW_TOKENS; default 96]
    #[arg(long, value_name = "N")]
    pub max_new_tokens: Option<String>,
}

impl SummarizerArgs {
    fn flags(&self) -> [(&'static str, &Option<String>); 8] {
        [
            ("summarizer.kind", &self.summarizer),
            ("summarizer.model", &self.model),
            ("summarizer.encoder", &self.encoder),
            ("summarizer.device", &self.device),
            ("summarizer.workers", &self.summarizer_workers),
            ("summarizer.sentences", &self.summary_sentences),
            ("summarizer.max_words", &self.summary_words),
            ("summarizer.max_new_tokens", &self.max_new_tokens),
        ]
    }
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// JSON Lines: one article per line with its text (content|article|text|document), a
    /// reference summary (reference|summary|highlights|abstract|target) and optionally a title
    #[arg(long, value_name = "FILE.jsonl")]
    pub input: PathBuf,
    /// Score only the first N articles
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Print one JSON object instead of the table
    #[arg(long)]
    pub json: bool,
    /// Write each article's summaries and scores to this JSON Lines file
    #[arg(long, value_name = "FILE.jsonl")]
    pub details: Option<PathBuf>,
    #[command(flatten)]
    pub summarizer: SummarizerArgs,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Drain every shard to its tip, write, checkpoint and exit (batch mode); without it, keep
    /// following the stream until SIGINT/SIGTERM
    #[arg(long)]
    pub once: bool,
    /// Headless: logs and a stats line instead of the console (the default without a terminal)
    #[arg(long)]
    pub no_ui: bool,
    /// Console theme: dark, light, high-contrast, or a theme file [env PRECIS_THEME; default dark]
    #[arg(long, value_name = "NAME|PATH")]
    pub theme: Option<String>,
    /// Where shards without a checkpoint start: trim-horizon, latest, at-timestamp=RFC3339
    /// [env PRECIS_FROM; default trim-horizon]
    #[arg(long, value_name = "POSITION")]
    pub from: Option<String>,
    /// Cut a file after this many records per shard [env PRECIS_FLUSH_RECORDS; default 10000]
    #[arg(long, value_name = "N")]
    pub flush_records: Option<String>,
    /// ... or this many MiB [env PRECIS_FLUSH_MIB; default 32]
    #[arg(long, value_name = "MIB")]
    pub flush_mib: Option<String>,
    /// ... or when the oldest buffered record is this old [env PRECIS_FLUSH_AGE_SECS; default 60]
    #[arg(long, value_name = "SECS")]
    pub flush_age_secs: Option<String>,
    /// Articles with more content go to quarantine [env PRECIS_MAX_CONTENT_KIB; default 512]
    #[arg(long, value_name = "KIB")]
    pub max_content_kib: Option<String>,
    /// A table file is closed past this size [env PRECIS_TARGET_FILE_MIB; default 128]
    #[arg(long, value_name = "MIB")]
    pub target_file_mib: Option<String>,
    /// A row group is closed past this much data [env PRECIS_ROW_GROUP_MIB; default 32]
    #[arg(long, value_name = "MIB")]
    pub row_group_mib: Option<String>,
    /// Follow mode compacts a table in the background when a partition holds more small files
    /// than this; 0 never [env PRECIS_COMPACT_SMALL_FILES; default 32]
    #[arg(long, value_name = "N")]
    pub compact_small_files: Option<String>,
    /// none: this process reads every shard; dynamodb: workers share the shards through a lease
    /// table [env PRECIS_COORDINATION; default: dynamodb when a lease table is set]
    #[arg(long, value_name = "MODE")]
    pub coordination: Option<String>,
    /// The DynamoDB lease table, created if missing; setting it turns leases on
    /// [env PRECIS_LEASE_TABLE; default precis-<stream>]
    #[arg(long, value_name = "NAME")]
    pub lease_table: Option<String>,
    /// A lease not renewed for this long is taken by another worker [env PRECIS_LEASE_SECS;
    /// default 10]
    #[arg(long, value_name = "SECS")]
    pub lease_secs: Option<String>,
    /// How often a worker looks for leases to take [env PRECIS_LEASE_TAKE_SECS; default 20]
    #[arg(long, value_name = "SECS")]
    pub lease_take_secs: Option<String>,
    #[command(flatten)]
    pub summarizer: SummarizerArgs,
}

#[derive(Debug, Args)]
pub struct PartitionsArgs {
    /// Only files under this prefix, e.g. lake/summaries/ or lake/summaries/split=train/
    #[arg(long, value_name = "PREFIX", default_value = "")]
    pub prefix: String,
}

#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// A table (lake/summaries/), a partition (lake/summaries/split=train/), one file of it, or a
    /// table at an older version (lake/summaries@12: time travel)
    #[arg(value_name = "PARTITION|KEY")]
    pub target: String,
    /// Rows to print
    #[arg(long, short = 'n', value_name = "N", default_value_t = 10)]
    pub limit: usize,
    /// Print every column, not only the telling ones
    #[arg(long)]
    pub all_columns: bool,
}

/// Which summaries rows a rewrite takes (`reprocess`, `backfill`): all given must hold.
#[derive(Debug, Args)]
pub struct RowsArgs {
    /// Rows published on this day (UTC): --from DAY --to DAY
    #[arg(long, value_name = "YYYY-MM-DD", conflicts_with_all = ["from", "to"])]
    pub dt: Option<NaiveDate>,
    /// Rows published on this day or later
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub from: Option<NaiveDate>,
    /// Rows published on this day or earlier
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub to: Option<NaiveDate>,
    /// Rows of this split: train, validation or test
    #[arg(long, value_name = "NAME")]
    pub split: Option<String>,
    /// Rows written by another summarizer than the one configured now
    #[arg(long)]
    pub stale: bool,
}

impl RowsArgs {
    pub fn selection(&self) -> crate::maintenance::reprocess::Selection {
        crate::maintenance::reprocess::Selection {
            from: self.dt.or(self.from),
            to: self.dt.or(self.to),
            split: self.split.clone(),
            stale: self.stale,
            all: false,
        }
    }
}

#[derive(Debug, Args)]
pub struct ReprocessArgs {
    #[command(flatten)]
    pub rows: RowsArgs,
    #[command(flatten)]
    pub summarizer: SummarizerArgs,
}

#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// Every row
    #[arg(long, conflicts_with_all = ["dt", "from", "to", "split", "stale"])]
    pub all: bool,
    #[command(flatten)]
    pub rows: RowsArgs,
    /// Write the new summaries to the candidate table lake/NAME (replacing what it held)
    /// instead of in place, to compare two summarizers on the same rows
    #[arg(long, value_name = "NAME")]
    pub into: Option<String>,
    /// Summarizer actors, one model each [default 1]
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub actors: usize,
    /// CPUs each actor reserves [default: what the CPUs allow, at most 1]
    #[arg(long, value_name = "F")]
    pub cpus_per_actor: Option<f64>,
    /// GPU fraction each actor reserves (with --device cuda)
    #[arg(long, value_name = "F")]
    pub gpus_per_actor: Option<f64>,
    /// Rows an actor summarizes per call [default 256]
    #[arg(long, value_name = "N")]
    pub batch_rows: Option<usize>,
    /// An existing Ray cluster, e.g. ray://head:10001 [default: a local Ray in the job]
    #[arg(long, value_name = "ADDR")]
    pub ray_address: Option<String>,
    /// The Python with the precis package and Ray [env PRECIS_PYTHON; default python3]
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    #[command(flatten)]
    pub summarizer: SummarizerArgs,
}

/// Which table a maintenance command works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TableArg {
    Articles,
    Summaries,
    Quarantine,
}

#[derive(Debug, Args)]
pub struct CompactArgs {
    /// Only this table [default: all three]
    #[arg(long, value_enum)]
    pub table: Option<TableArg>,
    /// Size of the merged files [env PRECIS_TARGET_FILE_MIB; default 128]
    #[arg(long, value_name = "MIB")]
    pub target_mib: Option<String>,
}

#[derive(Debug, Args)]
pub struct VacuumArgs {
    /// Only this table [default: all three]
    #[arg(long, value_enum)]
    pub table: Option<TableArg>,
    /// Keep every file a snapshot of the last H hours needs; below 168 (Delta's default) only
    /// with --force
    #[arg(long, value_name = "H", default_value_t = crate::maintenance::vacuum::SAFE_RETENTION_HOURS)]
    pub retain_hours: u64,
    /// Allow a retention below 168 hours: only when no reader or writer holds an older snapshot
    #[arg(long)]
    pub force: bool,
    /// List the files that would be deleted, delete nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct TablesArgs {
    /// Only this table [default: all three]
    #[arg(long, value_enum)]
    pub table: Option<TableArg>,
    /// The rows appended after this version (of --table, summaries by default), and the SQL
    /// filter that selects exactly them
    #[arg(long, value_name = "VERSION")]
    pub since: Option<i64>,
    /// The newest commits to list per table
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub commits: usize,
}

#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Number of articles to put [env NUM_RECORDS; default 1000]. With --from-file: at most
    /// this many lines, if given
    #[arg(long, short = 'n', value_name = "N")]
    pub records: Option<String>,
    /// Shard count when the stream has to be created [env PRECIS_SHARDS; default 1]
    #[arg(long, value_name = "N")]
    pub shards: Option<String>,
    /// Seed of the article generator; the same seed and --as-of give the same articles
    /// [env PRECIS_SEED; default: a fresh one, printed]
    #[arg(long, value_name = "N")]
    pub seed: Option<String>,
    /// Publish dates end on this date [default: today, UTC]
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub as_of: Option<NaiveDate>,
    /// Publish dates fall in this many days up to --as-of: 365 like the original challenge's
    /// generator, 1 for a stream of today's news (one dt= partition)
    #[arg(long, value_name = "DAYS", default_value_t = DATE_WINDOW_DAYS as u32,
          value_parser = clap::value_parser!(u32).range(1..=36_500), conflicts_with = "from_file")]
    pub date_window_days: u32,
    /// Replay a JSON Lines file (one article per line, sent byte for byte) instead of generating
    #[arg(long, value_name = "FILE.jsonl")]
    pub from_file: Option<PathBuf>,
    /// Concurrent PutRecords calls [env PRECIS_IN_FLIGHT; default 1]; more for large real streams
    #[arg(long, value_name = "N")]
    pub in_flight: Option<String>,
}

impl Cli {
    /// Setting values given as flags, for the config loader.
    pub fn setting_flags(&self) -> Vec<FlagValue> {
        let g = &self.global;
        let mut flags = vec![
            ("aws.endpoint_url", &g.endpoint_url),
            ("aws.endpoint_url_kinesis", &g.endpoint_url_kinesis),
            ("aws.endpoint_url_s3", &g.endpoint_url_s3),
            ("aws.endpoint_url_dynamodb", &g.endpoint_url_dynamodb),
            ("aws.region", &g.region),
            ("aws.profile", &g.profile),
            ("aws.timeout_secs", &g.aws_timeout_secs),
            ("stream.name", &g.stream),
            ("lake.bucket", &g.bucket),
        ];
        match &self.command {
            Command::Produce(p) => flags.extend([
                ("produce.records", &p.records),
                ("stream.shards", &p.shards),
                ("produce.seed", &p.seed),
                ("produce.in_flight", &p.in_flight),
            ]),
            Command::Run(r) | Command::Tui(r) => {
                flags.extend(r.summarizer.flags().into_iter().chain([
                    ("ui.theme", &r.theme),
                    ("pipeline.from", &r.from),
                    ("pipeline.flush_records", &r.flush_records),
                    ("pipeline.flush_mib", &r.flush_mib),
                    ("pipeline.flush_age_secs", &r.flush_age_secs),
                    ("pipeline.max_content_kib", &r.max_content_kib),
                    ("lake.target_file_mib", &r.target_file_mib),
                    ("lake.row_group_mib", &r.row_group_mib),
                    ("lake.compact_small_files", &r.compact_small_files),
                    ("coordination.mode", &r.coordination),
                    ("coordination.lease_table", &r.lease_table),
                    ("coordination.lease_secs", &r.lease_secs),
                    ("coordination.take_secs", &r.lease_take_secs),
                ]))
            }
            Command::Compact(c) => flags.push(("lake.target_file_mib", &c.target_mib)),
            Command::Config
            | Command::Partitions(_)
            | Command::Preview(_)
            | Command::Vacuum(_)
            | Command::Tables(_) => {}
            Command::Eval(e) => flags.extend(e.summarizer.flags()),
            Command::Reprocess(r) => flags.extend(r.summarizer.flags()),
            Command::Backfill(b) => flags.extend(b.summarizer.flags()),
        }
        flags
            .into_iter()
            .filter_map(|(key, value)| {
                value.as_ref().map(|value| FlagValue {
                    key,
                    value: value.clone(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_commands_help_lists_its_own_options_before_the_global_ones() {
        let mut cli = Cli::command();
        // Global flags reach the subcommands when the command is built, as when it parses.
        cli.build();
        let help = cli
            .find_subcommand_mut("reprocess")
            .unwrap()
            .render_help()
            .to_string();
        let at = |text: &str| help.find(text).unwrap_or_else(|| panic!("{text}:\n{help}"));
        let global = at("Global options (AWS, stream, bucket, logs):");
        assert!(at("--dt <YYYY-MM-DD>") < at("Summarizer:"), "{help}");
        assert!(at("--summary-sentences") < global, "{help}");
        assert!(global < at("--endpoint-url <URL>"), "{help}");
        assert!(global < at("--bucket <NAME>"), "{help}");
    }

    #[test]
    fn global_flags_work_after_the_subcommand() {
        let cli =
            Cli::try_parse_from(["precis", "produce", "--stream", "S", "--records", "5"]).unwrap();
        let flags = cli.setting_flags();
        assert!(flags
            .iter()
            .any(|f| f.key == "stream.name" && f.value == "S"));
        assert!(flags
            .iter()
            .any(|f| f.key == "produce.records" && f.value == "5"));
    }

    #[test]
    fn every_flag_maps_to_a_setting_with_that_flag_name() {
        let cli = Cli::try_parse_from([
            "precis",
            "produce",
            "--endpoint-url=http://h:1",
            "--endpoint-url-kinesis=http://k:1",
            "--endpoint-url-s3=http://s:1",
            "--endpoint-url-dynamodb=http://d:1",
            "--region=r-1",
            "--profile=p",
            "--aws-timeout-secs=3",
            "--stream=s",
            "--bucket=bbb",
            "--records=1",
            "--shards=2",
            "--seed=3",
            "--in-flight=4",
        ])
        .unwrap();
        let mut flags = cli.setting_flags();
        let run = Cli::try_parse_from([
            "precis",
            "run",
            "--from=latest",
            "--flush-records=5",
            "--flush-mib=1",
            "--flush-age-secs=2",
            "--max-content-kib=3",
            "--target-file-mib=64",
            "--row-group-mib=8",
            "--compact-small-files=4",
            "--coordination=dynamodb",
            "--lease-table=leases",
            "--lease-secs=6",
            "--lease-take-secs=2",
            "--summarizer=none",
            "--model=m",
            "--encoder=candle",
            "--device=cpu",
            "--summarizer-workers=1",
            "--summary-sentences=2",
            "--summary-words=0",
            "--max-new-tokens=8",
            "--theme=light",
        ])
        .unwrap();
        flags.extend(run.setting_flags());
        let keys: std::collections::HashSet<&str> = flags.iter().map(|f| f.key).collect();
        assert_eq!(keys.len(), crate::config::SETTINGS.len());
        for flag in flags {
            let spec = crate::config::SETTINGS
                .iter()
                .find(|s| s.key == flag.key)
                .unwrap();
            assert!(spec.flag.is_some(), "{} has no flag name", flag.key);
        }
    }

    #[test]
    fn publish_dates_spread_over_a_year_unless_a_window_of_1_to_36500_days_is_given() {
        let produce = |args: &[&str]| -> Result<u32, clap::Error> {
            let cli = Cli::try_parse_from(["precis", "produce"].iter().chain(args))?;
            match cli.command {
                Command::Produce(p) => Ok(p.date_window_days),
                _ => unreachable!("parsed produce"),
            }
        };
        assert_eq!(produce(&[]).unwrap(), 365);
        assert_eq!(produce(&["--date-window-days", "1"]).unwrap(), 1);
        assert!(produce(&["--date-window-days", "0"]).is_err());
        assert!(produce(&["--date-window-days", "36501"]).is_err());
    }

    #[test]
    fn a_date_window_cannot_be_given_with_a_file_to_replay() {
        let result = Cli::try_parse_from([
            "precis",
            "produce",
            "--from-file",
            "a.jsonl",
            "--date-window-days",
            "1",
        ]);
        assert!(result.is_err());
    }

    #[test]
    fn tui_takes_the_run_flags() {
        let cli = Cli::try_parse_from(["precis", "tui", "--once", "--theme", "light"]).unwrap();
        let Command::Tui(args) = &cli.command else {
            panic!("not tui");
        };
        assert!(args.once);
        assert!(cli
            .setting_flags()
            .iter()
            .any(|f| f.key == "ui.theme" && f.value == "light"));
    }

    #[test]
    fn reprocess_days_are_dates_and_a_day_excludes_a_range() {
        assert!(Cli::try_parse_from(["precis", "reprocess", "--dt", "2026-03-01"]).is_ok());
        assert!(Cli::try_parse_from(["precis", "reprocess", "--dt", "March"]).is_err());
        assert!(Cli::try_parse_from([
            "precis",
            "reprocess",
            "--dt",
            "2026-03-01",
            "--from",
            "2026-03-02"
        ])
        .is_err());
        assert!(Cli::try_parse_from([
            "precis",
            "reprocess",
            "--from",
            "2026-03-01",
            "--to",
            "2026-03-05",
            "--split",
            "train",
            "--stale"
        ])
        .is_ok());
    }

    #[test]
    fn unknown_subcommand_is_rejected() {
        assert!(Cli::try_parse_from(["precis", "frobnicate"]).is_err());
    }
}
