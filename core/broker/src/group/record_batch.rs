//! Uncompressed `RecordBatch` v2 bytes for the coordinator's own records: encoding a batch of
//! key/value records (a `None` value is a tombstone) and decoding the records of a batch read
//! back from `__consumer_offsets`. Only what the coordinator writes needs decoding here, so
//! compressed and control batches are refused rather than understood.

use weir_log::batch::{BatchHeader, HEADER_LEN, LOG_OVERHEAD, MAGIC_V2};

/// The attributes bits that mark a batch compressed, transactional or a control batch.
const UNSUPPORTED_ATTRIBUTES: i16 = 0x07 | 0x10 | 0x20;

/// One record of a batch: its key and value (`None` is Kafka's null).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record<'a> {
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) value: Option<&'a [u8]>,
}

/// Why the records of a batch could not be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RecordsError {
    #[error("the batch header does not parse: {0}")]
    Header(#[from] weir_log::BatchError),
    #[error("the batch is compressed, transactional or a control batch (attributes {0:#06x})")]
    Unsupported(i16),
    #[error("record {index} of the batch is truncated or malformed")]
    Malformed { index: i32 },
}

/// Encodes `records` as one uncompressed v2 batch (base offset 0, leader epoch 0, every
/// record stamped `timestamp_ms`), CRC included; the log assigns the offset on append.
pub(crate) fn encode(timestamp_ms: i64, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut record = Vec::new();
    for (delta, (key, value)) in records.iter().enumerate() {
        record.clear();
        record.push(0); // attributes
        put_varint(&mut record, 0); // timestamp delta
        put_varint(&mut record, delta as i64);
        put_bytes(&mut record, Some(key));
        put_bytes(&mut record, value.as_deref());
        put_varint(&mut record, 0); // no headers
        put_varint(&mut body, record.len() as i64);
        body.extend_from_slice(&record);
    }
    let count = records.len() as i32;
    let mut batch = Vec::with_capacity(HEADER_LEN + body.len());
    batch.extend_from_slice(&0i64.to_be_bytes()); // base offset
    batch.extend_from_slice(&((HEADER_LEN - LOG_OVERHEAD + body.len()) as i32).to_be_bytes());
    batch.extend_from_slice(&0i32.to_be_bytes()); // leader epoch
    batch.push(MAGIC_V2 as u8);
    let crc_at = batch.len();
    batch.extend_from_slice(&[0; 4]);
    let crc_from = batch.len();
    batch.extend_from_slice(&0i16.to_be_bytes()); // attributes: uncompressed, create time
    batch.extend_from_slice(&(count - 1).max(0).to_be_bytes()); // last offset delta
    batch.extend_from_slice(&timestamp_ms.to_be_bytes()); // base timestamp
    batch.extend_from_slice(&timestamp_ms.to_be_bytes()); // max timestamp
    batch.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    batch.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    batch.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    batch.extend_from_slice(&count.to_be_bytes());
    batch.extend_from_slice(&body);
    let crc = crc32c::crc32c(&batch[crc_from..]);
    batch[crc_at..crc_at + 4].copy_from_slice(&crc.to_be_bytes());
    batch
}

/// The records of the uncompressed batch at the start of `batch` (which the log has already
/// validated), in offset order.
pub(crate) fn decode(batch: &[u8]) -> Result<Vec<Record<'_>>, RecordsError> {
    let header = BatchHeader::parse(batch)?;
    if header.attributes & UNSUPPORTED_ATTRIBUTES != 0 {
        return Err(RecordsError::Unsupported(header.attributes));
    }
    let end = header.total_len().min(batch.len());
    let mut cursor = Cursor {
        bytes: batch.get(HEADER_LEN..end).unwrap_or_default(),
    };
    let count = header.record_count.max(0);
    let mut records = Vec::with_capacity(count as usize);
    for index in 0..count {
        let record = (|| {
            let length = usize::try_from(cursor.varint()?).ok()?;
            let mut fields = Cursor {
                bytes: cursor.take(length)?,
            };
            fields.take(1)?; // attributes
            fields.varint()?; // timestamp delta
            fields.varint()?; // offset delta
            let key = fields.bytes()?;
            let value = fields.bytes()?;
            Some(Record { key, value })
        })();
        records.push(record.ok_or(RecordsError::Malformed { index })?);
    }
    Ok(records)
}

struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.bytes.len() {
            return None;
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Some(head)
    }

    /// A zig-zag varint, as records use them.
    fn varint(&mut self) -> Option<i64> {
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
}

fn put_varint(out: &mut Vec<u8>, value: i64) {
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

fn put_bytes(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(bytes) => {
            put_varint(out, bytes.len() as i64);
            out.extend_from_slice(bytes);
        }
        None => put_varint(out, -1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_log::testing::BatchBuilder;

    #[test]
    fn an_encoded_batch_validates_and_decodes_back() {
        let records = vec![
            (b"k1".to_vec(), Some(b"v1".to_vec())),
            (b"k2".to_vec(), None),
            (vec![7; 300], Some(vec![9; 1000])),
        ];
        let batch = encode(1234, &records);
        let header = weir_log::batch::validate(&batch).unwrap();
        assert_eq!(header.record_count, 3);
        assert_eq!(header.last_offset_delta, 2);
        assert_eq!(header.base_timestamp, 1234);
        let decoded = decode(&batch).unwrap();
        assert_eq!(decoded.len(), 3);
        assert_eq!(decoded[0].key, Some(&b"k1"[..]));
        assert_eq!(decoded[0].value, Some(&b"v1"[..]));
        assert_eq!(decoded[1].value, None);
        assert_eq!(decoded[2].key, Some(&[7u8; 300][..]));
        assert_eq!(decoded[2].value, Some(&[9u8; 1000][..]));
    }

    #[test]
    fn decodes_batches_other_writers_built() {
        let batch = BatchBuilder::new()
            .record(Some(b"key"), b"value")
            .record(None, b"")
            .build();
        let decoded = decode(&batch).unwrap();
        assert_eq!(
            decoded,
            vec![
                Record {
                    key: Some(&b"key"[..]),
                    value: Some(&b"value"[..])
                },
                Record {
                    key: None,
                    value: Some(&b""[..])
                },
            ]
        );
    }

    #[test]
    fn truncated_records_and_compressed_batches_are_errors() {
        let batch = encode(0, &[(b"key".to_vec(), Some(b"value".to_vec()))]);
        let mut short = batch.clone();
        short.truncate(batch.len() - 2);
        let length = (short.len() - LOG_OVERHEAD) as i32;
        short[8..12].copy_from_slice(&length.to_be_bytes());
        assert_eq!(decode(&short), Err(RecordsError::Malformed { index: 0 }));
        let mut compressed = batch;
        compressed[22] |= 1; // gzip
        assert!(matches!(
            decode(&compressed),
            Err(RecordsError::Unsupported(1))
        ));
    }
}
