//! The Rust half of a backfill: the summaries rows a [`Selection`] picks, summarized again on
//! many processes (the Python job `precis.backfill` maps them through a Ray Data actor pool) and
//! committed once. The job calls these steps through the `precis` Python package:
//!
//! 1. [`plan`] on the driver pins the summaries table at a version and lists the files that may
//!    hold selected rows (by partition and statistics);
//! 2. [`read_file`] on a worker reads one of them;
//! 3. [`rewrite`] in an actor summarizes the selected rows of a batch (the pipeline's own rows,
//!    features and columns) and keeps the others as they are;
//! 4. [`write_files`] on a worker writes files of the table's target size;
//! 5. [`commit`] on the driver commits every file in one Delta commit that carries the job's
//!    application transaction, after checking that every file it replaces is still live.
//!
//! The job's identity is its target, predicate and summarizer; the application transaction's
//! version is the pinned version. The plan leaves a record of its pin beside the table, so a
//! rerun after a driver that died after committing finds the transaction and commits nothing
//! twice (docs/exactly-once.md).

use std::collections::HashMap;

use anyhow::{bail, Context, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch};
use chrono::{DateTime, Utc};
use deltalake::kernel::{Add, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::DeltaTable;
use object_store::{ObjectStoreExt as _, PutPayload};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::files::{table_files, TableFile};
use super::reprocess::{RawColumns, Selection};
use super::{
    commit_rewrite, file_batches, read_file as read_table_file, AlreadyCommitted, Rewrite,
    META_BACKFILL, META_REPROCESS, META_SUMMARIZER,
};
use crate::pipeline::rows::ArticleRow;
use crate::pipeline::sink::lake::{Lake, TableKind, LAKE_PREFIX};
use crate::pipeline::sink::parquet::{
    curated_batch, sorted_by_publish_date, FileContext, NO_SUMMARIZER,
};
use crate::summarize::pool::{Cancel, SummarizerPool};
use crate::summarize::Document;

/// Where a plan keeps its pin, under the source table's root (readers and vacuum skip paths
/// that start with `_`).
const RECORDS: &str = "_precis_backfill";

/// One file the job reads, as the pinned snapshot lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedFile {
    pub path: String,
    pub size: u64,
    pub rows: Option<u64>,
    pub partition: Vec<(String, String)>,
}

/// A backfill pinned at a version of the summaries table: everything a worker needs, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The job's identity: a hash of target, predicate and summarizer.
    pub job: String,
    /// The application transaction the commit carries, at version [`Plan::version`].
    pub app_id: String,
    /// The pinned version of the summaries table.
    pub version: i64,
    /// Where the result goes: `lake/summaries` (in place) or a candidate table `lake/<name>`.
    pub target: String,
    pub predicate: String,
    pub summarizer: String,
    pub selection: Selection,
    pub files: Vec<PlannedFile>,
    /// The rewritten rows' `processed_at`: the same on every worker.
    pub processed_at_micros: i64,
}

impl Plan {
    pub fn in_place(&self) -> bool {
        self.target == TableKind::Summaries.path()
    }

    /// Rows of the files the job reads, by their statistics.
    pub fn rows_read(&self) -> Option<u64> {
        self.files.iter().map(|f| f.rows).sum()
    }

    pub fn bytes_read(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// What [`plan`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Planned {
    Run(Box<Plan>),
    /// No file may hold a selected row.
    Nothing {
        predicate: String,
    },
    /// An earlier run of the same job committed (its driver stopped before it could say so).
    AlreadyCommitted {
        app_id: String,
        pinned: i64,
    },
}

/// A candidate table's name: a new summarizer's output beside the summaries table.
pub fn candidate_path(name: &str) -> Result<String> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with('_');
    if !valid {
        bail!(
            "--into {name}: a candidate table's name is lowercase letters, digits and _, such \
             as summaries_candidate"
        );
    }
    if TableKind::parse(name).is_some() {
        bail!(
            "--into {name}: that is one of précis's own tables; to rewrite the summaries table \
             in place, leave --into out"
        );
    }
    Ok(format!("{LAKE_PREFIX}{name}"))
}

fn job_key(target: &str, predicate: &str, summarizer: &str) -> String {
    let digest = Sha256::digest(format!("{target}\n{predicate}\n{summarizer}"));
    hex::encode(&digest[..8])
}

fn record_path(job: &str) -> deltalake::Path {
    deltalake::Path::from(format!("{RECORDS}/{job}.json"))
}

#[derive(Serialize, Deserialize)]
struct Record {
    version: i64,
}

