//! The commit protocol of a chunk (docs/exactly-once.md): each table's files added in one Delta
//! commit carrying the shard's application transaction `precis/<stream>/<shard>` at the chunk's
//! number, with where the chunk starts and ends in its shard in the commit's metadata. Before a
//! retried (or stale) commit, the table is read again: a chunk it already holds is not committed
//! twice, and a chunk another writer committed fences this one.

use anyhow::{bail, Context, Result};
use arrow_array::RecordBatch;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake::kernel::{Action, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableError};
use futures::TryStreamExt;
use serde_json::Value;

use super::parquet::FileLayout;

/// Where a chunk of a shard ends, as its commit records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The chunk's number: the application transaction's version.
    pub chunk: i64,
    /// The last sequence number of the chunk's records.
    pub last_sequence: String,
}

/// Commit metadata keys (in each commit's `commitInfo`, seen by `history()` in every reader).
pub const META_APP_ID: &str = "precis.app_id";
pub const META_CHUNK: &str = "precis.chunk";
pub const META_FIRST_SEQUENCE: &str = "precis.first_sequence";
pub const META_LAST_SEQUENCE: &str = "precis.last_sequence";
/// The process that committed (its lease-table name), for the table's history.
pub const META_WORKER: &str = "precis.worker";

/// The application id of one shard's chunks: the same in every table.
pub fn app_id(stream: &str, shard_id: &str) -> String {
    format!("precis/{stream}/{shard_id}")
}

/// The stream and the shard of an [`app_id`] (a stream name has no '/').
pub fn parse_app_id(app: &str) -> Option<(&str, &str)> {
    app.strip_prefix("precis/")?.split_once('/')
}

/// The last chunk of `app` the table's snapshot holds (its application transaction).
pub async fn chunk_in(table: &DeltaTable, app: &str) -> Result<Option<i64>> {
    table
        .snapshot()
        .context("the table has no snapshot")?
        .transaction_version(table.log_store().as_ref(), app)
        .await
        .context("reading the table's application transactions")
}

/// The last chunk of `app` committed to `table`, with where it ends in its shard.
pub async fn last_committed(table: &DeltaTable, app: &str) -> Result<Option<Committed>> {
    match chunk_in(table, app).await? {
        Some(chunk) => commit_ending(table, app, chunk).await.map(Some),
        None => Ok(None),
    }
}

/// Where chunk `chunk` of `app` ends, from its commit's metadata.
pub async fn commit_ending(table: &DeltaTable, app: &str, chunk: i64) -> Result<Committed> {
    // The commit is almost always among the newest: look there first, then further back.
    for limit in [64, 1024, usize::MAX] {
        let limit = (limit != usize::MAX).then_some(limit);
        let infos: Vec<_> = table
            .history(limit)
            .try_collect()
            .await
            .context("reading the table's history")?;
        let found = infos.iter().find_map(|info| {
            let meta = &info.info;
            (meta.get(META_APP_ID)?.as_str()? == app && meta.get(META_CHUNK)?.as_i64()? == chunk)
                .then(|| meta.get(META_LAST_SEQUENCE)?.as_str().map(str::to_string))
                .flatten()
        });
        if let Some(last_sequence) = found {
            return Ok(Committed {
                chunk,
                last_sequence,
            });
        }
        if limit.is_none_or(|l| infos.len() < l) {
            break;
        }
    }
    bail!(
        "the table {} holds chunk {chunk} of {app} but no commit says where it ends (its history \
         was cleaned up?); move the shard's checkpoint past it or start a new table",
        table.table_url()
    )
}

/// One chunk of one shard for one table: its place in the shard.
pub struct ChunkCommit<'a> {
    pub app_id: &'a str,
    pub chunk: i64,
    pub first_sequence: &'a str,
    pub last_sequence: &'a str,
    /// The process committing, for the table's history.
    pub worker: &'a str,
    /// An earlier attempt at this commit failed, and may have committed all the same (an
    /// answer lost on the way back): the table's application transaction is asked first.
    pub retry: bool,
    /// The handle has not read the table's log for a while: it catches up first.
    pub stale: bool,
}

/// What committing a chunk did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    /// The chunk's files are in the table at this version.
    Committed {
        version: i64,
        files: u64,
        bytes: u64,
    },
    /// The table already held this chunk (a replay after a crash): nothing was written.
    AlreadyCommitted,
}

