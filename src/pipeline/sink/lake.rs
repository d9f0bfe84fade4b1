//! The lake's Delta tables: where they live, their schemas and partitioning, how they are opened
//! or created, and the one way rows get into them: a chunk's files committed together with the
//! application transaction that makes the commit the exactly-once point (docs/exactly-once.md).

use std::collections::HashMap;

use anyhow::{bail, Context, Result};
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use chrono::{DateTime, Utc};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake::kernel::{Action, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use futures::TryStreamExt;
use serde_json::Value;
use url::Url;

use super::parquet::{curated_schema, quarantine_schema, raw_schema, FileLayout, SPLIT_COLUMN};
use crate::config::Settings;

/// Where the tables live under the bucket.
pub const LAKE_PREFIX: &str = "lake/";

/// The lake's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TableKind {
    /// Every valid article as received, with lineage: the source of truth.
    Articles,
    /// First sightings with features and summaries, partitioned by `split`: what a trainer reads.
    Summaries,
    /// What could not become an article, with the reason and the payload.
    Quarantine,
}

impl TableKind {
    pub const ALL: [TableKind; 3] = [
        TableKind::Articles,
        TableKind::Summaries,
        TableKind::Quarantine,
    ];

    /// The order a chunk is committed in. Articles before summaries: then every summaries row of
    /// a snapshot has its source row in any later articles snapshot, which reprocessing and
    /// backfills rely on (they read summaries first, then their sources). Quarantine last:
    /// nothing reads it with the others.
    pub const COMMIT_ORDER: [TableKind; 3] = [
        TableKind::Articles,
        TableKind::Summaries,
        TableKind::Quarantine,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TableKind::Articles => "articles",
            TableKind::Summaries => "summaries",
            TableKind::Quarantine => "quarantine",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// The table's path under the bucket, without a trailing slash.
    pub fn path(self) -> String {
        format!("{LAKE_PREFIX}{}", self.name())
    }

    pub fn schema(self) -> SchemaRef {
        match self {
            TableKind::Articles => raw_schema(),
            TableKind::Summaries => curated_schema(),
            TableKind::Quarantine => quarantine_schema(),
        }
    }

    pub fn partition_columns(self) -> Vec<String> {
        match self {
            TableKind::Summaries => vec![SPLIT_COLUMN.to_string()],
            _ => Vec::new(),
        }
    }

    /// Columns with statistics in the Delta log: what readers filter on. Free text is left
    /// out: its min/max prunes nothing and would copy kilobytes of text into every commit.
    fn stats_columns(self) -> &'static str {
        match self {
            TableKind::Articles => {
                "article_id,publish_date,stream,shard_id,sequence_number,arrival_time,processed_at"
            }
            TableKind::Summaries => {
                "article_id,publish_date,summarizer,word_count,summary_word_count,\
                 compression_ratio,content_sha256,stream,shard_id,sequence_number,arrival_time,\
                 processed_at"
            }
            TableKind::Quarantine => {
                "reason_code,stream,shard_id,sequence_number,arrival_time,processed_at"
            }
        }
    }
}

/// How to reach the tables: the bucket and the object store options derived from the AWS
/// settings (the same endpoint, region and credentials as the SDK clients).
#[derive(Clone)]
pub struct Lake {
    pub bucket: String,
    pub layout: FileLayout,
    options: HashMap<String, String>,
}

