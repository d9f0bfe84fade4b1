//! Rows → Arrow record batches, one schema per table, and the Parquet settings of the tables'
//! files.
//!
//! Files are zstd-compressed with page-level statistics (but on free text, whose min/max prunes
//! nothing) and row groups cut by size ([`FileLayout`]), so a training reader scans them
//! sequentially and skips by statistics. `split`, the summaries table's partition column, is a
//! column of the batch; the Delta writer moves it into the partition path.

use std::sync::Arc;

use anyhow::{Context, Result};
use arrow_array::builder::{
    Float64Builder, Int32Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, NaiveDateTime, Utc};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::pipeline::features::Features;
use crate::pipeline::rows::{ArticleRow, QuarantineRow};
use crate::summarize::pool::Summarized;

/// Delta Lake's `timestamp` type: microseconds, UTC.
fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// Lineage columns shared by every table.
fn lineage_fields() -> Vec<Field> {
    vec![
        Field::new("stream", DataType::Utf8, false),
        Field::new("shard_id", DataType::Utf8, false),
        Field::new("sequence_number", DataType::Utf8, false),
        Field::new("partition_key", DataType::Utf8, false),
        Field::new("arrival_time", utc_micros(), false),
        Field::new("processed_at", utc_micros(), false),
    ]
}

fn article_fields() -> Vec<Field> {
    vec![
        Field::new("article_id", DataType::Utf8, false),
        Field::new("title", DataType::Utf8, true),
        Field::new("author", DataType::Utf8, true),
        Field::new("publish_date", utc_micros(), true),
        Field::new("content", DataType::Utf8, false),
    ]
}

/// The articles table: every valid article as received (unreadable dates and unknown fields kept as text), plus
/// lineage.
pub fn raw_schema() -> SchemaRef {
    let mut fields = article_fields();
    fields.push(Field::new("publish_date_raw", DataType::Utf8, true));
    fields.push(Field::new("extra_json", DataType::Utf8, true));
    fields.extend(lineage_fields());
    Arc::new(Schema::new(fields))
}

/// The summaries table: the article, its summary, its features, lineage, and its `split`
/// (the partition column). The summary columns are null only when summaries are turned off
/// (`summarizer` then says `none`).
pub fn curated_schema() -> SchemaRef {
    let mut fields = article_fields();
    fields.extend(summary_fields());
    fields.extend(feature_fields());
    fields.extend(lineage_fields());
    fields.push(Field::new(SPLIT_COLUMN, DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}

/// The summary columns of the summaries table, in order ([`summary_columns`]).
pub fn summary_fields() -> Vec<Field> {
    vec![
        Field::new("summary", DataType::Utf8, true),
        Field::new("summary_word_count", DataType::Int32, true),
        Field::new("compression_ratio", DataType::Float64, true),
        Field::new("summarizer", DataType::Utf8, false),
    ]
}

/// The feature columns of the summaries table, in order ([`feature_columns`]); the split,
/// also a feature, is the partition column and comes last in the table.
pub fn feature_fields() -> Vec<Field> {
    vec![
        Field::new("word_count", DataType::Int32, false),
        Field::new("char_count", DataType::Int32, false),
        Field::new("sentence_count", DataType::Int32, false),
        Field::new("paragraph_count", DataType::Int32, false),
        Field::new("avg_word_length", DataType::Float64, false),
        Field::new("reading_time_seconds", DataType::Int32, false),
        Field::new("content_sha256", DataType::Utf8, false),
    ]
}

/// The summaries table's partition column.
pub const SPLIT_COLUMN: &str = "split";

/// The quarantine table: what could not become an article, why, and the payload exactly as
/// received (base64) to find and replay it.
pub fn quarantine_schema() -> SchemaRef {
    let mut fields = vec![
        Field::new("reason_code", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("payload_base64", DataType::Utf8, false),
        Field::new("payload_text", DataType::Utf8, true),
    ];
    fields.extend(lineage_fields());
    Arc::new(Schema::new(fields))
}

/// Context every row of a file shares.
pub struct FileContext<'a> {
    pub stream: &'a str,
    pub processed_at: DateTime<Utc>,
}

/// Sized before it is filled: an article column is ~1 MB a batch, and a builder growing to it
/// copied it over and over.
fn strings<'a>(values: impl Iterator<Item = Option<&'a str>> + Clone) -> ArrayRef {
    let bytes = values.clone().map(|v| v.map_or(0, str::len)).sum();
    let mut b = StringBuilder::with_capacity(values.size_hint().0, bytes);
    for v in values {
        b.append_option(v);
    }
    Arc::new(b.finish())
}

fn timestamps(values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    let mut b =
        TimestampMicrosecondBuilder::with_capacity(values.size_hint().0).with_timezone("UTC");
    for v in values {
        b.append_option(v);
    }
    Arc::new(b.finish())
}

fn ints(values: impl Iterator<Item = u32>) -> ArrayRef {
    let mut b = Int32Builder::with_capacity(values.size_hint().0);
    for v in values {
        b.append_value(i32::try_from(v).unwrap_or(i32::MAX));
    }
    Arc::new(b.finish())
}

fn naive_micros(d: &NaiveDateTime) -> i64 {
    d.and_utc().timestamp_micros()
}

fn article_columns(rows: &[&ArticleRow]) -> Vec<ArrayRef> {
    vec![
        strings(rows.iter().map(|r| Some(r.article.article_id.as_str()))),
        strings(rows.iter().map(|r| r.article.title.as_deref())),
        strings(rows.iter().map(|r| r.article.author.as_deref())),
        timestamps(
            rows.iter()
                .map(|r| r.article.publish_date.as_ref().map(naive_micros)),
        ),
        strings(rows.iter().map(|r| Some(r.article.content.as_str()))),
    ]
}

/// Where a row came from: shard, sequence number, partition key, arrival time.
type Origin<'a> = (&'a str, &'a str, &'a str, DateTime<Utc>);

