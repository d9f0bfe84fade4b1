//! Where produced records come from: the generator, or a JSON Lines file replayed byte for byte.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::batch::{Entry, MAX_BYTES_PER_RECORD, MAX_PARTITION_KEY_CHARS};
use super::newsgen::NewsGenerator;

/// A record that cannot be put, with where it came from and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub line: u64,
    pub reason: String,
}

pub enum Item {
    Record(Entry),
    Skip(Skipped),
}

/// The records of one `produce` run, in order.
pub enum RecordSource {
    Generated {
        generator: Box<NewsGenerator>,
        remaining: u64,
    },
    File {
        path: PathBuf,
        reader: BufReader<File>,
        line: u64,
        remaining: Option<u64>,
    },
}

impl RecordSource {
    pub fn generated(generator: NewsGenerator, count: u64) -> Self {
        RecordSource::Generated {
            generator: Box::new(generator),
            remaining: count,
        }
    }

    /// Every non-blank line of `path` becomes one record, unchanged, up to `limit` records.
    pub fn file(path: &Path, limit: Option<u64>) -> Result<Self> {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        Ok(RecordSource::File {
            path: path.to_path_buf(),
            reader: BufReader::new(file),
            line: 0,
            remaining: limit,
        })
    }

    /// Records this source will yield, when known without reading it.
    pub fn len_hint(&self) -> Option<u64> {
        match self {
            RecordSource::Generated { remaining, .. } => Some(*remaining),
            RecordSource::File { .. } => None,
        }
    }

    pub fn next_item(&mut self) -> Result<Option<Item>> {
        match self {
            RecordSource::Generated {
                generator,
                remaining,
            } => {
                if *remaining == 0 {
                    return Ok(None);
                }
                *remaining -= 1;
                let article = generator.next_article();
                let data = serde_json::to_vec(&article)?;
                Ok(Some(Item::Record(Entry {
                    partition_key: article.article_id,
                    data,
                })))
            }
            RecordSource::File {
                path,
                reader,
                line,
                remaining,
            } => {
                if *remaining == Some(0) {
                    return Ok(None);
                }
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    let read = reader
                        .read_until(b'\n', &mut buf)
                        .with_context(|| format!("reading {}", path.display()))?;
                    if read == 0 {
                        return Ok(None);
                    }
                    *line += 1;
                    while matches!(buf.last(), Some(b'\n' | b'\r')) {
                        buf.pop();
                    }
                    if !buf.iter().all(u8::is_ascii_whitespace) {
                        break;
                    }
                }
                if let Some(left) = remaining.as_mut() {
                    *left -= 1;
                }
                Ok(Some(line_to_item(buf, *line)))
            }
        }
    }
}

/// The partition key is the line's `article_id` when it has a usable one, so that replays of the
/// same file land on the same shards; otherwise a key derived from the line number.
fn line_to_item(data: Vec<u8>, line: u64) -> Item {
    let partition_key = serde_json::from_slice::<serde_json::Value>(&data)
        .ok()
        .and_then(|v| v.get("article_id")?.as_str().map(str::to_owned))
        .filter(|id| !id.is_empty() && id.chars().count() <= MAX_PARTITION_KEY_CHARS)
        .unwrap_or_else(|| format!("line-{line}"));
    let entry = Entry {
        partition_key,
        data,
    };
    if entry.size() > MAX_BYTES_PER_RECORD {
        return Item::Skip(Skipped {
            line,
            reason: format!(
                "{} bytes is over Kinesis's 1 MiB record limit",
                entry.size()
            ),
        });
    }
    Item::Record(entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn source_from(text: &[u8], limit: Option<u64>) -> (tempfile::NamedTempFile, RecordSource) {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text).unwrap();
        let source = RecordSource::file(file.path(), limit).unwrap();
        (file, source)
    }

    fn drain(source: &mut RecordSource) -> Vec<Item> {
        std::iter::from_fn(|| source.next_item().unwrap()).collect()
    }

    #[test]
    fn each_nonblank_line_is_one_record_sent_unchanged() {
        let (_f, mut source) = source_from(
            b"{\"article_id\":\"a\",\"x\":1}\r\n\n   \n{\"article_id\":\"b\"}\n",
            None,
        );
        let items = drain(&mut source);
        let records: Vec<Entry> = items
            .into_iter()
            .map(|i| match i {
                Item::Record(e) => e,
                Item::Skip(s) => panic!("skipped {s:?}"),
            })
            .collect();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].data, b"{\"article_id\":\"a\",\"x\":1}");
        assert_eq!(records[0].partition_key, "a");
        assert_eq!(records[1].partition_key, "b");
    }

    #[test]
    fn lines_without_an_article_id_are_keyed_by_line_number() {
        let (_f, mut source) = source_from(b"not json\n{\"article_id\":\"\"}\n\xff\xfe\n", None);
        let keys: Vec<String> = drain(&mut source)
            .into_iter()
            .map(|i| match i {
                Item::Record(e) => e.partition_key,
                Item::Skip(_) => panic!("skipped"),
            })
            .collect();
        assert_eq!(keys, ["line-1", "line-2", "line-3"]);
    }

    #[test]
    fn oversized_lines_are_skipped_with_their_line_number() {
        let mut text = b"{\"article_id\":\"ok\"}\n".to_vec();
        text.extend(vec![b'a'; MAX_BYTES_PER_RECORD + 1]);
        text.push(b'\n');
        let (_f, mut source) = source_from(&text, None);
        let items = drain(&mut source);
        assert!(matches!(&items[0], Item::Record(_)));
        match &items[1] {
            Item::Skip(s) => assert_eq!(s.line, 2),
            Item::Record(_) => panic!("oversized record was not skipped"),
        }
    }

    #[test]
    fn limit_caps_the_number_of_records() {
        let (_f, mut source) = source_from(b"{}\n{}\n{}\n", Some(2));
        assert_eq!(drain(&mut source).len(), 2);
    }

    #[test]
    fn missing_file_is_a_clear_error() {
        let err = RecordSource::file(Path::new("/nonexistent/a.jsonl"), None)
            .err()
            .unwrap();
        assert!(err.to_string().contains("/nonexistent/a.jsonl"));
    }
}
