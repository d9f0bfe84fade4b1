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