/// The lineage columns, in schema order, of rows of any table.
fn lineage_columns<'a, T>(
    rows: &[&'a T],
    ctx: &FileContext<'_>,
    origin: impl Fn(&'a T) -> Origin<'a> + Copy,
) -> Vec<ArrayRef> {
    vec![
        strings(rows.iter().map(|_| Some(ctx.stream))),
        strings(rows.iter().map(|r| Some(origin(r).0))),
        strings(rows.iter().map(|r| Some(origin(r).1))),
        strings(rows.iter().map(|r| Some(origin(r).2))),
        timestamps(rows.iter().map(|r| Some(origin(r).3.timestamp_micros()))),
        timestamps(
            rows.iter()
                .map(|_| Some(ctx.processed_at.timestamp_micros())),
        ),
    ]
}

fn article_origin(r: &ArticleRow) -> Origin<'_> {
    (
        &r.shard_id,
        &r.sequence_number,
        &r.partition_key,
        r.arrival_time,
    )
}

pub fn raw_batch(rows: &[&ArticleRow], ctx: &FileContext<'_>) -> Result<RecordBatch> {
    let mut columns = article_columns(rows);
    columns.push(strings(
        rows.iter().map(|r| r.article.publish_date_raw.as_deref()),
    ));
    columns.push(strings(
        rows.iter().map(|r| r.article.extra_json.as_deref()),
    ));
    columns.extend(lineage_columns(rows, ctx, article_origin));
    RecordBatch::try_new(raw_schema(), columns).context("building the raw record batch")
}

/// `summarizer` value of rows written with summaries turned off.
pub const NO_SUMMARIZER: &str = "none";

pub fn curated_batch(rows: &[&ArticleRow], ctx: &FileContext<'_>) -> Result<RecordBatch> {
    let mut columns = article_columns(rows);
    columns.extend(summary_columns(
        rows.iter()
            .map(|r| (r.summary.as_ref(), r.features.word_count)),
    ));
    columns.extend(feature_columns(rows.iter().map(|r| &r.features)));
    columns.extend(lineage_columns(rows, ctx, article_origin));
    columns.push(strings(
        rows.iter().map(|r| Some(r.features.split.as_str())),
    ));
    RecordBatch::try_new(curated_schema(), columns).context("building the curated record batch")
}

