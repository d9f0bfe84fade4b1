//! Static token vectors distilled from MiniLM: the sentence encoder with no model to run.
//!
//! `scripts/fetch-models minilm` distills the table from the MiniLM weights it has just verified
//! (`scripts/minilm_static.py`, model2vec's method): each vocabulary token alone through the
//! transformer, its output vector kept, PCA to 256 dimensions, rows stored as int8 with a scale.
//! A sentence's vector is then the weighted mean of its tokens' rows, normalized: a tokenizer, a
//! table lookup and a sum. Word order is lost, which is what the transformer adds; docs/models.md
//! says what that costs in ROUGE.
//!
//! The table's bytes are pinned: [`TABLE_SHA256`] is checked here, before use, as well as by the
//! script that builds it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use hashbrown::HashMap;
use safetensors::{Dtype, SafeTensors};
use sha2::{Digest, Sha256};
use tokenizers::Tokenizer;

use super::store::load_tokenizer;

/// The table's file in the MiniLM model directory.
pub const TABLE_FILE: &str = "static256.safetensors";

/// SHA-256 of the table `scripts/minilm_static.py` distills from the pinned MiniLM weights; the
/// same pin is in `scripts/fetch-models`.
pub const TABLE_SHA256: &str = "efa06c608054c8b0da97ebc7f0663cd5cb8e01d1dec9f1aa79497e3baba2caee";

const REBUILD: &str = "run scripts/fetch-models minilm to rebuild it";

/// Whole-word token ids kept at most; past it the cache starts again, so a stream of unique
/// strings cannot grow memory without bound.
const WORD_CACHE_LIMIT: usize = 200_000;

/// Longer "words" (URLs, runs of symbols, hostile input) are tokenized each time, not kept: the
/// cache holds at most `WORD_CACHE_LIMIT` × this many bytes of keys.
const WORD_CACHE_MAX_BYTES: usize = 48;

/// How strongly frequent tokens are discounted: model2vec's smooth inverse frequency, with a
/// token's frequency estimated from its rank in the vocabulary (WordPiece vocabularies are
/// ordered by frequency) by Zipf's law. Tuned on the dev set (docs/models.md).
pub const SIF: f32 = 1e-4;

/// Whether the table is installed: its file, and the mark `scripts/fetch-models` writes once its
/// hash matched.
pub fn available(model_dir: &Path) -> bool {
    model_dir.join(TABLE_FILE).is_file() && mark(model_dir).is_file()
}

fn mark(model_dir: &Path) -> PathBuf {
    model_dir.join(format!(".{TABLE_FILE}.verified"))
}

pub struct StaticEncoder {
    tokenizer: Tokenizer,
    /// Row-major `[vocabulary, dimensions]`.
    rows: Vec<i8>,
    /// Per token: the row's scale times the token's weight.
    multipliers: Vec<f32>,
    dimensions: usize,
    /// Token ids of each whitespace-separated word seen: news repeats its words, and BERT's
    /// tokenizer splits at whitespace first, so a word's ids never depend on its neighbours.
    words: HashMap<Box<str>, Box<[u32]>>,
    /// The ids of a word too long to cache.
    uncached: Vec<u32>,
}

impl StaticEncoder {
    /// Loads the table from the MiniLM model directory, after checking its hash.
    pub fn load(dir: &Path) -> Result<Self> {
        Self::load_weighted(dir, SIF)
    }