async fn read_record(table: &DeltaTable, job: &str) -> Result<Option<Record>> {
    match table.object_store().get(&record_path(job)).await {
        Ok(found) => {
            let body = found
                .bytes()
                .await
                .context("reading the backfill's record")?;
            Ok(Some(
                serde_json::from_slice(&body).context("reading the backfill's record")?,
            ))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(err) => Err(anyhow::Error::new(err).context("reading the backfill's record")),
    }
}

async fn write_record(table: &DeltaTable, job: &str, record: &Record) -> Result<()> {
    let body = serde_json::to_vec(record).context("writing the backfill's record")?;
    table
        .object_store()
        .put(&record_path(job), PutPayload::from(body))
        .await
        .context("writing the backfill's record")?;
    Ok(())
}

async fn delete_record(table: &DeltaTable, job: &str) {
    if let Err(err) = table.object_store().delete(&record_path(job)).await {
        tracing::warn!("the backfill's record {job} was not removed: {err}");
    }
}

/// The version of `app` a table holds, if any.
async fn held(table: &DeltaTable, app: &str) -> Result<Option<i64>> {
    table
        .snapshot()
        .context("the table has no snapshot")?
        .transaction_version(table.log_store().as_ref(), app)
        .await
        .context("reading the table's application transactions")
}

/// Pins the summaries table and lists the files that may hold rows `selection` picks for
/// `summarizer` (its id); `into` names a candidate table instead of rewriting in place.
pub async fn plan(
    lake: &Lake,
    selection: &Selection,
    summarizer: &str,
    into: Option<&str>,
) -> Result<Planned> {
    selection.validate()?;
    let target = match into {
        Some(name) => candidate_path(name)?,
        None => TableKind::Summaries.path(),
    };
    let Some(source) = lake.open(TableKind::Summaries).await? else {
        bail!(
            "no summaries table in s3://{}/{} yet: nothing to backfill (`precis run` writes it)",
            lake.bucket,
            TableKind::Summaries.path()
        );
    };
    let predicate = selection.predicate(summarizer);
    let job = job_key(&target, &predicate, summarizer);
    let app_id = format!("precis-backfill/{job}");
    if let Some(record) = read_record(&source, &job).await? {
        let committed = match lake.open_at(&target, None).await? {
            Some(table) => held(&table, &app_id)
                .await?
                .is_some_and(|v| v >= record.version),
            None => false,
        };
        if committed {
            delete_record(&source, &job).await;
            return Ok(Planned::AlreadyCommitted {
                app_id,
                pinned: record.version,
            });
        }
    }
    let version = source
        .version()
        .and_then(|v| i64::try_from(v).ok())
        .context("the summaries table has no version")?;
    let files: Vec<PlannedFile> = table_files(&source)
        .await?
        .into_iter()
        .filter(|f| selection.may_hold(f, summarizer))
        .map(|f: TableFile| PlannedFile {
            path: f.path,
            size: f.size,
            rows: f.rows,
            partition: f.partition,
        })
        .collect();
    if files.is_empty() {
        return Ok(Planned::Nothing { predicate });
    }
    if let Some(name) = into {
        lake.open_or_create_at(TableKind::Summaries, &target, name)
            .await?;
    }
    write_record(&source, &job, &Record { version }).await?;
    Ok(Planned::Run(Box::new(Plan {
        job,
        app_id,
        version,
        target,
        predicate,
        summarizer: summarizer.to_string(),
        selection: selection.clone(),
        files,
        processed_at_micros: Utc::now().timestamp_micros(),
    })))
}

/// One planned file's rows in the summaries schema, from the pinned snapshot.
pub async fn read_file(lake: &Lake, plan: &Plan, path: &str) -> Result<Vec<RecordBatch>> {
    let planned = plan
        .files
        .iter()
        .find(|f| f.path == path)
        .with_context(|| format!("{path} is not a file of this backfill's plan"))?;
    let table = lake
        .open_at(&TableKind::Summaries.path(), Some(plan.version))
        .await?
        .context("the summaries table is gone")?;
    let body = read_table_file(&table, path).await?;
    let file = TableFile {
        path: planned.path.clone(),
        size: planned.size,
        rows: planned.rows,
        partition: planned.partition.clone(),
        modified_millis: 0,
        min_publish_date: None,
        max_publish_date: None,
        max_arrival_time: None,
        min_summarizer: None,
        max_summarizer: None,
        remove: Default::default(),
    };
    tokio::task::spawn_blocking(move || file_batches(TableKind::Summaries, &file, body))
        .await
        .context("reading a summaries file panicked")?
}

/// A batch after [`rewrite`]: in place, every row of the input (the selected ones summarized
/// again); into a candidate table, only the selected rows.
pub struct Rewritten {
    pub batch: RecordBatch,
    pub selected: usize,
}

/// Summarizes the selected rows of a batch of summaries rows with `pool` (None: summaries off)
/// and keeps the others unchanged. Blocks: call it from a blocking thread.
pub fn rewrite(
    batch: &RecordBatch,
    plan: &Plan,
    pool: Option<&SummarizerPool>,
) -> Result<Rewritten> {
    let current = pool.map_or(NO_SUMMARIZER, SummarizerPool::id);
    if current != plan.summarizer {
        bail!(
            "this worker's summarizer is {current}, the plan's is {}: start the job's workers \
             with the driver's settings",
            plan.summarizer
        );
    }
    let batch = in_schema(batch)?;
    let selection = &plan.selection;
    let columns = RawColumns::of_summaries(&batch).context("not a batch of summaries rows")?;
    let summarizers = batch
        .column_by_name("summarizer")
        .and_then(|c| c.as_string_opt::<i32>())
        .context("a batch without the summarizer column")?;
    let dates = batch
        .column_by_name("publish_date")
        .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
        .context("a batch without publish_date")?;
    let mut picked = Vec::with_capacity(batch.num_rows());
    let mut rows: Vec<(String, ArticleRow)> = Vec::new();
    for i in 0..batch.num_rows() {
        let date = dates.is_valid(i).then(|| dates.value(i));
        let hit = selection.matches(date, summarizers.value(i), current);
        if hit {
            rows.push((columns.stream.value(i).to_string(), columns.row(i)));
        }
        picked.push(hit);
    }
    if let Some(pool) = pool {
        let docs: Vec<Document<'_>> = rows.iter().map(|(_, r)| r.document()).collect();
        let summaries = pool.summarize_blocking(&docs, &Cancel::default())?;
        for ((_, row), summary) in rows.iter_mut().zip(summaries) {
            row.summary = Some(summary);
        }
    }
    let processed_at = DateTime::from_timestamp_micros(plan.processed_at_micros)
        .context("the plan's processed_at is out of range")?;
    let mut by_stream: HashMap<&str, Vec<&ArticleRow>> = HashMap::new();
    for (stream, row) in &rows {
        by_stream.entry(stream.as_str()).or_default().push(row);
    }
    let mut out = Vec::new();
    if plan.in_place() {
        let keep: BooleanArray = picked.iter().map(|p| Some(!p)).collect();
        out.push(
            arrow_select::filter::filter_record_batch(&batch, &keep)
                .context("keeping the rows not selected")?,
        );
    }
    for (stream, rows) in by_stream {
        out.push(curated_batch(
            &rows,
            &FileContext {
                stream,
                processed_at,
            },
        )?);
    }
    let batch = arrow_select::concat::concat_batches(&TableKind::Summaries.schema(), &out)
        .context("joining the rewritten rows")?;
    Ok(Rewritten {
        batch,
        selected: rows.len(),
    })
}

/// The batch's columns in the summaries table's order and types (a batch that went through
/// another engine may have them in another order).
fn in_schema(batch: &RecordBatch) -> Result<RecordBatch> {
    let schema = TableKind::Summaries.schema();
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| {
            batch
                .column_by_name(f.name())
                .cloned()
                .with_context(|| format!("a batch without column {}", f.name()))
        })
        .collect::<Result<_>>()?;
    RecordBatch::try_new(schema, columns).context("a batch that does not hold summaries rows")
}

