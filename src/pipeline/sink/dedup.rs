//! Which article ids this process has written, and with what content: the first record that
//! claims an id goes to curated, an exact repeat (a producer retry) to raw only, the same id with
//! other content to quarantine.
//!
//! Bounded: the most recent [`DEDUP_WINDOW`] distinct ids are remembered, in about 70 bytes each
//! with the table (measured in docs/performance.md: ~7 MiB for 100,000 ids), so a worker that
//! follows a stream for days does not grow without end. Per id, in a claim of 56 bytes: a 128-bit hash of it, 64 bits of the content's hash,
//! and the first sequence number packed two decimal digits a byte (it names the first record
//! in a conflict's quarantine reason); the table that finds a claim holds only its number.
//! Producer retries arrive seconds apart, far inside the window. A chunk replayed in the same
//! process finds its own claims (same sequence numbers) unless 450,000 other ids were claimed in
//! between — more than a chunk's whole retry time reads.

use std::collections::{HashMap, VecDeque};

use hashbrown::HashTable;
use sha2::{Digest, Sha256};

/// Distinct article ids remembered: about 29 MiB at most (450,000 claims of 56 bytes, a table of
/// 2¹⁹ eight-byte slots and their control bytes).
pub const DEDUP_WINDOW: usize = 450_000;

/// 128 bits of a SHA-256 of the id: two different ids share one with a probability of about
/// n² / 2¹²⁹, nothing at any stream's size. Two words, not a u128: a u128 would align the claim
/// to 16 bytes and pad it from 56 to 64.
type IdDigest = [u64; 2];

fn id_digest(article_id: &str) -> IdDigest {
    let full = Sha256::digest(article_id.as_bytes());
    let word = |at: usize| u64::from_be_bytes(full[at..at + 8].try_into().expect("8 bytes"));
    [word(0), word(8)]
}

/// 64 bits of the content's SHA-256 as the features carry it (hex); hashed again when it is not
/// hex, so that any text still compares equal to itself. It only tells an exact repeat from a
/// conflict under an id already matched by 128 bits: a wrong "exact repeat" needs two contents
/// of one id to share 64 bits, about 2⁻⁶⁴ a conflict.
fn content_digest(content_sha256_hex: &str) -> u64 {
    content_sha256_hex
        .get(..16)
        .and_then(|prefix| u64::from_str_radix(prefix, 16).ok())
        .unwrap_or_else(|| {
            let full = Sha256::digest(content_sha256_hex.as_bytes());
            u64::from_be_bytes(full[..8].try_into().expect("8 bytes"))
        })
}

/// A sequence number of 1 to [`PackedSequence::DIGITS`] decimal digits, two a byte after a
/// length byte; Kinesis's have 56. Anything else is kept as text beside the claims, and the
/// claim holds [`PackedSequence::ASIDE`]: length 0, which no packed number has (an `Option`
/// would add a byte, and with it 8 to every claim).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PackedSequence([u8; 32]);

impl PackedSequence {
    const DIGITS: usize = 62;
    const ASIDE: Self = Self([0; 32]);

    fn is_packed(&self) -> bool {
        self.0[0] > 0
    }

    fn pack(sequence_number: &str) -> Option<Self> {
        let digits = sequence_number.as_bytes();
        if digits.is_empty()
            || digits.len() > Self::DIGITS
            || !digits.iter().all(u8::is_ascii_digit)
        {
            return None;
        }
        let mut packed = [0u8; 32];
        packed[0] = digits.len() as u8;
        for (i, digit) in digits.iter().enumerate() {
            packed[1 + i / 2] |= (digit - b'0') << if i % 2 == 0 { 4 } else { 0 };
        }
        Some(Self(packed))
    }

    fn unpack(&self) -> String {
        (0..usize::from(self.0[0]))
            .map(|i| {
                let byte = self.0[1 + i / 2];
                let digit = if i % 2 == 0 { byte >> 4 } else { byte & 0x0f };
                char::from(b'0' + digit)
            })
            .collect()
    }
}

#[derive(Debug)]
struct FirstClaim {
    id: IdDigest,
    content: u64,
    /// ASIDE: the sequence number did not pack; it is in `DedupIndex::unpacked`.
    sequence: PackedSequence,
}

// What the memory figures above and in docs/performance.md are made of.
const _: () = assert!(std::mem::size_of::<FirstClaim>() == 56);

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
    /// Claims in the order they were made, oldest first: the next to forget.
    claims: VecDeque<FirstClaim>,
    /// The number of the claim at the front of `claims` (claims are numbered from 0 as made).
    front: u64,
    /// Each remembered id's claim number, found by the id's digest.
    by_id: HashTable<u64>,
    /// Sequence numbers that do not pack, by claim number.
    unpacked: HashMap<u64, Box<str>>,
    window: usize,
}

impl Default for DedupIndex {
    fn default() -> Self {
        Self::with_window(DEDUP_WINDOW)
    }
}

/// The table's hash of an id: its digest is already a uniform hash.
fn slot_hash(id: &IdDigest) -> u64 {
    id[0]
}

