//! The pipeline as a running thing with controls: started once, then watched (stats, summarizer
//! metrics) and steered (pause, stop) by whichever front end holds it — the headless printer or
//! the console. The front end never drives the data path; it reads counters and flips switches.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::aws::AwsClients;
use crate::config::Settings;
use crate::pipeline::sink::lake::Lake;
use crate::pipeline::stats::Stats;
use crate::pipeline::supervisor::{run_pipeline, PipelineOptions, RunOutcome};
use crate::resources::{ensure_bucket, require_stream};
use crate::summarize::pool::{PoolMetrics, SummarizerPool};
use crate::summarize::start_pool;

/// Requests a graceful stop of the engine it came from.
#[derive(Clone)]
pub struct StopHandle(watch::Sender<bool>);

impl StopHandle {
    pub fn request(&self) {
        let _ = self.0.send(true);
    }
}

pub struct Engine {
    pub clients: AwsClients,
    pub lake: Lake,
    pub stream: String,
    pub bucket: String,
    pub open_shards: u32,
    pub once: bool,
    /// What the pipeline accepts, for the console's inspector to say what it would reject.
    pub limits: crate::pipeline::record::Limits,
    pub stats: Arc<Stats>,
    /// None when summaries are turned off.
    pub summarizer: Option<Arc<SummarizerPool>>,
    pub started: Instant,
    stop: watch::Sender<bool>,
    paused: watch::Sender<bool>,
    task: JoinHandle<Result<RunOutcome>>,
    /// Follow mode's background compaction, when on.
    keeper: Option<JoinHandle<()>>,
    /// Why the pipeline ended badly, once it has.
    failure: Arc<Mutex<Option<String>>>,
}

impl Engine {
    /// Loads the model (a missing one fails before anything is read or written), checks the
    /// stream and the bucket, then starts reading.
    pub async fn start(settings: &Settings, once: bool) -> Result<Self> {
        let leases = crate::lease::LeaseSettings::of(&settings.coordination, &settings.stream.name);
        if once && leases.is_some() {
            anyhow::bail!(
                "--once reads every shard to its tip, which workers sharing a stream cannot promise \
                 each other; with a lease table run in follow mode and stop workers with SIGTERM \
                 (or drop --coordination / --lease-table for a one-off run)"
            );
        }
        let summarizer = load_summarizer(settings).await?;
        let clients = AwsClients::connect(settings).await;
        let stream = settings.stream.name.clone();
        let bucket = settings.lake.bucket.clone();
        let open_shards = check_resources(settings, &clients, leases.as_ref(), once).await?;
        let lake = Lake::new(settings);
        let stats = Arc::new(Stats::default());
        let (stop, stop_rx) = watch::channel(false);
        let (paused, paused_rx) = watch::channel(false);
        let options = PipelineOptions {
            stream: stream.clone(),
            bucket: bucket.clone(),
            lake: lake.clone(),
            start: settings.pipeline.from,
            policy: (&settings.pipeline).into(),
            limits: (&settings.pipeline).into(),
            once,
            summarizer: summarizer.clone(),
            paused: paused_rx,
            leases: leases.clone(),
        };
        let failure = Arc::new(Mutex::new(None));
        let threshold = settings.lake.compact_small_files;
        let keeper = (!once && threshold > 0).then(|| {
            let compactor = leases.as_ref().map(|l| {
                (
                    crate::lease::table::LeaseTable::new(clients.clone(), &l.table),
                    l.worker.clone(),
                )
            });
            tokio::spawn(crate::maintenance::compact::keep_compact(
                lake.clone(),
                threshold,
                compactor,
                stop_rx.clone(),
            ))
        });
        let task = spawn_pipeline(
            clients.clone(),
            options,
            stats.clone(),
            stop_rx,
            failure.clone(),
        );
        Ok(Self {
            clients,
            lake,
            stream,
            bucket,
            open_shards,
            once,
            limits: crate::pipeline::record::Limits::from(&settings.pipeline),
            stats,
            summarizer,
            started: Instant::now(),
            stop,
            paused,
            task,
            keeper,
            failure,
        })
    }

    pub fn pool_metrics(&self) -> Option<Arc<PoolMetrics>> {
        self.summarizer.as_ref().map(|p| p.metrics())
    }

    pub fn summarizer_id(&self) -> &str {
        self.summarizer
            .as_ref()
            .map_or(crate::pipeline::sink::parquet::NO_SUMMARIZER, |p| p.id())
    }

    /// Readers end at once: what they read but did not commit is read again on the next start.
    pub fn request_stop(&self) {
        let _ = self.stop.send(true);
    }

    pub fn set_paused(&self, paused: bool) {
        let _ = self.paused.send(paused);
    }

