//! Order-preserving parallel map over a slice, on scoped threads.
//!
//! A chunk is built on the blocking pool by one task; when it is the last one of a `--once` run
//! (or the only busy shard) the other cores would sit idle while it parses and encodes. Items are
//! handed out one at a time from a shared counter, so uneven items (a 600 KB article next to a
//! 1 KB one) do not leave a thread idle behind a fixed split.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Threads used by [`map_in_order`]: the cores this process may run on.
pub fn threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| {
        std::thread::available_parallelism()
            .map(NonZeroUsize::get)
            .unwrap_or(1)
    })
}

/// `items.iter().map(f).collect()`, computed on up to [`threads`] threads (the calling one among
/// them); below `min_items_per_thread` items a thread, fewer threads are started.
pub fn map_in_order<T, R, F>(items: &[T], min_items_per_thread: usize, f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    let wanted = items.len() / min_items_per_thread.max(1);
    let workers = wanted.clamp(1, threads());
    if workers == 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else {
                return done;
            };
            done.push((i, f(item)));
        }
    };
    let mut results: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    std::thread::scope(|scope| {
        // A thread the OS refuses (a pids limit) ends the hiring, not the work: the calling
        // thread takes whatever the others leave.
        let helpers: Vec<_> = (1..workers)
            .map_while(|_| std::thread::Builder::new().spawn_scoped(scope, work).ok())
            .collect();
        let own = work();
        for (i, r) in own.into_iter().chain(
            helpers
                .into_iter()
                // A panic in `f` is a bug: carry it to the caller as if it ran there.
                .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))),
        ) {
            results[i] = Some(r);
        }
    });
    results
        .into_iter()
        .map(|r| r.expect("every index is taken exactly once"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_the_order_of_the_items() {
        let items: Vec<u64> = (0..10_000).collect();
        let squares = map_in_order(&items, 1, |&x| x * x);
        assert_eq!(squares, items.iter().map(|x| x * x).collect::<Vec<_>>());
    }

    #[test]
    fn every_item_is_mapped_exactly_once_even_when_items_take_uneven_time() {
        let calls = AtomicUsize::new(0);
        let items: Vec<u64> = (0..200).collect();
        let out = map_in_order(&items, 1, |&x| {
            calls.fetch_add(1, Ordering::Relaxed);
            if x % 7 == 0 {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            x + 1
        });
        assert_eq!(calls.load(Ordering::Relaxed), 200);
        assert_eq!(out, (1..=200).collect::<Vec<_>>());
    }

    #[test]
    fn an_empty_slice_maps_to_an_empty_vec() {
        let out: Vec<u8> = map_in_order(&[] as &[u8], 1, |&x| x);
        assert!(out.is_empty());
    }

    #[test]
    #[should_panic(expected = "boom")]
    fn a_panic_in_the_mapping_reaches_the_caller() {
        let items: Vec<u32> = (0..100).collect();
        map_in_order(&items, 1, |&x| {
            if x == 57 {
                panic!("boom");
            }
            x
        });
    }
}
