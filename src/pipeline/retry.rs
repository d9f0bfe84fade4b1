//! The pipeline's one retry policy, for every loop that retries: GetRecords, opening a shard,
//! loading and saving checkpoints, committing a chunk, listing shards.
//!
//! The pipeline's clients make one attempt per call ([`AwsClients::single_attempt`]); what may
//! heal (throttling, 5xx, timeouts, resets, from the SDK or from the tables' object store:
//! [`crate::aws::may_heal`]) is retried here, with backoff and jitter, for as long as it lasts,
//! and what cannot (a deleted stream or bucket, refused credentials: [`crate::aws::terminal`])
//! only for a short grace, for eventual consistency, after which the error ends the run.
//! Anything else is not retried: it fails the caller at once. A one-shot command has no loop of
//! its own and keeps the SDK's retries instead: either way each call is retried in one place.
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

/// The failures of one call (or one loop of calls) in a row, under the one retry policy: what
/// may heal is retried with backoff for as long as it lasts, what retrying cannot fix only for
/// [`TERMINAL_GRACE`], and anything else (a conflict with another writer, a checkpoint that is
/// not JSON) not at all.
#[derive(Debug, Default)]
pub struct Retrying {
    failures: u32,
    /// Since when every failure was one that retrying cannot fix.
    terminal_since: Option<Instant>,
}

/// What to do after a failure.
#[derive(Debug)]
enum Next {
    /// Try again after this pause (the failure is handed back, for the log line).
    Wait(Duration, anyhow::Error),
    /// Give up with this error: it does not heal, or retrying cannot fix it and its grace is
    /// over (the error then says what to do).
    Stop(anyhow::Error),
}

impl Retrying {
    pub fn succeeded(&mut self) {
        *self = Self::default();
    }

    #[cfg(test)]
    fn failures(&self) -> u32 {
        self.failures
    }

    /// Counts a failure in and says what follows it.
    fn after(&mut self, err: anyhow::Error) -> Next {
        self.failures += 1;
        if let Some(terminal) = crate::aws::terminal(&err) {
            let since = *self.terminal_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= TERMINAL_GRACE {
                return Next::Stop(terminal);
            }
            return Next::Wait(BACKOFF.delay(self.failures).min(TERMINAL_GRACE / 4), err);
        }
        self.terminal_since = None;
        if crate::aws::may_heal(&err) {
            Next::Wait(BACKOFF.delay(self.failures), err)
        } else {
            Next::Stop(err)
        }
    }

    /// After a failure of `what`: counts it in the stats, then waits the pause the policy gives
    /// (logged) and returns, so that the caller tries again; or returns the error when the
    /// policy gives up or a stop is requested.
    pub async fn wait_after(
        &mut self,
        err: anyhow::Error,
        what: &str,
        stop: &watch::Receiver<bool>,
        stats: &Stats,
    ) -> Result<()> {
        stats.error();
        let (pause, err) = match self.after(err) {
            Next::Wait(pause, err) => (pause, err),
            Next::Stop(err) => return Err(err),
        };
        let stopped = *stop.borrow() || {
            warn!("{err:#}; retrying {what} in {pause:.1?}");
            !sleep_unless_stopped(stop, pause).await
        };
        if stopped {
            return Err(err.context(format!("stopping before {what} succeeded")));
        }
        Ok(())
    }
}

/// Calls `call` until it succeeds, a stop is requested, or the policy gives up ([`Retrying`]).
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
        match call().await {
            Ok(value) => return Ok(value),
            Err(err) => retrying.wait_after(err, what, stop, stats).await?,
        }
    }
}

/// Waits `pause`; false when a stop was requested before or during it.
async fn sleep_unless_stopped(stop: &watch::Receiver<bool>, pause: Duration) -> bool {
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
            match retrying.after(aws(ErrorKind::Retry)) {
                Next::Wait(pause, _) => {
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
            matches!(retrying.after(aws(ErrorKind::Stop)), Next::Wait(p, _) if p <= TERMINAL_GRACE / 4)
        );
        retrying.terminal_since = Some(Instant::now() - TERMINAL_GRACE);
        match retrying.after(aws(ErrorKind::Stop)) {
            Next::Stop(err) => assert!(crate::aws::is_terminal(&err), "{err:#}"),
            Next::Wait(pause, _) => panic!("still waiting ({pause:?}) past the grace"),
        }
    }

    #[test]
    fn a_healing_error_in_between_restarts_the_grace() {
        let mut retrying = Retrying::default();
        retrying.after(aws(ErrorKind::Stop));
        retrying.terminal_since = Some(Instant::now() - TERMINAL_GRACE);
        retrying.after(aws(ErrorKind::Retry));
        assert!(matches!(
            retrying.after(aws(ErrorKind::Stop)),
            Next::Wait(..)
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

    fn store(error: object_store::Error) -> anyhow::Error {
        anyhow::Error::new(deltalake::DeltaTableError::ObjectStore { source: error })
            .context("committing a chunk to the summaries table")
    }

    fn source(text: &str) -> Box<dyn std::error::Error + Send + Sync> {
        text.to_string().into()
    }

    #[test]
    fn a_store_error_that_may_heal_is_retried() {
        let err = store(object_store::Error::Generic {
            store: "S3",
            source: source("Server returned non-2xx status code: 503 Service Unavailable"),
        });
        assert!(matches!(Retrying::default().after(err), Next::Wait(..)));
    }

    #[test]
    fn a_store_refusing_the_credentials_stops_after_the_grace_saying_what_to_do() {
        let refused = || {
            store(object_store::Error::PermissionDenied {
                path: "lake/summaries/_delta_log".into(),
                source: source("<Code>InvalidAccessKeyId</Code>"),
            })
        };
        let mut retrying = Retrying::default();
        assert!(matches!(retrying.after(refused()), Next::Wait(..)));
        retrying.terminal_since = Some(Instant::now() - TERMINAL_GRACE);
        match retrying.after(refused()) {
            Next::Stop(err) => {
                let text = format!("{err:#}");
                assert!(text.contains("S3 answered InvalidAccessKeyId"), "{text}");
                assert!(text.contains("the credentials were refused"), "{text}");
            }
            Next::Wait(..) => panic!("still waiting past the grace"),
        }
    }

    #[test]
    fn a_missing_bucket_is_terminal_and_a_missing_file_is_not_retried() {
        let missing = |code: &str| {
            store(object_store::Error::NotFound {
                path: "lake/summaries/part-1.parquet".into(),
                source: source(&format!("<Code>{code}</Code>")),
            })
        };
        assert!(crate::aws::terminal(&missing("NoSuchBucket")).is_some());
        let mut retrying = Retrying::default();
        match retrying.after(missing("NoSuchKey")) {
            Next::Stop(err) => assert!(!crate::aws::is_terminal(&err), "{err:#}"),
            Next::Wait(..) => panic!("a missing file was retried"),
        }
    }

    #[test]
    fn another_writers_commit_of_the_chunk_is_not_retried() {
        let mut retrying = Retrying::default();
        let err = anyhow::anyhow!(
            "chunk 3 of precis/s/shard-0 is in the table already: another writer committed \
             this shard's chunks; this one stops"
        );
        assert!(matches!(retrying.after(err), Next::Stop(_)));
        assert_eq!(retrying.failures(), 1);
    }
}
