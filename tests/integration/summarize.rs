//! Summarizers with the real weights from the model store (scripts/fetch-models), and summaries
//! end to end through `precis run` against moto.

use std::path::PathBuf;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type};
use precis::config::{Device, EncoderKind};
use precis::summarize::extractive::{Budget, Extractive, ExtractiveOptions};
use precis::summarize::minilm::{cosine, Backend, MiniLm, MAX_TOKENS};
use precis::summarize::onnx::Precision;
use precis::summarize::store::{resolve, MINILM};
use precis::summarize::{Document, Summarizer};
use precis::text::sentences::sentences;

use crate::pipeline::{keys_under, parquet_under, seed, strings};
use crate::support::{clients, model_dir, moto, run_precis, settings_for};

/// The article's sentences, each on one line (as summaries join them).
fn article_sentences(content: &str) -> Vec<String> {
    sentences(content)
        .iter()
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// Reads a summary back as a sequence of whole article sentences, or None if it is not one.
/// (Splitting the summary again is no proof: a sentence that ended at a paragraph break in the
/// article may not end where it sits in the one-line summary.)
fn as_article_sentences(summary: &str, own: &[String]) -> Option<Vec<String>> {
    if summary.is_empty() {
        return Some(Vec::new());
    }
    for sentence in own {
        if let Some(rest) = summary.strip_prefix(sentence.as_str()) {
            let rest = rest.strip_prefix(' ').unwrap_or(rest);
            if rest.len() < summary.len() {
                if let Some(mut tail) = as_article_sentences(rest, own) {
                    tail.insert(0, sentence.clone());
                    return Some(tail);
                }
            }
        }
    }
    None
}

fn minilm_dir() -> PathBuf {
    resolve(MINILM.name, &model_dir()).unwrap_or_else(|e| panic!("{e}"))
}

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn minilm_embeddings_match_sentence_transformers() {
    let reference: serde_json::Value =
        serde_json::from_str(&fixture("minilm_reference.json")).unwrap();
    let sentences: Vec<&str> = reference["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let expected: Vec<Vec<f32>> = serde_json::from_value(reference["vectors"].clone()).unwrap();
    // Every encoder: ONNX Runtime's graphs (made from these weights by scripts/fetch-models) and
    // candle's BERT. A small batch size, so that the sentences span several batches.
    for (backend, floor) in [
        (Backend::Onnx(Precision::Fp32, Device::Cpu), 0.999),
        (Backend::Onnx(Precision::Int8, Device::Cpu), 0.98),
        (Backend::Candle, 0.999),
    ] {
        let model = MiniLm::load_with(&minilm_dir(), MAX_TOKENS, 3, backend).unwrap();
        let got = model.embed(&sentences).unwrap();
        assert_eq!(got.len(), expected.len());
        for ((sentence, ours), theirs) in sentences.iter().zip(&got).zip(&expected) {
            assert_eq!(ours.len(), 384);
            let similarity = cosine(ours, theirs);
            assert!(
                similarity >= floor,
                "{backend:?}: cosine {similarity} for {sentence:?}"
            );
        }
    }
}

#[test]
fn an_int8_vector_depends_on_its_sentence_only_not_on_the_batch_it_ran_in() {
    let int8 = Backend::Onnx(Precision::Int8, Device::Cpu);
    let alone = MiniLm::load_with(&minilm_dir(), MAX_TOKENS, 1, int8).unwrap();
    let batched = MiniLm::load_with(&minilm_dir(), MAX_TOKENS, 16, int8).unwrap();
    let sentences = [
        "",
        "Short.",
        "The central bank raised interest rates by a quarter of a percentage point on Thursday.",
    ];
    let one_by_one: Vec<Vec<f32>> = sentences
        .iter()
        .map(|s| alone.embed(&[s]).unwrap().remove(0))
        .collect();
    assert_eq!(batched.embed(&sentences).unwrap(), one_by_one);
}

#[test]
fn the_encoder_is_onnx_when_installed_and_candle_otherwise_unless_one_is_chosen() {
    let installed = minilm_dir();
    let int8 = Backend::Onnx(Precision::Int8, Device::Cpu);
    assert_eq!(
        Backend::choose(None, Device::Cpu, &installed).unwrap(),
        int8
    );
    let bare = tempfile::tempdir().unwrap();
    assert_eq!(
        Backend::choose(None, Device::Cpu, bare.path()).unwrap(),
        Backend::Candle
    );
    assert_eq!(
        Backend::choose(Some(EncoderKind::Onnx), Device::Cpu, bare.path()).unwrap(),
        int8
    );
    // On a GPU, fp32: the int8 graph's quantize steps would run on the CPU.
    assert_eq!(
        Backend::choose(None, Device::Cuda, &installed).unwrap(),
        Backend::Onnx(Precision::Fp32, Device::Cuda)
    );
    // A graph fetch-models did not verify (no mark: its hash did not match) is not chosen.
    std::fs::copy(
        installed.join("model_int8.onnx"),
        bare.path().join("model_int8.onnx"),
    )
    .unwrap();
    assert_eq!(
        Backend::choose(None, Device::Cpu, bare.path()).unwrap(),
        Backend::Candle
    );
    let cuda = Backend::choose(Some(EncoderKind::Candle), Device::Cuda, &installed)
        .unwrap_err()
        .to_string();
    assert!(cuda.contains("--encoder onnx"), "{cuda}");
}

#[test]
fn a_missing_onnx_graph_says_which_command_installs_it() {
    let bare = tempfile::tempdir().unwrap();
    for file in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::copy(minilm_dir().join(file), bare.path().join(file)).unwrap();
    }
    let err = MiniLm::load_with(
        bare.path(),
        MAX_TOKENS,
        3,
        Backend::Onnx(Precision::Int8, Device::Cpu),
    )
    .err()
    .unwrap();
    let message = format!("{err:#}");
    assert!(message.contains("scripts/fetch-models minilm"), "{message}");
    assert!(message.contains("--encoder candle"), "{message}");
}

const ARTICLE: &str = "The city council approved a new budget on Monday that raises spending on \
schools and roads.\n\nThe plan, worth $1.2bn, passed by nine votes to four after a long debate. \
Opponents said it would raise property taxes for thousands of families. \"We cannot afford this,\" \
said Councillor Jane Doe.\n\nSupporters argued that the roads had been neglected for a decade and \
that schools were overcrowded. The mayor is expected to sign the budget on Friday. Work on the \
first road projects could start in the spring, officials said.";

fn extractive(budget: Budget) -> Extractive {
    Extractive::load(
        &minilm_dir(),
        ExtractiveOptions {
            budget,
            ..ExtractiveOptions::default()
        },
    )
    .unwrap()
}

#[test]
fn an_extractive_summary_is_whole_sentences_of_the_article_within_the_budget() {
    let mut summarizer = extractive(Budget {
        sentences: 2,
        words: Some(40),
    });
    let docs = [Document {
        title: Some("Council passes budget"),
        content: ARTICLE,
    }];
    let summary = summarizer.summarize(&docs).unwrap().remove(0);
    let picked = as_article_sentences(&summary, &article_sentences(ARTICLE))
        .unwrap_or_else(|| panic!("not sentences of the article: {summary}"));
    assert!(!picked.is_empty() && picked.len() <= 2, "{summary}");
    assert!(picked.len() == 1 || precis::text::word_count(&summary) <= 40);
    assert!(summarizer
        .id()
        .starts_with("extractive:all-minilm-l6-v2@53aa5117"));
}

#[test]
fn a_tiny_article_is_its_own_summary_and_odd_input_gets_one_too() {
    let mut summarizer = extractive(Budget::default());
    let docs = [
        Document {
            title: None,
            content: "Only one short sentence here.",
        },
        Document {
            title: Some(""),
            content: "no punctuation at all just words running on",
        },
        Document {
            title: Some("Numbers"),
            content: "1 2 3. 4 5 6. 7 8 9. 10 11 12. 13 14 15.",
        },
    ];
    let out = summarizer.summarize(&docs).unwrap();
    assert_eq!(out[0], "Only one short sentence here.");
    assert_eq!(out[1], "no punctuation at all just words running on");
    assert!(!out[2].is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_summarizes_every_curated_row_with_sentences_of_its_article() {
    let settings = settings_for("summ1k");
    seed(&settings, 1000, 61).await;
    let env = [
        ("AWS_ENDPOINT_URL", moto().endpoint.clone()),
        ("PRECIS_STREAM", settings.stream.name.clone()),
        ("PRECIS_BUCKET", settings.lake.bucket.clone()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (output, _) = run_precis(
        &["run", "--once", "--no-ui"],
        &env,
        Duration::from_secs(1200),
    );
    assert!(
        output.status.success(),
        "run failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let clients = clients(&settings).await;
    let curated = parquet_under(&clients, &settings.lake.bucket, "lake/summaries/").await;
    let contents = strings(&curated, "content");
    let summaries = strings(&curated, "summary");
    let summarizers = strings(&curated, "summarizer");
    assert_eq!(summaries.len(), 1000);
    let words: Vec<i32> = curated
        .iter()
        .flat_map(|b| {
            b.column_by_name("summary_word_count")
                .unwrap()
                .as_primitive::<Int32Type>()
                .values()
                .to_vec()
        })
        .collect();
    let ratios: Vec<f64> = curated
        .iter()
        .flat_map(|b| {
            b.column_by_name("compression_ratio")
                .unwrap()
                .as_primitive::<Float64Type>()
                .values()
                .to_vec()
        })
        .collect();
    for (i, (content, summary)) in contents.iter().zip(&summaries).enumerate() {
        assert!(!summary.trim().is_empty(), "empty summary for row {i}");
        let picked = as_article_sentences(summary, &article_sentences(content))
            .unwrap_or_else(|| panic!("row {i}: not sentences of its article: {summary}"));
        assert!((1..=3).contains(&picked.len()), "{summary}");
        let count = precis::text::word_count(summary) as i32;
        assert_eq!(words[i], count);
        assert!(picked.len() == 1 || count <= 75, "row {i}: {count} words");
        assert!(ratios[i] > 0.0 && ratios[i] < 1.0);
        assert!(
            summarizers[i].starts_with("extractive:all-minilm-l6-v2@"),
            "{}",
            summarizers[i]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_model_fails_before_anything_is_read_or_written() {
    let settings = settings_for("nomodel");
    seed(&settings, 20, 62).await;
    let empty_store = tempfile::tempdir().unwrap();
    let env = [
        ("AWS_ENDPOINT_URL", moto().endpoint.clone()),
        ("PRECIS_STREAM", settings.stream.name.clone()),
        ("PRECIS_BUCKET", settings.lake.bucket.clone()),
        ("PRECIS_MODEL_DIR", empty_store.path().display().to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (output, _) = run_precis(&["run", "--once", "--no-ui"], &env, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("scripts/fetch-models minilm"),
        "{stderr}"
    );
    let clients = clients(&settings).await;
    // produce made the bucket; the run must not have written a single object into it.
    assert!(keys_under(&clients, &settings.lake.bucket, "")
        .await
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_follow_mode_a_fresh_article_is_summarized_and_committed_within_the_flush_age_and_seconds(
) {
    const FLUSH_AGE_SECS: u64 = 5;
    let settings = settings_for("latency");
    seed(&settings, 40, 63).await;
    let env = [
        ("AWS_ENDPOINT_URL", moto().endpoint.clone()),
        ("PRECIS_STREAM", settings.stream.name.clone()),
        ("PRECIS_BUCKET", settings.lake.bucket.clone()),
        ("PRECIS_FLUSH_AGE_SECS", FLUSH_AGE_SECS.to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let child = crate::support::precis_command(&["run", "--no-ui"], &env)
        .spawn()
        .expect("spawn precis run");
    let clients = clients(&settings).await;
    // The backlog first: once it is committed, the pipeline is idle at the tip.
    let summarized = |n: usize| {
        let (clients, bucket) = (clients.clone(), settings.lake.bucket.clone());
        async move {
            strings(
                &parquet_under(&clients, &bucket, "lake/summaries/").await,
                "summary",
            )
            .len()
                >= n
        }
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    while !summarized(40).await {
        assert!(
            std::time::Instant::now() < deadline,
            "the backlog was not committed"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    seed(&settings, 1, 64).await;
    let put = std::time::Instant::now();
    while !summarized(41).await {
        assert!(
            put.elapsed() < Duration::from_secs(FLUSH_AGE_SECS + 15),
            "a fresh article not summarized and committed {:?} after its put",
            put.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!("fresh article committed {:?} after its put", put.elapsed());
    let output = crate::support::terminate(child).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
