//! Which article ids this process has written, and with what content: the first record that
//! claims an id goes to curated, an exact repeat (a producer retry) to raw only, the same id with
//! other content to quarantine.
//!
//! Bounded: the most recent [`DEDUP_WINDOW`] distinct ids are remembered, in about 140 bytes each
//! (128-bit hashes instead of the id and the hex content hash; the first sequence number is kept
//! as text for the quarantine reason), so a worker that follows a stream for days does not grow
//! without end. Producer retries arrive seconds apart, far inside the window. A chunk replayed
//! in the same process finds its own claims (same sequence numbers) unless 450,000 other
//! ids were claimed in between — more than a chunk's whole retry time reads.

use std::collections::{HashMap, VecDeque};

use sha2::{Digest, Sha256};

/// Distinct article ids remembered: about 65 MB at most (the table's 2¹⁹ buckets of 49 bytes,
/// a 64-byte allocation per sequence number, the order queue). Below 458,752 the table never
/// doubles to 2²⁰ buckets.
pub const DEDUP_WINDOW: usize = 450_000;

/// 128 bits of a SHA-256: two different ids or contents share one with a probability of about
/// n² / 2¹²⁹, nothing at any stream's size.
type Digest128 = u128;

fn digest128(bytes: &[u8]) -> Digest128 {
    let full = Sha256::digest(bytes);
    let mut first = [0u8; 16];
    first.copy_from_slice(&full[..16]);
    u128::from_be_bytes(first)
}

/// The content's SHA-256 as the features carry it (hex), cut to 128 bits; hashed again when it
/// is not hex, so that any text still compares equal to itself.
fn content_digest(content_sha256_hex: &str) -> Digest128 {
    content_sha256_hex
        .get(..32)
        .and_then(|prefix| u128::from_str_radix(prefix, 16).ok())
        .unwrap_or_else(|| digest128(content_sha256_hex.as_bytes()))
}

#[derive(Debug)]
struct FirstClaim {
    content: Digest128,
    sequence_number: Box<str>,
}

/// What the index says about an article.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    First,
    /// The same content again under the same id: raw keeps it, curated does not.
    ExactDuplicate,
    Conflict {
        first_sequence_number: String,
    },
}

#[derive(Debug)]
pub struct DedupIndex {
    seen: HashMap<Digest128, FirstClaim>,
    /// Ids in the order they were first claimed, oldest first: the next to forget.
    order: VecDeque<Digest128>,
    window: usize,
}

impl Default for DedupIndex {
    fn default() -> Self {
        Self::with_window(DEDUP_WINDOW)
    }
}

impl DedupIndex {
    pub fn with_window(window: usize) -> Self {
        Self {
            seen: HashMap::new(),
            order: VecDeque::new(),
            window: window.max(1),
        }
    }

    /// Claims `article_id` for the record at `sequence_number` with content of hash
    /// `content_sha256` (hex).
    pub fn claim(
        &mut self,
        article_id: &str,
        content_sha256: &str,
        sequence_number: &str,
    ) -> Claim {
        let id = digest128(article_id.as_bytes());
        let content = content_digest(content_sha256);
        match self.seen.get(&id) {
            None => {
                if self.order.len() >= self.window {
                    if let Some(oldest) = self.order.pop_front() {
                        self.seen.remove(&oldest);
                    }
                }
                self.seen.insert(
                    id,
                    FirstClaim {
                        content,
                        sequence_number: sequence_number.into(),
                    },
                );
                self.order.push_back(id);
                Claim::First
            }
            // A replay of the very record that made the claim.
            Some(first) if *first.sequence_number == *sequence_number => Claim::First,
            Some(first) if first.content == content => Claim::ExactDuplicate,
            Some(first) => Claim::Conflict {
                first_sequence_number: first.sequence_number.to_string(),
            },
        }
    }

    /// Distinct ids remembered now.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH_A: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    const HASH_B: &str = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";

    #[test]
    fn the_first_record_of_an_id_claims_it() {
        let mut index = DedupIndex::default();
        assert_eq!(index.claim("a", HASH_A, "1"), Claim::First);
        assert_eq!(index.claim("b", HASH_A, "2"), Claim::First);
        assert_eq!(index.len(), 2);
    }

    #[test]
    fn a_replay_of_the_claiming_record_is_first_again() {
        let mut index = DedupIndex::default();
        index.claim("a", HASH_A, "1");
        assert_eq!(index.claim("a", HASH_A, "1"), Claim::First);
    }

    #[test]
    fn the_same_id_and_content_in_another_record_is_an_exact_duplicate() {
        let mut index = DedupIndex::default();
        index.claim("a", HASH_A, "1");
        assert_eq!(index.claim("a", HASH_A, "7"), Claim::ExactDuplicate);
    }

    #[test]
    fn the_same_id_with_other_content_conflicts_and_names_the_first_record() {
        let mut index = DedupIndex::default();
        index.claim("a", HASH_A, "1");
        assert_eq!(
            index.claim("a", HASH_B, "7"),
            Claim::Conflict {
                first_sequence_number: "1".into()
            }
        );
    }

    #[test]
    fn ids_beyond_the_window_are_forgotten_oldest_first() {
        let mut index = DedupIndex::with_window(2);
        index.claim("a", HASH_A, "1");
        index.claim("b", HASH_A, "2");
        index.claim("c", HASH_A, "3");
        assert_eq!(index.len(), 2);
        // "a" was forgotten: its other content is a first claim now; "b" is still known.
        assert_eq!(
            index.claim("b", HASH_B, "5"),
            Claim::Conflict {
                first_sequence_number: "2".into()
            }
        );
        assert_eq!(index.claim("a", HASH_B, "4"), Claim::First);
    }

    #[test]
    fn content_hashes_that_are_not_hex_still_compare_by_value() {
        let mut index = DedupIndex::default();
        index.claim("a", "not hex", "1");
        assert_eq!(index.claim("a", "not hex", "2"), Claim::ExactDuplicate);
        assert!(matches!(
            index.claim("a", "other", "3"),
            Claim::Conflict { .. }
        ));
    }
}
