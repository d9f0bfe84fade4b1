//! `precis backfill`: the backfill job (python/precis/backfill.py on Ray Data) with this
//! command's settings. The job resolves the settings as the binary does (the same config file,
//! the same `PRECIS_*` variables, and this command's flags passed as `--set`), so it runs with
//! the summarizer `precis run` would.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result};

use crate::cli::{BackfillArgs, Cli};

/// The job's arguments for this command line.
pub fn job_args(cli: &Cli, config_file: Option<&Path>, args: &BackfillArgs) -> Vec<String> {
    let mut out = vec!["-m".to_string(), "precis.backfill".to_string()];
    let mut push = |flag: &str, value: Option<String>| {
        if let Some(value) = value {
            out.push(flag.to_string());
            out.push(value);
        }
    };
    let rows = args.rows.selection();
    push("--from", rows.from.map(|d| d.to_string()));
    push("--to", rows.to.map(|d| d.to_string()));
    push("--split", rows.split.clone());
    push("--into", args.into.clone());
    push("--actors", Some(args.actors.to_string()));
    push(
        "--cpus-per-actor",
        args.cpus_per_actor.map(|c| c.to_string()),
    );
    push(
        "--gpus-per-actor",
        args.gpus_per_actor.map(|g| g.to_string()),
    );
    push("--batch-rows", args.batch_rows.map(|n| n.to_string()));
    push("--ray-address", args.ray_address.clone());
    push("--config", config_file.map(|p| p.display().to_string()));
    for flag in cli.setting_flags() {
        push("--set", Some(format!("{}={}", flag.key, flag.value)));
    }
    if args.all {
        out.push("--all".into());
    }
    if rows.stale {
        out.push("--stale".into());
    }
    out
}

pub fn run(cli: &Cli, config_file: Option<&Path>, args: &BackfillArgs) -> Result<ExitCode> {
    let python = args
        .python
        .clone()
        .or_else(|| std::env::var_os("PRECIS_PYTHON").map(Into::into))
        .unwrap_or_else(|| "python3".into());
    let found = Command::new(&python)
        .args(["-c", "import precis.backfill"])
        .output();
    match found {
        Ok(output) if output.status.success() => {}
        Ok(_) | Err(_) => anyhow::bail!(
            "{} cannot import the precis package: the backfill runs on Ray in Python; run \
             `scripts/python-package install` and set PRECIS_PYTHON (or --python) to the python \
             `scripts/python-package python` prints",
            python.display()
        ),
    }
    let mut job = Command::new(&python);
    job.args(job_args(cli, config_file, args));
    // The job loads its settings as this process did: the same context.
    if let Some(context) = &cli.global.context {
        job.env(crate::config::CONTEXT_VAR, context);
    }
    let status = job
        .status()
        .with_context(|| format!("running the backfill job with {}", python.display()))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn the_job_gets_the_selection_and_the_settings_as_flags() {
        let cli = Cli::parse_from([
            "precis",
            "--bucket",
            "b",
            "backfill",
            "--stale",
            "--actors",
            "2",
            "--encoder",
            "onnx",
        ]);
        let crate::cli::Command::Backfill(args) = &cli.command else {
            panic!("not backfill");
        };
        let job = job_args(&cli, None, args).join(" ");
        assert!(job.starts_with("-m precis.backfill"), "{job}");
        assert!(job.contains("--actors 2"), "{job}");
        assert!(job.contains("--set lake.bucket=b"), "{job}");
        assert!(job.contains("--set summarizer.encoder=onnx"), "{job}");
        assert!(job.ends_with("--stale"), "{job}");
    }
}
