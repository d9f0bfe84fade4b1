//! The default summarizer: picks the article's own sentences, so it cannot state anything the
//! article does not.
//!
//! Each candidate sentence is embedded with MiniLM, or by default with static token vectors
//! distilled from it ([`super::static_encoder`]). A sentence scores by how close it is to the
//! article as a whole (the centroid of its sentences) and to the headline, plus a prior for
//! coming early (news puts what matters first). Sentences are then picked greedily with maximal
//! marginal relevance: a sentence too similar to one already picked loses what it repeats. The
//! picks are returned in article order.
//!
//! Work per article is bounded: only the first `lead_window` sentences are candidates (and the
//! transformer reads each up to `max_tokens`), so a 5,000-word article costs about what a
//! 700-word one does. Sentences from all articles of a batch go through the transformer
//! together.

use std::path::Path;

use anyhow::Result;

use super::minilm::{cosine, Backend, MiniLm};
use super::static_encoder::StaticEncoder;
use super::{Document, Summarizer, TokenCounts};
use crate::text::sentences::sentence_spans;

/// How long a summary may be. At least one sentence is always kept, even when it alone is longer
/// than `words`: a summary is made of whole sentences, never cut ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub sentences: usize,
    /// None: no word limit, only the sentence count.
    pub words: Option<usize>,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            sentences: 3,
            words: Some(75),
        }
    }
}

/// The scoring rule's weights. The defaults are the rule documented in docs/models.md.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scoring {
    /// Weight of the similarity to the headline, added to the similarity to the centroid.
    pub title_weight: f32,
    /// Prior for position i (0-based): `lead_weight / (1 + i)`.
    pub lead_weight: f32,
    /// How much of a candidate's similarity to the closest picked sentence is subtracted.
    pub redundancy_weight: f32,
    /// Subtracted from sentences holding a direct quotation: a summary reports what happened;
    /// quotes are colour, and out of their context they can mislead.
    pub quote_penalty: f32,
    /// Sentences with fewer words are not candidates (bylines, "He said.") unless nothing else is.
    pub min_words: usize,
}

