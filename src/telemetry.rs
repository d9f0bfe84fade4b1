//! Logging: human-readable lines on stderr, so that stdout stays for results.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// `PRECIS_LOG` (a full `tracing` filter, like `RUST_LOG`) wins over -v/-q.
pub fn init(verbose: u8, quiet: bool, format: LogFormat) {
    let default = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "warn,precis=info",
        (false, 1) => "info,precis=debug",
        (false, _) => "debug,precis=trace",
    };
    let filter = std::env::var("PRECIS_LOG")
        .ok()
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Human => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.json().with_current_span(false).try_init(),
    };
}
