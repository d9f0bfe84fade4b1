use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use precis::cli::{Cli, Command};
use precis::config::Settings;
use precis::{commands, telemetry};

/// Exit code for a bad flag, variable or config value (clap uses 2 for bad flags as well).
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.global.verbose, cli.global.quiet, cli.global.log_format);
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
        Command::Run(args) => {
            runtime().and_then(|rt| rt.block_on(commands::run::run(&settings, args)))
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
