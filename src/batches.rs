//! The pipeline's features and summaries over Arrow batches, for callers outside the pipeline
//! (the Python package): the same code and the same columns as the summaries table.

use std::sync::Arc;

use anyhow::{Context, Result};
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::pipeline::features::Features;
use crate::pipeline::sink::parquet::{
    feature_columns, feature_fields, summary_columns, summary_fields, SPLIT_COLUMN,
};
use crate::summarize::pool::{Cancel, SummarizerPool};
use crate::summarize::Document;

fn text_column<'a>(batch: &'a RecordBatch, name: &str) -> Result<Option<&'a StringArray>> {
    batch
        .column_by_name(name)
        .map(|c| {
            c.as_string_opt::<i32>()
                .with_context(|| format!("column {name} is not text (utf8)"))
        })
        .transpose()
}

fn contents(batch: &RecordBatch) -> Result<&StringArray> {
    text_column(batch, "content")?.context("the articles need a text column named content")
}

/// The batch with `columns` added, replacing any of the same name.
fn with_columns(
    batch: &RecordBatch,
    fields: Vec<Field>,
    columns: Vec<ArrayRef>,
) -> Result<RecordBatch> {
    let mut out_fields = Vec::new();
    let mut out_columns = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if !fields.iter().any(|f| f.name() == field.name()) {
            out_fields.push(field.as_ref().clone());
            out_columns.push(column.clone());
        }
    }
    out_fields.extend(fields);
    out_columns.extend(columns);
    RecordBatch::try_new(Arc::new(Schema::new(out_fields)), out_columns)
        .context("adding the new columns")
}

/// The batches as one (an engine hands over tables of many chunks).
pub fn concat(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<RecordBatch> {
    arrow_select::concat::concat_batches(schema, batches).context("joining the batches")
}

/// The batch with the summaries table's feature columns and split, from its `content`.
pub fn with_features(batch: &RecordBatch) -> Result<RecordBatch> {
    let contents = contents(batch)?;
    let features: Vec<Features> = contents
        .iter()
        .map(|c| Features::of(c.unwrap_or("")))
        .collect();
    let mut fields = feature_fields();
    fields.push(Field::new(SPLIT_COLUMN, DataType::Utf8, false));
    let mut columns = feature_columns(features.iter());
    columns.push(Arc::new(StringArray::from_iter_values(
        features.iter().map(|f| f.split.as_str()),
    )));
    with_columns(batch, fields, columns)
}

/// The batch with the summaries table's summary columns, from its `content` (and `title`, when
/// it has one), summarized by `pool` (None: summaries off, as `--summarizer none` writes them).
/// Blocks: call it from a blocking thread.
pub fn with_summaries(batch: &RecordBatch, pool: Option<&SummarizerPool>) -> Result<RecordBatch> {
    let contents = contents(batch)?;
    let titles = text_column(batch, "title")?;
    let docs: Vec<Document<'_>> = (0..batch.num_rows())
        .map(|i| Document {
            title: titles.filter(|t| t.is_valid(i)).map(|t| t.value(i)),
            content: if contents.is_valid(i) {
                contents.value(i)
            } else {
                ""
            },
        })
        .collect();
    let summaries = match pool {
        Some(pool) => pool
            .summarize_blocking(&docs, &Cancel::default())?
            .into_iter()
            .map(Some)
            .collect(),
        None => vec![None; docs.len()],
    };
    let words: Vec<u32> = docs
        .iter()
        .map(|d| u32::try_from(crate::text::word_count(d.content)).unwrap_or(u32::MAX))
        .collect();
    let columns = summary_columns(
        summaries
            .iter()
            .map(Option::as_ref)
            .zip(words.iter().copied()),
    );
    with_columns(batch, summary_fields(), columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::types::Int32Type;

    fn articles() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("content", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec!["a", "b"])),
                Arc::new(StringArray::from(vec![
                    Some("One two three. Four five."),
                    None,
                ])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn features_are_the_pipelines_for_the_same_content() {
        let out = with_features(&articles()).unwrap();
        let expected = Features::of("One two three. Four five.");
        let words = out
            .column_by_name("word_count")
            .unwrap()
            .as_primitive::<Int32Type>();
        assert_eq!(words.value(0) as u32, expected.word_count);
        assert_eq!(words.value(1), 0, "a null content is an empty article");
        let split = out.column_by_name("split").unwrap().as_string::<i32>();
        assert_eq!(split.value(0), expected.split.as_str());
        assert!(out.column_by_name("id").is_some(), "the input columns stay");
    }

    #[test]
    fn without_a_summarizer_the_summary_columns_say_none() {
        let out = with_summaries(&articles(), None).unwrap();
        let summarizer = out.column_by_name("summarizer").unwrap().as_string::<i32>();
        assert_eq!(summarizer.value(0), "none");
        assert!(out.column_by_name("summary").unwrap().is_null(0));
    }

    #[test]
    fn a_batch_without_content_is_refused_with_what_it_needs() {
        let schema = Arc::new(Schema::new(vec![Field::new("text", DataType::Utf8, false)]));
        let batch =
            RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(vec!["x"]))]).unwrap();
        let err = with_features(&batch).unwrap_err().to_string();
        assert!(err.contains("a text column named content"), "{err}");
    }
}
