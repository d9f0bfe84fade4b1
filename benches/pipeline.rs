//! Per-core cost of the CPU part of the pipeline: parse + validate + features, and Parquet
//! encoding, for ~3-4 KB generated news articles. Run: `cargo bench --bench pipeline`.

use std::hint::black_box;

use chrono::{NaiveDate, TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use precis::pipeline::features::normalize;
use precis::pipeline::record::{parse_article, Limits};
use precis::pipeline::rows::{process, ArticleRow, Outcome, RawRecord};
use precis::pipeline::sink::parquet::{curated_batch, encode, raw_batch, FileContext};
use precis::produce::newsgen::NewsGenerator;
use precis::text;
use precis::text::sentences::sentence_spans;
use sha2::{Digest, Sha256};

const ARTICLES: usize = 2000;

fn records() -> Vec<RawRecord> {
    let as_of = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    NewsGenerator::new(7, as_of)
        // Keep articles near the ~3 KB the target is stated for.
        .filter(|a| (2_500..4_000).contains(&a.content.len()))
        .take(ARTICLES)
        .enumerate()
        .map(|(i, article)| RawRecord {
            shard_id: "shardId-000000000000".into(),
            sequence_number: format!("{:056}", i),
            partition_key: article.article_id.clone(),
            arrival_time: Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap(),
            data: serde_json::to_vec(&article).unwrap(),
        })
        .collect()
}

fn to_rows(records: &[RawRecord]) -> Vec<ArticleRow> {
    records
        .iter()
        .map(|r| match process(r, &Limits::default()) {
            Outcome::Article(row) => *row,
            Outcome::Quarantined(q) => panic!("{}", q.reason),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let records = records();
    let rows = to_rows(&records);
    let refs: Vec<&ArticleRow> = rows.iter().collect();
    let ctx = FileContext {
        stream: "MyStream",
        processed_at: Utc::now(),
    };
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(records.len() as u64));
    group.bench_function("parse_validate_features", |b| {
        b.iter(|| {
            for r in &records {
                black_box(process(black_box(r), &Limits::default()));
            }
        })
    });
    group.bench_function("encode_curated_parquet", |b| {
        b.iter(|| black_box(encode(&curated_batch(&refs, &ctx).unwrap()).unwrap()))
    });
    group.bench_function("encode_raw_parquet", |b| {
        b.iter(|| black_box(encode(&raw_batch(&refs, &ctx).unwrap()).unwrap()))
    });
    group.bench_function("all_stages", |b| {
        b.iter(|| {
            let rows = to_rows(&records);
            let refs: Vec<&ArticleRow> = rows.iter().collect();
            black_box(encode(&raw_batch(&refs, &ctx).unwrap()).unwrap());
            black_box(encode(&curated_batch(&refs, &ctx).unwrap()).unwrap());
        })
    });
    group.finish();

    // Where parse + validate + features spends its time, one part at a time.
    let contents: Vec<&str> = rows.iter().map(|r| r.article.content.as_str()).collect();
    let mut parts = c.benchmark_group("parts");
    parts.throughput(Throughput::Elements(records.len() as u64));
    parts.bench_function("parse_and_validate_json", |b| {
        b.iter(|| {
            for r in &records {
                black_box(parse_article(black_box(&r.data), &Limits::default()).unwrap());
            }
        })
    });
    parts.bench_function("counts_words_chars_paragraphs", |b| {
        b.iter(|| {
            contents
                .iter()
                .map(|t| text::counts(t).words)
                .sum::<usize>()
        })
    });
    parts.bench_function("sentence_spans", |b| {
        b.iter(|| {
            contents
                .iter()
                .map(|t| sentence_spans(t).len())
                .sum::<usize>()
        })
    });
    parts.bench_function("content_sha256", |b| {
        b.iter(|| {
            for t in &contents {
                black_box(Sha256::digest(t.as_bytes()));
            }
        })
    });
    parts.bench_function("normalize_for_split", |b| {
        b.iter(|| contents.iter().map(|t| normalize(t).len()).sum::<usize>())
    });
    parts.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
