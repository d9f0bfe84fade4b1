//! Which article ids this process has written, and with what content: the first record that
//! claims an id goes to summaries, an exact repeat (a producer retry) to articles only, the same id with
//! other content to quarantine.
//!
//! Bounded, and nearly all of it on disk: the most recent [`DEDUP_WINDOW`] distinct ids are
//! remembered, but only the newest [`RECENT_CLAIMS`] in memory. Each time that many have
//! gathered they are sorted by id into a *run*, an unnamed temporary file of 56-byte claims
//! (`TMPDIR`), and memory keeps per run only a filter (2 bytes an
//! id) and the id at every 64th claim. So the worker's memory does not grow with how many ids it
//! has seen: a table of recent claims reserved at start (~0.45 MiB), plus ~1 MiB of filters
//! and fences once the window is full (measured in docs/performance.md). A claim: a 128-bit
//! hash of the id, 64 bits of the content's hash, and the first sequence number packed two
//! decimal digits a byte (it names the first record in a conflict's quarantine reason).
//! Kinesis's sequence numbers always pack; one that does not (another source, a test) is kept
//! as text in memory for as long as its claim is remembered.
//!
//! A new id (nearly every record) is looked up in the recent claims, then in each run's filter,
//! which lets through about 0.2% of the ids a run does not hold: with the window full (62–63 runs)
//! about one new id in eight reads one 3.5 KiB page of a run's file. The ids a run does hold
//! (a retry, a conflict, a replayed chunk) read one page each. Runs are forgotten whole, oldest
//! first, so between [`DEDUP_WINDOW`] and `DEDUP_WINDOW + RECENT_CLAIMS - 1` ids are
//! remembered. Producer retries arrive seconds apart, far inside the window. A chunk replayed
//! in the same process finds its own claims (same sequence numbers) unless 450,000 other ids
//! were claimed in between — more than a chunk's whole retry time reads.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{BufWriter, Write};

use anyhow::{Context, Result};
use hashbrown::HashTable;
use sha2::{Digest, Sha256};

/// What a failed creation of an index file says: where, and what to do.
fn temp_dir_error() -> String {
    format!(
        "creating a temporary file in {} (set TMPDIR to a writable directory on disk)",
        std::env::temp_dir().display()
    )
}

/// What a failed write to an index file says: where, and what to do.
fn write_error() -> String {
    format!(
        "writing a temporary file in {} (free space there, or set TMPDIR to a larger disk)",
        std::env::temp_dir().display()
    )
}

/// At start: fails with what to do when no index file can be made (rather than at the
/// 7,169th id), and returns a warning when the directory is memory.
pub fn check_temp_dir() -> Result<Option<String>> {
    tempfile::tempfile().with_context(temp_dir_error)?;
    let dir = std::env::temp_dir();
    Ok(on_tmpfs(&dir).then(|| {
        format!(
            "{} is a tmpfs: the duplicate index (up to ~24 MiB) will be held in memory there; set TMPDIR to a directory on disk",
            dir.display()
        )
    }))
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn on_tmpfs(dir: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    const TMPFS_MAGIC: libc::c_long = 0x0102_1994;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `path` is a NUL-terminated string and `stat` a valid place for statfs to fill.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::statfs(path.as_ptr(), &mut stat) } == 0;
    ok && stat.f_type == TMPFS_MAGIC
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn on_tmpfs(_dir: &std::path::Path) -> bool {
    false
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, offset)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

/// Distinct article ids remembered: 450,000 claims of 56 bytes on disk (~24 MiB), their filters
/// and fences in memory (~1 MiB).
pub const DEDUP_WINDOW: usize = 450_000;

/// Claims held in memory until they are sorted into a run on disk. 7,168 is seven eighths of
/// 8,192: the table's slots, reserved at start (~0.45 MiB), never grow.
pub const RECENT_CLAIMS: usize = 7_168;

/// Claims between two fences: a lookup in a run reads one page of this many claims (3.5 KiB).
const FENCE_EVERY: usize = 64;

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

/// The first claim of an id, in memory and, byte for byte, in a run's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FirstClaim {
    id: IdDigest,
    content: u64,
    /// ASIDE: the sequence number did not pack; it is kept, by id, beside the claims.
    sequence: PackedSequence,
}

