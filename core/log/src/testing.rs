//! Builds valid uncompressed `RecordBatch` v2 bytes, for tests, benchmarks and tools that
//! need real batches without a Kafka client.

use crate::PartitionLog;
use crate::batch::{BatchHeader, HEADER_LEN, LOG_OVERHEAD, MAGIC_V2};
use crate::error::ReadError;
use crate::records::{put_bytes, put_varint};

/// Reads the whole log from `from` as a consumer would, in fetches of `fetch_bytes` copied
/// into `buf` (which must hold the largest fetch), and returns the bytes read.
pub fn read_to_end(
    log: &PartitionLog,
    from: u64,
    fetch_bytes: u64,
    buf: &mut [u8],
) -> Result<u64, ReadError> {
    let mut offset = from;
    let mut total = 0;
    loop {
        let slice = log.read(offset, fetch_bytes, None)?;
        if slice.is_empty() {
            return Ok(total);
        }
        let n = slice.len() as usize;
        slice.read_into(&mut buf[..n])?;
        // The next fetch starts after the last batch, found by walking the headers.
        let mut at = 0;
        while let Ok(header) = BatchHeader::parse(&buf[at..n]) {
            offset = header.next_offset() as u64;
            at += header.total_len();
            if at >= n {
                break;
            }
        }
        total += n as u64;
    }
}

/// A record's key and value; `None` is Kafka's null.
type KeyValue = (Option<Vec<u8>>, Option<Vec<u8>>);

/// Builder of one uncompressed v2 batch of records with generated or given values.
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    base_timestamp: i64,
    timestamp_step: i64,
    /// Key and value of each record; `None` is null.
    records: Vec<KeyValue>,
}

impl Default for BatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl BatchBuilder {
    /// An empty builder with base timestamp 0.
    pub fn new() -> Self {
        Self {
            base_timestamp: 0,
            timestamp_step: 0,
            records: Vec::new(),
        }
    }

    /// Timestamp of the first record.
    pub fn base_timestamp(mut self, ms: i64) -> Self {
        self.base_timestamp = ms;
        self
    }

    /// Milliseconds between consecutive records' timestamps.
    pub fn timestamp_step(mut self, ms: i64) -> Self {
        self.timestamp_step = ms;
        self
    }

    /// Adds `count` unkeyed records whose values are `value_len` bytes of a repeating
    /// pattern.
    pub fn records(mut self, count: usize, value_len: usize) -> Self {
        for i in 0..count {
            let value = (0..value_len).map(|j| (i + j) as u8).collect();
            self.records.push((None, Some(value)));
        }
        self
    }

    /// Adds one record.
    pub fn record(mut self, key: Option<&[u8]>, value: &[u8]) -> Self {
        self.records
            .push((key.map(<[u8]>::to_vec), Some(value.to_vec())));
        self
    }

    /// Adds a tombstone: `key` with a null value.
    pub fn tombstone(mut self, key: &[u8]) -> Self {
        self.records.push((Some(key.to_vec()), None));
        self
    }

    /// Encodes the batch with base offset 0 and leader epoch 0 and a correct CRC.
    pub fn build(&self) -> Vec<u8> {
        let mut body = Vec::new();
        for (i, (key, value)) in self.records.iter().enumerate() {
            let delta = i as i64;
            let mut record = vec![0u8]; // attributes
            put_varint(&mut record, delta * self.timestamp_step);
            put_varint(&mut record, delta);
            put_bytes(&mut record, key.as_deref());
            put_bytes(&mut record, value.as_deref());
            put_varint(&mut record, 0); // no headers
            put_varint(&mut body, record.len() as i64);
            body.extend_from_slice(&record);
        }
        let count = self.records.len() as i32;
        let last_delta = (count - 1).max(0);
        let max_timestamp = self.base_timestamp + i64::from(last_delta) * self.timestamp_step;
        let mut batch = Vec::with_capacity(HEADER_LEN + body.len());
        batch.extend_from_slice(&0i64.to_be_bytes());
        let length = (HEADER_LEN - LOG_OVERHEAD + body.len()) as i32;
        batch.extend_from_slice(&length.to_be_bytes());
        batch.extend_from_slice(&0i32.to_be_bytes()); // leader epoch
        batch.push(MAGIC_V2 as u8);
        batch.extend_from_slice(&[0; 4]); // crc, filled below
        batch.extend_from_slice(&0i16.to_be_bytes()); // attributes
        batch.extend_from_slice(&last_delta.to_be_bytes());
        batch.extend_from_slice(&self.base_timestamp.to_be_bytes());
        batch.extend_from_slice(&max_timestamp.to_be_bytes());
        batch.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
        batch.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
        batch.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
        batch.extend_from_slice(&count.to_be_bytes());
        batch.extend_from_slice(&body);
        let crc = crc32c::crc32c(&batch[21..]);
        batch[17..21].copy_from_slice(&crc.to_be_bytes());
        batch
    }
}
