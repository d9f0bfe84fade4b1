//! How the extractive scoring weights were chosen, reproducibly:
//!
//!     cargo run --release --example tune_extractive -- ../shared/data/bbc-news-summary-dev.jsonl [static|minilm]
//!
//! Embeds every candidate sentence and title of the file once (MiniLM's vectors are cached next
//! to the target dir), then scores a small grid of weights with ROUGE at a 3-sentence budget.
//! With `static` (the default encoder) it first compares the discounts of frequent tokens
//! (`static_encoder::SIF`) and tunes the scoring weights with the best one. To guard against
//! fitting this file, each setting is reported per half (articles split by category: business,
//! entertainment, politics / sport, tech) and a setting is only worth taking if it wins on both.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use precis::config::Device;
use precis::summarize::extractive::{select, Budget, Candidates, ExtractiveOptions, Scoring};
use precis::summarize::minilm::{Backend, MiniLm};
use precis::summarize::onnx::Precision;
use precis::summarize::rouge::score;
use precis::summarize::static_encoder::{StaticEncoder, SIF};
use precis::summarize::store::{cache_dir, resolve, MINILM};

/// One article's sentence vectors and its title's vector.
type ArticleVectors = (Vec<Vec<f32>>, Vec<f32>);

/// Candidates are embedded up to this window once; narrower windows reuse the first vectors.
const WIDEST_WINDOW: usize = 30;

struct Article {
    title: String,
    content: String,
    reference: String,
    half: usize,
}

fn main() -> Result<()> {
    let input = std::env::args()
        .nth(1)
        .context("usage: tune_extractive FILE.jsonl")?;
    let articles: Vec<Article> = std::fs::read_to_string(&input)?
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line)?;
            let field = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            let half = usize::from(matches!(field("category").as_str(), "sport" | "tech"));
            Ok(Article {
                title: field("title"),
                content: field("content"),
                reference: field("reference"),
                half,
            })
        })
        .collect::<Result<_>>()?;
    let encoder = match std::env::args().nth(2).as_deref() {
        None | Some("static") => Backend::Static,
        Some("minilm") => Backend::Onnx(Precision::Int8, Device::Cpu),
        Some(other) => anyhow::bail!("unknown encoder {other}: static or minilm"),
    };
    let defaults = ExtractiveOptions {
        encoder,
        ..ExtractiveOptions::default()
    };
    let candidates: Vec<Candidates<'_>> = articles
        .iter()
        .map(|a| Candidates::of(&a.content, WIDEST_WINDOW))
        .collect();
    let vectors = if encoder == Backend::Static {
        println!("frequent-token discount (default weights, window 20): sif | R1 R2 RL");
        let options = ExtractiveOptions {
            budget: Budget {
                sentences: 3,
                words: None,
            },
            ..defaults
        };
        for sif in [0.0, 1e-5, 1e-4, 1e-3, 1e-2] {
            let vectors = static_embeddings(&articles, &candidates, sif)?;
            let r = evaluate(&articles, &candidates, &vectors, &options);
            println!("{sif:>7} | {:5.2} {:5.2} {:5.2}", r[0], r[1], r[2]);
        }
        static_embeddings(&articles, &candidates, SIF)?
    } else {
        embeddings(&articles, &candidates, &input)?
    };

    // Work bounds: a shorter lead window costs fewer forward passes; the rule is re-scored with
    // only the first `window` candidates.
    println!("lead window (default weights): window | R1 R2 RL | sentences embedded");
    for window in [5, 10, 15, 20, 30] {
        let options = ExtractiveOptions {
            budget: Budget {
                sentences: 3,
                words: None,
            },
            lead_window: window,
            ..defaults
        };
        let r = evaluate(&articles, &candidates, &vectors, &options);
        let embedded: usize = candidates.iter().map(|c| c.len().min(window)).sum();
        println!(
            "{window:>6} | {:5.2} {:5.2} {:5.2} | {embedded}",
            r[0], r[1], r[2]
        );
    }

    let mut results: Vec<(Scoring, [f64; 9])> = Vec::new();
    for title_weight in [0.0, 0.1, 0.25, 0.5] {
        for lead_weight in [0.0, 0.05, 0.1, 0.2] {
            for redundancy_weight in [0.0, 0.05, 0.1, 0.25] {
                for quote_penalty in [0.0, 0.025, 0.05, 0.1] {
                    let scoring = Scoring {
                        title_weight,
                        lead_weight,
                        redundancy_weight,
                        quote_penalty,
                        ..Scoring::default()
                    };
                    let options = ExtractiveOptions {
                        budget: Budget {
                            sentences: 3,
                            words: None,
                        },
                        scoring,
                        lead_window: 20,
                        ..defaults
                    };
                    results.push((
                        scoring,
                        evaluate(&articles, &candidates, &vectors, &options),
                    ));
                }
            }
        }
    }
    results.sort_by(|a, b| (b.1[0] + b.1[1] + b.1[2]).total_cmp(&(a.1[0] + a.1[1] + a.1[2])));
    println!("title lead redund quote |   R1    R2    RL  | half A R1/R2/RL | half B R1/R2/RL");
    for (s, r) in results.iter().take(25) {
        println!(
            "{:5.2} {:4.2} {:6.2} {:5.2} | {:5.2} {:5.2} {:5.2} | {:5.2} {:5.2} {:5.2} | {:5.2} {:5.2} {:5.2}",
            s.title_weight, s.lead_weight, s.redundancy_weight, s.quote_penalty,
            r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]
        );
    }
    Ok(())
}

