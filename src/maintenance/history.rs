//! A table's whole history (every version the log keeps, with what made it), and two summarizers
//! compared on the same rows: the rows a rewrite replaced against those it wrote, or a candidate
//! table against the summaries table.

use std::collections::HashMap;

use anyhow::{bail, Context, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type};
use arrow_array::{Array, RecordBatch};
use deltalake::DeltaTable;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use super::files::table_files;
use super::inventory::{commit_entries, commit_summary, log_actions, CommitSummary};
use super::read_file;
use crate::pipeline::sink::lake::{Lake, TableKind};

/// Every commit the table's log still holds, oldest first. Commits older than the log's
/// retention are gone and skipped (the table starts at its oldest checkpoint then).
pub async fn history(table: &DeltaTable) -> Result<Vec<CommitSummary>> {
    let latest = table.version().context("the table has no version")?;
    commit_entries(table, 0, i64::try_from(latest).unwrap_or(i64::MAX))
        .await?
        .into_iter()
        .filter_map(|(version, entry)| Some(commit_summary(version, &entry?)))
        .collect()
}

/// One summaries row, as a comparison reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    pub article_id: String,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub words: Option<i32>,
    pub compression: Option<f64>,
    pub summarizer: String,
}

/// The columns a comparison reads.
const COLUMNS: [&str; 6] = [
    "article_id",
    "title",
    "summary",
    "summary_word_count",
    "compression_ratio",
    "summarizer",
];

/// Rows of summaries-table batches.
fn summary_rows(batches: &[RecordBatch]) -> Result<Vec<SummaryRow>> {
    let mut out = Vec::new();
    for batch in batches {
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .with_context(|| format!("the rows have no {name} column: not a summaries table"))
        };
        let ids = column("article_id")?.as_string::<i32>();
        let titles = column("title")?.as_string::<i32>();
        let summaries = column("summary")?.as_string::<i32>();
        let words = column("summary_word_count")?.as_primitive::<Int32Type>();
        let ratios = column("compression_ratio")?.as_primitive::<Float64Type>();
        let summarizers = column("summarizer")?.as_string::<i32>();
        for i in 0..batch.num_rows() {
            let text = |a: &arrow_array::StringArray| a.is_valid(i).then(|| a.value(i).to_string());
            out.push(SummaryRow {
                article_id: ids.value(i).to_string(),
                title: text(titles),
                summary: text(summaries),
                words: words.is_valid(i).then(|| words.value(i)),
                compression: ratios.is_valid(i).then(|| ratios.value(i)),
                summarizer: summarizers.value(i).to_string(),
            });
        }
    }
    Ok(out)
}

/// One side of a comparison: which summarizers wrote its rows and what their summaries are like.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Side {
    /// Summarizer ids, the most rows first.
    pub summarizers: Vec<(String, usize)>,
    /// Mean words per summary, over the rows with one.
    pub mean_words: f64,
    /// Mean summary words over article words, over the rows with one.
    pub mean_compression: f64,
    /// Rows without a summary.
    pub empty: usize,
}

/// One article's summary on each side.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    pub article_id: String,
    pub title: Option<String>,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// Two summarizers on the same rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Rows present on both sides (by article id).
    pub rows: usize,
    /// Of those, the rows whose summary or summarizer differs.
    pub changed: usize,
    pub old: Side,
    pub new: Side,
    /// Every row on both sides, the changed ones first, then by article id.
    pub pairs: Vec<Pair>,
}

impl Comparison {
    pub fn changed_share(&self) -> f64 {
        if self.rows == 0 {
            0.0
        } else {
            self.changed as f64 / self.rows as f64
        }
    }

    /// The first figures, as one line.
    pub fn headline(&self) -> String {
        format!(
            "{} rows on both sides, {} changed ({:.1}%)",
            self.rows,
            self.changed,
            100.0 * self.changed_share()
        )
    }
}

