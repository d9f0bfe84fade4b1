//! `precis history TABLE`: every version of a table with what made it; `precis compare TARGET`:
//! two summarizers on the same rows, from a rewrite's version or a candidate table.

use std::process::ExitCode;

use anyhow::{bail, Result};

use crate::aws::AwsClients;
use crate::cli::{CompareArgs, HistoryArgs};
use crate::config::Settings;
use crate::maintenance::history::{comparison, history, Comparison};
use crate::maintenance::inventory::CommitSummary;
use crate::pipeline::sink::lake::{table_at, table_path, Lake, TableKind, LAKE_PREFIX};
use crate::resources::require_bucket;

/// One commit as a line of the history.
fn commit_line(c: &CommitSummary) -> String {
    let when = c.when.map_or("?".to_string(), |w| {
        w.format("%Y-%m-%d %H:%M:%S").to_string()
    });
    let writer = match (&c.chunk, &c.worker, &c.predicate, &c.summarizer) {
        (Some((app, _)), Some(worker), _, _) => format!("{app} on {worker}"),
        (Some((app, _)), None, _, _) => app.clone(),
        (None, _, Some(predicate), Some(summarizer)) => {
            format!("where {predicate} with {summarizer}")
        }
        _ => String::new(),
    };
    format!(
        "{:>7}  {when}  {:<10} {:>8} {:>6} {:>6}  {writer}",
        c.version,
        c.kind.name(),
        c.rows_added,
        c.files_added,
        c.files_removed
    )
}

pub async fn run_history(settings: &Settings, args: &HistoryArgs) -> Result<ExitCode> {
    let clients = AwsClients::connect(settings).await;
    require_bucket(&clients, &settings.lake.bucket).await?;
    let lake = Lake::new(settings);
    let path = table_path(&args.table)?;
    let table = lake.open_existing(&path, None).await?;
    let commits = history(&table).await?;
    outln!(
        "{:>7}  {:<19}  {:<10} {:>8} {:>6} {:>6}  writer",
        "version",
        "time (UTC)",
        "operation",
        "rows+",
        "files+",
        "files-"
    )?;
    for commit in commits.iter().rev() {
        outln!("{}", commit_line(commit))?;
    }
    if let Some(last) = commits.iter().rev().find(|c| c.kind.is_rewrite()) {
        let version = last.version;
        outln!("`precis compare {path}@{version}` shows what a rewrite changed, row by row")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The figures and the first `limit` pairs.
fn comparison_text(c: &Comparison, limit: usize) -> String {
    let mut out = format!(
        "{}\nold: {}\nnew: {}\n",
        c.headline(),
        c.old.text(),
        c.new.text()
    );
    for pair in c.pairs.iter().take(limit) {
        let text = |s: &Option<String>| s.clone().unwrap_or_else(|| "(none)".into());
        out.push_str(&format!(
            "\n{} {}\n  old: {}\n  new: {}\n",
            pair.article_id,
            pair.title.as_deref().unwrap_or(""),
            text(&pair.old),
            text(&pair.new)
        ));
    }
    out
}

pub async fn run_compare(settings: &Settings, args: &CompareArgs) -> Result<ExitCode> {
    let clients = AwsClients::connect(settings).await;
    require_bucket(&clients, &settings.lake.bucket).await?;
    let lake = Lake::new(settings);
    let (path, version) = table_at(&args.target)?;
    if version.is_none() && TableKind::parse(path.trim_start_matches(LAKE_PREFIX)).is_some() {
        bail!(
            "{path} is one of précis's tables: compare a version of it that a reprocess or \
             backfill wrote ({path}@VERSION, `precis history {path}` lists them), or a candidate \
             table lake/NAME"
        );
    }
    let compared = comparison(&lake, &path, version).await?;
    out!("{}", comparison_text(&compared, args.limit))?;
    Ok(ExitCode::SUCCESS)
}
