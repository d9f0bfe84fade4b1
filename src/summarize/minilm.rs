//! Sentence embeddings with all-MiniLM-L6-v2, computed the way sentence-transformers does:
//! BERT's last hidden state, mean-pooled over the real (unpadded) tokens, L2-normalized.
//!
//! Two backends compute the same function: [`Backend::Onnx`] (the default: ONNX Runtime, see
//! `onnx.rs`) and [`Backend::Candle`], candle's own `BertModel`, pure Rust, which needs nothing
//! but the weights. Sentences are sorted by token count before batching, so padded batches pad
//! to nearly their own length.

use std::path::Path;

use anyhow::{Context, Result};
use candle_core::{DType, Device as CandleDevice, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::Tokenizer;

use super::onnx::{OnnxEncoder, Precision};
use super::store::{load_tokenizer, require_file, MINILM};
use crate::config::{Device, EncoderKind};
use candle_core::utils::get_num_threads;

/// sentence-transformers' `max_seq_length` for this model: longer input is cut, not refused.
pub const MAX_TOKENS: usize = 256;

/// Which implementation of the forward pass runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Static token vectors ([`super::static_encoder`]): MiniLM distilled, nothing to run.
    Static,
    Onnx(Precision, Device),
    Candle,
}

impl Backend {
    /// The configured encoder; unset, the static table when `scripts/fetch-models` installed it,
    /// else ONNX, else candle. On a GPU, unset means ONNX fp32: the user asked for the device.
    pub fn choose(encoder: Option<EncoderKind>, device: Device, dir: &Path) -> Result<Self> {
        let onnx = |precision| Ok(Backend::Onnx(precision, device));
        match encoder {
            Some(EncoderKind::Onnx) => onnx(Precision::Int8),
            Some(EncoderKind::OnnxFp32) => onnx(Precision::Fp32),
            // On a GPU the int8 graph's quantize steps would run on the CPU between kernels.
            None if device == Device::Cuda && super::onnx::available(dir, Precision::Fp32) => {
                onnx(Precision::Fp32)
            }
            None if device == Device::Cpu && super::static_encoder::available(dir) => {
                Ok(Backend::Static)
            }
            None if super::onnx::available(dir, Precision::Int8) => {
                tracing::info!(
                    "the static table is not installed: summarizing with the ONNX encoder, far \
                     slower (scripts/fetch-models minilm installs the table)"
                );
                onnx(Precision::Int8)
            }
            // The int8 graph is not kept where it strays from the model (scripts/fetch-models).
            None if super::onnx::available(dir, Precision::Fp32) => onnx(Precision::Fp32),
            _ if device == Device::Cuda => anyhow::bail!(
                "--device cuda runs the ONNX encoder: choose --encoder onnx or onnx-fp32 \
                 (scripts/fetch-models minilm installs it)"
            ),
            Some(EncoderKind::Static) => Ok(Backend::Static),
            Some(EncoderKind::Candle) => Ok(Backend::Candle),
            None => {
                tracing::info!(
                    "neither the static table nor the ONNX encoder is installed: summarizing \
                     with candle, far slower (scripts/fetch-models minilm installs both)"
                );
                Ok(Backend::Candle)
            }
        }
    }

    /// What the summarizer's id says about the encoder: its outputs differ by backend (and the
    /// static one's by table, so its label holds the table's hash).
    pub fn label(self) -> String {
        match self {
            Backend::Static => super::static_encoder::StaticEncoder::label(),
            Backend::Onnx(Precision::Int8, _) => "onnx-int8".into(),
            Backend::Onnx(Precision::Fp32, _) => "onnx".into(),
            Backend::Candle => "candle".into(),
        }
    }
}

enum Model {
    Onnx(OnnxEncoder),
    Candle(Box<BertModel>),
}

pub struct MiniLm {
    model: Model,
    tokenizer: Tokenizer,
    device: CandleDevice,
    batch_size: usize,
    dimensions: usize,
}

impl MiniLm {
    /// Loads the model from a directory holding `config.json`, `tokenizer.json` and
    /// `model.safetensors` (what `scripts/fetch-models minilm` installs), on the ONNX encoder
    /// when that script installed it, else on candle.
    pub fn load(dir: &Path, max_tokens: usize, batch_size: usize) -> Result<Self> {
        let backend = Backend::choose(None, Device::Cpu, dir)?;
        Self::load_with(dir, max_tokens, batch_size, backend)
    }

