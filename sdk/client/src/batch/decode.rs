//! Turns the record bytes of a fetch response into records: checks each batch's CRC32C,
//! decompresses it, skips control batches and records before the fetch position, and
//! reports where the next fetch starts (a trailing partial batch is left for that fetch).

use bytes::Bytes;

use super::varint::{get_varint, get_varlong};
use super::{CONTROL, CRC_START, HEADER_LEN, LOG_APPEND_TIME, LOG_OVERHEAD};
use crate::compression::Compression;
use crate::error::{Error, Result};
use crate::record::{ConsumerRecord, Header, TimestampType};

/// The records of the complete batches in a fetched chunk.
#[derive(Debug, Default)]
pub(crate) struct Decoded {
    /// Records at or after the fetch position, in offset order.
    pub(crate) records: Vec<ConsumerRecord>,
    /// The offset after the last complete batch, if there was one.
    pub(crate) next_offset: Option<i64>,
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().unwrap_or([0; 8]))
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().unwrap_or([0; 4]))
}
fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes(b[at..at + 2].try_into().unwrap_or([0; 2]))
}

/// Decodes the complete batches in `data`, keeping records at offsets `>= position`.
pub(crate) fn decode(topic: &str, partition: i32, data: &Bytes, position: i64) -> Result<Decoded> {
    let corrupt = |reason: String| Error::CorruptBatch {
        topic: topic.to_string(),
        partition,
        reason,
    };
    let mut out = Decoded::default();
    let mut at = 0;
    while data.len() - at >= LOG_OVERHEAD {
        let base_offset = be_i64(data, at);
        let length = be_i32(data, at + 8);
        if length < (HEADER_LEN - LOG_OVERHEAD) as i32 {
            return Err(corrupt(format!("batch length {length} is too short")));
        }
        let end = at + LOG_OVERHEAD + length as usize;
        if end > data.len() {
            break; // partial batch: the broker cut it at the fetch size
        }
        let batch = &data[at..end];
        let magic = batch[16] as i8;
        if magic != 2 {
            return Err(corrupt(format!("message format v{magic} is not supported")));
        }
        let crc = be_i32(batch, 17) as u32;
        if crc32c::crc32c(&batch[CRC_START..]) != crc {
            return Err(corrupt(format!(
                "CRC mismatch in the batch at offset {base_offset}"
            )));
        }
        let attributes = be_i16(batch, 21);
        let last_offset_delta = be_i32(batch, 23);
        let base_timestamp = be_i64(batch, 27);
        let max_timestamp = be_i64(batch, 35);
        let count = be_i32(batch, 57);
        out.next_offset = Some(base_offset + i64::from(last_offset_delta) + 1);
        at = end;
        if attributes & CONTROL != 0 {
            continue;
        }
        let codec = Compression::from_id(attributes & 7)
            .ok_or_else(|| corrupt(format!("unknown compression id {}", attributes & 7)))?;
        let body = &batch[HEADER_LEN..];
        let decompressed;
        let mut records: &[u8] = if codec == Compression::None {
            body
        } else {
            decompressed = codec.decompress(body)?;
            &decompressed
        };
        let timestamp_type = if attributes & LOG_APPEND_TIME != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        };
        for _ in 0..count {
            let record = parse_record(&mut records).ok_or_else(|| {
                corrupt(format!("bad record in the batch at offset {base_offset}"))
            })?;
            let offset = base_offset + i64::from(record.offset_delta);
            if offset < position {
                continue;
            }
            out.records.push(ConsumerRecord {
                topic: topic.to_string(),
                partition,
                offset,
                timestamp: match timestamp_type {
                    TimestampType::LogAppendTime => max_timestamp,
                    TimestampType::CreateTime => base_timestamp + record.timestamp_delta,
                },
                timestamp_type,
                key: record.key,
                value: record.value,
                headers: record.headers,
            });
        }
    }
    Ok(out)
}

