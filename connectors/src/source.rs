//! The contract between a source and the runner that drives it: a source yields events, each
//! tagged with the source partition it came from and the position to resume from once it
//! (and everything before it) is acknowledged; the runner saves those positions as the
//! connector's [`Checkpoint`] and tells the source which ones are safe.
//!
//! A source partition is whatever a source reads in order: one file (named by its identity,
//! not its path), one table's cursor, one replication slot's LSN stream. Positions are opaque
//! JSON so each source keeps what it needs to resume (an offset and a fingerprint, a cursor
//! column's last value, an LSN) without the runner knowing its shape.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;

use crate::error::SourceError;

/// Where a source partition resumes, in the source's own terms.
pub type Position = serde_json::Value;

/// The positions of every source partition of one connector, by partition name. Saved in
/// `__weir_connect_offsets` after the events before it were acknowledged.
pub type Checkpoint = BTreeMap<String, Position>;

/// What an event carries, as the source framed it.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A line (without its delimiter) or a whole file: bytes, shown to CEL as `event.line`
    /// when they are UTF-8.
    Text(Bytes),
    /// A parsed JSON document: the bytes as read, and the value (`event.value`,
    /// `event.fields`).
    Json {
        /// The document as it was read.
        raw: Bytes,
        /// The parsed value.
        value: serde_json::Value,
    },
    /// Input the source could not frame (a line over the length limit, bad JSON): it goes to
    /// the dead-letter topic with `reason` in a header.
    Invalid {
        /// What was read, possibly cut short.
        raw: Bytes,
        /// Why it is not an event.
        reason: String,
    },
}

impl Payload {
    /// The bytes to produce as the record value.
    pub fn bytes(&self) -> &Bytes {
        match self {
            Self::Text(bytes) => bytes,
            Self::Json { raw, .. } | Self::Invalid { raw, .. } => raw,
        }
    }
}

/// One event read from a source.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceEvent {
    /// The source partition it was read from.
    pub partition: Arc<str>,
    /// Where that partition resumes once this event is acknowledged.
    pub position: Position,
    /// What was read.
    pub payload: Payload,
    /// The record key the source chose (a CDC change's primary key), used when the
    /// connector sets no `key` of its own.
    pub key: Option<Bytes>,
    /// Where it came from, as record headers (for files: `weir.path` and `weir.line`);
    /// CEL expressions see them as `event.headers`.
    pub headers: Vec<(&'static str, Bytes)>,
}

/// A source of events that a connector runs until stopped.
///
/// The runner calls [`Source::start`] once with the last saved checkpoint, then
/// [`Source::next_events`] in a loop, and [`Source::acknowledged`] each time a checkpoint was
/// saved; [`Source::stop`] when it stops. Events of one partition must come in order; events of different partitions may
/// interleave. A source must not drop events because they were not acknowledged yet: after a
/// crash the runner restarts it from the saved checkpoint, and it reads them again.
pub trait Source: Send + 'static {
    /// Resumes from `checkpoint` (empty on the first run). Returns the checkpoint the source
    /// actually resumes from: entries it could not match to anything any more (a file that
    /// is gone) are left out, so checkpoints do not grow forever.
    fn start(
        &mut self,
        checkpoint: Checkpoint,
    ) -> impl Future<Output = Result<Checkpoint, SourceError>> + Send;

    /// Waits for events and returns up to `max` of them; an empty vector means nothing
    /// arrived within the source's own poll interval (so the runner can check its deadlines).
    fn next_events(
        &mut self,
        max: usize,
    ) -> impl Future<Output = Result<Vec<SourceEvent>, SourceError>> + Send;

    /// Tells the source that `checkpoint` is saved: every event up to those positions is in
    /// the topic.
    fn acknowledged(&mut self, checkpoint: &Checkpoint) {
        let _ = checkpoint;
    }

    /// Called once when the connector stops, after the last checkpoint was saved and passed
    /// to [`Source::acknowledged`]: the moment to act on it for good (a CDC slot advances
    /// to it) before the source is dropped.
    fn stop(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// How far the runner is behind the source, in the source's natural unit (bytes of file
    /// not yet read, rows), if the source can tell.
    fn lag(&self) -> Option<u64> {
        None
    }

    /// Problems the source met and kept going after (an unreadable file, a vanished path),
    /// taken by the runner for the connector's status.
    fn take_warnings(&mut self) -> Vec<String> {
        Vec::new()
    }
}