const CLAIM_BYTES: usize = 56;
// What the memory and disk figures above and in docs/performance.md are made of.
const _: () = assert!(std::mem::size_of::<FirstClaim>() == CLAIM_BYTES);

impl FirstClaim {
    fn to_bytes(self) -> [u8; CLAIM_BYTES] {
        let mut bytes = [0u8; CLAIM_BYTES];
        bytes[..8].copy_from_slice(&self.id[0].to_le_bytes());
        bytes[8..16].copy_from_slice(&self.id[1].to_le_bytes());
        bytes[16..24].copy_from_slice(&self.content.to_le_bytes());
        bytes[24..].copy_from_slice(&self.sequence.0);
        bytes
    }

    fn from_bytes(bytes: &[u8; CLAIM_BYTES]) -> Self {
        let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        FirstClaim {
            id: [word(0), word(8)],
            content: word(16),
            sequence: PackedSequence(bytes[24..CLAIM_BYTES].try_into().expect("32 bytes")),
        }
    }

    /// What a record with this id says, given that this claim came first. `aside`: the first
    /// sequence number when it did not pack.
    fn judge(&self, aside: Option<&str>, content: u64, sequence_number: &str) -> Claim {
        // A string packs always or never, so a packed and an unpacked number are never equal.
        let same_record = match PackedSequence::pack(sequence_number) {
            Some(incoming) => self.sequence == incoming,
            None => !self.sequence.is_packed() && aside == Some(sequence_number),
        };
        if same_record {
            // A replay of the very record that made the claim.
            Claim::First
        } else if self.content == content {
            Claim::ExactDuplicate
        } else {
            let first_sequence_number = if self.sequence.is_packed() {
                self.sequence.unpack()
            } else {
                aside.unwrap_or_default().to_string()
            };
            Claim::Conflict {
                first_sequence_number,
            }
        }
    }
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

/// A blocked Bloom filter: each id sets [`Filter::BITS_SET`] bits in one 64-byte block, so a
/// lookup touches one cache line. At [`Filter::BITS_PER_ID`] it answers "maybe" for about 0.2%
/// of the ids it was not built from (a unit test holds it under 0.3%), and never "no" for one it
/// was. 12 bits an id let through 0.6%: with the window full, a third of all new ids would read
/// a page.
struct Filter {
    blocks: Box<[FilterBlock]>,
}

#[derive(Clone, Copy, Default)]
#[repr(align(64))]
struct FilterBlock([u64; 8]);

impl Filter {
    const BITS_PER_ID: usize = 16;
    const BITS_SET: u32 = 8;

    fn for_ids(ids: usize) -> Self {
        let blocks = (ids * Self::BITS_PER_ID).div_ceil(512).max(1);
        Self {
            blocks: vec![FilterBlock::default(); blocks].into_boxed_slice(),
        }
    }

    /// The id's block (from its first word) and its bits in it (from its second): the digest is
    /// already uniform, so it needs no hashing again.
    fn place(&self, id: &IdDigest) -> (usize, impl Iterator<Item = u32>) {
        let block = ((u128::from(id[0]) * self.blocks.len() as u128) >> 64) as usize;
        let start = id[1] as u32;
        // Odd, so the positions below are distinct within the 512 bits.
        let step = (id[1] >> 32) as u32 | 1;
        let bits = (0..Self::BITS_SET).map(move |i| start.wrapping_add(i.wrapping_mul(step)) % 512);
        (block, bits)
    }

    fn insert(&mut self, id: &IdDigest) {
        let (block, bits) = self.place(id);
        let words = &mut self.blocks[block].0;
        for bit in bits {
            words[(bit / 64) as usize] |= 1 << (bit % 64);
        }
    }

    fn may_hold(&self, id: &IdDigest) -> bool {
        let (block, mut bits) = self.place(id);
        let words = &self.blocks[block].0;
        bits.all(|bit| words[(bit / 64) as usize] & (1 << (bit % 64)) != 0)
    }

