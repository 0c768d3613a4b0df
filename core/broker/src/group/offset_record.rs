//! The records the coordinator keeps in `__consumer_offsets`, in weir's own versioned binary
//! format (big-endian, strings prefixed by a `u16` length):
//!
//! - key, version 0: `version i16 · group · topic · partition i32`
//! - value, version 0: `version i16 · offset i64 · leader_epoch i32 · commit_timestamp_ms i64 ·
//!   metadata (u32 length, bytes)`
//! - a null value is a tombstone: the offset was deleted (OffsetDelete, DeleteGroups).
//!
//! Readers skip key versions they do not know, so later versions can add record kinds.

/// The key of a committed offset: which group, topic and partition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct OffsetKey {
    pub(crate) group: String,
    pub(crate) topic: String,
    pub(crate) partition: i32,
}

/// A committed offset as a consumer stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommittedOffset {
    pub(crate) offset: i64,
    /// The leader epoch of the record at `offset - 1`, or -1.
    pub(crate) leader_epoch: i32,
    /// The consumer's free-form metadata string ("" when it sent none).
    pub(crate) metadata: String,
    pub(crate) commit_timestamp_ms: i64,
}

const KEY_VERSION: i16 = 0;
const VALUE_VERSION: i16 = 0;

/// Why a record of `__consumer_offsets` was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum OffsetRecordError {
    #[error("record without a key")]
    MissingKey,
    #[error("record key version {0} is not one weir knows")]
    UnknownKeyVersion(i16),
    #[error("record value version {0} is not one weir knows")]
    UnknownValueVersion(i16),
    #[error("record is truncated or holds invalid UTF-8")]
    Malformed,
}

impl OffsetKey {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(10 + self.group.len() + self.topic.len());
        out.extend_from_slice(&KEY_VERSION.to_be_bytes());
        put_str(&mut out, &self.group);
        put_str(&mut out, &self.topic);
        out.extend_from_slice(&self.partition.to_be_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, OffsetRecordError> {
        let mut reader = Reader { bytes };
        let version = reader.i16()?;
        if version != KEY_VERSION {
            return Err(OffsetRecordError::UnknownKeyVersion(version));
        }
        Ok(Self {
            group: reader.str()?,
            topic: reader.str()?,
            partition: reader.i32()?,
        })
    }
}

impl CommittedOffset {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(26 + self.metadata.len());
        out.extend_from_slice(&VALUE_VERSION.to_be_bytes());
        out.extend_from_slice(&self.offset.to_be_bytes());
        out.extend_from_slice(&self.leader_epoch.to_be_bytes());
        out.extend_from_slice(&self.commit_timestamp_ms.to_be_bytes());
        out.extend_from_slice(&(self.metadata.len() as u32).to_be_bytes());
        out.extend_from_slice(self.metadata.as_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, OffsetRecordError> {
        let mut reader = Reader { bytes };
        let version = reader.i16()?;
        if version != VALUE_VERSION {
            return Err(OffsetRecordError::UnknownValueVersion(version));
        }
        let offset = reader.i64()?;
        let leader_epoch = reader.i32()?;
        let commit_timestamp_ms = reader.i64()?;
        let length = u32::from_be_bytes(reader.array()?) as usize;
        let metadata = String::from_utf8(reader.take(length)?.to_vec())
            .map_err(|_| OffsetRecordError::Malformed)?;
        Ok(Self {
            offset,
            leader_epoch,
            metadata,
            commit_timestamp_ms,
        })
    }
}

/// Decodes one record: the key and, unless it is a tombstone, the committed offset.
pub(crate) fn decode(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Result<(OffsetKey, Option<CommittedOffset>), OffsetRecordError> {
    let key = OffsetKey::decode(key.ok_or(OffsetRecordError::MissingKey)?)?;
    let value = value.map(CommittedOffset::decode).transpose()?;
    Ok((key, value))
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // Group ids and topic names come from Kafka strings (at most i16::MAX bytes).
    let len = s.len().min(usize::from(u16::MAX));
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(&s.as_bytes()[..len]);
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], OffsetRecordError> {
        if n > self.bytes.len() {
            return Err(OffsetRecordError::Malformed);
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], OffsetRecordError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn i16(&mut self) -> Result<i16, OffsetRecordError> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    fn i32(&mut self) -> Result<i32, OffsetRecordError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, OffsetRecordError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    fn str(&mut self) -> Result<String, OffsetRecordError> {
        let len = usize::from(u16::from_be_bytes(self.array()?));
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| OffsetRecordError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_round_trip() {
        let key = OffsetKey {
            group: "payments".into(),
            topic: "orders".into(),
            partition: 7,
        };
        let value = CommittedOffset {
            offset: 42,
            leader_epoch: 3,
            metadata: "worker-1".into(),
            commit_timestamp_ms: 1_700_000_000_000,
        };
        let (k, v) = decode(Some(&key.encode()), Some(&value.encode())).unwrap();
        assert_eq!(k, key);
        assert_eq!(v, Some(value));
        let (k, v) = decode(Some(&key.encode()), None).unwrap();
        assert_eq!(k, key);
        assert_eq!(v, None, "a null value is a tombstone");
    }

    #[test]
    fn unknown_versions_and_garbage_are_errors() {
        assert_eq!(
            decode(Some(&[0, 9, 1, 2]), None),
            Err(OffsetRecordError::UnknownKeyVersion(9))
        );
        assert_eq!(decode(None, None), Err(OffsetRecordError::MissingKey));
        assert_eq!(
            decode(Some(&[0, 0, 0, 5, b'a']), None),
            Err(OffsetRecordError::Malformed)
        );
        let key = OffsetKey {
            group: "g".into(),
            topic: "t".into(),
            partition: 0,
        };
        assert_eq!(
            decode(Some(&key.encode()), Some(&[0, 1])),
            Err(OffsetRecordError::UnknownValueVersion(1))
        );
    }
}