    pub fn load_with(
        dir: &Path,
        max_tokens: usize,
        batch_size: usize,
        backend: Backend,
    ) -> Result<Self> {
        let config_path = require_file(dir, "config.json", "BERT")?;
        let weights_path = require_file(dir, MINILM.weights, "BERT")?;
        let config_text = std::fs::read_to_string(&config_path)
            .with_context(|| format!("reading {}", config_path.display()))?;
        let config: Config = serde_json::from_str(&config_text)
            .with_context(|| format!("{} is not a BERT config", config_path.display()))?;
        let tokenizer = load_tokenizer(dir, Some(max_tokens.clamp(8, MAX_TOKENS)))?;
        let device = CandleDevice::Cpu;
        let model = match backend {
            Backend::Static => anyhow::bail!(
                "the static encoder runs no transformer: it is loaded by static_encoder::StaticEncoder"
            ),
            Backend::Onnx(precision, device) => Model::Onnx(OnnxEncoder::load(
                dir,
                precision,
                device,
                get_num_threads(),
            )?),
            Backend::Candle => {
                // SAFETY: the weights file is memory-mapped read-only; nothing in this process
                // writes to it while the model is loaded.
                let vb = unsafe {
                    VarBuilder::from_mmaped_safetensors(&[&weights_path], DType::F32, &device)
                }
                .with_context(|| format!("reading weights {}", weights_path.display()))?;
                Model::Candle(Box::new(
                    BertModel::load(vb, &config)
                        .with_context(|| format!("loading BERT from {}", dir.display()))?,
                ))
            }
        };
        Ok(Self {
            model,
            tokenizer,
            device,
            batch_size: batch_size.max(1),
            dimensions: config.hidden_size,
        })
    }

    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// Token ids of one text, truncated to the model's budget (with [CLS] and [SEP]).
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| anyhow::anyhow!("tokenizing: {e}"))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// One unit-length vector per text, in the order given.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let ids = texts
            .iter()
            .map(|t| self.token_ids(t))
            .collect::<Result<Vec<_>>>()?;
        self.embed_ids(&ids)
    }

    /// As [`embed`](Self::embed), from token ids (so callers can bound or count tokens first).
    pub fn embed_ids(&self, ids: &[Vec<u32>]) -> Result<Vec<Vec<f32>>> {
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| ids[i].len());
        let mut out = vec![Vec::new(); ids.len()];
        for batch in order.chunks(self.batch_size) {
            let vectors = self.forward(batch.iter().map(|&i| ids[i].as_slice()))?;
            for (&i, v) in batch.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    fn forward<'a>(
        &self,
        batch: impl ExactSizeIterator<Item = &'a [u32]> + Clone,
    ) -> Result<Vec<Vec<f32>>> {
        let bert = match &self.model {
            Model::Onnx(encoder) => return encoder.embed(&batch.collect::<Vec<_>>()),
            Model::Candle(bert) => bert,
        };
        let rows = batch.len();
        let width = batch.clone().map(<[u32]>::len).max().unwrap_or(0).max(1);
        let mut input = Vec::with_capacity(rows * width);
        let mut mask = Vec::with_capacity(rows * width);
        for ids in batch {
            input.extend_from_slice(ids);
            mask.extend(std::iter::repeat_n(1u32, ids.len()));
            input.extend(std::iter::repeat_n(0u32, width - ids.len()));
            mask.extend(std::iter::repeat_n(0u32, width - ids.len()));
        }
        let input = Tensor::from_vec(input, (rows, width), &self.device)?;
        let mask = Tensor::from_vec(mask, (rows, width), &self.device)?;
        let token_types = input.zeros_like()?;
        let hidden = bert.forward(&input, &token_types, Some(&mask))?;
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        let norms = mean
            .sqr()?
            .sum_keepdim(1)?
            .sqrt()?
            .clamp(1e-12f32, f32::MAX)?;
        Ok(mean.broadcast_div(&norms)?.to_vec2::<f32>()?)
    }
}

/// Dot product; the cosine similarity of two unit vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
