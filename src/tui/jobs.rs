//! Answers of background work, handed over the way gitui's asyncgit does it: the work puts its
//! answer in a [`Slot`] of the console's [`Jobs`] and tells the event loop only which slot
//! ([`Notice`]); the view the answer is for takes it from there. The channel carries no data, so
//! answers never queue behind a slow screen: a newer answer replaces one not yet taken, progress
//! shows its latest step, and an answer to a request made before the latest one is dropped where
//! it lands.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::browser::preview::{FrameStats, PreviewTable};
use crate::browser::Tree;
use crate::maintenance::compact::CompactReport;
use crate::maintenance::export::ExportReport;
use crate::maintenance::history::Comparison;
use crate::maintenance::inventory::{CommitSummary, TableSummary};
use crate::maintenance::reprocess::{ReprocessProgress, ReprocessReport};
use crate::pipeline::sink::lake::TableKind;
use crate::pipeline::source::inspect::Inspected;

/// A preview, as much of it as the Partitions view shows.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewData {
    pub target: String,
    pub table: PreviewTable,
    pub stats: FrameStats,
    pub files_read: usize,
    pub files_total: usize,
}

/// Which slot has a new answer: the only thing background work sends the event loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Listing,
    Preview,
    ReprocessProgress,
    ReprocessEnd,
    Tables,
    Compaction,
    Inspected,
    History,
    Compared,
    ExportProgress,
    ExportEnd,
}

/// The latest answer of one kind of work, until a view takes it.
#[derive(Debug)]
pub struct Slot<T> {
    notice: Notice,
    state: Arc<Mutex<State<T>>>,
}

#[derive(Debug)]
struct State<T> {
    /// Which request the slot waits for: each start counts one more.
    run: u64,
    value: Option<T>,
}

/// Where one run of the work puts its answer.
#[derive(Debug)]
pub struct Filler<T> {
    notice: Notice,
    run: u64,
    state: Arc<Mutex<State<T>>>,
}

fn lock<T>(state: &Mutex<State<T>>) -> MutexGuard<'_, State<T>> {
    // A panic while holding this lock leaves a plain value behind: still usable.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<T> Slot<T> {
    fn new(notice: Notice) -> Self {
        Self {
            notice,
            state: Arc::new(Mutex::new(State {
                run: 0,
                value: None,
            })),
        }
    }

    /// A new request: from now on, what an earlier run puts is dropped.
    pub fn start(&self) -> Filler<T> {
        let mut state = lock(&self.state);
        state.run += 1;
        state.value = None;
        Filler {
            notice: self.notice,
            run: state.run,
            state: Arc::clone(&self.state),
        }
    }

    /// The answer, if one came since the last take.
    pub fn take(&self) -> Option<T> {
        lock(&self.state).value.take()
    }
}

impl<T> Filler<T> {
    /// Puts the answer (over one not taken yet); the notice to send, or None when a later
    /// request made this one stale.
    pub fn put(&self, value: T) -> Option<Notice> {
        let mut state = lock(&self.state);
        if state.run != self.run {
            return None;
        }
        state.value = Some(value);
        Some(self.notice)
    }
}

/// A result of work, or why it failed.
pub type Answer<T> = Result<T, String>;

/// One slot per kind of background work; keys (a preview's target, a shard) say which request
/// an answer is for, so a view that moved on can tell.
#[derive(Debug)]
pub struct Jobs {
    pub listing: Slot<Answer<Tree>>,
    pub preview: Slot<(String, Answer<PreviewData>)>,
    pub reprocess_progress: Slot<ReprocessProgress>,
    /// The predicate, and the outcome.
    pub reprocess_end: Slot<(String, Answer<ReprocessReport>)>,
    pub tables: Slot<Answer<Vec<TableSummary>>>,
    pub compaction: Slot<(TableKind, Answer<CompactReport>)>,
    /// The shard, and its records.
    pub inspected: Slot<(String, Answer<Vec<Inspected>>)>,
    /// The table's path, and its commits oldest first.
    pub history: Slot<(String, Answer<Vec<CommitSummary>>)>,
    /// The table's path, the version compared (None: a candidate), and the comparison.
    pub compared: Slot<(String, Option<i64>, Answer<Comparison>)>,
    /// Files read, of how many.
    pub export_progress: Slot<(usize, usize)>,
    pub export_end: Slot<Answer<ExportReport>>,
}

impl Default for Jobs {
    fn default() -> Self {
        Self {
            listing: Slot::new(Notice::Listing),
            preview: Slot::new(Notice::Preview),
            reprocess_progress: Slot::new(Notice::ReprocessProgress),
            reprocess_end: Slot::new(Notice::ReprocessEnd),
            tables: Slot::new(Notice::Tables),
            compaction: Slot::new(Notice::Compaction),
            inspected: Slot::new(Notice::Inspected),
            history: Slot::new(Notice::History),
            compared: Slot::new(Notice::Compared),
            export_progress: Slot::new(Notice::ExportProgress),
            export_end: Slot::new(Notice::ExportEnd),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_taken_once() {
        let slot = Slot::<u32>::new(Notice::Tables);
        assert_eq!(slot.start().put(7), Some(Notice::Tables));
        assert_eq!(slot.take(), Some(7));
        assert_eq!(slot.take(), None);
    }

    #[test]
    fn a_newer_answer_replaces_one_not_taken() {
        let slot = Slot::<u32>::new(Notice::ExportProgress);
        let run = slot.start();
        run.put(1);
        run.put(2);
        assert_eq!(slot.take(), Some(2));
    }

    #[test]
    fn an_answer_to_an_earlier_request_is_dropped_even_when_it_lands_last() {
        let slot = Slot::<&str>::new(Notice::Preview);
        let first = slot.start();
        let second = slot.start();
        assert_eq!(second.put("second"), Some(Notice::Preview));
        assert_eq!(first.put("first"), None);
        assert_eq!(slot.take(), Some("second"));
    }
}
