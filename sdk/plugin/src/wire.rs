//! The flat byte layouts of a partition call, a consume batch and a batch's emitted records
//! (`plugins/wit/README.md`): the host encodes calls with [`PartitionCallWriter`] and
//! [`BatchWriter`] and the guest its emits with [`EmitWriter`]; each side decodes into
//! borrowed views, so one call moves one buffer instead of one allocation per field.

use crate::record::{Headers, Partitions, Record};

const ABSENT: u32 = u32::MAX;

/// A buffer that does not follow the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    /// What was being read when the buffer ran out or held nonsense.
    pub what: &'static str,
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed plugin call buffer at {}", self.what)
    }
}

impl std::error::Error for WireError {}

#[inline]
fn put_u32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_le_bytes());
}

#[inline]
fn put_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    put_u32(buf, bytes.len() as u32);
    buf.extend_from_slice(bytes);
}

#[inline]
fn put_opt_bytes(buf: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(b) => put_bytes(buf, b),
        None => put_u32(buf, ABSENT),
    }
}

fn put_headers<'h>(
    buf: &mut Vec<u8>,
    headers: impl ExactSizeIterator<Item = (&'h str, Option<&'h [u8]>)>,
) {
    put_u32(buf, headers.len() as u32);
    for (key, value) in headers {
        put_bytes(buf, key.as_bytes());
        put_opt_bytes(buf, value);
    }
}

/// Encodes one partition call (a run of records of one topic) into a reused buffer:
/// [`Self::start`] with the topic's view, [`Self::push`] per record, then [`Self::bytes`].
#[derive(Debug, Default)]
pub struct PartitionCallWriter {
    buf: Vec<u8>,
    /// Where the record count goes, patched by `bytes`.
    count_at: usize,
    count: u32,
}

impl PartitionCallWriter {
    /// Starts a call for `topic`; `fills` are `(open_bytes, in_flight)` per partition.
    pub fn start(
        &mut self,
        topic: &str,
        batch_size: u32,
        fills: impl ExactSizeIterator<Item = (u32, u32)>,
    ) {
        let buf = &mut self.buf;
        buf.clear();
        put_bytes(buf, topic.as_bytes());
        put_u32(buf, batch_size);
        put_u32(buf, fills.len() as u32);
        for (open_bytes, in_flight) in fills {
            put_u32(buf, open_bytes);
            put_u32(buf, in_flight);
        }
        self.count_at = buf.len();
        put_u32(buf, 0);
        self.count = 0;
    }

    /// Appends one record to the call.
    pub fn push<'h>(
        &mut self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: impl ExactSizeIterator<Item = (&'h str, Option<&'h [u8]>)>,
    ) {
        let buf = &mut self.buf;
        put_opt_bytes(buf, key);
        put_opt_bytes(buf, value);
        put_headers(buf, headers);
        self.count += 1;
    }

    /// Records pushed since the last [`Self::start`].
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether no record was pushed since the last [`Self::start`].
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The encoded call.
    pub fn bytes(&mut self) -> &[u8] {
        if let Some(count) = self.buf.get_mut(self.count_at..self.count_at + 4) {
            count.copy_from_slice(&self.count.to_le_bytes());
        }
        &self.buf
    }
}

/// Encodes a consume batch record by record.
#[derive(Debug, Default)]
pub struct BatchWriter {
    buf: Vec<u8>,
    count: u32,
}

impl BatchWriter {
    /// Starts a new batch, reusing the buffer.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.buf.extend_from_slice(&0u32.to_le_bytes());
        self.count = 0;
    }

    /// Appends one record.
    #[allow(clippy::too_many_arguments)]
    pub fn push<'h>(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: impl ExactSizeIterator<Item = (&'h str, Option<&'h [u8]>)>,
    ) {
        if self.buf.is_empty() {
            self.clear();
        }
        let buf = &mut self.buf;
        put_bytes(buf, topic.as_bytes());
        buf.extend_from_slice(&partition.to_le_bytes());
        buf.extend_from_slice(&offset.to_le_bytes());
        buf.extend_from_slice(&timestamp.to_le_bytes());
        put_opt_bytes(buf, key);
        put_opt_bytes(buf, value);
        put_headers(buf, headers);
        self.count += 1;
    }

    /// The encoded batch.
    pub fn bytes(&mut self) -> &[u8] {
        if self.buf.is_empty() {
            self.clear();
        }
        self.buf[..4].copy_from_slice(&self.count.to_le_bytes());
        &self.buf
    }

    /// Records pushed since the last [`Self::clear`].
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether no record was pushed since the last [`Self::clear`].
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// Encodes the records a consumer emitted during one call, so they cross to the host in
/// one buffer instead of one host call each: a u32 count, then per record the topic, key,
/// value and headers, laid out as in a consume batch.
#[derive(Debug, Default)]
pub struct EmitWriter {
    buf: Vec<u8>,
    count: u32,
}