    fn bytes(&self) -> usize {
        self.blocks.len() * std::mem::size_of::<FilterBlock>()
    }
}

/// Claims sorted by id in an unnamed temporary file, and what finds one without reading it.
struct Run {
    file: File,
    claims: usize,
    filter: Filter,
    /// The id of claim 0, 64, 128, …: the page that could hold an id.
    fences: Vec<IdDigest>,
    /// Sequence numbers of this run's claims that did not pack.
    unpacked: HashMap<IdDigest, Box<str>>,
}

impl Run {
    /// Its sequence numbers that did not pack are added by the caller once the file is written.
    fn write(file: File, mut claims: Vec<FirstClaim>) -> Result<Self> {
        claims.sort_unstable_by_key(|claim| claim.id);
        let mut filter = Filter::for_ids(claims.len());
        let mut out = BufWriter::with_capacity(64 * 1024, file);
        for claim in &claims {
            filter.insert(&claim.id);
            out.write_all(&claim.to_bytes()).with_context(write_error)?;
        }
        let file = out
            .into_inner()
            .map_err(|err| err.into_error())
            .with_context(write_error)?;
        Ok(Run {
            file,
            claims: claims.len(),
            filter,
            fences: claims.iter().step_by(FENCE_EVERY).map(|c| c.id).collect(),
            unpacked: HashMap::new(),
        })
    }

    fn find(&self, id: &IdDigest) -> Result<Option<FirstClaim>> {
        if !self.filter.may_hold(id) {
            return Ok(None);
        }
        let Some(page) = self
            .fences
            .partition_point(|fence| fence <= id)
            .checked_sub(1)
        else {
            return Ok(None);
        };
        let first = page * FENCE_EVERY;
        let mut claims = [[0u8; CLAIM_BYTES]; FENCE_EVERY];
        let claims = &mut claims[..FENCE_EVERY.min(self.claims - first)];
        read_exact_at(
            &self.file,
            claims.as_flattened_mut(),
            (first * CLAIM_BYTES) as u64,
        )
        .context("reading the duplicate index's file")?;
        Ok(claims
            .binary_search_by(|bytes| FirstClaim::from_bytes(bytes).id.cmp(id))
            .ok()
            .map(|at| FirstClaim::from_bytes(&claims[at])))
    }

    fn memory_bytes(&self) -> usize {
        self.filter.bytes()
            + self.fences.capacity() * std::mem::size_of::<IdDigest>()
            + unpacked_bytes(&self.unpacked)
    }
}

/// Memory held by sequence numbers that did not pack: their text and map entries, roughly.
fn unpacked_bytes(unpacked: &HashMap<IdDigest, Box<str>>) -> usize {
    let entry = std::mem::size_of::<(IdDigest, Box<str>)>() + 1;
    unpacked.capacity() * entry + unpacked.values().map(|s| s.len()).sum::<usize>()
}

/// A run's file: unnamed, so that it disappears with the process (or with its run).
fn temporary_file() -> std::io::Result<File> {
    tempfile::tempfile()
}

pub struct DedupIndex {
    /// The newest claims, not yet in a run; never more than `recent_capacity`.
    recent: HashTable<FirstClaim>,
    /// Sequence numbers of the recent claims that did not pack.
    recent_unpacked: HashMap<IdDigest, Box<str>>,
    recent_capacity: usize,
    /// Oldest first: the next to forget.
    runs: VecDeque<Run>,
    window: usize,
    /// Where runs are written: a temporary file, but a test can make it fail.
    new_file: fn() -> std::io::Result<File>,
}

impl std::fmt::Debug for DedupIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DedupIndex")
            .field("remembered", &self.len())
            .field("runs", &self.runs.len())
            .field("window", &self.window)
            .finish()
    }
}

impl Default for DedupIndex {
    fn default() -> Self {
        Self::with_sizes(DEDUP_WINDOW, RECENT_CLAIMS)
    }
}

/// The table's hash of an id: its digest is already a uniform hash.
fn slot_hash(id: &IdDigest) -> u64 {
    id[0]
}

impl DedupIndex {
    /// Remembers at least the last `window` ids, `recent` of them in memory.
    pub fn with_sizes(window: usize, recent: usize) -> Self {
        let recent = recent.clamp(1, window.max(1));
        Self {
            // Reserved whole, so the table never doubles (a doubling holds the old and the new
            // table at once).
            recent: HashTable::with_capacity(recent),
            recent_unpacked: HashMap::new(),
            recent_capacity: recent,
            runs: VecDeque::new(),
            window: window.max(1),
            new_file: temporary_file,
        }
    }

