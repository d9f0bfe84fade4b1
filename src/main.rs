use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use precis::cli::{Cli, Command};
use precis::config::Settings;
use precis::telemetry::LogOutput;
use precis::{commands, telemetry, tui};

/// Exit code for a bad flag, variable or config value (clap uses 2 for bad flags as well).
const EXIT_USAGE: u8 = 2;

/// glibc's malloc gives threads their own arenas (up to 8 per core) and keeps what each freed;
/// chunks parsed on the blocking pool and freed elsewhere left RSS at about twice the live heap
/// (docs/performance.md). Two arenas, as often advised for many-threaded services, unless the
/// operator chose (MALLOC_ARENA_MAX, or glibc.malloc.arena_max in GLIBC_TUNABLES).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    let chosen = std::env::var_os("MALLOC_ARENA_MAX").is_some()
        || std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("malloc.arena_max"));
    if !chosen {
        // SAFETY: mallopt only sets a tunable; called before any other thread exists. A refusal
        // (0) leaves glibc's default, which works, only with more memory.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    // The console draws on the terminal, so its log lines go to a file.
    let console = match &cli.command {
        Command::Tui(_) => true,
        Command::Run(args) => !args.no_ui && tui::has_terminal(),
        _ => false,
    };
    let log_file = telemetry::default_log_file();
    let output = if console {
        LogOutput::File(log_file.clone())
    } else {
        LogOutput::Stderr
    };
    if let Some(warning) = telemetry::init(
        cli.global.verbose,
        cli.global.quiet,
        cli.global.log_format,
        &output,
    ) {
        eprintln!("warning: {warning}");
        // Also where the console shows warnings.
        tracing::warn!("{warning}");
    }
    let config_file = cli
        .global
        .config
        .clone()
        .or_else(|| std::env::var_os("PRECIS_CONFIG").map(PathBuf::from));
    let settings = match Settings::from_process(config_file.as_deref(), &cli.setting_flags()) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    precis::summarize::pin_model_threads(settings.summarizer.workers);
    let outcome = match &cli.command {
        Command::Config => {
            print!("{}", commands::config::render(&settings));
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval(args) => commands::eval::run(&settings, args),
        Command::Produce(args) => {
            runtime().and_then(|rt| rt.block_on(commands::produce::run(&settings, args)))
        }
        Command::Run(args) | Command::Tui(args) if console => runtime().and_then(|rt| {
            let outcome = rt.block_on(tui::run(&settings, args, &log_file.display().to_string()));
            // The console's shutdown is bounded: blocking work still running (a summary batch,
            // a preview) is not waited for once the readers are done or given up on.
            rt.shutdown_timeout(std::time::Duration::from_secs(1));
            outcome
        }),
        Command::Tui(_) => Err(anyhow::anyhow!(
            "the console needs a terminal on stdin and stdout; use `precis run --no-ui` for headless runs"
        )),
        Command::Run(args) => {
            if !args.no_ui {
                tracing::info!("no terminal: running headless (--no-ui)");
            }
            runtime().and_then(|rt| rt.block_on(commands::run::run(&settings, args)))
        }
        Command::Partitions(args) => {
            runtime().and_then(|rt| rt.block_on(commands::partitions::run(&settings, args)))
        }
        Command::Preview(args) => {
            // polars reads its table layout from the environment; keep long text readable.
            for (key, value) in [("POLARS_FMT_STR_LEN", "60"), ("POLARS_FMT_MAX_COLS", "12")] {
                if std::env::var_os(key).is_none() {
                    std::env::set_var(key, value);
                }
            }
            runtime().and_then(|rt| rt.block_on(commands::preview::run(&settings, args)))
        }
        Command::Reprocess(args) => {
            runtime().and_then(|rt| rt.block_on(commands::reprocess::run(&settings, args)))
        }
    };
    match outcome {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