impl EmitWriter {
    /// Appends one record.
    pub fn push<'h>(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: impl ExactSizeIterator<Item = (&'h str, Option<&'h [u8]>)>,
    ) {
        if self.buf.is_empty() {
            self.buf.extend_from_slice(&0u32.to_le_bytes());
        }
        let buf = &mut self.buf;
        put_bytes(buf, topic.as_bytes());
        put_opt_bytes(buf, key);
        put_opt_bytes(buf, value);
        put_headers(buf, headers);
        self.count += 1;
    }

    /// Records pushed so far.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Forgets every record pushed.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.count = 0;
    }

    /// Where the writer is now, to [`Self::truncate`] back to.
    pub fn mark(&self) -> EmitMark {
        EmitMark {
            len: self.buf.len(),
            count: self.count,
        }
    }

    /// Drops the records pushed since `mark`.
    pub fn truncate(&mut self, mark: EmitMark) {
        self.buf.truncate(mark.len);
        self.count = mark.count;
    }

    /// The encoded records.
    pub fn bytes(&mut self) -> &[u8] {
        if self.buf.is_empty() {
            self.buf.extend_from_slice(&0u32.to_le_bytes());
        }
        self.buf[..4].copy_from_slice(&self.count.to_le_bytes());
        &self.buf
    }
}

/// A point in an [`EmitWriter`] (see [`EmitWriter::mark`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmitMark {
    len: usize,
    count: u32,
}

/// One emitted record, borrowed from an [`EmitWriter`]'s buffer.
#[derive(Debug, Clone, Copy)]
pub struct EmittedView<'a> {
    /// The topic to produce to.
    pub topic: &'a str,
    /// The key.
    pub key: Option<&'a [u8]>,
    /// The value.
    pub value: Option<&'a [u8]>,
    /// The headers.
    pub headers: Headers<'a>,
}

/// Decodes what an [`EmitWriter`] encoded.
pub fn decode_emitted(bytes: &[u8]) -> Result<Vec<EmittedView<'_>>, WireError> {
    let mut out = Vec::new();
    for_each_emitted(bytes, |record| out.push(record))?;
    Ok(out)
}

/// Hands each record an [`EmitWriter`] encoded to `f`, in order, without collecting them;
/// on an error, `f` may have seen the records before it.
pub fn for_each_emitted<'a>(
    bytes: &'a [u8],
    mut f: impl FnMut(EmittedView<'a>),
) -> Result<(), WireError> {
    let mut c = Cursor::new(bytes);
    let count = c.u32("emitted count")?;
    for _ in 0..count {
        f(EmittedView {
            topic: c.str("emitted topic")?,
            key: c.opt_bytes("emitted key")?,
            value: c.opt_bytes("emitted value")?,
            headers: c.headers()?,
        });
    }
    Ok(())
}

/// Reads a buffer front to back.
pub(crate) struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        if self.rest.len() < n {
            return Err(WireError { what });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, WireError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i64(&mut self, what: &'static str) -> Result<i64, WireError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_le_bytes(a))
    }

    pub(crate) fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], WireError> {
        let n = self.u32(what)? as usize;
        self.take(n, what)
    }

    pub(crate) fn opt_bytes(&mut self, what: &'static str) -> Result<Option<&'a [u8]>, WireError> {
        let n = self.u32(what)?;
        if n == ABSENT {
            return Ok(None);
        }
        self.take(n as usize, what).map(Some)
    }

    fn str(&mut self, what: &'static str) -> Result<&'a str, WireError> {
        std::str::from_utf8(self.bytes(what)?).map_err(|_| WireError { what })
    }

    /// Skips over a headers block and returns it as a lazy view.
    fn headers(&mut self) -> Result<Headers<'a>, WireError> {
        let start = self.rest;
        let count = self.u32("header count")?;
        for _ in 0..count {
            self.str("header key")?;
            self.opt_bytes("header value")?;
        }
        let used = start.len() - self.rest.len();
        Ok(Headers::from_wire(count, &start[4..used]))
    }
}

