//! The lake's Delta tables: where they live, their schemas and partitioning, the order a chunk
//! is committed in, and how they are opened or created. How rows get into them: `commit.rs`.

use std::collections::HashMap;

use anyhow::{bail, Context, Result};
use arrow_schema::SchemaRef;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel as _;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
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

    /// The crash point just after this table's commit of a chunk (`crate::crash`).
    pub fn after_commit_point(self) -> &'static str {
        match self {
            TableKind::Articles => "after-commit-articles",
            TableKind::Summaries => "after-commit-summaries",
            TableKind::Quarantine => "after-commit-quarantine",
        }
    }

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

/// A table as a user names it (`summaries`, `lake/summaries/`, `lake/NAME`), as its path.
pub fn table_path(name: &str) -> Result<String> {
    let name = name.trim().trim_end_matches('/');
    let bare = name.strip_prefix(LAKE_PREFIX).unwrap_or(name);
    if bare.is_empty()
        || bare == LAKE_PREFIX.trim_end_matches('/')
        || bare.contains('/')
        || bare.starts_with('_')
    {
        bail!(
            "{name} is not a table: name lake/articles, lake/summaries, lake/quarantine or a \
             candidate table lake/NAME (`precis tables` lists them)"
        );
    }
    Ok(format!("{LAKE_PREFIX}{bare}"))
}

/// `TABLE[@VERSION]` as the table's path and the version.
pub fn table_at(target: &str) -> Result<(String, Option<i64>)> {
    match target.split_once('@') {
        Some((name, version)) => {
            let version = version
                .parse()
                .with_context(|| format!("{version} is not a table version (a whole number)"))?;
            Ok((table_path(name)?, Some(version)))
        }
        None => Ok((table_path(target)?, None)),
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

    /// A table that must exist, at its latest version or at `version`: the error says which
    /// of the two is missing.
    pub async fn open_existing(&self, path: &str, version: Option<i64>) -> Result<DeltaTable> {
        self.open_at(path, version)
            .await
            .with_context(|| match version {
                Some(v) => format!(
                    "reading version {v} of {path} (versions past the log's retention are gone)"
                ),
                None => format!("reading {path}"),
            })?
            .with_context(|| format!("no table at s3://{}/{path} yet", self.bucket))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_is_named_with_or_without_its_folder_and_an_older_version_after_an_at() {
        assert_eq!(table_path("summaries").unwrap(), "lake/summaries");
        assert_eq!(table_path("lake/summaries/").unwrap(), "lake/summaries");
        assert_eq!(table_path("lake/minilm").unwrap(), "lake/minilm");
        assert!(table_path("lake/").is_err());
        assert!(table_path("lake/summaries/split=train").is_err());
        assert!(table_path("lake/_delta_log").is_err());
        assert_eq!(
            table_at("lake/summaries@12").unwrap(),
            ("lake/summaries".to_string(), Some(12))
        );
        assert!(table_at("lake/summaries@latest").is_err());
    }
}
