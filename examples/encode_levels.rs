//! zstd levels for the lake's files (1 against 3 unless told), interleaved in one process so
//! that the machine's drift hits all alike: time to encode raw + curated for every article, and
//! the files' sizes, on the BBC dev set and on generated news; each level next to the first.
//! Run: `cargo run --release --example encode_levels [ROUNDS [LEVEL...]]` (default 10 rounds,
//! the first a warm-up; levels 1 3; negative levels are zstd's fast ones).

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use arrow_array::RecordBatch;
use chrono::{NaiveDate, TimeZone, Utc};
use parquet::arrow::ArrowWriter;
use precis::pipeline::record::Limits;
use precis::pipeline::rows::{process, ArticleRow, Outcome, RawRecord};
use precis::pipeline::sink::parquet::{
    curated_batch, raw_batch, writer_properties_at, FileContext,
};
use precis::produce::newsgen::NewsGenerator;

const LEVELS: [i32; 2] = [1, 3];

fn rows(payloads: &[Vec<u8>]) -> Vec<ArticleRow> {
    let arrival = Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap();
    payloads
        .iter()
        .enumerate()
        .filter_map(|(i, data)| {
            let record = RawRecord {
                shard_id: "shardId-000000000000".into(),
                sequence_number: format!("{i:056}"),
                partition_key: i.to_string(),
                arrival_time: arrival,
                data: data.clone(),
            };
            match process(&record, &Limits::default()) {
                Outcome::Article(row) => Some(*row),
                Outcome::Quarantined(_) => None,
            }
        })
        .collect()
}

/// Encodes each batch as one file; returns the bytes written.
fn encode(batches: &[RecordBatch], level: i32) -> Result<usize> {
    let mut size = 0;
    for batch in batches {
        let mut out = Vec::new();
        let mut writer = ArrowWriter::try_new(
            &mut out,
            batch.schema(),
            Some(writer_properties_at(level, 32 * 1024 * 1024)?),
        )?;
        writer.write(batch)?;
        writer.close()?;
        size += out.len();
    }
    Ok(size)
}

fn main() -> Result<()> {
    let rounds: u32 = std::env::args()
        .nth(1)
        .map_or(Ok(10), |r| r.parse())
        .context("ROUNDS: a number")?;
    anyhow::ensure!(
        rounds >= 2,
        "ROUNDS must be at least 2 (the first is a warm-up)"
    );
    let mut levels: Vec<i32> = std::env::args()
        .skip(2)
        .map(|l| {
            l.parse()
                .with_context(|| format!("zstd level {l}: a whole number"))
        })
        .collect::<Result<_>>()?;
    if levels.is_empty() {
        levels = LEVELS.to_vec();
    }
    let bbc = std::fs::read_to_string("../shared/data/bbc-news-summary-dev.jsonl")
        .context("reading ../shared/data/bbc-news-summary-dev.jsonl")?;
    let as_of = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    let generated = NewsGenerator::new(7, as_of)
        .take(2000)
        .map(|a| serde_json::to_vec(&a))
        .collect::<Result<Vec<_>, _>>()?;
    let sets = [
        (
            "BBC dev set",
            bbc.lines()
                .map(|l| l.as_bytes().to_vec())
                .collect::<Vec<_>>(),
        ),
        ("generated news", generated),
    ];
    for (name, payloads) in sets {
        let rows = rows(&payloads);
        let refs: Vec<&ArticleRow> = rows.iter().collect();
        let ctx = FileContext {
            stream: "MyStream",
            processed_at: Utc::now(),
        };
        let batches = [curated_batch(&refs, &ctx)?, raw_batch(&refs, &ctx)?];
        let mut time = vec![Duration::ZERO; levels.len()];
        let mut size = vec![0; levels.len()];
        for round in 0..rounds {
            for (k, level) in levels.iter().enumerate() {
                let started = Instant::now();
                size[k] = encode(&batches, *level)?;
                if round > 0 {
                    time[k] += started.elapsed();
                }
            }
        }
        let per_row =
            |k: usize| time[k].as_secs_f64() * 1e6 / f64::from(rounds - 1) / rows.len() as f64;
        println!(
            "{name}: {} articles, raw + curated, {} rounds",
            rows.len(),
            rounds - 1
        );
        for (k, level) in levels.iter().enumerate() {
            println!(
                "  zstd {level}: {:.1} µs per article ({:.0} articles/s), {} bytes; {:.0}% of level {}'s time, files {:+.1}%",
                per_row(k),
                1e6 / per_row(k),
                size[k],
                100.0 * per_row(k) / per_row(0),
                levels[0],
                100.0 * (size[k] as f64 / size[0] as f64 - 1.0)
            );
        }
    }
    Ok(())
}
