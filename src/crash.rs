//! Crash points: named places on the commit protocol where a test can have the process killed
//! (`PRECIS_CRASH_AT=NAME` or `NAME@N` for the N-th pass), so that a crash lands on a chosen step
//! instead of wherever a timer happens to fall. The process sends itself SIGKILL: nothing is
//! flushed, no destructor runs, exactly as `kill -9` from outside.
//!
//! Compiled only with debug assertions (the test and dev builds); a release build has no hook
//! and ignores the variable.
//!
//! The points, in the order a chunk or a rewrite passes them:
//! - `after-commit-articles`, `after-commit-summaries`, `after-commit-quarantine`: that table's
//!   commit of a chunk is made, the next table's is not;
//! - `before-checkpoint`: every table holds the chunk, the checkpoint does not say so yet;
//! - `before-rewrite-commit`: a compaction's, reprocess's or backfill's new files are written, the
//!   commit that swaps them in is not made;
//! - `after-rewrite-commit`: that commit is made, nothing after it ran.

#[cfg(debug_assertions)]
pub fn point(name: &str) {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::OnceLock;

    static PLAN: OnceLock<Option<(String, u32)>> = OnceLock::new();
    static PASSES: AtomicU32 = AtomicU32::new(0);
    let plan = PLAN.get_or_init(|| {
        let value = std::env::var("PRECIS_CRASH_AT").ok()?;
        Some(match value.split_once('@') {
            Some((name, nth)) => (name.to_string(), nth.parse().unwrap_or(1)),
            None => (value, 1),
        })
    });
    let Some((at, nth)) = plan else { return };
    if at != name || PASSES.fetch_add(1, Ordering::SeqCst) + 1 != *nth {
        return;
    }
    eprintln!("crash point {name} (pass {nth}): killing the process");
    kill_self();
}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn point(_name: &str) {}

#[cfg(all(debug_assertions, target_os = "linux", target_env = "gnu"))]
fn kill_self() {
    // SAFETY: getpid and kill have no preconditions; SIGKILL is not catchable, so this returns
    // only if the signal could not be sent.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    std::process::abort();
}

#[cfg(all(debug_assertions, not(all(target_os = "linux", target_env = "gnu"))))]
fn kill_self() {
    std::process::abort();
}