impl std::fmt::Debug for Lake {
    // The options may hold credentials: never print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lake")
            .field("bucket", &self.bucket)
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

/// Credentials of local emulators (moto, LocalStack accept any).
const LOCAL_ACCESS_KEY: &str = "test";

impl Lake {
    pub fn new(settings: &Settings) -> Self {
        deltalake::aws::register_handlers(None);
        let aws = &settings.aws;
        let mut options = HashMap::from([
            ("AWS_REGION".to_string(), aws.region.clone()),
            // One request is tried as often as the SDK clients try one call (4 times, within
            // 4 attempt timeouts). The reader retries a whole commit on top: a commit is many
            // requests, and retrying it for each failed request would upload its files again.
            ("timeout".to_string(), format!("{}s", aws.timeout_secs)),
            ("connect_timeout".to_string(), "5s".to_string()),
            ("max_retries".to_string(), "3".to_string()),
            (
                "retry_timeout".to_string(),
                format!("{}s", 4 * aws.timeout_secs),
            ),
        ]);
        if let Some(endpoint) = aws.endpoint(crate::config::Service::S3) {
            options.insert("AWS_ENDPOINT_URL".into(), endpoint.to_string());
            options.insert("AWS_S3_ADDRESSING_STYLE".into(), "path".into());
            if endpoint.starts_with("http://") {
                options.insert("AWS_ALLOW_HTTP".into(), "true".into());
            }
        }
        if let Some(profile) = &aws.profile {
            options.insert("AWS_PROFILE".into(), profile.clone());
        }
        for key in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
        ] {
            if let Ok(value) = std::env::var(key) {
                options.insert(key.to_string(), value);
            }
        }
        if aws.is_local() && aws.profile.is_none() && !options.contains_key("AWS_ACCESS_KEY_ID") {
            options.insert("AWS_ACCESS_KEY_ID".into(), LOCAL_ACCESS_KEY.into());
            options.insert("AWS_SECRET_ACCESS_KEY".into(), LOCAL_ACCESS_KEY.into());
        }
        Self {
            bucket: settings.lake.bucket.clone(),
            layout: (&settings.lake).into(),
            options,
        }
    }

    pub fn url(&self, kind: TableKind) -> Result<Url> {
        self.url_at(&kind.path())
    }

    /// The URL of a table at `path` under the bucket (a candidate table, `lake/<name>`).
    pub fn url_at(&self, path: &str) -> Result<Url> {
        let text = format!("s3://{}/{path}", self.bucket);
        Url::parse(&text).with_context(|| format!("{text} is not a valid table URL"))
    }

    /// The table at its latest version, or None when nothing has been committed to it yet.
    pub async fn open(&self, kind: TableKind) -> Result<Option<DeltaTable>> {
        self.open_at(&kind.path(), None).await
    }

    /// The table at `path` under the bucket, at `version` (None: the latest), or None when
    /// nothing has been committed to it yet.
    pub async fn open_at(&self, path: &str, version: Option<i64>) -> Result<Option<DeltaTable>> {
        let url = self.url_at(path)?;
        let mut table = DeltaTableBuilder::from_url(url.clone())
            .and_then(|b| b.with_storage_options(self.options.clone()).build())
            .with_context(|| format!("opening the Delta table {url}"))?;
        let loaded = match version {
            Some(version) => {
                let version = u64::try_from(version)
                    .with_context(|| format!("{version} is not a table version"))?;
                table.load_version(version).await
            }
            None => table.load().await,
        };
        match loaded {
            Ok(()) => Ok(Some(table)),
            Err(DeltaTableError::NotATable(_)) => Ok(None),
            Err(err) => {
                Err(anyhow::Error::new(err).context(format!("loading the Delta table {url}")))
            }
        }
    }

    /// The candidate tables a backfill wrote beside précis's own (`lake/<name>` holding a Delta
    /// log), by path, sorted.
    pub async fn candidate_tables(&self) -> Result<Vec<String>> {
        use object_store::ObjectStore as _;
        let url = self.url_at(LAKE_PREFIX)?;
        let root = DeltaTableBuilder::from_url(url.clone())
            .and_then(|b| b.with_storage_options(self.options.clone()).build())
            .with_context(|| format!("listing {url}"))?;
        let listing = match root.object_store().list_with_delimiter(None).await {
            Ok(listing) => listing,
            Err(object_store::Error::NotFound { .. }) => return Ok(Vec::new()),
            Err(err) => return Err(anyhow::Error::new(err).context(format!("listing {url}"))),
        };
        let mut out = Vec::new();
        for prefix in listing.common_prefixes {
            let name = prefix.as_ref().trim_end_matches('/');
            if name.starts_with('_') || TableKind::parse(name).is_some() {
                continue;
            }
            let path = format!("{LAKE_PREFIX}{name}");
            if self.open_at(&path, None).await?.is_some() {
                out.push(path);
            }
        }
        out.sort();
        Ok(out)
    }

