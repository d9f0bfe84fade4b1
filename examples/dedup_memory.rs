//! Memory of the duplicate index per remembered article id: fills a [`DedupIndex`] with ids,
//! content hashes and sequence numbers shaped like Kinesis's (56 digits), and prints how much
//! the process's resident memory grew. `cargo run --release --example dedup_memory [IDS]`.

use precis::pipeline::sink::dedup::DedupIndex;

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

fn main() {
    let ids: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let before = resident_bytes();
    let mut index = DedupIndex::default();
    for i in 0..ids {
        let id = format!("article-{i:08}");
        // A SHA-256 in hex: two different 128-bit words, so every hex digit varies.
        let word = (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834);
        let content = format!("{word:032x}{:032x}", word.rotate_left(64));
        let sequence = format!("4959{:052}", i as u64 * 1_000_003);
        index.claim(&id, &content, &sequence);
    }
    let grown = resident_bytes().saturating_sub(before);
    println!(
        "{} ids remembered: resident memory grew {:.1} MiB, {:.0} bytes an id",
        index.len(),
        grown as f64 / (1024.0 * 1024.0),
        grown as f64 / index.len().max(1) as f64
    );
}
