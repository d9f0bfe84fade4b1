//! The pipeline's one retry layer for AWS calls.
//!
//! The pipeline's clients make one attempt per call ([`AwsClients::single_attempt`]); what may
//! heal (throttling, 5xx, timeouts, resets) is retried here, with backoff and jitter, for as long
//! as it lasts, and what cannot (a deleted stream or bucket, refused credentials:
//! [`crate::aws::is_terminal`]) only for a short grace, for eventual consistency, after which the
//! error ends the run. A one-shot command has no loop of its own and keeps the SDK's retries
//! instead: either way each call is retried in one place.
//!
//! [`AwsClients::single_attempt`]: crate::aws::AwsClients::single_attempt

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::sync::watch;
use tracing::warn;

use super::stats::Stats;
use crate::backoff::Backoff;

/// How long an error that retrying cannot fix (a deleted stream, refused credentials) may last
/// before the run stops.
pub const TERMINAL_GRACE: Duration = Duration::from_secs(10);

/// A floor of half the ceiling, so that an outage is not hammered.
const BACKOFF: Backoff = Backoff {
    base: Duration::from_millis(200),
    cap: Duration::from_secs(30),
    min_fraction: 0.5,
};

/// The failures of one call (or one loop of calls) in a row.
#[derive(Debug, Default)]
pub struct Retrying {
    failures: u32,
    /// Since when every failure was one that retrying cannot fix.
    terminal_since: Option<Instant>,
}

/// What to do after a failure.
#[derive(Debug)]
pub enum Next {
    /// Try again after this pause.
    Wait(Duration),
    /// Give up: retrying cannot fix this one and its grace is over. The error says what to do.
    Stop(anyhow::Error),
}

impl Retrying {
    pub fn succeeded(&mut self) {
        *self = Self::default();
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Counts a failure in and says what follows it.
    pub fn after(&mut self, err: &anyhow::Error) -> Next {
        self.failures += 1;
        // The SDK's errors are classified where they are explained; the tables' store names
        // S3's code in its text only.
        match crate::aws::terminal_in_text(err) {
            Some(terminal) => {
                let since = *self.terminal_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= TERMINAL_GRACE {
                    return Next::Stop(terminal);
                }
                Next::Wait(BACKOFF.delay(self.failures).min(TERMINAL_GRACE / 4))
            }
            None => {
                self.terminal_since = None;
                Next::Wait(BACKOFF.delay(self.failures))
            }
        }
    }
}

/// Calls `call` until it succeeds, a stop is requested, or retrying cannot help; each failure is
/// counted in the stats and logged with `what`.
pub async fn until_done<T, F, Fut>(
    what: &str,
    stop: &watch::Receiver<bool>,
    stats: &Stats,
    mut call: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut retrying = Retrying::default();
    loop {
        let err = match call().await {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        stats.error();
        // Only an AWS failure that may heal is retried here: anything else (a checkpoint that
        // is not JSON) fails the caller at once, and the supervisor decides what follows.
        if !crate::aws::is_terminal(&err) && !crate::aws::may_heal(&err) {
            return Err(err);
        }
        let pause = match retrying.after(&err) {
            Next::Wait(pause) => pause,
            Next::Stop(terminal) => return Err(terminal),
        };
        if *stop.borrow() {
            return Err(err.context(format!("stopping before {what} succeeded")));
        }
        warn!("{err:#}; retrying {what} in {pause:.1?}");
        if !sleep_unless_stopped(stop, pause).await {
            return Err(err.context(format!("stopping before {what} succeeded")));
        }
    }
}

/// Waits `pause`; false when a stop was requested before or during it.
pub async fn sleep_unless_stopped(stop: &watch::Receiver<bool>, pause: Duration) -> bool {
    let mut watching = stop.clone();
    tokio::select! {
        _ = tokio::time::sleep(pause) => !*stop.borrow(),
        _ = watching.wait_for(|s| *s) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::{AwsError, ErrorKind};

    fn aws(kind: ErrorKind) -> anyhow::Error {
        anyhow::Error::new(AwsError::new(kind, "reading shard s: injected"))
    }

    #[test]
    fn what_may_heal_is_retried_with_growing_pauses_for_as_long_as_it_lasts() {
        let mut retrying = Retrying::default();
        let mut last = Duration::ZERO;
        for n in 1..=40 {
            match retrying.after(&aws(ErrorKind::Retry)) {
                Next::Wait(pause) => {
                    // Between half and all of 200 ms · 2ⁿ⁻¹, at most 30 s.
                    let ceiling = BACKOFF.ceiling(n);
                    assert!(pause <= ceiling && pause >= ceiling / 2, "{pause:?} at {n}");
                    assert!(ceiling >= last, "the ceiling went down at {n}");
                    last = ceiling;
                }
                Next::Stop(err) => panic!("gave up on a retryable error: {err:#}"),
            }
        }
        assert_eq!(retrying.failures(), 40);
    }

    #[test]
    fn what_cannot_heal_stops_once_its_grace_is_over() {
        let mut retrying = Retrying::default();
        assert!(
            matches!(retrying.after(&aws(ErrorKind::Stop)), Next::Wait(p) if p <= TERMINAL_GRACE / 4)
        );
        retrying.terminal_since = Some(Instant::now() - TERMINAL_GRACE);
        match retrying.after(&aws(ErrorKind::Stop)) {
            Next::Stop(err) => assert!(crate::aws::is_terminal(&err), "{err:#}"),
            Next::Wait(pause) => panic!("still waiting ({pause:?}) past the grace"),
        }
    }

    #[test]
    fn a_healing_error_in_between_restarts_the_grace() {
        let mut retrying = Retrying::default();
        retrying.after(&aws(ErrorKind::Stop));
        retrying.terminal_since = Some(Instant::now() - TERMINAL_GRACE);
        retrying.after(&aws(ErrorKind::Retry));
        assert!(matches!(
            retrying.after(&aws(ErrorKind::Stop)),
            Next::Wait(_)
        ));
    }

    #[tokio::test]
    async fn a_stop_ends_the_retries_of_a_call_that_keeps_failing() {
        let (stop, stopped) = watch::channel(false);
        let stats = Stats::default();
        let calls = std::sync::atomic::AtomicU32::new(0);
        let result: Result<()> = until_done("the test call", &stopped, &stats, || {
            if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 2 {
                let _ = stop.send(true);
            }
            async { Err(aws(ErrorKind::Retry)) }
        })
        .await;
        let err = result.unwrap_err();
        assert!(format!("{err:#}").contains("stopping before the test call succeeded"));
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn an_error_that_is_not_an_aws_failure_is_not_retried() {
        let (_stop, stopped) = watch::channel(false);
        let stats = Stats::default();
        let calls = std::sync::atomic::AtomicU32::new(0);
        let result: Result<()> = until_done("the test call", &stopped, &stats, || {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { Err(anyhow::anyhow!("checkpoint s3://b/k is not valid JSON")) }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_call_that_heals_returns_its_value() {
        let (_stop, stopped) = watch::channel(false);
        let stats = Stats::default();
        let calls = std::sync::atomic::AtomicU32::new(0);
        let value = until_done("the test call", &stopped, &stats, || {
            let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                if n < 2 {
                    Err(aws(ErrorKind::Retry))
                } else {
                    Ok(n)
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(value, 2);
    }
}
