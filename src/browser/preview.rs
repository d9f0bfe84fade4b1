//! A look inside the tables: the current snapshot's files of a table, a partition or one file,
//! fetched from S3 and read with polars the way a training job would read them, into a table and
//! column statistics.
//!
//! Only bytes cross from the writer (arrow-rs) to here (polars): reading what was written through a
//! second, independent Parquet implementation is a check of the files as much as a view.

use std::io::Cursor;

use anyhow::{bail, Context, Result};
use polars::prelude::{
    AnyValue, Column, DataFrame, DataType, ParquetReader, PolarsResult, SerReader,
};

use super::{fetch_object, snapshot_listing};
use crate::aws::AwsClients;
use crate::maintenance::files::table_files;
use crate::maintenance::inventory::{summarize_all, TableSummary};
use crate::pipeline::sink::lake::{Lake, LAKE_PREFIX};

/// Stop fetching files of a partition once this much is read; stats then say how many files
/// they cover.
pub const PREVIEW_BYTE_CAP: u64 = 128 * 1024 * 1024;

/// The columns shown first, per layer; the rest follow in file order.
const CURATED_COLUMNS: &[&str] = &[
    "title",
    "word_count",
    "summary",
    "summary_word_count",
    "summarizer",
    "publish_date",
    "article_id",
];
const RAW_COLUMNS: &[&str] = &["article_id", "title", "author", "publish_date", "content"];
const QUARANTINE_COLUMNS: &[&str] = &[
    "reason_code",
    "reason",
    "shard_id",
    "sequence_number",
    "partition_key",
    "arrival_time",
    "payload_text",
];

/// What a preview found, over every row read.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameStats {
    pub rows: usize,
    pub mean_word_count: Option<f64>,
    pub mean_summary_word_count: Option<f64>,
    /// Null count of each column, in column order.
    pub nulls: Vec<(String, usize)>,
}

/// A partition or file read into a DataFrame.
pub struct Preview {
    pub target: String,
    /// The version of the table the files are read from.
    pub version: Option<i64>,
    pub files_read: usize,
    pub files_total: usize,
    pub frame: DataFrame,
    pub stats: FrameStats,
}

/// Rows as text, ready for a terminal table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PreviewTable {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Reads what `target` names in the tables' current snapshots — one file, or every file under
/// a folder (a table or a partition).
pub async fn load(clients: &AwsClients, lake: &Lake, target: &str) -> Result<Preview> {
    if lists_tables(target) {
        return tables_overview(lake, target).await;
    }
    let bucket = &lake.bucket;
    let (keys, version) = match target.split_once('@') {
        Some((table, version)) => at_version(lake, table, version).await?,
        None => {
            let listing = snapshot_listing(lake).await?;
            let mut objects: Vec<_> = listing.under(target).cloned().collect();
            // A key names itself only; a folder prefix names what lies below it.
            if !target.ends_with('/') && objects.iter().any(|o| o.key == target) {
                objects.retain(|o| o.key == target);
            } else if !target.is_empty() && !target.ends_with('/') {
                let folder = format!("{target}/");
                objects.retain(|o| o.key.starts_with(&folder));
            }
            let keys = objects.into_iter().map(|o| o.key).collect();
            (keys, listing.version(target))
        }
    };
    let objects: Vec<String> = keys.into_iter().filter(|k| is_data_file(k)).collect();
    if objects.is_empty() {
        bail!(
            "nothing to preview at s3://{bucket}/{target}: no file of a table's current snapshot there (`precis partitions` lists them)"
        );
    }
    let files_total = objects.len();
    let mut frame: Option<DataFrame> = None;
    let mut bytes_read = 0u64;
    let mut files_read = 0;
    for object in &objects {
        if files_read > 0 && bytes_read >= PREVIEW_BYTE_CAP {
            break;
        }
        let body = match (fetch_object(clients, bucket, object).await, target.split_once('@')) {
            (Ok(body), _) => body.to_vec(),
            (Err(err), Some((_, version))) => {
                return Err(err.context(format!(
                    "a file of version {version} is gone: `precis vacuum` deletes the files only older versions need"
                )))
            }
            (Err(err), None) => return Err(err),
        };
        bytes_read += body.len() as u64;
        // Decoding is CPU work: off the async workers.
        let key = object.clone();
        let part = tokio::task::spawn_blocking(move || read_file(&key, body))
            .await
            .context("reading a file panicked")??;
        match &mut frame {
            None => frame = Some(part),
            Some(frame) => {
                frame.vstack_mut_owned(part).with_context(|| {
                    format!(
                        "{object} does not have the columns of the files before it; preview one layer at a time"
                    )
                })?;
            }
        }
        files_read += 1;
    }
    let frame = frame.context("no file was read")?;
    let stats = stats(&frame);
    Ok(Preview {
        version,
        target: target.to_string(),
        files_read,
        files_total,
        frame,
        stats,
    })
}

