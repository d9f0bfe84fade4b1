//! Memory and time of the duplicate index per article id: fills a [`DedupIndex`] with ids,
//! content hashes and sequence numbers shaped like Kinesis's (56 digits), then prints how much
//! the process's resident memory grew and what a claim cost. `cargo run --release --example
//! dedup_memory [IDS]`.

use std::time::Instant;

use precis::pipeline::sink::dedup::{Claim, DedupIndex};

fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    kib * 1024
}

/// A SHA-256 in hex for article `i`: two different 128-bit words, so every hex digit varies.
fn content_of(i: usize) -> String {
    let word = (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834);
    format!("{word:032x}{:032x}", word.rotate_left(64))
}

fn sequence_of(i: usize) -> String {
    format!("4959{:052}", i as u64 * 1_000_003)
}

fn main() -> anyhow::Result<()> {
    let ids: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let before = resident_bytes();
    let mut index = DedupIndex::default();
    let started = Instant::now();
    for i in 0..ids {
        index.claim(&format!("article-{i:08}"), &content_of(i), &sequence_of(i));
    }
    let new_ids = started.elapsed();
    let grown = resident_bytes().saturating_sub(before);
    // Every 97th id again, with other content: each is found.
    let started = Instant::now();
    let mut conflicts = 0;
    for i in (0..ids).step_by(97) {
        let claim = index.claim(&format!("article-{i:08}"), &content_of(i + 1), "1");
        conflicts += usize::from(matches!(claim, Claim::Conflict { .. }));
    }
    let repeats = started.elapsed();
    println!(
        "{} ids remembered: resident memory grew {:.2} MiB ({:.1} bytes an id)",
        index.len(),
        grown as f64 / (1024.0 * 1024.0),
        grown as f64 / index.len().max(1) as f64,
    );
    println!(
        "a new id: {:.2} µs; an id seen before ({conflicts} of {} found): {:.2} µs",
        new_ids.as_secs_f64() * 1e6 / ids.max(1) as f64,
        ids.div_ceil(97),
        repeats.as_secs_f64() * 1e6 / ids.div_ceil(97).max(1) as f64,
    );
    Ok(())
}
