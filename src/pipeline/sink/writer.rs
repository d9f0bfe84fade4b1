//! Writing one shard's chunks into the tables: records → rows (page by page, as they are read)
//! → summaries (fed to the pool as pages arrive) → one Delta commit per table at the cut.
//!
//! A chunk's rows wait in memory as Arrow batches (a chunk is bounded by the flush policy), so
//! that each file can be sorted by publish date before it is written. CPU work (parsing,
//! features, summaries, Parquet encoding) runs on blocking threads, never on the async reactor.
//! A table's rows at or before the position it already holds are left out: a chunk read again
//! after a crash, however differently it is cut, adds nothing twice (docs/exactly-once.md).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result};
use arrow_array::RecordBatch;
use chrono::{DateTime, Utc};
use deltalake::DeltaTable;
use tokio::task::JoinHandle;
use tracing::info;

use super::commit::{app_id, chunk_in, commit_chunk, commit_ending, ChunkCommit, CommitOutcome};
use super::dedup::{Claim, DedupIndex};
use super::lake::{Lake, TableKind};
use super::parquet::{
    curated_batch, quarantine_batch, raw_batch, sorted_by_publish_date, FileContext, NO_SUMMARIZER,
};
use crate::pipeline::features::FeatureAverages;
use crate::pipeline::parallel::map_in_order;
use crate::pipeline::record::{Limits, Rejection};
use crate::pipeline::rows::{process, quarantine, ArticleRow, Outcome, QuarantineRow, RawRecord};
use crate::pipeline::sequence::{advanced, after, earliest, later};
use crate::pipeline::source::checkpoint::Checkpoint;
use crate::pipeline::stats::ChunkWritten;
use crate::pipeline::stats::{Sample, Stats};
use crate::summarize::pool::{Cancel, SummarizerPool};
use crate::summarize::Document;

/// Below this many records a thread, parsing a page is not worth another thread.
const PROCESS_PER_THREAD: usize = 64;

/// Pages of a shard whose summaries may be under way at once. Past it the reader waits for the
/// oldest: a slow model slows the readers instead of filling memory.
const PAGES_IN_FLIGHT: usize = 2;

/// Curated articles of each chunk offered to the console's samples view.
pub(super) const SAMPLES_PER_CHUNK: usize = 4;

#[derive(Clone)]
pub struct ChunkWriter {
    pub lake: Lake,
    /// The tables, opened once: each shard takes a copy and keeps it current as it commits
    /// (loading a table replays its log; a copy only reads what is new).
    pub tables: Arc<Vec<(TableKind, DeltaTable)>>,
    pub stream: String,
    pub limits: Limits,
    pub stats: Arc<Stats>,
    pub dedup: Arc<Mutex<DedupIndex>>,
    /// None: summaries turned off.
    pub summarizer: Option<Arc<SummarizerPool>>,
    /// This process's name (its lease-table name), which each commit records.
    pub worker: String,
}

/// One table as a shard sees it: the last chunk of the shard it holds, and the last record.
struct ShardTable {
    kind: TableKind,
    table: DeltaTable,
    /// The shard's last chunk committed to this table (-1: none yet).
    chunk: i64,
    /// Records up to this sequence number are in the table (or never belonged in it).
    position: Option<String>,
    /// When the handle last read the table's log: a handle idle for long (a table a shard
    /// rarely writes) catches up before its commit instead of rebasing over every commit since.
    refreshed: Instant,
}

/// A shard's three tables and where each stands.
pub struct ShardTables {
    app_id: String,
    tables: Vec<ShardTable>,
}

impl ShardTables {
    /// Where reading resumes: after the record every table holds (or did not need).
    pub fn resume_after(&self) -> Option<String> {
        earliest(self.tables.iter().map(|t| t.position.clone()))
    }

    /// The checkpoint's record of which chunk each table was at.
    pub fn chunks(&self) -> std::collections::BTreeMap<String, i64> {
        self.tables
            .iter()
            .map(|t| (t.kind.name().to_string(), t.chunk))
            .collect()
    }

