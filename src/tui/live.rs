//! What the console knows of the running pipeline: the engine's fixed facts, the counters it
//! last pulled, and throughput over time. Views read it; only the event loop writes it.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::pipeline::stats::{Sample, Snapshot};
use crate::summarize::pool::PoolSnapshot;
use crate::telemetry::LogLine;

/// Samples of throughput kept for the sparklines: one per second.
pub const HISTORY_SECONDS: usize = 180;

/// What the engine is and does, fixed for the session.
#[derive(Debug, Clone, Default)]
pub struct EngineInfo {
    /// The config file's context in use (`--context`), shown in the header.
    pub context: Option<String>,
    pub stream: String,
    pub bucket: String,
    pub summarizer: String,
    pub workers: usize,
    pub log_file: String,
    /// Where the console runs: files it writes (exports) go there unless a path says otherwise.
    pub workdir: std::path::PathBuf,
}

/// Throughput over time, from successive snapshots.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub records_per_sec: VecDeque<u64>,
    pub kib_per_sec: VecDeque<u64>,
    /// Articles summarized per second, over the last sample.
    pub summaries_per_sec: f64,
    /// Per shard: records/s over the last sample.
    pub shard_rates: BTreeMap<String, f64>,
    last: Option<Mark>,
}

/// Counters at one moment, to take rates against.
#[derive(Debug, Clone)]
struct Mark {
    at: Instant,
    records: u64,
    bytes: u64,
    summarized: u64,
    shards: BTreeMap<String, u64>,
}

impl History {
    /// Adds a sample when at least a second has passed since the last one.
    pub fn observe(&mut self, snapshot: &Snapshot, summarized: u64, now: Instant) {
        let mark = Mark {
            at: now,
            records: snapshot.records_in,
            bytes: snapshot.bytes_in,
            summarized,
            shards: snapshot
                .shards
                .iter()
                .map(|(id, s)| (id.clone(), s.records))
                .collect(),
        };
        let Some(last) = &self.last else {
            self.last = Some(mark);
            return;
        };
        let secs = now.saturating_duration_since(last.at).as_secs_f64();
        if secs < 1.0 {
            return;
        }
        let rate = |now: u64, then: u64| now.saturating_sub(then) as f64 / secs;
        push_capped(
            &mut self.records_per_sec,
            rate(mark.records, last.records).round() as u64,
        );
        push_capped(
            &mut self.kib_per_sec,
            (rate(mark.bytes, last.bytes) / 1024.0).round() as u64,
        );
        self.summaries_per_sec = rate(mark.summarized, last.summarized);
        self.shard_rates = mark
            .shards
            .iter()
            .map(|(id, n)| {
                let before = last.shards.get(id).copied().unwrap_or(0);
                (id.clone(), rate(*n, before))
            })
            .collect();
        self.last = Some(mark);
    }
}

fn push_capped(values: &mut VecDeque<u64>, value: u64) {
    if values.len() == HISTORY_SECONDS {
        values.pop_front();
    }
    values.push_back(value);
}

/// Where the pipeline is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    Reading,
    Paused,
    /// `--once`: every shard is drained and written.
    Drained,
    Stopping,
    Failed(String),
}

/// The counters last pulled from the engine.
#[derive(Debug, Clone, Default)]
pub struct Live {
    pub snapshot: Option<Snapshot>,
    pub pool: Option<PoolSnapshot>,
    pub samples: Vec<Sample>,
    pub logs: Vec<LogLine>,
    pub uptime: Duration,
    pub history: History,
}

impl Live {
    pub fn observe(
        &mut self,
        snapshot: Snapshot,
        pool: Option<PoolSnapshot>,
        samples: Vec<Sample>,
        logs: Vec<LogLine>,
        uptime: Duration,
        now: Instant,
    ) {
        self.history
            .observe(&snapshot, pool.map_or(0, |p| p.summarized), now);
        self.snapshot = Some(snapshot);
        self.pool = pool;
        self.samples = samples;
        self.logs = logs;
        self.uptime = uptime;
    }
}