impl Default for Scoring {
    fn default() -> Self {
        Self {
            title_weight: 0.1,
            lead_weight: 0.05,
            redundancy_weight: 0.05,
            quote_penalty: 0.025,
            min_words: 5,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExtractiveOptions {
    pub budget: Budget,
    pub scoring: Scoring,
    /// Only the first this many sentences are candidates.
    pub lead_window: usize,
    /// Tokens of a sentence the model reads.
    pub max_tokens: usize,
    /// Sentences per forward pass.
    pub batch_size: usize,
    /// Which implementation runs the encoder.
    pub encoder: Backend,
}

/// The scoring weights are the same for every encoder: tuned again for the static vectors, the
/// grid's best was within 0.2 ROUGE points of them on both halves of the dev set (docs/models.md).
impl Default for ExtractiveOptions {
    fn default() -> Self {
        Self {
            budget: Budget::default(),
            scoring: Scoring::default(),
            lead_window: 20,
            max_tokens: 128,
            batch_size: 64,
            encoder: Backend::Static,
        }
    }
}

/// What turns sentences into vectors.
pub enum SentenceEncoder {
    /// MiniLM's transformer (ONNX Runtime or candle): sentences in batches.
    Transformer(MiniLm),
    /// Static token vectors: each sentence alone, no batching to gain.
    Static(StaticEncoder),
}

impl SentenceEncoder {
    pub fn load(model_dir: &Path, options: &ExtractiveOptions) -> Result<Self> {
        Ok(match options.encoder {
            Backend::Static => Self::Static(StaticEncoder::load(model_dir)?),
            backend => Self::Transformer(MiniLm::load_with(
                model_dir,
                options.max_tokens,
                options.batch_size,
                backend,
            )?),
        })
    }

    pub fn dimensions(&self) -> usize {
        match self {
            Self::Transformer(model) => model.dimensions(),
            Self::Static(table) => table.dimensions(),
        }
    }

    /// One unit vector per text, in order, into `out` (`dimensions` each), and the tokens read.
    /// `out` is the caller's to reuse: a fresh buffer per batch would be large enough for
    /// glibc to map and unmap it every time.
    pub fn embed_into(&mut self, texts: &[&str], out: &mut Vec<f32>) -> Result<u64> {
        out.clear();
        match self {
            Self::Transformer(model) => {
                let ids = texts
                    .iter()
                    .map(|t| model.token_ids(t))
                    .collect::<Result<Vec<_>>>()?;
                for vector in model.embed_ids(&ids)? {
                    out.extend_from_slice(&vector);
                }
                Ok(ids.iter().map(|i| i.len() as u64).sum())
            }
            Self::Static(table) => {
                let dimensions = table.dimensions();
                out.resize(texts.len() * dimensions, 0.0);
                let mut tokens = 0;
                for (text, vector) in texts.iter().zip(out.chunks_exact_mut(dimensions)) {
                    tokens += table.embed_into(text, vector)? as u64;
                }
                Ok(tokens)
            }
        }
    }
}

pub struct Extractive {
    encoder: SentenceEncoder,
    /// The vectors of the batch in hand, kept from batch to batch.
    vectors: Vec<f32>,
    options: ExtractiveOptions,
    id: String,
    tokens: TokenCounts,
}

impl Extractive {
    pub fn load(model_dir: &Path, options: ExtractiveOptions) -> Result<Self> {
        let encoder = SentenceEncoder::load(model_dir, &options)?;
        let revision = std::fs::read_to_string(model_dir.join(".verified"))
            .ok()
            .map(|sha| sha.trim().chars().take(8).collect::<String>())
            .unwrap_or_else(|| "local".into());
        let name = model_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "minilm".into());
        let words = options
            .budget
            .words
            .map_or("none".to_string(), |w| w.to_string());
        let id = format!(
            "extractive:{name}@{revision}+{};sentences={};words={words};window={}",
            options.encoder.label(),
            options.budget.sentences,
            options.lead_window
        );
        Ok(Self {
            encoder,
            vectors: Vec::new(),
            options,
            id,
            tokens: TokenCounts::default(),
        })
    }
}

/// One article's candidate sentences: byte spans into its content, and what the scoring rule
/// needs to know of each besides its vector.
pub struct Candidates<'a> {
    content: &'a str,
    spans: Vec<(usize, usize)>,
    pub words: Vec<usize>,
    /// Holds a direct quotation (double quotes).
    pub quoted: Vec<bool>,
}

impl<'a> Candidates<'a> {
    pub fn of(content: &'a str, window: usize) -> Self {
        let mut spans = sentence_spans(content);
        spans.truncate(window.max(1));
        let words = spans
            .iter()
            .map(|&(s, e)| crate::text::word_count(&content[s..e]))
            .collect();
        let quoted = spans
            .iter()
            .map(|&(s, e)| content[s..e].contains(['"', '\u{201c}', '\u{201d}']))
            .collect();
        Self {
            content,
            spans,
            words,
            quoted,
        }
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    pub fn text(&self, i: usize) -> &'a str {
        let (s, e) = self.spans[i];
        &self.content[s..e]
    }

    /// The picked sentences, in article order, as one line.
    pub fn render(&self, picked: &[usize]) -> String {
        join(self, picked)
    }
}

impl Summarizer for Extractive {
    fn id(&self) -> &str {
        &self.id
    }

