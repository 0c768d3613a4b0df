//! The Kafka `RecordBatch` v2 header: where each field sits, how a batch is validated, and
//! the two header fields the log writes (base offset and leader epoch, both outside the CRC,
//! so stamping them never recomputes a checksum).
//!
//! Layout (big-endian): baseOffset i64 · batchLength i32 · partitionLeaderEpoch i32 ·
//! magic i8 · crc u32 · attributes i16 · lastOffsetDelta i32 · baseTimestamp i64 ·
//! maxTimestamp i64 · producerId i64 · producerEpoch i16 · baseSequence i32 · records i32,
//! then the records. The CRC32C covers everything from `attributes` to the end.

use crate::error::BatchError;
use crate::records::Cursor;

/// Bytes before the `batchLength` field's coverage starts: baseOffset and batchLength.
pub const LOG_OVERHEAD: usize = 12;
/// Size of the fixed v2 header, records excluded.
pub const HEADER_LEN: usize = 61;

const LENGTH_AT: usize = 8;
const EPOCH_AT: usize = 12;
const MAGIC_AT: usize = 16;
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const LAST_OFFSET_DELTA_AT: usize = 23;
const BASE_TIMESTAMP_AT: usize = 27;
const MAX_TIMESTAMP_AT: usize = 35;
const PRODUCER_ID_AT: usize = 43;
const PRODUCER_EPOCH_AT: usize = 51;
const BASE_SEQUENCE_AT: usize = 53;
const RECORD_COUNT_AT: usize = 57;

/// The only batch format weir stores.
pub const MAGIC_V2: i8 = 2;
const COMPRESSION_MASK: i16 = 0x07;
const TRANSACTIONAL_FLAG: i16 = 0x10;
const CONTROL_FLAG: i16 = 0x20;

/// The decoded fixed header of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Bytes after the `batchLength` field; the whole batch is this plus [`LOG_OVERHEAD`].
    pub batch_length: i32,
    /// Leader epoch of the leader that appended the batch.
    pub leader_epoch: i32,
    /// Format version (2).
    pub magic: i8,
    /// CRC32C of everything from `attributes` on.
    pub crc: u32,
    /// Compression codec, timestamp type, transactional and control flags.
    pub attributes: i16,
    /// Last record's offset minus the base offset.
    pub last_offset_delta: i32,
    /// Timestamp of the first record.
    pub base_timestamp: i64,
    /// Largest record timestamp.
    pub max_timestamp: i64,
    /// Idempotent producer id, or -1.
    pub producer_id: i64,
    /// Idempotent producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence number of the first record, or -1.
    pub base_sequence: i32,
    /// Number of records.
    pub record_count: i32,
}

impl BatchHeader {
    /// Decodes the header at the start of `bytes`, which must hold at least [`HEADER_LEN`]
    /// bytes. Checks nothing beyond the length.
    pub fn parse(bytes: &[u8]) -> Result<Self, BatchError> {
        if bytes.len() < HEADER_LEN {
            return Err(BatchError::Truncated {
                needed: HEADER_LEN,
                available: bytes.len(),
            });
        }
        Ok(Self {
            base_offset: i64_at(bytes, 0),
            batch_length: i32_at(bytes, LENGTH_AT),
            leader_epoch: i32_at(bytes, EPOCH_AT),
            magic: bytes[MAGIC_AT] as i8,
            crc: u32::from_be_bytes(array_at(bytes, CRC_AT)),
            attributes: i16::from_be_bytes(array_at(bytes, ATTRIBUTES_AT)),
            last_offset_delta: i32_at(bytes, LAST_OFFSET_DELTA_AT),
            base_timestamp: i64_at(bytes, BASE_TIMESTAMP_AT),
            max_timestamp: i64_at(bytes, MAX_TIMESTAMP_AT),
            producer_id: i64_at(bytes, PRODUCER_ID_AT),
            producer_epoch: i16::from_be_bytes(array_at(bytes, PRODUCER_EPOCH_AT)),
            base_sequence: i32_at(bytes, BASE_SEQUENCE_AT),
            record_count: i32_at(bytes, RECORD_COUNT_AT),
        })
    }

    /// Size of the whole batch on disk, `LOG_OVERHEAD + batch_length`.
    pub fn total_len(&self) -> usize {
        LOG_OVERHEAD + usize::try_from(self.batch_length).unwrap_or(0)
    }

    /// Offset of the last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// The offset that follows this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset() + 1
    }

    /// Compression codec id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub fn compression(&self) -> i16 {
        self.attributes & COMPRESSION_MASK
    }

    /// Whether the batch belongs to a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_FLAG != 0
    }

    /// Whether the batch holds a transaction marker rather than data.
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_FLAG != 0
    }
}

/// Checks the batch that starts `bytes` (length field, magic, offset delta, CRC32C) and
/// returns its header. `bytes` may continue past the batch.
pub fn validate(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = BatchHeader::parse(bytes)?;
    if header.magic != MAGIC_V2 {
        return Err(BatchError::UnsupportedMagic(header.magic));
    }
    let total = check_length(&header, bytes.len())?;
    if header.last_offset_delta < 0 {
        return Err(BatchError::InvalidOffsetDelta(header.last_offset_delta));
    }
    let actual = crc32c::crc32c(&bytes[ATTRIBUTES_AT..total]);
    if actual != header.crc {
        return Err(BatchError::CrcMismatch {
            stored: header.crc,
            computed: actual,
        });
    }
    Ok(header)
}

