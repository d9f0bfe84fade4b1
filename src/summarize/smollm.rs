//! Generative summaries from an instruction LLM in GGUF (SmolLM2-135M-Instruct from the model
//! store), through candle's quantized llama.
//!
//! The GGUF file carries everything: the weights, the byte-level BPE tokenizer
//! (`tokenizer.ggml.tokens` / `merges`) and the chat template. The weights are widened to f32
//! once at load: on CPUs without fast int8 dot products candle's Q4 matmul prefills ~30 tokens/s
//! against ~500 in f32 (DESIGN.md). Decoding is greedy by default, so a summary is reproducible.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_llama::ModelWeights;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

use super::store::SMOLLM2;
use super::{finish_generation, Document, Generator, TokenCounts};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenerativeOptions {
    /// Article tokens the model reads at most (the article is cut, the instruction is kept).
    pub max_input_tokens: usize,
    pub max_new_tokens: usize,
}

impl Default for GenerativeOptions {
    fn default() -> Self {
        Self {
            max_input_tokens: 512,
            max_new_tokens: 96,
        }
    }
}

const INSTRUCTION: &str = "Summarize the following news article in two or three sentences.";

pub struct SmolLm {
    model: ModelWeights,
    tokenizer: Tokenizer,
    chat: ChatMl,
    end_of_turn: u32,
    end_of_text: Option<u32>,
    options: GenerativeOptions,
    id: String,
    tokens: TokenCounts,
}

/// The ChatML turn markers the GGUF's chat template uses, and its default system prompt.
struct ChatMl {
    system: Option<String>,
}

impl ChatMl {
    /// Only ChatML templates are rendered (SmolLM2, Qwen2 and most small instruction models);
    /// anything else is refused rather than prompted wrongly.
    fn from_template(template: &str) -> Result<Self> {
        anyhow::ensure!(
            template.contains("<|im_start|>") && template.contains("<|im_end|>"),
            "the model's chat template is not ChatML (<|im_start|> ... <|im_end|>); only ChatML models are supported"
        );
        // SmolLM2's template inserts its default system message when none is given.
        let system = template
            .split("<|im_start|>system\\n")
            .nth(1)
            .and_then(|rest| rest.split("<|im_end|>").next())
            .map(str::to_string);
        Ok(Self { system })
    }

    fn prompt(&self, user: &str) -> String {
        let mut out = String::new();
        if let Some(system) = &self.system {
            out.push_str(&format!("<|im_start|>system\n{system}<|im_end|>\n"));
        }
        out.push_str(&format!(
            "<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
        ));
        out
    }
}

/// The GGUF file of a model given as a file or a directory holding one.
pub fn gguf_path(model: &Path) -> Result<PathBuf> {
    if model.is_file() {
        return Ok(model.to_path_buf());
    }
    let preferred = model.join(SMOLLM2.weights);
    if preferred.is_file() {
        return Ok(preferred);
    }
    let mut found = std::fs::read_dir(model)
        .with_context(|| format!("reading model directory {}", model.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "gguf"));
    found
        .next()
        .with_context(|| format!("{} holds no .gguf file", model.display()))
}

impl SmolLm {
    pub fn load(model: &Path, options: GenerativeOptions) -> Result<Self> {
        let path = gguf_path(model)?;
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let content = gguf_file::Content::read(&mut Cursor::new(&bytes))
            .with_context(|| format!("{} is not a GGUF file", path.display()))?;
        let tokenizer = tokenizer_from_gguf(&content)
            .with_context(|| format!("building the tokenizer of {}", path.display()))?;
        let template = content
            .metadata
            .get("tokenizer.chat_template")
            .and_then(|v| v.to_string().ok())
            .context("the GGUF file has no tokenizer.chat_template")?;
        let chat = ChatMl::from_template(template)?;
        let model = load_widened(&content, &bytes)
            .with_context(|| format!("loading the model in {}", path.display()))?;
        let end_of_turn = tokenizer
            .token_to_id("<|im_end|>")
            .context("the tokenizer has no <|im_end|> token")?;
        let end_of_text = tokenizer.token_to_id("<|endoftext|>");
        let name = path
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let revision = std::fs::read_to_string(path.with_file_name(".verified"))
            .ok()
            .map(|sha| sha.trim().chars().take(8).collect::<String>())
            .unwrap_or_else(|| "local".into());
        let id = format!(
            "generative:{name}@{revision};greedy;max_input={};max_new={}",
            options.max_input_tokens, options.max_new_tokens
        );
        Ok(Self {
            model,
            tokenizer,
            chat,
            end_of_turn,
            end_of_text,
            options,
            id,
            tokens: TokenCounts::default(),
        })
    }

    fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self
            .tokenizer
            .encode(text, false)
            .map_err(|e| anyhow::anyhow!("tokenizing: {e}"))?
            .get_ids()
            .to_vec())
    }

    /// The article cut to the input budget, on a token boundary.
    fn bounded_article(&self, content: &str) -> Result<String> {
        let ids = self.encode(content)?;
        if ids.len() <= self.options.max_input_tokens {
            return Ok(content.to_string());
        }
        self.tokenizer
            .decode(&ids[..self.options.max_input_tokens], false)
            .map_err(|e| anyhow::anyhow!("decoding: {e}"))
    }

    fn generate(&mut self, doc: &Document<'_>) -> Result<String> {
        let article = self.bounded_article(doc.content)?;
        let user = match doc.title.filter(|t| !t.trim().is_empty()) {
            Some(title) => format!("{INSTRUCTION}\n\nTitle: {title}\n\n{article}"),
            None => format!("{INSTRUCTION}\n\n{article}"),
        };
        let prompt = self.encode(&self.chat.prompt(&user))?;
        self.model.clear_kv_cache();
        let device = Device::Cpu;
        let input = Tensor::new(prompt.as_slice(), &device)?.unsqueeze(0)?;
        let mut logits = self.model.forward(&input, 0)?;
        let mut out: Vec<u32> = Vec::new();
        for step in 0..self.options.max_new_tokens {
            let next = logits.squeeze(0)?.argmax(0)?.to_scalar::<u32>()?;
            if next == self.end_of_turn || Some(next) == self.end_of_text {
                break;
            }
            out.push(next);
            let input = Tensor::new(&[next], &device)?.unsqueeze(0)?;
            logits = self.model.forward(&input, prompt.len() + step)?;
        }
        finish_generation(&self.tokenizer, prompt.len(), &out, &mut self.tokens)
    }
}

impl Generator for SmolLm {
    fn id(&self) -> &str {
        &self.id
    }

    fn generate(&mut self, doc: &Document<'_>) -> Result<String> {
        SmolLm::generate(self, doc)
    }

    fn token_counts(&mut self) -> &mut TokenCounts {
        &mut self.tokens
    }
}

/// Rebuilds the model with every weight in f32: each tensor is read, widened, and the model is
/// loaded from an in-memory GGUF holding the f32 copies (candle keeps f32 GGUF tensors as plain
/// tensors, which its fast f32 matmul then uses).
fn load_widened(content: &gguf_file::Content, bytes: &[u8]) -> Result<ModelWeights> {
    let device = Device::Cpu;
    let mut reader = Cursor::new(bytes);
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    let mut tensors: Vec<(&str, QTensor)> = Vec::with_capacity(names.len());
    for name in names {
        let q = content.tensor(&mut reader, name, &device)?;
        let widened = match q.dtype() {
            GgmlDType::F32 => q,
            _ => QTensor::quantize(&q.dequantize(&device)?, GgmlDType::F32)?,
        };
        tensors.push((name.as_str(), widened));
    }
    let metadata: Vec<(&str, &gguf_file::Value)> = content
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (*n, t)).collect();
    let mut buffer = Cursor::new(Vec::new());
    gguf_file::write(&mut buffer, &metadata, &tensor_refs)?;
    drop(tensors);
    let bytes = buffer.into_inner();
    let mut reader = Cursor::new(&bytes);
    let widened = gguf_file::Content::read(&mut reader)?;
    Ok(ModelWeights::from_gguf(widened, &mut reader, &device)?)
}

/// The GPT-2 style byte-level BPE tokenizer a llama-family GGUF describes.
fn tokenizer_from_gguf(content: &gguf_file::Content) -> Result<Tokenizer> {
    let get = |key: &str| {
        content
            .metadata
            .get(key)
            .with_context(|| format!("the GGUF file has no {key}"))
    };
    let model = get("tokenizer.ggml.model")?.to_string()?;
    anyhow::ensure!(
        model == "gpt2",
        "tokenizer type {model:?} is not supported (only gpt2-style byte-level BPE)"
    );
    let tokens: Vec<String> = get("tokenizer.ggml.tokens")?
        .to_vec()?
        .iter()
        .map(|v| v.to_string().cloned())
        .collect::<candle_core::Result<_>>()?;
    let merges: Vec<(String, String)> = get("tokenizer.ggml.merges")?
        .to_vec()?
        .iter()
        .map(|v| {
            let merge = v.to_string()?;
            merge
                .split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| candle_core::Error::Msg(format!("bad merge {merge:?}")))
        })
        .collect::<candle_core::Result<_>>()?;
    let token_types: Vec<i32> = match content.metadata.get("tokenizer.ggml.token_type") {
        Some(v) => v
            .to_vec()?
            .iter()
            .map(|t| t.to_i32())
            .collect::<candle_core::Result<_>>()?,
        None => Vec::new(),
    };
    let vocab: Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| anyhow::anyhow!("building BPE: {e}"))?;
    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
    tokenizer.with_decoder(Some(ByteLevelDecoder::default()));
    // Control tokens (type 3) such as <|im_start|> must be matched whole, never split into bytes.
    let special: Vec<AddedToken> = tokens
        .iter()
        .zip(&token_types)
        .filter(|(_, &kind)| kind == 3)
        .map(|(t, _)| AddedToken::from(t.clone(), true))
        .collect();
    tokenizer
        .add_special_tokens(special)
        .map_err(|e| anyhow::anyhow!("adding control tokens: {e}"))?;
    Ok(tokenizer)
}
