//! Work on the tables beside the pipeline: compacting small files, reprocessing rows with another
//! summarizer, vacuuming files no snapshot needs, and describing the tables (inventory, dataset
//! cards). Each change is one Delta commit that removes files and adds their replacements, so a
//! reader sees the table before it or after it, never in between.

pub mod backfill;
pub mod card;
pub mod compact;
pub mod export;
pub mod files;
pub mod history;
pub mod inventory;
pub mod predicate;
pub mod reprocess;
pub mod vacuum;

/// A rewrite asked of a table that does not exist yet: commands say so and go on to the next.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NoTable(pub String);

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use arrow_array::{ArrayRef, RecordBatch, StringArray};
use bytes::Bytes;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake::kernel::{Action, Add, Remove, Transaction};
use deltalake::protocol::DeltaOperation;
use deltalake::{DeltaTable, DeltaTableError};
use object_store::ObjectStoreExt as _;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

use crate::pipeline::sink::lake::TableKind;
use files::{table_files, TableFile};

/// A whole file of the table.
pub async fn read_file(table: &DeltaTable, path: &str) -> Result<Bytes> {
    let location = deltalake::Path::from_url_path(path)
        .with_context(|| format!("{path} is not a file path of the table"))?;
    let body = table
        .object_store()
        .get(&location)
        .await
        .with_context(|| format!("reading {path} of {}", table.table_url()))?;
    body.bytes()
        .await
        .with_context(|| format!("reading {path} of {}", table.table_url()))
}

/// A file's rows in the table's schema: the partition columns, which the file's path holds and
/// not its data, are put back (a writer moves them into the path again).
pub fn file_batches(kind: TableKind, file: &TableFile, body: Bytes) -> Result<Vec<RecordBatch>> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(body)
        .and_then(|b| b.build())
        .with_context(|| format!("reading {} as Parquet", file.path))?;
    let schema = kind.schema();
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.with_context(|| format!("reading the rows of {}", file.path))?;
        let mut columns = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            let column = match batch.column_by_name(field.name()) {
                Some(column) => column.clone(),
                None => {
                    let value = file
                        .partition
                        .iter()
                        .find(|(name, _)| name == field.name())
                        .map(|(_, value)| value.as_str())
                        .with_context(|| format!("{} has no column {}", file.path, field.name()))?;
                    Arc::new(StringArray::from(vec![value; batch.num_rows()])) as ArrayRef
                }
            };
            columns.push(column);
        }
        out.push(
            RecordBatch::try_new(schema.clone(), columns)
                .with_context(|| format!("{} does not hold {} rows", file.path, kind.name()))?,
        );
    }
    Ok(out)
}

/// A rewrite's commit metadata: the rows it selected (SQL), the summarizer it wrote with, and a
/// backfill's job; the table's history reads them back.
pub const META_REPROCESS: &str = "precis.reprocess";
pub const META_SUMMARIZER: &str = "precis.summarizer";
pub const META_BACKFILL: &str = "precis.backfill";

/// One commit that takes files out of a table and puts others in.
pub struct Rewrite {
    pub removes: Vec<Remove>,
    pub adds: Vec<Add>,
    pub operation: DeltaOperation,
    pub metadata: Vec<(String, Value)>,
    /// An application transaction the commit carries: it is not made when the table already
    /// holds this application at this version or later ([`AlreadyCommitted`]).
    pub txn: Option<Transaction>,
}

/// A rewrite whose application transaction the table already holds: an earlier run of the same
/// job committed it.
#[derive(Debug, thiserror::Error)]
#[error("{app_id} already committed version {version} of its job to the table")]
pub struct AlreadyCommitted {
    pub app_id: String,
    pub version: i64,
}

/// Attempts at a rewrite's commit while appends keep landing before it.
const REWRITE_ATTEMPTS: usize = 50;

/// Commits a rewrite on top of whatever reached the table meanwhile (appends add files of their
/// own), as long as every file it removes is still in the table.
///
/// delta-rs's own conflict check lets two rewrites of the same file through when one of them is
/// a compaction (a remove without data change never conflicts), which would leave the file's
/// rows in both rewrites' new files: so every attempt is made at a version this function has
/// checked, with no retry of delta-rs's own.
pub async fn commit_rewrite(table: &mut DeltaTable, rewrite: Rewrite) -> Result<i64> {
    let removed: HashSet<String> = rewrite.removes.iter().map(|r| r.path.clone()).collect();
    let mut actions: Vec<Action> = rewrite.adds.into_iter().map(Action::Add).collect();
    actions.extend(rewrite.removes.into_iter().map(Action::Remove));
    for _ in 0..REWRITE_ATTEMPTS {
        if let Some(txn) = &rewrite.txn {
            let held = table
                .snapshot()
                .context("the table has no snapshot")?
                .transaction_version(table.log_store().as_ref(), &txn.app_id)
                .await
                .context("reading the table's application transactions")?;
            if let Some(version) = held.filter(|v| *v >= txn.version) {
                return Err(AlreadyCommitted {
                    app_id: txn.app_id.clone(),
                    version,
                }
                .into());
            }
        }
        let files = table_files(table).await?;
        let present = files.iter().filter(|f| removed.contains(&f.path)).count();
        if present != removed.len() {
            bail!(
                "{} of the files this change replaces left the table meanwhile (another compaction \
                 or reprocess ran): nothing was committed; run it again",
                removed.len() - present
            );
        }
        let mut properties = CommitProperties::default()
            .with_metadata(rewrite.metadata.clone())
            .with_max_retries(0);
        let snapshot = table.snapshot().context("the table has no snapshot")?;
        if let Some(txn) = &rewrite.txn {
            properties = properties.with_application_transaction(txn.clone());
        }
        crate::crash::point("before-rewrite-commit");
        let result = CommitBuilder::from(properties)
            .with_actions(actions.clone())
            .build(Some(snapshot), table.log_store(), rewrite.operation.clone())
            .await;
        match result {
            Ok(finalized) => {
                crate::crash::point("after-rewrite-commit");
                let version = i64::try_from(finalized.version()).unwrap_or(i64::MAX);
                table.state = Some(finalized.snapshot());
                return Ok(version);
            }
            Err(DeltaTableError::VersionAlreadyExists(_))
            | Err(DeltaTableError::Transaction {
                source: TransactionError::MaxCommitAttempts(_),
            }) => {
                table
                    .update_state()
                    .await
                    .context("reading the table after a concurrent commit")?;
            }
            Err(err) => return Err(anyhow::Error::new(err).context("committing the change")),
        }
    }
    bail!(
        "other commits kept landing first ({REWRITE_ATTEMPTS} attempts): nothing was committed; \
         run it again when the table is quieter"
    )
}