/// The columns of [`summary_fields`] for each article's summary (None when summaries were off)
/// and word count.
pub fn summary_columns<'a>(
    rows: impl Iterator<Item = (Option<&'a Summarized>, u32)> + Clone,
) -> Vec<ArrayRef> {
    let mut counts = Int32Builder::new();
    let mut ratios = Float64Builder::new();
    for (summary, article_words) in rows.clone() {
        let words = summary.map(|s| crate::text::word_count(&s.text));
        counts.append_option(words.map(|w| i32::try_from(w).unwrap_or(i32::MAX)));
        // Share of the article's words the summary keeps.
        ratios.append_option(words.map(|w| w as f64 / f64::from(article_words.max(1))));
    }
    vec![
        strings(rows.clone().map(|(s, _)| s.map(|s| s.text.as_str()))),
        Arc::new(counts.finish()),
        Arc::new(ratios.finish()),
        strings(rows.map(|(s, _)| Some(s.map_or(NO_SUMMARIZER, |s| &*s.summarizer)))),
    ]
}

/// The columns of [`feature_fields`], one row per article.
pub fn feature_columns<'a>(features: impl Iterator<Item = &'a Features> + Clone) -> Vec<ArrayRef> {
    let mut lengths = Float64Builder::new();
    for f in features.clone() {
        lengths.append_value(f.avg_word_length);
    }
    vec![
        ints(features.clone().map(|f| f.word_count)),
        ints(features.clone().map(|f| f.char_count)),
        ints(features.clone().map(|f| f.sentence_count)),
        ints(features.clone().map(|f| f.paragraph_count)),
        Arc::new(lengths.finish()),
        ints(features.clone().map(|f| f.reading_time_seconds)),
        strings(features.map(|f| Some(f.content_sha256.as_str()))),
    ]
}

/// The quarantine table's rows.
pub fn quarantine_batch(rows: &[&QuarantineRow], ctx: &FileContext<'_>) -> Result<RecordBatch> {
    let mut columns = vec![
        strings(rows.iter().map(|r| Some(r.reason_code))),
        strings(rows.iter().map(|r| Some(r.reason.as_str()))),
        strings(rows.iter().map(|r| Some(r.payload_base64.as_str()))),
        strings(rows.iter().map(|r| r.payload_text.as_deref())),
    ];
    columns.extend(lineage_columns(rows, ctx, |r: &QuarantineRow| {
        (
            &r.shard_id,
            &r.sequence_number,
            &r.partition_key,
            r.arrival_time,
        )
    }));
    RecordBatch::try_new(quarantine_schema(), columns)
        .context("building the quarantine record batch")
}

/// Columns whose values are (nearly) all different: a dictionary only costs hashing every value
/// before the writer gives up on it. Not `partition_key`: this project's producer uses the
/// article id, other producers often a handful of keys.
const UNIQUE_COLUMNS: [&str; 9] = [
    "article_id",
    "title",
    "content",
    "summary",
    "content_sha256",
    "sequence_number",
    "extra_json",
    "payload_base64",
    "payload_text",
];

/// Long free text: min/max statistics of it prune nothing.
const FREE_TEXT_COLUMNS: [&str; 6] = [
    "title",
    "content",
    "summary",
    "extra_json",
    "payload_base64",
    "payload_text",
];

/// Level 1, not 3: level 3 took 1.3-1.6x the encoding time for files 5-11% smaller
/// (`examples/encode_levels.rs`); readers decompress both at the same speed.
const ZSTD_LEVEL: i32 = 1;

/// How the tables' files are cut: row groups and files by size, for training reads (a reader
/// fetches and decodes a row group at a time; every file is a request). Settings
/// `lake.row_group_mib` and `lake.target_file_mib`; docs/schema.md says why these sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileLayout {
    pub row_group_bytes: usize,
    pub target_file_bytes: u64,
}

impl From<&crate::config::LakeSettings> for FileLayout {
    fn from(settings: &crate::config::LakeSettings) -> Self {
        Self {
            row_group_bytes: settings.row_group_mib * 1024 * 1024,
            target_file_bytes: settings.target_file_mib * 1024 * 1024,
        }
    }
}

impl Default for FileLayout {
    fn default() -> Self {
        Self {
            row_group_bytes: 32 * 1024 * 1024,
            target_file_bytes: 128 * 1024 * 1024,
        }
    }
}

