//! Rows → Arrow record batches → Parquet bytes.
//!
//! One schema per layer. Files carry zstd-compressed text columns (numbers, timestamps and
//! the constant names uncompressed) with page-level statistics (but on free text) and row
//! groups of up to [`ROW_GROUP_ROWS`] rows, so a reader scans them
//! sequentially and skips by statistics. Partition columns (`dt`, `split`) live in the object key only (Hive style), not in
//! the file, so DuckDB/pyarrow/polars with hive partitioning see each column once.

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow_array::builder::{
    Float64Builder, Int32Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, NaiveDateTime, Utc};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::pipeline::rows::ArticleRow;

/// Rows per row group: large enough for sequential reads, small enough to skip by statistics.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;
/// Level 1, not 3: encoding both layers takes 64-79% of the time, for files 11% larger on the
/// BBC dev set and 5% on generated news (`examples/encode_levels.rs`, the levels interleaved);
/// readers decompress both at the same speed. The pipeline is CPU-bound per core, storage is
/// the cheap side.
const ZSTD_LEVEL: i32 = 1;

fn utc_millis() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// Lineage columns shared by raw and curated.
fn lineage_fields() -> Vec<Field> {
    vec![
        Field::new("stream", DataType::Utf8, false),
        Field::new("shard_id", DataType::Utf8, false),
        Field::new("sequence_number", DataType::Utf8, false),
        Field::new("partition_key", DataType::Utf8, false),
        Field::new("arrival_time", utc_millis(), false),
        Field::new("processed_at", utc_millis(), false),
    ]
}

fn article_fields() -> Vec<Field> {
    vec![
        Field::new("article_id", DataType::Utf8, false),
        Field::new("title", DataType::Utf8, true),
        Field::new("author", DataType::Utf8, true),
        Field::new("publish_date", utc_millis(), true),
        Field::new("content", DataType::Utf8, false),
    ]
}

/// Raw layer: the article as received (unreadable dates and unknown fields kept as text), plus
/// lineage.
pub fn raw_schema() -> SchemaRef {
    let mut fields = article_fields();
    fields.push(Field::new("publish_date_raw", DataType::Utf8, true));
    fields.push(Field::new("extra_json", DataType::Utf8, true));
    fields.extend(lineage_fields());
    Arc::new(Schema::new(fields))
}