/// Files a worker wrote, not yet in the table.
pub struct Written {
    pub adds: Vec<Add>,
    /// Rows among them that this job summarized again (they carry its `processed_at`).
    pub rewritten: u64,
}

/// Writes the batches as files of the target table (sorted by publish date, cut at the target
/// file size, with the pipeline's writer settings and statistics); they are in the table once
/// [`commit`] commits the returned actions.
pub async fn write_files(lake: &Lake, plan: &Plan, batches: Vec<RecordBatch>) -> Result<Written> {
    let table = lake
        .open_at(&plan.target, None)
        .await?
        .with_context(|| format!("no table at s3://{}/{}", lake.bucket, plan.target))?;
    let batches = batches.iter().map(in_schema).collect::<Result<Vec<_>>>()?;
    let batches = sorted_by_publish_date(batches)?;
    let mut rewritten = 0u64;
    for batch in &batches {
        let processed = batch
            .column_by_name("processed_at")
            .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
            .context("a batch without processed_at")?;
        rewritten += processed
            .iter()
            .filter(|t| *t == Some(plan.processed_at_micros))
            .count() as u64;
    }
    let mut writer = RecordBatchWriter::for_table(&table)?
        .with_writer_properties(lake.layout.writer_properties()?)
        .with_target_file_size(lake.layout.target_file_bytes);
    for batch in batches {
        writer
            .write(batch)
            .await
            .context("writing a backfill file")?;
    }
    let adds = writer
        .flush()
        .await
        .context("finishing the backfill's files")?;
    Ok(Written { adds, rewritten })
}

