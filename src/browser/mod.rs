//! What is in the lake: the files of each Delta table's current snapshot (not a listing of the
//! prefix, which would also show files no snapshot holds), grouped into folders (table →
//! partition → files) that the console browses and `precis partitions` prints.

pub mod preview;

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::aws::AwsClients;
use crate::maintenance::files::table_files;
use crate::pipeline::sink::lake::{Lake, TableKind};

/// One object of the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    pub last_modified: Option<DateTime<Utc>>,
}

/// Every object under `prefix`, following ListObjectsV2 pagination.
pub async fn list_objects(
    clients: &AwsClients,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<ObjectInfo>> {
    let mut objects = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = clients
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|err| clients.explain(&format!("listing s3://{bucket}/{prefix}"), &err))?;
        objects.extend(page.contents().iter().filter_map(|o| {
            Some(ObjectInfo {
                key: o.key()?.to_string(),
                size: o.size().unwrap_or(0).max(0) as u64,
                last_modified: o
                    .last_modified()
                    .and_then(|t| DateTime::from_timestamp_millis(t.to_millis().ok()?)),
            })
        }));
        token = page.next_continuation_token().map(str::to_string);
        if token.is_none() || page.is_truncated() == Some(false) {
            return Ok(objects);
        }
    }
}

/// One object's bytes.
pub async fn fetch_object(clients: &AwsClients, bucket: &str, key: &str) -> Result<bytes::Bytes> {
    let what = format!("reading s3://{bucket}/{key}");
    let response = clients
        .s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|err| clients.explain(&what, &err))?;
    Ok(anyhow::Context::context(response.body.collect().await, what)?.into_bytes())
}

/// A folder or a file in the browser, with what lies below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The last path segment: `dt=2026-03-01`, `split=train`, or a file name.
    pub name: String,
    /// The full key of a file, or the folder's prefix ending in `/`.
    pub path: String,
    pub is_folder: bool,
    pub files: u64,
    pub bytes: u64,
}

/// The tables' files as folders, built once per listing; navigation is pure lookups.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    objects: Vec<ObjectInfo>,
    /// Each table's version, by its folder (`lake/summaries/`).
    versions: BTreeMap<String, i64>,
}

/// The current snapshot of every table that exists: its files (keys from the bucket's root)
/// and its version.
pub async fn snapshot_listing(lake: &Lake) -> Result<Tree> {
    let mut objects = Vec::new();
    let mut versions = BTreeMap::new();
    // précis's tables, then the candidate tables a backfill wrote beside them.
    let mut paths: Vec<String> = TableKind::ALL.iter().map(|k| k.path()).collect();
    paths.extend(lake.candidate_tables().await?);
    for path in paths {
        let Some(table) = lake.open_at(&path, None).await? else {
            continue;
        };
        let folder = format!("{path}/");
        if let Some(version) = table.version() {
            versions.insert(folder.clone(), i64::try_from(version).unwrap_or(i64::MAX));
        }
        for file in table_files(&table).await? {
            objects.push(ObjectInfo {
                key: format!("{folder}{}", file.path),
                size: file.size,
                last_modified: DateTime::from_timestamp_millis(file.modified_millis),
            });
        }
    }
    Ok(Tree::new(objects).with_versions(versions))
}

impl Tree {
    pub fn new(mut objects: Vec<ObjectInfo>) -> Self {
        objects.retain(|o| !o.key.ends_with('/'));
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Self {
            objects,
            versions: BTreeMap::new(),
        }
    }

    pub fn with_versions(mut self, versions: BTreeMap<String, i64>) -> Self {
        self.versions = versions;
        self
    }

    /// The version of the table a path is in (None outside any table).
    pub fn version(&self, path: &str) -> Option<i64> {
        self.versions
            .iter()
            .find(|(folder, _)| path.starts_with(folder.as_str()))
            .map(|(_, version)| *version)
    }

