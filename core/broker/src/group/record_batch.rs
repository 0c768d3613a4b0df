//! Encoding the coordinator's own records as one uncompressed `RecordBatch` v2 (a `None`
//! value is a tombstone). Reading them back uses `weir_log::records`, which also serves
//! compaction.

use weir_log::batch::{HEADER_LEN, LOG_OVERHEAD, MAGIC_V2};
use weir_log::records::{put_bytes, put_varint};

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

#[cfg(test)]
mod tests {
    use super::*;
    use weir_log::records::decode;

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
}
