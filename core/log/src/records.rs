//! The records inside an uncompressed `RecordBatch` v2: walking them, and rebuilding a batch
//! with only some of them. Compaction and the group coordinator read records; the append
//! path never does.
//!
//! A rebuilt batch keeps the original header (base offset, last offset delta, base and max
//! timestamp, producer fields) and the retained records' bytes unchanged, so each record
//! keeps its offset and timestamp and the batch still ends at the same offset — what Kafka's
//! cleaner does, and what lets readers step from batch to batch by `lastOffsetDelta`.

use crate::batch::{BatchHeader, HEADER_LEN, LOG_OVERHEAD};
use crate::error::BatchError;

const ATTRIBUTES_AT: usize = 21;
const CRC_AT: usize = 17;
const RECORD_COUNT_AT: usize = 57;
const LENGTH_AT: usize = 8;
/// Attribute bits of a compressed, transactional or control batch.
const OPAQUE_ATTRIBUTES: i16 = 0x07 | 0x10 | 0x20;

/// One record of a batch, borrowed from the batch bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// The record's offset (base offset + delta).
    pub offset: i64,
    /// The record's timestamp (base timestamp + delta).
    pub timestamp: i64,
    /// The key; `None` is Kafka's null.
    pub key: Option<&'a [u8]>,
    /// The value; `None` is a tombstone.
    pub value: Option<&'a [u8]>,
    /// The record as stored, its length prefix included.
    pub raw: &'a [u8],
}

/// Whether a batch's records can be read here: uncompressed, not transactional, not control.
pub fn is_plain(header: &BatchHeader) -> bool {
    header.attributes & OPAQUE_ATTRIBUTES == 0
}

/// The records of the plain batch at the start of `batch`, in offset order.
pub fn decode(batch: &[u8]) -> Result<Vec<Record<'_>>, BatchError> {
    let header = BatchHeader::parse(batch)?;
    if !is_plain(&header) {
        return Err(BatchError::NotPlain(header.attributes));
    }
    let end = header.total_len().min(batch.len());
    let mut cursor = Cursor {
        bytes: batch.get(HEADER_LEN..end).unwrap_or_default(),
    };
    let count = header.record_count.max(0);
    let mut records = Vec::with_capacity(count.min(4096) as usize);
    for index in 0..count {
        let record = cursor
            .record(&header)
            .ok_or(BatchError::MalformedRecord { index })?;
        records.push(record);
    }
    Ok(records)
}

