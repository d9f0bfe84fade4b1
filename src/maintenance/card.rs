//! The dataset card: `_README.md` at each table's root in the style of a Hugging Face dataset
//! card (what a row is, the columns, the splits, the summarizers, the licence of the text), so
//! that whoever finds the table in the bucket knows what it holds. précis writes it again when
//! a run starts and after each compaction, reprocess and vacuum. Its name starts with `_`, so
//! vacuums keep it and readers that open the folder as Parquet skip it.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use anyhow::{Context, Result};
use deltalake::DeltaTable;
use object_store::ObjectStoreExt as _;

use super::files::table_files;
use super::inventory::{summarize_listed, TableSummary};
use crate::pipeline::sink::lake::TableKind;

/// The card's name at the table's root: it starts with `_`, which readers that open the folder
/// as Parquet skip (pyarrow, Spark, Hive-style readers), as they skip `_delta_log`.
pub const CARD: &str = "_README.md";

fn what_a_row_is(kind: TableKind) -> &'static str {
    match kind {
        TableKind::Articles => {
            "One record of the Kinesis stream that parsed as a news article, exactly as received \
             (repeats of an article included), with where it came from (stream, shard, sequence \
             number, arrival time). The source of truth: summaries are made again from it."
        }
        TableKind::Summaries => {
            "One news article (the first sighting of its `article_id`) with text features, an \
             extractive or generative summary, where it came from, and its `split`. What a \
             summarization model trains on: `content` is the input, `summary` the target."
        }
        TableKind::Quarantine => {
            "One record of the stream that could not become an article (not JSON, a required \
             field missing, too large, …), with the reason and the payload as received, to find \
             and replay it."
        }
    }
}

fn column_meaning(name: &str) -> &'static str {
    match name {
        "article_id" => "the producer's id",
        "title" | "author" => "as received",
        "publish_date" => "UTC; null when missing or unreadable",
        "content" => "the article text as received",
        "publish_date_raw" => "the date exactly as sent",
        "extra_json" => "fields beyond the article's five, as a JSON object",
        "summary" => "null only when summaries were off",
        "summary_word_count" => "words of the summary",
        "compression_ratio" => "summary words / article words",
        "summarizer" => "what wrote the summary: model, weight hash, parameters",
        "word_count" | "char_count" | "sentence_count" | "paragraph_count" => "of the content",
        "avg_word_length" => "letters and digits per word",
        "reading_time_seconds" => "at 238 words a minute",
        "content_sha256" => "SHA-256 of the content (hex)",
        "split" => "train, validation or test (the partition)",
        "stream" | "shard_id" | "sequence_number" | "partition_key" => "lineage in Kinesis",
        "arrival_time" => "when Kinesis received the record",
        "processed_at" => "when précis processed the record's chunk",
        "reason_code" | "reason" => "why the record is here",
        "payload_base64" => "the record's bytes",
        "payload_text" => "the same as UTF-8, when it is",
        _ => "",
    }
}