    /// The checkpoint's record of where each table stands.
    pub fn positions(&self) -> std::collections::BTreeMap<String, String> {
        self.tables
            .iter()
            .filter_map(|t| Some((t.kind.name().to_string(), t.position.clone()?)))
            .collect()
    }

    fn position(&self, kind: TableKind) -> Option<&str> {
        self.tables
            .iter()
            .find(|t| t.kind == kind)
            .and_then(|t| t.position.as_deref())
    }
}

impl ChunkWriter {
    /// Opens the shard's tables and finds where each stands: the checkpoint says where the
    /// shard was when every table held its chunk; a table holding a later chunk (a crash
    /// between a commit and the checkpoint) says itself, in that commit's metadata.
    pub async fn shard_tables(
        &self,
        shard_id: &str,
        checkpoint: &Checkpoint,
    ) -> Result<ShardTables> {
        let app = app_id(&self.stream, shard_id);
        let mut tables = Vec::new();
        // In the commit order, which `commit` follows.
        for kind in TableKind::COMMIT_ORDER {
            let mut table = self
                .tables
                .iter()
                .find(|(k, _)| *k == kind)
                .map(|(_, table)| table.clone())
                .with_context(|| format!("the {} table was not opened", kind.name()))?;
            table
                .update_state()
                .await
                .with_context(|| format!("loading the {} table", kind.name()))?;
            let chunk = chunk_in(&table, &app).await?;
            let known = checkpoint.chunks.get(kind.name()).copied();
            // What the checkpoint says this table holds: at least its sequence number, more
            // where the table was ahead of the others when it was saved.
            let saved = later(
                checkpoint.sequence_number.clone(),
                checkpoint.positions.get(kind.name()).cloned(),
            );
            let (chunk, position) = match chunk {
                None => (-1, saved),
                Some(chunk) if known == Some(chunk) => (chunk, saved),
                Some(chunk) => {
                    let committed = commit_ending(&table, &app, chunk).await?;
                    info!(shard = %shard_id, table = kind.name(), chunk = committed.chunk,
                          last = %committed.last_sequence,
                          "the table holds a chunk the checkpoint does not know: resuming after it");
                    (committed.chunk, later(saved, Some(committed.last_sequence)))
                }
            };
            tables.push(ShardTable {
                kind,
                table,
                chunk,
                position,
                refreshed: Instant::now(),
            });
        }
        Ok(ShardTables {
            app_id: app,
            tables,
        })
    }

