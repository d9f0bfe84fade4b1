//! The generative summarizers: SmolLM2 with its real weights from the model store, and the T5
//! path on a tiny random model.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use candle_transformers::models::t5::{Config, T5ForConditionalGeneration};
use precis::config::{SummarizerKind, SummarizerSettings};
use precis::summarize::smollm::{GenerativeOptions, SmolLm};
use precis::summarize::store::{resolve, SMOLLM2};
use precis::summarize::{start_pool, Document, Summarizer};
use tokenizers::models::wordlevel::WordLevel;
use tokenizers::pre_tokenizers::whitespace::Whitespace;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::Tokenizer;

use crate::support::model_dir;

const SHORT_ARTICLE: &str = "The city council approved a new budget on Monday that raises \
spending on schools and roads by ten percent. The plan passed by nine votes to four after a long \
debate. The mayor is expected to sign it on Friday.";

#[test]
fn smollm2_writes_a_non_empty_summary_of_a_short_article() {
    let dir = resolve(SMOLLM2.name, &model_dir()).unwrap_or_else(|e| panic!("{e}"));
    let mut model = SmolLm::load(
        &dir,
        GenerativeOptions {
            max_input_tokens: 256,
            max_new_tokens: 40,
        },
    )
    .unwrap();
    let out = model
        .summarize(&[Document {
            title: Some("Council passes budget"),
            content: SHORT_ARTICLE,
        }])
        .unwrap();
    assert_eq!(out.len(), 1);
    let words = precis::text::word_count(&out[0]);
    assert!(words >= 3, "too short: {:?}", out[0]);
    assert!(
        !out[0].contains("<|im_"),
        "control tokens leaked: {:?}",
        out[0]
    );
    let counts = model.take_token_counts();
    assert!(counts.output > 0 && counts.output <= 40, "{counts:?}");
    assert!(model
        .id()
        .starts_with("generative:SmolLM2-135M-Instruct.Q4_1@b179c952"));
}

const WORDS: &[&str] = &[
    "the",
    "city",
    "council",
    "approved",
    "a",
    "new",
    "budget",
    "on",
    "monday",
    "plan",
    "passed",
    "by",
    "nine",
    "votes",
    "to",
    "four",
    "mayor",
    "sign",
    "it",
    "friday",
    "summarize:",
];

/// A T5 with 2 layers of width 32 and random weights, and a word-level tokenizer: enough to run
/// every step of the T5 path (config, tokenizer, safetensors, encoder, cached greedy decoding).
fn write_tiny_t5(dir: &Path) {
    let mut vocab: HashMap<String, u32> = HashMap::new();
    for (i, special) in ["<pad>", "</s>", "<unk>"].iter().enumerate() {
        vocab.insert(special.to_string(), i as u32);
    }
    for word in WORDS {
        let next = vocab.len() as u32;
        vocab.insert(word.to_string(), next);
    }
    let config = serde_json::json!({
        "model_type": "t5", "vocab_size": vocab.len(), "d_model": 32, "d_kv": 8, "d_ff": 64,
        "num_layers": 2, "num_heads": 4, "relative_attention_num_buckets": 8,
        "relative_attention_max_distance": 16, "dropout_rate": 0.0, "layer_norm_epsilon": 1e-6,
        "initializer_factor": 1.0, "feed_forward_proj": "relu", "tie_word_embeddings": true,
        "is_encoder_decoder": true, "pad_token_id": 0, "eos_token_id": 1,
        "decoder_start_token_id": 0
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let config: Config = serde_json::from_value(config).unwrap();

    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    T5ForConditionalGeneration::load(vb, &config).unwrap();
    for var in varmap.all_vars() {
        let random = Tensor::randn(0f32, 0.5, var.shape(), &Device::Cpu).unwrap();
        var.set(&random).unwrap();
    }
    varmap.save(dir.join("model.safetensors")).unwrap();

    let model = WordLevel::builder()
        .vocab(vocab.into_iter().collect())
        .unk_token("<unk>".into())
        .build()
        .unwrap();
    let mut tokenizer = Tokenizer::new(model);
    tokenizer.with_pre_tokenizer(Some(Whitespace {}));
    tokenizer.with_post_processor(Some(
        TemplateProcessing::builder()
            .try_single("$A </s>")
            .unwrap()
            .special_tokens(vec![("</s>", 1)])
            .build()
            .unwrap(),
    ));
    tokenizer.save(dir.join("tokenizer.json"), false).unwrap();
}

/// Plumbing, not quality: the weights are random, so the words are too.
#[test]
fn the_t5_path_runs_end_to_end_on_a_tiny_random_model() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_t5(dir.path());
    let settings = SummarizerSettings {
        kind: SummarizerKind::Generative,
        model: Some(dir.path().display().to_string()),
        workers: Some(1),
        sentences: 3,
        max_words: None,
        max_new_tokens: 12,
        ..SummarizerSettings::default()
    };
    let pool = start_pool(&settings).unwrap().unwrap();
    assert!(pool.id().starts_with("generative:t5:"), "{}", pool.id());
    let long = SHORT_ARTICLE.repeat(40);
    let docs = [
        Document {
            title: None,
            content: SHORT_ARTICLE,
        },
        Document {
            title: None,
            content: &long,
        },
    ];
    let out = pool.summarize_blocking(&docs, &Default::default()).unwrap();
    assert_eq!(out.len(), 2);
    for summary in &out {
        assert_eq!(
            &*summary.summarizer,
            pool.id(),
            "the model failed: {summary:?}"
        );
        let words: Vec<&str> = summary.text.split_whitespace().collect();
        assert!(words.len() <= 12, "{words:?}");
        for word in words {
            assert!(
                WORDS.contains(&word) || word == "<unk>",
                "{word} is not in the vocabulary"
            );
        }
    }
    let metrics = pool.metrics().snapshot();
    assert_eq!(metrics.summarized, 2);
    assert!(metrics.tokens_in > 0);
}
