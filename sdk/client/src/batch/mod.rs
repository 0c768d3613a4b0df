//! Kafka `RecordBatch` v2: [`encode`] builds a batch in one pass (varint records with
//! headers, compression, CRC32C); [`decode`] turns fetched bytes back into records.

pub(crate) mod decode;
pub(crate) mod encode;
mod varint;

/// Bytes before `batchLength` ends: base offset (8) and the length (4).
pub(crate) const LOG_OVERHEAD: usize = 12;
/// The whole v2 batch header.
pub(crate) const HEADER_LEN: usize = 61;
/// Where the CRC-covered part (attributes onwards) starts.
pub(crate) const CRC_START: usize = 21;
/// Attribute bit: timestamps are the broker's append time.
pub(crate) const LOG_APPEND_TIME: i16 = 1 << 3;
/// Attribute bit: a transaction control batch.
pub(crate) const CONTROL: i16 = 1 << 5;