    /// Parses, validates and measures a page of records into the chunk (claiming article ids in
    /// the duplicate index), and hands its new articles to the summarizer pool. Waits when
    /// [`PAGES_IN_FLIGHT`] pages are still being summarized.
    pub async fn add(
        &self,
        parts: &mut ChunkParts,
        tables: &ShardTables,
        records: Vec<RawRecord>,
        cancel: &Cancel,
    ) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let (limits, dedup, stream) = (self.limits, self.dedup.clone(), self.stream.clone());
        let processed_at = *parts.processed_at.get_or_insert_with(Utc::now);
        let skip = Skip {
            articles: tables.position(TableKind::Articles).map(str::to_string),
            summaries: tables.position(TableKind::Summaries).map(str::to_string),
            quarantine: tables.position(TableKind::Quarantine).map(str::to_string),
        };
        let summaries_on = self.summarizer.is_some();
        let page = tokio::task::spawn_blocking(move || {
            let ctx = FileContext {
                stream: &stream,
                processed_at,
            };
            Page::of(&records, &limits, &dedup, &skip, &ctx, summaries_on)
        })
        .await
        .context("parsing records panicked")??;
        parts.counts.records += page.records;
        parts.counts.articles += page.articles;
        parts.counts.exact_duplicates += page.exact_duplicates;
        parts.counts.quarantined += page.quarantined;
        if parts.first_sequence.is_none() {
            parts.first_sequence = Some(page.first_sequence);
        }
        parts.last_sequence = Some(page.last_sequence);
        parts.articles.extend(page.raw);
        parts.quarantine.extend(page.quarantine);
        match (page.curated, &self.summarizer) {
            (Curated::Done(done), _) => parts.summaries.push_back(Summaries::Done(done)),
            (Curated::Waiting(rows), Some(pool)) => {
                while parts.in_flight() >= PAGES_IN_FLIGHT {
                    parts.finish_oldest().await?;
                }
                let (pool, stream, cancel) = (pool.clone(), self.stream.clone(), cancel.clone());
                parts
                    .summaries
                    .push_back(Summaries::Waiting(tokio::task::spawn_blocking(move || {
                        summarize(&pool, rows, &stream, processed_at, &cancel)
                    })));
            }
            (Curated::Waiting(_), None) => unreachable!("rows wait for summaries only with a pool"),
        }
        Ok(())
    }

    /// Commits the chunk to each table in [`TableKind::COMMIT_ORDER`], each one commit carrying
    /// the shard's application transaction (a table with no rows of the chunk gets no commit).
    /// It can be called again after a failure: a table that already holds the chunk is skipped.
    pub async fn commit(
        &self,
        tables: &mut ShardTables,
        parts: &mut ChunkParts,
    ) -> Result<ChunkWritten> {
        let (Some(first), Some(last)) = (parts.first_sequence.clone(), parts.last_sequence.clone())
        else {
            return Ok(ChunkWritten::default());
        };
        anyhow::ensure!(
            parts.in_flight() == 0,
            "a chunk committed before its summaries were finished"
        );
        let mut written = parts.counts.clone();
        // Sorted once, in place: a retry reuses the sorted rows, and the unsorted ones go.
        let (articles, curated) = parts.sorted()?;
        let retry = parts.commit_attempts > 0;
        parts.commit_attempts += 1;
        for shard_table in tables.tables.iter_mut() {
            let kind = shard_table.kind;
            if shard_table.position.as_deref() == Some(last.as_str()) {
                // Committed by an earlier attempt at this chunk.
                continue;
            }
            let batches = match kind {
                TableKind::Articles => articles.clone(),
                TableKind::Summaries => curated.clone(),
                TableKind::Quarantine => parts.quarantine.clone(),
            };
            if batches.iter().all(|b| b.num_rows() == 0) {
                continue;
            }
            // Encoding the files is CPU work: on a blocking thread, off the reactor.
            let mut table = shard_table.table.clone();
            let (layout, app, worker) =
                (self.lake.layout, tables.app_id.clone(), self.worker.clone());
            let (first_sequence, last_sequence) = (first.clone(), last.clone());
            let chunk = shard_table.chunk + 1;
            let stale = shard_table.refreshed.elapsed() > STALE_HANDLE;
            let runtime = tokio::runtime::Handle::current();
            let (table, outcome) = tokio::task::spawn_blocking(move || {
                let chunk = ChunkCommit {
                    app_id: &app,
                    chunk,
                    first_sequence: &first_sequence,
                    last_sequence: &last_sequence,
                    worker: &worker,
                    retry,
                    stale,
                };
                let outcome = runtime.block_on(commit_chunk(&mut table, &layout, &chunk, batches));
                (table, outcome)
            })
            .await
            .context("committing a chunk panicked")?;
            let outcome = outcome
                .with_context(|| format!("committing a chunk to the {} table", kind.name()))?;
            if let CommitOutcome::Committed { files, bytes, .. } = outcome {
                written.files += files;
                written.bytes += bytes;
            }
            shard_table.table = table;
            shard_table.chunk += 1;
            shard_table.position = Some(last.clone());
            shard_table.refreshed = Instant::now();
            crate::crash::point(kind.after_commit_point());
        }
        // Every table is at least at the chunk's end now, including those it had nothing for; a
        // table a replay found ahead (a crash between two tables' commits) stays ahead.
        for shard_table in &mut tables.tables {
            shard_table.position = advanced(shard_table.position.take(), &last);
        }
        self.stats.chunk_written(&written);
        self.stats.averages_written(&parts.averages);
        let samples = std::mem::take(&mut parts.samples);
        self.stats.add_samples(samples);
        Ok(written)
    }
}

/// Handles that have not read their table's log for this long catch up before a commit.
const STALE_HANDLE: std::time::Duration = std::time::Duration::from_secs(60);