    /// Claims `article_id` for the record at `sequence_number` with content of hash
    /// `content_sha256` (hex). Fails only when the index's temporary files cannot be written or
    /// read; the id is then not claimed, and a later claim of it is answered as if this one
    /// had not been made.
    pub fn claim(
        &mut self,
        article_id: &str,
        content_sha256: &str,
        sequence_number: &str,
    ) -> Result<Claim> {
        let id = id_digest(article_id);
        let content = content_digest(content_sha256);
        if let Some(first) = self.recent.find(slot_hash(&id), |claim| claim.id == id) {
            let aside = self.recent_unpacked.get(&id).map(|s| &**s);
            return Ok(first.judge(aside, content, sequence_number));
        }
        for run in self.runs.iter().rev() {
            if let Some(first) = run.find(&id)? {
                let aside = run.unpacked.get(&id).map(|s| &**s);
                return Ok(first.judge(aside, content, sequence_number));
            }
        }
        self.remember(id, content, sequence_number)?;
        Ok(Claim::First)
    }

    fn remember(&mut self, id: IdDigest, content: u64, sequence_number: &str) -> Result<()> {
        if self.recent.len() >= self.recent_capacity {
            // Before the new claim goes in, so that the table never holds more than it was
            // reserved for. Copied, not drained: when the file cannot be written the claims stay
            // here, and the next new id tries again.
            let file = (self.new_file)().with_context(temp_dir_error)?;
            let mut run = Run::write(file, self.recent.iter().copied().collect())?;
            run.unpacked = std::mem::take(&mut self.recent_unpacked);
            self.runs.push_back(run);
            self.recent.clear();
        }
        let sequence = PackedSequence::pack(sequence_number).unwrap_or_else(|| {
            self.recent_unpacked.insert(id, sequence_number.into());
            PackedSequence::ASIDE
        });
        self.recent.insert_unique(
            slot_hash(&id),
            FirstClaim {
                id,
                content,
                sequence,
            },
            |claim| slot_hash(&claim.id),
        );
        while let Some(oldest) = self.runs.front() {
            if self.len() - oldest.claims < self.window {
                break;
            }
            self.runs.pop_front();
        }
        Ok(())
    }

