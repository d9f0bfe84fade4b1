//! Progress bars for long commands: drawn on stderr when it is a terminal, hidden otherwise (CI,
//! pipes, log files), so that output that is read by machines stays clean.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `total` steps, or a spinner when the total is unknown, in `style`.
pub fn terminal_bar(total: Option<u64>, style: ProgressStyle) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(total) => ProgressBar::new(total),
        None => ProgressBar::new_spinner(),
    };
    bar.set_style(style);
    bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(10));
    bar
}

/// A spinner with a message and the time spent: for work whose total is not known up front.
pub fn terminal_spinner() -> ProgressBar {
    terminal_bar(
        None,
        ProgressStyle::with_template("{spinner} {msg} [{elapsed_precise}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    )
}