impl FileLayout {
    /// The Parquet settings of every file the tables get.
    pub fn writer_properties(&self) -> Result<WriterProperties> {
        writer_properties_at(ZSTD_LEVEL, self.row_group_bytes)
    }
}

/// A table's rows in one batch, sorted by publish date (nulls last), so that a file's statistics
/// on it are tight and a date range reads few row groups. The rows are copied once (from every
/// batch straight into the sorted one).
pub fn sorted_by_publish_date(batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
    if batches.is_empty() {
        return Ok(batches);
    }
    let positions = publish_date_order(&batches)?;
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    let sorted = arrow_select::interleave::interleave_record_batch(&refs, &positions)
        .context("sorting rows by publish date")?;
    Ok(vec![sorted])
}

/// The rows of `batches` in publish-date order (nulls last), as (batch, row) positions.
pub fn publish_date_order(batches: &[RecordBatch]) -> Result<Vec<(usize, usize)>> {
    if batches.is_empty() {
        return Ok(Vec::new());
    }
    let dates: Vec<&dyn arrow_array::Array> = batches
        .iter()
        .map(|b| {
            b.column_by_name("publish_date")
                .map(|c| c.as_ref())
                .context("a table without publish_date")
        })
        .collect::<Result<_>>()?;
    let dates = arrow_select::concat::concat(&dates).context("joining the rows' dates")?;
    let order = arrow_ord::sort::sort_to_indices(
        &dates,
        Some(arrow_schema::SortOptions {
            descending: false,
            nulls_first: false,
        }),
        None,
    )
    .context("sorting rows by publish date")?;
    // Row n of all is row n - start of the batch that holds it.
    let mut starts = Vec::with_capacity(batches.len());
    let mut start = 0;
    for batch in batches {
        starts.push(start);
        start += batch.num_rows();
    }
    Ok(order
        .values()
        .iter()
        .map(|&n| {
            let n = n as usize;
            let batch = starts.partition_point(|&s| s <= n) - 1;
            (batch, n - starts[batch])
        })
        .collect())
}

/// The files' settings with another zstd level (`examples/encode_levels.rs` compares levels).
pub fn writer_properties_at(zstd_level: i32, row_group_bytes: usize) -> Result<WriterProperties> {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(zstd_level).context("zstd level")?,
        ))
        .set_statistics_enabled(EnabledStatistics::Page)
        // Bytes decide; the row count only stops a group of tiny rows from growing forever.
        .set_max_row_group_bytes(Some(row_group_bytes))
        .set_max_row_group_row_count(Some(1024 * 1024))
        .set_created_by(format!("precis {}", env!("CARGO_PKG_VERSION")));
    for column in UNIQUE_COLUMNS {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(column), false);
    }
    for column in FREE_TEXT_COLUMNS {
        builder = builder
            .set_column_statistics_enabled(ColumnPath::from(column), EnabledStatistics::None);
    }
    Ok(builder.build())
}