fn check_length(header: &BatchHeader, available: usize) -> Result<usize, BatchError> {
    let body = usize::try_from(header.batch_length)
        .ok()
        .filter(|&len| len >= HEADER_LEN - LOG_OVERHEAD)
        .ok_or(BatchError::InvalidLength(header.batch_length))?;
    let total = LOG_OVERHEAD + body;
    if total > available {
        return Err(BatchError::Truncated {
            needed: total,
            available,
        });
    }
    Ok(total)
}

/// Writes the base offset into the batch header; outside the CRC.
pub fn set_base_offset(bytes: &mut [u8], base_offset: i64) {
    bytes[..8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Writes the partition leader epoch into the batch header; outside the CRC.
pub fn set_leader_epoch(bytes: &mut [u8], epoch: i32) {
    bytes[EPOCH_AT..EPOCH_AT + 4].copy_from_slice(&epoch.to_be_bytes());
}

/// The leading bytes of a batch that a leader stamps: base offset, length (unchanged) and
/// partition leader epoch. They lie outside the CRC, which starts at the magic byte.
pub(crate) const STAMPED_LEN: usize = MAGIC_AT;

/// The first [`STAMPED_LEN`] bytes of `batch` as the log writes them: with `header`'s base
/// offset and leader epoch in place of the producer's.
pub(crate) fn stamped_prefix(batch: &[u8], header: &BatchHeader) -> [u8; STAMPED_LEN] {
    let mut prefix = [0u8; STAMPED_LEN];
    prefix.copy_from_slice(&batch[..STAMPED_LEN]);
    set_base_offset(&mut prefix, header.base_offset);
    set_leader_epoch(&mut prefix, header.leader_epoch);
    prefix
}

/// Splits a buffer of concatenated batches, validating each; fails on the first bad one
/// or on trailing bytes that do not form a whole batch.
pub fn validate_all(bytes: &[u8]) -> Result<Vec<(usize, BatchHeader)>, BatchError> {
    let mut batches = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let header = validate(&bytes[at..])?;
        batches.push((at, header));
        at += header.total_len();
    }
    if batches.is_empty() {
        return Err(BatchError::Empty);
    }
    Ok(batches)
}

/// The first record in an uncompressed batch whose timestamp is at least `target`, as
/// `(offset, timestamp)`, decoding record headers only. `None` for compressed batches (the caller then answers
/// with the batch's base offset, which never skips a record) or when no record qualifies.
pub fn first_offset_at_or_after(batch: &[u8], target: i64) -> Option<(i64, i64)> {
    let header = BatchHeader::parse(batch).ok()?;
    if header.compression() != 0 {
        return None;
    }
    let end = header.total_len().min(batch.len());
    let mut cursor = Cursor {
        bytes: batch.get(HEADER_LEN..end)?,
    };
    for _ in 0..header.record_count {
        let length = usize::try_from(cursor.varint()?).ok()?;
        let record = cursor.take(length)?;
        let mut fields = Cursor { bytes: record };
        fields.take(1)?; // attributes
        let timestamp_delta = fields.varint()?;
        let offset_delta = fields.varint()?;
        let timestamp = header.base_timestamp + timestamp_delta;
        if timestamp >= target {
            return Some((header.base_offset + offset_delta, timestamp));
        }
    }
    None
}

fn array_at<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[at..at + N]);
    out
}

fn i32_at(bytes: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(array_at(bytes, at))
}

fn i64_at(bytes: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(array_at(bytes, at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::BatchBuilder;

    #[test]
    fn a_built_batch_validates() {
        let batch = BatchBuilder::new().records(3, 10).build();
        let header = validate(&batch).unwrap();
        assert_eq!(header.record_count, 3);
        assert_eq!(header.last_offset_delta, 2);
        assert_eq!(header.total_len(), batch.len());
    }

    #[test]
    fn stamping_offset_and_epoch_keeps_the_crc_valid() {
        let mut batch = BatchBuilder::new().records(2, 5).build();
        set_base_offset(&mut batch, 1234);
        set_leader_epoch(&mut batch, 7);
        let header = validate(&batch).unwrap();
        assert_eq!(header.base_offset, 1234);
        assert_eq!(header.leader_epoch, 7);
    }

    #[test]
    fn bad_crc_wrong_magic_and_truncation_are_typed_errors() {
        let batch = BatchBuilder::new().records(2, 5).build();
        let mut flipped = batch.clone();
        *flipped.last_mut().unwrap() ^= 0xff;
        assert!(matches!(
            validate(&flipped),
            Err(BatchError::CrcMismatch { .. })
        ));
        let mut magic = batch.clone();
        magic[MAGIC_AT] = 1;
        assert!(matches!(
            validate(&magic),
            Err(BatchError::UnsupportedMagic(1))
        ));
        assert!(matches!(
            validate(&batch[..batch.len() - 1]),
            Err(BatchError::Truncated { .. })
        ));
        assert!(matches!(
            validate(&batch[..20]),
            Err(BatchError::Truncated { .. })
        ));
    }

    #[test]
    fn finds_the_first_record_at_a_timestamp() {
        let batch = BatchBuilder::new()
            .base_timestamp(1000)
            .timestamp_step(10)
            .records(5, 4)
            .build();
        assert_eq!(first_offset_at_or_after(&batch, 0), Some((0, 1000)));
        assert_eq!(first_offset_at_or_after(&batch, 1015), Some((2, 1020)));
        assert_eq!(first_offset_at_or_after(&batch, 1040), Some((4, 1040)));
        assert_eq!(first_offset_at_or_after(&batch, 1041), None);
    }
}
