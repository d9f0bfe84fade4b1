//! Kinesis sequence numbers and the positions they mark: a table's position is the last sequence
//! number of the shard it holds (None: nothing yet).

use std::cmp::Ordering;

/// Sequence numbers are decimal strings of up to 128 bits: compare them as numbers.
pub fn compare_sequence(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// The later of two positions (None: nothing).
pub fn later(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if compare_sequence(&a, &b) == Ordering::Less {
            b
        } else {
            a
        }),
        (a, b) => a.or(b),
    }
}

/// A table's position once a chunk ending at `last` is committed: the chunk's end, unless the
/// table was ahead (a replay after a crash between two tables' commits, cut differently).
pub fn advanced(position: Option<String>, last: &str) -> Option<String> {
    later(position, Some(last.to_string()))
}

/// The earliest of the positions; None (the shard's start) if any is None.
pub fn earliest(positions: impl Iterator<Item = Option<String>>) -> Option<String> {
    let mut lowest: Option<String> = None;
    for position in positions {
        let position = position?;
        lowest = Some(match lowest {
            Some(low) if compare_sequence(&low, &position) != Ordering::Greater => low,
            _ => position,
        });
    }
    lowest
}

/// Whether the record at `sequence` comes after `position` (a table that holds nothing: yes).
pub fn after(sequence: &str, position: &Option<String>) -> bool {
    position
        .as_deref()
        .is_none_or(|p| compare_sequence(sequence, p) == Ordering::Greater)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn some(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    #[test]
    fn sequence_numbers_compare_as_numbers() {
        assert_eq!(compare_sequence("9", "10"), Ordering::Less);
        assert_eq!(
            compare_sequence(
                "49590338271490256608559692538361571095921575989136588802",
                "49590338271490256608559692538361571095921575989136588801"
            ),
            Ordering::Greater
        );
        assert_eq!(compare_sequence("007", "7"), Ordering::Equal);
    }

    #[test]
    fn reading_resumes_after_the_earliest_table_position_compared_as_numbers() {
        let positions = [some("100"), some("99"), some("250")];
        assert_eq!(earliest(positions.into_iter()), some("99"));
        // A table that holds nothing of the shard: from the start.
        assert_eq!(earliest([some("100"), None].into_iter()), None);
        assert_eq!(earliest([None, some("5")].into_iter()), None);
    }

    #[test]
    fn a_committed_chunk_moves_a_table_forward_but_never_back() {
        assert_eq!(advanced(None, "120"), some("120"));
        assert_eq!(advanced(some("100"), "120"), some("120"));
        // A replayed chunk that ends before what the table already holds.
        assert_eq!(advanced(some("250"), "160"), some("250"));
        assert_eq!(advanced(some("1000"), "999"), some("1000"));
    }

    #[test]
    fn a_record_at_or_before_a_tables_position_is_left_out_of_it() {
        assert!(after("101", &some("100")));
        assert!(!after("100", &some("100")));
        assert!(!after("99", &some("100")));
        // Decimal sequence numbers of different lengths compare as numbers.
        assert!(after("1000", &some("999")));
        assert!(after("1", &None));
    }
}
