//! Generative summaries from a T5-family checkpoint in a local directory (`config.json`,
//! `tokenizer.json`, `model.safetensors`), with T5's `summarize:` task prefix and greedy decoding.
//!
//! No T5 weights are reachable from our machines (no Hugging Face Hub), so the tests check this
//! path's plumbing on a tiny randomly initialized model; with real weights (t5-small, flan-t5)
//! copied into a directory it runs as is.

use std::path::Path;

use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::t5::{Config, T5ForConditionalGeneration};
use tokenizers::Tokenizer;

use super::smollm::GenerativeOptions;
use super::store::require_file;
use super::{finish_generation, Document, Generator, TokenCounts};

pub struct T5 {
    model: T5ForConditionalGeneration,
    tokenizer: Tokenizer,
    config: Config,
    options: GenerativeOptions,
    id: String,
    tokens: TokenCounts,
}

/// Whether a directory holds a T5 checkpoint (by its config's `model_type`).
pub fn is_t5_dir(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("config.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|v| v["model_type"].as_str().map(|t| t == "t5"))
        .unwrap_or(false)
}

impl T5 {
    pub fn load(dir: &Path, options: GenerativeOptions) -> Result<Self> {
        let config_path = require_file(dir, "config.json", "T5")?;
        let tokenizer_path = require_file(dir, "tokenizer.json", "T5")?;
        let weights_path = require_file(dir, "model.safetensors", "T5")?;
        let mut config: Config = serde_json::from_str(
            &std::fs::read_to_string(&config_path)
                .with_context(|| format!("reading {}", config_path.display()))?,
        )
        .with_context(|| format!("{} is not a T5 config", config_path.display()))?;
        config.use_cache = true;
        let tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| anyhow::anyhow!("loading {}: {e}", tokenizer_path.display()))?;
        // SAFETY: read-only memory map of a file nothing in this process writes.
        let vb = unsafe {
            VarBuilder::from_mmaped_safetensors(&[&weights_path], DType::F32, &Device::Cpu)
        }
        .with_context(|| format!("reading weights {}", weights_path.display()))?;
        let model = T5ForConditionalGeneration::load(vb, &config)
            .with_context(|| format!("loading T5 from {}", dir.display()))?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "t5".into());
        let id = format!(
            "generative:t5:{name};greedy;max_input={};max_new={}",
            options.max_input_tokens, options.max_new_tokens
        );
        Ok(Self {
            model,
            tokenizer,
            config,
            options,
            id,
            tokens: TokenCounts::default(),
        })
    }

    fn generate(&mut self, doc: &Document<'_>) -> Result<String> {
        let encoding = self
            .tokenizer
            .encode(format!("summarize: {}", doc.content), true)
            .map_err(|e| anyhow::anyhow!("tokenizing: {e}"))?;
        let mut ids = encoding.get_ids().to_vec();
        if ids.len() > self.options.max_input_tokens {
            // Keep the end-of-sequence marker the tokenizer added, cut the article before it.
            let last = *ids.last().unwrap_or(&(self.config.eos_token_id as u32));
            ids.truncate(self.options.max_input_tokens.saturating_sub(1));
            ids.push(last);
        }
        let device = Device::Cpu;
        self.model.clear_kv_cache();
        let input = Tensor::new(ids.as_slice(), &device)?.unsqueeze(0)?;
        let encoded = self.model.encode(&input)?;
        let start = self
            .config
            .decoder_start_token_id
            .unwrap_or(self.config.pad_token_id) as u32;
        let mut out: Vec<u32> = Vec::new();
        let mut last = start;
        for _ in 0..self.options.max_new_tokens {
            // With the KV cache on, the decoder takes only the newest token.
            let decoder_input = Tensor::new(&[last], &device)?.unsqueeze(0)?;
            let logits = self.model.decode(&decoder_input, &encoded)?.squeeze(0)?;
            let next = logits.argmax(0)?.to_scalar::<u32>()?;
            if next as usize == self.config.eos_token_id {
                break;
            }
            // Padding is never text: the decoder goes on from it, the summary leaves it out.
            if next as usize != self.config.pad_token_id {
                out.push(next);
            }
            last = next;
        }
        finish_generation(&self.tokenizer, ids.len(), &out, &mut self.tokens)
    }
}

impl Generator for T5 {
    fn id(&self) -> &str {
        &self.id
    }

    fn generate(&mut self, doc: &Document<'_>) -> Result<String> {
        T5::generate(self, doc)
    }

    fn token_counts(&mut self) -> &mut TokenCounts {
        &mut self.tokens
    }
}
