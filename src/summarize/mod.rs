//! Summarizers: a batch of articles in, one summary each out.
//!
//! The pipeline and `precis eval` only see the [`Summarizer`] trait; which model sits behind it
//! is configuration. Every summary row records the summarizer's [`Summarizer::id`] (model,
//! revision, parameters), so a training job can tell outputs of different models apart.

pub mod extractive;
pub mod minilm;
pub mod onnx;
pub mod pool;
pub mod rouge;
pub mod smollm;
pub mod static_encoder;
pub mod store;
pub mod t5;

use anyhow::Result;

use crate::config::{SummarizerKind, SummarizerSettings};
use extractive::{Budget, Extractive, ExtractiveOptions};
use pool::{PoolOptions, SummarizerPool};
use smollm::{GenerativeOptions, SmolLm};

/// What a summarizer reads of an article.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Document<'a> {
    pub title: Option<&'a str>,
    pub content: &'a str,
}

/// A summarizer owns its model; one instance is used by one worker thread at a time.
pub trait Summarizer: Send {
    /// Model, revision and parameters, e.g.
    /// `extractive:all-minilm-l6-v2@53aa5117+onnx-int8;sentences=3;words=75;window=20`.
    fn id(&self) -> &str;

    /// One summary per document, in order. An error means the whole batch failed (the model
    /// could not run); per-article edge cases (tiny, empty) have defined results instead.
    fn summarize(&mut self, batch: &[Document<'_>]) -> Result<Vec<String>>;

    /// Model tokens read and written since the last call (for throughput figures).
    fn take_token_counts(&mut self) -> TokenCounts {
        TokenCounts::default()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCounts {
    pub input: u64,
    pub output: u64,
}

/// Starts the configured summarizer's worker pool, or None when summaries are turned off.
/// A missing model fails here, before anything is read or written.
pub fn start_pool(settings: &SummarizerSettings) -> Result<Option<SummarizerPool>> {
    let options = |static_encoder| PoolOptions {
        workers: settings.workers_for(static_encoder),
        ..PoolOptions::default()
    };
    if settings.kind == SummarizerKind::None {
        return Ok(None);
    }
    let model = store::resolve(settings.model_spec(), &store::cache_dir())?;
    match settings.kind {
        SummarizerKind::None => Ok(None),
        SummarizerKind::Extractive => {
            let encoder = minilm::Backend::choose(settings.encoder, settings.device, &model)?;
            let options = options(encoder == minilm::Backend::Static);
            let extractive = ExtractiveOptions {
                budget: Budget {
                    sentences: settings.sentences,
                    words: settings.max_words,
                },
                encoder,
                ..ExtractiveOptions::default()
            };
            SummarizerPool::start(
                || Ok(Box::new(Extractive::load(&model, extractive)?) as Box<dyn Summarizer>),
                options,
            )
            .map(Some)
        }
        SummarizerKind::Generative => {
            let options = options(false);
            let generative = GenerativeOptions {
                max_new_tokens: settings.max_new_tokens,
                ..GenerativeOptions::default()
            };
            if model.is_dir() && t5::is_t5_dir(&model) {
                return SummarizerPool::start(
                    || Ok(Box::new(t5::T5::load(&model, generative)?) as Box<dyn Summarizer>),
                    options,
                )
                .map(Some);
            }
            SummarizerPool::start(
                || Ok(Box::new(SmolLm::load(&model, generative)?) as Box<dyn Summarizer>),
                options,
            )
            .map(Some)
        }
    }
}

/// A model that writes one summary per article (the generative ones); it is a [`Summarizer`]
/// that runs the batch's articles one after another.
pub trait Generator: Send {
    fn id(&self) -> &str;
    fn generate(&mut self, doc: &Document<'_>) -> Result<String>;
    /// The counts [`finish_generation`] adds to.
    fn token_counts(&mut self) -> &mut TokenCounts;
}

impl<G: Generator> Summarizer for G {
    fn id(&self) -> &str {
        Generator::id(self)
    }

    fn summarize(&mut self, batch: &[Document<'_>]) -> Result<Vec<String>> {
        batch.iter().map(|doc| self.generate(doc)).collect()
    }

    fn take_token_counts(&mut self) -> TokenCounts {
        std::mem::take(self.token_counts())
    }
}

/// The end of a generative summary: count the tokens read and written, decode what was written
/// (special tokens dropped) and put it on one line.
pub(crate) fn finish_generation(
    tokenizer: &tokenizers::Tokenizer,
    prompt_tokens: usize,
    generated: &[u32],
    counts: &mut TokenCounts,
) -> Result<String> {
    counts.input += prompt_tokens as u64;
    counts.output += generated.len() as u64;
    let text = tokenizer
        .decode(generated, true)
        .map_err(|e| anyhow::anyhow!("decoding: {e}"))?;
    Ok(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Each summarizer worker runs its model on its share of the cores: two single-threaded models
/// on two cores beat one model using both. candle and the ONNX encoder read the thread count
/// from this variable, so it is set once, at start-up, before any thread
/// exists; a value the user set is kept. (The static encoder runs no model: it reads none.)
pub fn pin_model_threads(workers: usize) {
    if std::env::var_os("RAYON_NUM_THREADS").is_some()
        || std::env::var_os("CANDLE_NUM_THREADS").is_some()
    {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_worker = (cores / workers.max(1)).max(1);
    std::env::set_var("RAYON_NUM_THREADS", per_worker.to_string());
}