    /// Every table's folder and version.
    pub fn versions(&self) -> &BTreeMap<String, i64> {
        &self.versions
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    pub fn objects(&self) -> &[ObjectInfo] {
        &self.objects
    }

    /// The folders and files directly below `prefix` ("" for the top), folders first, each in
    /// key order.
    pub fn children(&self, prefix: &str) -> Vec<Entry> {
        let mut folders: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        let mut files = Vec::new();
        for object in self.under(prefix) {
            let rest = &object.key[prefix.len()..];
            match rest.split_once('/') {
                Some((folder, _)) => {
                    let totals = folders.entry(folder).or_default();
                    totals.0 += 1;
                    totals.1 += object.size;
                }
                None => files.push(Entry {
                    name: rest.to_string(),
                    path: object.key.clone(),
                    is_folder: false,
                    files: 1,
                    bytes: object.size,
                }),
            }
        }
        folders
            .into_iter()
            .map(|(name, (files, bytes))| Entry {
                name: name.to_string(),
                path: format!("{prefix}{name}/"),
                is_folder: true,
                files,
                bytes,
            })
            .chain(files)
            .collect()
    }

    /// The objects whose key starts with `prefix`.
    pub fn under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a ObjectInfo> + 'a {
        let start = self.objects.partition_point(|o| o.key.as_str() < prefix);
        self.objects[start..]
            .iter()
            .take_while(move |o| o.key.starts_with(prefix))
    }

    /// The innermost folders that hold files — the partitions — with their totals, in key order.
    pub fn partitions(&self, prefix: &str) -> Vec<Entry> {
        let mut partitions: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        for object in self.under(prefix) {
            let folder = object.key.rsplit_once('/').map_or("", |(folder, _)| folder);
            let totals = partitions.entry(folder).or_default();
            totals.0 += 1;
            totals.1 += object.size;
        }
        partitions
            .into_iter()
            .map(|(folder, (files, bytes))| Entry {
                name: folder.rsplit('/').next().unwrap_or(folder).to_string(),
                path: if folder.is_empty() {
                    String::new()
                } else {
                    format!("{folder}/")
                },
                is_folder: true,
                files,
                bytes,
            })
            .collect()
    }
}

/// Sizes as people read them: 999 B, 12.3 KiB, 4.0 MiB.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(key: &str, size: u64) -> ObjectInfo {
        ObjectInfo {
            key: key.into(),
            size,
            last_modified: None,
        }
    }

    fn tree() -> Tree {
        Tree::new(vec![
            object("lake/summaries/split=train/part-b.zstd.parquet", 30),
            object("lake/summaries/split=train/part-a.zstd.parquet", 10),
            object("lake/summaries/split=test/part-a.zstd.parquet", 5),
            object("lake/articles/part-a.zstd.parquet", 40),
            object("lake/quarantine/part-a.zstd.parquet", 7),
        ])
        .with_versions(BTreeMap::from([
            ("lake/articles/".to_string(), 3),
            ("lake/summaries/".to_string(), 5),
        ]))
    }

    #[test]
    fn the_top_level_shows_the_tables() {
        let names: Vec<_> = tree()
            .children("lake/")
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["articles", "quarantine", "summaries"]);
    }

    #[test]
    fn folders_carry_the_file_count_and_size_below_them() {
        let splits = tree().children("lake/summaries/");
        assert_eq!(splits.len(), 2);
        assert_eq!(splits[1].name, "split=train");
        assert_eq!(splits[1].path, "lake/summaries/split=train/");
        assert_eq!((splits[1].files, splits[1].bytes), (2, 40));
        assert!(splits[1].is_folder);
    }

    #[test]
    fn files_appear_after_folders_with_their_full_key() {
        let files = tree().children("lake/articles/");
        assert_eq!(files.len(), 1);
        assert!(!files[0].is_folder);
        assert_eq!(files[0].path, "lake/articles/part-a.zstd.parquet");
        assert_eq!(files[0].bytes, 40);
    }

    #[test]
    fn partitions_are_the_innermost_folders_holding_files() {
        let paths: Vec<_> = tree()
            .partitions("lake/summaries/")
            .into_iter()
            .map(|e| (e.path, e.files))
            .collect();
        assert_eq!(
            paths,
            [
                ("lake/summaries/split=test/".to_string(), 1),
                ("lake/summaries/split=train/".to_string(), 2),
            ]
        );
    }

    #[test]
    fn a_prefix_that_is_a_sibling_name_does_not_match_its_neighbour() {
        let t = Tree::new(vec![object("a/dt=1/x", 1), object("a/dt=10/y", 1)]);
        assert_eq!(t.under("a/dt=1/").count(), 1);
    }

    #[test]
    fn a_path_inside_a_table_has_its_version() {
        let t = tree();
        assert_eq!(
            t.version("lake/summaries/split=train/part-a.zstd.parquet"),
            Some(5)
        );
        assert_eq!(t.version("lake/articles/"), Some(3));
        assert_eq!(t.version("lake/quarantine/"), None);
    }

    #[test]
    fn sizes_are_printed_in_binary_units() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
    }
}
