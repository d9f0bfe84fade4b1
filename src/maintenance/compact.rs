//! Compaction: the small files of each partition bin-packed into files of the target size, rows
//! sorted by publish date, in one commit that removes the old files and adds the new ones.
//!
//! The commit says its files carry no data change (`dataChange: false`), which is what lets the
//! pipeline's appends commit past it and it past them: neither reads what the other writes. Two
//! rewrites of the same file are refused by [`super::commit_rewrite`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use deltalake::kernel::Add;
use deltalake::protocol::DeltaOperation;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::DeltaTable;
use parquet::file::properties::WriterProperties;
use serde_json::json;

use super::files::{table_files, TableFile};
use super::{commit_rewrite, file_batches, read_file, Rewrite};
use crate::lease::table::LeaseTable;
use crate::pipeline::sink::lake::{Lake, TableKind};
use crate::pipeline::sink::parquet::publish_date_order;

/// Rows written at a time from a bin's sorted order.
const WRITE_SLICE_ROWS: usize = 8192;

/// A file is small, and worth merging, below this share of the target size: a compaction's own
/// files end a little under the target and must not be rewritten by the next one.
const SMALL_SHARE: f64 = 0.75;

/// Where a compaction is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompactProgress {
    Planned {
        table: TableKind,
        bins: usize,
        files: usize,
        bytes: u64,
    },
    BinDone {
        done: usize,
        total: usize,
        rows: u64,
    },
    Committing {
        removed: usize,
        added: usize,
    },
}

/// What a compaction did.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactReport {
    pub table: TableKind,
    pub files_before: usize,
    pub files_after: usize,
    pub files_removed: usize,
    pub files_written: usize,
    pub bytes_removed: u64,
    pub bytes_written: u64,
    pub rows: u64,
    /// The table's version holding the result; None when there was nothing to merge.
    pub version: Option<i64>,
    pub elapsed: Duration,
}

/// Files of one partition to be merged into one file (or a few, past the target).
#[derive(Debug, Clone)]
pub struct Bin {
    pub partition: Vec<(String, String)>,
    pub files: Vec<TableFile>,
}

