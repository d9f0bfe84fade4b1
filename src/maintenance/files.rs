//! What a table holds, read from its log and its files: the files of the current snapshot with
//! their statistics (for compaction, reprocessing, backfills, the browser, the cards), and the
//! newest rows' claims on their article ids (to seed the pipeline's duplicate index).

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use deltalake::DeltaTable;
use futures::TryStreamExt;
use serde_json::Value;

/// A file of the table's current snapshot.
#[derive(Debug, Clone)]
pub struct TableFile {
    /// Relative to the table's root, e.g. `split=train/part-....parquet`.
    pub path: String,
    pub size: u64,
    pub rows: Option<u64>,
    /// Partition column and value, as the path holds them.
    pub partition: Vec<(String, String)>,
    pub modified_millis: i64,
    /// The file's publish_date statistics (from the Delta log), if it has them.
    pub min_publish_date: Option<DateTime<Utc>>,
    pub max_publish_date: Option<DateTime<Utc>>,
    /// The newest arrival among the file's rows: what "recent" means for rows that a compaction
    /// or a reprocess moved into a new file.
    pub max_arrival_time: Option<DateTime<Utc>>,
    /// The summarizers of the file's rows, as bounds (summaries table).
    pub min_summarizer: Option<String>,
    pub max_summarizer: Option<String>,
    /// The action that takes the file out of the table (a rewrite's commit).
    pub remove: deltalake::kernel::Remove,
}

/// The files of the table's current snapshot.
pub async fn table_files(table: &DeltaTable) -> Result<Vec<TableFile>> {
    let snapshot = table.snapshot().context("the table has no snapshot")?;
    let views: Vec<_> = snapshot
        .snapshot()
        .file_views(table.log_store().as_ref(), None)
        .try_collect()
        .await
        .context("listing the table's files")?;
    Ok(views
        .iter()
        .map(|view| {
            let stats: Option<Value> = view.stats().and_then(|s| serde_json::from_str(&s).ok());
            let text = |bound: &str, column: &str| -> Option<String> {
                Some(
                    stats
                        .as_ref()?
                        .get(bound)?
                        .get(column)?
                        .as_str()?
                        .to_string(),
                )
            };
            let time = |bound: &str, column: &str| -> Option<DateTime<Utc>> {
                DateTime::parse_from_rfc3339(&text(bound, column)?)
                    .ok()
                    .map(|d| d.with_timezone(&Utc))
            };
            let mut partition: Vec<(String, String)> = view
                .partition_values_map()
                .into_iter()
                .filter_map(|(name, value)| Some((name, value?)))
                .collect();
            partition.sort();
            TableFile {
                path: view.path().to_string(),
                size: view.size().max(0) as u64,
                rows: view.num_records().map(|n| n as u64),
                partition,
                modified_millis: view.modification_time(),
                min_publish_date: time("minValues", "publish_date"),
                max_publish_date: time("maxValues", "publish_date"),
                max_arrival_time: time("maxValues", "arrival_time"),
                min_summarizer: text("minValues", "summarizer"),
                max_summarizer: text("maxValues", "summarizer"),
                remove: view.remove_action(true),
            }
        })
        .collect())
}

/// One row's claim on its article id, as the duplicate index takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdClaim {
    pub article_id: String,
    pub content_sha256: String,
    pub sequence_number: String,
}

/// The claims of the newest `limit` or so rows of the summaries table (whole files, newest by
/// their rows' arrival, returned oldest first), read column by column: only `article_id`,
/// `content_sha256` and `sequence_number` are fetched, never the text.
// parquet 59 deprecates its object-store reader in favour of readers written per runtime; this
// one reads on précis's own runtime, and the parquet version is the one delta-rs pins.
#[allow(deprecated)]
pub async fn recent_claims(table: &DeltaTable, limit: usize) -> Result<Vec<IdClaim>> {
    use arrow_array::cast::AsArray;
    use parquet::arrow::async_reader::{ParquetObjectReader, ParquetRecordBatchStreamBuilder};
    use parquet::arrow::ProjectionMask;

    let mut files = table_files(table).await?;
    // By arrival, not by the file's age: a compaction's or a reprocess's new file holds old rows.
    files.sort_by_key(|f| {
        std::cmp::Reverse((
            f.max_arrival_time.map(|t| t.timestamp_micros()),
            f.modified_millis,
        ))
    });
    let mut rows = 0u64;
    let newest: Vec<TableFile> = files
        .into_iter()
        .take_while(|f| {
            let more = rows < limit as u64;
            rows += f.rows.unwrap_or(0);
            more
        })
        .collect();
    let store = table.object_store();
    let mut claims = Vec::new();
    for file in newest.iter().rev() {
        let path = deltalake::Path::from_url_path(&file.path)
            .with_context(|| format!("{} is not a file path of the table", file.path))?;
        let reader = ParquetObjectReader::new(store.clone(), path).with_file_size(file.size);
        let builder = ParquetRecordBatchStreamBuilder::new(reader)
            .await
            .with_context(|| format!("reading the footer of {}", file.path))?;
        let columns = ["article_id", "content_sha256", "sequence_number"];
        let schema = builder.parquet_schema();
        let indices: Vec<usize> = columns
            .iter()
            .map(|name| {
                (0..schema.num_columns())
                    .find(|&i| schema.column(i).name() == *name)
                    .with_context(|| format!("{} has no column {name}", file.path))
            })
            .collect::<Result<_>>()?;
        let mask = ProjectionMask::leaves(schema, indices);
        let mut stream = builder
            .with_projection(mask)
            .build()
            .with_context(|| format!("reading {}", file.path))?;
        while let Some(batch) = stream
            .try_next()
            .await
            .with_context(|| format!("reading {}", file.path))?
        {
            let text = |name: &str| -> Result<&arrow_array::StringArray> {
                batch
                    .column_by_name(name)
                    .and_then(|c| c.as_string_opt::<i32>())
                    .with_context(|| format!("{} has no text column {name}", file.path))
            };
            let (ids, hashes, sequences) = (
                text("article_id")?,
                text("content_sha256")?,
                text("sequence_number")?,
            );
            for i in 0..batch.num_rows() {
                claims.push(IdClaim {
                    article_id: ids.value(i).to_string(),
                    content_sha256: hashes.value(i).to_string(),
                    sequence_number: sequences.value(i).to_string(),
                });
            }
        }
    }
    Ok(claims)
}
