//! Decodes the messages of Postgres's `pgoutput` plugin (protocol version 1) as
//! `pg_logical_slot_peek_binary_changes` returns them, one message per row: Begin, Commit,
//! Relation, Insert, Update, Delete, Truncate and logical decoding Messages. Column values
//! stay in Postgres's text format here; [`super::values`] types them.
//!
//! The layout is the one in the PostgreSQL manual's "Logical Replication Message Formats";
//! every integer is big-endian, every string NUL-terminated.

use super::lsn::Lsn;

/// Why a message could not be decoded: the slot gave bytes this decoder does not know, so
/// going on could misreport changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The message ended before a field it must have.
    #[error("pgoutput message {kind:?} ends early (at byte {at})")]
    Truncated {
        /// The message's type byte.
        kind: char,
        /// Where reading stopped.
        at: usize,
    },
    /// A type byte this decoder does not know.
    #[error("unknown pgoutput message type {0:?}")]
    UnknownMessage(char),
    /// A tuple column kind other than null, unchanged TOAST or text.
    #[error("unknown pgoutput column kind {0:?}")]
    UnknownColumnKind(char),
}

/// One column of a relation, as a Relation message describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RelationColumn {
    /// Whether it is part of the replica identity key.
    pub key: bool,
    /// The column name.
    pub name: String,
    /// The type's OID, which says how to read the text value.
    pub type_oid: u32,
}

/// A relation (table) the following changes refer to by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Relation {
    /// The relation's OID.
    pub id: u32,
    /// Its schema.
    pub schema: String,
    /// Its name.
    pub name: String,
    /// The replica identity setting: `d` default, `n` nothing, `f` full, `i` index.
    pub replica_identity: u8,
    /// Its columns, in order.
    pub columns: Vec<RelationColumn>,
}

/// One column's value in a tuple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ColumnValue {
    /// SQL NULL.
    Null,
    /// A TOASTed value the update did not change: Postgres does not send it.
    UnchangedToast,
    /// The value in Postgres's text output format.
    Text(String),
}

/// The old row an Update or Delete carries, when the replica identity allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OldTuple {
    /// Only the replica identity key columns are meaningful (`K`); the others are null.
    Key(Vec<ColumnValue>),
    /// The whole old row (`O`, under `REPLICA IDENTITY FULL`).
    Full(Vec<ColumnValue>),
}

/// A decoded pgoutput message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Message {
    /// A transaction starts.
    Begin {
        /// The LSN of its commit record.
        final_lsn: Lsn,
        /// Commit time, microseconds since 2000-01-01 UTC.
        commit_time: i64,
        /// The transaction id.
        xid: u32,
    },
    /// The transaction ends.
    Commit {
        /// The LSN of the commit record.
        commit_lsn: Lsn,
        /// The LSN just past it: where a slot may advance to once the transaction is done.
        end_lsn: Lsn,
        /// Commit time, microseconds since 2000-01-01 UTC.
        commit_time: i64,
    },
    /// Describes a relation before changes to it.
    Relation(Relation),
    /// A new row.
    Insert {
        /// The relation's id.
        relation: u32,
        /// The row.
        new: Vec<ColumnValue>,
    },
    /// A changed row.
    Update {
        /// The relation's id.
        relation: u32,
        /// The old row or key, when sent.
        old: Option<OldTuple>,
        /// The new row.
        new: Vec<ColumnValue>,
    },
    /// A deleted row.
    Delete {
        /// The relation's id.
        relation: u32,
        /// The old row or its key.
        old: OldTuple,
    },
    /// Tables emptied.
    Truncate {
        /// The relations' ids.
        relations: Vec<u32>,
    },
    /// A message written with `pg_logical_emit_message`.
    Emitted {
        /// Whether it is part of a transaction.
        transactional: bool,
        /// The LSN of the message.
        lsn: Lsn,
        /// Its prefix (`weir-heartbeat` for ours).
        prefix: String,
    },
    /// A type description or an origin: nothing the source uses.
    Ignored,
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    kind: char,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len());
        let Some(end) = end else {
            return Err(DecodeError::Truncated {
                kind: self.kind,
                at: self.at,
            });
        };
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn i16(&mut self) -> Result<i16, DecodeError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(self.u32()? as i32)
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        let mut word = [0; 8];
        word.copy_from_slice(b);
        Ok(u64::from_be_bytes(word))
    }

    fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(self.u64()? as i64)
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        let rest = &self.bytes[self.at..];
        let Some(nul) = rest.iter().position(|b| *b == 0) else {
            return Err(DecodeError::Truncated {
                kind: self.kind,
                at: self.bytes.len(),
            });
        };
        let text = String::from_utf8_lossy(&rest[..nul]).into_owned();
        self.at += nul + 1;
        Ok(text)
    }

    fn tuple(&mut self) -> Result<Vec<ColumnValue>, DecodeError> {
        let count = self.i16()?.max(0) as usize;
        let mut values = Vec::with_capacity(count);
        for _ in 0..count {
            values.push(match self.u8()? {
                b'n' => ColumnValue::Null,
                b'u' => ColumnValue::UnchangedToast,
                b't' => {
                    let len = self.i32()?.max(0) as usize;
                    ColumnValue::Text(String::from_utf8_lossy(self.take(len)?).into_owned())
                }
                other => return Err(DecodeError::UnknownColumnKind(char::from(other))),
            });
        }
        Ok(values)
    }
}

