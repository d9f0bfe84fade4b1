//! `precis eval`: ROUGE of the configured summarizer against reference summaries, next to the
//! lead-3 baseline on the same articles, with throughput.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::Value;

use crate::cli::EvalArgs;
use crate::commands::progress::terminal_bar;
use crate::config::{Settings, SummarizerKind};
use crate::summarize::extractive::lead;
use crate::summarize::rouge::{score, Rouge};
use crate::summarize::{start_pool, Document};

const TEXT_FIELDS: &[&str] = &["content", "article", "text", "document"];
const REFERENCE_FIELDS: &[&str] = &["reference", "summary", "highlights", "abstract", "target"];
const TITLE_FIELDS: &[&str] = &["title", "headline"];
/// Articles handed to the pool at a time: enough to keep every worker's batches full, few
/// enough for a lively progress bar.
const SUBMIT: usize = 32;

/// One article to score.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalItem {
    pub title: Option<String>,
    pub text: String,
    pub reference: String,
}

/// Reads the input, accepting the common field names; lines that hold no article text or no
/// reference are counted and reported, not fatal.
pub fn read_items(path: &Path, limit: Option<usize>) -> Result<(Vec<EvalItem>, Vec<String>)> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut items = Vec::new();
    let mut skipped = Vec::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        if limit.is_some_and(|l| items.len() >= l) {
            break;
        }
        let line = line.with_context(|| format!("reading {} line {}", path.display(), n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        match parse_item(&line) {
            Ok(item) => items.push(item),
            Err(why) => skipped.push(format!("line {}: {why}", n + 1)),
        }
    }
    Ok((items, skipped))
}

fn parse_item(line: &str) -> Result<EvalItem, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON ({e})"))?;
    let object = value.as_object().ok_or("not a JSON object")?;
    let field = |names: &[&str]| {
        names.iter().find_map(|name| {
            object
                .get(*name)
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .map(str::to_string)
        })
    };
    let text = field(TEXT_FIELDS).ok_or_else(|| format!("no text in {}", TEXT_FIELDS.join("|")))?;
    let reference = field(REFERENCE_FIELDS)
        .ok_or_else(|| format!("no reference in {}", REFERENCE_FIELDS.join("|")))?;
    Ok(EvalItem {
        title: field(TITLE_FIELDS),
        text,
        reference,
    })
}

/// Mean ROUGE F1 (in percent) and throughput of one system.
#[derive(Debug, Clone, Serialize)]
pub struct SystemReport {
    pub name: String,
    pub rouge1: f64,
    pub rouge2: f64,
    #[serde(rename = "rougeL")]
    pub rouge_l: f64,
    pub seconds: f64,
    pub articles_per_second: f64,
    pub input_tokens_per_second: f64,
    pub output_tokens_per_second: f64,
    pub mean_summary_words: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub input: String,
    pub articles: usize,
    pub skipped: usize,
    pub workers: usize,
    pub summarizer: SystemReport,
    pub baseline: SystemReport,
}

fn mean_scores(scores: &[Rouge]) -> (f64, f64, f64) {
    let n = scores.len().max(1) as f64;
    let sum = |f: fn(&Rouge) -> f64| scores.iter().map(f).sum::<f64>() / n * 100.0;
    (
        sum(|r| r.rouge1.f1),
        sum(|r| r.rouge2.f1),
        sum(|r| r.rouge_l.f1),
    )
}

fn system(name: &str, scores: &[Rouge], summaries: &[String], seconds: f64) -> SystemReport {
    let (rouge1, rouge2, rouge_l) = mean_scores(scores);
    let secs = seconds.max(1e-9);
    SystemReport {
        name: name.to_string(),
        rouge1,
        rouge2,
        rouge_l,
        seconds,
        articles_per_second: scores.len() as f64 / secs,
        input_tokens_per_second: 0.0,
        output_tokens_per_second: 0.0,
        mean_summary_words: summaries
            .iter()
            .map(|s| crate::text::word_count(s) as f64)
            .sum::<f64>()
            / summaries.len().max(1) as f64,
    }
}