impl Side {
    /// Its summarizers with their rows, then the figures, as one line.
    pub fn text(&self) -> String {
        let by: Vec<String> = self
            .summarizers
            .iter()
            .map(|(id, n)| format!("{id} ({n})"))
            .collect();
        format!(
            "{}; mean {:.1} words, compression {:.3}, {} without a summary",
            by.join(", "),
            self.mean_words,
            self.mean_compression,
            self.empty
        )
    }
}

fn side(rows: &[&SummaryRow]) -> Side {
    let mut by: HashMap<&str, usize> = HashMap::new();
    for row in rows {
        *by.entry(&row.summarizer).or_default() += 1;
    }
    let mut summarizers: Vec<(String, usize)> =
        by.into_iter().map(|(s, n)| (s.to_string(), n)).collect();
    summarizers.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mean = |values: Vec<f64>| {
        if values.is_empty() {
            0.0
        } else {
            values.iter().sum::<f64>() / values.len() as f64
        }
    };
    Side {
        summarizers,
        mean_words: mean(rows.iter().filter_map(|r| r.words).map(f64::from).collect()),
        mean_compression: mean(rows.iter().filter_map(|r| r.compression).collect()),
        empty: rows.iter().filter(|r| r.summary.is_none()).count(),
    }
}

/// The rows of `old` and `new` with the same article id, side by side.
pub fn compare(old: &[SummaryRow], new: &[SummaryRow]) -> Comparison {
    let before: HashMap<&str, &SummaryRow> =
        old.iter().map(|r| (r.article_id.as_str(), r)).collect();
    let mut both: Vec<(&SummaryRow, &SummaryRow)> = new
        .iter()
        .filter_map(|n| Some((*before.get(n.article_id.as_str())?, n)))
        .collect();
    let differs = |(o, n): &(&SummaryRow, &SummaryRow)| {
        o.summary != n.summary || o.summarizer != n.summarizer
    };
    both.sort_by(|a, b| {
        differs(b)
            .cmp(&differs(a))
            .then(a.1.article_id.cmp(&b.1.article_id))
    });
    let changed = both.iter().filter(|pair| differs(pair)).count();
    Comparison {
        rows: both.len(),
        changed,
        old: side(&both.iter().map(|(o, _)| *o).collect::<Vec<_>>()),
        new: side(&both.iter().map(|(_, n)| *n).collect::<Vec<_>>()),
        pairs: both
            .iter()
            .map(|(o, n)| Pair {
                article_id: n.article_id.clone(),
                title: n.title.clone(),
                old: o.summary.clone(),
                new: n.summary.clone(),
            })
            .collect(),
    }
}

/// The files a commit removed and added, from its log entry.
async fn commit_files(table: &DeltaTable, version: i64) -> Result<(Vec<String>, Vec<String>)> {
    let entry = commit_entries(table, version, version)
        .await?
        .pop()
        .and_then(|(_, entry)| entry)
        .with_context(|| format!("commit {version} is not in the table's log"))?;
    let (mut removed, mut added) = (Vec::new(), Vec::new());
    for action in log_actions(version, &entry)? {
        let path = |kind: &str| Some(action.get(kind)?.get("path")?.as_str()?.to_string());
        if let Some(path) = path("remove") {
            removed.push(path);
        } else if let Some(path) = path("add") {
            added.push(path);
        }
    }
    Ok((removed, added))
}

/// The summaries rows of some of the table's files (by their log paths, URL-encoded).
async fn rows_of_files(table: &DeltaTable, paths: &[String]) -> Result<Vec<SummaryRow>> {
    let mut rows = Vec::new();
    for path in paths {
        let body = read_file(table, path).await.with_context(|| {
            format!("{path} is gone: `precis vacuum` deletes the files only older versions need")
        })?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(body)
            .with_context(|| format!("reading {path} as Parquet"))?;
        let schema = builder.parquet_schema();
        let wanted: Vec<usize> = (0..schema.num_columns())
            .filter(|&i| COLUMNS.contains(&schema.column(i).name()))
            .collect();
        let mask = ProjectionMask::leaves(schema, wanted);
        let batches: Vec<RecordBatch> = builder
            .with_projection(mask)
            .build()
            .and_then(|reader| reader.collect::<Result<_, _>>().map_err(Into::into))
            .with_context(|| format!("reading the rows of {path}"))?;
        rows.extend(summary_rows(&batches)?);
    }
    Ok(rows)
}