/// A copy of the plain `batch` holding only `kept` (records decoded from it, in order), with
/// its length, record count and CRC recomputed. With nothing kept the batch is a header
/// only: it still marks where its offsets end.
pub fn rebuild(batch: &[u8], kept: &[Record<'_>]) -> Vec<u8> {
    let body: usize = kept.iter().map(|r| r.raw.len()).sum();
    let mut out = Vec::with_capacity(HEADER_LEN + body);
    out.extend_from_slice(&batch[..HEADER_LEN]);
    for record in kept {
        out.extend_from_slice(record.raw);
    }
    let length = (out.len() - LOG_OVERHEAD) as i32;
    out[LENGTH_AT..LENGTH_AT + 4].copy_from_slice(&length.to_be_bytes());
    out[RECORD_COUNT_AT..RECORD_COUNT_AT + 4].copy_from_slice(&(kept.len() as i32).to_be_bytes());
    let crc = crc32c::crc32c(&out[ATTRIBUTES_AT..]);
    out[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    out
}

/// Appends `value` as a zig-zag varint, the integer encoding inside records.
pub fn put_varint(out: &mut Vec<u8>, value: i64) {
    let mut raw = ((value << 1) ^ (value >> 63)) as u64;
    loop {
        let byte = (raw & 0x7f) as u8;
        raw >>= 7;
        if raw == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Appends varint-length-prefixed bytes; `None` is written as length -1 (null).
pub fn put_bytes(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(bytes) => {
            put_varint(out, bytes.len() as i64);
            out.extend_from_slice(bytes);
        }
        None => put_varint(out, -1),
    }
}

pub(crate) struct Cursor<'a> {
    pub(crate) bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.bytes.len() {
            return None;
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Some(head)
    }

    /// A zig-zag varint.
    pub(crate) fn varint(&mut self) -> Option<i64> {
        let mut raw: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = *self.take(1)?.first()?;
            raw |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some((raw >> 1) as i64 ^ -((raw & 1) as i64));
            }
        }
        None
    }

    /// Varint-length-prefixed bytes; a negative length is null.
    fn bytes(&mut self) -> Option<Option<&'a [u8]>> {
        let length = self.varint()?;
        if length < 0 {
            return Some(None);
        }
        self.take(usize::try_from(length).ok()?).map(Some)
    }

    /// The next record of a batch with `header`.
    fn record(&mut self, header: &BatchHeader) -> Option<Record<'a>> {
        let start = self.bytes;
        let length = usize::try_from(self.varint()?).ok()?;
        let prefix = start.len() - self.bytes.len();
        let mut fields = Cursor {
            bytes: self.take(length)?,
        };
        fields.take(1)?; // attributes
        let timestamp_delta = fields.varint()?;
        let offset_delta = fields.varint()?;
        let key = fields.bytes()?;
        let value = fields.bytes()?;
        Some(Record {
            offset: header.base_offset + offset_delta,
            timestamp: header.base_timestamp + timestamp_delta,
            key,
            value,
            raw: &start[..prefix + length],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{set_base_offset, validate};
    use crate::testing::BatchBuilder;

    #[test]
    fn decodes_keys_values_offsets_and_timestamps() {
        let mut batch = BatchBuilder::new()
            .base_timestamp(1000)
            .timestamp_step(5)
            .record(Some(b"a"), b"1")
            .record(None, b"2")
            .record(Some(b"c"), b"")
            .build();
        set_base_offset(&mut batch, 40);
        let records = decode(&batch).unwrap();
        let seen: Vec<_> = records
            .iter()
            .map(|r| (r.offset, r.timestamp, r.key, r.value))
            .collect();
        assert_eq!(
            seen,
            vec![
                (40, 1000, Some(&b"a"[..]), Some(&b"1"[..])),
                (41, 1005, None, Some(&b"2"[..])),
                (42, 1010, Some(&b"c"[..]), Some(&b""[..])),
            ]
        );
    }

    #[test]
    fn a_rebuilt_batch_validates_and_keeps_offsets_and_its_end() {
        let mut batch = BatchBuilder::new()
            .base_timestamp(7)
            .timestamp_step(1)
            .record(Some(b"a"), b"1")
            .record(Some(b"b"), b"2")
            .record(Some(b"c"), b"3")
            .build();
        set_base_offset(&mut batch, 10);
        let records = decode(&batch).unwrap();
        let kept = [records[1]];
        let rebuilt = rebuild(&batch, &kept);
        let header = validate(&rebuilt).unwrap();
        assert_eq!(header.base_offset, 10);
        assert_eq!(header.record_count, 1);
        assert_eq!(
            header.next_offset(),
            13,
            "the batch still ends where it did"
        );
        let again = decode(&rebuilt).unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!((again[0].offset, again[0].timestamp), (11, 8));
        assert_eq!(again[0].key, Some(&b"b"[..]));

        let empty = rebuild(&batch, &[]);
        let header = validate(&empty).unwrap();
        assert_eq!((header.record_count, header.next_offset()), (0, 13));
        assert!(decode(&empty).unwrap().is_empty());
    }

    #[test]
    fn a_malformed_record_is_an_error_not_a_panic() {
        let batch = BatchBuilder::new().records(2, 8).build();
        let mut short = batch.clone();
        short[RECORD_COUNT_AT..RECORD_COUNT_AT + 4].copy_from_slice(&5i32.to_be_bytes());
        assert!(matches!(
            decode(&short),
            Err(BatchError::MalformedRecord { index: 2 })
        ));
        let mut compressed = batch;
        compressed[ATTRIBUTES_AT + 1] |= 1;
        assert!(matches!(decode(&compressed), Err(BatchError::NotPlain(_))));
    }
}
