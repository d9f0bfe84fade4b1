//! Logging: human-readable lines on stderr (stdout stays for results), or into a file while the
//! console owns the terminal. Warnings and errors are also kept in memory for the console's Logs
//! view and the dashboard's last errors, whatever the output.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::fs::File;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use chrono::{DateTime, Utc};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::cli::LogFormat;

/// Warnings and errors kept for the console.
pub const RECENT_CAPACITY: usize = 500;

/// Where formatted log lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogOutput {
    Stderr,
    /// The console draws on the terminal: lines go here instead.
    File(PathBuf),
}

/// One kept warning or error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub at: DateTime<Utc>,
    pub level: Level,
    pub message: String,
}

fn recent_store() -> &'static Mutex<VecDeque<LogLine>> {
    static RECENT: OnceLock<Mutex<VecDeque<LogLine>>> = OnceLock::new();
    RECENT.get_or_init(|| Mutex::new(VecDeque::with_capacity(RECENT_CAPACITY)))
}

/// The kept warnings and errors, oldest first.
pub fn recent() -> Vec<LogLine> {
    recent_store()
        .lock()
        .map(|r| r.iter().cloned().collect())
        .unwrap_or_default()
}

fn keep(line: LogLine) {
    if let Ok(mut recent) = recent_store().lock() {
        if recent.len() == RECENT_CAPACITY {
            recent.pop_front();
        }
        recent.push_back(line);
    }
}

/// The console's log file: `PRECIS_LOG_FILE`, else `precis.log` in the cache directory.
pub fn default_log_file() -> PathBuf {
    if let Some(path) = std::env::var_os("PRECIS_LOG_FILE") {
        return PathBuf::from(path);
    }
    crate::summarize::store::cache_root().join("precis.log")
}

/// The Delta kernel (the `buoyant_kernel` crate) logs every error it returns, a table not created
/// yet among them, as an ERROR event of its own, and delta-rs warns at each commit that lost a
/// race and was rebased, which is how several shards commit to one table. précis reports the
/// errors that matter itself, with what to do.
const DELTA: &str = "buoyant_kernel=off,delta_kernel=off,deltalake_core::kernel::transaction=error";

/// What the console's warnings panel keeps: warnings and errors, without the Delta kernel's
/// (a table that does not exist yet is a normal state, not an error to show).
fn kept_filter() -> EnvFilter {
    EnvFilter::new(format!("warn,{DELTA}"))
}

/// `PRECIS_LOG` (a full `tracing` filter, like `RUST_LOG`) wins over -v/-q. Returns a warning
/// to show when the log file cannot be written.
pub fn init(verbose: u8, quiet: bool, format: LogFormat, output: &LogOutput) -> Option<String> {
    let mut warning = None;
    let default = match (quiet, verbose) {
        (true, _) => format!("warn,{DELTA}"),
        (false, 0) => format!("warn,{DELTA},precis=info"),
        (false, 1) => format!("info,{DELTA},precis=debug"),
        (false, _) => format!("debug,{DELTA},precis=trace"),
    };
    let filter = std::env::var("PRECIS_LOG")
        .ok()
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    let (writer, ansi): (tracing_subscriber::fmt::writer::BoxMakeWriter, bool) = match output {
        LogOutput::Stderr => (
            tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::stderr),
            std::io::stderr().is_terminal(),
        ),
        LogOutput::File(path) => match open_log_file(path) {
            Some(file) => (
                tracing_subscriber::fmt::writer::BoxMakeWriter::new(Mutex::new(file)),
                false,
            ),
            // Nowhere to write: the console still shows warnings and errors from memory.
            None => {
                warning = Some(format!(
                    "cannot write the log file {}: only warnings and errors are kept (Logs view); set PRECIS_LOG_FILE to a writable path",
                    path.display()
                ));
                (
                    tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::sink),
                    false,
                )
            }
        },
    };
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_target(false);
    let fmt = match format {
        LogFormat::Human => fmt.with_ansi(ansi).boxed(),
        LogFormat::Json => fmt.json().with_current_span(false).boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(KeepWarnings.with_filter(kept_filter()))
        .try_init();
    warning
}

fn open_log_file(path: &PathBuf) -> Option<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).ok()?;
    }
    File::options().create(true).append(true).open(path).ok()
}

/// Copies warnings and errors into the in-memory ring.
struct KeepWarnings;

impl<S: Subscriber> Layer<S> for KeepWarnings {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut message = MessageText::default();
        event.record(&mut message);
        keep(LogLine {
            at: Utc::now(),
            level: *event.metadata().level(),
            message: message.0,
        });
    }
}

/// The event's message, then its other fields as `key=value`.
#[derive(Default)]
struct MessageText(String);

impl Visit for MessageText {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let rest = std::mem::take(&mut self.0);
            let _ = write!(self.0, "{value:?}");
            if !rest.is_empty() {
                self.0.push(' ');
                self.0.push_str(&rest);
            }
        } else {
            if !self.0.is_empty() {
                self.0.push(' ');
            }
            let _ = write!(self.0, "{}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_kept_with_their_fields_and_infos_are_not() {
        let subscriber = tracing_subscriber::registry()
            .with(KeepWarnings.with_filter(tracing::level_filters::LevelFilter::WARN));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("not kept");
            tracing::warn!(shard = "shardId-7", "slow down");
        });
        let kept = recent();
        assert!(kept
            .iter()
            .any(|l| l.level == Level::WARN && l.message == "slow down shard=\"shardId-7\""));
        assert!(!kept.iter().any(|l| l.message.contains("not kept")));
    }

    #[test]
    fn the_delta_kernels_own_error_events_are_not_shown_as_errors() {
        let subscriber =
            tracing_subscriber::registry().with(KeepWarnings.with_filter(kept_filter()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(
                target: "buoyant_kernel::snapshot",
                error = "Generic delta kernel error: No files in log segment"
            );
            tracing::error!(target: "precis::engine", "kept: a real failure");
        });
        let kept = recent();
        assert!(!kept
            .iter()
            .any(|l| l.message.contains("No files in log segment")));
        assert!(kept
            .iter()
            .any(|l| l.message.contains("kept: a real failure")));
    }
}