/// The card's text for the table as `summary` describes it.
pub fn render(kind: TableKind, summary: &TableSummary, summarizers: &BTreeSet<String>) -> String {
    let mut md = String::new();
    let name = kind.name();
    // Hugging Face reads the front matter; the licence of the text is that of its source.
    let _ = writeln!(md, "---\npretty_name: précis {name}\nlicense: other\nlicense_name: as received\ntask_categories:\n- summarization\nlanguage:\n- en\n---\n");
    let _ = writeln!(md, "# {name}\n\n{}\n", what_a_row_is(kind));
    let _ = writeln!(
        md,
        "A Delta Lake table written by précis. At version {}: {} rows in {} files.\n",
        summary.version, summary.total.rows, summary.total.files
    );
    if !summary.splits.is_empty() {
        let _ = writeln!(md, "## Splits\n\n| split | rows |\n| --- | --- |");
        for (split, part) in &summary.splits {
            let _ = writeln!(md, "| {split} | {} |", part.rows);
        }
        let _ = writeln!(
            md,
            "\nA row's split comes from a hash of its normalized content (lowercased, whitespace \
             collapsed), 90% train, 5% validation, 5% test: copies of one story never straddle two \
             splits, and reprocessing never moves a row.\n"
        );
    }
    if !summarizers.is_empty() {
        let _ = writeln!(md, "## Summarizers\n");
        for s in summarizers {
            let _ = writeln!(md, "- `{s}`");
        }
        let _ = writeln!(md);
    }
    let _ = writeln!(
        md,
        "## Columns\n\n| column | type | meaning |\n| --- | --- | --- |"
    );
    for field in kind.schema().fields() {
        let _ = writeln!(
            md,
            "| `{}` | {} | {} |",
            field.name(),
            field.data_type(),
            column_meaning(field.name())
        );
    }
    let _ = writeln!(
        md,
        "\n## Reading it\n\nRead the table through a Delta reader (the `deltalake` Python package, \
         polars `scan_delta`, DuckDB `delta_scan`, Spark): the directory also holds files of \
         older versions, which a plain listing would read twice. `precis tables` prints the \
         current version and the rows added since one a trainer read.\n\n## Licence\n\nThe text \
         is as received from the stream: its licence is that of its publisher. The features and \
         summaries are derived from it."
    );
    md
}

/// Writes the table's card from its current version.
pub async fn write_card(table: &DeltaTable, kind: TableKind) -> Result<()> {
    let files = table_files(table).await?;
    let summary = summarize_listed(table, kind, &files, 0).await?;
    let summarizers: BTreeSet<String> = files
        .into_iter()
        .flat_map(|f| [f.min_summarizer, f.max_summarizer])
        .flatten()
        .collect();
    let text = render(kind, &summary, &summarizers);
    table
        .object_store()
        .put(&deltalake::Path::from(CARD), text.into_bytes().into())
        .await
        .with_context(|| format!("writing the dataset card of {}", table.table_url()))?;
    remove_old_card(table).await;
    Ok(())
}

/// Earlier versions wrote the card as `README.md`, which readers opening the folder as Parquet
/// fail on: it is removed when it is précis's own card (and only then).
async fn remove_old_card(table: &DeltaTable) {
    let old = deltalake::Path::from("README.md");
    let Ok(found) = table.object_store().get(&old).await else {
        return;
    };
    let ours = found.bytes().await.is_ok_and(|b| {
        String::from_utf8_lossy(&b).contains("A Delta Lake table written by précis.")
    });
    if ours {
        if let Err(err) = table.object_store().delete(&old).await {
            tracing::warn!(
                "the old card README.md of {} was not removed: {err}",
                table.table_url()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maintenance::inventory::Part;

    #[test]
    fn the_card_names_every_column_the_splits_and_the_summarizers() {
        let summary = TableSummary {
            kind: TableKind::Summaries,
            name: "summaries".into(),
            path: "lake/summaries".into(),
            version: 7,
            total: Part {
                rows: 10,
                files: 2,
                bytes: 100,
            },
            splits: [(
                "train".to_string(),
                Part {
                    rows: 9,
                    files: 1,
                    bytes: 90,
                },
            )]
            .into_iter()
            .collect(),
            histogram: Default::default(),
            median_file_bytes: 50,
            commits: Vec::new(),
        };
        let summarizers = BTreeSet::from(["extractive:m@1".to_string()]);
        let card = render(TableKind::Summaries, &summary, &summarizers);
        for field in TableKind::Summaries.schema().fields() {
            assert!(
                card.contains(&format!("| `{}` |", field.name())),
                "{}",
                field.name()
            );
        }
        assert!(card.contains("At version 7: 10 rows in 2 files"));
        assert!(card.contains("| train | 9 |"));
        assert!(card.contains("- `extractive:m@1`"));
        assert!(card.starts_with("---\npretty_name: précis summaries"));
    }
}