/// Curated layer: the article, its summary, its features, lineage. The summary columns are null
/// only when summaries are turned off (`summarizer` then says `none`).
pub fn curated_schema() -> SchemaRef {
    let mut fields = article_fields();
    fields.extend([
        Field::new("summary", DataType::Utf8, true),
        Field::new("summary_word_count", DataType::Int32, true),
        Field::new("compression_ratio", DataType::Float64, true),
        Field::new("summarizer", DataType::Utf8, false),
        Field::new("word_count", DataType::Int32, false),
        Field::new("char_count", DataType::Int32, false),
        Field::new("sentence_count", DataType::Int32, false),
        Field::new("paragraph_count", DataType::Int32, false),
        Field::new("avg_word_length", DataType::Float64, false),
        Field::new("reading_time_seconds", DataType::Int32, false),
        Field::new("content_sha256", DataType::Utf8, false),
    ]);
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
        TimestampMillisecondBuilder::with_capacity(values.size_hint().0).with_timezone("UTC");
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

fn naive_millis(d: &NaiveDateTime) -> i64 {
    d.and_utc().timestamp_millis()
}

fn article_columns(rows: &[&ArticleRow]) -> Vec<ArrayRef> {
    vec![
        strings(rows.iter().map(|r| Some(r.article.article_id.as_str()))),
        strings(rows.iter().map(|r| r.article.title.as_deref())),
        strings(rows.iter().map(|r| r.article.author.as_deref())),
        timestamps(
            rows.iter()
                .map(|r| r.article.publish_date.as_ref().map(naive_millis)),
        ),
        strings(rows.iter().map(|r| Some(r.article.content.as_str()))),
    ]
}

fn lineage_columns(rows: &[&ArticleRow], ctx: &FileContext<'_>) -> Vec<ArrayRef> {
    vec![
        strings(rows.iter().map(|_| Some(ctx.stream))),
        strings(rows.iter().map(|r| Some(r.shard_id.as_str()))),
        strings(rows.iter().map(|r| Some(r.sequence_number.as_str()))),
        strings(rows.iter().map(|r| Some(r.partition_key.as_str()))),
        timestamps(rows.iter().map(|r| Some(r.arrival_time.timestamp_millis()))),
        timestamps(
            rows.iter()
                .map(|_| Some(ctx.processed_at.timestamp_millis())),
        ),
    ]
}

pub fn raw_batch(rows: &[&ArticleRow], ctx: &FileContext<'_>) -> Result<RecordBatch> {
    let mut columns = article_columns(rows);
    columns.push(strings(
        rows.iter().map(|r| r.article.publish_date_raw.as_deref()),
    ));
    columns.push(strings(
        rows.iter().map(|r| r.article.extra_json.as_deref()),
    ));
    columns.extend(lineage_columns(rows, ctx));
    RecordBatch::try_new(raw_schema(), columns).context("building the raw record batch")
}

/// `summarizer` value of rows written with summaries turned off.
pub const NO_SUMMARIZER: &str = "none";

pub fn curated_batch(rows: &[&ArticleRow], ctx: &FileContext<'_>) -> Result<RecordBatch> {
    let mut columns = article_columns(rows);
    columns.push(strings(
        rows.iter()
            .map(|r| r.summary.as_ref().map(|s| s.text.as_str())),
    ));
    let summary_words: Vec<Option<usize>> = rows
        .iter()
        .map(|r| r.summary.as_ref().map(|s| crate::text::word_count(&s.text)))
        .collect();
    let mut counts = Int32Builder::new();
    let mut ratios = Float64Builder::new();
    for (r, words) in rows.iter().zip(&summary_words) {
        counts.append_option(words.map(|w| i32::try_from(w).unwrap_or(i32::MAX)));
        // Share of the article's words the summary keeps.
        ratios.append_option(words.map(|w| w as f64 / f64::from(r.features.word_count.max(1))));
    }
    columns.push(Arc::new(counts.finish()));
    columns.push(Arc::new(ratios.finish()));
    columns.push(strings(rows.iter().map(|r| {
        Some(r.summary.as_ref().map_or(NO_SUMMARIZER, |s| &*s.summarizer))
    })));
    columns.push(ints(rows.iter().map(|r| r.features.word_count)));
    columns.push(ints(rows.iter().map(|r| r.features.char_count)));
    columns.push(ints(rows.iter().map(|r| r.features.sentence_count)));
    columns.push(ints(rows.iter().map(|r| r.features.paragraph_count)));
    let mut lengths = Float64Builder::new();
    for r in rows {
        lengths.append_value(r.features.avg_word_length);
    }
    columns.push(Arc::new(lengths.finish()));
    columns.push(ints(rows.iter().map(|r| r.features.reading_time_seconds)));
    columns.push(strings(
        rows.iter()
            .map(|r| Some(r.features.content_sha256.as_str())),
    ));
    columns.extend(lineage_columns(rows, ctx));
    RecordBatch::try_new(curated_schema(), columns).context("building the curated record batch")
}

/// Rows turned into Arrow columns at a time while a file is encoded: the columns of a whole
/// chunk (tens of MiB of article text, once per layer) never exist at once. The writer checks
/// its page size after each batch, so this also bounds how far a text page overshoots its
/// 1 MiB (1,024 rows of news made 3.5 MB pages).
pub const ENCODE_BATCH_ROWS: usize = 256;

/// Columns whose values are (nearly) all different: a dictionary only costs hashing every value
/// before the writer gives up on it. Not `partition_key`: this project's producer uses the
/// article id, other producers often a handful of keys.
const UNIQUE_COLUMNS: [&str; 7] = [
    "article_id",
    "title",
    "content",
    "summary",
    "content_sha256",
    "sequence_number",
    "extra_json",
];

/// Long free text: min/max statistics of it prune nothing.
const FREE_TEXT_COLUMNS: [&str; 4] = ["title", "content", "summary", "extra_json"];

/// Columns written without zstd: numbers, timestamps and the constant, dictionary-encoded
/// names (stream, shard, summarizer). The parquet crate makes a zstd compressor and a
/// decompressor for each compressed column of each file; for a year of partitions (thousands of
/// small files a chunk) making them was a seventh of précis's CPU, with the kernel's work of
/// mapping them on top. These columns are a few bytes a row next to kilobytes of text, so
/// compressing them saved almost nothing (sizes in docs/performance.md). Every other column
/// stays zstd.
const UNCOMPRESSED_COLUMNS: [&str; 14] = [
    "stream",
    "shard_id",
    "arrival_time",
    "processed_at",
    "publish_date",
    "summary_word_count",
    "compression_ratio",
    "summarizer",
    "word_count",
    "char_count",
    "sentence_count",
    "paragraph_count",
    "avg_word_length",
    "reading_time_seconds",
];

fn writer_properties() -> Result<WriterProperties> {
    writer_properties_at(ZSTD_LEVEL)
}

/// The files' settings with another zstd level (`examples/encode_levels.rs` compares levels).
pub fn writer_properties_at(zstd_level: i32) -> Result<WriterProperties> {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(zstd_level).context("zstd level")?,
        ))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by(format!("precis {}", env!("CARGO_PKG_VERSION")));
    for column in UNIQUE_COLUMNS {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(column), false);
    }
    for column in FREE_TEXT_COLUMNS {
        builder = builder
            .set_column_statistics_enabled(ColumnPath::from(column), EnabledStatistics::None);
    }
    for column in UNCOMPRESSED_COLUMNS {
        builder =
            builder.set_column_compression(ColumnPath::from(column), Compression::UNCOMPRESSED);
    }
    Ok(builder.build())
}