/// Decodes a partition call into the partitions view and its records, in order.
pub fn decode_partition_call(bytes: &[u8]) -> Result<(Partitions<'_>, Vec<Record<'_>>), WireError> {
    let mut c = Cursor::new(bytes);
    let topic = c.str("topic")?;
    let batch_size = c.u32("batch size")?;
    let count = c.u32("partition count")?;
    let fills = c.take(count as usize * 8, "partition fills")?;
    let records = c.u32("record count")?;
    let mut out = Vec::with_capacity(records.min(1 << 16) as usize);
    for _ in 0..records {
        out.push(Record {
            topic,
            partition: -1,
            offset: -1,
            timestamp: -1,
            key: c.opt_bytes("key")?,
            value: c.opt_bytes("value")?,
            headers: c.headers()?,
        });
    }
    Ok((Partitions::from_wire(topic, batch_size, count, fills), out))
}

/// Decodes a consume batch.
pub fn decode_batch(bytes: &[u8]) -> Result<Vec<Record<'_>>, WireError> {
    let mut c = Cursor::new(bytes);
    let count = c.u32("record count")?;
    let mut records = Vec::with_capacity(count.min(1 << 16) as usize);
    for _ in 0..count {
        let topic = c.str("topic")?;
        let partition = c.u32("partition")? as i32;
        let offset = c.i64("offset")?;
        let timestamp = c.i64("timestamp")?;
        let key = c.opt_bytes("key")?;
        let value = c.opt_bytes("value")?;
        let headers = c.headers()?;
        records.push(Record {
            topic,
            partition,
            offset,
            timestamp,
            key,
            value,
            headers,
        });
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn emitted_records_round_trip() {
        let mut w = EmitWriter::default();
        assert_eq!(decode_emitted(w.bytes()).unwrap().len(), 0);
        w.push(
            "out",
            Some(b"k"),
            None,
            [("h", Some(&b"v"[..]))].into_iter(),
        );
        w.push("dlq", None, Some(b"value"), std::iter::empty());
        let decoded = decode_emitted(w.bytes()).unwrap();
        assert_eq!(decoded.len(), 2);
        assert_eq!(decoded[0].topic, "out");
        assert_eq!(decoded[0].key, Some(&b"k"[..]));
        assert_eq!(decoded[0].value, None);
        assert_eq!(
            decoded[0].headers.iter().collect::<Vec<_>>(),
            [("h", Some(&b"v"[..]))]
        );
        assert_eq!(decoded[1].value, Some(&b"value"[..]));
        assert!(decode_emitted(&w.bytes()[..10]).is_err());
    }

    #[test]
    fn a_partition_call_round_trips() {
        let mut w = PartitionCallWriter::default();
        // A writer reused for a second call holds only that call.
        w.start("old", 1, [(1, 1)].into_iter());
        w.push(Some(b"stale"), None, std::iter::empty());
        let headers = [("region", Some(&b"eu"[..])), ("null", None)];
        w.start("orders", 16384, [(10, 0), (0, 3)].into_iter());
        w.push(Some(b"k"), None, headers.iter().copied());
        w.push(None, Some(b"v"), std::iter::empty());
        assert_eq!(w.len(), 2);
        let bytes = w.bytes().to_vec();
        let (partitions, records) = decode_partition_call(&bytes).unwrap();
        assert_eq!(records.len(), 2);
        let record = &records[0];
        assert_eq!(record.topic, "orders");
        assert_eq!(record.key, Some(&b"k"[..]));
        assert_eq!(record.value, None);
        assert_eq!(record.headers.get("region"), Some(&b"eu"[..]));
        assert_eq!(record.headers.iter().count(), 2);
        assert_eq!(records[1].key, None);
        assert_eq!(records[1].value, Some(&b"v"[..]));
        assert_eq!(records[1].headers.iter().count(), 0);
        assert_eq!(partitions.count(), 2);
        assert_eq!(partitions.fill(1).in_flight, 3);
        assert_eq!(partitions.fill(0).open_bytes, 10);
        assert_eq!(partitions.batch_size(), 16384);
        assert!(decode_partition_call(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn a_batch_round_trips() {
        let mut w = BatchWriter::default();
        w.push("a", 1, 7, 99, None, Some(b"v1"), std::iter::empty());
        w.push(
            "b",
            2,
            8,
            100,
            Some(b"k"),
            Some(b"v2"),
            [("h", Some(&b"x"[..]))].into_iter(),
        );
        let bytes = w.bytes().to_vec();
        let records = decode_batch(&bytes).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].topic, "b");
        assert_eq!(records[1].offset, 8);
        assert_eq!(records[1].headers.get("h"), Some(&b"x"[..]));
        assert_eq!(records[0].value, Some(&b"v1"[..]));
        w.clear();
        assert_eq!(decode_batch(w.bytes()).unwrap().len(), 0);
    }
}