    fn summarize(&mut self, batch: &[Document<'_>]) -> Result<Vec<String>> {
        let candidates: Vec<Candidates<'_>> = batch
            .iter()
            .map(|d| Candidates::of(d.content, self.options.lead_window))
            .collect();
        // Articles that fit the budget whole need no model: their summary is all of them.
        let needs_model: Vec<bool> = candidates
            .iter()
            .map(|c| !fits_whole(c, &self.options.budget))
            .collect();
        let mut texts: Vec<&str> = Vec::new();
        for ((doc, c), needed) in batch.iter().zip(&candidates).zip(&needs_model) {
            if *needed {
                texts.extend((0..c.spans.len()).map(|i| c.text(i)));
                if let Some(title) = doc.title.filter(|t| !t.trim().is_empty()) {
                    texts.push(title);
                }
            }
        }
        self.tokens.input += self.encoder.embed_into(&texts, &mut self.vectors)?;
        let mut next = self.vectors.chunks_exact(self.encoder.dimensions().max(1));
        let mut summaries = Vec::with_capacity(batch.len());
        for ((doc, c), needed) in batch.iter().zip(&candidates).zip(&needs_model) {
            let picked: Vec<usize> = if *needed {
                let sentences: Vec<&[f32]> = next.by_ref().take(c.spans.len()).collect();
                let title = doc
                    .title
                    .filter(|t| !t.trim().is_empty())
                    .and_then(|_| next.next());
                select(&sentences, title, c, &self.options)
            } else {
                (0..c.spans.len()).collect()
            };
            summaries.push(join(c, &picked));
        }
        Ok(summaries)
    }

    fn take_token_counts(&mut self) -> TokenCounts {
        std::mem::take(&mut self.tokens)
    }
}

fn fits_whole(c: &Candidates<'_>, budget: &Budget) -> bool {
    c.spans.len() <= budget.sentences
        && budget
            .words
            .is_none_or(|w| c.words.iter().sum::<usize>() <= w)
}

fn join(c: &Candidates<'_>, picked: &[usize]) -> String {
    let mut out = String::new();
    for &i in picked {
        if !out.is_empty() {
            out.push(' ');
        }
        // A sentence that spans paragraphs (a quote, a list) reads as one line in a summary.
        for (n, word) in c.text(i).split_whitespace().enumerate() {
            if n > 0 {
                out.push(' ');
            }
            out.push_str(word);
        }
    }
    out
}

/// Picks sentences (indices, in article order) within the budget. `sentences` holds the vectors
/// of `candidates`' sentences, in order.
pub fn select(
    sentences: &[&[f32]],
    title: Option<&[f32]>,
    candidates: &Candidates<'_>,
    options: &ExtractiveOptions,
) -> Vec<usize> {
    let words = &candidates.words;
    let n = sentences.len();
    if n == 0 {
        return Vec::new();
    }
    let scoring = &options.scoring;
    let centroid = centroid(sentences);
    let relevance: Vec<f32> = (0..n)
        .map(|i| {
            cosine(sentences[i], &centroid)
                + title.map_or(0.0, |t| scoring.title_weight * cosine(sentences[i], t))
                + scoring.lead_weight / (1.0 + i as f32)
                - if candidates.quoted[i] {
                    scoring.quote_penalty
                } else {
                    0.0
                }
        })
        .collect();
    let eligible: Vec<usize> = {
        let long: Vec<usize> = (0..n).filter(|&i| words[i] >= scoring.min_words).collect();
        if long.is_empty() {
            (0..n).collect()
        } else {
            long
        }
    };
    let mut picked: Vec<usize> = Vec::new();
    let mut used_words = 0usize;
    while picked.len() < options.budget.sentences {
        let best = eligible
            .iter()
            .copied()
            .filter(|i| !picked.contains(i))
            .filter(|&i| {
                picked.is_empty()
                    || options
                        .budget
                        .words
                        .is_none_or(|w| used_words + words[i] <= w)
            })
            .map(|i| {
                let redundancy = picked
                    .iter()
                    .map(|&j| cosine(sentences[i], sentences[j]))
                    .fold(0.0f32, f32::max);
                (i, relevance[i] - scoring.redundancy_weight * redundancy)
            })
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
        let Some((i, _)) = best else { break };
        picked.push(i);
        used_words += words[i];
    }
    picked.sort_unstable();
    picked
}

fn centroid(vectors: &[&[f32]]) -> Vec<f32> {
    let mut sum = vec![0.0f32; vectors[0].len()];
    for v in vectors {
        for (s, x) in sum.iter_mut().zip(v.iter()) {
            *s += x;
        }
    }
    let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    sum.iter_mut().for_each(|x| *x /= norm);
    sum
}

/// The baseline every summarizer is compared with: the first `n` sentences.
pub fn lead(content: &str, n: usize) -> String {
    let c = Candidates::of(content, n);
    let all: Vec<usize> = (0..c.spans.len()).collect();
    join(&c, &all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    fn cands(words: &[usize]) -> Candidates<'static> {
        Candidates {
            content: "",
            spans: vec![(0, 0); words.len()],
            words: words.to_vec(),
            quoted: vec![false; words.len()],
        }
    }

    fn options(sentences: usize, words: Option<usize>) -> ExtractiveOptions {
        ExtractiveOptions {
            budget: Budget { sentences, words },
            ..ExtractiveOptions::default()
        }
    }

    #[test]
    fn picks_are_returned_in_article_order_within_the_sentence_budget() {
        let vs: Vec<Vec<f32>> = [[0.1, 1.0], [1.0, 0.0], [0.9, 0.2], [0.0, 1.0], [1.0, 0.1]]
            .iter()
            .map(|v| unit(v))
            .collect();
        let refs: Vec<&[f32]> = vs.iter().map(Vec::as_slice).collect();
        let picked = select(&refs, None, &cands(&[10; 5]), &options(2, None));
        assert_eq!(picked.len(), 2);
        assert!(picked.windows(2).all(|w| w[0] < w[1]), "{picked:?}");
    }

    #[test]
    fn a_near_copy_of_a_picked_sentence_loses_to_a_different_one() {
        // Sentences 0 and 1 say the same thing; 2 says something else.
        let vs: Vec<Vec<f32>> = [[1.0, 0.0], [0.999, 0.01], [0.6, 0.8]]
            .iter()
            .map(|v| unit(v))
            .collect();
        let refs: Vec<&[f32]> = vs.iter().map(Vec::as_slice).collect();
        let mut o = options(2, None);
        o.scoring.lead_weight = 0.0;
        o.scoring.redundancy_weight = 0.5;
        let picked = select(&refs, None, &cands(&[10; 3]), &o);
        assert_eq!(picked.len(), 2);
        assert!(picked.contains(&2), "{picked:?}");
    }

    #[test]
    fn the_word_budget_stops_additions_but_keeps_the_first_pick() {
        let vs: Vec<Vec<f32>> = [[1.0, 0.0], [0.7, 0.7], [0.0, 1.0]]
            .iter()
            .map(|v| unit(v))
            .collect();
        let refs: Vec<&[f32]> = vs.iter().map(Vec::as_slice).collect();
        // The first pick alone (90 words) is over the 75-word budget: it is kept, nothing added.
        assert_eq!(
            select(&refs, None, &cands(&[90, 90, 90]), &options(3, Some(75))).len(),
            1
        );
        // 30 + 30 fit in 75, a third 30 does not.
        assert_eq!(
            select(&refs, None, &cands(&[30, 30, 30]), &options(3, Some(75))).len(),
            2
        );
    }

    #[test]
    fn short_fragments_are_not_candidates_when_longer_sentences_exist() {
        let vs: Vec<Vec<f32>> = [[1.0, 0.0], [0.9, 0.1], [0.8, 0.2]]
            .iter()
            .map(|v| unit(v))
            .collect();
        let refs: Vec<&[f32]> = vs.iter().map(Vec::as_slice).collect();
        let picked = select(&refs, None, &cands(&[2, 12, 12]), &options(1, None));
        assert_ne!(picked, vec![0]);
    }

    #[test]
    fn a_direct_quotation_loses_to_an_equal_sentence_without_one() {
        let vs: Vec<Vec<f32>> = [[1.0, 0.0], [1.0, 0.0]].iter().map(|v| unit(v)).collect();
        let refs: Vec<&[f32]> = vs.iter().map(Vec::as_slice).collect();
        let mut c = cands(&[10, 10]);
        c.quoted = vec![true, false];
        let mut o = options(1, None);
        o.scoring.lead_weight = 0.0;
        o.scoring.quote_penalty = 0.1;
        assert_eq!(select(&refs, None, &c, &o), vec![1]);
    }

    #[test]
    fn lead_takes_the_first_sentences_and_joins_them_on_one_line() {
        let text = "First one here.\n\nSecond one, with Dr. Smith. Third one. Fourth.";
        assert_eq!(
            lead(text, 3),
            "First one here. Second one, with Dr. Smith. Third one."
        );
    }
}