/// Sequence numbers at or before which a table already holds the shard's records.
struct Skip {
    articles: Option<String>,
    summaries: Option<String>,
    quarantine: Option<String>,
}

/// A page's curated rows: batched already (summaries off) or waiting for their summaries.
enum Curated {
    Done(CuratedBatch),
    Waiting(Vec<ArticleRow>),
}

/// A batch of summarized rows, with what the console and the stats line are told about them.
struct CuratedBatch {
    batch: RecordBatch,
    averages: FeatureAverages,
    samples: Vec<Sample>,
}

enum Summaries {
    Done(CuratedBatch),
    Waiting(JoinHandle<Result<CuratedBatch>>),
    /// Its summarizing failed or was cancelled.
    Failed,
}

/// One page of records, processed.
struct Page {
    records: u64,
    articles: u64,
    exact_duplicates: u64,
    quarantined: u64,
    first_sequence: String,
    last_sequence: String,
    raw: Option<RecordBatch>,
    quarantine: Option<RecordBatch>,
    curated: Curated,
}

impl Page {
    fn of(
        records: &[RawRecord],
        limits: &Limits,
        dedup: &Mutex<DedupIndex>,
        skip: &Skip,
        ctx: &FileContext<'_>,
        summaries_on: bool,
    ) -> Result<Page> {
        let outcomes = map_in_order(records, PROCESS_PER_THREAD, |record| {
            process(record, limits)
        });
        // Every valid row, and whether it is a first sighting the summaries table lacks.
        let mut rows: Vec<(Box<ArticleRow>, bool)> = Vec::new();
        let mut quarantined: Vec<QuarantineRow> = Vec::new();
        let (mut articles, mut exact_duplicates) = (0, 0);
        {
            let mut index = dedup
                .lock()
                .map_err(|_| anyhow::anyhow!("the duplicate index is poisoned"))?;
            for (record, outcome) in records.iter().zip(outcomes) {
                let row = match outcome {
                    Outcome::Article(row) => row,
                    Outcome::Quarantined(q) => {
                        quarantined.push(*q);
                        continue;
                    }
                };
                let claim = index.claim(
                    &row.article.article_id,
                    &row.features.content_sha256,
                    &row.sequence_number,
                );
                match claim {
                    // Counted as written only where the table does not hold them already (a
                    // chunk read again after a crash).
                    Claim::First => {
                        let curated = after(&row.sequence_number, &skip.summaries);
                        articles += u64::from(curated);
                        rows.push((row, curated));
                    }
                    Claim::ExactDuplicate => {
                        if after(&row.sequence_number, &skip.articles) {
                            exact_duplicates += 1;
                        }
                        rows.push((row, false));
                    }
                    Claim::Conflict {
                        first_sequence_number,
                    } => quarantined.push(quarantine(
                        record,
                        &Rejection::ConflictingDuplicate {
                            first_sequence_number,
                        },
                    )),
                }
            }
        }
        quarantined.retain(|row| after(&row.sequence_number, &skip.quarantine));
        let quarantined_count = quarantined.len() as u64;
        let raw_refs: Vec<&ArticleRow> = rows
            .iter()
            .filter(|(row, _)| after(&row.sequence_number, &skip.articles))
            .map(|(row, _)| &**row)
            .collect();
        let curated_refs: Vec<&ArticleRow> = rows
            .iter()
            .filter(|(_, curated)| *curated)
            .map(|(row, _)| &**row)
            .collect();
        let quarantine_refs: Vec<&QuarantineRow> = quarantined.iter().collect();
        // Rows waiting for summaries move to the pool's task, so only they are copied.
        let curated = if summaries_on {
            Curated::Waiting(curated_refs.into_iter().cloned().collect())
        } else {
            Curated::Done(curated_batch_of(&curated_refs, ctx)?)
        };
        Ok(Page {
            records: records.len() as u64,
            articles,
            exact_duplicates,
            quarantined: quarantined_count,
            first_sequence: records[0].sequence_number.clone(),
            last_sequence: records[records.len() - 1].sequence_number.clone(),
            raw: (!raw_refs.is_empty())
                .then(|| raw_batch(&raw_refs, ctx))
                .transpose()?,
            quarantine: (!quarantine_refs.is_empty())
                .then(|| quarantine_batch(&quarantine_refs, ctx))
                .transpose()?,
            curated,
        })
    }
}

