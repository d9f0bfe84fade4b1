//! Command line: global settings flags plus one subcommand per job.
//!
//! Setting flags are taken as text and validated by [`crate::config`], so that a bad value reads
//! the same whether it came from a flag, a variable or the config file.

use std::marker::PhantomData;
use std::path::PathBuf;

use chrono::NaiveDate;

use clap::{Arg, ArgMatches, Args, FromArgMatches, Parser, Subcommand};

use crate::config::{specs, FlagScope, FlagValue, SettingSpec};
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
    /// A named connection context of the config file, [contexts.NAME] (stream, bucket, region,
    /// endpoints, AWS profile), over the file's own values [env PRECIS_CONTEXT]
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    #[command(flatten)]
    pub settings: SettingFlags<GlobalScope>,
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
    /// Every version of a table, newest first: its operation (stream, compaction, reprocess,
    /// backfill, vacuum), rows and files added and removed, and who wrote it
    History(HistoryArgs),
    /// Two summarizers on the same rows, side by side with aggregate figures: a reprocess's or
    /// backfill's version against the rows it replaced (lake/summaries@V), or a candidate table
    /// against the summaries table (lake/NAME)
    Compare(CompareArgs),
    /// A shard's records as JSON lines, with the reason précis would quarantine one; reads
    /// with its own iterators: no checkpoint moves, nothing is committed
    Inspect(InspectArgs),
    /// A table's rows to JSON Lines, Parquet or CSV (by the file's extension); quarantine to
    /// JSON Lines gives the payloads, which `produce --from-file` sends again
    Export(ExportArgs),
    /// Print the effective settings and where each came from (secrets redacted)
    Config,
    /// Score a summarizer with ROUGE against reference summaries, next to the lead-3 baseline
    Eval(EvalArgs),
}

/// Which summarizer and how long its summaries are: the flags of every command that summarizes.
pub type SummarizerArgs = SettingFlags<SummarizerScope>;

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
    #[command(flatten)]
    pub settings: SettingFlags<RunScope>,
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
    #[command(flatten)]
    pub settings: SettingFlags<CompactScope>,
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
pub struct InspectArgs {
    /// Only this shard [default: every shard, in id order]
    #[arg(long, value_name = "ID")]
    pub shard: Option<String>,
    /// Where to start: trim-horizon, latest, a time (2026-11-23T08:00:00Z) or a sequence number
    #[arg(long, value_name = "POSITION", default_value = "trim-horizon")]
    pub from: String,
    /// Records to print at most
    #[arg(short = 'n', long = "records", value_name = "N", default_value_t = 10)]
    pub limit: usize,
    /// Only records whose payload, partition key or sequence number holds this text (any case)
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// lake/summaries, lake/articles, lake/quarantine or a candidate table lake/NAME; @VERSION
    /// for an older version
    #[arg(value_name = "TABLE[@VERSION]")]
    pub table: String,
    /// Only the rows where this holds: comparisons joined by AND, e.g. "split = 'train' AND
    /// publish_date >= '2026-03-01'", "summary IS NULL"
    #[arg(long = "where", value_name = "PREDICATE")]
    pub r#where: Option<String>,
    /// The file to write: .jsonl, .parquet or .csv
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// lake/articles, lake/summaries, lake/quarantine, or a candidate table lake/NAME
    #[arg(value_name = "TABLE")]
    pub table: String,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// A rewrite's version (lake/summaries@12) or a candidate table (lake/NAME)
    #[arg(value_name = "TABLE@VERSION|CANDIDATE")]
    pub target: String,
    /// Rows to print side by side, the changed ones first
    #[arg(long, short = 'n', value_name = "N", default_value_t = 10)]
    pub limit: usize,
}

#[derive(Debug, Args)]
pub struct ProduceArgs {
    #[command(flatten)]
    pub settings: SettingFlags<ProduceScope>,
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
}