/// Whether `target` is the lake's root (or the bucket's), whose preview lists the tables.
pub fn lists_tables(target: &str) -> bool {
    let target = target.trim_end_matches('/');
    target.is_empty() || target == LAKE_PREFIX.trim_end_matches('/')
}

/// The lake's root holds tables of three schemas, not rows of one: its preview lists the tables.
async fn tables_overview(lake: &Lake, target: &str) -> Result<Preview> {
    let tables = summarize_all(lake, 0).await?;
    if tables.is_empty() {
        bail!(
            "no table in s3://{}/{LAKE_PREFIX} yet: the pipeline creates them as it starts",
            lake.bucket
        );
    }
    let column = |name: &str, values: Vec<String>| Column::new(name.into(), values);
    let text = |f: fn(&TableSummary) -> String| tables.iter().map(f).collect::<Vec<_>>();
    let frame = DataFrame::new(
        tables.len(),
        vec![
            column("table", text(|t| t.path.clone())),
            column("version", text(|t| t.version.to_string())),
            column("rows", text(|t| t.total.rows.to_string())),
            column("files", text(|t| t.total.files.to_string())),
            column("size", text(|t| super::human_bytes(t.total.bytes))),
        ],
    )?;
    let stats = stats(&frame);
    Ok(Preview {
        version: None,
        target: target.to_string(),
        files_read: 0,
        files_total: 0,
        frame,
        stats,
    })
}

/// The files of `table` (`lake/summaries`) at `version`: time travel, as far back as the log
/// and the files are kept.
async fn at_version(lake: &Lake, table: &str, version: &str) -> Result<(Vec<String>, Option<i64>)> {
    let path = table.trim_end_matches('/');
    if !path.starts_with(LAKE_PREFIX) || path.len() == LAKE_PREFIX.len() {
        bail!("{table} is not a table (lake/articles, lake/summaries, lake/quarantine, or a candidate table lake/NAME)");
    }
    let wanted: i64 = version
        .parse()
        .with_context(|| format!("{version} is not a table version (a whole number)"))?;
    if lake.open_at(path, None).await?.is_none() {
        bail!("no table at s3://{}/{path} yet", lake.bucket);
    }
    let delta = lake
        .open_at(path, Some(wanted))
        .await
        .with_context(|| {
            format!("reading version {wanted} of {path} (versions past the log's retention, or whose files were vacuumed, are gone)")
        })?
        .with_context(|| format!("no table at s3://{}/{path} yet", lake.bucket))?;
    let keys = table_files(&delta)
        .await?
        .into_iter()
        .map(|f| format!("{path}/{}", f.path))
        .collect();
    Ok((keys, Some(wanted)))
}

fn is_data_file(key: &str) -> bool {
    key.ends_with(".parquet")
}

/// One file's bytes as a DataFrame, through polars' Parquet reader.
pub fn read_file(key: &str, body: Vec<u8>) -> Result<DataFrame> {
    let frame = ParquetReader::new(Cursor::new(body))
        .finish()
        .with_context(|| format!("reading {key} as Parquet"))?;
    without_time_zones(frame).with_context(|| format!("reading the timestamps of {key}"))
}