fn curated_batch_of(rows: &[&ArticleRow], ctx: &FileContext<'_>) -> Result<CuratedBatch> {
    let mut averages = FeatureAverages::default();
    for row in rows {
        averages.add(&row.features);
    }
    let samples = rows
        .iter()
        .skip(rows.len().saturating_sub(SAMPLES_PER_CHUNK))
        .map(|row| sample(row))
        .collect();
    Ok(CuratedBatch {
        batch: curated_batch(rows, ctx)?,
        averages,
        samples,
    })
}

/// Summarizes a page's new articles (blocking: runs on a blocking thread).
fn summarize(
    pool: &SummarizerPool,
    mut rows: Vec<ArticleRow>,
    stream: &str,
    processed_at: DateTime<Utc>,
    cancel: &Cancel,
) -> Result<CuratedBatch> {
    let docs: Vec<Document<'_>> = rows.iter().map(ArticleRow::document).collect();
    let summaries = pool.summarize_blocking(&docs, cancel)?;
    for (row, summary) in rows.iter_mut().zip(summaries) {
        row.summary = Some(summary);
    }
    curated_batch_of(
        &rows.iter().collect::<Vec<_>>(),
        &FileContext {
            stream,
            processed_at,
        },
    )
}

/// A chunk being read: its rows as Arrow batches per table, and its summaries under way.
#[derive(Default)]
pub struct ChunkParts {
    counts: ChunkWritten,
    first_sequence: Option<String>,
    last_sequence: Option<String>,
    /// When the chunk's first record was processed: every row of the chunk says it.
    processed_at: Option<DateTime<Utc>>,
    articles: Vec<RecordBatch>,
    quarantine: Vec<RecordBatch>,
    /// In page order; the oldest are finished first.
    summaries: VecDeque<Summaries>,
    averages: FeatureAverages,
    samples: Vec<Sample>,
    /// Attempts at committing the chunk so far.
    commit_attempts: u32,
    /// The articles and summaries rows sorted for their files, once the chunk is cut.
    sorted: Option<(Vec<RecordBatch>, Vec<RecordBatch>)>,
}

impl ChunkParts {
    pub fn records(&self) -> usize {
        self.counts.records as usize
    }

    pub fn last_sequence(&self) -> Option<&str> {
        self.last_sequence.as_deref()
    }

    /// Pages whose summaries are under way.
    fn in_flight(&self) -> usize {
        self.summaries
            .iter()
            .filter(|s| matches!(s, Summaries::Waiting(_)))
            .count()
    }

    /// Waits for the oldest page still being summarized.
    async fn finish_oldest(&mut self) -> Result<()> {
        let Some(index) = self
            .summaries
            .iter()
            .position(|s| matches!(s, Summaries::Waiting(_)))
        else {
            return Ok(());
        };
        let Summaries::Waiting(handle) =
            std::mem::replace(&mut self.summaries[index], Summaries::Failed)
        else {
            unreachable!("found waiting above")
        };
        // A page whose summaries failed stays Failed: the chunk cannot be committed whole, and
        // its reader reads it again.
        let done = handle.await.context("summarizing a page panicked")??;
        self.summaries[index] = Summaries::Done(done);
        Ok(())
    }

    /// Waits for every page still being summarized. A failure here is the chunk's end: its
    /// records are read again (no retry would bring the summaries back).
    pub async fn finish_summaries(&mut self) -> Result<()> {
        while self.in_flight() > 0 {
            self.finish_oldest().await?;
        }
        anyhow::ensure!(
            !self
                .summaries
                .iter()
                .any(|s| matches!(s, Summaries::Failed)),
            "a page of this chunk could not be summarized; its records are read again"
        );
        Ok(())
    }