/// Encodes one batch as a complete Parquet file in memory, with the tables' settings (previews
/// and tests).
pub fn encode(batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(64 * 1024);
    let properties = FileLayout::default().writer_properties()?;
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), Some(properties))
        .context("starting a Parquet file")?;
    writer.write(batch).context("writing Parquet rows")?;
    writer.close().context("finishing the Parquet file")?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::record::Limits;
    use crate::pipeline::rows::{process, Outcome, RawRecord};
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int32Type;
    use chrono::TimeZone;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn rows() -> Vec<ArticleRow> {
        [
            r#"{"article_id":"a","title":"T","content":"One two three.","publish_date":"2026-03-01T10:00:00","x":1}"#,
            r#"{"article_id":"b","content":"Four five.","publish_date":"soon"}"#,
        ]
        .iter()
        .enumerate()
        .map(|(i, json)| {
            let record = RawRecord {
                shard_id: "s0".into(),
                sequence_number: format!("{}", i + 1),
                partition_key: "pk".into(),
                arrival_time: Utc.with_ymd_and_hms(2026, 11, 20, 8, 0, 0).unwrap(),
                data: json.as_bytes().to_vec(),
            };
            match process(&record, &Limits::default()) {
                Outcome::Article(row) => *row,
                Outcome::Quarantined(q) => panic!("{}", q.reason),
            }
        })
        .collect()
    }

    fn ctx() -> FileContext<'static> {
        FileContext {
            stream: "MyStream",
            processed_at: Utc.with_ymd_and_hms(2026, 11, 21, 0, 0, 0).unwrap(),
        }
    }

    fn read_back(bytes: Vec<u8>) -> RecordBatch {
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
            .unwrap()
            .build()
            .unwrap();
        let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
        assert_eq!(batches.len(), 1);
        batches.into_iter().next().unwrap()
    }

    #[test]
    fn curated_rows_round_trip_through_parquet() {
        let rows = rows();
        let refs: Vec<&ArticleRow> = rows.iter().collect();
        let batch = read_back(encode(&curated_batch(&refs, &ctx()).unwrap()).unwrap());
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.schema(), curated_schema());
        let words = batch
            .column_by_name("word_count")
            .unwrap()
            .as_primitive::<Int32Type>();
        assert_eq!(words.values().to_vec(), vec![3, 2]);
        let ids = batch
            .column_by_name("article_id")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(ids.value(1), "b");
        assert!(batch.column_by_name("publish_date").unwrap().is_null(1));
    }

    #[test]
    fn raw_rows_keep_unreadable_dates_and_extra_fields() {
        let rows = rows();
        let refs: Vec<&ArticleRow> = rows.iter().collect();
        let batch = read_back(encode(&raw_batch(&refs, &ctx()).unwrap()).unwrap());
        let raw_dates = batch
            .column_by_name("publish_date_raw")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(raw_dates.value(1), "soon");
        let extra = batch
            .column_by_name("extra_json")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(extra.value(0), r#"{"x":1}"#);
    }

    #[test]
    fn files_are_zstd_compressed_with_statistics() {
        let rows = rows();
        let refs: Vec<&ArticleRow> = rows.iter().collect();
        let bytes = encode(&curated_batch(&refs, &ctx()).unwrap()).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes)).unwrap();
        let column = reader.metadata().row_group(0).column(0);
        assert!(matches!(column.compression(), Compression::ZSTD(_)));
        assert!(column.statistics().is_some());
    }

    fn quarantined() -> QuarantineRow {
        let record = RawRecord {
            shard_id: "s0".into(),
            sequence_number: "9".into(),
            partition_key: "pk".into(),
            arrival_time: Utc.with_ymd_and_hms(2026, 11, 20, 8, 0, 0).unwrap(),
            data: b"{not json".to_vec(),
        };
        match process(&record, &Limits::default()) {
            Outcome::Quarantined(q) => *q,
            Outcome::Article(_) => panic!("a bad record"),
        }
    }

    /// The per-column settings name columns by string: a renamed column would silently lose
    /// them, so the files themselves are checked (the three tables hold every column).
    #[test]
    fn free_text_has_no_statistics_and_unique_columns_no_dictionary() {
        let rows = rows();
        let refs: Vec<&ArticleRow> = rows.iter().collect();
        let metadata: Vec<_> = [
            encode(&curated_batch(&refs, &ctx()).unwrap()).unwrap(),
            encode(&raw_batch(&refs, &ctx()).unwrap()).unwrap(),
            encode(&quarantine_batch(&[&quarantined()], &ctx()).unwrap()).unwrap(),
        ]
        .into_iter()
        .map(|bytes| {
            ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
                .unwrap()
                .metadata()
                .clone()
        })
        .collect();
        let column = |name: &str| {
            metadata
                .iter()
                .flat_map(|m| m.row_group(0).columns())
                .find(|c| c.column_path().string() == name)
                .unwrap_or_else(|| panic!("no column {name}"))
                .clone()
        };
        for name in FREE_TEXT_COLUMNS {
            assert!(column(name).statistics().is_none(), "{name} has statistics");
        }
        for name in ["word_count", "shard_id", "article_id"] {
            assert!(
                column(name).statistics().is_some(),
                "{name} lost its statistics"
            );
        }
        for name in UNIQUE_COLUMNS {
            assert!(
                column(name).dictionary_page_offset().is_none(),
                "{name} has a dictionary"
            );
        }
        assert!(column("shard_id").dictionary_page_offset().is_some());
    }
}
