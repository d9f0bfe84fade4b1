//! Counters the stages update and the headless printer (later the console) reads as snapshots.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::features::{FeatureAverages, Features};

/// Counts of one written chunk.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ChunkWritten {
    pub records: u64,
    pub articles: u64,
    pub exact_duplicates: u64,
    pub quarantined: u64,
    pub files: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardState {
    Reading,
    WaitingForParent,
    /// Reading is paused by the operator; what was read is written.
    Paused,
    /// Drained to the tip in `--once` mode.
    AtTip,
    /// Closed and fully written.
    Finished,
    /// Its lease is another worker's now (scale-out): this worker stopped reading it.
    Elsewhere,
}

impl ShardState {
    pub fn as_str(self) -> &'static str {
        match self {
            ShardState::Reading => "reading",
            ShardState::WaitingForParent => "waiting for parent",
            ShardState::Paused => "paused",
            ShardState::AtTip => "at tip",
            ShardState::Finished => "closed",
            ShardState::Elsewhere => "other worker",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardStatus {
    pub state: ShardState,
    pub records: u64,
    pub millis_behind_latest: i64,
    pub last_sequence: Option<String>,
    pub checkpoint: Option<String>,
    /// Records read but not committed when the reader stopped: read again on the next start.
    pub uncommitted: u64,
}

/// Articles kept for the console's samples view, newest last.
pub const SAMPLE_CAPACITY: usize = 64;

/// A recently written curated article: what the console shows side by side.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub article_id: String,
    pub title: Option<String>,
    pub content: String,
    pub summary: Option<String>,
    pub summarizer: String,
    pub features: Features,
    pub shard_id: String,
    pub sequence_number: String,
    pub dt: chrono::NaiveDate,
}

#[derive(Debug, Default)]
pub struct Stats {
    pub records_in: AtomicU64,
    pub bytes_in: AtomicU64,
    pub articles_written: AtomicU64,
    pub quarantined: AtomicU64,
    pub exact_duplicates: AtomicU64,
    pub files_written: AtomicU64,
    pub bytes_written: AtomicU64,
    pub errors: AtomicU64,
    shards: Mutex<BTreeMap<String, ShardStatus>>,
    averages: Mutex<FeatureAverages>,
    samples: Mutex<VecDeque<Sample>>,
    workers: Mutex<BTreeMap<String, Vec<String>>>,
}

/// A consistent-enough copy of the counters at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub records_in: u64,
    pub bytes_in: u64,
    pub articles_written: u64,
    pub quarantined: u64,
    pub exact_duplicates: u64,
    pub files_written: u64,
    pub bytes_written: u64,
    pub errors: u64,
    pub shards: BTreeMap<String, ShardStatus>,
    pub averages: FeatureAverages,
    /// With a lease table: each worker and the open shards it holds (empty without one).
    pub workers: BTreeMap<String, Vec<String>>,
}

impl Snapshot {
    pub fn max_lag_millis(&self) -> i64 {
        self.shards
            .values()
            // A paused shard's backlog still grows: its lag counts.
            .filter(|s| matches!(s.state, ShardState::Reading | ShardState::Paused))
            .map(|s| s.millis_behind_latest)
            .max()
            .unwrap_or(0)
    }
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Stats {
    pub fn records_read(&self, records: u64, bytes: u64) {
        add(&self.records_in, records);
        add(&self.bytes_in, bytes);
    }

    pub fn chunk_written(&self, chunk: &ChunkWritten) {
        add(&self.articles_written, chunk.articles);
        add(&self.quarantined, chunk.quarantined);
        add(&self.exact_duplicates, chunk.exact_duplicates);
        add(&self.files_written, chunk.files);
        add(&self.bytes_written, chunk.bytes);
    }

    pub fn error(&self) {
        add(&self.errors, 1);
    }

    pub fn averages_written(&self, written: &FeatureAverages) {
        if let Ok(mut averages) = self.averages.lock() {
            averages.merge(written);
        }
    }

    /// Keeps the newest [`SAMPLE_CAPACITY`] samples.
    pub fn add_samples(&self, samples: impl IntoIterator<Item = Sample>) {
        if let Ok(mut kept) = self.samples.lock() {
            for sample in samples {
                if kept.len() == SAMPLE_CAPACITY {
                    kept.pop_front();
                }
                kept.push_back(sample);
            }
        }
    }

    /// The kept samples, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples
            .lock()
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn update_shard(&self, shard_id: &str, update: impl FnOnce(&mut ShardStatus)) {
        if let Ok(mut shards) = self.shards.lock() {
            let status = shards.entry(shard_id.to_string()).or_insert(ShardStatus {
                state: ShardState::Reading,
                records: 0,
                millis_behind_latest: 0,
                last_sequence: None,
                checkpoint: None,
                uncommitted: 0,
            });
            update(status);
        }
    }

    /// The lease table's view of who reads what, from the last taking round.
    pub fn set_workers(&self, workers: BTreeMap<String, Vec<String>>) {
        if let Ok(mut kept) = self.workers.lock() {
            *kept = workers;
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            records_in: load(&self.records_in),
            bytes_in: load(&self.bytes_in),
            articles_written: load(&self.articles_written),
            quarantined: load(&self.quarantined),
            exact_duplicates: load(&self.exact_duplicates),
            files_written: load(&self.files_written),
            bytes_written: load(&self.bytes_written),
            errors: load(&self.errors),
            shards: self.shards.lock().map(|s| s.clone()).unwrap_or_default(),
            averages: self.averages.lock().map(|a| a.clone()).unwrap_or_default(),
            workers: self.workers.lock().map(|w| w.clone()).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize) -> Sample {
        Sample {
            article_id: n.to_string(),
            title: None,
            content: String::new(),
            summary: None,
            summarizer: "none".into(),
            features: Features::of("x"),
            shard_id: "s".into(),
            sequence_number: n.to_string(),
            dt: chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
        }
    }

    #[test]
    fn samples_keep_only_the_newest() {
        let stats = Stats::default();
        stats.add_samples((0..SAMPLE_CAPACITY + 5).map(sample));
        let kept = stats.samples();
        assert_eq!(kept.len(), SAMPLE_CAPACITY);
        assert_eq!(kept[0].article_id, "5");
        assert_eq!(
            kept.last().unwrap().article_id,
            (SAMPLE_CAPACITY + 4).to_string()
        );
    }

    #[test]
    fn max_lag_counts_only_shards_being_read() {
        let stats = Stats::default();
        stats.update_shard("a", |s| s.millis_behind_latest = 500);
        stats.update_shard("b", |s| {
            s.millis_behind_latest = 9000;
            s.state = ShardState::Finished;
        });
        assert_eq!(stats.snapshot().max_lag_millis(), 500);
    }
}
