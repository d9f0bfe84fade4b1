//! Cutting records into PutRecords calls within the service limits.

/// Kinesis PutRecords limits: records per call, bytes per call, bytes per record. Bytes count the
/// data blob plus the partition key.
pub const MAX_RECORDS_PER_CALL: usize = 500;
pub const MAX_BYTES_PER_CALL: usize = 5 * 1024 * 1024;
pub const MAX_BYTES_PER_RECORD: usize = 1024 * 1024;
/// Kinesis allows partition keys of 1 to 256 Unicode characters.
pub const MAX_PARTITION_KEY_CHARS: usize = 256;

/// One record to put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub partition_key: String,
    pub data: Vec<u8>,
}

impl Entry {
    /// Size as Kinesis counts it against its limits.
    pub fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }
}

/// Accumulates entries and hands out a batch whenever the next entry would not fit.
#[derive(Debug, Default)]
pub struct Batcher {
    entries: Vec<Entry>,
    bytes: usize,
}

impl Batcher {
    /// Adds an entry no larger than [`MAX_BYTES_PER_RECORD`]; returns the previous batch when
    /// this entry did not fit into it.
    pub fn push(&mut self, entry: Entry) -> Option<Vec<Entry>> {
        debug_assert!(entry.size() <= MAX_BYTES_PER_RECORD);
        let full = self.entries.len() == MAX_RECORDS_PER_CALL
            || self.bytes + entry.size() > MAX_BYTES_PER_CALL;
        let ready = if full { self.take() } else { None };
        self.bytes += entry.size();
        self.entries.push(entry);
        ready
    }

    /// The last, partly filled batch.
    pub fn take(&mut self) -> Option<Vec<Entry>> {
        self.bytes = 0;
        Some(std::mem::take(&mut self.entries)).filter(|e| !e.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(bytes: usize) -> Entry {
        Entry {
            partition_key: "k".into(),
            data: vec![b'x'; bytes - 1],
        }
    }

    fn batches_of(sizes: &[usize]) -> Vec<Vec<Entry>> {
        let mut batcher = Batcher::default();
        let mut out: Vec<Vec<Entry>> = sizes
            .iter()
            .filter_map(|&s| batcher.push(entry(s)))
            .collect();
        out.extend(batcher.take());
        out
    }

    #[test]
    fn at_most_500_records_per_call() {
        let batches = batches_of(&[10; 1201]);
        let lens: Vec<usize> = batches.iter().map(Vec::len).collect();
        assert_eq!(lens, vec![500, 500, 201]);
    }

    #[test]
    fn at_most_5_mib_per_call() {
        let batches = batches_of(&[MAX_BYTES_PER_RECORD; 11]);
        for batch in &batches {
            assert!(batch.iter().map(Entry::size).sum::<usize>() <= MAX_BYTES_PER_CALL);
        }
        assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 11);
        assert_eq!(batches[0].len(), 5);
    }

    #[test]
    fn a_batch_exactly_at_the_byte_limit_is_kept_whole() {
        let batches = batches_of(&[MAX_BYTES_PER_RECORD; 5]);
        assert_eq!(batches.len(), 1);
    }

    #[test]
    fn order_is_preserved_across_batches() {
        let mut batcher = Batcher::default();
        let mut seen = Vec::new();
        for i in 0..1234u32 {
            let e = Entry {
                partition_key: i.to_string(),
                data: vec![0; 3000],
            };
            if let Some(batch) = batcher.push(e) {
                seen.extend(batch.into_iter().map(|e| e.partition_key));
            }
        }
        seen.extend(batcher.take().unwrap().into_iter().map(|e| e.partition_key));
        let expected: Vec<String> = (0..1234u32).map(|i| i.to_string()).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn nothing_pending_means_no_batch() {
        assert!(Batcher::default().take().is_none());
    }
}