/// What [`commit`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed {
    Done {
        version: i64,
        rows: u64,
        files_written: usize,
        files_replaced: usize,
    },
    /// An earlier run of the same job committed.
    AlreadyCommitted { app_id: String, version: i64 },
}

fn rows_of(add: &Add) -> Result<u64> {
    let stats: serde_json::Value = add
        .stats
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .context("reading a written file's statistics")?
        .with_context(|| format!("{} was written without statistics", add.path))?;
    stats
        .get("numRecords")
        .and_then(serde_json::Value::as_u64)
        .with_context(|| format!("{} was written without a row count", add.path))
}

/// Commits the written files: in place, they replace the plan's files (each must still be live);
/// into a candidate table, they replace its content. One commit, carrying the job's application
/// transaction.
pub async fn commit(lake: &Lake, plan: &Plan, adds: Vec<Add>) -> Result<Committed> {
    let rows: u64 = adds.iter().map(rows_of).sum::<Result<u64>>()?;
    let mut target = lake
        .open_at(&plan.target, None)
        .await?
        .with_context(|| format!("no table at s3://{}/{}", lake.bucket, plan.target))?;
    let removes = replaced(lake, plan, &target, rows).await?;
    let files_replaced = removes.len();
    let files_written = adds.len();
    let rewrite = Rewrite {
        removes,
        adds,
        operation: DeltaOperation::Write {
            mode: SaveMode::Overwrite,
            partition_by: None,
            predicate: Some(plan.predicate.clone()),
        },
        metadata: vec![
            (
                "precis.operation".to_string(),
                serde_json::json!("backfill"),
            ),
            (META_BACKFILL.to_string(), serde_json::json!(plan.job)),
            (
                META_REPROCESS.to_string(),
                serde_json::json!(plan.predicate),
            ),
            (
                META_SUMMARIZER.to_string(),
                serde_json::json!(plan.summarizer),
            ),
        ],
        txn: Some(Transaction::new(&plan.app_id, plan.version)),
    };
    let source = lake.open(TableKind::Summaries).await?;
    match commit_rewrite(&mut target, rewrite).await {
        Ok(version) => {
            if let Some(source) = &source {
                delete_record(source, &plan.job).await;
            }
            if plan.in_place() {
                if let Err(err) = super::card::write_card(&target, TableKind::Summaries).await {
                    tracing::warn!("the summaries table's card was not updated: {err:#}");
                }
            }
            Ok(Committed::Done {
                version,
                rows,
                files_written,
                files_replaced,
            })
        }
        Err(err) => match err.downcast::<AlreadyCommitted>() {
            Ok(done) => {
                if let Some(source) = &source {
                    delete_record(source, &plan.job).await;
                }
                Ok(Committed::AlreadyCommitted {
                    app_id: done.app_id,
                    version: done.version,
                })
            }
            Err(err) => Err(err.context(format!("committing the backfill of {}", plan.predicate))),
        },
    }
}

