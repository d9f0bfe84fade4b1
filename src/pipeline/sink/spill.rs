//! Where a chunk waits on local disk instead of in memory: its parsed rows until the cut (those
//! of partitions not encoded as they are read, `live.rs`), and each of its encoded objects from
//! encoding until upload.
//!
//! A shard's chunk is up to `--flush-mib` of text (32 MiB by default). Held in memory as rows
//! and then as encoded files, it made a worker's peak memory grow with how full its chunks
//! got, so with the backlog until the first full chunk. On disk (the page cache, not the
//! process) the memory a chunk costs is a row batch and a row group an encoder, whatever its
//! size (live encoders, at most two a chunk, are bounded over all shards).
//!
//! Files live in the system's temporary directory (`TMPDIR`): rows in an unnamed file that
//! disappears with the process, encoded objects in `precis-object-*` files deleted once they
//! are uploaded (those encoded while read, once their chunk is; a killed process can leave the
//! few that were in flight).

use std::fs::File;
use std::io::{BufWriter, Write};

use anyhow::{bail, Context, Result};
use aws_sdk_s3::primitives::{ByteStream, Length};
use bytes::Bytes;
use chrono::{DateTime, NaiveDateTime, Utc};
use tempfile::{NamedTempFile, TempPath};

use crate::pipeline::features::{Features, Split};
use crate::pipeline::record::ValidArticle;
use crate::pipeline::rows::ArticleRow;
use crate::summarize::pool::Summarized;

/// Where one spilled item lies in its spill file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    offset: u64,
    len: u32,
}

/// What a failed creation of a spill, object or index file says: where, and what to do.
pub(super) fn temp_dir_error() -> String {
    format!(
        "creating a temporary file in {} (set TMPDIR to a writable directory on disk)",
        std::env::temp_dir().display()
    )
}

/// What a failed write to a spill, object or index file says: where, and what to do.
pub(super) fn write_error() -> String {
    format!(
        "writing a temporary file in {} (free space there, or set TMPDIR to a larger disk)",
        std::env::temp_dir().display()
    )
}

fn io_write_error(err: std::io::Error) -> std::io::Error {
    std::io::Error::new(err.kind(), format!("{}: {err}", write_error()))
}

const OBJECT_FILE_PREFIX: &str = "precis-object-";

/// An object file this old was left by a process that was killed: one lives from its encoding
/// (for an object encoded while read, its chunk's first pages) to the end of its chunk's
/// upload retries: a flush age and minutes of retries at most.
const STALE_OBJECT_FILE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// At start: fails with what to do when no spill file can be made (not at the first cut),
/// deletes object files a killed run left, and returns a warning when the directory is memory.
pub fn check_temp_dir() -> Result<Option<String>> {
    tempfile::tempfile().with_context(temp_dir_error)?;
    tempfile::Builder::new()
        .prefix(OBJECT_FILE_PREFIX)
        .tempfile()
        .with_context(temp_dir_error)?;
    let dir = std::env::temp_dir();
    remove_stale_object_files(&dir, STALE_OBJECT_FILE);
    Ok(on_tmpfs(&dir).then(|| {
        format!(
            "{} is a tmpfs: chunks waiting for upload and the duplicate index (up to ~24 MiB) will be held in memory there; set TMPDIR to a directory on disk",
            dir.display()
        )
    }))
}

/// Deletes `precis-object-*` files in `dir` not modified for `age`; returns how many.
fn remove_stale_object_files(dir: &std::path::Path, age: std::time::Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .starts_with(OBJECT_FILE_PREFIX)
        })
        .filter(|entry| {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|modified| modified.elapsed().is_ok_and(|e| e > age))
        })
        .filter(|entry| std::fs::remove_file(entry.path()).is_ok())
        .count()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn on_tmpfs(dir: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    const TMPFS_MAGIC: libc::c_long = 0x0102_1994;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `path` is a NUL-terminated string and `stat` a valid place for statfs to fill.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::statfs(path.as_ptr(), &mut stat) } == 0;
    ok && stat.f_type == TMPFS_MAGIC
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn on_tmpfs(_dir: &std::path::Path) -> bool {
    false
}

/// A chunk's items, appended while it is read.
pub struct Spill {
    file: BufWriter<File>,
    len: u64,
    scratch: Vec<u8>,
}

