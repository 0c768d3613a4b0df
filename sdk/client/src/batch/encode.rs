//! Builds one `RecordBatch` v2: records are appended as varint-framed bytes as they arrive;
//! `finish` compresses them once and writes the header with the producer id, epoch and base
//! sequence it is given, and the CRC32C.

use bytes::{BufMut, Bytes, BytesMut};

use super::varint::{put_varint, put_varlong, varlong_len};
use super::{CRC_START, HEADER_LEN};
use crate::compression::Compression;
use crate::error::Result;
use crate::record::Header;

/// Who wrote a batch, for idempotence; `NONE` for a non-idempotent producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProducerStamp {
    pub(crate) id: i64,
    pub(crate) epoch: i16,
    pub(crate) base_sequence: i32,
}

impl ProducerStamp {
    /// No producer id: the broker skips sequence checks.
    pub(crate) const NONE: Self = Self {
        id: -1,
        epoch: -1,
        base_sequence: -1,
    };
}

/// An open batch's records, uncompressed.
#[derive(Debug, Default)]
pub(crate) struct BatchBuilder {
    records: Vec<u8>,
    count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
}

fn bytes_len(b: Option<&[u8]>) -> usize {
    match b {
        Some(b) => varlong_len(b.len() as i64) + b.len(),
        None => 1,
    }
}

fn put_bytes(buf: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        Some(b) => {
            put_varint(buf, b.len() as i32);
            buf.extend_from_slice(b);
        }
        None => put_varint(buf, -1),
    }
}

impl BatchBuilder {
    /// Appends a record; its offset delta is its index in the batch.
    pub(crate) fn push(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) {
        if self.count == 0 {
            self.base_timestamp = timestamp;
            self.max_timestamp = timestamp;
        }
        self.max_timestamp = self.max_timestamp.max(timestamp);
        let timestamp_delta = timestamp - self.base_timestamp;
        let offset_delta = i64::from(self.count);
        let mut body = 1
            + varlong_len(timestamp_delta)
            + varlong_len(offset_delta)
            + bytes_len(key)
            + bytes_len(value)
            + varlong_len(headers.len() as i64);
        for h in headers {
            body += bytes_len(Some(h.key.as_bytes())) + bytes_len(h.value.as_deref());
        }
        let buf = &mut self.records;
        buf.reserve(body + 5);
        put_varint(buf, body as i32);
        buf.put_u8(0); // record attributes: unused
        put_varlong(buf, timestamp_delta);
        put_varlong(buf, offset_delta);
        put_bytes(buf, key);
        put_bytes(buf, value);
        put_varint(buf, headers.len() as i32);
        for h in headers {
            put_bytes(buf, Some(h.key.as_bytes()));
            put_bytes(buf, h.value.as_deref());
        }
        self.count += 1;
    }

    /// Records in the batch.
    pub(crate) fn count(&self) -> i32 {
        self.count
    }

    /// The batch's uncompressed size in bytes, header included.
    pub(crate) fn size(&self) -> usize {
        HEADER_LEN + self.records.len()
    }

    /// The encoded batch.
    pub(crate) fn finish(&self, compression: Compression, stamp: ProducerStamp) -> Result<Bytes> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.records.len());
        out.resize(HEADER_LEN, 0);
        compression.compress(&self.records, &mut out)?;
        let mut header = BytesMut::with_capacity(HEADER_LEN);
        header.put_i64(0); // base offset: the broker assigns it
        header.put_i32((out.len() - 12) as i32);
        header.put_i32(-1); // partition leader epoch: the broker sets it
        header.put_i8(2); // magic
        header.put_u32(0); // crc, below
        header.put_i16(compression.id());
        header.put_i32(self.count - 1); // last offset delta
        header.put_i64(self.base_timestamp);
        header.put_i64(self.max_timestamp);
        header.put_i64(stamp.id);
        header.put_i16(stamp.epoch);
        header.put_i32(stamp.base_sequence);
        header.put_i32(self.count);
        out[..HEADER_LEN].copy_from_slice(&header);
        let crc = crc32c::crc32c(&out[CRC_START..]);
        out[17..21].copy_from_slice(&crc.to_be_bytes());
        Ok(Bytes::from(out))
    }
}