/// The files the commit removes: in place, exactly the files the job read, at the version it
/// pinned (refused when one is gone, or when the rows written are not the rows read); into a
/// candidate table, everything it holds (each job replaces its content).
async fn replaced(
    lake: &Lake,
    plan: &Plan,
    target: &deltalake::DeltaTable,
    rows: u64,
) -> Result<Vec<deltalake::kernel::Remove>> {
    if !plan.in_place() {
        return Ok(table_files(target)
            .await?
            .into_iter()
            .map(|f| f.remove)
            .collect());
    }
    if let Some(read) = plan.rows_read() {
        if read != rows {
            bail!(
                "the job wrote {rows} rows for the {read} it read: nothing was committed; \
                 run it again"
            );
        }
    }
    let pinned = lake
        .open_at(&plan.target, Some(plan.version))
        .await?
        .context("the summaries table is gone")?;
    let planned: std::collections::HashSet<&str> =
        plan.files.iter().map(|f| f.path.as_str()).collect();
    let removes: Vec<_> = table_files(&pinned)
        .await?
        .into_iter()
        .filter(|f| planned.contains(f.path.as_str()))
        .map(|f| f.remove)
        .collect();
    // Every file read is replaced, or the commit would hold its rows twice.
    if removes.len() != plan.files.len() {
        bail!(
            "version {} of the summaries table holds {} of the job's {} files: nothing was \
             committed; run it again",
            plan.version,
            removes.len(),
            plan.files.len()
        );
    }
    Ok(removes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::record::Limits;
    use crate::pipeline::rows::{process, Outcome, RawRecord};
    use chrono::{NaiveDate, TimeZone};

    fn stored() -> RecordBatch {
        let rows: Vec<ArticleRow> = [("a", "2026-03-01"), ("b", "2026-03-02")]
            .iter()
            .enumerate()
            .map(|(i, (id, day))| {
                let data = format!(
                    r#"{{"article_id":"{id}","content":"First sentence here. Second one.","publish_date":"{day}T10:00:00"}}"#
                );
                let record = RawRecord {
                    shard_id: "shardId-000000000000".into(),
                    sequence_number: format!("4960{i}"),
                    partition_key: id.to_string(),
                    arrival_time: Utc.with_ymd_and_hms(2026, 3, 3, 0, 0, 0).unwrap(),
                    data: data.into_bytes(),
                };
                match process(&record, &Limits::default()) {
                    Outcome::Article(row) => *row,
                    Outcome::Quarantined(q) => panic!("{}", q.reason),
                }
            })
            .collect();
        let refs: Vec<&ArticleRow> = rows.iter().collect();
        curated_batch(
            &refs,
            &FileContext {
                stream: "S",
                processed_at: Utc.with_ymd_and_hms(2026, 3, 3, 1, 0, 0).unwrap(),
            },
        )
        .unwrap()
    }

    fn plan(target: &str) -> Plan {
        Plan {
            job: "j".into(),
            app_id: "precis-backfill/j".into(),
            version: 1,
            target: target.into(),
            predicate: "p".into(),
            summarizer: NO_SUMMARIZER.into(),
            selection: Selection::day(NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()),
            files: Vec::new(),
            processed_at_micros: Utc
                .with_ymd_and_hms(2026, 12, 1, 0, 0, 0)
                .unwrap()
                .timestamp_micros(),
        }
    }

    fn processed(batch: &RecordBatch, id: &str) -> i64 {
        let ids = batch
            .column_by_name("article_id")
            .unwrap()
            .as_string::<i32>();
        let times = batch
            .column_by_name("processed_at")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        (0..batch.num_rows())
            .find(|&i| ids.value(i) == id)
            .map(|i| times.value(i))
            .unwrap()
    }

    #[test]
    fn in_place_the_selected_rows_are_rewritten_and_the_others_kept() {
        let before = stored();
        let plan = plan("lake/summaries");
        let out = rewrite(&before, &plan, None).unwrap();
        assert_eq!(out.selected, 1);
        assert_eq!(out.batch.num_rows(), 2, "every row of the input");
        assert_eq!(processed(&out.batch, "a"), plan.processed_at_micros);
        assert_eq!(processed(&out.batch, "b"), processed(&before, "b"));
    }

    #[test]
    fn into_a_candidate_table_only_the_selected_rows_are_written() {
        let out = rewrite(&stored(), &plan("lake/candidate"), None).unwrap();
        assert_eq!(out.batch.num_rows(), 1);
        assert_eq!(out.selected, 1);
    }

    #[test]
    fn a_worker_with_another_summarizer_than_the_plans_is_refused() {
        let mut plan = plan("lake/summaries");
        plan.summarizer = "extractive:other".into();
        let err = rewrite(&stored(), &plan, None).err().unwrap().to_string();
        assert!(err.contains("start the job's workers"), "{err}");
    }

    #[test]
    fn a_candidate_table_has_a_plain_name_and_is_not_one_of_precis_own() {
        assert_eq!(candidate_path("summaries_v2").unwrap(), "lake/summaries_v2");
        assert!(candidate_path("summaries").is_err());
        assert!(candidate_path("Bad Name").is_err());
        assert!(candidate_path("_hidden").is_err());
    }

    #[test]
    fn a_jobs_identity_follows_its_target_predicate_and_summarizer() {
        let key = job_key("lake/summaries", "TRUE", "s");
        assert_eq!(key, job_key("lake/summaries", "TRUE", "s"));
        assert_ne!(key, job_key("lake/other", "TRUE", "s"));
        assert_ne!(key, job_key("lake/summaries", "TRUE", "t"));
    }
}