    /// True once the pipeline has ended on its own (drained in `--once` mode, or failed).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Why the pipeline failed, once it has ended with an error or failed readers.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }

    /// A handle that can request the stop from elsewhere (a signal handler).
    pub fn stop_sender(&self) -> StopHandle {
        StopHandle(self.stop.clone())
    }

    /// Waits until the pipeline ends on its own or a stop is requested (then for at most
    /// `limit` more).
    pub async fn run_to_end(self, limit: Duration) -> Result<RunOutcome> {
        let mut stop = self.stop.subscribe();
        let mut task = self.task;
        // A compaction in flight is dropped before its commit: the table stays as it was, and
        // the files it wrote are for `precis vacuum`.
        let _keeper = self.keeper.map(AbortOnDrop);
        let joined = tokio::select! {
            joined = &mut task => joined,
            _ = stop.wait_for(|s| *s) => {
                match tokio::time::timeout(limit, &mut task).await {
                    Ok(joined) => joined,
                    Err(_) => {
                        task.abort();
                        anyhow::bail!(
                            "readers did not end within {} s of the stop signal; what is not committed is read again by the next run",
                            limit.as_secs()
                        );
                    }
                }
            }
        };
        let outcome = joined.context("the pipeline task panicked")??;
        // The tables' cards follow what this run committed.
        for kind in crate::pipeline::sink::lake::TableKind::ALL {
            let card = async {
                if let Some(table) = self.lake.open(kind).await? {
                    crate::maintenance::card::write_card(&table, kind).await?;
                }
                anyhow::Ok(())
            };
            match tokio::time::timeout(Duration::from_secs(10), card).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => warn!("the {} table's card was not updated: {err:#}", kind.name()),
                Err(_) => warn!("the {} table's card was not updated in 10 s", kind.name()),
            }
        }
        Ok(outcome)
    }
}

/// Aborts a background task when its owner is done with it.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The stream, the bucket (made if missing) and the lease table (with leases), checked before
/// anything is read; the stream's open shards.
async fn check_resources(
    settings: &Settings,
    clients: &AwsClients,
    leases: Option<&crate::lease::LeaseSettings>,
    once: bool,
) -> Result<u32> {
    let (stream, bucket) = (&settings.stream.name, &settings.lake.bucket);
    let open_shards = require_stream(clients, stream).await?;
    ensure_bucket(clients, bucket, &settings.aws.region).await?;
    if let Some(leases) = leases {
        crate::lease::table::LeaseTable::new(clients.clone(), &leases.table)
            .ensure()
            .await?;
        info!(
            "worker {} shares {stream} through the lease table {}",
            leases.worker, leases.table
        );
    }
    info!(
        "reading {stream} ({open_shards} open shard{}) at {} into s3://{bucket}/{}",
        if open_shards == 1 { "" } else { "s" },
        clients.target.label,
        if once {
            " until every shard is drained"
        } else {
            ""
        }
    );
    Ok(open_shards)
}

/// The pipeline in its own task, so that a panic in it is a failure with a reason, not a
/// silence; why it ended badly goes into `failure`.
fn spawn_pipeline(
    clients: AwsClients,
    options: PipelineOptions,
    stats: Arc<Stats>,
    stop: watch::Receiver<bool>,
    failure: Arc<Mutex<Option<String>>>,
) -> JoinHandle<Result<RunOutcome>> {
    tokio::spawn(async move {
        let outcome = match tokio::spawn(run_pipeline(clients, options, stats, stop)).await {
            Ok(outcome) => outcome,
            Err(join) => Err(anyhow::anyhow!("the pipeline panicked: {join}")),
        };
        let why = match &outcome {
            Err(err) => Some(format!("{err:#}")),
            Ok(o) if o.failed_readers > 0 => {
                Some(format!("{} shard reader(s) failed", o.failed_readers))
            }
            Ok(_) => None,
        };
        if let (Some(why), Ok(mut slot)) = (why, failure.lock()) {
            *slot = Some(why);
        }
        outcome
    })
}

/// The configured summarizer's worker pool, loaded off the reactor; None for `--summarizer none`.
pub async fn load_summarizer(settings: &Settings) -> Result<Option<Arc<SummarizerPool>>> {
    let summarizer_settings = settings.summarizer.clone();
    let pool = tokio::task::spawn_blocking(move || start_pool(&summarizer_settings))
        .await
        .context("loading the summarizer panicked")??
        .map(Arc::new);
    match &pool {
        Some(pool) => info!("summarizer {} on {} worker(s)", pool.id(), pool.workers()),
        None => info!("summaries turned off (--summarizer none): curated rows carry features only"),
    }
    Ok(pool)
}