/// Timestamps are written in UTC; shown as plain date-times (UTC) so that printing them needs no
/// time-zone database in the binary.
fn without_time_zones(frame: DataFrame) -> PolarsResult<DataFrame> {
    let columns = frame
        .columns()
        .iter()
        .map(|c| match c.dtype() {
            DataType::Datetime(unit, Some(_)) => c
                .cast(&DataType::Int64)?
                .cast(&DataType::Datetime(*unit, None)),
            _ => Ok(c.clone()),
        })
        .collect::<PolarsResult<Vec<Column>>>()?;
    DataFrame::new(frame.height(), columns)
}

pub fn stats(frame: &DataFrame) -> FrameStats {
    let mean = |name: &str| {
        frame
            .column(name)
            .ok()
            .and_then(|c| c.as_materialized_series().mean())
    };
    FrameStats {
        rows: frame.height(),
        mean_word_count: mean("word_count"),
        mean_summary_word_count: mean("summary_word_count"),
        nulls: frame
            .columns()
            .iter()
            .map(|c| (c.name().to_string(), c.null_count()))
            .collect(),
    }
}

/// The columns a person looks at first, in that order, then the rest.
pub fn column_order(frame: &DataFrame) -> Vec<String> {
    let names: Vec<String> = frame
        .get_column_names()
        .into_iter()
        .map(|n| n.to_string())
        .collect();
    let preferred = if names.iter().any(|n| n == "summary") {
        CURATED_COLUMNS
    } else if names.iter().any(|n| n == "reason_code") {
        QUARANTINE_COLUMNS
    } else {
        RAW_COLUMNS
    };
    let mut ordered: Vec<String> = preferred
        .iter()
        .filter(|p| names.iter().any(|n| n == *p))
        .map(|p| p.to_string())
        .collect();
    let rest: Vec<String> = names.into_iter().filter(|n| !ordered.contains(n)).collect();
    ordered.extend(rest);
    ordered
}

impl FrameStats {
    /// Columns with nulls and how many, e.g. `nulls: summary 12, author 3`.
    pub fn nulls_text(&self) -> String {
        let nulls: Vec<String> = self
            .nulls
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        if nulls.is_empty() {
            "no nulls".to_string()
        } else {
            format!("nulls: {}", nulls.join(", "))
        }
    }
}

impl Preview {
    /// The first `limit` rows with the preferred columns first, for printing.
    pub fn head(&self, limit: usize, all_columns: bool) -> Result<DataFrame> {
        let mut order = column_order(&self.frame);
        if !all_columns {
            let shown = preferred_count(&self.frame);
            order.truncate(shown);
        }
        Ok(self.frame.select(order)?.head(Some(limit)))
    }

    /// Every row (up to `limit`) as text, preferred columns first.
    pub fn table(&self, limit: usize) -> PreviewTable {
        let order = column_order(&self.frame);
        let columns: Vec<&Column> = order
            .iter()
            .filter_map(|name| self.frame.column(name).ok())
            .collect();
        let rows = (0..self.frame.height().min(limit))
            .map(|i| columns.iter().map(|c| cell(c, i)).collect())
            .collect();
        PreviewTable {
            columns: order,
            rows,
        }
    }
}

fn preferred_count(frame: &DataFrame) -> usize {
    let names = frame.get_column_names();
    [CURATED_COLUMNS, QUARANTINE_COLUMNS, RAW_COLUMNS]
        .iter()
        .map(|set| {
            set.iter()
                .filter(|p| names.iter().any(|n| n.as_str() == **p))
                .count()
        })
        .max()
        .filter(|&n| n > 0)
        // A frame of none of the layers (the tables overview): every column.
        .unwrap_or(names.len())
        .max(1)
}