/// Before a chunk's commit: whether an earlier attempt already made it (a retry whose answer was
/// lost), or another writer committed the shard's chunk (this writer is fenced: an error).
async fn committed_already(
    table: &mut DeltaTable,
    chunk: &ChunkCommit<'_>,
) -> Result<Option<CommitOutcome>> {
    // No refresh before a first attempt: the commit itself finds the table's latest version and
    // rebases onto the commits it has not seen (other shards' appends never conflict).
    if chunk.retry || chunk.stale {
        table
            .update_state()
            .await
            .context("refreshing the table before a commit")?;
    }
    if chunk.retry {
        if let Some(committed) = last_committed(table, chunk.app_id).await? {
            if committed.chunk == chunk.chunk && committed.last_sequence == chunk.last_sequence {
                return Ok(Some(CommitOutcome::AlreadyCommitted));
            }
            if committed.chunk >= chunk.chunk {
                bail!(
                    "chunk {} of {} is in the table ending at {}, not at {}: another writer \
                     committed this shard's chunks; this one stops",
                    committed.chunk,
                    chunk.app_id,
                    committed.last_sequence,
                    chunk.last_sequence
                );
            }
        }
    }
    if chunk.stale && !chunk.retry {
        // The refreshed snapshot holds every commit so far: a chunk of this shard committed by
        // another writer (a worker that took the shard's lease) would not conflict with this
        // commit any more, so it is looked for here.
        let committed = chunk_in(table, chunk.app_id).await?;
        if let Some(committed) = committed.filter(|c| *c >= chunk.chunk) {
            bail!(
                "chunk {committed} of {} is in the table already: another writer committed this \
                 shard's chunks; this one stops",
                chunk.app_id
            );
        }
    }
    Ok(None)
}

/// Writes the batches as the table's files and commits them as one transaction carrying the
/// chunk's application transaction. On a retry, a chunk the table already holds is skipped,
/// never written twice (a first attempt needs no look: the shard's chunk numbers were read
/// from the table at start and only this writer adds to them). A concurrent writer committing
/// the same shard's chunks makes this fail: delta-rs refuses a commit whose snapshot predates
/// another commit of the same application id, which fences a stale owner.
pub async fn commit_chunk(
    table: &mut DeltaTable,
    layout: &FileLayout,
    chunk: &ChunkCommit<'_>,
    batches: Vec<RecordBatch>,
) -> Result<CommitOutcome> {
    if let Some(done) = committed_already(table, chunk).await? {
        return Ok(done);
    }
    let mut writer = RecordBatchWriter::for_table(table)?
        .with_writer_properties(layout.writer_properties()?)
        .with_target_file_size(layout.target_file_bytes);
    for batch in batches {
        writer.write(batch).await.context("writing a table file")?;
    }
    let adds = writer
        .flush()
        .await
        .context("finishing the table's files")?;
    let files = adds.len() as u64;
    let bytes = adds.iter().map(|a| a.size.max(0) as u64).sum();
    let metadata: [(String, Value); 5] = [
        (META_APP_ID.into(), chunk.app_id.into()),
        (META_CHUNK.into(), chunk.chunk.into()),
        (META_FIRST_SEQUENCE.into(), chunk.first_sequence.into()),
        (META_LAST_SEQUENCE.into(), chunk.last_sequence.into()),
        (META_WORKER.into(), chunk.worker.into()),
    ];
    let properties = CommitProperties::default()
        .with_application_transaction(Transaction::new(chunk.app_id, chunk.chunk))
        .with_metadata(metadata);
    let operation = DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by: None,
        predicate: None,
    };
    let actions = adds.into_iter().map(Action::Add).collect();
    let finalized = CommitBuilder::from(properties)
        .with_actions(actions)
        .build(
            Some(table.snapshot().context("the table has no snapshot")?),
            table.log_store(),
            operation,
        )
        .await;
    let finalized = match finalized {
        Ok(finalized) => finalized,
        Err(DeltaTableError::Transaction {
            source: TransactionError::CommitConflict(conflict),
        }) => {
            bail!(
                "a commit conflicting with chunk {} of {} reached the table meanwhile ({conflict})",
                chunk.chunk,
                chunk.app_id
            )
        }
        Err(err) => return Err(anyhow::Error::new(err).context("committing a chunk")),
    };
    let version = i64::try_from(finalized.version()).unwrap_or(i64::MAX);
    // The commit's own result is the table's new state: no need to read the log again.
    table.state = Some(finalized.snapshot());
    Ok(CommitOutcome::Committed {
        version,
        files,
        bytes,
    })
}