pub fn run(settings: &Settings, args: &EvalArgs) -> Result<ExitCode> {
    if settings.summarizer.kind == SummarizerKind::None {
        anyhow::bail!("eval needs a summarizer: pass --summarizer extractive or generative");
    }
    let (items, skipped) = read_items(&args.input, args.limit)?;
    for why in skipped.iter().take(5) {
        tracing::warn!("skipped {}: {why}", args.input.display());
    }
    anyhow::ensure!(
        !items.is_empty(),
        "{} holds no article with both a text and a reference summary",
        args.input.display()
    );
    let pool = start_pool(&settings.summarizer)?
        .context("eval needs a summarizer: pass --summarizer extractive or generative")?;
    let metrics = pool.metrics();

    let progress = progress_bar(items.len() as u64);
    let started = Instant::now();
    let mut summaries = Vec::with_capacity(items.len());
    for chunk in items.chunks(SUBMIT) {
        let docs: Vec<Document<'_>> = chunk
            .iter()
            .map(|i| Document {
                title: i.title.as_deref(),
                content: &i.text,
            })
            .collect();
        summaries.extend(
            pool.summarize_blocking(&docs, &Default::default())?
                .into_iter()
                .map(|s| s.text),
        );
        progress.inc(chunk.len() as u64);
    }
    let seconds = started.elapsed().as_secs_f64();
    progress.finish_and_clear();
    let counts = metrics.snapshot();

    let lead_started = Instant::now();
    let leads: Vec<String> = items.iter().map(|i| lead(&i.text, 3)).collect();
    let lead_seconds = lead_started.elapsed().as_secs_f64();

    let ours: Vec<Rouge> = items
        .iter()
        .zip(&summaries)
        .map(|(i, s)| score(&i.reference, s))
        .collect();
    let baseline: Vec<Rouge> = items
        .iter()
        .zip(&leads)
        .map(|(i, s)| score(&i.reference, s))
        .collect();

    let mut summarizer = system(pool.id(), &ours, &summaries, seconds);
    summarizer.input_tokens_per_second = counts.tokens_in as f64 / seconds.max(1e-9);
    summarizer.output_tokens_per_second = counts.tokens_out as f64 / seconds.max(1e-9);
    let report = EvalReport {
        input: args.input.display().to_string(),
        articles: items.len(),
        skipped: skipped.len(),
        workers: pool.workers(),
        summarizer,
        baseline: system("lead-3", &baseline, &leads, lead_seconds),
    };
    if let Some(path) = &args.details {
        write_details(path, &items, &summaries, &ours, &baseline)?;
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        out!("{}", table(&report))?;
    }
    if counts.fallbacks > 0 {
        eprintln!(
            "warning: the summarizer failed on {} article(s); their lead sentences were scored instead",
            counts.fallbacks
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn write_details(
    path: &Path,
    items: &[EvalItem],
    summaries: &[String],
    ours: &[Rouge],
    baseline: &[Rouge],
) -> Result<()> {
    let mut out = std::io::BufWriter::new(
        File::create(path).with_context(|| format!("creating {}", path.display()))?,
    );
    for (((item, summary), o), b) in items.iter().zip(summaries).zip(ours).zip(baseline) {
        let line = serde_json::json!({
            "title": item.title,
            "summary": summary,
            "rouge1": o.rouge1.f1, "rouge2": o.rouge2.f1, "rougeL": o.rouge_l.f1,
            "lead3_rouge1": b.rouge1.f1, "lead3_rouge2": b.rouge2.f1, "lead3_rougeL": b.rouge_l.f1,
        });
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(())
}

/// The report as a table for people.
pub fn table(report: &EvalReport) -> String {
    let mut out = format!(
        "{:<12} {:>7} {:>7} {:>7} {:>11} {:>13} {:>7}\n",
        "system", "ROUGE-1", "ROUGE-2", "ROUGE-L", "articles/s", "tokens/s in", "words"
    );
    for (label, s) in [
        ("summarizer", &report.summarizer),
        ("lead-3", &report.baseline),
    ] {
        out.push_str(&format!(
            "{label:<12} {:>7.2} {:>7.2} {:>7.2} {:>11.1} {:>13.0} {:>7.1}\n",
            s.rouge1,
            s.rouge2,
            s.rouge_l,
            s.articles_per_second,
            s.input_tokens_per_second,
            s.mean_summary_words
        ));
    }
    out.push_str(&format!(
        "summarizer: {}\n{} articles from {} ({} skipped), {} worker(s); ROUGE F1 x100, stemmed, as rouge-score computes it\n",
        report.summarizer.name, report.articles, report.input, report.skipped, report.workers
    ));
    if report.summarizer.output_tokens_per_second > 0.0 {
        out.push_str(&format!(
            "generated {:.1} tokens/s\n",
            report.summarizer.output_tokens_per_second
        ));
    }
    out
}

fn progress_bar(total: u64) -> ProgressBar {
    let style = ProgressStyle::with_template(
        "{spinner} summarizing {bar:30} {pos}/{len} articles  eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    terminal_bar(Some(total), style)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_field_names_are_accepted() {
        let item =
            parse_item(r#"{"article": "Some text.", "highlights": "Text.", "headline": "H"}"#)
                .unwrap();
        assert_eq!(item.text, "Some text.");
        assert_eq!(item.reference, "Text.");
        assert_eq!(item.title.as_deref(), Some("H"));
    }

    #[test]
    fn a_line_without_a_reference_is_refused_with_the_names_looked_for() {
        let why = parse_item(r#"{"content": "Some text."}"#).unwrap_err();
        assert!(why.contains("reference|summary"), "{why}");
        assert!(parse_item("not json").is_err());
    }
}
