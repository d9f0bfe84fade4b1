//! Vacuum: deleting the files no snapshot within the retention needs (those a compaction or a
//! reprocess replaced, and files of attempts that never committed).

use anyhow::{bail, Context, Result};
use deltalake::operations::vacuum::VacuumMode;

use crate::pipeline::sink::lake::{Lake, TableKind};

/// Delta's default retention of removed files (`delta.deletedFileRetentionDuration`): a reader
/// or a writer working on a snapshot younger than this never finds a file gone.
pub const SAFE_RETENTION_HOURS: u64 = 7 * 24;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VacuumReport {
    pub table: TableKind,
    pub dry_run: bool,
    /// Deleted, or that would be on a dry run; relative to the bucket.
    pub files: Vec<String>,
}

/// Refuses a retention below the safe one unless forced, with what to do.
pub fn check_retention(retain_hours: u64, force: bool) -> Result<()> {
    if retain_hours < SAFE_RETENTION_HOURS && !force {
        bail!(
            "--retain-hours {retain_hours} is below the safe retention of {SAFE_RETENTION_HOURS} \
             hours: a reader or a writer still on an older snapshot (a training epoch, a running \
             pipeline's chunk) would find its files gone. Add --force when none is"
        );
    }
    Ok(())
}

/// Deletes the table's files that no snapshot of the last `retain_hours` references, or lists
/// them on a dry run.
pub async fn vacuum(
    lake: &Lake,
    kind: TableKind,
    retain_hours: u64,
    force: bool,
    dry_run: bool,
) -> Result<VacuumReport> {
    check_retention(retain_hours, force)?;
    let Some(table) = lake.open(kind).await? else {
        return Err(super::NoTable(format!(
            "no table at s3://{}/{} yet: nothing to vacuum",
            lake.bucket,
            kind.path()
        ))
        .into());
    };
    let retention = chrono::Duration::hours(i64::try_from(retain_hours).unwrap_or(i64::MAX));
    let (table, metrics) = table
        .vacuum()
        .with_retention_period(retention)
        .with_enforce_retention_duration(!force)
        // Full: files of attempts that never committed are found by listing, not in the log.
        .with_mode(VacuumMode::Full)
        .with_dry_run(dry_run)
        .await
        .with_context(|| format!("vacuuming s3://{}/{}", lake.bucket, kind.path()))?;
    let mut files: Vec<String> = metrics
        .files_deleted
        .into_iter()
        .map(|f| format!("{}/{f}", kind.path()))
        .collect();
    files.sort();
    if !dry_run {
        // The card (hidden, so the vacuum kept it) says what the table holds now.
        super::card::write_card(&table, kind).await?;
    }
    Ok(VacuumReport {
        table: kind,
        dry_run,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retention_below_a_week_is_refused_with_what_to_do() {
        let err = check_retention(1, false).unwrap_err().to_string();
        assert!(
            err.contains("--retain-hours 1 is below the safe retention of 168"),
            "{err}"
        );
        assert!(err.contains("--force"), "{err}");
    }

    #[test]
    fn a_forced_or_safe_retention_is_accepted() {
        assert!(check_retention(1, true).is_ok());
        assert!(check_retention(168, false).is_ok());
    }
}