    /// As [`load`](Self::load), with another discount of frequent tokens (for tuning); 0 weighs
    /// every token alike.
    pub fn load_weighted(dir: &Path, sif: f32) -> Result<Self> {
        let path = dir.join(TABLE_FILE);
        let bytes = std::fs::read(&path).map_err(|e| {
            anyhow::anyhow!(
                "the static table {} cannot be read ({e}): {REBUILD}",
                path.display()
            )
        })?;
        let sha = hex::encode(Sha256::digest(&bytes));
        anyhow::ensure!(
            sha == TABLE_SHA256,
            "the static table {} has SHA-256 {sha}, not the pinned {TABLE_SHA256}: refusing it; \
             {REBUILD}",
            path.display()
        );
        let tensors = SafeTensors::deserialize(&bytes)
            .with_context(|| format!("reading the static table {}", path.display()))?;
        let vectors = tensors.tensor("vectors")?;
        let scales = tensors.tensor("scales")?;
        let (&[vocabulary, dimensions], Dtype::I8, Dtype::F16) =
            (vectors.shape(), vectors.dtype(), scales.dtype())
        else {
            anyhow::bail!("the static table {} has an unknown layout", path.display());
        };
        anyhow::ensure!(scales.shape() == [vocabulary], "the static table's scales");
        let rows = vectors.data().iter().map(|&b| b as i8).collect();
        let weights = zipf_sif_weights(vocabulary, sif);
        let multipliers = scales
            .data()
            .chunks_exact(2)
            .zip(weights)
            .map(|(b, w)| half::f16::from_le_bytes([b[0], b[1]]).to_f32() * w)
            .collect();
        Ok(Self {
            tokenizer: load_tokenizer(dir, None)?,
            rows,
            multipliers,
            dimensions,
            words: HashMap::new(),
            uncached: Vec::new(),
        })
    }

    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// Token ids of `text`, as BERT's tokenizer gives them without [CLS] and [SEP], one
    /// whitespace-separated word at a time through the cache.
    pub fn token_ids(&mut self, text: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        for word in text.split_whitespace() {
            ids.extend_from_slice(word_ids(
                &mut self.words,
                &mut self.uncached,
                &self.tokenizer,
                word,
            )?);
        }
        Ok(ids)
    }

    /// A unit vector for `text` (all zeros when it has no token), and its token count.
    pub fn embed(&mut self, text: &str) -> Result<(Vec<f32>, usize)> {
        let mut out = vec![0.0; self.dimensions];
        let tokens = self.embed_into(text, &mut out)?;
        Ok((out, tokens))
    }

    /// As [`embed`](Self::embed), into `out` (`dimensions` long), allocating nothing once the
    /// words are cached: the summarizer's workers run it on every sentence, and allocations
    /// from several threads contend for the one malloc arena précis keeps (main.rs).
    pub fn embed_into(&mut self, text: &str, out: &mut [f32]) -> Result<usize> {
        out.fill(0.0);
        let mut tokens = 0;
        for word in text.split_whitespace() {
            for &id in word_ids(&mut self.words, &mut self.uncached, &self.tokenizer, word)? {
                let id = id as usize;
                let (Some(&m), Some(row)) = (
                    self.multipliers.get(id),
                    self.rows
                        .get(id * self.dimensions..(id + 1) * self.dimensions),
                ) else {
                    continue;
                };
                for (s, &q) in out.iter_mut().zip(row) {
                    *s += m * f32::from(q);
                }
                tokens += 1;
            }
        }
        // The weighted mean points where the weighted sum does: normalizing the sum is enough.
        let norm = out.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            out.iter_mut().for_each(|x| *x /= norm);
        }
        Ok(tokens)
    }

    /// The table's hash, short, for the summarizer's id.
    pub fn label() -> String {
        format!("static256-{}", &TABLE_SHA256[..8])
    }
}

/// A word's token ids, from the cache or the tokenizer. BERT's tokenizer splits at whitespace
/// first, so a word's tokens never depend on its neighbours.
fn word_ids<'a>(
    words: &'a mut HashMap<Box<str>, Box<[u32]>>,
    uncached: &'a mut Vec<u32>,
    tokenizer: &Tokenizer,
    word: &str,
) -> Result<&'a [u32]> {
    if !words.contains_key(word) {
        let encoding = tokenizer
            .encode(word, false)
            .map_err(|e| anyhow::anyhow!("tokenizing: {e}"))?;
        if word.len() > WORD_CACHE_MAX_BYTES {
            uncached.clear();
            uncached.extend_from_slice(encoding.get_ids());
            return Ok(uncached);
        }
        if words.len() >= WORD_CACHE_LIMIT {
            words.clear();
        }
        words.insert(word.into(), encoding.get_ids().into());
    }
    Ok(&words[word])
}

/// model2vec's smooth inverse frequency per token: `sif / (sif + p(rank))`, with `p` from Zipf's
/// law over the token's rank (its id); 1 for every token when `sif` is 0.
fn zipf_sif_weights(vocabulary: usize, sif: f32) -> Vec<f32> {
    if sif <= 0.0 {
        return vec![1.0; vocabulary];
    }
    let harmonic: f64 = (0..vocabulary).map(|r| 1.0 / (r as f64 + 2.0)).sum();
    (0..vocabulary)
        .map(|id| {
            let p = 1.0 / (id as f64 + 2.0) / harmonic;
            (f64::from(sif) / (f64::from(sif) + p)) as f32
        })
        .collect()
}