    /// The table, created (empty, with its schema, partitioning and properties) if it does not
    /// exist yet. Two processes creating it at once are fine: the loser loads the winner's.
    pub async fn open_or_create(&self, kind: TableKind) -> Result<DeltaTable> {
        self.open_or_create_at(kind, &kind.path(), kind.name())
            .await
    }

    /// [`open_or_create`](Self::open_or_create) for a table of `kind`'s schema at `path`, named
    /// `name` (a candidate table is a summaries table elsewhere).
    pub async fn open_or_create_at(
        &self,
        kind: TableKind,
        path: &str,
        name: &str,
    ) -> Result<DeltaTable> {
        if let Some(table) = self.open_at(path, None).await? {
            return Ok(table);
        }
        let url = self.url_at(path)?;
        let schema: deltalake::kernel::StructType = kind
            .schema()
            .as_ref()
            .try_into_kernel()
            .with_context(|| format!("the {} schema as a Delta schema", kind.name()))?;
        let created =
            DeltaTable::try_from_url_with_storage_options(url.clone(), self.options.clone())
                .await
                .with_context(|| format!("opening {url}"))?
                .create()
                .with_table_name(name)
                .with_columns(schema.fields().cloned())
                .with_partition_columns(kind.partition_columns())
                .with_save_mode(SaveMode::Ignore)
                // No retry: a writer that loses the race for version 0 must not commit a second
                // CREATE at version 1; it loads the winner's table below.
                .with_commit_properties(CommitProperties::default().with_max_retries(0))
                .with_configuration_property(
                    deltalake::TableProperty::DataSkippingStatsColumns,
                    Some(kind.stats_columns()),
                )
                // A checkpoint every 10 commits (the protocol's default; delta-rs's is 100): every
                // reader that opens the table, précis included, replays at most 10 JSON commits.
                .with_configuration_property(
                    deltalake::TableProperty::CheckpointInterval,
                    Some("10"),
                )
                .await;
        match created {
            Ok(table) => Ok(table),
            Err(err) => match self.open_at(path, None).await {
                Ok(Some(table)) => Ok(table),
                _ => {
                    Err(anyhow::Error::new(err).context(format!("creating the Delta table {url}")))
                }
            },
        }
    }
}

use deltalake::kernel::engine::arrow_conversion::TryIntoKernel as _;

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

/// The application id of one shard's chunks: the same in every table.
pub fn app_id(stream: &str, shard_id: &str) -> String {
    format!("precis/{stream}/{shard_id}")
}

/// The last chunk of `app` committed to `table`, with where it ends in its shard.
pub async fn last_committed(table: &DeltaTable, app: &str) -> Result<Option<Committed>> {
    let snapshot = table.snapshot().context("the table has no snapshot")?;
    let Some(chunk) = snapshot
        .transaction_version(table.log_store().as_ref(), app)
        .await
        .context("reading the table's application transactions")?
    else {
        return Ok(None);
    };
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
            return Ok(Some(Committed {
                chunk,
                last_sequence,
            }));
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
        let snapshot = table.snapshot().context("the table has no snapshot")?;
        let committed = snapshot
            .transaction_version(table.log_store().as_ref(), chunk.app_id)
            .await
            .context("reading the table's application transactions")?;
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
    let metadata: [(String, Value); 4] = [
        (META_APP_ID.into(), chunk.app_id.into()),
        (META_CHUNK.into(), chunk.chunk.into()),
        (META_FIRST_SEQUENCE.into(), chunk.first_sequence.into()),
        (META_LAST_SEQUENCE.into(), chunk.last_sequence.into()),
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
