//! What each subcommand does beyond the library call: progress on a terminal, the lines a person
//! reads at the end, the exit code.

use std::io::Write;

/// `print!` to stdout, except that a reader that has gone (`precis partitions | head -3`) ends
/// the output quietly, and the command still exits with its own code. `print!` panics there:
/// the Rust runtime ignores SIGPIPE, and must, because sockets written with `writev` (hyper's
/// way) would otherwise kill the process instead of returning a retryable EPIPE.
macro_rules! out {
    ($($arg:tt)*) => { $crate::commands::stdout(format_args!($($arg)*)) };
}

/// [`out!`] with a newline.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::commands::stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Writes to stdout; a closed pipe is not an error (see [`out!`]).
pub fn stdout(text: std::fmt::Arguments) -> std::io::Result<()> {
    match std::io::stdout().lock().write_fmt(text) {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

pub mod backfill;
pub mod compact;
pub mod config;
pub mod eval;
pub mod export;
pub mod history;
pub mod inspect;
pub mod partitions;
pub mod preview;
pub mod produce;
pub mod progress;
pub mod reprocess;
pub mod run;
pub mod tables;
pub mod vacuum;