/// Mean R1, R2, RL over all articles, then over half A, then over half B.
fn evaluate(
    articles: &[Article],
    candidates: &[Candidates<'_>],
    vectors: &[ArticleVectors],
    options: &ExtractiveOptions,
) -> [f64; 9] {
    let mut sums = [[0.0f64; 3]; 2];
    let mut counts = [0usize; 2];
    for ((article, c), (sentences, title)) in articles.iter().zip(candidates).zip(vectors) {
        let window = options.lead_window.min(sentences.len());
        let refs: Vec<&[f32]> = sentences[..window].iter().map(Vec::as_slice).collect();
        let picked = select(&refs, Some(title), c, options);
        let r = score(&article.reference, &c.render(&picked));
        let h = article.half;
        sums[h][0] += r.rouge1.f1;
        sums[h][1] += r.rouge2.f1;
        sums[h][2] += r.rouge_l.f1;
        counts[h] += 1;
    }
    let all = |k: usize| (sums[0][k] + sums[1][k]) / (counts[0] + counts[1]) as f64 * 100.0;
    let half = |h: usize, k: usize| sums[h][k] / counts[h].max(1) as f64 * 100.0;
    [
        all(0),
        all(1),
        all(2),
        half(0, 0),
        half(0, 1),
        half(0, 2),
        half(1, 0),
        half(1, 1),
        half(1, 2),
    ]
}

/// Sentence and title vectors per article, from the static table with the discount `sif`.
fn static_embeddings(
    articles: &[Article],
    candidates: &[Candidates<'_>],
    sif: f32,
) -> Result<Vec<ArticleVectors>> {
    let mut table = StaticEncoder::load_weighted(&resolve(MINILM.name, &cache_dir())?, sif)?;
    articles
        .iter()
        .zip(candidates)
        .map(|(article, c)| {
            let sentences = (0..c.len())
                .map(|i| Ok(table.embed(c.text(i))?.0))
                .collect::<Result<Vec<_>>>()?;
            Ok((sentences, table.embed(&article.title)?.0))
        })
        .collect()
}

/// MiniLM's sentence and title vectors per article, computed once and cached.
fn embeddings(
    articles: &[Article],
    candidates: &[Candidates<'_>],
    input: &str,
) -> Result<Vec<ArticleVectors>> {
    let cache =
        PathBuf::from(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()))
            .join(format!("tune-extractive-{WIDEST_WINDOW}.json"));
    if let Ok(text) = std::fs::read_to_string(&cache) {
        let cached: HashMap<String, Vec<ArticleVectors>> = serde_json::from_str(&text)?;
        if let Some(v) = cached.get(input) {
            return Ok(v.clone());
        }
    }
    let model = MiniLm::load(&resolve(MINILM.name, &cache_dir())?, 128, 64)?;
    let mut out = Vec::new();
    for (n, (article, c)) in articles.iter().zip(candidates).enumerate() {
        let mut texts: Vec<&str> = (0..c.len()).map(|i| c.text(i)).collect();
        texts.push(&article.title);
        let mut vectors = model.embed(&texts)?;
        let title = vectors.pop().unwrap_or_default();
        out.push((vectors, title));
        if n % 50 == 0 {
            eprintln!("embedded {n}/{}", articles.len());
        }
    }
    let mut cached = HashMap::new();
    cached.insert(input.to_string(), out.clone());
    std::fs::write(&cache, serde_json::to_string(&cached)?)?;
    Ok(out)
}