impl DedupIndex {
    pub fn with_window(window: usize) -> Self {
        let window = window.max(1);
        Self {
            // Reserved whole, so the queue never doubles (a doubling holds the old and the new
            // queue at once). Its pages become resident only as claims reach them, because
            // an allocation this large is mmapped (main.rs fixes the mmap threshold at 64 KiB).
            // The table still doubles; its slots are 8 bytes.
            claims: VecDeque::with_capacity(window),
            front: 0,
            by_id: HashTable::new(),
            unpacked: HashMap::new(),
            window,
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
        let (claims, front) = (&self.claims, self.front);
        let found = self
            .by_id
            .find(slot_hash(&id), |&number| {
                claims[(number - front) as usize].id == id
            })
            .copied();
        let Some(number) = found else {
            self.remember(id, content, sequence_number);
            return Claim::First;
        };
        let first = &self.claims[(number - self.front) as usize];
        let aside = || self.unpacked.get(&number).map(|s| &**s);
        let first_sequence = || {
            if first.sequence.is_packed() {
                first.sequence.unpack()
            } else {
                aside().unwrap_or_default().to_string()
            }
        };
        // A string packs always or never, so a packed and an unpacked number are never equal.
        let same_record = match PackedSequence::pack(sequence_number) {
            Some(incoming) => first.sequence == incoming,
            None => !first.sequence.is_packed() && aside() == Some(sequence_number),
        };
        if same_record {
            // A replay of the very record that made the claim.
            Claim::First
        } else if first.content == content {
            Claim::ExactDuplicate
        } else {
            Claim::Conflict {
                first_sequence_number: first_sequence(),
            }
        }
    }

    fn remember(&mut self, id: IdDigest, content: u64, sequence_number: &str) {
        if self.claims.len() >= self.window {
            self.forget_oldest();
        }
        let number = self.front + self.claims.len() as u64;
        let sequence = PackedSequence::pack(sequence_number).unwrap_or_else(|| {
            self.unpacked.insert(number, sequence_number.into());
            PackedSequence::ASIDE
        });
        self.claims.push_back(FirstClaim {
            id,
            content,
            sequence,
        });
        let (claims, front) = (&self.claims, self.front);
        self.by_id.insert_unique(slot_hash(&id), number, |&n| {
            slot_hash(&claims[(n - front) as usize].id)
        });
    }

    fn forget_oldest(&mut self) {
        let Some(oldest) = self.claims.pop_front() else {
            return;
        };
        let number = self.front;
        self.front += 1;
        // A claim missing from the table would leave the table and the queue out of step, and
        // the next lookup would index the queue wrongly: stop at the cause instead.
        self.by_id
            .find_entry(slot_hash(&oldest.id), |&n| n == number)
            .expect("every remembered claim is in the table")
            .remove();
        self.unpacked.remove(&number);
    }

    /// Distinct ids remembered now.
    pub fn len(&self) -> usize {
        self.claims.len()
    }

    pub fn is_empty(&self) -> bool {
        self.claims.is_empty()
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
        assert_eq!(index.claim("a", HASH_B, "7"), conflict_naming("1"));
    }

    #[test]
    fn ids_beyond_the_window_are_forgotten_oldest_first() {
        let mut index = DedupIndex::with_window(2);
        index.claim("a", HASH_A, "1");
        index.claim("b", HASH_A, "2");
        index.claim("c", HASH_A, "3");
        assert_eq!(index.len(), 2);
        // "a" was forgotten: its other content is a first claim now; "b" is still known.
        assert_eq!(index.claim("b", HASH_B, "5"), conflict_naming("2"));
        assert_eq!(index.claim("a", HASH_B, "4"), Claim::First);
    }

    #[test]
    fn a_kinesis_sequence_number_comes_back_whole_in_a_conflict() {
        let mut index = DedupIndex::default();
        let first = "49590338271490256608559692538361571095921575989136588898";
        index.claim("a", HASH_A, first);
        assert_eq!(index.claim("a", HASH_A, first), Claim::First);
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
    fn sequence_numbers_with_leading_zeros_are_kept_as_written() {
        let mut index = DedupIndex::default();
        index.claim("a", HASH_A, "0042");
        assert_eq!(index.claim("a", HASH_A, "42"), Claim::ExactDuplicate);
        assert_eq!(index.claim("a", HASH_B, "43"), conflict_naming("0042"));
    }

    #[test]
    fn sequence_numbers_that_do_not_pack_still_name_and_match_their_record() {
        let long = "9".repeat(PackedSequence::DIGITS + 1);
        for odd in ["", "seq-7", long.as_str()] {
            let mut index = DedupIndex::default();
            index.claim("a", HASH_A, odd);
            assert_eq!(index.claim("a", HASH_A, odd), Claim::First, "{odd:?}");
            assert_eq!(index.claim("a", HASH_A, "1"), Claim::ExactDuplicate);
            assert_eq!(index.claim("a", HASH_B, "2"), conflict_naming(odd));
        }
    }

    #[test]
    fn a_packed_first_sequence_number_never_matches_one_that_does_not_pack() {
        let mut index = DedupIndex::default();
        index.claim("a", HASH_A, "17");
        assert_eq!(index.claim("a", HASH_A, "17 "), Claim::ExactDuplicate);
        assert_eq!(index.claim("a", HASH_A, ""), Claim::ExactDuplicate);
    }

    #[test]
    fn the_longest_sequence_number_that_packs_comes_back_whole() {
        for digits in [PackedSequence::DIGITS, PackedSequence::DIGITS - 1] {
            let first: String = (0..digits)
                .map(|i| char::from(b'0' + (i % 10) as u8))
                .collect();
            assert!(PackedSequence::pack(&first).is_some());
            let mut index = DedupIndex::default();
            index.claim("a", HASH_A, &first);
            assert_eq!(index.claim("a", HASH_A, &first), Claim::First);
            assert_eq!(index.claim("a", HASH_B, "1"), conflict_naming(&first));
        }
    }

    #[test]
    fn a_forgotten_claim_takes_its_unpacked_sequence_number_with_it() {
        let mut index = DedupIndex::with_window(1);
        index.claim("a", HASH_A, "not digits");
        index.claim("b", HASH_A, "1");
        assert!(index.unpacked.is_empty());
        assert_eq!(index.len(), 1);
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