/// Encodes one batch as a complete Parquet file.
pub fn encode(batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(64 * 1024);
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), Some(writer_properties()?))
        .context("starting a Parquet file")?;
    writer.write(batch).context("writing Parquet rows")?;
    writer.close().context("finishing the Parquet file")?;
    Ok(out)
}

/// Encodes rows as one Parquet file in memory, [`ENCODE_BATCH_ROWS`] at a time through `batch`
/// (e.g. [`raw_batch`] or [`curated_batch`]); only the Arrow columns of one small batch are
/// alive at any time.
pub fn encode_rows(
    rows: &[&ArticleRow],
    schema: SchemaRef,
    batch: impl Fn(&[&ArticleRow]) -> Result<RecordBatch>,
) -> Result<Vec<u8>> {
    let mut encoder = RowEncoder::new(Vec::with_capacity(64 * 1024), schema, batch)?;
    for slice in rows.chunks(ENCODE_BATCH_ROWS) {
        encoder.write(slice)?;
    }
    encoder.finish()
}

/// An encoder's in-progress row group is written out once it holds this much memory (its
/// encoded pages, and the page being filled): it bounds the memory of encoding a file of any
/// size. About 1,500 articles of news at zstd 1, still a unit for sequential reads.
pub const ROW_GROUP_MEMORY: usize = 2 * 1024 * 1024;

/// One Parquet file being written to `W`, batch by batch (e.g. rows read back from a spill).
/// Row groups end at [`ROW_GROUP_MEMORY`] or [`ROW_GROUP_ROWS`].
pub struct RowEncoder<W: Write + Send, B> {
    writer: ArrowWriter<W>,
    batch: B,
}

