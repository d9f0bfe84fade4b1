//! Per-core cost of the default summarizer (extractive, static encoder) on real news: the BBC dev
//! set (`../shared/data`, beside the checkout), one article per call as the pipeline's workers
//! see them, and where the time goes. Needs `scripts/fetch-models minilm`. Run: `cargo bench
//! --bench summarize`.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use precis::summarize::extractive::{Candidates, Extractive, ExtractiveOptions};
use precis::summarize::static_encoder::StaticEncoder;
use precis::summarize::store::load_tokenizer;
use precis::summarize::store::{cache_dir, resolve, MINILM};
use precis::summarize::{Document, Summarizer};

struct Article {
    title: String,
    content: String,
}

/// The dev set beside the checkout, else (a clone on its own) the few articles committed for
/// the tests, so that `cargo test --benches` runs anywhere.
fn articles() -> Vec<Article> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dev_set = root.join("../shared/data/bbc-news-summary-dev.jsonl");
    let path = if dev_set.is_file() {
        dev_set
    } else {
        eprintln!(
            "{} is missing: benchmarking the test fixture's articles",
            dev_set.display()
        );
        root.join("tests/fixtures/eval-sample.jsonl")
    };
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            Article {
                title: v["title"].as_str().unwrap_or_default().into(),
                content: v["content"].as_str().unwrap_or_default().into(),
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let articles = articles();
    let model = resolve(MINILM.name, &cache_dir()).unwrap_or_else(|e| panic!("{e}"));
    let mut summarizer = Extractive::load(&model, ExtractiveOptions::default()).unwrap();
    let mut table = StaticEncoder::load(&model).unwrap();
    let tokenizer = load_tokenizer(&model, None).unwrap();
    let window = ExtractiveOptions::default().lead_window;
    let candidates: Vec<Candidates<'_>> = articles
        .iter()
        .map(|a| Candidates::of(&a.content, window))
        .collect();
    let sentences: Vec<&str> = candidates
        .iter()
        .flat_map(|c| (0..c.len()).map(|i| c.text(i)))
        .collect();

    let mut group = c.benchmark_group("static_summarizer");
    group.throughput(Throughput::Elements(articles.len() as u64));
    group.bench_function("summarize_dev_set", |b| {
        b.iter(|| {
            for a in &articles {
                let doc = Document {
                    title: Some(&a.title),
                    content: &a.content,
                };
                black_box(summarizer.summarize(std::slice::from_ref(&doc)).unwrap());
            }
        })
    });
    // The parts, over the same articles.
    group.bench_function("split_sentences", |b| {
        b.iter(|| {
            for a in &articles {
                black_box(Candidates::of(&a.content, window));
            }
        })
    });
    group.bench_function("embed_window_sentences", |b| {
        b.iter(|| {
            for s in &sentences {
                black_box(table.embed(s).unwrap());
            }
        })
    });
    group.bench_function("token_ids_through_the_word_cache", |b| {
        b.iter(|| {
            for s in &sentences {
                black_box(table.token_ids(s).unwrap());
            }
        })
    });
    group.bench_function("token_ids_from_the_tokenizer_alone", |b| {
        b.iter(|| {
            for s in &sentences {
                black_box(tokenizer.encode(*s, false).unwrap());
            }
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