impl Spill {
    pub fn new() -> Result<Self> {
        let file = tempfile::tempfile().with_context(temp_dir_error)?;
        Ok(Self {
            file: BufWriter::with_capacity(256 * 1024, file),
            len: 0,
            scratch: Vec::new(),
        })
    }

    pub fn push(&mut self, bytes: &[u8]) -> Result<Span> {
        let len = u32::try_from(bytes.len()).context("a spilled item over 4 GiB")?;
        self.file.write_all(bytes).with_context(write_error)?;
        let span = Span {
            offset: self.len,
            len,
        };
        self.len += u64::from(len);
        Ok(span)
    }

    /// Appends a row as it was parsed; its summary, if any, is not kept (summaries are made at
    /// the cut and spilled apart, `push_summary`).
    pub fn push_row(&mut self, row: &ArticleRow) -> Result<Span> {
        self.push_encoded(|out| encode_row(row, out))
    }

    /// Appends a summary (its text and the summarizer that made it).
    pub fn push_summary(&mut self, summary: &Summarized) -> Result<Span> {
        self.push_encoded(|out| {
            put_str(out, &summary.text);
            put_str(out, &summary.summarizer);
        })
    }

    /// Appends what `encode` writes, through one reused buffer.
    fn push_encoded(&mut self, encode: impl FnOnce(&mut Vec<u8>)) -> Result<Span> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        encode(&mut scratch);
        let span = self.push(&scratch);
        self.scratch = scratch;
        span
    }

    /// Ends appending; what was spilled can now be read back, by any number of threads.
    pub fn finish(self) -> Result<SpillFile> {
        let file = self
            .file
            .into_inner()
            .map_err(|err| err.into_error())
            .with_context(write_error)?;
        Ok(SpillFile { file })
    }
}

/// A finished spill, read back item by item.
pub struct SpillFile {
    file: File,
}

impl SpillFile {
    pub fn read(&self, span: Span) -> Result<Vec<u8>> {
        let mut bytes = vec![0u8; span.len as usize];
        read_exact_at(&self.file, &mut bytes, span.offset)
            .context("reading the chunk's spill file")?;
        Ok(bytes)
    }

    /// The rows at `spans`, in their order.
    pub fn rows(&self, spans: &[Span]) -> Result<Vec<ArticleRow>> {
        self.items(spans, decode_row)
    }

    /// The summaries at `spans`, in their order.
    pub fn summaries(&self, spans: &[Span]) -> Result<Vec<Summarized>> {
        self.items(spans, decode_summary)
    }

    /// The items at `spans`, in their order; spans that follow each other in the file are read
    /// with one call (a partition's rows mostly do).
    fn items<T>(&self, spans: &[Span], decode: impl Fn(&[u8]) -> Result<T>) -> Result<Vec<T>> {
        let mut items = Vec::with_capacity(spans.len());
        let mut rest = spans;
        while let Some(first) = rest.first() {
            let (mut end, mut run) = (first.offset + u64::from(first.len), 1);
            while let Some(next) = rest.get(run).filter(|next| next.offset == end) {
                end += u64::from(next.len);
                run += 1;
            }
            let bytes = self.read(Span {
                offset: first.offset,
                len: u32::try_from(end - first.offset).context("a spill read over 4 GiB")?,
            })?;
            for span in &rest[..run] {
                let at = (span.offset - first.offset) as usize;
                items.push(
                    decode(&bytes[at..at + span.len as usize])
                        .context("an item in the chunk's spill file is unreadable")?,
                );
            }
            rest = &rest[run..];
        }
        Ok(items)
    }
}

#[cfg(unix)]
pub(super) fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
pub(super) fn read_exact_at(
    file: &File,
    mut buf: &mut [u8],
    mut offset: u64,
) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, offset)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

/// Encoded objects this small stay in memory: a chunk spread over a year of publish dates is
/// hundreds of files of ~10 KB, not worth a file each.
pub const OBJECT_MEMORY_LIMIT: usize = 256 * 1024;

/// Where an object is encoded: memory up to [`OBJECT_MEMORY_LIMIT`], a temporary file past it.
#[derive(Default)]
pub struct ObjectBuffer {
    memory: Vec<u8>,
    file: Option<BufWriter<NamedTempFile>>,
    len: u64,
}

impl Write for ObjectBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all_bytes(buf).map_err(io_write_error)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.file {
            Some(file) => file.flush().map_err(io_write_error),
            None => Ok(()),
        }
    }
}

