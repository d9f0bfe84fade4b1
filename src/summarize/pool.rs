//! The summarizer pool: dedicated worker threads, each owning one loaded model, fed through one
//! bounded queue.
//!
//! Model work never runs on the async reactor. Callers block on a full queue, which is the
//! backpressure: a slow model slows the writer, the writer slows the readers, and memory stays
//! bounded. A caller's articles are queued in runs of up to `batch_articles`, one job each: one
//! hand-off per run, not per article, since with the static encoder an article costs less than
//! waking a thread does.
//!
//! An article the model fails on (an error or a panic inside the model) is retried alone; if it
//! fails again it gets the lead sentences as its summary and a summarizer id that says so, so the
//! row is written and a training job can filter it out. Nothing is dropped.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::extractive::lead;
use super::{Document, Summarizer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolOptions {
    pub workers: usize,
    /// Articles per job (and model call) at most.
    pub batch_articles: usize,
    /// Jobs waiting at most; callers block beyond it.
    pub queue: usize,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            workers: 2,
            batch_articles: 8,
            queue: 32,
        }
    }
}

/// One summary and the summarizer that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summarized {
    pub text: String,
    pub summarizer: Arc<str>,
}

/// Counters the console and the stats line show.
#[derive(Debug, Default)]
pub struct PoolMetrics {
    pub queued: AtomicUsize,
    pub summarized: AtomicU64,
    pub fallbacks: AtomicU64,
    pub batches: AtomicU64,
    pub busy_micros: AtomicU64,
    pub tokens_in: AtomicU64,
    pub tokens_out: AtomicU64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolSnapshot {
    pub queued: usize,
    pub summarized: u64,
    pub fallbacks: u64,
    pub batches: u64,
    pub busy: Duration,
    pub tokens_in: u64,
    pub tokens_out: u64,
}

impl PoolMetrics {
    pub fn snapshot(&self) -> PoolSnapshot {
        PoolSnapshot {
            queued: self.queued.load(Ordering::Relaxed),
            summarized: self.summarized.load(Ordering::Relaxed),
            fallbacks: self.fallbacks.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            busy: Duration::from_micros(self.busy_micros.load(Ordering::Relaxed)),
            tokens_in: self.tokens_in.load(Ordering::Relaxed),
            tokens_out: self.tokens_out.load(Ordering::Relaxed),
        }
    }
}

/// A caller's way to take back the articles it queued: the workers drop those not started yet,
/// and the caller gets an error instead of summaries. A reader whose chunk will not be committed
/// (a stop, a lease gone to another worker) or a cancelled reprocess does not keep the models
/// busy with work nobody will use.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A run of one caller's articles.
struct Job {
    /// Title and content of each article.
    articles: Vec<(Option<String>, String)>,
    /// The caller's index of the first one.
    first: usize,
    reply: mpsc::Sender<(usize, Summarized)>,
    cancel: Cancel,
}

pub struct SummarizerPool {
    queue: Option<SyncSender<Job>>,
    workers: Vec<JoinHandle<()>>,
    batch_articles: usize,
    id: Arc<str>,
    metrics: Arc<PoolMetrics>,
}

impl SummarizerPool {
    /// Loads one model per worker (here, so that a missing or broken model fails before any
    /// record is read) and starts the workers.
    pub fn start<F>(load: F, options: PoolOptions) -> Result<Self>
    where
        F: Fn() -> Result<Box<dyn Summarizer>>,
    {
        let workers = options.workers.max(1);
        let models = (0..workers).map(|_| load()).collect::<Result<Vec<_>>>()?;
        let id: Arc<str> = models[0].id().into();
        let (tx, rx) = mpsc::sync_channel::<Job>(options.queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        let metrics = Arc::new(PoolMetrics::default());
        let handles = models
            .into_iter()
            .enumerate()
            .map(|(n, model)| {
                let (rx, metrics, id) = (rx.clone(), metrics.clone(), id.clone());
                std::thread::Builder::new()
                    .name(format!("summarizer-{n}"))
                    .spawn(move || work(model, &rx, &metrics, &id))
                    .context("starting a summarizer thread")
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            queue: Some(tx),
            workers: handles,
            batch_articles: options.batch_articles.max(1),
            id,
            metrics,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Worker threads, one model each.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    pub fn metrics(&self) -> Arc<PoolMetrics> {
        self.metrics.clone()
    }

    /// Summarizes the articles, in order. Blocks: call it from a blocking thread, never from
    /// async code. Once `cancel` is set, the articles not started yet are dropped and this
    /// answers with an error.
    pub fn summarize_blocking(
        &self,
        docs: &[Document<'_>],
        cancel: &Cancel,
    ) -> Result<Vec<Summarized>> {
        let queue = self
            .queue
            .as_ref()
            .context("the summarizer pool is shut down")?;
        let (reply, replies) = mpsc::channel();
        let run = self.batch_articles;
        for (n, articles) in docs.chunks(run).enumerate() {
            anyhow::ensure!(!cancel.is_cancelled(), "summaries cancelled");
            self.metrics
                .queued
                .fetch_add(articles.len(), Ordering::Relaxed);
            let job = Job {
                articles: articles
                    .iter()
                    .map(|d| (d.title.map(str::to_string), d.content.to_string()))
                    .collect(),
                first: n * run,
                reply: reply.clone(),
                cancel: cancel.clone(),
            };
            if queue.send(job).is_err() {
                self.metrics
                    .queued
                    .fetch_sub(articles.len(), Ordering::Relaxed);
                anyhow::bail!("every summarizer worker has stopped");
            }
        }
        drop(reply);
        let mut out: Vec<Option<Summarized>> = vec![None; docs.len()];
        for (index, summary) in replies.iter() {
            out[index] = Some(summary);
        }
        anyhow::ensure!(!cancel.is_cancelled(), "summaries cancelled");
        out.into_iter()
            .map(|s| s.context("a summarizer worker stopped before answering"))
            .collect()
    }
}

impl std::fmt::Debug for SummarizerPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SummarizerPool")
            .field("id", &self.id)
            .field("workers", &self.workers.len())
            .finish()
    }
}

impl Drop for SummarizerPool {
    fn drop(&mut self) {
        // Closing the queue ends each worker after its current batch.
        self.queue.take();
        for handle in self.workers.drain(..) {
            let _ = handle.join();
        }
    }
}

fn take_job(rx: &Mutex<Receiver<Job>>) -> Option<Job> {
    rx.lock().ok()?.recv().ok()
}

fn work(
    mut model: Box<dyn Summarizer>,
    rx: &Mutex<Receiver<Job>>,
    metrics: &PoolMetrics,
    id: &Arc<str>,
) {
    while let Some(job) = take_job(rx) {
        metrics
            .queued
            .fetch_sub(job.articles.len(), Ordering::Relaxed);
        // Dropping a cancelled job drops its reply sender: its caller stops waiting for it.
        if job.cancel.is_cancelled() {
            continue;
        }
        let started = Instant::now();
        let docs: Vec<Document<'_>> = job
            .articles
            .iter()
            .map(|(title, content)| Document {
                title: title.as_deref(),
                content,
            })
            .collect();
        let texts = match run(model.as_mut(), &docs) {
            Ok(texts) => texts.into_iter().map(Ok).collect(),
            // One bad article must not cost the others their summaries: retry them one by one.
            Err(_) if docs.len() > 1 => docs
                .iter()
                .map(|d| run(model.as_mut(), std::slice::from_ref(d)).map(|mut t| t.remove(0)))
                .collect(),
            Err(err) => vec![Err(err)],
        };
        for (n, ((_, content), text)) in job.articles.iter().zip(texts).enumerate() {
            let summary = match text {
                Ok(text) => Summarized {
                    text,
                    summarizer: id.clone(),
                },
                Err(err) => {
                    tracing::warn!(error = %format!("{err:#}"), "summarizer failed on an article; its lead sentences stand in");
                    metrics.fallbacks.fetch_add(1, Ordering::Relaxed);
                    Summarized {
                        text: lead(content, 3),
                        summarizer: FALLBACK_ID.into(),
                    }
                }
            };
            let _ = job.reply.send((job.first + n, summary));
        }
        let tokens = model.take_token_counts();
        metrics.tokens_in.fetch_add(tokens.input, Ordering::Relaxed);
        metrics
            .tokens_out
            .fetch_add(tokens.output, Ordering::Relaxed);
        metrics
            .summarized
            .fetch_add(job.articles.len() as u64, Ordering::Relaxed);
        metrics.batches.fetch_add(1, Ordering::Relaxed);
        metrics
            .busy_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
    }
}

/// The summarizer id of rows whose model failed and whose summary is the lead sentences.
pub const FALLBACK_ID: &str = "fallback:lead-3";

fn run(model: &mut dyn Summarizer, docs: &[Document<'_>]) -> Result<Vec<String>> {
    let out = catch_unwind(AssertUnwindSafe(|| model.summarize(docs)))
        .map_err(|_| anyhow::anyhow!("the model panicked"))??;
    anyhow::ensure!(
        out.len() == docs.len(),
        "the model returned {} summaries for {} articles",
        out.len(),
        docs.len()
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Summarizes by upper-casing the first word; panics on articles containing "boom".
    struct FirstWord;

    impl Summarizer for FirstWord {
        fn id(&self) -> &str {
            "test:first-word"
        }

        fn summarize(&mut self, batch: &[Document<'_>]) -> Result<Vec<String>> {
            batch
                .iter()
                .map(|d| {
                    assert!(!d.content.contains("boom"), "model blew up");
                    Ok(d.content
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_uppercase())
                })
                .collect()
        }
    }

    fn pool(workers: usize) -> SummarizerPool {
        SummarizerPool::start(
            || Ok(Box::new(FirstWord) as Box<dyn Summarizer>),
            PoolOptions {
                workers,
                batch_articles: 4,
                queue: 3,
            },
        )
        .unwrap()
    }

    fn docs(texts: &[String]) -> Vec<Document<'_>> {
        texts
            .iter()
            .map(|t| Document {
                title: None,
                content: t,
            })
            .collect()
    }

    #[test]
    fn summaries_come_back_in_input_order_across_workers_and_a_small_queue() {
        let pool = pool(3);
        let texts: Vec<String> = (0..200).map(|i| format!("w{i} rest of text")).collect();
        let out = pool
            .summarize_blocking(&docs(&texts), &Cancel::default())
            .unwrap();
        let expected: Vec<String> = (0..200).map(|i| format!("W{i}")).collect();
        assert_eq!(
            out.iter().map(|s| s.text.clone()).collect::<Vec<_>>(),
            expected
        );
        assert!(out.iter().all(|s| &*s.summarizer == "test:first-word"));
        let m = pool.metrics().snapshot();
        assert_eq!((m.summarized, m.queued, m.fallbacks), (200, 0, 0));
    }

    #[test]
    fn an_article_the_model_panics_on_gets_its_lead_and_the_batch_keeps_its_summaries() {
        let pool = pool(1);
        let texts = vec![
            "alpha one. two.".to_string(),
            "boom goes the model. Second sentence.".to_string(),
            "gamma three.".to_string(),
        ];
        let out = pool
            .summarize_blocking(&docs(&texts), &Cancel::default())
            .unwrap();
        assert_eq!(out[0].text, "ALPHA");
        assert_eq!(out[2].text, "GAMMA");
        assert_eq!(out[1].text, "boom goes the model. Second sentence.");
        assert_eq!(&*out[1].summarizer, FALLBACK_ID);
        assert_eq!(pool.metrics().snapshot().fallbacks, 1);
    }

    #[test]
    fn a_model_that_fails_to_load_fails_the_start() {
        let err =
            SummarizerPool::start(|| anyhow::bail!("no weights here"), PoolOptions::default())
                .unwrap_err();
        assert!(err.to_string().contains("no weights here"));
    }

    #[test]
    fn a_cancelled_caller_gets_an_error_and_its_articles_are_not_summarized() {
        let pool = pool(1);
        let texts: Vec<String> = (0..50).map(|i| format!("w{i} rest")).collect();
        let cancel = Cancel::default();
        assert_eq!(
            pool.summarize_blocking(&docs(&texts), &cancel)
                .unwrap()
                .len(),
            50
        );
        cancel.cancel();
        let err = pool.summarize_blocking(&docs(&texts), &cancel).unwrap_err();
        assert!(err.to_string().contains("cancelled"), "{err:#}");
        assert_eq!(pool.metrics().snapshot().summarized, 50);
    }

    /// FirstWord at 2 ms an article: slow enough that a queue is still waiting when cancelled.
    struct Slow(FirstWord);

    impl Summarizer for Slow {
        fn id(&self) -> &str {
            self.0.id()
        }

        fn summarize(&mut self, batch: &[Document<'_>]) -> Result<Vec<String>> {
            std::thread::sleep(Duration::from_millis(2) * batch.len() as u32);
            self.0.summarize(batch)
        }
    }

    #[test]
    fn queued_articles_of_a_caller_cancelled_meanwhile_are_dropped_and_others_go_on() {
        let pool = Arc::new(
            SummarizerPool::start(
                || Ok(Box::new(Slow(FirstWord)) as Box<dyn Summarizer>),
                PoolOptions {
                    workers: 1,
                    batch_articles: 4,
                    queue: 16,
                },
            )
            .unwrap(),
        );
        let texts: Vec<String> = (0..400).map(|i| format!("w{i} rest")).collect();
        let (dropped, kept) = (Cancel::default(), Cancel::default());
        let waiting = {
            let (pool, texts, dropped) = (pool.clone(), texts.clone(), dropped.clone());
            std::thread::spawn(move || pool.summarize_blocking(&docs(&texts), &dropped))
        };
        // Cancelled while most of its articles wait in the queue.
        while pool.metrics().snapshot().queued < 32 {
            std::thread::yield_now();
        }
        dropped.cancel();
        assert!(waiting.join().unwrap().is_err());
        let summarized = pool.metrics().snapshot().summarized;
        assert!(
            summarized < 200,
            "{summarized} of the cancelled caller's 400 were summarized"
        );
        assert_eq!(
            pool.summarize_blocking(&docs(&texts[..5]), &kept)
                .unwrap()
                .len(),
            5
        );
    }
}
