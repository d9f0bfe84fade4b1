//! The summarizer: which one, its encoder and device, its budget and workers.

use serde::{Deserialize, Serialize};

use super::values::*;
use super::{FlagScope, SettingSpec};

/// Which summarizer writes the `summary` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SummarizerKind {
    /// Sentences of the article picked with MiniLM embeddings (the default: offline, faithful).
    Extractive,
    /// An instruction LLM in GGUF (SmolLM2) or a T5 checkpoint.
    Generative,
    /// No summaries: curated rows carry the features, with a null summary.
    None,
}

impl SummarizerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SummarizerKind::Extractive => "extractive",
            SummarizerKind::Generative => "generative",
            SummarizerKind::None => "none",
        }
    }
}

/// Which implementation runs the extractive summarizer's sentence encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EncoderKind {
    /// Static token vectors distilled from MiniLM: no model runs (summarize/static_encoder.rs).
    Static,
    /// ONNX Runtime with int8 weights.
    Onnx,
    OnnxFp32,
    /// candle's BERT: pure Rust, needs nothing but the weights.
    Candle,
}

/// Where the sentence encoder runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    Cpu,
    Cuda,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SummarizerSettings {
    #[serde(deserialize_with = "named")]
    pub kind: SummarizerKind,
    /// None: the kind's default model (all-minilm-l6-v2, smollm2-135m-instruct).
    #[serde(deserialize_with = "some_non_empty")]
    pub model: Option<String>,
    /// None: the static table when installed, else ONNX (int8), else candle.
    #[serde(deserialize_with = "some_named")]
    pub encoder: Option<EncoderKind>,
    #[serde(deserialize_with = "named")]
    pub device: Device,
    /// None: one for the static encoder, else one per core (at most 8); see
    /// [`SummarizerSettings::workers_for`].
    #[serde(deserialize_with = "some_whole::<_, _, 1, 64>")]
    pub workers: Option<usize>,
    #[serde(deserialize_with = "whole::<_, _, 1, 50>")]
    pub sentences: usize,
    /// None: only the sentence count limits a summary.
    #[serde(deserialize_with = "word_limit", serialize_with = "word_limit_out")]
    pub max_words: Option<usize>,
    #[serde(deserialize_with = "whole::<_, _, 1, 2048>")]
    pub max_new_tokens: usize,
}

impl Default for SummarizerSettings {
    fn default() -> Self {
        Self {
            kind: SummarizerKind::Extractive,
            model: None,
            encoder: None,
            device: Device::Cpu,
            workers: None,
            sentences: 3,
            max_words: Some(75),
            max_new_tokens: 96,
        }
    }
}

impl SummarizerSettings {
    /// Summarizer worker threads: the configured number, else one for the static encoder (an
    /// article costs it less than handing the article to another thread does, and threads
    /// allocating at that rate contend for précis's one malloc arena), else one per core, at
    /// most 8 (one single-threaded model per core beats one model using both; measured).
    pub fn workers_for(&self, static_encoder: bool) -> usize {
        self.workers.unwrap_or_else(|| {
            if static_encoder {
                1
            } else {
                std::thread::available_parallelism()
                    .map_or(2, |n| n.get())
                    .min(8)
            }
        })
    }

    /// The model to load: the one configured, or the kind's default.
    pub fn model_spec(&self) -> &str {
        match (&self.model, self.kind) {
            (Some(model), _) => model,
            (None, SummarizerKind::Generative) => "smollm2-135m-instruct",
            (None, _) => "all-minilm-l6-v2",
        }
    }
}

/// This section's settings: names, flags and forms (the fields above hold the values).
pub(super) const SETTINGS: &[SettingSpec] = &[
    SettingSpec {
        key: "summarizer.kind",
        env: &["PRECIS_SUMMARIZER"],
        flag: "--summarizer",
        value_name: "KIND",
        help: "extractive (MiniLM), generative (SmolLM2 GGUF or a T5 directory), or none",
        accepted: "extractive, generative or none",
        default_note: None,
        scopes: &[FlagScope::Summarizer],
    },
    SettingSpec {
        key: "summarizer.model",
        env: &["PRECIS_MODEL"],
        flag: "--model",
        value_name: "DIR|NAME",
        help: "Model directory or file, or a known name (all-minilm-l6-v2, smollm2-135m-instruct); `scripts/fetch-models` installs the known ones",
        accepted: "a model directory (or GGUF file), or a known name: all-minilm-l6-v2, smollm2-135m-instruct",
        default_note: Some("the kind's: all-minilm-l6-v2, smollm2-135m-instruct"),
        scopes: &[FlagScope::Summarizer],
    },
    SettingSpec {
        key: "summarizer.encoder",
        env: &["PRECIS_ENCODER"],
        flag: "--encoder",
        value_name: "ENCODER",
        help: "The extractive summarizer's sentence encoder: static, onnx (int8), onnx-fp32 or candle",
        accepted: "static (MiniLM distilled into token vectors: no model runs), onnx (ONNX Runtime, int8 weights), onnx-fp32, or candle (pure Rust, slower)",
        default_note: Some("static when scripts/fetch-models installed it, else onnx, else candle"),
        scopes: &[FlagScope::Summarizer],
    },
    SettingSpec {
        key: "summarizer.device",
        env: &["PRECIS_DEVICE"],
        flag: "--device",
        value_name: "DEVICE",
        help: "Where the ONNX encoder runs: cpu or cuda",
        accepted: "cpu, or cuda (the ONNX encoder on ONNX Runtime's CUDA provider: a GPU build of ONNX Runtime in ORT_DYLIB_PATH)",
        default_note: None,
        scopes: &[FlagScope::Summarizer],
    },
    SettingSpec {
        key: "summarizer.workers",
        env: &["PRECIS_SUMMARIZER_WORKERS"],
        flag: "--summarizer-workers",
        value_name: "N",
        help: "Summarizer worker threads, one model each",
        accepted: "a whole number of worker threads from 1 to 64",
        default_note: Some("1 for the static encoder, else the number of cores, at most 8"),
        scopes: &[FlagScope::Summarizer],
    },
    SettingSpec {
        key: "summarizer.sentences",
        env: &["PRECIS_SUMMARY_SENTENCES"],
        flag: "--summary-sentences",
        value_name: "N",
        help: "Sentences per summary at most (extractive)",
        accepted: "a whole number of sentences from 1 to 50",
        default_note: None,
        scopes: &[FlagScope::Summarizer],
    },
    SettingSpec {
        key: "summarizer.max_words",
        env: &["PRECIS_SUMMARY_WORDS"],
        flag: "--summary-words",
        value_name: "N",
        help: "Words per summary at most, 0 for no limit; the first sentence is always kept (extractive)",
        accepted: "a whole number of words from 1 to 10000, or 0 for no word limit",
        default_note: None,
        scopes: &[FlagScope::Summarizer],
    },
    SettingSpec {
        key: "summarizer.max_new_tokens",
        env: &["PRECIS_MAX_NEW_TOKENS"],
        flag: "--max-new-tokens",
        value_name: "N",
        help: "Tokens a generative model may write per summary",
        accepted: "a whole number of tokens from 1 to 2048",
        default_note: None,
        scopes: &[FlagScope::Summarizer],
    },
];
