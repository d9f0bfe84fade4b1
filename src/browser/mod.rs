//! What is written in the lake: objects listed from S3, grouped into the Hive-style folders
//! (layer → dt → split → files) that the console browses and `precis partitions` prints.

pub mod preview;

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::aws::AwsClients;
use crate::pipeline::sink::layout::STATE_PREFIX;

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

/// The bucket's objects as folders, built once per listing; navigation is pure lookups.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    objects: Vec<ObjectInfo>,
}

impl Tree {
    /// Bookkeeping under `_state/` is not data and stays out of the tree.
    pub fn new(mut objects: Vec<ObjectInfo>) -> Self {
        objects.retain(|o| !o.key.starts_with(STATE_PREFIX) && !o.key.ends_with('/'));
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Self { objects }
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

/// The day of a path inside the curated layer (`curated/summaries/dt=YYYY-MM-DD/...`): the
/// partition that can be reprocessed from raw.
pub fn curated_day(path: &str) -> Option<chrono::NaiveDate> {
    let rest = path.strip_prefix(crate::pipeline::sink::layout::CURATED_PREFIX)?;
    let day = rest.strip_prefix("dt=")?;
    let day = day.split('/').next()?;
    chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()
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
            object(
                "curated/summaries/dt=2026-03-02/split=train/s-b.parquet",
                30,
            ),
            object(
                "curated/summaries/dt=2026-03-01/split=train/s-a.parquet",
                10,
            ),
            object("curated/summaries/dt=2026-03-01/split=test/s-a.parquet", 5),
            object("raw/articles/dt=2026-03-01/s-a.parquet", 40),
            object("quarantine/dt=2026-03-01/s-a.jsonl", 7),
            object("_state/checkpoints/S/shard-0.json", 1),
        ])
    }

    #[test]
    fn the_top_level_shows_the_layers_without_state() {
        let names: Vec<_> = tree().children("").into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["curated", "quarantine", "raw"]);
    }

    #[test]
    fn folders_carry_the_file_count_and_size_below_them() {
        let days = tree().children("curated/summaries/");
        assert_eq!(days.len(), 2);
        assert_eq!(days[0].name, "dt=2026-03-01");
        assert_eq!(days[0].path, "curated/summaries/dt=2026-03-01/");
        assert_eq!((days[0].files, days[0].bytes), (2, 15));
        assert!(days[0].is_folder);
    }

    #[test]
    fn files_appear_after_folders_with_their_full_key() {
        let files = tree().children("raw/articles/dt=2026-03-01/");
        assert_eq!(files.len(), 1);
        assert!(!files[0].is_folder);
        assert_eq!(files[0].path, "raw/articles/dt=2026-03-01/s-a.parquet");
        assert_eq!(files[0].bytes, 40);
    }

    #[test]
    fn partitions_are_the_innermost_folders_holding_files() {
        let paths: Vec<_> = tree()
            .partitions("curated/")
            .into_iter()
            .map(|e| (e.path, e.files))
            .collect();
        assert_eq!(
            paths,
            [
                ("curated/summaries/dt=2026-03-01/split=test/".to_string(), 1),
                (
                    "curated/summaries/dt=2026-03-01/split=train/".to_string(),
                    1
                ),
                (
                    "curated/summaries/dt=2026-03-02/split=train/".to_string(),
                    1
                ),
            ]
        );
    }

    #[test]
    fn a_prefix_that_is_a_sibling_name_does_not_match_its_neighbour() {
        let t = Tree::new(vec![object("a/dt=1/x", 1), object("a/dt=10/y", 1)]);
        assert_eq!(t.under("a/dt=1/").count(), 1);
    }

    #[test]
    fn the_curated_day_is_read_from_any_path_inside_it() {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 3, 1);
        assert_eq!(curated_day("curated/summaries/dt=2026-03-01/"), day);
        assert_eq!(
            curated_day("curated/summaries/dt=2026-03-01/split=train/s.parquet"),
            day
        );
        assert_eq!(curated_day("raw/articles/dt=2026-03-01/"), None);
        assert_eq!(curated_day("curated/summaries/"), None);
    }

    #[test]
    fn sizes_are_printed_in_binary_units() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
    }
}