    /// The chunk's articles and summaries rows, each sorted by publish date into one batch,
    /// made once (every summary must be finished): the unsorted batches are let go, so a chunk
    /// is held about once whatever the retries.
    fn sorted(&mut self) -> Result<(Vec<RecordBatch>, Vec<RecordBatch>)> {
        if self.sorted.is_none() {
            let articles = sorted_by_publish_date(std::mem::take(&mut self.articles))?;
            let curated = sorted_by_publish_date(self.curated_batches())?;
            self.summaries.clear();
            self.sorted = Some((articles, curated));
        }
        Ok(self.sorted.clone().expect("sorted above"))
    }

    /// The finished summaries' batches (all of them, once none is in flight).
    fn curated_batches(&mut self) -> Vec<RecordBatch> {
        let mut batches = Vec::new();
        let mut samples = Vec::new();
        let mut averages = FeatureAverages::default();
        for summaries in &self.summaries {
            if let Summaries::Done(done) = summaries {
                batches.push(done.batch.clone());
                averages.merge(&done.averages);
                samples.extend(done.samples.iter().cloned());
            }
        }
        samples.drain(..samples.len().saturating_sub(SAMPLES_PER_CHUNK));
        self.averages = averages;
        self.samples = samples;
        batches
    }
}

const SAMPLE_CONTENT_BYTES: usize = 64 * 1024;

fn clip(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_string();
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

pub(super) fn sample(row: &ArticleRow) -> Sample {
    Sample {
        article_id: row.article.article_id.clone(),
        title: row.article.title.clone(),
        content: clip(&row.article.content, SAMPLE_CONTENT_BYTES),
        summary: row.summary.as_ref().map(|s| s.text.clone()),
        summarizer: row
            .summary
            .as_ref()
            .map_or_else(|| NO_SUMMARIZER.to_string(), |s| s.summarizer.to_string()),
        features: row.features.clone(),
        shard_id: row.shard_id.clone(),
        sequence_number: row.sequence_number.clone(),
        dt: row.dt(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::rows::RawRecord;
    use arrow_array::cast::AsArray;
    use chrono::TimeZone;

    fn rows(dates: &[Option<&str>]) -> Vec<RecordBatch> {
        let ctx = FileContext {
            stream: "S",
            processed_at: Utc.with_ymd_and_hms(2026, 3, 5, 0, 0, 0).unwrap(),
        };
        let rows: Vec<ArticleRow> = dates
            .iter()
            .enumerate()
            .map(|(i, date)| {
                let date = date.map_or(String::new(), |d| format!(r#","publish_date":"{d}""#));
                let json = format!(r#"{{"article_id":"a{i}","content":"Words {i}."{date}}}"#);
                let record = RawRecord {
                    shard_id: "s".into(),
                    sequence_number: i.to_string(),
                    partition_key: "k".into(),
                    arrival_time: Utc.with_ymd_and_hms(2026, 3, 5, 0, 0, 0).unwrap(),
                    data: json.into_bytes(),
                };
                match process(&record, &Limits::default()) {
                    Outcome::Article(row) => *row,
                    Outcome::Quarantined(q) => panic!("{}", q.reason),
                }
            })
            .collect();
        // Two batches, as two pages would give.
        let (first, second) = rows.split_at(rows.len() / 2);
        [first, second]
            .iter()
            .map(|part| {
                let refs: Vec<&ArticleRow> = part.iter().collect();
                raw_batch(&refs, &ctx).unwrap()
            })
            .collect()
    }

    #[test]
    fn a_chunk_is_sorted_by_publish_date_with_undated_rows_last_in_one_batch() {
        let batches = rows(&[
            Some("2026-03-03T00:00:00"),
            None,
            Some("2026-01-01T00:00:00"),
            Some("2026-02-01T00:00:00"),
        ]);
        let sorted = sorted_by_publish_date(batches).unwrap();
        assert_eq!(sorted.len(), 1);
        let ids: Vec<&str> = sorted[0]
            .column_by_name("article_id")
            .unwrap()
            .as_string::<i32>()
            .iter()
            .map(Option::unwrap)
            .collect();
        assert_eq!(ids, ["a2", "a3", "a0", "a1"]);
    }
}