/// One value as a single line of text: strings as they are (line breaks folded), numbers as
/// polars prints them, floats to three decimals, nulls as an empty cell.
fn cell(column: &Column, row: usize) -> String {
    if let Ok(strings) = column.str() {
        return strings
            .get(row)
            .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default();
    }
    match column.get(row) {
        Ok(AnyValue::Null) | Err(_) => String::new(),
        Ok(AnyValue::Float64(v)) => format!("{v:.3}"),
        Ok(AnyValue::Float32(v)) => format!("{v:.3}"),
        Ok(value) => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::record::Limits;
    use crate::pipeline::rows::{process, Outcome, RawRecord};
    use crate::pipeline::sink::parquet::{curated_batch, encode, quarantine_batch, FileContext};
    use crate::summarize::pool::Summarized;
    use chrono::{TimeZone, Utc};

    fn curated_file() -> Vec<u8> {
        let records = [
            r#"{"article_id":"a1","title":"Rates rise","content":"The bank raised rates. Markets fell.","publish_date":"2026-03-01T10:00:00"}"#,
            r#"{"article_id":"a2","title":"Rain","content":"It rained all day in the north of the country.","publish_date":"2026-03-01T11:00:00"}"#,
        ];
        let rows: Vec<_> = records
            .iter()
            .enumerate()
            .map(|(i, data)| {
                let record = RawRecord {
                    shard_id: "shardId-0".into(),
                    sequence_number: format!("{}", 100 + i),
                    partition_key: "k".into(),
                    arrival_time: Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
                    data: data.as_bytes().to_vec(),
                };
                let Outcome::Article(mut row) = process(&record, &Limits::default()) else {
                    panic!("valid record");
                };
                row.summary = (i == 0).then(|| Summarized {
                    text: "The bank raised rates.".into(),
                    summarizer: "test-summarizer".into(),
                });
                *row
            })
            .collect();
        let refs: Vec<_> = rows.iter().collect();
        let ctx = FileContext {
            stream: "S",
            processed_at: Utc::now(),
        };
        encode(&curated_batch(&refs, &ctx).unwrap()).unwrap()
    }

    #[test]
    fn a_curated_file_written_by_the_sink_reads_back_through_polars() {
        let frame = read_file("x.parquet", curated_file()).unwrap();
        let preview = Preview {
            target: "x".into(),
            version: None,
            files_read: 1,
            files_total: 1,
            stats: stats(&frame),
            frame,
        };
        let table = preview.table(10);
        assert_eq!(&table.columns[..3], ["title", "word_count", "summary"]);
        assert_eq!(table.rows.len(), 2);
        assert_eq!(table.rows[0][0], "Rates rise");
        assert_eq!(table.rows[0][1], "6");
        assert_eq!(table.rows[0][2], "The bank raised rates.");
        assert_eq!(table.rows[1][2], "", "a null summary is an empty cell");
    }

    #[test]
    fn stats_count_rows_nulls_and_the_mean_word_count() {
        let frame = read_file("x.parquet", curated_file()).unwrap();
        let s = stats(&frame);
        assert_eq!(s.rows, 2);
        assert_eq!(s.mean_word_count, Some((6.0 + 10.0) / 2.0));
        let summary_nulls = s.nulls.iter().find(|(n, _)| n == "summary").unwrap().1;
        assert_eq!(summary_nulls, 1);
        let title_nulls = s.nulls.iter().find(|(n, _)| n == "title").unwrap().1;
        assert_eq!(title_nulls, 0);
    }

    #[test]
    fn quarantine_rows_show_their_reason_first() {
        let record = RawRecord {
            shard_id: "shardId-0".into(),
            sequence_number: "7".into(),
            partition_key: "k".into(),
            arrival_time: Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
            data: b"{not json".to_vec(),
        };
        let Outcome::Quarantined(row) = process(&record, &Limits::default()) else {
            panic!("a bad record");
        };
        let ctx = FileContext {
            stream: "S",
            processed_at: Utc::now(),
        };
        let body = encode(&quarantine_batch(&[&*row], &ctx).unwrap()).unwrap();
        let frame = read_file("q.parquet", body).unwrap();
        assert_eq!(frame.height(), 1);
        assert_eq!(column_order(&frame)[0], "reason_code");
    }

    #[test]
    fn bytes_that_are_not_parquet_are_an_error_naming_the_key() {
        let err = format!(
            "{:#}",
            read_file("k.parquet", b"nope".to_vec()).unwrap_err()
        );
        assert!(err.contains("reading k.parquet as Parquet"), "{err}");
    }
}