struct Parsed {
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<Bytes>,
    value: Option<Bytes>,
    headers: Vec<Header>,
}

fn take_bytes(buf: &mut &[u8]) -> Option<Option<Bytes>> {
    let len = get_varint(buf)?;
    if len < 0 {
        return Some(None);
    }
    let len = len as usize;
    let (b, rest) = (buf.get(..len)?, buf.get(len..)?);
    *buf = rest;
    Some(Some(Bytes::copy_from_slice(b)))
}

fn parse_record(buf: &mut &[u8]) -> Option<Parsed> {
    let length = usize::try_from(get_varint(buf)?).ok()?;
    let mut body = buf.get(..length)?;
    *buf = buf.get(length..)?;
    let (_attributes, rest) = body.split_first()?;
    body = rest;
    let timestamp_delta = get_varlong(&mut body)?;
    let offset_delta = get_varint(&mut body)?;
    let key = take_bytes(&mut body)?;
    let value = take_bytes(&mut body)?;
    let count = get_varint(&mut body)?.max(0);
    let mut headers = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let key = take_bytes(&mut body)??;
        let value = take_bytes(&mut body)?;
        headers.push(Header {
            key: String::from_utf8_lossy(&key).into_owned(),
            value,
        });
    }
    Some(Parsed {
        timestamp_delta,
        offset_delta,
        key,
        value,
        headers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::encode::{BatchBuilder, ProducerStamp};

    fn sample(codec: Compression) -> Bytes {
        let mut builder = BatchBuilder::default();
        builder.push(1_000, Some(b"k1"), Some(b"v1"), &[Header::new("h", "x")]);
        builder.push(999, None, None, &[]);
        builder.push(
            1_005,
            Some(b""),
            Some(&[7; 300]),
            &[Header {
                key: "n".into(),
                value: None,
            }],
        );
        builder
            .finish(
                codec,
                ProducerStamp {
                    id: 7,
                    epoch: 1,
                    base_sequence: 42,
                },
            )
            .unwrap()
    }

    #[test]
    fn batches_round_trip_with_every_codec() {
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut bytes = sample(codec).to_vec();
            bytes[..8].copy_from_slice(&100_i64.to_be_bytes()); // as the broker assigns
            let decoded = decode("t", 0, &Bytes::from(bytes), 101).unwrap();
            assert_eq!(decoded.next_offset, Some(103));
            let r = &decoded.records;
            assert_eq!(r.len(), 2, "{codec:?}: offset 100 is before the position");
            assert_eq!(
                (r[0].offset, r[0].timestamp, r[0].key.as_deref()),
                (101, 999, None)
            );
            assert_eq!(r[1].value.as_deref(), Some(&[7; 300][..]));
            assert_eq!(r[1].key.as_deref(), Some(&b""[..]));
            assert_eq!(
                r[1].headers,
                vec![Header {
                    key: "n".into(),
                    value: None
                }]
            );
        }
    }

    #[test]
    fn header_fields_are_where_kafka_puts_them() {
        let b = sample(Compression::None);
        assert_eq!(be_i32(&b, 8) as usize, b.len() - 12);
        assert_eq!(b[16], 2);
        assert_eq!(be_i32(&b, 23), 2); // last offset delta
        assert_eq!(be_i64(&b, 35), 1_005); // max timestamp
        assert_eq!(be_i64(&b, 43), 7); // producer id
        assert_eq!(be_i16(&b, 51), 1); // epoch
        assert_eq!(be_i32(&b, 53), 42); // base sequence
        assert_eq!(be_i32(&b, 57), 3); // count
    }

    #[test]
    fn corruption_and_partial_batches() {
        let good = sample(Compression::None);
        let mut bad = good.to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(decode("t", 0, &Bytes::from(bad), 0).is_err());
        let partial = good.slice(..good.len() - 1);
        let decoded = decode("t", 0, &partial, 0).unwrap();
        assert!(decoded.records.is_empty());
        assert_eq!(decoded.next_offset, None);
    }
}