/// Decodes one message.
pub(crate) fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
    let Some(&first) = bytes.first() else {
        return Err(DecodeError::Truncated { kind: '?', at: 0 });
    };
    let kind = char::from(first);
    let mut r = Reader { bytes, at: 1, kind };
    Ok(match first {
        b'B' => Message::Begin {
            final_lsn: Lsn(r.u64()?),
            commit_time: r.i64()?,
            xid: r.u32()?,
        },
        b'C' => {
            let _flags = r.u8()?;
            Message::Commit {
                commit_lsn: Lsn(r.u64()?),
                end_lsn: Lsn(r.u64()?),
                commit_time: r.i64()?,
            }
        }
        b'R' => {
            let id = r.u32()?;
            let schema = r.string()?;
            let name = r.string()?;
            let replica_identity = r.u8()?;
            let count = r.i16()?.max(0) as usize;
            let mut columns = Vec::with_capacity(count);
            for _ in 0..count {
                let flags = r.u8()?;
                let name = r.string()?;
                let type_oid = r.u32()?;
                let _type_modifier = r.i32()?;
                columns.push(RelationColumn {
                    key: flags & 1 == 1,
                    name,
                    type_oid,
                });
            }
            Message::Relation(Relation {
                id,
                schema,
                name,
                replica_identity,
                columns,
            })
        }
        b'I' => {
            let relation = r.u32()?;
            let _new_marker = r.u8()?;
            Message::Insert {
                relation,
                new: r.tuple()?,
            }
        }
        b'U' => {
            let relation = r.u32()?;
            let mut old = None;
            let mut marker = r.u8()?;
            if marker == b'K' || marker == b'O' {
                let tuple = r.tuple()?;
                old = Some(if marker == b'K' {
                    OldTuple::Key(tuple)
                } else {
                    OldTuple::Full(tuple)
                });
                marker = r.u8()?;
            }
            let _new_marker = marker;
            Message::Update {
                relation,
                old,
                new: r.tuple()?,
            }
        }
        b'D' => {
            let relation = r.u32()?;
            let marker = r.u8()?;
            let tuple = r.tuple()?;
            Message::Delete {
                relation,
                old: if marker == b'O' {
                    OldTuple::Full(tuple)
                } else {
                    OldTuple::Key(tuple)
                },
            }
        }
        b'T' => {
            let count = r.u32()? as usize;
            let _options = r.u8()?;
            let relations = (0..count).map(|_| r.u32()).collect::<Result<_, _>>()?;
            Message::Truncate { relations }
        }
        b'M' => {
            let flags = r.u8()?;
            let lsn = Lsn(r.u64()?);
            let prefix = r.string()?;
            Message::Emitted {
                transactional: flags & 1 == 1,
                lsn,
                prefix,
            }
        }
        b'Y' | b'O' => Message::Ignored,
        other => return Err(DecodeError::UnknownMessage(char::from(other))),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn tuple(bytes: &mut Vec<u8>, values: &[Option<&str>]) {
        bytes.extend_from_slice(&(values.len() as i16).to_be_bytes());
        for value in values {
            match value {
                None => bytes.push(b'n'),
                Some("<toast>") => bytes.push(b'u'),
                Some(text) => {
                    bytes.push(b't');
                    bytes.extend_from_slice(&(text.len() as i32).to_be_bytes());
                    bytes.extend_from_slice(text.as_bytes());
                }
            }
        }
    }

    #[test]
    fn decodes_a_relation_and_an_update_with_the_full_old_row() {
        let mut rel = vec![b'R'];
        rel.extend_from_slice(&16384u32.to_be_bytes());
        rel.extend_from_slice(b"s\0orders\0f");
        rel.extend_from_slice(&2i16.to_be_bytes());
        rel.push(1);
        rel.extend_from_slice(b"id\0");
        rel.extend_from_slice(&20u32.to_be_bytes());
        rel.extend_from_slice(&(-1i32).to_be_bytes());
        rel.push(0);
        rel.extend_from_slice(b"note\0");
        rel.extend_from_slice(&25u32.to_be_bytes());
        rel.extend_from_slice(&(-1i32).to_be_bytes());
        let Message::Relation(relation) = decode(&rel).unwrap() else {
            panic!("not a relation");
        };
        assert_eq!(relation.schema, "s");
        assert_eq!(relation.name, "orders");
        assert!(relation.columns[0].key && !relation.columns[1].key);
        assert_eq!(relation.columns[1].type_oid, 25);

        let mut update = vec![b'U'];
        update.extend_from_slice(&16384u32.to_be_bytes());
        update.push(b'O');
        tuple(&mut update, &[Some("1"), None]);
        update.push(b'N');
        tuple(&mut update, &[Some("1"), Some("<toast>")]);
        assert_eq!(
            decode(&update).unwrap(),
            Message::Update {
                relation: 16384,
                old: Some(OldTuple::Full(vec![
                    ColumnValue::Text("1".into()),
                    ColumnValue::Null
                ])),
                new: vec![ColumnValue::Text("1".into()), ColumnValue::UnchangedToast],
            }
        );
    }

    #[test]
    fn decodes_begin_commit_and_messages() {
        let mut begin = vec![b'B'];
        begin.extend_from_slice(&0x1_0000_0010u64.to_be_bytes());
        begin.extend_from_slice(&5i64.to_be_bytes());
        begin.extend_from_slice(&777u32.to_be_bytes());
        assert_eq!(
            decode(&begin).unwrap(),
            Message::Begin {
                final_lsn: Lsn(0x1_0000_0010),
                commit_time: 5,
                xid: 777
            }
        );
        let mut commit = vec![b'C', 0];
        commit.extend_from_slice(&10u64.to_be_bytes());
        commit.extend_from_slice(&20u64.to_be_bytes());
        commit.extend_from_slice(&5i64.to_be_bytes());
        assert!(matches!(
            decode(&commit).unwrap(),
            Message::Commit {
                end_lsn: Lsn(20),
                ..
            }
        ));
        let mut message = vec![b'M', 0];
        message.extend_from_slice(&30u64.to_be_bytes());
        message.extend_from_slice(b"weir-heartbeat\0");
        message.extend_from_slice(&0u32.to_be_bytes());
        assert_eq!(
            decode(&message).unwrap(),
            Message::Emitted {
                transactional: false,
                lsn: Lsn(30),
                prefix: "weir-heartbeat".into()
            }
        );
        assert_eq!(
            decode(&[b'B', 0, 0]).unwrap_err(),
            DecodeError::Truncated { kind: 'B', at: 1 }
        );
        assert_eq!(decode(b"Z").unwrap_err(), DecodeError::UnknownMessage('Z'));
    }
}