/// Two summarizers on the same rows of the table at `path`: what its version `version` (a
/// rewrite) changed, or (None) the candidate table against the summaries table.
pub async fn comparison(lake: &Lake, path: &str, version: Option<i64>) -> Result<Comparison> {
    let table = lake.open_existing(path, None).await?;
    match version {
        Some(version) => rewrite_comparison(&table, version).await,
        None => {
            let summaries = lake
                .open_existing(&TableKind::Summaries.path(), None)
                .await?;
            candidate_comparison(&summaries, &table).await
        }
    }
}

/// What a rewrite (reprocess, backfill) changed: the rows of the files it removed against the
/// rows of those it wrote.
async fn rewrite_comparison(table: &DeltaTable, version: i64) -> Result<Comparison> {
    let (removed, added) = commit_files(table, version).await?;
    if removed.is_empty() || added.is_empty() {
        bail!(
            "version {version} did not replace rows (it removed {} and added {} files): only a \
             reprocess or a backfill can be compared",
            removed.len(),
            added.len()
        );
    }
    let old = rows_of_files(table, &removed).await?;
    let new = rows_of_files(table, &added).await?;
    Ok(compare(&old, &new))
}

/// A candidate table (a backfill's `--into`) against the summaries table, on the rows both hold.
async fn candidate_comparison(
    summaries: &DeltaTable,
    candidate: &DeltaTable,
) -> Result<Comparison> {
    let paths = |files: Vec<super::files::TableFile>| -> Vec<String> {
        files.into_iter().map(|f| f.path).collect()
    };
    let new = rows_of_files(candidate, &paths(table_files(candidate).await?)).await?;
    let old = rows_of_files(summaries, &paths(table_files(summaries).await?)).await?;
    Ok(compare(&old, &new))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, summary: Option<&str>, words: i32, by: &str) -> SummaryRow {
        SummaryRow {
            article_id: id.into(),
            title: Some(format!("title {id}")),
            summary: summary.map(str::to_string),
            words: summary.map(|_| words),
            compression: summary.map(|_| f64::from(words) / 100.0),
            summarizer: by.into(),
        }
    }

    #[test]
    fn a_comparison_pairs_rows_by_article_and_puts_the_changed_first() {
        let old = [
            row("a", Some("same"), 10, "x"),
            row("b", None, 0, "none"),
            row("c", Some("old c"), 20, "x"),
            row("only-old", Some("gone"), 5, "x"),
        ];
        let new = [
            row("a", Some("same"), 10, "x"),
            row("b", Some("new b"), 30, "y"),
            row("c", Some("new c"), 40, "y"),
            row("only-new", Some("fresh"), 5, "y"),
        ];
        let c = compare(&old, &new);
        assert_eq!((c.rows, c.changed), (3, 2));
        assert!((c.changed_share() - 2.0 / 3.0).abs() < 1e-9);
        let ids: Vec<&str> = c.pairs.iter().map(|p| p.article_id.as_str()).collect();
        assert_eq!(ids, ["b", "c", "a"]);
        assert_eq!(c.pairs[0].old, None);
        assert_eq!(c.pairs[0].new.as_deref(), Some("new b"));
    }

    #[test]
    fn each_side_reports_its_summarizers_and_mean_lengths() {
        let old = [row("a", Some("s"), 10, "x"), row("b", None, 0, "none")];
        let new = [row("a", Some("s"), 30, "y"), row("b", Some("t"), 50, "y")];
        let c = compare(&old, &new);
        assert_eq!(c.old.summarizers, [("none".into(), 1), ("x".into(), 1)]);
        assert_eq!(c.old.empty, 1);
        assert!((c.old.mean_words - 10.0).abs() < 1e-9);
        assert_eq!(c.new.summarizers, [("y".into(), 2)]);
        assert!((c.new.mean_words - 40.0).abs() < 1e-9);
        assert!((c.new.mean_compression - 0.4).abs() < 1e-9);
    }
}
