//! MiniLM sentences/s at several batch sizes, on sentences of the BBC dev set (or any JSONL with
//! a `content` field): `cargo run --release --example embed_throughput -- FILE.jsonl [N]`; then
//! int8 and the static encoder with tokenizing timed too, as the same-engine Python peers time
//! it. bench/embed-peer runs the same sentences through those peers and sentence-transformers
//! (`--dump` prints them as JSON).

use std::time::Instant;

use anyhow::{Context, Result};
use precis::config::Device;
use precis::summarize::minilm::{Backend, MiniLm};
use precis::summarize::onnx::Precision;
use precis::summarize::static_encoder::StaticEncoder;
use precis::summarize::store::{cache_dir, resolve, MINILM};
use precis::text::sentences::sentences;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let input = args
        .next()
        .context("usage: embed_throughput FILE.jsonl [SENTENCES]")?;
    let wanted: usize = args.next().map_or(Ok(1024), |n| n.parse())?;
    let text = std::fs::read_to_string(&input)?;
    let mut corpus: Vec<String> = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        if let Some(content) = v["content"].as_str() {
            corpus.extend(sentences(content).iter().map(|s| s.to_string()));
        }
        if corpus.len() >= wanted {
            break;
        }
    }
    corpus.truncate(wanted);
    if args.next().as_deref() == Some("--dump") {
        println!("{}", serde_json::to_string(&corpus)?);
        return Ok(());
    }
    let refs: Vec<&str> = corpus.iter().map(String::as_str).collect();
    let dir = resolve(MINILM.name, &cache_dir())?;
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    // Every encoder, interleaved, so that a noisy machine affects them alike.
    let backends = [
        Backend::Onnx(Precision::Int8, Device::Cpu),
        Backend::Onnx(Precision::Fp32, Device::Cpu),
        Backend::Candle,
    ];
    for (batch, backend) in [32, 64, 128]
        .into_iter()
        .flat_map(|b| backends.map(|backend| (b, backend)))
    {
        let model = MiniLm::load_with(&dir, 128, batch, backend)?;
        let ids: Vec<Vec<u32>> = refs
            .iter()
            .map(|s| model.token_ids(s))
            .collect::<Result<_>>()?;
        let tokens: usize = ids.iter().map(Vec::len).sum();
        model.embed_ids(&ids[..batch.min(ids.len())])?; // warm-up
        let started = Instant::now();
        model.embed_ids(&ids)?;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{backend:?} batch {batch:>3}: {:>7.1} sentences/s, {:>8.0} tokens/s ({} sentences, {:.1} tokens each, threads {threads})",
            ids.len() as f64 / secs,
            tokens as f64 / secs,
            ids.len(),
            tokens as f64 / ids.len() as f64
        );
    }
    let rate = |started: Instant| refs.len() as f64 / started.elapsed().as_secs_f64();
    let int8 = MiniLm::load_with(&dir, 128, 1, Backend::Onnx(Precision::Int8, Device::Cpu))?;
    let started = Instant::now();
    int8.embed(&refs)?;
    println!(
        "int8, tokenizing timed: {:>7.1} sentences/s (threads {threads})",
        rate(started)
    );
    let mut table = StaticEncoder::load(&dir)?;
    for pass in ["first pass, cold word cache", "second pass"] {
        let started = Instant::now();
        for sentence in &refs {
            table.embed(sentence)?;
        }
        println!(
            "static, tokenizing timed, {pass}: {:>9.0} sentences/s (one thread)",
            rate(started)
        );
    }
    Ok(())
}