impl<W, B> RowEncoder<W, B>
where
    W: Write + Send,
    B: Fn(&[&ArticleRow]) -> Result<RecordBatch>,
{
    pub fn new(out: W, schema: SchemaRef, batch: B) -> Result<Self> {
        let writer = ArrowWriter::try_new(out, schema, Some(writer_properties()?))
            .context("starting a Parquet file")?;
        Ok(Self { writer, batch })
    }

    pub fn write(&mut self, rows: &[&ArticleRow]) -> Result<()> {
        self.writer
            .write(&(self.batch)(rows)?)
            .context("writing Parquet rows")?;
        // Encoded pages wait in memory until their row group is written (`memory_size` counts
        // them with the encoders' buffers).
        if self.writer.memory_size() >= ROW_GROUP_MEMORY {
            self.writer.flush().context("writing a Parquet row group")?;
        }
        Ok(())
    }

    pub fn finish(self) -> Result<W> {
        self.writer
            .into_inner()
            .context("finishing the Parquet file")
    }
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
    fn a_file_past_the_row_group_memory_is_cut_into_row_groups_read_back_in_order() {
        let template = rows().remove(0);
        // Text that compresses poorly, so that 3,000 rows encode to several MiB.
        let mut state = 7u64;
        let many: Vec<ArticleRow> = (0..3000)
            .map(|i| {
                let mut row = template.clone();
                row.article.article_id = format!("id{i}");
                row.article.content = (0..2000)
                    .map(|_| {
                        state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                        char::from(b'a' + (state >> 59) as u8 % 26)
                    })
                    .collect();
                row
            })
            .collect();
        let refs: Vec<&ArticleRow> = many.iter().collect();
        let bytes = encode_rows(&refs, raw_schema(), |slice| raw_batch(slice, &ctx())).unwrap();
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes)).unwrap();
        let groups = builder.metadata().row_groups().to_vec();
        assert!(groups.len() >= 2, "{} row group(s)", groups.len());
        for group in &groups {
            // A group ends at the first batch that takes it past the bound.
            assert!(group.compressed_size() as usize <= 2 * ROW_GROUP_MEMORY);
        }
        let ids: Vec<String> = builder
            .build()
            .unwrap()
            .flat_map(|batch| {
                let batch = batch.unwrap();
                let ids = batch
                    .column_by_name("article_id")
                    .unwrap()
                    .as_string::<i32>()
                    .clone();
                ids.iter()
                    .map(|id| id.unwrap().to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        let expected: Vec<String> = (0..3000).map(|i| format!("id{i}")).collect();
        assert_eq!(ids, expected);
    }

    #[test]
    fn rows_encoded_in_small_batches_read_back_as_the_rows_of_one_batch_in_one_row_group() {
        let two = rows();
        // 2,500 rows: three encode batches, one row group.
        let many: Vec<&ArticleRow> = (0..2500).map(|i| &two[i % 2]).collect();
        let batched = encode_rows(&many, raw_schema(), |slice| raw_batch(slice, &ctx())).unwrap();
        let whole = encode(&raw_batch(&many, &ctx()).unwrap()).unwrap();
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(batched.clone())).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), 1);
        let read = |bytes: Vec<u8>| -> Vec<RecordBatch> {
            ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
                .unwrap()
                .with_batch_size(4096)
                .build()
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        assert_eq!(read(batched), read(whole));
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

    /// The per-column settings name columns by string: a renamed column would silently lose
    /// them, so the files themselves are checked (curated and raw together hold every column).
    #[test]
    fn free_text_has_no_statistics_unique_columns_no_dictionary_and_numbers_no_zstd() {
        let rows = rows();
        let refs: Vec<&ArticleRow> = rows.iter().collect();
        let metadata: Vec<_> = [
            encode(&curated_batch(&refs, &ctx()).unwrap()).unwrap(),
            encode(&raw_batch(&refs, &ctx()).unwrap()).unwrap(),
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
        for name in UNCOMPRESSED_COLUMNS {
            assert_eq!(
                column(name).compression(),
                Compression::UNCOMPRESSED,
                "{name}"
            );
        }
        let every_column = metadata.iter().flat_map(|m| m.row_group(0).columns());
        for chunk in every_column {
            let name = chunk.column_path().string();
            if !UNCOMPRESSED_COLUMNS.contains(&name.as_str()) {
                assert!(
                    matches!(chunk.compression(), Compression::ZSTD(_)),
                    "{name} is not zstd"
                );
            }
        }
    }
}