impl ObjectBuffer {
    fn write_all_bytes(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if self.file.is_none() && self.memory.len() + buf.len() > OBJECT_MEMORY_LIMIT {
            let named = tempfile::Builder::new()
                .prefix(OBJECT_FILE_PREFIX)
                .tempfile()?;
            let mut file = BufWriter::with_capacity(256 * 1024, named);
            file.write_all(&self.memory)?;
            self.memory = Vec::new();
            self.file = Some(file);
        }
        match &mut self.file {
            Some(file) => file.write_all(buf)?,
            None => self.memory.extend_from_slice(buf),
        }
        self.len += buf.len() as u64;
        Ok(())
    }

    pub fn finish(self) -> Result<Encoded> {
        Ok(match self.file {
            None => {
                let mut memory = self.memory;
                // Held until uploaded: without the spare capacity the buffer grew.
                memory.shrink_to_fit();
                Encoded::Memory(memory.into())
            }
            Some(file) => {
                let named = file
                    .into_inner()
                    .map_err(|err| err.into_error())
                    .with_context(write_error)?;
                Encoded::File {
                    path: named.into_temp_path(),
                    len: self.len,
                }
            }
        })
    }
}

/// An encoded object waiting for its upload (retries read it again).
pub enum Encoded {
    Memory(Bytes),
    /// Deleted when dropped.
    File {
        path: TempPath,
        len: u64,
    },
}

impl Encoded {
    pub fn len(&self) -> u64 {
        match self {
            Encoded::Memory(bytes) => bytes.len() as u64,
            Encoded::File { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `len` bytes from `offset`, as a request body.
    pub async fn body(&self, offset: u64, len: u64) -> Result<ByteStream> {
        match self {
            Encoded::Memory(bytes) => {
                let (start, end) = (offset as usize, (offset + len) as usize);
                Ok(ByteStream::from(bytes.slice(start..end)))
            }
            Encoded::File { path, .. } => ByteStream::read_from()
                .path(path)
                .offset(offset)
                .length(Length::Exact(len))
                .build()
                .await
                .with_context(|| format!("reading the encoded object {}", path.display())),
        }
    }

    /// The bytes, read into memory (tests, small objects).
    pub fn to_bytes(&self) -> Result<Bytes> {
        match self {
            Encoded::Memory(bytes) => Ok(bytes.clone()),
            Encoded::File { path, .. } => Ok(std::fs::read(path)
                .with_context(|| format!("reading the encoded object {}", path.display()))?
                .into()),
        }
    }
}

// A row's bytes: each string as a little-endian u32 length and its UTF-8; an absent optional
// string as u32::MAX; numbers little-endian.

const ABSENT: u32 = u32::MAX;

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // Strings are bounded by the record size limit, far below 4 GiB.
    put_u32(out, s.len() as u32);
    out.extend_from_slice(s.as_bytes());
}

fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => put_str(out, s),
        None => put_u32(out, ABSENT),
    }
}

fn put_time(out: &mut Vec<u8>, t: &DateTime<Utc>) {
    put_i64(out, t.timestamp());
    put_u32(out, t.timestamp_subsec_nanos());
}

fn split_byte(split: Split) -> u8 {
    match split {
        Split::Train => 0,
        Split::Validation => 1,
        Split::Test => 2,
    }
}

fn encode_row(row: &ArticleRow, out: &mut Vec<u8>) {
    let a = &row.article;
    put_str(out, &a.article_id);
    put_opt_str(out, a.title.as_deref());
    put_opt_str(out, a.author.as_deref());
    match &a.publish_date {
        Some(date) => {
            out.push(1);
            put_time(out, &date.and_utc());
        }
        None => out.push(0),
    }
    put_opt_str(out, a.publish_date_raw.as_deref());
    put_str(out, &a.content);
    put_opt_str(out, a.extra_json.as_deref());
    let f = &row.features;
    for v in [
        f.word_count,
        f.char_count,
        f.sentence_count,
        f.paragraph_count,
        f.reading_time_seconds,
    ] {
        put_u32(out, v);
    }
    out.extend_from_slice(&f.avg_word_length.to_le_bytes());
    put_str(out, &f.content_sha256);
    out.push(split_byte(f.split));
    put_str(out, &row.shard_id);
    put_str(out, &row.sequence_number);
    put_str(out, &row.partition_key);
    put_time(out, &row.arrival_time);
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        if self.0.len() < n {
            bail!("ends early");
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into()?))
    }

    fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.take(8)?.try_into()?))
    }

    fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_le_bytes(self.take(8)?.try_into()?))
    }

    fn string_of(&mut self, len: u32) -> Result<String> {
        Ok(std::str::from_utf8(self.take(len as usize)?)?.to_string())
    }

    fn string(&mut self) -> Result<String> {
        let len = self.u32()?;
        self.string_of(len)
    }

    fn opt_string(&mut self) -> Result<Option<String>> {
        match self.u32()? {
            ABSENT => Ok(None),
            len => self.string_of(len).map(Some),
        }
    }

    fn time(&mut self) -> Result<DateTime<Utc>> {
        let (secs, nanos) = (self.i64()?, self.u32()?);
        DateTime::from_timestamp(secs, nanos).context("a time out of range")
    }

    fn naive_time(&mut self) -> Result<Option<NaiveDateTime>> {
        match self.u8()? {
            0 => Ok(None),
            _ => Ok(Some(self.time()?.naive_utc())),
        }
    }
}

