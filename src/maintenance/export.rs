//! A table's rows to a file a person or another tool opens: JSON Lines, Parquet or CSV by the
//! file's extension, at the latest version or an older one, filtered or not. Quarantined
//! payloads to JSON Lines are the payloads themselves, one a line, which `precis produce
//! --from-file` sends again byte for byte once fixed.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use arrow_array::cast::AsArray;
use arrow_array::RecordBatch;
use base64::Engine as _;
use parquet::arrow::ArrowWriter;

use super::files::table_files;
use super::predicate::Predicate;
use super::{file_batches, read_file};
use crate::pipeline::sink::lake::{Lake, TableKind, LAKE_PREFIX};

/// What the file's extension asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    JsonLines,
    Parquet,
    Csv,
}

impl Format {
    pub fn of(path: &Path) -> Result<Self> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_lowercase);
        match ext.as_deref() {
            Some("jsonl" | "ndjson" | "json") => Ok(Format::JsonLines),
            Some("parquet") => Ok(Format::Parquet),
            Some("csv") => Ok(Format::Csv),
            _ => bail!(
                "{}: the extension says the format: .jsonl (JSON Lines), .parquet or .csv",
                path.display()
            ),
        }
    }
}

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportJob {
    /// `lake/<table>`.
    pub path: String,
    pub version: Option<i64>,
    pub predicate: Option<Predicate>,
    /// [`Format::of`] the file.
    pub format: Format,
    pub to: PathBuf,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportReport {
    pub version: i64,
    pub rows: u64,
    pub files_read: usize,
    /// Quarantined payloads with a line break, which a JSON Lines file cannot hold as one line:
    /// their sequence numbers.
    pub multi_line: Vec<String>,
}

enum Writer {
    Json(arrow_json::LineDelimitedWriter<BufWriter<File>>),
    Parquet(ArrowWriter<File>),
    Csv(arrow_csv::Writer<BufWriter<File>>),
    /// Quarantined payloads, one a line.
    Payloads(BufWriter<File>),
}

impl Writer {
    /// Writes the batch's rows; returns how many went into the file.
    fn write(&mut self, batch: &RecordBatch, multi_line: &mut Vec<String>) -> Result<u64> {
        let rows = batch.num_rows() as u64;
        match self {
            Writer::Json(w) => w.write(batch)?,
            Writer::Parquet(w) => w.write(batch)?,
            Writer::Csv(w) => w.write(batch)?,
            Writer::Payloads(w) => {
                let mut written = 0;
                let column = |name: &str| {
                    batch
                        .column_by_name(name)
                        .with_context(|| format!("the quarantine rows have no {name}"))
                };
                let payloads = column("payload_base64")?.as_string::<i32>();
                let sequences = column("sequence_number")?.as_string::<i32>();
                for (payload, sequence) in payloads.iter().zip(sequences.iter()) {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(payload.unwrap_or_default())
                        .context("a quarantined payload is not base64")?;
                    // `produce --from-file` reads a line up to its break, trims trailing CR and
                    // LF, and skips blank lines: such payloads would not come back the same.
                    let keeps = !bytes.contains(&b'\n')
                        && bytes.last() != Some(&b'\r')
                        && !bytes.iter().all(u8::is_ascii_whitespace);
                    if keeps {
                        w.write_all(&bytes)?;
                        w.write_all(b"\n")?;
                        written += 1;
                    } else {
                        multi_line.push(sequence.unwrap_or_default().to_string());
                    }
                }
                return Ok(written);
            }
        }
        Ok(rows)
    }

    fn finish(self) -> Result<()> {
        match self {
            Writer::Json(mut w) => {
                w.finish()?;
                w.into_inner().flush()?;
            }
            Writer::Parquet(w) => {
                w.close()?;
            }
            Writer::Csv(w) => w.into_inner().flush()?,
            Writer::Payloads(mut w) => w.flush()?,
        }
        Ok(())
    }
}

/// Where the file is written until it is whole: a failed export leaves no half file behind
/// under the name asked for, and none at all once this is dropped unnamed (an error, or the
/// export's task dropped when the console quits).
struct Partial(PathBuf);

impl Partial {
    fn of(to: &Path) -> Self {
        let mut name = to.as_os_str().to_owned();
        name.push(".partial");
        Partial(PathBuf::from(name))
    }

    /// The file, whole, under the name asked for.
    fn name(self, to: &Path) -> Result<()> {
        std::fs::rename(&self.0, to).with_context(|| format!("naming {}", to.display()))
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Exports `job`, calling `progress(files read, files)` as it goes.
pub async fn export(
    lake: &Lake,
    job: &ExportJob,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<ExportReport> {
    let bare = job.path.trim_start_matches(LAKE_PREFIX);
    // A candidate table has the summaries table's schema.
    let kind = TableKind::parse(bare).unwrap_or(TableKind::Summaries);
    let table = lake.open_existing(&job.path, job.version).await?;
    let version = table.version().map_or(0, |v| v as i64);
    let files = table_files(&table).await?;
    let temp = Partial::of(&job.to);
    let file = File::create(&temp.0).with_context(|| format!("creating {}", temp.0.display()))?;
    let schema = kind.schema();
    let mut writer = match (job.format, kind) {
        (Format::JsonLines, TableKind::Quarantine) => Writer::Payloads(BufWriter::new(file)),
        (Format::JsonLines, _) => {
            Writer::Json(arrow_json::LineDelimitedWriter::new(BufWriter::new(file)))
        }
        (Format::Parquet, _) => Writer::Parquet(ArrowWriter::try_new(file, schema, None)?),
        (Format::Csv, _) => Writer::Csv(arrow_csv::Writer::new(BufWriter::new(file))),
    };
    let mut report = ExportReport {
        version,
        ..ExportReport::default()
    };
    let written = async {
        for (i, file) in files.iter().enumerate() {
            progress(i, files.len());
            let body = read_file(&table, &file.path).await?;
            for batch in file_batches(kind, file, body)? {
                let batch = match &job.predicate {
                    Some(p) => arrow_select::filter::filter_record_batch(&batch, &p.mask(&batch)?)?,
                    None => batch,
                };
                report.rows += writer.write(&batch, &mut report.multi_line)?;
            }
            report.files_read += 1;
        }
        progress(files.len(), files.len());
        writer.finish()
    }
    .await;
    written.and_then(|()| temp.name(&job.to))?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_file_dropped_unnamed_is_removed_and_a_named_one_kept() {
        let dir = tempfile::tempdir().unwrap();
        let to = dir.path().join("rows.jsonl");
        let dropped = Partial::of(&to);
        std::fs::write(&dropped.0, "half").unwrap();
        drop(dropped);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

        let named = Partial::of(&to);
        std::fs::write(&named.0, "whole").unwrap();
        named.name(&to).unwrap();
        assert_eq!(std::fs::read_to_string(&to).unwrap(), "whole");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn the_extension_names_the_format() {
        assert_eq!(Format::of(Path::new("a.jsonl")).unwrap(), Format::JsonLines);
        assert_eq!(Format::of(Path::new("a.PARQUET")).unwrap(), Format::Parquet);
        assert_eq!(Format::of(Path::new("dir/a.csv")).unwrap(), Format::Csv);
        let err = Format::of(Path::new("a.xlsx")).unwrap_err().to_string();
        assert!(err.contains(".jsonl"), "{err}");
    }
}
