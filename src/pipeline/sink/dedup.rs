//! Which article ids this process has written, and with what content: the first record that
//! claims an id goes to summaries, an exact repeat (a producer retry) to articles only, the same
//! id with other content to quarantine.
//!
//! An in-memory window: the last [`DEDUP_WINDOW`] distinct ids, the oldest forgotten first. A
//! claim is 128 bits of the id's SHA-256, 64 bits of the content's hash and the first record's
//! sequence number (a conflict's quarantine reason names it). Producer retries arrive seconds
//! apart, far inside the window; at start the window is seeded from the newest rows of the
//! summaries table, so a retry of an article committed before a restart is still recognised.

use std::collections::{HashMap, VecDeque};

use sha2::{Digest, Sha256};

/// Distinct article ids remembered: at Kinesis's 56-digit sequence numbers, about 150 bytes an
/// id in memory (`examples/dedup_memory.rs` measures it).
pub const DEDUP_WINDOW: usize = 450_000;

/// 128 bits of a SHA-256 of the id: two different ids share one with a probability of about
/// n² / 2¹²⁹, nothing at any stream's size.
type IdDigest = u128;

fn id_digest(article_id: &str) -> IdDigest {
    let full = Sha256::digest(article_id.as_bytes());
    u128::from_be_bytes(full[..16].try_into().expect("16 bytes"))
}

/// 64 bits of the content's SHA-256 as the features carry it (hex); hashed again when it is not
/// hex, so that any text still compares equal to itself. It only tells an exact repeat from a
/// conflict under an id already matched by 128 bits.
fn content_digest(content_sha256_hex: &str) -> u64 {
    content_sha256_hex
        .get(..16)
        .and_then(|prefix| u64::from_str_radix(prefix, 16).ok())
        .unwrap_or_else(|| {
            let full = Sha256::digest(content_sha256_hex.as_bytes());
            u64::from_be_bytes(full[..8].try_into().expect("8 bytes"))
        })
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

struct FirstClaim {
    content: u64,
    sequence_number: Box<str>,
}

pub struct DedupIndex {
    claims: HashMap<IdDigest, FirstClaim>,
    /// Ids in the order they were claimed: the front is the next to forget.
    order: VecDeque<IdDigest>,
    window: usize,
}

/// Counts, not the claims: a full window is [`DEDUP_WINDOW`] of them.
impl std::fmt::Debug for DedupIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DedupIndex")
            .field("remembered", &self.len())
            .field("window", &self.window)
            .finish()
    }
}

impl Default for DedupIndex {
    fn default() -> Self {
        Self::with_window(DEDUP_WINDOW)
    }
}

impl DedupIndex {
    /// Remembers the last `window` ids.
    pub fn with_window(window: usize) -> Self {
        Self {
            claims: HashMap::new(),
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
        let id = id_digest(article_id);
        let content = content_digest(content_sha256);
        if let Some(first) = self.claims.get(&id) {
            return if *first.sequence_number == *sequence_number {
                // A replay of the very record that made the claim.
                Claim::First
            } else if first.content == content {
                Claim::ExactDuplicate
            } else {
                Claim::Conflict {
                    first_sequence_number: first.sequence_number.to_string(),
                }
            };
        }
        if self.order.len() >= self.window {
            if let Some(oldest) = self.order.pop_front() {
                self.claims.remove(&oldest);
            }
        }
        self.claims.insert(
            id,
            FirstClaim {
                content,
                sequence_number: sequence_number.into(),
            },
        );
        self.order.push_back(id);
        Claim::First
    }

    /// Distinct ids remembered now.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH_A: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    const HASH_B: &str = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";

    fn conflict_naming(first_sequence_number: &str) -> Claim {
        Claim::Conflict {
            first_sequence_number: first_sequence_number.to_string(),
        }
    }

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
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn the_same_id_and_content_in_another_record_is_an_exact_duplicate() {
        let mut index = DedupIndex::default();
        index.claim("a", HASH_A, "1");
        assert_eq!(index.claim("a", HASH_A, "7"), Claim::ExactDuplicate);
    }

    #[test]
    fn the_same_id_with_other_content_conflicts_and_names_the_first_record_whole() {
        let mut index = DedupIndex::default();
        let first = "49590338271490256608559692538361571095921575989136588898";
        index.claim("a", HASH_A, first);
        assert_eq!(
            index.claim(
                "a",
                HASH_B,
                "49590338271490256608559692538361571095921575989136588899"
            ),
            conflict_naming(first)
        );
    }

    #[test]
    fn sequence_numbers_are_compared_as_written() {
        let mut index = DedupIndex::default();
        index.claim("a", HASH_A, "0042");
        assert_eq!(index.claim("a", HASH_A, "42"), Claim::ExactDuplicate);
        assert_eq!(index.claim("a", HASH_B, "seq-7"), conflict_naming("0042"));
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

    #[test]
    fn exactly_the_last_window_of_ids_is_remembered_after_many_more() {
        let mut index = DedupIndex::with_window(100);
        for i in 0..1_000 {
            index.claim(&format!("id-{i}"), HASH_A, &i.to_string());
        }
        assert_eq!(index.len(), 100);
        // Checked newest first: a forgotten id claimed again would push a remembered one out.
        for i in (900..1_000).rev() {
            assert_eq!(
                index.claim(&format!("id-{i}"), HASH_B, "5000"),
                conflict_naming(&i.to_string()),
                "id-{i}"
            );
        }
        assert_eq!(index.claim("id-899", HASH_B, "5000"), Claim::First);
    }

    #[test]
    fn the_default_window_is_the_documented_one() {
        let mut index = DedupIndex::default();
        for i in 0..=DEDUP_WINDOW {
            index.claim(&i.to_string(), HASH_A, "1");
        }
        assert_eq!(index.len(), DEDUP_WINDOW);
        assert_eq!(index.claim("0", HASH_B, "2"), Claim::First);
    }
}