fn decode_summary(bytes: &[u8]) -> Result<Summarized> {
    let mut c = Cursor(bytes);
    let summary = Summarized {
        text: c.string()?,
        summarizer: c.string()?.into(),
    };
    if !c.0.is_empty() {
        bail!("{} bytes past its end", c.0.len());
    }
    Ok(summary)
}

fn decode_row(bytes: &[u8]) -> Result<ArticleRow> {
    let mut c = Cursor(bytes);
    let article = ValidArticle {
        article_id: c.string()?,
        title: c.opt_string()?,
        author: c.opt_string()?,
        publish_date: c.naive_time()?,
        publish_date_raw: c.opt_string()?,
        content: c.string()?,
        extra_json: c.opt_string()?,
    };
    let [word_count, char_count, sentence_count, paragraph_count, reading_time_seconds] =
        [c.u32()?, c.u32()?, c.u32()?, c.u32()?, c.u32()?];
    let avg_word_length = c.f64()?;
    let content_sha256 = c.string()?;
    let split = match c.u8()? {
        0 => Split::Train,
        1 => Split::Validation,
        2 => Split::Test,
        other => bail!("split {other}"),
    };
    let row = ArticleRow {
        article,
        features: Features {
            word_count,
            char_count,
            sentence_count,
            paragraph_count,
            avg_word_length,
            reading_time_seconds,
            content_sha256,
            split,
        },
        shard_id: c.string()?,
        sequence_number: c.string()?,
        partition_key: c.string()?,
        arrival_time: c.time()?,
        summary: None,
    };
    if !c.0.is_empty() {
        bail!("{} bytes past its end", c.0.len());
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::record::Limits;
    use crate::pipeline::rows::{process, Outcome, RawRecord};
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn row_of(json: &str, sequence: &str) -> ArticleRow {
        let record = RawRecord {
            shard_id: "shardId-000000000003".into(),
            sequence_number: sequence.into(),
            partition_key: "pk-é".into(),
            arrival_time: Utc.timestamp_millis_opt(1_763_000_123_456).unwrap(),
            data: json.as_bytes().to_vec(),
        };
        match process(&record, &Limits::default()) {
            Outcome::Article(row) => *row,
            Outcome::Quarantined(q) => panic!("rejected: {}", q.reason),
        }
    }

    #[test]
    fn spilled_rows_read_back_equal_with_every_optional_field_present_or_absent() {
        let rows = [
            row_of(
                r#"{"article_id":"a","title":"Ünïcode — title","author":"Q","publish_date":"2026-03-01T10:00:00.123","content":"One two.\n\nThree.","x":[1,2]}"#,
                "49590338271490256608559692538361571095921575989136588898",
            ),
            row_of(
                r#"{"article_id":"b","content":"Four.","publish_date":"soon"}"#,
                "7",
            ),
            row_of(r#"{"article_id":"c","content":"Five six."}"#, "8"),
        ];
        let mut spill = Spill::new().unwrap();
        let spans: Vec<Span> = rows.iter().map(|r| spill.push_row(r).unwrap()).collect();
        let file = spill.finish().unwrap();
        for (row, span) in rows.iter().zip(&spans).rev() {
            assert_eq!(file.rows(&[*span]).unwrap(), std::slice::from_ref(row));
        }
        // Runs of neighbours read at once, others one by one, in the order asked.
        let order = [0, 1, 2, 2, 0, 2, 1];
        let asked: Vec<Span> = order.iter().map(|&i| spans[i]).collect();
        let expected: Vec<ArticleRow> = order.iter().map(|&i| rows[i].clone()).collect();
        assert_eq!(file.rows(&asked).unwrap(), expected);
    }

    #[test]
    fn a_truncated_or_overlong_row_is_an_error_not_a_row() {
        let mut bytes = Vec::new();
        encode_row(
            &row_of(r#"{"article_id":"a","content":"x"}"#, "1"),
            &mut bytes,
        );
        assert!(decode_row(&bytes[..bytes.len() - 1]).is_err());
        bytes.push(0);
        assert!(decode_row(&bytes).is_err());
    }

    #[test]
    fn an_object_past_the_memory_limit_moves_to_a_file_with_every_byte() {
        let mut small = ObjectBuffer::default();
        small.write_all(b"tiny").unwrap();
        assert!(matches!(small.finish().unwrap(), Encoded::Memory(_)));

        let mut big = ObjectBuffer::default();
        let expected: Vec<u8> = (0..OBJECT_MEMORY_LIMIT + 10_000)
            .map(|i| (i % 251) as u8)
            .collect();
        for piece in expected.chunks(7_777) {
            big.write_all(piece).unwrap();
        }
        let encoded = big.finish().unwrap();
        let Encoded::File { path, .. } = &encoded else {
            panic!("still in memory")
        };
        let path = path.to_path_buf();
        assert_eq!(encoded.len(), expected.len() as u64);
        assert_eq!(encoded.to_bytes().unwrap(), expected);
        drop(encoded);
        assert!(!path.exists(), "the file outlived its object");
    }

    #[test]
    fn only_object_files_older_than_the_limit_are_removed_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let day_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(25 * 3600);
        let make = |name: &str, old: bool| {
            let path = dir.path().join(name);
            let file = File::create(&path).unwrap();
            if old {
                file.set_modified(day_ago).unwrap();
            }
            path
        };
        let stale = make("precis-object-stale", true);
        let fresh = make("precis-object-fresh", false);
        let other = make("somebody-else", true);
        assert_eq!(remove_stale_object_files(dir.path(), STALE_OBJECT_FILE), 1);
        assert!(!stale.exists());
        assert!(fresh.exists() && other.exists());
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn a_tmpfs_is_recognized_and_a_disk_directory_is_not() {
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        if mounts
            .lines()
            .any(|line| line.starts_with("tmpfs /dev/shm tmpfs "))
        {
            assert!(on_tmpfs(std::path::Path::new("/dev/shm")));
        }
        assert!(!on_tmpfs(std::path::Path::new("/proc")));
    }

    #[tokio::test]
    async fn a_range_of_an_object_on_file_is_the_bytes_of_that_range() {
        let mut buffer = ObjectBuffer::default();
        let expected: Vec<u8> = (0..OBJECT_MEMORY_LIMIT * 3)
            .map(|i| (i % 253) as u8)
            .collect();
        buffer.write_all(&expected).unwrap();
        let encoded = buffer.finish().unwrap();
        assert!(matches!(encoded, Encoded::File { .. }));
        // Parts as a multipart upload asks for them: from an offset, a length, the last short.
        let part = 300_000u64;
        let mut read = Vec::new();
        let mut offset = 0;
        while offset < encoded.len() {
            let len = part.min(encoded.len() - offset);
            let body = encoded.body(offset, len).await.unwrap();
            read.extend_from_slice(&body.collect().await.unwrap().into_bytes());
            offset += len;
        }
        assert_eq!(read, expected);
    }

    proptest! {
        #[test]
        fn any_valid_article_round_trips_through_the_spill(
            id in "[a-zA-Z0-9_-]{1,20}",
            content in "\\PC{1,200}",
            title in proptest::option::of("\\PC{0,40}"),
        ) {
            let mut json = serde_json::json!({"article_id": id, "content": content});
            if let Some(title) = &title {
                json["title"] = serde_json::Value::String(title.clone());
            }
            let record = RawRecord {
                shard_id: "s".into(),
                sequence_number: "1".into(),
                partition_key: "p".into(),
                arrival_time: Utc.timestamp_millis_opt(0).unwrap(),
                data: json.to_string().into_bytes(),
            };
            if let Outcome::Article(row) = process(&record, &Limits::default()) {
                let mut bytes = Vec::new();
                encode_row(&row, &mut bytes);
                prop_assert_eq!(decode_row(&bytes).unwrap(), *row);
            }
        }
    }
}