impl Bin {
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

pub fn is_small(file: &TableFile, target_bytes: u64) -> bool {
    (file.size as f64) < target_bytes as f64 * SMALL_SHARE
}

/// Small files per partition: what decides whether a partition is worth compacting.
pub fn small_files_per_partition(
    files: &[TableFile],
    target_bytes: u64,
) -> BTreeMap<Vec<(String, String)>, usize> {
    let mut counts = BTreeMap::new();
    for file in files.iter().filter(|f| is_small(f, target_bytes)) {
        *counts.entry(file.partition.clone()).or_insert(0) += 1;
    }
    counts
}

/// The bins: per partition, its small files in publish-date order (neighbouring dates end in
/// the same file, so its statistics stay tight), cut when a bin reaches the target size. A bin
/// of one file is left alone: rewriting it merges nothing.
pub fn plan(files: &[TableFile], target_bytes: u64) -> Vec<Bin> {
    let mut by_partition: BTreeMap<Vec<(String, String)>, Vec<TableFile>> = BTreeMap::new();
    for file in files.iter().filter(|f| is_small(f, target_bytes)) {
        by_partition
            .entry(file.partition.clone())
            .or_default()
            .push(file.clone());
    }
    let mut bins = Vec::new();
    for (partition, mut small) in by_partition {
        small.sort_by(|a, b| (a.min_publish_date, &a.path).cmp(&(b.min_publish_date, &b.path)));
        let mut current: Vec<TableFile> = Vec::new();
        let mut bytes = 0u64;
        for file in small {
            bytes += file.size;
            current.push(file);
            if bytes >= target_bytes {
                bins.push(Bin {
                    partition: partition.clone(),
                    files: std::mem::take(&mut current),
                });
                bytes = 0;
            }
        }
        if current.len() > 1 {
            bins.push(Bin {
                partition: partition.clone(),
                files: current,
            });
        }
    }
    bins.retain(|b| b.files.len() > 1);
    bins
}

/// Compacts one table: every partition's small files into files of `target_bytes`.
pub async fn compact(
    lake: &Lake,
    kind: TableKind,
    target_bytes: u64,
    progress: &(dyn Fn(CompactProgress) + Send + Sync),
) -> Result<CompactReport> {
    let started = Instant::now();
    let Some(mut table) = lake.open(kind).await? else {
        return Err(super::NoTable(format!(
            "no table at s3://{}/{} yet: nothing to compact (`precis run` writes it)",
            lake.bucket,
            kind.path()
        ))
        .into());
    };
    let files = table_files(&table).await?;
    let files_before = files.len();
    let bins = plan(&files, target_bytes);
    let planned_files: usize = bins.iter().map(|b| b.files.len()).sum();
    progress(CompactProgress::Planned {
        table: kind,
        bins: bins.len(),
        files: planned_files,
        bytes: bins.iter().map(Bin::bytes).sum(),
    });
    let mut report = CompactReport {
        table: kind,
        files_before,
        files_after: files_before,
        files_removed: 0,
        files_written: 0,
        bytes_removed: 0,
        bytes_written: 0,
        rows: 0,
        version: None,
        elapsed: Duration::ZERO,
    };
    if bins.is_empty() {
        report.elapsed = started.elapsed();
        return Ok(report);
    }
    let properties = lake.layout.writer_properties()?;
    let mut adds = Vec::new();
    let mut removes = Vec::new();
    for (done, bin) in bins.iter().enumerate() {
        let (written, rows) = compact_bin(&table, kind, bin, &properties, target_bytes).await?;
        report.rows += rows;
        for add in written {
            report.bytes_written += add.size.max(0) as u64;
            adds.push(add);
        }
        for file in &bin.files {
            let mut remove = file.remove.clone();
            remove.data_change = false;
            report.bytes_removed += file.size;
            removes.push(remove);
        }
        progress(CompactProgress::BinDone {
            done: done + 1,
            total: bins.len(),
            rows: report.rows,
        });
    }
    report.files_removed = removes.len();
    report.files_written = adds.len();
    progress(CompactProgress::Committing {
        removed: report.files_removed,
        added: report.files_written,
    });
    let rewrite = Rewrite {
        removes,
        adds,
        operation: DeltaOperation::Optimize {
            predicate: None,
            target_size: i64::try_from(target_bytes).unwrap_or(i64::MAX),
        },
        txn: None,
        metadata: vec![(
            "precis.operation".to_string(),
            json!({"compact": {"files_removed": report.files_removed, "files_added": report.files_written}}),
        )],
    };
    let version = commit_rewrite(&mut table, rewrite)
        .await
        .with_context(|| format!("committing the compaction of {}", kind.name()))?;
    report.version = Some(version);
    report.files_after = table_files(&table).await?.len();
    if let Err(err) = super::card::write_card(&table, kind).await {
        tracing::warn!("the {} table's card was not updated: {err:#}", kind.name());
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// One bin's files read, their rows sorted by publish date and written as new files of their
/// own (marked as no data change); the files' add actions and the rows.
async fn compact_bin(
    table: &DeltaTable,
    kind: TableKind,
    bin: &Bin,
    properties: &WriterProperties,
    target_bytes: u64,
) -> Result<(Vec<Add>, u64)> {
    let mut batches = Vec::new();
    for file in &bin.files {
        let body = read_file(table, &file.path).await?;
        let file = file.clone();
        batches.extend(
            tokio::task::spawn_blocking(move || file_batches(kind, &file, body))
                .await
                .context("reading a file to compact panicked")??,
        );
    }
    let order = publish_date_order(&batches)?;
    let mut writer = RecordBatchWriter::for_table(table)?
        .with_writer_properties(properties.clone())
        .with_target_file_size(target_bytes);
    let refs: Vec<&arrow_array::RecordBatch> = batches.iter().collect();
    for slice in order.chunks(WRITE_SLICE_ROWS) {
        let rows = arrow_select::interleave::interleave_record_batch(&refs, slice)
            .context("sorting a bin by publish date")?;
        writer
            .write(rows)
            .await
            .context("writing a compacted file")?;
    }
    drop(refs);
    drop(batches);
    let mut written = writer.flush().await.context("finishing a compacted file")?;
    for add in &mut written {
        add.data_change = false;
    }
    Ok((written, order.len() as u64))
}

/// How often follow mode looks at the tables' small files: a look reads only the commits since
/// the last one.
pub const KEEPER_INTERVAL: Duration = Duration::from_secs(10);

/// Follow mode's background compaction: every [`KEEPER_INTERVAL`], each table with a partition
/// holding more than `threshold` small files is compacted. It runs beside the readers (its
/// commit never conflicts with their appends), so ingestion does not wait for it; a failure is
/// logged and tried again next round. Ends when `stop` turns true. When workers share the
/// stream (`leases`: the table and this worker's name), only one of them compacts: the owner of
/// the first open shard's lease that has an owner, so N workers do not rewrite the same files N
/// times.
pub async fn keep_compact(
    lake: Lake,
    threshold: usize,
    leases: Option<(LeaseTable, String)>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let target = lake.layout.target_file_bytes;
    let mut tables = std::collections::HashMap::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(KEEPER_INTERVAL) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if let Some((table, me)) = &leases {
            match table.scan().await {
                Ok(mut scan) => {
                    scan.retain(|lease| !lease.finished() && lease.owner.is_some());
                    let first = scan.into_iter().min_by(|a, b| a.key.cmp(&b.key));
                    if first.and_then(|l| l.owner).as_deref() != Some(me.as_str()) {
                        continue;
                    }
                }
                Err(err) => {
                    tracing::debug!("reading the lease table: {err:#}");
                    continue;
                }
            }
        }
        for kind in TableKind::ALL {
            let due = match small_files_due(&lake, &mut tables, kind, target).await {
                Ok(most) => most > threshold,
                Err(err) => {
                    tracing::debug!("looking at {}'s files: {err:#}", kind.name());
                    false
                }
            };
            if !due {
                continue;
            }
            match compact(&lake, kind, target, &|_| {}).await {
                Ok(report) => tracing::info!(
                    "compacted {}: {} small files into {} in version {}, {:.1} s",
                    kind.name(),
                    report.files_removed,
                    report.files_written,
                    report.version.unwrap_or_default(),
                    report.elapsed.as_secs_f64()
                ),
                Err(err) => tracing::warn!(
                    "background compaction of {} failed, tried again in {} s: {err:#}",
                    kind.name(),
                    KEEPER_INTERVAL.as_secs()
                ),
            }
        }
    }
}

/// The most small files any partition of the table holds now (0 before the table exists).
async fn small_files_due(
    lake: &Lake,
    tables: &mut std::collections::HashMap<TableKind, deltalake::DeltaTable>,
    kind: TableKind,
    target: u64,
) -> Result<usize> {
    let table = match tables.entry(kind) {
        std::collections::hash_map::Entry::Occupied(entry) => {
            let table = entry.into_mut();
            table.update_state().await?;
            table
        }
        std::collections::hash_map::Entry::Vacant(entry) => match lake.open(kind).await? {
            Some(table) => entry.insert(table),
            None => return Ok(0),
        },
    };
    let files = table_files(table).await?;
    Ok(small_files_per_partition(&files, target)
        .values()
        .copied()
        .max()
        .unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn file(path: &str, split: &str, size: u64, day: u32) -> TableFile {
        let date = Utc.with_ymd_and_hms(2026, 3, day, 0, 0, 0).unwrap();
        TableFile {
            path: path.to_string(),
            size,
            rows: Some(10),
            partition: vec![("split".to_string(), split.to_string())],
            modified_millis: 0,
            min_publish_date: Some(date),
            max_publish_date: Some(date),
            max_arrival_time: None,
            min_summarizer: None,
            max_summarizer: None,
            remove: deltalake::kernel::Remove {
                path: path.to_string(),
                ..Default::default()
            },
        }
    }

    fn paths(bin: &Bin) -> Vec<&str> {
        bin.files.iter().map(|f| f.path.as_str()).collect()
    }

    #[test]
    fn small_files_of_a_partition_are_binned_up_to_the_target_in_date_order() {
        let files = [
            file("c", "train", 40, 3),
            file("a", "train", 40, 1),
            file("b", "train", 40, 2),
            file("d", "train", 40, 4),
            file("e", "train", 40, 5),
        ];
        let bins = plan(&files, 100);
        assert_eq!(bins.len(), 2);
        assert_eq!(paths(&bins[0]), ["a", "b", "c"]);
        assert_eq!(paths(&bins[1]), ["d", "e"]);
    }

    #[test]
    fn partitions_are_never_mixed_in_a_bin() {
        let files = [
            file("a", "train", 10, 1),
            file("b", "test", 10, 1),
            file("c", "train", 10, 2),
            file("d", "test", 10, 2),
        ];
        let bins = plan(&files, 100);
        assert_eq!(bins.len(), 2);
        for bin in &bins {
            assert!(bin.files.iter().all(|f| f.partition == bin.partition));
        }
    }

    #[test]
    fn files_near_the_target_and_lone_small_files_are_left_alone() {
        let files = [
            file("big1", "train", 90, 1),
            file("big2", "train", 80, 2),
            file("small", "train", 10, 3),
            file("lone", "test", 10, 3),
        ];
        assert!(plan(&files, 100).is_empty());
    }
}
