use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use precis::cli::{Cli, Command};
use precis::config::Settings;
use precis::telemetry::LogOutput;
use precis::{commands, telemetry, tui};

/// Exit code for a bad flag, variable or config value (clap uses 2 for bad flags as well).
const EXIT_USAGE: u8 = 2;

/// Two glibc malloc settings, each unless the operator chose it (its MALLOC_*_ variable, or its
/// tunable in GLIBC_TUNABLES).
/// - One arena: glibc gives threads their own (up to 8 per core) and keeps what each freed;
///   rows parsed on the blocking pool and freed elsewhere left RSS well above the live heap.
///   One arena costs no speed: small allocations go through each thread's cache without the
///   arena's lock.
/// - A fixed mmap threshold of 64 KiB: glibc raises it to the size of every mmapped block
///   freed (up to 32 MiB), after which answers, Parquet buffers and column arrays came from the
///   heap and, pinned by small long-lived allocations among them, stayed in RSS.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_malloc() {
    let tunables = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
    let chosen = |variable: &str, tunable: &str| {
        std::env::var_os(variable).is_some() || tunables.contains(tunable)
    };
    // SAFETY: mallopt only sets a tunable; called before any other thread exists. A refusal
    // (0) leaves glibc's default, which works, only with more memory.
    unsafe {
        if !chosen("MALLOC_ARENA_MAX", "malloc.arena_max") {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
        if !chosen("MALLOC_MMAP_THRESHOLD_", "malloc.mmap_threshold") {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 64 * 1024);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}

fn main() -> ExitCode {
    tune_malloc();
    let cli = Cli::parse();
    // The console draws on the terminal, so its log lines go to a file.
    let console = match &cli.command {
        Command::Tui(_) => true,
        Command::Run(args) => !args.no_ui && tui::has_terminal(),
        _ => false,
    };
    let log_file = telemetry::default_log_file();
    init_logs(&cli, console, &log_file);
    let config_file = cli
        .global
        .config
        .clone()
        .or_else(|| std::env::var_os("PRECIS_CONFIG").map(PathBuf::from));
    let settings = match Settings::from_process(
        config_file.as_deref(),
        cli.global.context.as_deref(),
        &cli.setting_flags(),
    ) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if let Err(err) = precis::tui::theme::Theme::check_setting(&settings) {
        eprintln!("error: {err}");
        return ExitCode::from(EXIT_USAGE);
    }
    precis::summarize::pin_model_threads(settings.summarizer.workers_for(false));
    match dispatch(&cli, &settings, console, &log_file, config_file.as_deref()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr, or to the log file under the console.
fn init_logs(cli: &Cli, console: bool, log_file: &std::path::Path) {
    let output = if console {
        LogOutput::File(log_file.to_path_buf())
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
}

/// Runs the subcommand.
fn dispatch(
    cli: &Cli,
    settings: &Settings,
    console: bool,
    log_file: &std::path::Path,
    config_file: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Config => {
            commands::stdout(format_args!("{}", commands::config::render(settings)))
                .map(|()| ExitCode::SUCCESS)
                .map_err(Into::into)
        }
        Command::Eval(args) => commands::eval::run(settings, args),
        Command::Produce(args) => {
            block_on(commands::produce::run(settings, args))
        }
        Command::Run(args) | Command::Tui(args) if console => runtime().and_then(|rt| {
            let load = |context: &str| {
                Settings::from_process(config_file, Some(context), &cli.setting_flags())
                    .map_err(anyhow::Error::from)
            };
            let log_file = log_file.display().to_string();
            let outcome = rt.block_on(tui::run(settings, args, &log_file, &load));
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
            block_on(commands::run::run(settings, args))
        }
        Command::Partitions(args) => {
            block_on(commands::partitions::run(settings, args))
        }
        Command::Preview(args) => {
            // polars reads its table layout from the environment; keep long text readable.
            for (key, value) in [("POLARS_FMT_STR_LEN", "60"), ("POLARS_FMT_MAX_COLS", "12")] {
                if std::env::var_os(key).is_none() {
                    std::env::set_var(key, value);
                }
            }
            block_on(commands::preview::run(settings, args))
        }
        Command::Reprocess(args) => {
            block_on(commands::reprocess::run(settings, args))
        }
        Command::Backfill(args) => commands::backfill::run(cli, config_file, args),
        Command::Compact(args) => {
            block_on(commands::compact::run(settings, args))
        }
        Command::Vacuum(args) => {
            block_on(commands::vacuum::run(settings, args))
        }
        Command::Tables(args) => {
            block_on(commands::tables::run(settings, args))
        }
        Command::History(args) => {
            block_on(commands::history::run_history(settings, args))
        }
        Command::Inspect(args) => {
            block_on(commands::inspect::run(settings, args))
        }
        Command::Export(args) => {
            block_on(commands::export::run(settings, args))
        }
        Command::Compare(args) => {
            block_on(commands::history::run_compare(settings, args))
        }
    }
}

/// Runs a command's future on a fresh runtime.
fn block_on(
    command: impl std::future::Future<Output = anyhow::Result<ExitCode>>,
) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(command)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