    /// Distinct ids remembered now.
    pub fn len(&self) -> usize {
        self.recent.len() + self.runs.iter().map(|run| run.claims).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the index holds in memory beyond its fixed table of recent claims: its runs'
    /// filters and fences, and any sequence numbers that did not pack.
    pub fn run_memory_bytes(&self) -> usize {
        self.runs.iter().map(Run::memory_bytes).sum::<usize>()
            + unpacked_bytes(&self.recent_unpacked)
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
        assert_eq!(index.claim("a", HASH_A, "1").unwrap(), Claim::First);
        assert_eq!(index.claim("b", HASH_A, "2").unwrap(), Claim::First);
        assert_eq!(index.len(), 2);
    }

    #[test]
    fn a_replay_of_the_claiming_record_is_first_again() {
        let mut index = DedupIndex::default();
        index.claim("a", HASH_A, "1").unwrap();
        assert_eq!(index.claim("a", HASH_A, "1").unwrap(), Claim::First);
    }

    #[test]
    fn the_same_id_and_content_in_another_record_is_an_exact_duplicate() {
        let mut index = DedupIndex::default();
        index.claim("a", HASH_A, "1").unwrap();
        assert_eq!(
            index.claim("a", HASH_A, "7").unwrap(),
            Claim::ExactDuplicate
        );
    }

    #[test]
    fn the_same_id_with_other_content_conflicts_and_names_the_first_record() {
        let mut index = DedupIndex::default();
        index.claim("a", HASH_A, "1").unwrap();
        assert_eq!(index.claim("a", HASH_B, "7").unwrap(), conflict_naming("1"));
    }

    #[test]
    fn ids_beyond_the_window_are_forgotten_oldest_first() {
        let mut index = DedupIndex::with_sizes(2, 1);
        index.claim("a", HASH_A, "1").unwrap();
        index.claim("b", HASH_A, "2").unwrap();
        index.claim("c", HASH_A, "3").unwrap();
        assert_eq!(index.len(), 2);
        // "a" was forgotten: its other content is a first claim now; "b" is still known.
        assert_eq!(index.claim("b", HASH_B, "5").unwrap(), conflict_naming("2"));
        assert_eq!(index.claim("a", HASH_B, "4").unwrap(), Claim::First);
    }

    #[test]
    fn a_kinesis_sequence_number_comes_back_whole_in_a_conflict() {
        let mut index = DedupIndex::default();
        let first = "49590338271490256608559692538361571095921575989136588898";
        index.claim("a", HASH_A, first).unwrap();
        assert_eq!(index.claim("a", HASH_A, first).unwrap(), Claim::First);
        assert_eq!(
            index
                .claim(
                    "a",
                    HASH_B,
                    "49590338271490256608559692538361571095921575989136588899"
                )
                .unwrap(),
            conflict_naming(first)
        );
    }

    #[test]
    fn sequence_numbers_with_leading_zeros_are_kept_as_written() {
        let mut index = DedupIndex::default();
        index.claim("a", HASH_A, "0042").unwrap();
        assert_eq!(
            index.claim("a", HASH_A, "42").unwrap(),
            Claim::ExactDuplicate
        );
        assert_eq!(
            index.claim("a", HASH_B, "43").unwrap(),
            conflict_naming("0042")
        );
    }

    #[test]
    fn sequence_numbers_that_do_not_pack_still_name_and_match_their_record() {
        let long = "9".repeat(PackedSequence::DIGITS + 1);
        for odd in ["", "seq-7", long.as_str()] {
            let mut index = DedupIndex::default();
            index.claim("a", HASH_A, odd).unwrap();
            assert_eq!(
                index.claim("a", HASH_A, odd).unwrap(),
                Claim::First,
                "{odd:?}"
            );
            assert_eq!(
                index.claim("a", HASH_A, "1").unwrap(),
                Claim::ExactDuplicate
            );
            assert_eq!(index.claim("a", HASH_B, "2").unwrap(), conflict_naming(odd));
        }
    }

    #[test]
    fn a_packed_first_sequence_number_never_matches_one_that_does_not_pack() {
        let mut index = DedupIndex::default();
        index.claim("a", HASH_A, "17").unwrap();
        assert_eq!(
            index.claim("a", HASH_A, "17 ").unwrap(),
            Claim::ExactDuplicate
        );
        assert_eq!(index.claim("a", HASH_A, "").unwrap(), Claim::ExactDuplicate);
    }

    #[test]
    fn the_longest_sequence_number_that_packs_comes_back_whole() {
        for digits in [PackedSequence::DIGITS, PackedSequence::DIGITS - 1] {
            let first: String = (0..digits)
                .map(|i| char::from(b'0' + (i % 10) as u8))
                .collect();
            assert!(PackedSequence::pack(&first).is_some());
            let mut index = DedupIndex::default();
            index.claim("a", HASH_A, &first).unwrap();
            assert_eq!(index.claim("a", HASH_A, &first).unwrap(), Claim::First);
            assert_eq!(
                index.claim("a", HASH_B, "1").unwrap(),
                conflict_naming(&first)
            );
        }
    }

    #[test]
    fn a_forgotten_claim_takes_its_unpacked_sequence_number_with_it() {
        let mut index = DedupIndex::with_sizes(1, 1);
        index.claim("a", HASH_A, "not digits").unwrap();
        index.claim("b", HASH_A, "1").unwrap();
        assert!(index.recent_unpacked.is_empty());
        assert!(index.runs.iter().all(|run| run.unpacked.is_empty()));
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn exactly_the_last_window_of_ids_is_remembered_after_many_more() {
        let mut index = DedupIndex::with_sizes(100, 1);
        for i in 0..1_000 {
            index
                .claim(&format!("id-{i}"), HASH_A, &i.to_string())
                .unwrap();
        }
        assert_eq!(index.len(), 100);
        // Checked newest first: a forgotten id claimed again would push a remembered one out.
        for i in (900..1_000).rev() {
            assert_eq!(
                index.claim(&format!("id-{i}"), HASH_B, "5000").unwrap(),
                conflict_naming(&i.to_string()),
                "id-{i}"
            );
        }
        assert_eq!(index.claim("id-899", HASH_B, "5000").unwrap(), Claim::First);
    }

    #[test]
    fn content_hashes_that_are_not_hex_still_compare_by_value() {
        let mut index = DedupIndex::default();
        index.claim("a", "not hex", "1").unwrap();
        assert_eq!(
            index.claim("a", "not hex", "2").unwrap(),
            Claim::ExactDuplicate
        );
        assert!(matches!(
            index.claim("a", "other", "3").unwrap(),
            Claim::Conflict { .. }
        ));
    }

    /// A content hash in hex, different for every `i`.
    fn content_of(i: usize) -> String {
        let word = (i as u128 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834);
        format!("{word:032x}{:032x}", word.rotate_left(64))
    }

    #[test]
    fn claims_sorted_into_runs_on_disk_answer_like_recent_ones() {
        let mut index = DedupIndex::with_sizes(10_000, 16);
        for i in 0..1_000 {
            index
                .claim(&format!("id-{i}"), &content_of(i), &i.to_string())
                .unwrap();
        }
        assert!(index.runs.len() >= 60, "{} runs", index.runs.len());
        for i in 0..1_000 {
            let id = format!("id-{i}");
            assert_eq!(
                index.claim(&id, &content_of(i), &i.to_string()).unwrap(),
                Claim::First
            );
            assert_eq!(
                index.claim(&id, &content_of(i), "99999").unwrap(),
                Claim::ExactDuplicate
            );
            assert_eq!(
                index.claim(&id, &content_of(i + 1), "99999").unwrap(),
                conflict_naming(&i.to_string()),
                "{id}"
            );
        }
        assert_eq!(index.len(), 1_000);
    }

    #[test]
    fn a_run_of_many_pages_finds_every_claim_it_holds() {
        let mut index = DedupIndex::with_sizes(100_000, 5 * FENCE_EVERY + 3);
        let ids = 5 * FENCE_EVERY + 3;
        for i in 0..ids {
            index
                .claim(&format!("id-{i}"), &content_of(i), &i.to_string())
                .unwrap();
        }
        // The table is full; the next new id sends its claims to a run first.
        index.claim("one more", HASH_A, "1").unwrap();
        assert_eq!((index.runs.len(), index.recent.len()), (1, 1));
        assert_eq!(index.runs[0].claims, ids);
        for i in 0..ids {
            assert_eq!(
                index
                    .claim(&format!("id-{i}"), &content_of(i + 1), "99999")
                    .unwrap(),
                conflict_naming(&i.to_string())
            );
        }
        assert_eq!(
            index.claim("never claimed", HASH_A, "99999").unwrap(),
            Claim::First
        );
    }

    #[test]
    fn sequence_numbers_that_do_not_pack_move_into_runs_with_their_claims() {
        let mut index = DedupIndex::with_sizes(1_000, 2);
        index.claim("a", HASH_A, "seq-a").unwrap();
        index.claim("b", HASH_A, "1").unwrap();
        index.claim("c", HASH_A, "2").unwrap();
        assert_eq!(index.runs.len(), 1);
        assert_eq!(index.claim("a", HASH_A, "seq-a").unwrap(), Claim::First);
        assert_eq!(
            index.claim("a", HASH_B, "3").unwrap(),
            conflict_naming("seq-a")
        );
    }

    #[test]
    fn runs_are_forgotten_whole_keeping_at_least_the_window() {
        let (window, recent) = (100, 30);
        let mut index = DedupIndex::with_sizes(window, recent);
        for i in 0..1_000 {
            index
                .claim(&format!("id-{i}"), &content_of(i), &i.to_string())
                .unwrap();
            if i >= window {
                assert!(
                    (window..window + recent).contains(&index.len()),
                    "{}",
                    index.len()
                );
            }
        }
        // Newest first: a forgotten id claimed again would push a remembered one out.
        for i in (1_000 - window..1_000).rev() {
            assert_eq!(
                index
                    .claim(&format!("id-{i}"), &content_of(i + 1), "5000")
                    .unwrap(),
                conflict_naming(&i.to_string())
            );
        }
        let remembered = index.len();
        assert_eq!(
            index
                .claim(&format!("id-{}", 1_000 - remembered - 1), HASH_B, "5000")
                .unwrap(),
            Claim::First
        );
    }

    #[test]
    fn a_filter_never_misses_an_id_it_holds_and_rarely_admits_one_it_does_not() {
        let held: Vec<IdDigest> = (0..RECENT_CLAIMS)
            .map(|i| id_digest(&format!("held-{i}")))
            .collect();
        let mut filter = Filter::for_ids(held.len());
        held.iter().for_each(|id| filter.insert(id));
        assert!(held.iter().all(|id| filter.may_hold(id)));
        let admitted = (0..200_000)
            .filter(|i| filter.may_hold(&id_digest(&format!("other-{i}"))))
            .count();
        assert!(admitted < 600, "{admitted} of 200,000 admitted");
    }

    #[test]
    fn a_run_answers_nothing_for_ids_it_does_not_hold_even_past_its_filter() {
        let claims: Vec<FirstClaim> = (0..5 * FENCE_EVERY)
            .map(|i| FirstClaim {
                id: id_digest(&format!("held-{i}")),
                content: 1,
                sequence: PackedSequence::pack("1").unwrap(),
            })
            .collect();
        let run = Run::write(temporary_file().unwrap(), claims.clone()).unwrap();
        // Ids below the first fence, above the last claim, and between: none is there.
        let (lowest, highest) = (run.fences[0], claims.iter().map(|c| c.id).max().unwrap());
        for id in [
            [0, 0],
            [lowest[0], lowest[1].wrapping_sub(1)],
            [u64::MAX, u64::MAX],
            [highest[0], highest[1].wrapping_add(1)],
        ] {
            assert_eq!(run.find(&id).unwrap(), None, "{id:?}");
        }
        let mut past_the_filter = 0;
        for i in 0..200_000 {
            let id = id_digest(&format!("other-{i}"));
            past_the_filter += usize::from(run.filter.may_hold(&id));
            assert_eq!(run.find(&id).unwrap(), None);
        }
        assert!(past_the_filter > 0, "the page search was never reached");
        for claim in &claims {
            assert_eq!(run.find(&claim.id).unwrap(), Some(*claim));
        }
    }

    #[test]
    fn a_run_that_cannot_be_written_loses_no_claim_and_is_tried_again() {
        let mut index = DedupIndex::with_sizes(1_000, 2);
        index.new_file = || Err(std::io::Error::other("disk full"));
        index.claim("a", HASH_A, "seq-a").unwrap();
        index.claim("b", HASH_A, "2").unwrap();
        let error = index.claim("c", HASH_A, "3").unwrap_err();
        assert!(format!("{error:#}").contains("disk full"), "{error:#}");
        assert_eq!(
            (index.len(), index.recent.len(), index.runs.len()),
            (2, 2, 0)
        );
        index.new_file = temporary_file;
        assert_eq!(index.claim("c", HASH_A, "3").unwrap(), Claim::First);
        assert_eq!(
            (index.len(), index.recent.len(), index.runs.len()),
            (3, 1, 1)
        );
        assert_eq!(
            index.claim("a", HASH_B, "4").unwrap(),
            conflict_naming("seq-a")
        );
        assert_eq!(index.claim("b", HASH_B, "4").unwrap(), conflict_naming("2"));
    }

    #[test]
    fn the_table_of_recent_claims_never_grows() {
        let mut index = DedupIndex::with_sizes(100_000, RECENT_CLAIMS);
        let reserved = index.recent.capacity();
        for i in 0..5 * RECENT_CLAIMS + 1 {
            index
                .claim(&format!("id-{i}"), &content_of(i), "1")
                .unwrap();
            assert!(index.recent.len() <= RECENT_CLAIMS);
        }
        assert_eq!(index.recent.capacity(), reserved);
        assert_eq!(index.runs.len(), 5);
    }

    #[test]
    fn memory_for_claims_on_disk_is_under_three_bytes_an_id() {
        let mut index = DedupIndex::with_sizes(100_000, RECENT_CLAIMS);
        for i in 0..100_000 {
            index
                .claim(&format!("id-{i}"), &content_of(i), "1")
                .unwrap();
        }
        let on_disk: usize = index.runs.iter().map(|run| run.claims).sum();
        let per_id = index.run_memory_bytes() as f64 / on_disk as f64;
        assert!(per_id < 3.0, "{per_id:.2} bytes an id");
    }
}