impl Cli {
    /// Setting values given as flags, for the config loader.
    pub fn setting_flags(&self) -> Vec<FlagValue> {
        let mut flags = self.global.settings.values.clone();
        let mut add = |more: &[FlagValue]| flags.extend_from_slice(more);
        match &self.command {
            Command::Produce(p) => add(&p.settings.values),
            Command::Run(r) | Command::Tui(r) => {
                add(&r.settings.values);
                add(&r.summarizer.values);
            }
            Command::Compact(c) => add(&c.settings.values),
            Command::Eval(e) => add(&e.summarizer.values),
            Command::Reprocess(r) => add(&r.summarizer.values),
            Command::Backfill(b) => add(&b.summarizer.values),
            Command::Config
            | Command::Partitions(_)
            | Command::Preview(_)
            | Command::Vacuum(_)
            | Command::Tables(_)
            | Command::History(_)
            | Command::Compare(_)
            | Command::Export(_)
            | Command::Inspect(_) => {}
        }
        flags
    }
}

/// The setting flags of one scope, built from the settings rows (`config::settings`), so that a
/// setting's flag, help and default are written once, in its row. Values stay text: the config
/// loader reads them, as it reads the file and the environment.
#[derive(Debug)]
pub struct SettingFlags<S> {
    pub values: Vec<FlagValue>,
    scope: PhantomData<S>,
}

/// Which rows a [`SettingFlags`] takes, and the help heading they go under.
pub trait Scope {
    const SCOPE: FlagScope;
    const HEADING: Option<&'static str> = None;
}

#[derive(Debug)]
pub struct GlobalScope;
#[derive(Debug)]
pub struct ProduceScope;
#[derive(Debug)]
pub struct RunScope;
#[derive(Debug)]
pub struct SummarizerScope;
#[derive(Debug)]
pub struct CompactScope;

impl Scope for GlobalScope {
    const SCOPE: FlagScope = FlagScope::Global;
}
impl Scope for ProduceScope {
    const SCOPE: FlagScope = FlagScope::Produce;
}
impl Scope for RunScope {
    const SCOPE: FlagScope = FlagScope::Run;
}
impl Scope for SummarizerScope {
    const SCOPE: FlagScope = FlagScope::Summarizer;
    const HEADING: Option<&'static str> = Some("Summarizer");
}
impl Scope for CompactScope {
    const SCOPE: FlagScope = FlagScope::Compact;
}

impl<S> Default for SettingFlags<S> {
    fn default() -> Self {
        Self {
            values: Vec::new(),
            scope: PhantomData,
        }
    }
}

fn rows_of(scope: FlagScope) -> impl Iterator<Item = &'static SettingSpec> {
    specs().filter(move |spec| spec.scopes.contains(&scope))
}

impl<S: Scope> Args for SettingFlags<S> {
    fn augment_args(mut cmd: clap::Command) -> clap::Command {
        if let Some(heading) = S::HEADING {
            cmd = cmd.next_help_heading(heading);
        }
        rows_of(S::SCOPE).fold(cmd, |cmd, spec| {
            let help = format!(
                "{} [env {}; default: {}]",
                spec.help,
                spec.env.join(", "),
                spec.default_text()
            );
            cmd.arg(
                Arg::new(spec.key)
                    .long(spec.flag.trim_start_matches("--"))
                    .value_name(spec.value_name)
                    .help(help)
                    .global(S::SCOPE == FlagScope::Global),
            )
        })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl<S: Scope> FromArgMatches for SettingFlags<S> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = Self::default();
        flags.update_from_arg_matches(matches)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        for spec in rows_of(S::SCOPE) {
            if let Some(value) = matches.get_one::<String>(spec.key) {
                self.values.retain(|flag| flag.key != spec.key);
                self.values.push(FlagValue {
                    key: spec.key,
                    value: value.clone(),
                });
            }
        }
        Ok(())
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
        assert_eq!(keys.len(), specs().count());
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
